// Integration tests of the real `pageserver` binary: started on loopback
// and on a Unix socket, driven with real libpq (client/) and raw sockets,
// managed over its HTTP API, stopped with signals.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "client/copy_both_connection.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "server/ingest_stream.h"
#include "server/pagestream.h"
#include "tests/server/daemon_harness.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/pg_mapping.h"
#include "timeline/value.h"

namespace pageserver::testing {
namespace {

using client::CopyBothConnection;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using server::PagestreamResponse;
using server::PagestreamResponseTag;
using server::PagestreamVersion;
using ::testing::HasSubstr;

constexpr char kTenant[] = "0123456789abcdef0123456789abcdef";
constexpr char kTimeline[] = "fedcba9876543210fedcba9876543210";
constexpr RelTag kRel{1663, 5, 16384, 0};
constexpr uint32_t kBlocks = 64;
constexpr Lsn kStart{0x1000000};
constexpr Lsn kFirstCommit{0x1000100};

// The page of `rel` block `blk` as of version `version`: every byte says so.
std::vector<std::byte> PageBytes(uint32_t blk, uint32_t version) {
  std::vector<std::byte> page(timeline::kPageSize);
  for (size_t i = 0; i < page.size(); ++i) {
    page[i] = static_cast<std::byte>((blk * 31 + version * 7 + i) & 0xFF);
  }
  return page;
}

nlohmann::json HttpJson(const Daemon& d, const std::string& method, const std::string& path,
                        const std::string& body, int expect_status) {
  httplib::Client client("127.0.0.1", d.http_port());
  client.set_read_timeout(std::chrono::seconds(60));
  httplib::Result res = method == "POST"     ? client.Post(path, body, "application/json")
                        : method == "PUT"    ? client.Put(path, body, "application/json")
                        : method == "DELETE" ? client.Delete(path)
                                             : client.Get(path);
  EXPECT_TRUE(res) << method << " " << path;
  if (!res) return {};
  EXPECT_EQ(res->status, expect_status) << method << " " << path << ": " << res->body;
  if (path == "/metrics") return nlohmann::json(res->body);
  return nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
}

std::string Metrics(const Daemon& d) {
  httplib::Client client("127.0.0.1", d.http_port());
  httplib::Result res = client.Get("/metrics");
  return res ? res->body : "";
}

// The value of one series in Prometheus text (first line starting with
// `series`), or -1.
double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series, 0) == 0 && line.size() > series.size() && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

void CreateTenantAndTimeline(const Daemon& d) {
  HttpJson(d, "POST", "/v1/tenant", nlohmann::json{{"new_tenant_id", kTenant}}.dump(), 201);
  HttpJson(d, "POST", std::string("/v1/tenant/") + kTenant + "/timeline",
           nlohmann::json{
               {"new_timeline_id", kTimeline}, {"start_lsn", kStart.ToString()}, {"pg_version", 15}}
               .dump(),
           201);
}

std::unique_ptr<CopyBothConnection> Open(const std::string& conninfo, const std::string& query) {
  auto conn = CopyBothConnection::Connect(conninfo);
  EXPECT_TRUE(conn.has_value()) << conn.error().ToString();
  if (!conn.has_value()) return nullptr;
  const common::Status started = (*conn)->StartCopyBoth(query);
  EXPECT_TRUE(started.ok()) << started.ToString();
  return std::move(*conn);
}

std::string Ids() { return std::string(kTenant) + " " + kTimeline; }

// Ingests kBlocks pages of kRel (version `version`) plus the relation size,
// relation directory and database directory, committed at `lsn`.
void IngestRelation(const std::string& conninfo, Lsn lsn, uint32_t version) {
  auto conn = Open(conninfo, "ingest " + Ids());
  ASSERT_NE(conn, nullptr);
  std::vector<std::byte> msg;
  for (uint32_t blk = 0; blk < kBlocks; ++blk) {
    server::AppendIngestPut(lsn, Key::RelBlock(kRel, blk),
                            *timeline::Value::Image(PageBytes(blk, version)), msg);
  }
  server::AppendIngestPut(lsn, Key::RelSize(kRel),
                          *timeline::Value::Image(timeline::EncodeRelSize(kBlocks)), msg);
  const std::vector<timeline::RelDirEntry> rels = {{kRel.relnode, kRel.forknum}};
  server::AppendIngestPut(lsn, Key::RelDir(kRel.spcnode, kRel.dbnode),
                          *timeline::Value::Image(*timeline::EncodeRelDir(rels)), msg);
  const std::vector<timeline::DbDirEntry> dbs = {{kRel.spcnode, kRel.dbnode}};
  server::AppendIngestPut(lsn, Key::DbDir(), *timeline::Value::Image(timeline::EncodeDbDir(dbs)),
                          msg);
  server::AppendIngestCommit(lsn, msg);
  ASSERT_OK(conn->Send(msg));
  ASSERT_OK(conn->Flush());
  ASSERT_OK_AND_ASSIGN(auto reply, conn->Receive(std::chrono::seconds(60)));
  ASSERT_OK_AND_ASSIGN(auto status, server::DecodeIngestStatus(reply));
  EXPECT_EQ(status.last_record_lsn, lsn);
  ASSERT_OK(conn->Close());
}

server::PagestreamRequest GetPage(uint64_t reqid, uint32_t blk, Lsn lsn, Lsn nms) {
  return server::GetPageRequest{{reqid, lsn, nms}, kRel, blk};
}

common::Result<PagestreamResponse> Call(CopyBothConnection& conn, PagestreamVersion v,
                                        const server::PagestreamRequest& request) {
  RETURN_IF_ERROR(conn.Send(server::EncodeRequest(v, request)));
  RETURN_IF_ERROR(conn.Flush());
  ASSIGN_OR_RETURN(auto bytes, conn.Receive(std::chrono::seconds(90)));
  return server::DecodeResponse(v, bytes);
}

class DaemonTest : public ::testing::Test {
 protected:
  void StartDaemon(std::vector<std::string> overrides = {}, std::string extra = "") {
    DaemonOptions options;
    options.data_dir = dir_.path() + "/data";
    options.work_dir = dir_.path();
    options.overrides = std::move(overrides);
    options.extra_config = "connection_threads = 4\nvirtual_file_io_mode = \"direct\"\n" + extra;
    ASSERT_OK_AND_ASSIGN(daemon_, Daemon::Start(options));
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) std::cerr << "pageserver log:\n" << daemon_->Log();
  }

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, ServesEveryPagestreamMessageOverTcpAndUnixSocketInV2AndV3) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  for (const std::string& conninfo : {daemon_->TcpConninfo(), daemon_->UnixConninfo()}) {
    for (const PagestreamVersion v : {PagestreamVersion::kV2, PagestreamVersion::kV3}) {
      SCOPED_TRACE(conninfo + (v == PagestreamVersion::kV2 ? " v2" : " v3"));
      const std::string cmd = v == PagestreamVersion::kV2 ? "pagestream_v2 " : "pagestream_v3 ";
      auto conn = Open(conninfo, cmd + Ids());
      ASSERT_NE(conn, nullptr);
      const server::RequestHeader at{7, kFirstCommit, kFirstCommit};

      ASSERT_OK_AND_ASSIGN(auto exists, Call(*conn, v, server::ExistsRequest{at, kRel}));
      EXPECT_EQ(exists.tag, PagestreamResponseTag::kExists);
      EXPECT_TRUE(exists.exists);
      ASSERT_OK_AND_ASSIGN(auto absent,
                           Call(*conn, v, server::ExistsRequest{at, {1663, 5, 99999, 0}}));
      EXPECT_FALSE(absent.exists);

      ASSERT_OK_AND_ASSIGN(auto nblocks, Call(*conn, v, server::NblocksRequest{at, kRel}));
      EXPECT_EQ(nblocks.tag, PagestreamResponseTag::kNblocks);
      EXPECT_EQ(nblocks.n_blocks, kBlocks);

      ASSERT_OK_AND_ASSIGN(auto dbsize, Call(*conn, v, server::DbSizeRequest{at, 5}));
      EXPECT_EQ(dbsize.tag, PagestreamResponseTag::kDbSize);
      EXPECT_EQ(dbsize.db_size, int64_t{kBlocks} * 8192);

      ASSERT_OK_AND_ASSIGN(auto page, Call(*conn, v, GetPage(42, 9, kFirstCommit, kFirstCommit)));
      ASSERT_EQ(page.tag, PagestreamResponseTag::kGetPage) << page.error;
      EXPECT_EQ(page.data, PageBytes(9, 1));
      if (v == PagestreamVersion::kV3) {
        EXPECT_EQ(page.hdr.reqid, 42u);
        EXPECT_EQ(page.blkno, 9u);
        EXPECT_EQ(page.rel, kRel);
      }
      // Past the end of the relation: a zero page, as Neon.
      ASSERT_OK_AND_ASSIGN(auto past,
                           Call(*conn, v, GetPage(43, kBlocks + 5, kFirstCommit, kFirstCommit)));
      ASSERT_EQ(past.tag, PagestreamResponseTag::kGetPage) << past.error;
      EXPECT_EQ(past.data, std::vector<std::byte>(8192));
      // Latest: request_lsn FFFFFFFF/FFFFFFFF with a not_modified_since hint.
      ASSERT_OK_AND_ASSIGN(auto latest, Call(*conn, v, GetPage(44, 3, Lsn::Max(), kFirstCommit)));
      EXPECT_EQ(latest.data, PageBytes(3, 1));

      // LSN errors are Error responses (reqid echoed in v3); the stream goes on.
      ASSERT_OK_AND_ASSIGN(auto zero, Call(*conn, v, GetPage(45, 1, Lsn{0}, Lsn{0})));
      EXPECT_EQ(zero.tag, PagestreamResponseTag::kError);
      ASSERT_OK_AND_ASSIGN(
          auto backwards,
          Call(*conn, v, GetPage(46, 1, kFirstCommit, Lsn{kFirstCommit.value + 8})));
      EXPECT_EQ(backwards.tag, PagestreamResponseTag::kError);
      EXPECT_FALSE(backwards.error.empty());
      if (v == PagestreamVersion::kV3) {
        EXPECT_EQ(backwards.hdr.reqid, 46u);
      }
      ASSERT_OK_AND_ASSIGN(auto again, Call(*conn, v, GetPage(47, 2, kFirstCommit, kFirstCommit)));
      EXPECT_EQ(again.data, PageBytes(2, 1));
      ASSERT_OK(conn->Close());
    }
  }
}

TEST_F(DaemonTest, UnknownTenantOrTimelineIsAnErrorAtTheCommand) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  ASSERT_OK_AND_ASSIGN(auto conn, CopyBothConnection::Connect(daemon_->TcpConninfo()));
  const common::Status status = conn->StartCopyBoth(std::string("pagestream_v3 ") + kTenant +
                                                    " 00000000000000000000000000000099");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.ToString(), HasSubstr("00000000000000000000000000000099"));
  ASSERT_OK_AND_ASSIGN(auto conn2, CopyBothConnection::Connect(daemon_->UnixConninfo()));
  EXPECT_FALSE(conn2->StartCopyBoth("pagestream_v3 0000 1111").ok());
}

TEST_F(DaemonTest, LsnWaitEndsWhenIngestCatchesUpAndTimesOutOtherwise) {
  StartDaemon({"wait_lsn_timeout=\"2s\""});
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  auto conn = Open(daemon_->TcpConninfo(), "pagestream_v3 " + Ids());
  ASSERT_NE(conn, nullptr);
  const Lsn later{kFirstCommit.value + 0x100};
  ASSERT_OK(conn->Send(server::EncodeRequest(PagestreamVersion::kV3, GetPage(1, 5, later, later))));
  ASSERT_OK(conn->Flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  IngestRelation(daemon_->TcpConninfo(), later, 2);
  ASSERT_OK_AND_ASSIGN(auto bytes, conn->Receive(std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(auto waited, server::DecodeResponse(PagestreamVersion::kV3, bytes));
  ASSERT_EQ(waited.tag, PagestreamResponseTag::kGetPage) << waited.error;
  EXPECT_EQ(waited.data, PageBytes(5, 2));

  const Lsn never{later.value + 0x100};
  ASSERT_OK_AND_ASSIGN(auto timed_out,
                       Call(*conn, PagestreamVersion::kV3, GetPage(2, 5, never, never)));
  EXPECT_EQ(timed_out.tag, PagestreamResponseTag::kError);
  EXPECT_EQ(timed_out.hdr.reqid, 2u);
}

TEST_F(DaemonTest, PipelinedGetPagesAreBatchedAndTheMetricsShowIt) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  auto conn = Open(daemon_->TcpConninfo(), "pagestream_v3 " + Ids());
  ASSERT_NE(conn, nullptr);
  constexpr int kRequests = 32;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_OK(conn->Send(server::EncodeRequest(
        PagestreamVersion::kV3,
        GetPage(100 + i, static_cast<uint32_t>(i), kFirstCommit, kFirstCommit))));
  }
  ASSERT_OK(conn->Flush());
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_OK_AND_ASSIGN(auto bytes, conn->Receive(std::chrono::seconds(30)));
    ASSERT_OK_AND_ASSIGN(auto r, server::DecodeResponse(PagestreamVersion::kV3, bytes));
    ASSERT_EQ(r.tag, PagestreamResponseTag::kGetPage) << r.error;
    EXPECT_EQ(r.hdr.reqid, static_cast<uint64_t>(100 + i));
    EXPECT_EQ(r.data, PageBytes(static_cast<uint32_t>(i), 1));
  }
  const std::string metrics = Metrics(*daemon_);
  const double batches = MetricValue(metrics, "ps_page_service_batch_size_count");
  const double pages = MetricValue(metrics, "ps_page_service_batch_size_sum");
  EXPECT_EQ(pages, kRequests) << metrics;
  EXPECT_GT(batches, 0);
  EXPECT_LT(batches, kRequests) << "32 pipelined GetPages were served one by one";
}

TEST_F(DaemonTest, ConcurrentClientsEachGetTheirOwnPages) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  const uint64_t seed = TestSeed();
  AnnounceSeed(seed);
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      auto conn =
          CopyBothConnection::Connect(c % 2 ? daemon_->TcpConninfo() : daemon_->UnixConninfo());
      if (!conn.has_value() || !(*conn)->StartCopyBoth("pagestream_v3 " + Ids()).ok()) {
        ++failed;
        return;
      }
      std::mt19937_64 rng(seed + c);
      for (int i = 0; i < 150; ++i) {
        const auto blk = static_cast<uint32_t>(rng() % kBlocks);
        auto r = Call(**conn, PagestreamVersion::kV3, GetPage(i, blk, kFirstCommit, kFirstCommit));
        if (!r.has_value()) {
          ++failed;
          return;
        }
        if (r->hdr.reqid != static_cast<uint64_t>(i) || r->data != PageBytes(blk, 1)) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(DaemonTest, SigtermCheckpointsAndARestartServesTheSameData) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  const std::string detail_path = std::string("/v1/tenant/") + kTenant + "/timeline/" + kTimeline;
  const nlohmann::json before = HttpJson(*daemon_, "GET", detail_path, "", 200);
  EXPECT_EQ(before.value("last_record_lsn", ""), kFirstCommit.ToString()) << before.dump();
  ASSERT_OK_AND_ASSIGN(const int code, daemon_->Stop(SIGTERM));
  EXPECT_EQ(code, 0) << daemon_->Log();
  ASSERT_OK(daemon_->Restart());
  const nlohmann::json after = HttpJson(*daemon_, "GET", detail_path, "", 200);
  EXPECT_EQ(after.value("disk_consistent_lsn", ""), kFirstCommit.ToString()) << after.dump();
  auto conn = Open(daemon_->UnixConninfo(), "pagestream_v2 " + Ids());
  ASSERT_NE(conn, nullptr);
  for (uint32_t blk = 0; blk < kBlocks; blk += 7) {
    ASSERT_OK_AND_ASSIGN(
        auto r, Call(*conn, PagestreamVersion::kV2, GetPage(0, blk, kFirstCommit, kFirstCommit)));
    EXPECT_EQ(r.data, PageBytes(blk, 1)) << "block " << blk;
  }
}

TEST_F(DaemonTest, SigintWithAnOpenConnectionStillExitsCleanly) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  auto conn = Open(daemon_->TcpConninfo(), "pagestream_v3 " + Ids());
  ASSERT_NE(conn, nullptr);
  ASSERT_OK(Call(*conn, PagestreamVersion::kV3, GetPage(1, 1, kFirstCommit, kFirstCommit)));
  ASSERT_OK_AND_ASSIGN(const int code, daemon_->Stop(SIGINT, std::chrono::seconds(30)));
  EXPECT_EQ(code, 0);
}

TEST_F(DaemonTest, IoEngineAndModeFlipAtRuntimeKeepServing) {
  StartDaemon();
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  HttpJson(*daemon_, "PUT",
           std::string("/v1/tenant/") + kTenant + "/timeline/" + kTimeline + "/checkpoint", "",
           200);
  HttpJson(*daemon_, "PUT", "/v1/io_mode", "\"buffered\"", 200);
  HttpJson(*daemon_, "PUT", "/v1/io_engine", "\"std-fs\"", 200);
  const nlohmann::json status = HttpJson(*daemon_, "GET", "/v1/status", "", 200);
  EXPECT_EQ(status.value("engine", ""), "std-fs") << status.dump();
  EXPECT_EQ(status.value("mode", ""), "buffered") << status.dump();
  HttpJson(*daemon_, "PUT", "/v1/io_mode", "\"sideways\"", 400);
  HttpJson(*daemon_, "PUT",
           std::string("/v1/tenant/") + kTenant + "/timeline/" + kTimeline + "/compact", "", 200);
  auto conn = Open(daemon_->TcpConninfo(), "pagestream_v3 " + Ids());
  ASSERT_NE(conn, nullptr);
  ASSERT_OK_AND_ASSIGN(
      auto r, Call(*conn, PagestreamVersion::kV3, GetPage(1, 11, kFirstCommit, kFirstCommit)));
  EXPECT_EQ(r.data, PageBytes(11, 1));
}

// --- Bad input: raw sockets ---

int ConnectRaw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Sends `bytes` and ends the stream (so a truncated message ends at EOF),
// then reads until the server closes: what it answered.
std::string SendAndDrain(int port, const std::string& bytes) {
  const int fd = ConnectRaw(port);
  if (fd < 0) return "<connect failed>";
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

std::string Be32(uint32_t v) {
  const uint32_t be = htonl(v);
  return std::string(reinterpret_cast<const char*>(&be), 4);
}

std::string StartupPacket() {
  std::string body = Be32(196608) + std::string("user\0x\0database\0y\0\0", 19);
  return Be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string Typed(char tag, const std::string& payload) {
  return std::string(1, tag) + Be32(static_cast<uint32_t>(payload.size() + 4)) + payload;
}

TEST_F(DaemonTest, BadInputGetsAnErrorAndOthersKeepBeingServed) {
  StartDaemon({"max_connections=64"});
  CreateTenantAndTimeline(*daemon_);
  IngestRelation(daemon_->TcpConninfo(), kFirstCommit, 1);
  const int port = daemon_->pg_port();
  const uint64_t seed = TestSeed();
  AnnounceSeed(seed);
  std::mt19937_64 rng(seed);
  std::vector<std::string> inputs = {
      Be32(8) + Be32(80877103) + StartupPacket().substr(0, 6),  // SSL 'N' then truncated
      Be32(8) + Be32(0x00020000),                               // protocol 2.0
      Be32(0x7FFFFFF0) + Be32(196608),                          // oversized startup
      Be32(3),                                                  // impossible length
      StartupPacket() + Typed('Z', "junk"),                     // unknown tag
      StartupPacket() + "Q" + Be32(0x7FFFFFF0),                 // oversized query
      StartupPacket() + Typed('Q', std::string("pagestream_v3 \xff\xfe\0", 17)),  // bad UTF-8
      StartupPacket() + Typed('Q', "pagestream_v3 " + Ids() + std::string(1, '\0')) +
          Typed('d', std::string("\x02\x00\x01", 3)),  // truncated GetPage
      StartupPacket() + Typed('Q', "pagestream_v3 " + Ids() + std::string(1, '\0')) +
          Typed('d', std::string(1, '\x63') + std::string(40, '\0')),  // unknown pagestream tag
  };
  for (int i = 0; i < 20; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    inputs.push_back(i % 2 ? junk : StartupPacket() + junk);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    SendAndDrain(port, inputs[i]);
    // The server is alive and correct after every bad connection.
    if (i % 5 == 0 || i + 1 == inputs.size()) {
      auto conn = Open(daemon_->TcpConninfo(), "pagestream_v3 " + Ids());
      ASSERT_NE(conn, nullptr) << "after input " << i;
      ASSERT_OK_AND_ASSIGN(
          auto r, Call(*conn, PagestreamVersion::kV3, GetPage(1, 7, kFirstCommit, kFirstCommit)));
      EXPECT_EQ(r.data, PageBytes(7, 1)) << "after input " << i;
    }
  }
  // The protocol-level answers: 'N' to SSLRequest, and an ErrorResponse
  // naming the wrong version.
  EXPECT_EQ(SendAndDrain(port, Be32(8) + Be32(80877103)).substr(0, 1), "N");
  EXPECT_THAT(SendAndDrain(port, Be32(8) + Be32(0x00020000)), HasSubstr("protocol"));
  ASSERT_OK_AND_ASSIGN(const int code, daemon_->Stop(SIGTERM));
  EXPECT_EQ(code, 0);
}

// --- Config mistakes: the binary exits non-zero before binding ---

TEST(DaemonConfigTest, EveryKindOfMistakeExitsNonZeroNamingTheKey) {
  TempDir dir;
  struct Case {
    std::string toml;
    std::vector<std::string> extra_args;
    std::string named;
  };
  const int port = FreePort();
  const std::string listen = "listen_pg_addr = \"127.0.0.1:" + std::to_string(port) + "\"\n" +
                             "listen_http_addr = \"127.0.0.1:" + std::to_string(FreePort()) +
                             "\"\ndata_dir = \"" + dir.path() + "/data\"\n";
  const std::vector<Case> cases = {
      {listen + "no_such_key = 1\n", {}, "no_such_key"},
      {listen + "page_cache_size = true\n", {}, "page_cache_size"},
      {listen + "page_cache_size = \"12 parsecs\"\n", {}, "page_cache_size"},
      {listen + "virtual_file_io_mode = \"sideways\"\n", {}, "virtual_file_io_mode"},
      {listen + "virtual_file_io_engine = \"carrier-pigeon\"\n", {}, "virtual_file_io_engine"},
      {listen + "io_alignment = 1000\n", {}, "io_alignment"},
      {listen + "max_batch_size = 0\n", {}, "max_batch_size"},
      {listen + "compaction_threshold = 1\n", {}, "compaction_threshold"},
      {listen + "wait_lsn_timeout = \"soon\"\n", {}, "wait_lsn_timeout"},
      {listen + "log_level = \"loud\"\n", {}, "log_level"},
      {listen + "this is not toml\n", {}, "pageserver.toml"},
      {listen, {"-c", "no_such_key=3"}, "no_such_key"},
      {listen, {"-c", "max_batch_size"}, "max_batch_size"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.path() + "/pageserver.toml";
    std::ofstream(path) << c.toml;
    std::vector<std::string> args = {"--config", path};
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    const RunResult r = RunPageserver(args, std::chrono::seconds(60));
    EXPECT_NE(r.exit_code, 0) << c.toml;
    EXPECT_THAT(r.output, HasSubstr(c.named)) << c.toml;
    // Nothing was bound: the port is still free.
    const int fd = ConnectRaw(port);
    EXPECT_EQ(fd, -1) << "a listener is bound after a config error: " << c.toml;
    if (fd >= 0) ::close(fd);
  }
  const RunResult missing =
      RunPageserver({"--config", dir.path() + "/absent.toml"}, std::chrono::seconds(60));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, HasSubstr("absent.toml"));
}

TEST(DaemonConfigTest, IoUringUnavailableIsAClearStartupErrorAndAutoFallsBack) {
  TempDir dir;
  const std::vector<std::string> env = {"PS_IO_URING_DISABLE=1"};
  const std::vector<std::string> base = {
      "-c", "data_dir=\"" + dir.path() + "/data\"",
      "-c", "listen_pg_addr=\"127.0.0.1:" + std::to_string(FreePort()) + "\"",
      "-c", "listen_http_addr=\"127.0.0.1:" + std::to_string(FreePort()) + "\""};
  std::vector<std::string> args = base;
  args.insert(args.end(), {"-c", "virtual_file_io_engine=\"io-uring\""});
  const RunResult forced = RunPageserver(args, std::chrono::seconds(60), env);
  EXPECT_EQ(forced.exit_code, 1) << forced.output;
  EXPECT_THAT(forced.output, HasSubstr("PS_IO_URING_DISABLE"));

  // auto falls back to std-fs with a warning and serves.
  DaemonOptions options;
  options.data_dir = dir.path() + "/data";
  options.work_dir = dir.path();
  options.env = env;
  ASSERT_OK_AND_ASSIGN(auto daemon, Daemon::Start(options));
  const nlohmann::json status = HttpJson(*daemon, "GET", "/v1/status", "", 200);
  EXPECT_EQ(status.value("engine", ""), "std-fs");
  EXPECT_THAT(daemon->Log(), HasSubstr("falling back to std-fs"));
  ASSERT_OK_AND_ASSIGN(const int code, daemon->Stop(SIGTERM));
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace pageserver::testing
