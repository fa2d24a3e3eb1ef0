// Tests of the client library's own logic that need no server: response
// checking (echoed v3 fields), request descriptions, relation parsing, the
// HTTP request bodies and error mapping, and connection failures reported
// as Status values. Client/server behaviour is tested by the integration
// suite against the real pageserver.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "client/ingest_client.h"
#include "client/management_client.h"
#include "client/page_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::client {
namespace {

using common::StatusCode;
using layers::Lsn;
using layers::RelTag;
using ::pageserver::testing::StatusIs;
using server::PagestreamResponse;
using server::PagestreamResponseTag;
using server::PagestreamVersion;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr PagestreamVersion kV2 = PagestreamVersion::kV2;
constexpr PagestreamVersion kV3 = PagestreamVersion::kV3;
const RelTag kRel{1663, 5, 16384, 0};

server::GetPageRequest GetPage() {
  return server::GetPageRequest{{7, Lsn{0x30}, Lsn{0x20}}, kRel, 11};
}

// The response a correct server sends for GetPage(), decoded.
PagestreamResponse GoodGetPageResponse(PagestreamVersion v) {
  std::vector<std::byte> bytes;
  server::AppendGetPageResponse(v, GetPage(), std::vector<std::byte>(8192), bytes);
  return server::DecodeResponse(v, bytes).value();
}

TEST(CheckResponseTest, MatchingV3ResponsePasses) {
  EXPECT_OK(CheckResponse(kV3, GetPage(), GoodGetPageResponse(kV3)));
}

TEST(CheckResponseTest, V2ResponseHasNoEchoToCheck) {
  EXPECT_OK(CheckResponse(kV2, GetPage(), GoodGetPageResponse(kV2)));
}

TEST(CheckResponseTest, EachDifferentEchoedFieldIsCorruptionNamingIt) {
  struct Case {
    std::string field;
    void (*mutate)(PagestreamResponse&);
  };
  const Case cases[] = {
      {"reqid", [](PagestreamResponse& r) { r.hdr.reqid = 8; }},
      {"request_lsn", [](PagestreamResponse& r) { r.hdr.request_lsn = Lsn{0x31}; }},
      {"not_modified_since", [](PagestreamResponse& r) { r.hdr.not_modified_since = Lsn{1}; }},
      {"rel", [](PagestreamResponse& r) { r.rel.forknum = 1; }},
      {"blkno", [](PagestreamResponse& r) { r.blkno = 12; }},
  };
  for (const Case& c : cases) {
    PagestreamResponse r = GoodGetPageResponse(kV3);
    c.mutate(r);
    EXPECT_THAT(CheckResponse(kV3, GetPage(), r),
                StatusIs(StatusCode::kCorruption,
                         AllOf(HasSubstr("echoed " + c.field), HasSubstr("get_page"))))
        << c.field;
  }
}

TEST(CheckResponseTest, WrongResponseTagIsCorruption) {
  PagestreamResponse r = GoodGetPageResponse(kV2);
  r.tag = PagestreamResponseTag::kNblocks;
  EXPECT_THAT(CheckResponse(kV2, GetPage(), r),
              StatusIs(StatusCode::kCorruption, HasSubstr("tag 101, expected 102")));
}

TEST(CheckResponseTest, BodyEchoOfEveryRequestTypeIsChecked) {
  const server::RequestHeader h{3, Lsn{0x10}, Lsn{0x10}};
  {
    server::DbSizeRequest req{h, 5};
    std::vector<std::byte> bytes;
    server::AppendDbSizeResponse(kV3, server::DbSizeRequest{h, 6}, 100, bytes);
    EXPECT_THAT(CheckResponse(kV3, req, server::DecodeResponse(kV3, bytes).value()),
                StatusIs(StatusCode::kCorruption, HasSubstr("echoed dbnode is 6, sent 5")));
  }
  {
    server::GetSlruSegmentRequest req{h, 0, 4};
    std::vector<std::byte> bytes;
    server::AppendSlruSegmentResponse(kV3, server::GetSlruSegmentRequest{h, 0, 5}, {}, bytes);
    EXPECT_THAT(CheckResponse(kV3, req, server::DecodeResponse(kV3, bytes).value()),
                StatusIs(StatusCode::kCorruption, HasSubstr("echoed segno is 5, sent 4")));
  }
  {
    server::ExistsRequest req{h, kRel};
    std::vector<std::byte> bytes;
    server::AppendExistsResponse(kV3, server::ExistsRequest{h, RelTag{1663, 5, 1, 0}}, true, bytes);
    EXPECT_THAT(CheckResponse(kV3, req, server::DecodeResponse(kV3, bytes).value()),
                StatusIs(StatusCode::kCorruption, HasSubstr("echoed rel is 1663/5/1")));
  }
}

TEST(CheckResponseTest, ErrorResponseMatchesAnyRequestButBecomesAborted) {
  std::vector<std::byte> bytes;
  server::AppendErrorResponse(kV3, GetPage().hdr, "relation 1663/5/16384 not found", bytes);
  const PagestreamResponse r = server::DecodeResponse(kV3, bytes).value();
  EXPECT_OK(CheckResponse(kV3, GetPage(), r));
  EXPECT_THAT(ErrorResponseStatus(GetPage(), r),
              StatusIs(StatusCode::kAborted, AllOf(HasSubstr("get_page 1663/5/16384 blk 11"),
                                                   HasSubstr("relation 1663/5/16384 not found"))));
  EXPECT_OK(ErrorResponseStatus(GetPage(), GoodGetPageResponse(kV3)));
}

TEST(CheckResponseTest, ErrorResponseForAnotherRequestIdIsCorruption) {
  std::vector<std::byte> bytes;
  server::RequestHeader other = GetPage().hdr;
  other.reqid = 99;
  server::AppendErrorResponse(kV3, other, "boom", bytes);
  EXPECT_THAT(CheckResponse(kV3, GetPage(), server::DecodeResponse(kV3, bytes).value()),
              StatusIs(StatusCode::kCorruption, HasSubstr("echoed reqid is 99, sent 7")));
}

TEST(DescribeRequestTest, NamesTypeTargetAndLsns) {
  EXPECT_EQ(DescribeRequest(GetPage()),
            "get_page 1663/5/16384 blk 11 at 0/30 (not modified "
            "since 0/20)");
}

TEST(CommandTextTest, PagestreamAndIngestCommandsUseLowerCaseHexIds) {
  const auto tenant = layers::TenantId::ParseHex("AD50847381E248FEAAC9876CC71AE418").value();
  const auto timeline = layers::TimelineId::ParseHex("0102030405060708090a0b0c0d0e0f10").value();
  EXPECT_EQ(PagestreamCommand(kV3, tenant, timeline),
            "pagestream_v3 ad50847381e248feaac9876cc71ae418 0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(PagestreamCommand(kV2, tenant, timeline).substr(0, 14), "pagestream_v2 ");
  EXPECT_EQ(IngestCommand(tenant, timeline),
            "ingest ad50847381e248feaac9876cc71ae418 0102030405060708090a0b0c0d0e0f10");
}

TEST(ParseRelTagTest, ParsesEveryForkSuffix) {
  EXPECT_EQ(ParseRelTag("1663/5/16384").value(), (RelTag{1663, 5, 16384, 0}));
  EXPECT_EQ(ParseRelTag("1663/5/16384_fsm").value(), (RelTag{1663, 5, 16384, 1}));
  EXPECT_EQ(ParseRelTag("1663/5/16384_vm").value(), (RelTag{1663, 5, 16384, 2}));
  EXPECT_EQ(ParseRelTag("1663/5/16384_init").value(), (RelTag{1663, 5, 16384, 3}));
  EXPECT_EQ(ParseRelTag("0/0/4294967295").value(), (RelTag{0, 0, 4294967295u, 0}));
}

TEST(ParseRelTagTest, RoundTripsRelTagToString) {
  for (uint8_t fork = 0; fork < 4; ++fork) {
    const RelTag rel{1664, 0, 1262, fork};
    EXPECT_EQ(ParseRelTag(rel.ToString()).value(), rel) << rel.ToString();
  }
}

TEST(ParseRelTagTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "1663/5", "1663/5/", "/5/16384", "1663/5/16384/1", "a/b/c", "1663/5/16384_xyz",
        "1663/5/-1", "1663/5/4294967296", "1663 /5/1", "1663/5/16384_fsm_vm"}) {
    EXPECT_THAT(ParseRelTag(bad), StatusIs(StatusCode::kInvalidArgument, HasSubstr("relation")))
        << bad;
  }
}

TEST(ReadPointTest, LatestAndAtLsnFillBothLsns) {
  const ReadPoint at = ReadPoint::AtLsn(Lsn{0x42});
  EXPECT_EQ(at.request_lsn, Lsn{0x42});
  EXPECT_EQ(at.not_modified_since, Lsn{0x42});
  const ReadPoint latest = ReadPoint::Latest(Lsn{0x99});
  EXPECT_EQ(latest.request_lsn, Lsn::Max());
  EXPECT_EQ(latest.not_modified_since, Lsn{0x99});
}

TEST(ManagementBodyTest, TimelineCreateBodyHasOnlyTheSetFields) {
  EXPECT_EQ(TimelineCreateBody({}).dump(), "{}");
  TimelineCreateRequest branch;
  branch.new_timeline_id = layers::TimelineId::ParseHex("0102030405060708090A0B0C0D0E0F10").value();
  branch.ancestor_timeline_id =
      layers::TimelineId::ParseHex("ffffffffffffffffffffffffffffffff").value();
  branch.ancestor_start_lsn = Lsn{0x16B374D848};
  branch.pg_version = 15;
  const nlohmann::json body = TimelineCreateBody(branch);
  EXPECT_EQ(body["new_timeline_id"], "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(body["ancestor_timeline_id"], "ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(body["ancestor_start_lsn"], "16/B374D848");
  EXPECT_EQ(body["pg_version"], 15);
  EXPECT_FALSE(body.contains("start_lsn"));
  TimelineCreateRequest root;
  root.start_lsn = Lsn{0x100};
  EXPECT_EQ(TimelineCreateBody(root).dump(), R"({"start_lsn":"0/100"})");
}

TEST(ManagementBodyTest, TenantCreateBodyNamesTheIdWhenGiven) {
  EXPECT_EQ(TenantCreateBody(std::nullopt).dump(), "{}");
  const auto id = layers::TenantId::ParseHex("00000000000000000000000000000abc").value();
  EXPECT_EQ(TenantCreateBody(id).dump(), R"({"new_tenant_id":"00000000000000000000000000000abc"})");
}

TEST(HttpErrorStatusTest, MapsHttpStatusAndCarriesTheServersMessage) {
  const std::string body = R"({"error": "tenant 00ab not found"})";
  EXPECT_THAT(
      HttpErrorStatus(404, "GET", "/v1/tenant/00ab", body),
      StatusIs(StatusCode::kNotFound, AllOf(HasSubstr("GET /v1/tenant/00ab"), HasSubstr("HTTP 404"),
                                            HasSubstr("tenant 00ab not found"))));
  EXPECT_THAT(HttpErrorStatus(400, "POST", "/v1/tenant", body),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(HttpErrorStatus(409, "POST", "/v1/tenant", body),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(HttpErrorStatus(503, "GET", "/v1/status", body),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_THAT(HttpErrorStatus(500, "PUT", "/x", "not json at all"),
              StatusIs(StatusCode::kInternal, HasSubstr("not json at all")));
  EXPECT_THAT(HttpErrorStatus(422, "PUT", "/x", "{}"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(LsnFieldTest, AcceptsPostgresTextAndNumbers) {
  const nlohmann::json detail = {{"last_record_lsn", "16/B374D848"}, {"n", 42}, {"bad", "x"}};
  EXPECT_EQ(LsnField(detail, "last_record_lsn").value(), Lsn{0x16B374D848});
  EXPECT_EQ(LsnField(detail, "n").value(), Lsn{42});
  EXPECT_THAT(LsnField(detail, "bad"), StatusIs(StatusCode::kCorruption, HasSubstr("bad")));
  EXPECT_THAT(LsnField(detail, "missing"),
              StatusIs(StatusCode::kCorruption, HasSubstr("no 'missing' field")));
}

TEST(ConnectionFailureTest, RefusedPageServiceConnectionIsIoErrorWithLibpqMessage) {
  // Port 1 on loopback: nothing listens there, the connect is refused at once.
  const auto client = PageClient::Connect("host=127.0.0.1 port=1 connect_timeout=5");
  EXPECT_THAT(client, StatusIs(StatusCode::kIoError,
                               AllOf(HasSubstr("port=1"), HasSubstr("Connection refused"))));
}

TEST(ConnectionFailureTest, MissingUnixSocketIsIoError) {
  const auto client = PageClient::Connect("host=/nonexistent-ps-dir port=64000");
  EXPECT_THAT(client, StatusIs(StatusCode::kIoError, HasSubstr(".s.PGSQL.64000")));
}

TEST(ConnectionFailureTest, UnreachableHttpApiIsIoErrorNamingTheUrl) {
  auto http = ManagementClient::Create("http://127.0.0.1:1");
  ASSERT_OK(http);
  EXPECT_THAT((*http)->ListTenants(),
              StatusIs(StatusCode::kIoError, AllOf(HasSubstr("GET http://127.0.0.1:1/v1/tenant"),
                                                   HasSubstr("could not connect"))));
}

// ---------------------------------------------------------------------------
// The client's own connection logic against a minimal fake speaking just
// enough of the Postgres protocol (startup, trust auth, one simple query
// switching to COPY BOTH, CopyData, CopyDone). It stands in for no server
// behaviour under test: the real page service is tested in daemon_test.

class FakePageService {
 public:
  // What the fake does with one CopyData payload from the client: append
  // reply bytes (CopyData payloads via Reply(), or whole backend messages)
  // to `out`; return false to stop serving.
  using Handler = std::function<bool(std::span<const std::byte> payload, std::string& out)>;

  // Listens on 127.0.0.1 (unix_dir empty) or on <unix_dir>/.s.PGSQL.<port>.
  FakePageService(Handler handler, std::string unix_dir = "", bool refuse_query = false)
      : handler_(std::move(handler)), refuse_query_(refuse_query) {
    if (unix_dir.empty()) {
      listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
      socklen_t len = sizeof(addr);
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
      conninfo_ = "host=127.0.0.1 port=" + std::to_string(port_) + " sslmode=disable";
    } else {
      port_ = 54321;
      listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      const std::string path = unix_dir + "/.s.PGSQL." + std::to_string(port_);
      std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
      EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
      conninfo_ = "host=" + unix_dir + " port=" + std::to_string(port_);
    }
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakePageService() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }

  const std::string& conninfo() const { return conninfo_; }
  std::string query() const {
    std::lock_guard<std::mutex> lock(mu_);
    return query_;
  }
  bool got_copy_done() const { return got_copy_done_; }

  // A CopyData message carrying `payload`.
  static void Reply(std::span<const std::byte> payload, std::string& out) {
    Message('d', std::string(reinterpret_cast<const char*>(payload.data()), payload.size()), out);
  }
  // An ErrorResponse with severity ERROR and `text`, then ReadyForQuery.
  static void Error(const std::string& text, std::string& out) {
    Message('E', std::string("SERROR") + '\0' + "C58000" + '\0' + "M" + text + '\0' + '\0', out);
    Message('Z', "I", out);
  }

 private:
  static void Message(char tag, const std::string& body, std::string& out) {
    out.push_back(tag);
    const uint32_t len = htonl(uint32_t(body.size() + 4));
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += body;
  }
  static bool ReadFull(int fd, void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
      const ssize_t r = ::read(fd, p, n);
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
    }
    return true;
  }
  static bool WriteAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) return false;
      done += size_t(w);
    }
    return true;
  }
  // One frontend message: tag and body.
  static bool ReadMessage(int fd, char& tag, std::string& body) {
    uint32_t len = 0;
    if (!ReadFull(fd, &tag, 1) || !ReadFull(fd, &len, 4)) return false;
    len = ntohl(len);
    if (len < 4) return false;
    body.resize(len - 4);
    return ReadFull(fd, body.data(), body.size());
  }
  // Startup packet, answering SSL and GSSENC requests with 'N'.
  static bool Startup(int fd) {
    for (;;) {
      uint32_t header[2];
      if (!ReadFull(fd, header, 8)) return false;
      const uint32_t len = ntohl(header[0]);
      const uint32_t code = ntohl(header[1]);
      if (code == 80877103 || code == 80877104) {
        if (!WriteAll(fd, "N")) return false;
        continue;
      }
      std::string rest(len - 8, '\0');
      return ReadFull(fd, rest.data(), rest.size());
    }
  }

  void Serve() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ServeConnection(fd);
    ::close(fd);
  }

  void ServeConnection(int fd) {
    if (!Startup(fd)) return;
    std::string out;
    Message('R', std::string("\0\0\0\0", 4), out);
    Message('Z', "I", out);
    char tag;
    std::string body;
    if (!WriteAll(fd, out) || !ReadMessage(fd, tag, body) || tag != 'Q') return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      query_ = body.substr(0, body.find('\0'));
    }
    out.clear();
    if (refuse_query_) {
      Error("unknown tenant", out);
      WriteAll(fd, out);
      return;
    }
    Message('W', std::string("\0\0\0", 3), out);  // text format, 0 columns
    if (!WriteAll(fd, out)) return;
    while (ReadMessage(fd, tag, body)) {
      out.clear();
      if (tag == 'c') {
        got_copy_done_ = true;
        Message('c', "", out);
        Message('C', std::string("COPY 0") + '\0', out);
        Message('Z', "I", out);
      } else if (tag == 'X') {
        return;
      } else if (tag == 'd') {
        const auto* data = reinterpret_cast<const std::byte*>(body.data());
        if (!handler_(std::span(data, body.size()), out)) {
          WriteAll(fd, out);
          return;
        }
      }
      if (!WriteAll(fd, out)) return;
    }
  }

  Handler handler_;
  bool refuse_query_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string conninfo_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string query_;  // guarded by mu_
  std::atomic<bool> got_copy_done_{false};
};

server::PagestreamRequest Decode(std::span<const std::byte> payload) {
  return server::DecodeRequest(kV3, payload).value();
}

// Answers GetPage with a page whose first 4 bytes are the block number.
bool EchoGetPage(const server::GetPageRequest& get, std::string& out) {
  std::vector<std::byte> page(8192);
  std::memcpy(page.data(), &get.blkno, 4);
  std::vector<std::byte> bytes;
  server::AppendGetPageResponse(kV3, get, page, bytes);
  FakePageService::Reply(bytes, out);
  return true;
}

bool EchoPage(std::span<const std::byte> payload, std::string& out) {
  return EchoGetPage(std::get<server::GetPageRequest>(Decode(payload)), out);
}

const layers::TenantId kTenant = layers::TenantId::ParseHex(std::string(32, 'a')).value();
const layers::TimelineId kTimeline = layers::TimelineId::ParseHex(std::string(32, 'b')).value();

TEST(PageClientConnectionTest, PipelinedResponsesArriveInRequestOrder) {
  FakePageService fake(EchoPage);
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  EXPECT_EQ(fake.query(), PagestreamCommand(kV3, kTenant, kTimeline));
  std::vector<server::PagestreamRequest> sent;
  for (uint32_t blk = 0; blk < 300; ++blk) {
    sent.push_back(
        server::GetPageRequest{{client->NextRequestId(), Lsn{0x10}, Lsn{0x10}}, kRel, blk});
    ASSERT_OK(client->Send(sent.back()));
  }
  ASSERT_OK(client->Flush());
  for (uint32_t blk = 0; blk < 300; ++blk) {
    ASSERT_OK_AND_ASSIGN(PagestreamResponse r, client->Receive());
    ASSERT_OK(CheckResponse(kV3, sent[blk], r));
    uint32_t first = 0;
    std::memcpy(&first, r.data.data(), 4);
    ASSERT_EQ(first, blk);
  }
  ASSERT_OK(client->Close());
  EXPECT_TRUE(fake.got_copy_done());
}

TEST(PageClientConnectionTest, GetPageOverUnixSocketChecksTheEcho) {
  pageserver::testing::TempDir dir;
  FakePageService fake(EchoPage, dir.path());
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  ASSERT_OK_AND_ASSIGN(auto page, client->GetPage(kRel, 77, ReadPoint::AtLsn(Lsn{0x10})));
  ASSERT_EQ(page.size(), 8192u);
  EXPECT_EQ(page[0], std::byte{77});
  ASSERT_OK(client->Close());
}

TEST(PageClientConnectionTest, WrongEchoedRequestIdIsCorruption) {
  FakePageService fake([](std::span<const std::byte> payload, std::string& out) {
    auto get = std::get<server::GetPageRequest>(Decode(payload));
    get.hdr.reqid += 1;
    return EchoGetPage(get, out);
  });
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  EXPECT_THAT(client->GetPage(kRel, 1, ReadPoint::AtLsn(Lsn{0x10})),
              StatusIs(StatusCode::kCorruption, HasSubstr("echoed reqid is 2, sent 1")));
}

TEST(PageClientConnectionTest, PagestreamErrorResponseIsAbortedWithTheMessage) {
  FakePageService fake([](std::span<const std::byte> payload, std::string& out) {
    std::vector<std::byte> bytes;
    server::AppendErrorResponse(kV3, server::HeaderOf(Decode(payload)), "block 5 is past the end",
                                bytes);
    FakePageService::Reply(bytes, out);
    return true;
  });
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  EXPECT_THAT(client->GetPage(kRel, 5, ReadPoint::AtLsn(Lsn{0x10})),
              StatusIs(StatusCode::kAborted, HasSubstr("block 5 is past the end")));
}

TEST(PageClientConnectionTest, ServerEndingTheStreamIsIoErrorWithItsMessage) {
  FakePageService fake([](std::span<const std::byte>, std::string& out) {
    FakePageService::Error("malformed pagestream message", out);
    return false;
  });
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  EXPECT_THAT(client->Nblocks(kRel, ReadPoint::AtLsn(Lsn{0x10})),
              StatusIs(StatusCode::kIoError, HasSubstr("malformed pagestream message")));
  EXPECT_OK(client->Close());  // nothing left to end: the copy is over
}

TEST(PageClientConnectionTest, RefusedPagestreamCommandIsInvalidArgument) {
  FakePageService fake(EchoPage, "", /*refuse_query=*/true);
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo()));
  EXPECT_THAT(client->StartPagestream(kV3, kTenant, kTimeline),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("pagestream_v3"), HasSubstr("unknown tenant"))));
}

TEST(PageClientConnectionTest, NoAnswerWithinTheTimeoutIsTimedOut) {
  FakePageService fake([](std::span<const std::byte>, std::string&) { return true; });
  PageClient::Options options;
  options.receive_timeout = std::chrono::milliseconds(100);
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(fake.conninfo(), options));
  ASSERT_OK(client->StartPagestream(kV3, kTenant, kTimeline));
  EXPECT_THAT(client->DbSize(5, ReadPoint::AtLsn(Lsn{0x10})), StatusIs(StatusCode::kTimedOut));
  ASSERT_OK_AND_ASSIGN(auto nothing, client->TryReceive());
  EXPECT_FALSE(nothing.has_value());
  EXPECT_OK(client->Close());
}

TEST(IngestClientConnectionTest, CommitSendsBufferedPutsAndReturnsTheStatus) {
  std::vector<server::IngestRecord> received;  // read after the fake is gone
  {
    uint64_t index = 0;
    FakePageService fake([&](std::span<const std::byte> payload, std::string& out) {
      auto records = server::DecodeIngestMessage(payload, index);
      if (!records.has_value()) return false;
      index += records->size();
      bool answer = false;
      for (auto& r : *records) {
        answer = answer || !std::holds_alternative<server::IngestPut>(r);
        received.push_back(std::move(r));
      }
      if (answer) {
        FakePageService::Reply(server::EncodeIngestStatus({Lsn{0x30}, Lsn{0x20}}), out);
      }
      return true;
    });
    ASSERT_OK_AND_ASSIGN(auto ingest, IngestClient::Connect(fake.conninfo(), kTenant, kTimeline));
    EXPECT_EQ(fake.query(), IngestCommand(kTenant, kTimeline));
    const auto value = timeline::Value::Image(std::vector<std::byte>(8192)).value();
    const layers::Key key = layers::Key::RelBlock(kRel, 0);
    ASSERT_OK(ingest->Put(Lsn{0x28}, key, value));
    EXPECT_GT(ingest->buffered_bytes(), 8192u);
    ASSERT_OK_AND_ASSIGN(server::IngestStatus status, ingest->Commit(Lsn{0x30}));
    EXPECT_EQ(status, (server::IngestStatus{Lsn{0x30}, Lsn{0x20}}));
    EXPECT_EQ(ingest->buffered_bytes(), 0u);
    ASSERT_OK_AND_ASSIGN(status, ingest->Flush());
    EXPECT_EQ(status.disk_consistent_lsn, Lsn{0x20});
    ASSERT_OK(ingest->Close());
  }
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(std::get<server::IngestPut>(received[0]).lsn, Lsn{0x28});
  EXPECT_EQ(std::get<server::IngestCommit>(received[1]).lsn, Lsn{0x30});
  EXPECT_TRUE(std::holds_alternative<server::IngestFlush>(received[2]));
}

TEST(IngestClientConnectionTest, LargeBatchesAreSplitIntoWholeRecordMessages) {
  size_t messages = 0;
  size_t puts = 0;
  {
    FakePageService fake([&](std::span<const std::byte> payload, std::string& out) {
      auto records = server::DecodeIngestMessage(payload, 0);
      if (!records.has_value()) return false;  // a record split across messages
      ++messages;
      for (const auto& r : *records) {
        if (std::holds_alternative<server::IngestPut>(r)) {
          ++puts;
        } else {
          FakePageService::Reply(server::EncodeIngestStatus({Lsn{0x30}, Lsn{0x20}}), out);
        }
      }
      return true;
    });
    ASSERT_OK_AND_ASSIGN(auto ingest, IngestClient::Connect(fake.conninfo(), kTenant, kTimeline));
    const auto value = timeline::Value::Image(std::vector<std::byte>(8192)).value();
    for (uint32_t blk = 0; blk < 100; ++blk) {
      ASSERT_OK(ingest->Put(Lsn{0x28}, layers::Key::RelBlock(kRel, blk), value));
    }
    ASSERT_OK(ingest->Commit(Lsn{0x30}));
    ASSERT_OK(ingest->Close());
  }
  EXPECT_EQ(puts, 100u);
  EXPECT_GT(messages, 1u);  // 100 x 8 KiB puts exceed kSendThreshold
}

}  // namespace
}  // namespace pageserver::client
