// PageService in process: a TenantManager over a temp directory, the
// service listening on a Unix socket named as Postgres names its sockets
// (<dir>/.s.PGSQL.<port>), one thread per connection calling Serve(). Data
// goes in through the `ingest` command; reads go through real libpq
// connections (COPY BOTH) and raw sockets (for pipelining and bad input).

#include "server/page_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "page_cache/page_cache.h"
#include "server/ingest_stream.h"
#include "server/io_settings.h"
#include "server/pagestream.h"
#include "server/pgwire.h"
#include "server/tenant_manager.h"
#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/pg_mapping.h"
#include "timeline/value.h"

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;
using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using layers::TenantId;
using layers::TimelineId;
using ::testing::HasSubstr;
using Bytes = std::vector<std::byte>;

constexpr int kPort = 5432;
constexpr RelTag kRel{1663, 5, 16384, 0};
constexpr uint32_t kRelBlocks = 40;
constexpr Lsn kStartLsn{0x10};
constexpr Lsn kFirstCommit{0x20};
constexpr Lsn kSecondCommit{0x30};
constexpr uint32_t kRewrittenBlock = 3;
constexpr std::byte kRewrittenByte{0xEE};
constexpr uint32_t kSlruBlocks = 2;

Bytes FilledPage(std::byte fill) { return Bytes(timeline::kPageSize, fill); }
// Block b of kRel as first ingested: every byte b + 1.
Bytes OriginalPage(uint32_t blkno) { return FilledPage(std::byte(blkno + 1)); }
Bytes SlruPage(uint32_t blkno) { return FilledPage(std::byte(0xA0 + blkno)); }

timeline::Value Image(std::span<const std::byte> bytes) { return *timeline::Value::Image(bytes); }

std::string Hex(const TenantId& id) { return id.ToHex(); }
std::string Hex(const TimelineId& id) { return id.ToHex(); }

RequestHeader Header(Lsn request_lsn, Lsn not_modified_since = Lsn{0}, uint64_t reqid = 0) {
  return RequestHeader{reqid, request_lsn, not_modified_since};
}

// --- libpq helpers ---

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

Status SendCopy(PGconn* conn, std::span<const std::byte> bytes) {
  if (PQputCopyData(conn, reinterpret_cast<const char*>(bytes.data()),
                    static_cast<int>(bytes.size())) != 1 ||
      PQflush(conn) != 0) {
    return Status::IoError(std::string("PQputCopyData: ") + PQerrorMessage(conn));
  }
  return Status::Ok();
}

// The next CopyData from the server; an error naming the server's
// ErrorResponse when the copy ended instead.
Result<Bytes> ReceiveCopy(PGconn* conn) {
  char* buf = nullptr;
  const int n = PQgetCopyData(conn, &buf, 0);
  if (n > 0) {
    Bytes out(reinterpret_cast<std::byte*>(buf), reinterpret_cast<std::byte*>(buf) + n);
    PQfreemem(buf);
    return out;
  }
  std::string why = PQerrorMessage(conn);
  // Bounded: in a copy state PQgetResult keeps returning the copy result.
  for (int i = 0; i < 4; ++i) {
    PgResult r(PQgetResult(conn));
    if (r == nullptr) break;
    why += PQresultErrorMessage(r.get());
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_COPY_BOTH || status == PGRES_COPY_OUT || status == PGRES_COPY_IN) break;
  }
  return Status::Aborted("copy ended (" + std::to_string(n) + "): " + why);
}

// --- Raw socket client, for byte-exact and malformed traffic ---

class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  // Half-closes: the server sees EOF after what was sent.
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  void Send(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed: later reads say so
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
  }

  // Exactly n bytes; nullopt on EOF, error or 10 s without data (a hang).
  std::optional<Bytes> ReadExactly(size_t n) {
    Bytes out(n);
    size_t got = 0;
    while (got < n) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 10000) <= 0) return std::nullopt;
      const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) return std::nullopt;
      got += static_cast<size_t>(r);
    }
    return out;
  }

  struct Message {
    char type = 0;
    Bytes body;
    std::string text() const {
      return std::string(reinterpret_cast<const char*>(body.data()), body.size());
    }
  };
  // One backend message; nullopt when the server closed.
  std::optional<Message> ReadMessage() {
    auto header = ReadExactly(5);
    if (!header) return std::nullopt;
    uint32_t len = 0;
    for (int i = 1; i < 5; ++i) len = len << 8 | uint32_t((*header)[i]);
    if (len < 4) return std::nullopt;
    auto body = ReadExactly(len - 4);
    if (!body) return std::nullopt;
    return Message{static_cast<char>((*header)[0]), std::move(*body)};
  }

  // Messages until (and including) ReadyForQuery, an ErrorResponse or EOF.
  std::vector<Message> ReadUntilReady() {
    std::vector<Message> out;
    while (auto m = ReadMessage()) {
      out.push_back(std::move(*m));
      if (out.back().type == 'Z') break;
    }
    return out;
  }

  // True when the server closed the connection (after any messages it sent).
  bool ClosedByServer() {
    while (ReadMessage()) {
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 10000) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

void PutBe32(uint32_t v, Bytes& out) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(std::byte((v >> s) & 0xFF));
}

Bytes StartupPacket(uint32_t code = pgwire::kProtocolV3) {
  const std::string params("user\0test\0database\0postgres\0\0", 29);
  Bytes out;
  PutBe32(static_cast<uint32_t>(8 + params.size()), out);
  PutBe32(code, out);
  for (char c : params) out.push_back(std::byte(c));
  return out;
}

Bytes FrontendMessage(char type, std::span<const std::byte> body) {
  Bytes out{std::byte(type)};
  PutBe32(static_cast<uint32_t>(4 + body.size()), out);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes QueryMessage(const std::string& sql) {
  Bytes body;
  for (char c : sql) body.push_back(std::byte(c));
  body.push_back(std::byte{0});
  return FrontendMessage('Q', body);
}

bool HasType(const std::vector<RawClient::Message>& messages, char type) {
  for (const auto& m : messages) {
    if (m.type == type) return true;
  }
  return false;
}

// --- The fixture ---

class PageServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartService(PageServiceOptions{}); }

  void StartService(PageServiceOptions options) {
    IoSettingsOptions io_options;
    io_options.engine = io_engine::IoEngineKind::kStdFs;
    io_options.mode = virtual_file::IoMode::kBuffered;
    ASSERT_OK_AND_ASSIGN(io_, IoSettings::Create(io_options, registry_));
    page_cache::PageCacheOptions cache_options;
    cache_options.pages = 256;
    ASSERT_OK_AND_ASSIGN(cache_, page_cache::PageCache::Create(cache_options));
    TenantManagerOptions manager_options;
    manager_options.data_dir = dir_.File("data");
    manager_options.timeline.background_threads = false;
    manager_options.timeline.gc_horizon = 0x8;  // GC (when a test runs it) cuts at lrl - 8
    ASSERT_OK_AND_ASSIGN(tenants_, TenantManager::Open(*io_, *cache_, registry_, manager_options));
    if (options.wait_lsn_timeout == PageServiceOptions{}.wait_lsn_timeout) {
      options.wait_lsn_timeout = std::chrono::seconds(5);
    }
    service_ = std::make_unique<PageService>(*tenants_, registry_, options);
    Listen();
    tenant_ = TenantId::Generate();
    timeline_id_ = TimelineId::Generate();
    ASSERT_OK(tenants_->CreateTenant(tenant_));
    ASSERT_OK_AND_ASSIGN(timeline_, tenants_->CreateTimeline(tenant_, timeline_id_, kStartLsn, 15));
    ASSERT_NO_FATAL_FAILURE(IngestDataset());
  }

  void TearDown() override {
    if (service_) service_->RequestStop();
    accept_stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard lock(threads_mu_);
      for (auto& t : connection_threads_) t.join();
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    timeline_.reset();
    if (tenants_) EXPECT_OK(tenants_->Shutdown(false));
  }

  void Listen() {
    socket_path_ = dir_.File(".s.PGSQL." + std::to_string(kPort));
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(socket_path_.size(), sizeof(addr.sun_path));
    std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listen_fd_, 64), 0);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  void AcceptLoop() {
    while (!accept_stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::lock_guard lock(threads_mu_);
      connection_threads_.emplace_back([this, fd] { service_->Serve(fd); });
    }
  }

  PgConn Connect() {
    const std::string conninfo =
        "host=" + dir_.path() + " port=" + std::to_string(kPort) + " user=test dbname=x";
    PgConn conn(PQconnectdb(conninfo.c_str()));
    EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    return conn;
  }

  // Runs a simple query expecting `status`; returns the error message.
  std::string Exec(PGconn* conn, const std::string& sql, ExecStatusType status) {
    PgResult r(PQexec(conn, sql.c_str()));
    EXPECT_EQ(PQresultStatus(r.get()), status) << sql << ": " << PQresultErrorMessage(r.get());
    return PQresultErrorMessage(r.get());
  }

  std::string PagestreamQuery(PagestreamVersion v) const {
    return std::string(v == PagestreamVersion::kV2 ? "pagestream_v2 " : "pagestream_v3 ") +
           Hex(tenant_) + " " + Hex(timeline_id_);
  }

  PgConn OpenPagestream(PagestreamVersion v) {
    PgConn conn = Connect();
    Exec(conn.get(), PagestreamQuery(v), PGRES_COPY_BOTH);
    return conn;
  }

  Result<PagestreamResponse> Call(PGconn* conn, PagestreamVersion v,
                                  const PagestreamRequest& request) {
    RETURN_IF_ERROR(SendCopy(conn, EncodeRequest(v, request)));
    ASSIGN_OR_RETURN(Bytes reply, ReceiveCopy(conn));
    return DecodeResponse(v, reply);
  }

  PgConn OpenIngest() {
    PgConn conn = Connect();
    Exec(conn.get(), "ingest " + Hex(tenant_) + " " + Hex(timeline_id_), PGRES_COPY_BOTH);
    return conn;
  }

  Result<IngestStatus> IngestCall(PGconn* conn, std::span<const std::byte> message) {
    RETURN_IF_ERROR(SendCopy(conn, message));
    ASSIGN_OR_RETURN(Bytes reply, ReceiveCopy(conn));
    return DecodeIngestStatus(reply);
  }

  // Ends a COPY BOTH with CopyDone; the connection is back to simple queries.
  void EndCopy(PGconn* conn) {
    ASSERT_EQ(PQputCopyEnd(conn, nullptr), 1);
    char* buf = nullptr;
    ASSERT_EQ(PQgetCopyData(conn, &buf, 0), -1);
    PgResult r(PQgetResult(conn));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(r.get());
    while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
  }

  // kRel (40 blocks) and its directories and an SLRU segment at kFirstCommit;
  // block 3 rewritten at kSecondCommit.
  void IngestDataset() {
    PgConn conn = OpenIngest();
    Bytes m;
    AppendIngestPut(kFirstCommit, Key::DbDir(),
                    Image(timeline::EncodeDbDir(std::vector<timeline::DbDirEntry>{{1663, 5}})), m);
    const timeline::RelDirEntry entry{kRel.relnode, kRel.forknum};
    AppendIngestPut(kFirstCommit, Key::RelDir(1663, 5),
                    Image(*timeline::EncodeRelDir(std::span(&entry, 1))), m);
    AppendIngestPut(kFirstCommit, Key::RelSize(kRel), Image(timeline::EncodeRelSize(kRelBlocks)),
                    m);
    for (uint32_t b = 0; b < kRelBlocks; ++b) {
      AppendIngestPut(kFirstCommit, Key::RelBlock(kRel, b), Image(OriginalPage(b)), m);
    }
    AppendIngestPut(kFirstCommit, Key::SlruSegmentSize(layers::SlruKind::kClog, 0),
                    Image(timeline::EncodeRelSize(kSlruBlocks)), m);
    for (uint32_t b = 0; b < kSlruBlocks; ++b) {
      AppendIngestPut(kFirstCommit, Key::SlruBlock(layers::SlruKind::kClog, 0, b),
                      Image(SlruPage(b)), m);
    }
    AppendIngestCommit(kFirstCommit, m);
    ASSERT_OK_AND_ASSIGN(auto first, IngestCall(conn.get(), m));
    EXPECT_EQ(first.last_record_lsn, kFirstCommit);
    m.clear();
    AppendIngestPut(kSecondCommit, Key::RelBlock(kRel, kRewrittenBlock),
                    Image(FilledPage(kRewrittenByte)), m);
    AppendIngestCommit(kSecondCommit, m);
    ASSERT_OK_AND_ASSIGN(auto second, IngestCall(conn.get(), m));
    EXPECT_EQ(second.last_record_lsn, kSecondCommit);
    EndCopy(conn.get());
  }

  std::string Metrics() const { return registry_.RenderPrometheusText(); }
  // Waits (up to 10 s) until the series has `value`; false if it never does.
  bool WaitForMetric(const std::string& series, double value) const {
    for (int i = 0; i < 1000; ++i) {
      if (Metric(series) == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  double Metric(const std::string& series) const { return testing::MetricValue(Metrics(), series); }

  testing::TempDir dir_;
  common::Registry registry_;
  std::unique_ptr<IoSettings> io_;
  std::unique_ptr<page_cache::PageCache> cache_;
  std::unique_ptr<TenantManager> tenants_;
  std::unique_ptr<PageService> service_;
  TenantId tenant_;
  TimelineId timeline_id_;
  std::shared_ptr<timeline::Timeline> timeline_;
  std::string socket_path_;
  int listen_fd_ = -1;
  std::atomic<bool> accept_stop_{false};
  std::thread acceptor_;
  std::mutex threads_mu_;
  std::vector<std::thread> connection_threads_;
};

GetPageRequest GetPage(uint32_t blkno, RequestHeader hdr = Header(Lsn::Max())) {
  return GetPageRequest{hdr, kRel, blkno};
}

// --- Startup ---

TEST_F(PageServiceTest, StartupAnswersEncryptionRequestsWithNThenTrustsTheClient) {
  RawClient client(socket_path_);
  ASSERT_TRUE(client.connected());
  Bytes ssl;
  PutBe32(8, ssl);
  PutBe32(pgwire::kSslRequestCode, ssl);
  client.Send(ssl);
  auto answer = client.ReadExactly(1);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ((*answer)[0], std::byte{'N'});
  Bytes gss;
  PutBe32(8, gss);
  PutBe32(pgwire::kGssEncRequestCode, gss);
  client.Send(gss);
  answer = client.ReadExactly(1);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ((*answer)[0], std::byte{'N'});
  client.Send(StartupPacket());
  const auto messages = client.ReadUntilReady();
  ASSERT_GE(messages.size(), 4u);
  EXPECT_EQ(messages.front().type, 'R');
  EXPECT_EQ(messages.front().body, Bytes(4, std::byte{0}));  // AuthenticationOk
  EXPECT_TRUE(HasType(messages, 'K'));
  bool saw_version = false;
  for (const auto& m : messages) {
    if (m.type == 'S' && m.text().rfind(std::string("server_version\0", 15), 0) == 0) {
      saw_version = true;
    }
  }
  EXPECT_TRUE(saw_version);
  EXPECT_EQ(messages.back().type, 'Z');
  EXPECT_EQ(messages.back().body, Bytes{std::byte{'I'}});
}

TEST_F(PageServiceTest, LibpqConnectsThroughTheUnixSocketName) {
  PgConn conn = Connect();
  EXPECT_EQ(PQserverVersion(conn.get()), 150000);
  EXPECT_STREQ(PQparameterStatus(conn.get(), "client_encoding"), "UTF8");
  // The dataset's ingest connection may still be winding down.
  EXPECT_TRUE(WaitForMetric("ps_page_service_connections_active", 1));
}

// --- Pagestream requests ---

class PagestreamVersionTest : public PageServiceTest,
                              public ::testing::WithParamInterface<PagestreamVersion> {};

TEST_P(PagestreamVersionTest, EveryRequestTypeIsAnswered) {
  const PagestreamVersion v = GetParam();
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(auto exists, Call(conn.get(), v, ExistsRequest{Header(Lsn::Max()), kRel}));
  EXPECT_EQ(exists.tag, PagestreamResponseTag::kExists);
  EXPECT_TRUE(exists.exists);
  const RelTag missing{1663, 5, 99999, 0};
  ASSERT_OK_AND_ASSIGN(auto absent,
                       Call(conn.get(), v, ExistsRequest{Header(Lsn::Max()), missing}));
  EXPECT_FALSE(absent.exists);
  ASSERT_OK_AND_ASSIGN(auto nblocks, Call(conn.get(), v, NblocksRequest{Header(Lsn::Max()), kRel}));
  EXPECT_EQ(nblocks.tag, PagestreamResponseTag::kNblocks);
  EXPECT_EQ(nblocks.n_blocks, kRelBlocks);
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), v, GetPage(7)));
  EXPECT_EQ(page.tag, PagestreamResponseTag::kGetPage);
  EXPECT_EQ(page.data, OriginalPage(7));
  ASSERT_OK_AND_ASSIGN(auto db, Call(conn.get(), v, DbSizeRequest{Header(Lsn::Max()), 5}));
  EXPECT_EQ(db.tag, PagestreamResponseTag::kDbSize);
  EXPECT_EQ(db.db_size, int64_t{kRelBlocks} * 8192);
  ASSERT_OK_AND_ASSIGN(auto slru,
                       Call(conn.get(), v, GetSlruSegmentRequest{Header(Lsn::Max()), 0, 0}));
  EXPECT_EQ(slru.tag, PagestreamResponseTag::kGetSlruSegment);
  ASSERT_EQ(slru.n_blocks, kSlruBlocks);
  Bytes expected = SlruPage(0);
  const Bytes second = SlruPage(1);
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(slru.data, expected);
  EndCopy(conn.get());
  // Back in simple-query mode: the connection takes another command.
  Exec(conn.get(), PagestreamQuery(v), PGRES_COPY_BOTH);
  ASSERT_OK_AND_ASSIGN(auto again, Call(conn.get(), v, GetPage(8)));
  EXPECT_EQ(again.data, OriginalPage(8));
}

TEST_P(PagestreamVersionTest, ReadsSeeTheVersionAtTheirLsn) {
  const PagestreamVersion v = GetParam();
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(auto old_page,
                       Call(conn.get(), v, GetPage(kRewrittenBlock, Header(Lsn{0x28}))));
  EXPECT_EQ(old_page.data, OriginalPage(kRewrittenBlock));
  ASSERT_OK_AND_ASSIGN(auto new_page,
                       Call(conn.get(), v, GetPage(kRewrittenBlock, Header(kSecondCommit))));
  EXPECT_EQ(new_page.data, FilledPage(kRewrittenByte));
  // Latest, with not_modified_since: the newest version.
  ASSERT_OK_AND_ASSIGN(
      auto latest, Call(conn.get(), v, GetPage(kRewrittenBlock, Header(Lsn::Max(), kFirstCommit))));
  EXPECT_EQ(latest.data, FilledPage(kRewrittenByte));
  // Before the relation existed it has no size: an error, not a made-up page.
  ASSERT_OK_AND_ASSIGN(auto before, Call(conn.get(), v, NblocksRequest{Header(Lsn{0x18}), kRel}));
  EXPECT_EQ(before.tag, PagestreamResponseTag::kError);
  // Past the end: a zero page, as Postgres sees a relation being extended.
  ASSERT_OK_AND_ASSIGN(auto past_end, Call(conn.get(), v, GetPage(kRelBlocks + 5)));
  EXPECT_EQ(past_end.tag, PagestreamResponseTag::kGetPage);
  EXPECT_EQ(past_end.data, FilledPage(std::byte{0}));
}

TEST_P(PagestreamVersionTest, LsnErrorsAreErrorResponsesAndTheStreamGoesOn) {
  const PagestreamVersion v = GetParam();
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(auto zero, Call(conn.get(), v, GetPage(1, Header(Lsn{0}, Lsn{0}, 11))));
  EXPECT_EQ(zero.tag, PagestreamResponseTag::kError);
  EXPECT_THAT(zero.error, HasSubstr("invalid request LSN"));
  ASSERT_OK_AND_ASSIGN(auto below,
                       Call(conn.get(), v, GetPage(1, Header(Lsn{0x20}, Lsn{0x28}, 12))));
  EXPECT_EQ(below.tag, PagestreamResponseTag::kError);
  EXPECT_THAT(below.error, HasSubstr("below not_modified_since"));
  ASSERT_OK_AND_ASSIGN(auto missing,
                       Call(conn.get(), v, NblocksRequest{Header(Lsn::Max()), {1663, 5, 7, 0}}));
  EXPECT_EQ(missing.tag, PagestreamResponseTag::kError);
  EXPECT_THAT(missing.error, HasSubstr("does not exist"));
  if (v == PagestreamVersion::kV3) {
    EXPECT_EQ(zero.hdr.reqid, 11u);
    EXPECT_EQ(below.hdr.reqid, 12u);
  }
  // GC raises the cutoff to last_record_lsn - 8 = 0/28 (once that is on
  // disk): older reads are refused. (The dataset's ingest connection has
  // detached, so this thread may checkpoint.)
  ASSERT_OK(timeline_->Checkpoint());
  ASSERT_OK(timeline_->DetachIngest());
  ASSERT_OK_AND_ASSIGN(auto gc, timeline_->Gc());
  ASSERT_EQ(gc.cutoff, Lsn{0x28});
  ASSERT_OK_AND_ASSIGN(auto collected, Call(conn.get(), v, GetPage(1, Header(Lsn{0x20}))));
  EXPECT_EQ(collected.tag, PagestreamResponseTag::kError);
  EXPECT_THAT(collected.error, HasSubstr("garbage collected"));
  ASSERT_OK_AND_ASSIGN(auto good, Call(conn.get(), v, GetPage(1)));
  EXPECT_EQ(good.data, OriginalPage(1));
  EXPECT_GE(Metric("ps_page_service_requests_total{outcome=\"error\",request_type=\"get_page\"}"),
            3);
}

INSTANTIATE_TEST_SUITE_P(V2AndV3, PagestreamVersionTest,
                         ::testing::Values(PagestreamVersion::kV2, PagestreamVersion::kV3),
                         [](const auto& info) {
                           return info.param == PagestreamVersion::kV2 ? "V2" : "V3";
                         });

TEST_F(PageServiceTest, V3EchoesRequestIdAndFields) {
  const auto v = PagestreamVersion::kV3;
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(
      auto page, Call(conn.get(), v, GetPage(9, Header(Lsn{0x30}, Lsn{0x20}, 0xDEADBEEF12345678))));
  EXPECT_EQ(page.hdr.reqid, 0xDEADBEEF12345678u);
  EXPECT_EQ(page.hdr.request_lsn, Lsn{0x30});
  EXPECT_EQ(page.hdr.not_modified_since, Lsn{0x20});
  EXPECT_EQ(page.rel, kRel);
  EXPECT_EQ(page.blkno, 9u);
  ASSERT_OK_AND_ASSIGN(auto db, Call(conn.get(), v, DbSizeRequest{Header(Lsn::Max(), {}, 77), 5}));
  EXPECT_EQ(db.hdr.reqid, 77u);
  EXPECT_EQ(db.dbnode, 5u);
  ASSERT_OK_AND_ASSIGN(
      auto slru, Call(conn.get(), v, GetSlruSegmentRequest{Header(Lsn::Max(), {}, 78), 0, 0}));
  EXPECT_EQ(slru.hdr.reqid, 78u);
}

TEST_F(PageServiceTest, UnknownTenantTimelineBadIdsAndBadCommandsKeepTheConnection) {
  PgConn conn = Connect();
  const std::string other = TenantId::Generate().ToHex();
  EXPECT_THAT(
      Exec(conn.get(), "pagestream_v2 " + other + " " + Hex(timeline_id_), PGRES_FATAL_ERROR),
      HasSubstr("not found"));
  EXPECT_THAT(Exec(conn.get(), "pagestream_v3 " + Hex(tenant_) + " " + other, PGRES_FATAL_ERROR),
              HasSubstr("not found"));
  EXPECT_THAT(Exec(conn.get(), "pagestream_v2 xyz " + Hex(timeline_id_), PGRES_FATAL_ERROR),
              HasSubstr("invalid tenant id"));
  EXPECT_THAT(Exec(conn.get(), "pagestream_v2 " + Hex(tenant_), PGRES_FATAL_ERROR),
              HasSubstr("usage"));
  EXPECT_THAT(Exec(conn.get(), "select 1", PGRES_FATAL_ERROR), HasSubstr("unsupported command"));
  EXPECT_THAT(Exec(conn.get(), "ingest \xC3\x28 x", PGRES_FATAL_ERROR), HasSubstr("UTF-8"));
  Exec(conn.get(), "  ", PGRES_EMPTY_QUERY);
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  Exec(conn.get(), PagestreamQuery(PagestreamVersion::kV2), PGRES_COPY_BOTH);
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), PagestreamVersion::kV2, GetPage(2)));
  EXPECT_EQ(page.data, OriginalPage(2));
  EXPECT_GE(Metric("ps_page_service_commands_total{command=\"other\",outcome=\"error\"}"), 2);
}

// --- LSN waits ---

TEST_F(PageServiceTest, LsnWaitSucceedsWhenIngestCatchesUp) {
  const auto v = PagestreamVersion::kV3;
  PgConn reader = OpenPagestream(v);
  const Lsn future{0x40};
  ASSERT_OK(SendCopy(reader.get(),
                     EncodeRequest(v, GetPage(kRewrittenBlock, Header(future, future, 5)))));
  // Once the reader waits for 0/40, ingest it.
  ASSERT_TRUE(WaitForMetric("ps_page_service_lsn_waiting", 1));
  PgConn writer = OpenIngest();
  Bytes m;
  AppendIngestPut(future, Key::RelBlock(kRel, kRewrittenBlock), Image(FilledPage(std::byte{0x44})),
                  m);
  AppendIngestCommit(future, m);
  ASSERT_OK_AND_ASSIGN(auto status, IngestCall(writer.get(), m));
  EXPECT_EQ(status.last_record_lsn, future);
  ASSERT_OK_AND_ASSIGN(Bytes reply, ReceiveCopy(reader.get()));
  ASSERT_OK_AND_ASSIGN(auto page, DecodeResponse(v, reply));
  ASSERT_EQ(page.tag, PagestreamResponseTag::kGetPage) << page.error;
  EXPECT_EQ(page.hdr.reqid, 5u);
  EXPECT_EQ(page.data, FilledPage(std::byte{0x44}));
  EXPECT_GE(Metric("ps_page_service_lsn_wait_seconds_count"), 1);
}

class ShortWaitTest : public PageServiceTest {
 protected:
  void SetUp() override {
    PageServiceOptions options;
    options.wait_lsn_timeout = std::chrono::milliseconds(200);
    options.startup_timeout = std::chrono::milliseconds(300);
    StartService(options);
  }
};

TEST_F(ShortWaitTest, LsnWaitTimesOutWithAnErrorAndTheStreamGoesOn) {
  const auto v = PagestreamVersion::kV2;
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(auto late,
                       Call(conn.get(), v, GetPage(1, Header(Lsn{0x1000}, Lsn{0x1000}))));
  EXPECT_EQ(late.tag, PagestreamResponseTag::kError);
  EXPECT_THAT(late.error, HasSubstr("timed out waiting for LSN 0/1000"));
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), v, GetPage(1)));
  EXPECT_EQ(page.data, OriginalPage(1));
}

TEST_F(ShortWaitTest, IdleConnectionIsClosedAtTheStartupTimeout) {
  RawClient idle(socket_path_);
  ASSERT_TRUE(idle.connected());
  EXPECT_TRUE(idle.ClosedByServer());
  // Others are served.
  PgConn conn = OpenPagestream(PagestreamVersion::kV2);
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), PagestreamVersion::kV2, GetPage(0)));
  EXPECT_EQ(page.data, OriginalPage(0));
}

// --- Batching ---

TEST_F(PageServiceTest, PipelinedBurstOf32GetPagesIsOneBatch) {
  const auto v = PagestreamVersion::kV3;
  const double batches_before = Metric("ps_page_service_batch_size_count");
  const double cap_breaks_before = Metric("ps_page_service_batch_break_total{reason=\"size_cap\"}");
  RawClient client(socket_path_);
  client.Send(StartupPacket());
  ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
  // The command and 32 requests at different LSNs in one write: all are
  // buffered when the first is read.
  Bytes burst = QueryMessage(PagestreamQuery(v));
  for (uint32_t i = 0; i < 32; ++i) {
    const Lsn lsn = i % 2 == 0 ? kSecondCommit : Lsn{0x28};
    pgwire::AppendCopyData(EncodeRequest(v, GetPage(i % kRelBlocks, Header(lsn, {}, 1000 + i))),
                           burst);
  }
  client.Send(burst);
  auto copy_both = client.ReadMessage();
  ASSERT_TRUE(copy_both.has_value());
  ASSERT_EQ(copy_both->type, 'W');
  for (uint32_t i = 0; i < 32; ++i) {
    auto m = client.ReadMessage();
    ASSERT_TRUE(m.has_value());
    ASSERT_EQ(m->type, 'd');
    ASSERT_OK_AND_ASSIGN(auto page, DecodeResponse(v, m->body));
    ASSERT_EQ(page.tag, PagestreamResponseTag::kGetPage) << page.error;
    EXPECT_EQ(page.hdr.reqid, 1000 + i);
    const bool rewritten = i == kRewrittenBlock && i % 2 == 0;
    EXPECT_EQ(page.data, rewritten ? FilledPage(kRewrittenByte) : OriginalPage(i)) << i;
  }
  EXPECT_EQ(Metric("ps_page_service_batch_size_count") - batches_before, 1);
  EXPECT_EQ(Metric("ps_page_service_batch_size_sum"), 32);
  EXPECT_EQ(Metric("ps_page_service_batch_break_total{reason=\"size_cap\"}") - cap_breaks_before,
            1);
  EXPECT_EQ(
      Metric("ps_tenant_requests_total{request_type=\"get_page\",tenant=\"" + Hex(tenant_) + "\"}"),
      32);
  EXPECT_GE(Metric("ps_tenant_page_bytes_sent_total{tenant=\"" + Hex(tenant_) + "\"}"), 32 * 8192);
}

TEST_F(PageServiceTest, BatchesBreakAtOtherRequestTypes) {
  const auto v = PagestreamVersion::kV2;
  RawClient client(socket_path_);
  client.Send(StartupPacket());
  ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
  Bytes burst = QueryMessage(PagestreamQuery(v));
  for (uint32_t i = 0; i < 3; ++i) pgwire::AppendCopyData(EncodeRequest(v, GetPage(i)), burst);
  pgwire::AppendCopyData(EncodeRequest(v, NblocksRequest{Header(Lsn::Max()), kRel}), burst);
  for (uint32_t i = 0; i < 2; ++i) pgwire::AppendCopyData(EncodeRequest(v, GetPage(i)), burst);
  client.Send(burst);
  ASSERT_EQ(client.ReadMessage()->type, 'W');
  for (int i = 0; i < 6; ++i) {
    auto m = client.ReadMessage();
    ASSERT_TRUE(m.has_value());
    ASSERT_OK_AND_ASSIGN(auto r, DecodeResponse(v, m->body));
    EXPECT_EQ(r.tag, i == 3 ? PagestreamResponseTag::kNblocks : PagestreamResponseTag::kGetPage);
  }
  EXPECT_EQ(Metric("ps_page_service_batch_size_count"), 2);
  EXPECT_EQ(Metric("ps_page_service_batch_size_sum"), 5);
  EXPECT_EQ(Metric("ps_page_service_batch_break_total{reason=\"non_get_page\"}"), 1);
  EXPECT_EQ(Metric("ps_page_service_batch_break_total{reason=\"drained\"}"), 1);
}

// --- Pipelined batches (pipeline_depth > 1) ---

// Small batches and four in flight per connection, so a burst becomes many
// batches that run on worker threads at once.
class PipelineTest : public PageServiceTest {
 protected:
  void SetUp() override {
    PageServiceOptions options;
    options.max_batch_size = 2;
    options.pipeline_depth = 4;
    StartService(options);
  }

  // GetPages of blocks 0, 1, ... (cycling through the relation) at the latest LSN.
  static std::vector<PagestreamRequest> CyclingGetPages(uint32_t n) {
    std::vector<PagestreamRequest> requests;
    for (uint32_t i = 0; i < n; ++i) requests.push_back(GetPage(i % kRelBlocks));
    return requests;
  }

  // Opens a raw pagestream and sends `requests` after the command, in one write.
  void SendBurst(RawClient& client, PagestreamVersion v,
                 const std::vector<PagestreamRequest>& requests) {
    client.Send(StartupPacket());
    ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
    Bytes burst = QueryMessage(PagestreamQuery(v));
    for (const auto& r : requests) pgwire::AppendCopyData(EncodeRequest(v, r), burst);
    client.Send(burst);
    auto copy_both = client.ReadMessage();
    ASSERT_TRUE(copy_both.has_value());
    ASSERT_EQ(copy_both->type, 'W');
  }
};

TEST_F(PipelineTest, ResponsesKeepRequestOrderAcrossConcurrentBatches) {
  const auto v = PagestreamVersion::kV3;
  std::mt19937_64 rng(testing::TestSeed());
  // GetPages at two LSNs, with a bad one (LSN 0), an Nblocks and a missing
  // relation among them: every kind of answer, in order.
  std::vector<PagestreamRequest> requests;
  constexpr uint64_t kRequests = 161;
  for (uint64_t i = 0; i < kRequests; ++i) {
    const uint32_t blk = static_cast<uint32_t>(rng() % kRelBlocks);
    const Lsn lsn = rng() % 2 == 0 ? kSecondCommit : Lsn{0x28};
    if (i % 40 == 17) {
      requests.push_back(GetPage(blk, Header(Lsn{0}, {}, i)));
    } else if (i == 80) {
      requests.push_back(NblocksRequest{Header(Lsn::Max(), {}, i), kRel});
    } else if (i == 120) {
      GetPageRequest missing = GetPage(0, Header(Lsn::Max(), {}, i));
      missing.rel = {1663, 5, 7, 0};
      requests.push_back(missing);
    } else {
      requests.push_back(GetPage(blk, Header(lsn, {}, i)));
    }
  }
  RawClient client(socket_path_);
  ASSERT_NO_FATAL_FAILURE(SendBurst(client, v, requests));
  Bytes end;
  pgwire::AppendCopyDone(end);
  client.Send(end);
  for (uint64_t i = 0; i < kRequests; ++i) {
    auto m = client.ReadMessage();
    ASSERT_TRUE(m.has_value()) << i;
    ASSERT_EQ(m->type, 'd') << i;
    ASSERT_OK_AND_ASSIGN(auto r, DecodeResponse(v, m->body));
    ASSERT_EQ(r.hdr.reqid, i);
    if (i % 40 == 17) {
      EXPECT_EQ(r.tag, PagestreamResponseTag::kError);
      EXPECT_THAT(r.error, HasSubstr("invalid request LSN"));
    } else if (i == 80) {
      ASSERT_EQ(r.tag, PagestreamResponseTag::kNblocks) << r.error;
      EXPECT_EQ(r.n_blocks, kRelBlocks);
    } else if (i == 120) {
      EXPECT_EQ(r.tag, PagestreamResponseTag::kError);
    } else {
      const auto& get = std::get<GetPageRequest>(requests[i]);
      ASSERT_EQ(r.tag, PagestreamResponseTag::kGetPage) << r.error;
      const bool rewritten = get.blkno == kRewrittenBlock && get.hdr.request_lsn == kSecondCommit;
      EXPECT_EQ(r.data, rewritten ? FilledPage(kRewrittenByte) : OriginalPage(get.blkno)) << i;
    }
  }
  // The copy ends after every answer.
  auto done = client.ReadUntilReady();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].type, 'c');
  EXPECT_EQ(done[1].type, 'C');
  EXPECT_EQ(done[2].type, 'Z');
  EXPECT_GT(Metric("ps_page_service_pipelined_batches_total"), 0);
  EXPECT_EQ(Metric("ps_page_service_requests_total{outcome=\"ok\",request_type=\"get_page\"}"),
            kRequests - 6);  // 4 with LSN 0, the Nblocks, the missing relation
}

TEST_F(PipelineTest, LoneRequestsRunOnTheConnectionThread) {
  const auto v = PagestreamVersion::kV2;
  PgConn conn = OpenPagestream(v);
  for (uint32_t blk = 0; blk < 10; ++blk) {
    ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), v, GetPage(blk, Header(Lsn{0x28}))));
    EXPECT_EQ(page.data, OriginalPage(blk));
  }
  EXPECT_EQ(Metric("ps_page_service_pipelined_batches_total"), 0);
}

TEST_F(PipelineTest, ClientLeavingMidPipelineEndsOnlyItsConnection) {
  const auto v = PagestreamVersion::kV2;
  {
    RawClient leaver(socket_path_);
    ASSERT_NO_FATAL_FAILURE(SendBurst(leaver, v, CyclingGetPages(200)));
    // Closes with most answers unread: the workers' sends fail.
  }
  PgConn conn = OpenPagestream(v);
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), v, GetPage(7)));
  EXPECT_EQ(page.data, OriginalPage(7));
  EXPECT_TRUE(WaitForMetric("ps_page_service_connections_active", 1));
}

TEST_F(PipelineTest, StopAnswersEveryBatchInFlightThenSaysShuttingDown) {
  const auto v = PagestreamVersion::kV2;
  RawClient client(socket_path_);
  ASSERT_NO_FATAL_FAILURE(SendBurst(client, v, CyclingGetPages(64)));
  service_->RequestStop();
  // Whatever was cut into batches before the stop is answered, in order;
  // then the ErrorResponse, then the close.
  uint32_t answered = 0;
  std::optional<RawClient::Message> m;
  while ((m = client.ReadMessage()) && m->type == 'd') {
    ASSERT_OK_AND_ASSIGN(auto r, DecodeResponse(v, m->body));
    ASSERT_EQ(r.tag, PagestreamResponseTag::kGetPage) << r.error;
    const uint32_t blk = answered % kRelBlocks;
    EXPECT_EQ(r.data, blk == kRewrittenBlock ? FilledPage(kRewrittenByte) : OriginalPage(blk));
    ++answered;
  }
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->type, 'E');
  EXPECT_THAT(m->text(), HasSubstr("shutting down"));
  EXPECT_LE(answered, 64u);
  EXPECT_TRUE(client.ClosedByServer());
}

// --- Concurrency ---

TEST_F(PageServiceTest, ConcurrentClientsEachGetTheirPages) {
  const uint64_t seed = testing::TestSeed();
  constexpr int kClients = 4;
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(seed + c);
      const auto v = c % 2 == 0 ? PagestreamVersion::kV2 : PagestreamVersion::kV3;
      PgConn conn = OpenPagestream(v);
      for (int i = 0; i < 40; ++i) {
        const uint32_t blk = static_cast<uint32_t>(rng() % kRelBlocks);
        auto page = Call(conn.get(), v, GetPage(blk, Header(Lsn{0x28}, {}, i)));
        if (page.has_value() && page->data == OriginalPage(blk)) good.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), kClients * 40);
}

// --- Bad input ---

struct BadInput {
  std::string name;
  std::function<Bytes(std::mt19937_64&)> bytes;
  bool after_startup;  // sent after a good startup
  bool expect_error;   // an ErrorResponse before the close
};

void PrintTo(const BadInput& input, std::ostream* os) { *os << input.name; }

class BadInputTest : public PageServiceTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(BadInputTest, ClosesOnlyThatConnection) {
  const uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  PgConn bystander = OpenPagestream(PagestreamVersion::kV2);
  {
    RawClient bad(socket_path_);
    ASSERT_TRUE(bad.connected());
    if (GetParam().after_startup) {
      bad.Send(StartupPacket());
      ASSERT_EQ(bad.ReadUntilReady().back().type, 'Z');
    }
    bad.Send(GetParam().bytes(rng));
    bad.ShutdownWrite();
    if (GetParam().expect_error) {
      auto m = bad.ReadMessage();
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->type, 'E');
    }
    EXPECT_TRUE(bad.ClosedByServer());
  }
  ASSERT_OK_AND_ASSIGN(auto page, Call(bystander.get(), PagestreamVersion::kV2, GetPage(4)));
  EXPECT_EQ(page.data, OriginalPage(4));
}

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  for (auto& b : out) b = std::byte(rng());
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInputTest,
    ::testing::Values(
        BadInput{"RandomBytesAtStartup",
                 [](std::mt19937_64& rng) {
                   Bytes b = RandomBytes(rng, 64);
                   b[0] = std::byte{0};  // a length that fits: the version check fails
                   b[1] = std::byte{0};
                   b[2] = std::byte{0};
                   b[3] = std::byte{64};
                   return b;
                 },
                 false, true},
        BadInput{"WrongProtocolVersion", [](std::mt19937_64&) { return StartupPacket(2 << 16); },
                 false, true},
        BadInput{"BadUtf8InStartup",
                 [](std::mt19937_64&) {
                   const std::string p("user\0\xFF\xFE\0\0", 9);
                   Bytes b;
                   PutBe32(static_cast<uint32_t>(8 + p.size()), b);
                   PutBe32(pgwire::kProtocolV3, b);
                   for (char c : p) b.push_back(std::byte(c));
                   return b;
                 },
                 false, true},
        BadInput{"OversizedStartupPacket",
                 [](std::mt19937_64&) {
                   Bytes b;
                   PutBe32(1 << 30, b);
                   PutBe32(pgwire::kProtocolV3, b);
                   return b;
                 },
                 false, true},
        BadInput{"UnknownMessageType",
                 [](std::mt19937_64&) { return FrontendMessage('P', Bytes(8)); }, true, true},
        BadInput{"OversizedMessage",
                 [](std::mt19937_64&) {
                   Bytes b{std::byte{'d'}};
                   PutBe32(0x7FFFFFFF, b);
                   return b;
                 },
                 true, true},
        BadInput{"TruncatedMessage",
                 [](std::mt19937_64&) {
                   Bytes q = QueryMessage("pagestream_v2 a b");
                   q.resize(q.size() - 3);
                   return q;
                 },
                 true, true},
        BadInput{"RandomBytesAfterStartup",
                 [](std::mt19937_64& rng) {
                   Bytes b = RandomBytes(rng, 256);
                   b[0] = std::byte{'Z'};  // not a frontend type
                   return b;
                 },
                 true, true}),
    [](const auto& info) { return info.param.name; });

TEST_F(PageServiceTest, MalformedPagestreamRequestGetsAnErrorAndCloses) {
  RawClient client(socket_path_);
  client.Send(StartupPacket());
  ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
  Bytes m = QueryMessage(PagestreamQuery(PagestreamVersion::kV2));
  pgwire::AppendCopyData(Bytes{std::byte{42}, std::byte{0}}, m);
  client.Send(m);
  ASSERT_EQ(client.ReadMessage()->type, 'W');
  auto error = client.ReadMessage();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->type, 'E');
  EXPECT_THAT(error->text(), HasSubstr("08P01"));
  EXPECT_TRUE(client.ClosedByServer());
  EXPECT_GE(Metric("ps_page_service_protocol_errors_total"), 1);
}

TEST_F(PageServiceTest, QueryInsideACopyIsAProtocolError) {
  RawClient client(socket_path_);
  client.Send(StartupPacket());
  ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
  Bytes m = QueryMessage(PagestreamQuery(PagestreamVersion::kV3));
  const Bytes q = QueryMessage("pagestream_v2 a b");
  m.insert(m.end(), q.begin(), q.end());
  client.Send(m);
  ASSERT_EQ(client.ReadMessage()->type, 'W');
  auto error = client.ReadMessage();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->type, 'E');
  EXPECT_THAT(error->text(), HasSubstr("08P01"));
  EXPECT_THAT(error->text(), HasSubstr("unexpected Query message in a pagestream"));
  EXPECT_TRUE(client.ClosedByServer());
}

// --- Ingest ---

TEST_F(PageServiceTest, IngestEndWithoutCommitDropsThePuts) {
  PgConn conn = OpenIngest();
  Bytes m;
  AppendIngestPut(Lsn{0x50}, Key::RelBlock(kRel, 1), Image(FilledPage(std::byte{0x51})), m);
  ASSERT_OK(SendCopy(conn.get(), m));
  EndCopy(conn.get());
  // CopyFail drops them too, and the connection stays usable.
  Exec(conn.get(), "ingest " + Hex(tenant_) + " " + Hex(timeline_id_), PGRES_COPY_BOTH);
  ASSERT_OK(SendCopy(conn.get(), m));
  ASSERT_EQ(PQputCopyEnd(conn.get(), "changed my mind"), 1);
  auto end = ReceiveCopy(conn.get());
  ASSERT_FALSE(end.has_value());
  EXPECT_THAT(std::string(end.error().message()), HasSubstr("changed my mind"));
  EXPECT_EQ(timeline_->last_record_lsn(), kSecondCommit);
  Exec(conn.get(), PagestreamQuery(PagestreamVersion::kV2), PGRES_COPY_BOTH);
  ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), PagestreamVersion::kV2, GetPage(1)));
  EXPECT_EQ(page.data, OriginalPage(1));
}

TEST_F(PageServiceTest, IngestFlushMakesEverythingDurable) {
  PgConn conn = OpenIngest();
  Bytes m;
  AppendIngestFlush(m);
  ASSERT_OK_AND_ASSIGN(auto status, IngestCall(conn.get(), m));
  EXPECT_EQ(status.last_record_lsn, kSecondCommit);
  EXPECT_EQ(status.disk_consistent_lsn, kSecondCommit);
  EXPECT_EQ(timeline_->disk_consistent_lsn(), kSecondCommit);
}

TEST_F(PageServiceTest, BadRecordMidCommitLeavesTheEarlierCommitAndNothingOfTheBadOne) {
  PgConn conn = OpenIngest();
  Bytes m;
  AppendIngestPut(Lsn{0x50}, Key::RelBlock(kRel, 1), Image(FilledPage(std::byte{0x51})), m);
  AppendIngestCommit(Lsn{0x50}, m);                                                           // 1
  AppendIngestPut(Lsn{0x60}, Key::RelBlock(kRel, 2), Image(FilledPage(std::byte{0x62})), m);  // 2
  AppendIngestPut(Lsn{0x60}, Key::RelBlock(kRel, 5), Image(Bytes(100)), m);  // 3: not 8192 bytes
  AppendIngestCommit(Lsn{0x60}, m);
  ASSERT_OK(SendCopy(conn.get(), m));
  // The commit before the bad record is answered, then the error names it.
  ASSERT_OK_AND_ASSIGN(Bytes reply, ReceiveCopy(conn.get()));
  ASSERT_OK_AND_ASSIGN(auto status, DecodeIngestStatus(reply));
  EXPECT_EQ(status.last_record_lsn, Lsn{0x50});
  auto end = ReceiveCopy(conn.get());
  ASSERT_FALSE(end.has_value());
  EXPECT_THAT(std::string(end.error().message()), HasSubstr("ingest record 3"));
  EXPECT_THAT(std::string(end.error().message()), HasSubstr("0/60"));
  EXPECT_THAT(std::string(end.error().message()), HasSubstr(Key::RelBlock(kRel, 5).ToHex()));
  EXPECT_EQ(timeline_->last_record_lsn(), Lsn{0x50});
  PgConn reader = OpenPagestream(PagestreamVersion::kV2);
  ASSERT_OK_AND_ASSIGN(auto p1, Call(reader.get(), PagestreamVersion::kV2, GetPage(1)));
  EXPECT_EQ(p1.data, FilledPage(std::byte{0x51}));
  ASSERT_OK_AND_ASSIGN(auto p2, Call(reader.get(), PagestreamVersion::kV2, GetPage(2)));
  EXPECT_EQ(p2.data, OriginalPage(2));
  // The connection ended, and the timeline was handed back: ingest works again.
  PgConn again = OpenIngest();
  Bytes next;
  AppendIngestPut(Lsn{0x70}, Key::RelBlock(kRel, 2), Image(FilledPage(std::byte{0x72})), next);
  AppendIngestCommit(Lsn{0x70}, next);
  ASSERT_OK_AND_ASSIGN(auto after, IngestCall(again.get(), next));
  EXPECT_EQ(after.last_record_lsn, Lsn{0x70});
  EXPECT_EQ(Metric("ps_page_service_ingest_rejected_total"), 1);
}

TEST_F(PageServiceTest, IngestRejectsLsnsGoingBackwardsAndRecordsForNonPageKeys) {
  {
    PgConn conn = OpenIngest();
    Bytes m;
    AppendIngestPut(Lsn{0x20}, Key::RelBlock(kRel, 1), Image(FilledPage(std::byte{1})), m);
    ASSERT_OK(SendCopy(conn.get(), m));
    auto end = ReceiveCopy(conn.get());
    ASSERT_FALSE(end.has_value());
    EXPECT_THAT(std::string(end.error().message()), HasSubstr("not above last_record_lsn"));
  }
  {
    PgConn conn = OpenIngest();
    Bytes m;
    AppendIngestPut(Lsn{0x80}, Key::RelSize(kRel), *timeline::Value::Write(0, Bytes(4)), m);
    ASSERT_OK(SendCopy(conn.get(), m));
    auto end = ReceiveCopy(conn.get());
    ASSERT_FALSE(end.has_value());
    EXPECT_THAT(std::string(end.error().message()), HasSubstr("not a page"));
  }
  {
    PgConn conn = OpenIngest();
    Bytes m{std::byte{'Q'}};  // unknown record tag
    ASSERT_OK(SendCopy(conn.get(), m));
    EXPECT_FALSE(ReceiveCopy(conn.get()).has_value());
  }
  EXPECT_EQ(timeline_->last_record_lsn(), kSecondCommit);
}

TEST_F(PageServiceTest, SecondIngestConnectionIsRefusedAndTheFirstDetaches) {
  PgConn first = OpenIngest();
  PgConn second = Connect();
  EXPECT_THAT(
      Exec(second.get(), "ingest " + Hex(tenant_) + " " + Hex(timeline_id_), PGRES_FATAL_ERROR),
      HasSubstr("already has an ingest connection"));
  EndCopy(first.get());
  first.reset();
  // Once the first has ended, its thread is no longer the ingest thread:
  // this thread may checkpoint the timeline.
  PgConn third = OpenIngest();
  EndCopy(third.get());
  ASSERT_OK(timeline_->Checkpoint());
  ASSERT_OK(timeline_->DetachIngest());
  EXPECT_EQ(timeline_->disk_consistent_lsn(), kSecondCommit);
}

// --- Stop ---

TEST_F(PageServiceTest, RequestStopAnswersTheWaitingRequestThenSaysShuttingDown) {
  const auto v = PagestreamVersion::kV3;
  RawClient client(socket_path_);
  client.Send(StartupPacket());
  ASSERT_EQ(client.ReadUntilReady().back().type, 'Z');
  Bytes m = QueryMessage(PagestreamQuery(v));
  pgwire::AppendCopyData(EncodeRequest(v, GetPage(1, Header(Lsn{0x9000}, Lsn{0x9000}, 3))), m);
  client.Send(m);
  ASSERT_EQ(client.ReadMessage()->type, 'W');
  PgConn idle = Connect();
  ASSERT_TRUE(WaitForMetric("ps_page_service_lsn_waiting", 1));  // the request is in flight
  service_->RequestStop();
  auto answer = client.ReadMessage();
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->type, 'd');
  ASSERT_OK_AND_ASSIGN(auto r, DecodeResponse(v, answer->body));
  EXPECT_EQ(r.tag, PagestreamResponseTag::kError);
  EXPECT_EQ(r.hdr.reqid, 3u);
  auto error = client.ReadMessage();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->type, 'E');
  EXPECT_THAT(error->text(), HasSubstr("pageserver is shutting down"));
  EXPECT_TRUE(client.ClosedByServer());
  // The idle libpq connection is closed too.
  PgResult res(PQexec(idle.get(), "pagestream_v2 x y"));
  EXPECT_NE(PQresultStatus(res.get()), PGRES_COPY_BOTH);
}

// --- Import ---

class ImportTest : public PageServiceTest {
 protected:
  // A tiny cluster: one 3-block relation in database 5 and a real control file.
  static Bytes TinyClusterTar() {
    pg_import::test_util::SyntheticCluster cluster;
    cluster.files["global/pg_control"] = pg_import::test_util::RealControlFile();
    cluster.files["PG_VERSION"] = pg_import::test_util::ToBytes("15\n");
    Bytes rel;
    for (uint32_t b = 0; b < 3; ++b) {
      const Bytes page = FilledPage(std::byte(0x30 + b));
      rel.insert(rel.end(), page.begin(), page.end());
    }
    cluster.files["base/5/16384"] = rel;
    cluster.dirs = {"base", "base/5", "global"};
    return cluster.ToTar();
  }

  // Sends `tar` over COPY IN in small chunks; returns the command's result.
  std::string Import(PGconn* conn, TimelineId tl, const Bytes& tar, const char* fail = nullptr) {
    const std::string sql = "import basebackup " + Hex(tenant_) + " " + Hex(tl) + " 0/6000060 15";
    PgResult start(PQexec(conn, sql.c_str()));
    if (PQresultStatus(start.get()) != PGRES_COPY_IN) return PQresultErrorMessage(start.get());
    for (size_t at = 0; at < tar.size(); at += 3000) {
      const size_t n = std::min<size_t>(3000, tar.size() - at);
      if (PQputCopyData(conn, reinterpret_cast<const char*>(tar.data() + at), int(n)) != 1) break;
    }
    PQputCopyEnd(conn, fail);
    std::string out;
    while (PGresult* r = PQgetResult(conn)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) out += PQresultErrorMessage(r);
      PQclear(r);
    }
    return out;
  }
};

TEST_F(ImportTest, ImportBasebackupServesTheRelationAndFailuresDeleteTheTimeline) {
  const Bytes tar = TinyClusterTar();
  PgConn conn = Connect();
  const TimelineId imported = TimelineId::Generate();
  EXPECT_EQ(Import(conn.get(), imported, tar), "");
  {
    Exec(conn.get(), "pagestream_v2 " + Hex(tenant_) + " " + Hex(imported), PGRES_COPY_BOTH);
    const RelTag rel{1663, 5, 16384, 0};
    ASSERT_OK_AND_ASSIGN(
        auto n, Call(conn.get(), PagestreamVersion::kV2, NblocksRequest{Header(Lsn::Max()), rel}));
    EXPECT_EQ(n.n_blocks, 3u);
    ASSERT_OK_AND_ASSIGN(auto page, Call(conn.get(), PagestreamVersion::kV2,
                                         GetPageRequest{Header(Lsn::Max()), rel, 2}));
    EXPECT_EQ(page.data, FilledPage(std::byte{0x32}));
    EndCopy(conn.get());
  }
  // A corrupt archive (a relation file that is not whole pages): the
  // timeline is deleted and the connection stays usable.
  pg_import::test_util::SyntheticCluster broken;
  broken.files["global/pg_control"] = pg_import::test_util::RealControlFile();
  broken.files["base/5/16384"] = Bytes(100);
  const TimelineId failed = TimelineId::Generate();
  EXPECT_THAT(Import(conn.get(), failed, broken.ToTar()), HasSubstr("import basebackup failed"));
  EXPECT_THAT(tenants_->GetTimeline(tenant_, failed), testing::StatusIs(StatusCode::kNotFound));
  // CopyFail aborts an import.
  const TimelineId aborted = TimelineId::Generate();
  EXPECT_THAT(Import(conn.get(), aborted, Bytes(tar.begin(), tar.begin() + 1024), "client gave up"),
              HasSubstr("client gave up"));
  EXPECT_THAT(tenants_->GetTimeline(tenant_, aborted), testing::StatusIs(StatusCode::kNotFound));
  // Unknown tenant; bad LSN.
  EXPECT_THAT(Exec(conn.get(),
                   "import basebackup " + TenantId::Generate().ToHex() + " " +
                       TimelineId::Generate().ToHex() + " 0/100",
                   PGRES_FATAL_ERROR),
              HasSubstr("not found"));
  EXPECT_THAT(Exec(conn.get(), "import basebackup " + Hex(tenant_) + " " + Hex(failed) + " zz",
                   PGRES_FATAL_ERROR),
              HasSubstr("zz"));
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK);
}

}  // namespace
}  // namespace pageserver::server
