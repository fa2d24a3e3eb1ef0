#include "server/http_api.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "io_engine/io_engine.h"
#include "layers/key.h"
#include "server/pgwire.h"
#include "server/server.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/pg_mapping.h"
#include "timeline/value.h"

namespace pageserver::server {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::StatusIs;

class FakeDaemon : public DaemonStatusSource {
 public:
  DaemonStatus GetDaemonStatus() const override {
    return DaemonStatus{"127.0.0.1:1", "/tmp/.s.PGSQL.1", "127.0.0.1:2", 4.5, 3, 1};
  }
};

// A response: HTTP status and the body parsed as JSON (null when not JSON).
struct Answer {
  int status = 0;
  json body;
  std::string text;
};

// A real TenantManager, IoSettings and PageCache behind a real httplib server
// on an ephemeral loopback port, and a real httplib client.
class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(io_, IoSettings::Create({.direct_fallback = true}, registry_));
    ASSERT_OK_AND_ASSIGN(cache_,
                         page_cache::PageCache::Create({.pages = 256, .registry = &registry_}));
    TenantManagerOptions options{.data_dir = dir_.path() + "/data"};
    options.timeline.background_threads = false;  // the tests drive flush and compaction
    ASSERT_OK_AND_ASSIGN(tenants_, TenantManager::Open(*io_, *cache_, registry_, options));
    api_ = std::make_unique<HttpApi>(*tenants_, *io_, *cache_, registry_, &daemon_);
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }

  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
    if (tenants_ != nullptr) EXPECT_OK(tenants_->Shutdown(false));
  }

  static Answer Make(const httplib::Result& r) {
    Answer a;
    if (!r) return a;  // status 0: no response
    a.status = r->status;
    a.text = r->body;
    a.body = json::parse(r->body, nullptr, false);
    return a;
  }
  Answer Get(const std::string& path) { return Make(client_->Get(path)); }
  Answer Delete(const std::string& path) { return Make(client_->Delete(path)); }
  Answer Post(const std::string& path, const std::string& body) {
    return Make(client_->Post(path, body, "application/json"));
  }
  Answer Put(const std::string& path, const std::string& body) {
    return Make(client_->Put(path, body, "application/json"));
  }

  // Creates a tenant and returns its id.
  std::string NewTenant() {
    const Answer a = Post("/v1/tenant", "");
    EXPECT_EQ(a.status, 201) << a.text;
    return a.body.value("id", "");
  }
  static std::string TimelinePath(const std::string& t, const std::string& tl) {
    return "/v1/tenant/" + t + "/timeline/" + tl;
  }

  // Ingests one page at each LSN of `lsns` on this thread (which stays the
  // timeline's ingest thread until DetachIngest).
  void Ingest(timeline::Timeline& tl, const std::vector<uint64_t>& lsns) {
    const layers::Key key = layers::Key::RelBlock(layers::RelTag{1663, 5, 16384, 0}, 0);
    for (const uint64_t lsn : lsns) {
      std::vector<std::byte> page(timeline::kPageSize, std::byte(lsn & 0xFF));
      ASSERT_OK_AND_ASSIGN(const timeline::Value value, timeline::Value::Image(page));
      ASSERT_OK(tl.Put(key, layers::Lsn{lsn}, value));
      ASSERT_OK(tl.FinishLsn(layers::Lsn{lsn}));
    }
  }

  testing::TempDir dir_;
  common::Registry registry_;
  std::unique_ptr<IoSettings> io_;
  std::unique_ptr<page_cache::PageCache> cache_;
  std::unique_ptr<TenantManager> tenants_;
  FakeDaemon daemon_;
  std::unique_ptr<HttpApi> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

constexpr char kTenantA[] = "ad50847381e248feaac9876cc71ae418";
constexpr char kTimelineA[] = "11111111111111111111111111111111";
constexpr char kTimelineB[] = "22222222222222222222222222222222";

TEST_F(HttpApiTest, StatusReportsIoSettingsCacheTenantsAndDaemon) {
  NewTenant();
  const Answer a = Get("/v1/status");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_THAT(a.body["engine"].get<std::string>(), MatchesRegex("std-fs|io-uring"));
  EXPECT_EQ(a.body["mode"], "direct");
  EXPECT_EQ(a.body["io_alignment"], 512);
  EXPECT_EQ(a.body["tenants"], 1);
  EXPECT_TRUE(a.body["tenant_problems"].is_array());
  const json& cache = a.body["page_cache"];
  EXPECT_EQ(cache["size_bytes"], 256 * 8192);
  EXPECT_EQ(cache["pages"], 256);
  EXPECT_EQ(cache["overloaded"], false);
  for (const char* field : {"hit_rate", "replacement_rate_1m", "replacement_rate_5m",
                            "working_set_estimate_bytes", "recommended_size_bytes"}) {
    EXPECT_TRUE(cache[field].is_number()) << field;
  }
  EXPECT_EQ(cache["hit_rate_curve"].size(), 6u);
  EXPECT_EQ(a.body["listen_pg_addr"], "127.0.0.1:1");
  EXPECT_EQ(a.body["listen_pg_socket"], "/tmp/.s.PGSQL.1");
  EXPECT_EQ(a.body["connections"]["active"], 3);
  EXPECT_EQ(a.body["uptime_seconds"], 4.5);
}

TEST_F(HttpApiTest, MetricsIsPrometheusTextOfTheRegistry) {
  auto r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/plain"));
  EXPECT_THAT(r->body, HasSubstr("# TYPE ps_page_cache_size_pages gauge"));
  EXPECT_THAT(r->body, HasSubstr("ps_page_cache_size_pages 256"));
  EXPECT_THAT(r->body, HasSubstr("ps_page_cache_replacement_rate_1m"));
}

TEST_F(HttpApiTest, TenantCreateListGetDelete) {
  const std::string random = NewTenant();
  EXPECT_THAT(random, MatchesRegex("[0-9a-f]{32}"));
  Answer a = Post("/v1/tenant", json{{"new_tenant_id", kTenantA}}.dump());
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body, (json{{"id", kTenantA}}));

  a = Get("/v1/tenant");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body.size(), 2u);
  a = Get(std::string("/v1/tenant/") + kTenantA);
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body,
            (json{{"id", kTenantA}, {"timelines", json::array()}, {"problems", json::array()}}));

  a = Delete(std::string("/v1/tenant/") + kTenantA);
  EXPECT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(Get(std::string("/v1/tenant/") + kTenantA).status, 404);
  EXPECT_EQ(Delete(std::string("/v1/tenant/") + kTenantA).status, 404);
  EXPECT_EQ(Get("/v1/tenant").body.size(), 1u);
}

TEST_F(HttpApiTest, TenantErrorsHaveFittingStatusAndJsonMessage) {
  ASSERT_EQ(Post("/v1/tenant", json{{"new_tenant_id", kTenantA}}.dump()).status, 201);
  Answer a = Post("/v1/tenant", json{{"new_tenant_id", kTenantA}}.dump());
  EXPECT_EQ(a.status, 409);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("already exists"));
  a = Post("/v1/tenant", json{{"new_tenant_id", "xyz"}}.dump());
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("new_tenant_id"));
  EXPECT_EQ(Post("/v1/tenant", "{not json").status, 400);
  EXPECT_EQ(Post("/v1/tenant", "[1]").status, 400);
  a = Post("/v1/tenant", json{{"tenant", kTenantA}}.dump());
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("unknown field 'tenant'"));
  EXPECT_EQ(Post("/v1/tenant", json{{"new_tenant_id", 5}}.dump()).status, 400);
  a = Get("/v1/tenant/not-hex");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("tenant id in the path"));
  a = Get("/v1/tenant/00000000000000000000000000000001");
  EXPECT_EQ(a.status, 404);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("not found"));
  a = Get("/v1/no/such/route");
  EXPECT_EQ(a.status, 404);
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("no route for GET /v1/no/such/route"));
}

TEST_F(HttpApiTest, TimelineCreateRootAndBranchListGetDelete) {
  const std::string t = NewTenant();
  const std::string timelines = "/v1/tenant/" + t + "/timeline";
  Answer a = Post(
      timelines,
      json{{"new_timeline_id", kTimelineA}, {"start_lsn", "0/100"}, {"pg_version", 16}}.dump());
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["tenant_id"], t);
  EXPECT_EQ(a.body["timeline_id"], kTimelineA);
  EXPECT_TRUE(a.body["ancestor_timeline_id"].is_null());
  EXPECT_TRUE(a.body["ancestor_lsn"].is_null());
  EXPECT_EQ(a.body["last_record_lsn"], "0/100");
  EXPECT_EQ(a.body["disk_consistent_lsn"], "0/100");
  EXPECT_EQ(a.body["pg_version"], 16);
  EXPECT_EQ(a.body["broken"], false);
  EXPECT_TRUE(a.body["broken_reason"].is_null());
  EXPECT_TRUE(a.body.contains("gc_cutoff_lsn"));
  for (const char* f :
       {"l0_deltas", "l1_deltas", "images", "layer_bytes", "in_memory_bytes", "frozen_layers"}) {
    EXPECT_EQ(a.body["layers"][f], 0) << f;
  }

  // A branch at the ancestor's last_record_lsn by default.
  a = Post(timelines,
           json{{"new_timeline_id", kTimelineB}, {"ancestor_timeline_id", kTimelineA}}.dump());
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["ancestor_timeline_id"], kTimelineA);
  EXPECT_EQ(a.body["ancestor_lsn"], "0/100");
  EXPECT_EQ(a.body["pg_version"], 16);

  // A root with every default.
  a = Post(timelines, "");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["last_record_lsn"], "0/1000000");
  EXPECT_EQ(a.body["pg_version"], 15);
  const std::string third = a.body["timeline_id"];

  a = Get(timelines);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body.size(), 3u);
  EXPECT_EQ(Get("/v1/tenant/" + t).body["timelines"].size(), 3u);
  a = Get(TimelinePath(t, kTimelineB));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["ancestor_timeline_id"], kTimelineA);

  a = Delete(TimelinePath(t, kTimelineA));  // has a branch
  EXPECT_EQ(a.status, 409) << a.text;
  EXPECT_EQ(Delete(TimelinePath(t, kTimelineB)).status, 200);
  EXPECT_EQ(Delete(TimelinePath(t, kTimelineA)).status, 200);
  EXPECT_EQ(Delete(TimelinePath(t, third)).status, 200);
  EXPECT_EQ(Get(TimelinePath(t, kTimelineA)).status, 404);
  EXPECT_EQ(Delete(TimelinePath(t, kTimelineA)).status, 404);
  EXPECT_EQ(Get(timelines).body, json::array());
}

TEST_F(HttpApiTest, TimelineErrorsHaveFittingStatus) {
  const std::string t = NewTenant();
  const std::string timelines = "/v1/tenant/" + t + "/timeline";
  const auto post = [&](const json& body) { return Post(timelines, body.dump()); };
  ASSERT_EQ(post({{"new_timeline_id", kTimelineA}, {"start_lsn", "0/100"}}).status, 201);
  EXPECT_EQ(post({{"new_timeline_id", kTimelineA}}).status, 409);
  EXPECT_EQ(post({{"start_lsn", "nope"}}).status, 400);
  EXPECT_EQ(post({{"start_lsn", "0/0"}}).status, 400);
  EXPECT_EQ(post({{"pg_version", 9}}).status, 400);
  EXPECT_EQ(post({{"pg_version", "15"}}).status, 400);
  EXPECT_EQ(post({{"ancestor_start_lsn", "0/100"}}).status, 400);
  EXPECT_EQ(post({{"ancestor_timeline_id", kTimelineA}, {"start_lsn", "0/100"}}).status, 400);
  EXPECT_EQ(post({{"ancestor_timeline_id", kTimelineA}, {"pg_version", 14}}).status, 400);
  EXPECT_EQ(post({{"ancestor_timeline_id", kTimelineB}}).status, 404);
  Answer a = post({{"ancestor_timeline_id", kTimelineA}, {"ancestor_start_lsn", "0/200"}});
  EXPECT_EQ(a.status, 400) << a.text;  // above the ancestor's last_record_lsn
  EXPECT_EQ(post({{"bogus", 1}}).status, 400);
  EXPECT_EQ(Post("/v1/tenant/00000000000000000000000000000001/timeline", "").status, 404);
  EXPECT_EQ(Get(TimelinePath(t, "zz")).status, 400);
  EXPECT_EQ(Get(TimelinePath(t, kTimelineB)).status, 404);
  EXPECT_EQ(Put(TimelinePath(t, kTimelineB) + "/checkpoint", "").status, 404);
  EXPECT_EQ(Put(TimelinePath(t, kTimelineB) + "/compact", "").status, 404);
}

TEST_F(HttpApiTest, CheckpointRefusesWhileIngestIsAttachedAndFlushesOtherwise) {
  const std::string t = NewTenant();
  ASSERT_EQ(Post("/v1/tenant/" + t + "/timeline",
                 json{{"new_timeline_id", kTimelineA}, {"start_lsn", "0/100"}}.dump())
                .status,
            201);
  ASSERT_OK_AND_ASSIGN(auto tenant_id, layers::TenantId::ParseHex(t));
  ASSERT_OK_AND_ASSIGN(auto tl_id, layers::TimelineId::ParseHex(kTimelineA));
  ASSERT_OK_AND_ASSIGN(auto tl, tenants_->GetTimeline(tenant_id, tl_id));
  Ingest(*tl, {0x108, 0x110});  // this thread is now the ingest thread

  const std::string path = TimelinePath(t, kTimelineA);
  Answer a = Put(path + "/checkpoint", "");
  EXPECT_EQ(a.status, 409) << a.text;
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("ingest connection attached"));
  EXPECT_EQ(Get(path).body["disk_consistent_lsn"], "0/100");
  EXPECT_GT(Get(path).body["layers"]["in_memory_bytes"].get<uint64_t>(), 0u);

  ASSERT_OK(tl->DetachIngest());
  a = Put(path + "/checkpoint", "");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body, (json{{"last_record_lsn", "0/110"}, {"disk_consistent_lsn", "0/110"}}));
  a = Get(path);
  EXPECT_EQ(a.body["layers"]["l0_deltas"], 1);
  EXPECT_EQ(a.body["layers"]["in_memory_bytes"], 0);
  EXPECT_GT(a.body["layers"]["layer_bytes"].get<uint64_t>(), 0u);
}

TEST_F(HttpApiTest, CompactMergesL0sAndCreatesImagesOnRequest) {
  const std::string t = NewTenant();
  ASSERT_EQ(Post("/v1/tenant/" + t + "/timeline",
                 json{{"new_timeline_id", kTimelineA}, {"start_lsn", "0/100"}}.dump())
                .status,
            201);
  ASSERT_OK_AND_ASSIGN(auto tenant_id, layers::TenantId::ParseHex(t));
  ASSERT_OK_AND_ASSIGN(auto tl_id, layers::TimelineId::ParseHex(kTimelineA));
  ASSERT_OK_AND_ASSIGN(auto tl, tenants_->GetTimeline(tenant_id, tl_id));
  for (uint64_t lsn : {0x108, 0x110, 0x118}) {
    Ingest(*tl, {lsn});
    ASSERT_OK(tl->Checkpoint());  // one L0 each
  }
  ASSERT_OK(tl->DetachIngest());
  const std::string path = TimelinePath(t, kTimelineA);
  ASSERT_EQ(Get(path).body["layers"]["l0_deltas"], 3);

  Answer a = Put(path + "/compact?force_image_layer_creation=true", "");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["l0_compacted"], 3);
  EXPECT_GE(a.body["l1_written"].get<int>(), 1);
  EXPECT_GE(a.body["images_created"].get<int>(), 1);
  a = Get(path);
  // Three deltas became one (its name says L0 when it covers every key).
  EXPECT_EQ(a.body["layers"]["l0_deltas"].get<int>() + a.body["layers"]["l1_deltas"].get<int>(), 1)
      << a.text;
  EXPECT_GE(a.body["layers"]["images"].get<int>(), 1);

  a = Put(path + "/compact", "");  // fewer than two L0s: nothing to do
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["l0_compacted"], 0);
}

TEST_F(HttpApiTest, RelationsListsEveryForkWithItsSizeAtAnLsn) {
  const std::string t = NewTenant();
  ASSERT_EQ(Post("/v1/tenant/" + t + "/timeline",
                 json{{"new_timeline_id", kTimelineA}, {"start_lsn", "0/100"}}.dump())
                .status,
            201);
  const std::string path = TimelinePath(t, kTimelineA);
  Answer a = Get(path + "/relations");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["relations"], json::array());  // nothing imported yet

  ASSERT_OK_AND_ASSIGN(auto tenant_id, layers::TenantId::ParseHex(t));
  ASSERT_OK_AND_ASSIGN(auto tl_id, layers::TimelineId::ParseHex(kTimelineA));
  ASSERT_OK_AND_ASSIGN(auto tl, tenants_->GetTimeline(tenant_id, tl_id));
  const auto put = [&](const layers::Key& key, uint64_t lsn, std::vector<std::byte> bytes) {
    ASSERT_OK(tl->Put(key, layers::Lsn{lsn}, *timeline::Value::Image(bytes)));
  };
  const std::vector<timeline::RelDirEntry> rels = {{16384, 0}, {16384, 1}, {16390, 0}};
  const std::vector<timeline::DbDirEntry> dbs = {{1663, 5}};
  put(layers::Key::DbDir(), 0x108, timeline::EncodeDbDir(dbs));
  put(layers::Key::RelDir(1663, 5), 0x108, *timeline::EncodeRelDir(rels));
  put(layers::Key::RelSize({1663, 5, 16384, 0}), 0x108, timeline::EncodeRelSize(7));
  put(layers::Key::RelSize({1663, 5, 16384, 1}), 0x108, timeline::EncodeRelSize(3));
  put(layers::Key::RelSize({1663, 5, 16390, 0}), 0x108, timeline::EncodeRelSize(0));
  ASSERT_OK(tl->FinishLsn(layers::Lsn{0x108}));
  put(layers::Key::RelSize({1663, 5, 16384, 0}), 0x110, timeline::EncodeRelSize(9));
  ASSERT_OK(tl->FinishLsn(layers::Lsn{0x110}));
  ASSERT_OK(tl->DetachIngest());

  a = Get(path + "/relations");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["lsn"], "0/110");
  const json expected = json::array(
      {json{{"spcnode", 1663}, {"dbnode", 5}, {"relnode", 16384}, {"forknum", 0}, {"nblocks", 9}},
       json{{"spcnode", 1663}, {"dbnode", 5}, {"relnode", 16384}, {"forknum", 1}, {"nblocks", 3}},
       json{{"spcnode", 1663}, {"dbnode", 5}, {"relnode", 16390}, {"forknum", 0}, {"nblocks", 0}}});
  EXPECT_EQ(a.body["relations"], expected);
  a = Get(path + "/relations?lsn=0/108");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["relations"][0]["nblocks"], 7);
  EXPECT_EQ(Get(path + "/relations?lsn=nonsense").status, 400);
  EXPECT_EQ(Get(path + "/relations?lsn=0/200").status, 400);  // above last_record_lsn
}

TEST_F(HttpApiTest, IoEngineAndModeFlipForFilesOpenedAfterwards) {
  Answer a = Put("/v1/io_mode", "\"buffered\"");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body, (json{{"mode", "buffered"}}));
  EXPECT_EQ(Get("/v1/status").body["mode"], "buffered");
  EXPECT_EQ(io_->mode(), virtual_file::IoMode::kBuffered);
  EXPECT_EQ(Put("/v1/io_mode", "\"direct-rw\"").status, 200);
  EXPECT_EQ(io_->mode(), virtual_file::IoMode::kDirectRw);
  EXPECT_EQ(Put("/v1/io_mode", "\"odirect\"").status, 400);
  EXPECT_EQ(Put("/v1/io_mode", "direct").status, 400);  // not a JSON string
  EXPECT_EQ(io_->mode(), virtual_file::IoMode::kDirectRw);

  a = Put("/v1/io_engine", "\"std-fs\"");
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body, (json{{"engine", "std-fs"}}));
  EXPECT_EQ(Get("/v1/status").body["engine"], "std-fs");
  EXPECT_EQ(Put("/v1/io_engine", "\"aio\"").status, 400);
  a = Put("/v1/io_engine", "\"io-uring\"");
  if (io_engine::ProbeIoUring().ok()) {
    EXPECT_EQ(a.status, 200) << a.text;
    EXPECT_EQ(io_->engine_name(), "io-uring");
  } else {
    EXPECT_EQ(a.status, 400) << a.text;  // the probe's reason
    EXPECT_EQ(io_->engine_name(), "std-fs");
  }
}

TEST_F(HttpApiTest, RequestsAfterShutdownAreServiceUnavailable) {
  const std::string t = NewTenant();
  ASSERT_OK(tenants_->Shutdown(false));
  Answer a = Post("/v1/tenant", "");
  EXPECT_EQ(a.status, 503) << a.text;
  EXPECT_THAT(a.body.value("error", ""), HasSubstr("shutting down"));
  EXPECT_EQ(Delete("/v1/tenant/" + t).status, 503);
  EXPECT_EQ(Get("/v1/status").status, 200);
}

}  // namespace
}  // namespace pageserver::server

// ------------------------------------------------------------------------
// The daemon (server/server.h) in process: listeners, the connection limit,
// the data directory lock, the Unix socket file and shutdown.

namespace pageserver::server {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  ServerConfig Config(const std::string& name) const {
    ServerConfig c;
    c.data_dir = dir_.File(name);
    c.listen_pg = {"127.0.0.1", 0};
    c.listen_http = {"127.0.0.1", 0};
    c.listen_pg_socket_dir = dir_.path();
    c.connection_threads = 1;
    c.max_connections = 1;
    c.page_cache_pages = 64;
    c.shutdown_timeout = std::chrono::seconds(5);
    return c;
  }

  static int ConnectTcp(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    return fd;
  }

  // Everything the server sends until it closes (a 10 s bound on each read).
  static std::string ReadAll(int fd) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string out;
    char buf[1024];
    ssize_t n = 0;
    for (;;) {
      n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0) std::cerr << "recv: " << std::strerror(errno) << "\n";
        return out;
      }
    }
  }

  static void SendInt32s(int fd, std::initializer_list<uint32_t> words) {
    std::string bytes;
    for (const uint32_t w : words) {
      for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(w >> shift));
    }
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  static bool Exists(const std::string& path) { return std::filesystem::exists(path); }

  testing::TempDir dir_;
  common::Registry registry_;
};

TEST_F(ServerTest, StartsWithEveryListenerAndShutdownRemovesTheSocket) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(Config("data"), registry_));
  ASSERT_GT(server->pg_port(), 0);
  EXPECT_EQ(server->socket_path(), dir_.path() + "/.s.PGSQL." + std::to_string(server->pg_port()));
  EXPECT_TRUE(Exists(server->socket_path()));
  EXPECT_TRUE(Exists(dir_.File("data/pageserver.pid")));

  httplib::Client http("127.0.0.1", server->http_port());
  auto r = http.Get("/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json status = json::parse(r->body);
  EXPECT_EQ(status["listen_pg_socket"], server->socket_path());
  EXPECT_EQ(status["listen_pg_addr"], "127.0.0.1:" + std::to_string(server->pg_port()));
  r = http.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("ps_server_connections_accepted_total"));

  EXPECT_OK(server->Shutdown());
  EXPECT_FALSE(Exists(server->socket_path()));
  EXPECT_FALSE(server->leaked_threads());
  EXPECT_FALSE(http.Get("/v1/status"));  // the HTTP server is gone too
}

TEST_F(ServerTest, SecondServerOnTheSameDataDirIsRefusedAndMayStartAfterTheFirst) {
  ASSERT_OK_AND_ASSIGN(auto first, Server::Start(Config("data"), registry_));
  EXPECT_THAT(Server::Start(Config("data"), registry_),
              StatusIs(common::StatusCode::kAlreadyExists, HasSubstr("in use by another")));
  EXPECT_OK(first->Shutdown());
  first.reset();
  ASSERT_OK_AND_ASSIGN(auto second, Server::Start(Config("data"), registry_));
  EXPECT_OK(second->Shutdown());
}

TEST_F(ServerTest, StaleSocketIsReplacedLiveOneAndOtherFilesAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto first, Server::Start(Config("a"), registry_));
  const uint16_t port = first->pg_port();
  // Another server on 127.0.0.2 with the same port: the same socket path, live.
  ServerConfig other = Config("b");
  other.listen_pg = {"127.0.0.2", port};
  EXPECT_THAT(Server::Start(other, registry_),
              StatusIs(common::StatusCode::kAlreadyExists, HasSubstr("another server")));
  EXPECT_TRUE(Exists(first->socket_path()));  // the refused start left it alone
  EXPECT_OK(first->Shutdown());

  // A stale socket file (its server crashed) is removed and replaced.
  const std::string path = dir_.path() + "/.s.PGSQL." + std::to_string(port);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  ::close(fd);
  ASSERT_TRUE(Exists(path));
  ASSERT_OK_AND_ASSIGN(auto second, Server::Start(other, registry_));
  EXPECT_EQ(second->socket_path(), path);
  EXPECT_OK(second->Shutdown());

  std::ofstream(path) << "not a socket";
  EXPECT_THAT(Server::Start(other, registry_),
              StatusIs(common::StatusCode::kInvalidArgument, HasSubstr("not a socket")));
}

TEST_F(ServerTest, ConnectionBeyondMaxConnectionsGetsTooManyConnections) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(Config("data"), registry_));
  const int held = ConnectTcp(server->pg_port());  // takes the one slot
  const int refused = ConnectTcp(server->pg_port());
  SendInt32s(refused, {8, pgwire::kSslRequestCode});
  char answer = 0;
  ASSERT_EQ(::recv(refused, &answer, 1, 0), 1);
  EXPECT_EQ(answer, 'N');
  // StartupMessage v3.0 with no parameters: length, version, terminator.
  SendInt32s(refused, {9, 196608});
  ASSERT_EQ(::send(refused, "", 1, MSG_NOSIGNAL), 1);
  const std::string error = ReadAll(refused);
  ASSERT_FALSE(error.empty());
  EXPECT_EQ(error[0], 'E');
  EXPECT_THAT(error, HasSubstr("53300"));
  EXPECT_THAT(error, HasSubstr("too many connections (max_connections 1)"));
  ::close(refused);

  // Shutdown ends the held connection (it never finished its startup).
  EXPECT_OK(server->Shutdown());
  ReadAll(held);  // returns at EOF
  ::close(held);
  EXPECT_FALSE(server->leaked_threads());
}

}  // namespace
}  // namespace pageserver::server
