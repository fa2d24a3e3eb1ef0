#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::server {
namespace {

using common::StatusCode;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::StatusIs;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// server/pageserver.toml in the source tree. (Not found through __FILE__:
// under ccache's base_dir the compiler sees relative source paths.)
std::string DocumentedConfigPath() {
  return std::string(PS_SOURCE_DIR) + "/server/pageserver.toml";
}

common::Result<ServerConfig> Parse(const std::string& text,
                                   const std::vector<std::string>& overrides = {}) {
  return ParseServerConfig(text, "cfg.toml", overrides);
}

TEST(ServerConfigTest, DocumentedDefaultFileParsesToTheBuiltInDefaults) {
  const std::string text = ReadFile(DocumentedConfigPath());
  ASSERT_FALSE(text.empty()) << DocumentedConfigPath();
  ASSERT_OK_AND_ASSIGN(const ServerConfig config, Parse(text));
  EXPECT_EQ(config.ToToml(), ServerConfig{}.ToToml());
  EXPECT_OK(config.Validate());
}

TEST(ServerConfigTest, PrintedDefaultConfigIsTheDocumentedFile) {
  EXPECT_EQ(DefaultConfigToml(), ReadFile(DocumentedConfigPath()));
}

TEST(ServerConfigTest, DefaultsAreNeonsAddressesAndKnobs) {
  ASSERT_OK_AND_ASSIGN(const ServerConfig config, LoadServerConfig(std::nullopt, {}));
  EXPECT_EQ(config.listen_pg.ToString(), "127.0.0.1:64000");
  EXPECT_EQ(config.listen_http.ToString(), "127.0.0.1:9898");
  EXPECT_EQ(config.max_batch_size, 32u);
  EXPECT_EQ(config.pipeline_depth, 1u);
  EXPECT_EQ(config.wait_lsn_timeout, std::chrono::seconds(60));
  EXPECT_EQ(config.page_cache_pages, 8192u);
  EXPECT_EQ(config.overload_threshold_per_second, 200.0);
  EXPECT_EQ(config.SocketPath(64000), "");
}

TEST(ServerConfigTest, EffectiveConfigRoundTripsThroughToml) {
  ASSERT_OK_AND_ASSIGN(
      const ServerConfig config,
      Parse("data_dir = \"/srv/ps\"\nlisten_pg_addr = \"[::1]:0\"\n"
            "listen_pg_socket_dir = \"/tmp\"\nvirtual_file_io_engine = \"std-fs\"\n"
            "virtual_file_io_mode = \"direct-rw\"\nio_alignment = 4096\n"
            "page_cache_size = \"1 GiB\"\nwait_lsn_timeout = \"1500ms\"\n"
            "checkpoint_timeout = \"2h\"\nimage_compression = \"zstd\"\nlog_level = \"debug\"\n"
            "overload_threshold = 12.5\ngc_horizon = 0\nmax_batch_size = 4\n"
            "io_latency_padding = \"80us/250us\"\npipeline_depth = 3\n"));
  ASSERT_OK_AND_ASSIGN(const ServerConfig again, Parse(config.ToToml()));
  EXPECT_EQ(again.io.latency_padding, "80us/250us");
  EXPECT_EQ(again.pipeline_depth, 3u);
  EXPECT_EQ(again.ToToml(), config.ToToml());
  EXPECT_EQ(again.listen_pg.host, "::1");
  EXPECT_EQ(again.page_cache_pages, uint64_t{1} << 17);
  EXPECT_EQ(again.wait_lsn_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(again.io.mode, virtual_file::IoMode::kDirectRw);
  EXPECT_EQ(again.SocketPath(5432), "/tmp/.s.PGSQL.5432");
}

TEST(ServerConfigTest, OverridesTakeTomlValuesOrBareStringsAndWinOverTheFile) {
  ASSERT_OK_AND_ASSIGN(
      ServerConfig config,
      Parse("max_batch_size = 16\npage_cache_size = \"64 MiB\"\n",
            {"page_cache_size=536870912", "virtual_file_io_mode=buffered", "max_batch_size=8",
             "data_dir=2024", "listen_pg_addr=127.0.0.1:0", "wait_lsn_timeout=5s"}));
  EXPECT_EQ(config.page_cache_pages, 65536u);
  EXPECT_EQ(config.io.mode, virtual_file::IoMode::kBuffered);
  EXPECT_EQ(config.max_batch_size, 8u);
  EXPECT_EQ(config.data_dir, "2024");
  EXPECT_EQ(config.listen_pg.port, 0);
  EXPECT_EQ(config.wait_lsn_timeout, std::chrono::seconds(5));

  ASSERT_OK_AND_ASSIGN(config, Parse("", {"page_cache_size=\"512 MiB\"", "log_level = \"warn\"",
                                          "data_dir = /srv/x "}));
  EXPECT_EQ(config.data_dir, "/srv/x");
  EXPECT_EQ(config.page_cache_pages, 65536u);
  EXPECT_EQ(config.log_level, LogLevel::kWarn);
}

struct BadConfig {
  std::string toml;
  std::vector<std::string> overrides;
  std::string expected;  // a substring of the error message
};

// Every kind of mistake is InvalidArgument naming the key and its place.
TEST(ServerConfigTest, EveryKindOfMistakeIsAnErrorNamingTheKey) {
  const std::vector<BadConfig> cases = {
      // unknown keys (file, table, override)
      {"data_dir = \"x\"\nlisten_addr = \"1.2.3.4:5\"\n",
       {},
       "cfg.toml:2:1: unknown key 'listen_addr'"},
      {"[pageserver]\ndata_dir = \"x\"\n", {}, "cfg.toml:1:2: unknown key 'pageserver'"},
      {"", {"listen_addr=1.2.3.4:5"}, "-c listen_addr: unknown key"},
      // wrong types
      {"page_cache_size = true\n", {}, "cfg.toml:1:1: page_cache_size: expected a size"},
      {"max_batch_size = \"32\"\n", {}, "max_batch_size: expected an integer, got a string"},
      {"direct_io_fallback = 1\n", {}, "direct_io_fallback: expected a boolean"},
      {"wait_lsn_timeout = 60\n", {}, "wait_lsn_timeout: expected a duration string"},
      {"data_dir = [\"a\"]\n", {}, "data_dir: expected a string, got an array"},
      {"overload_threshold = \"high\"\n", {}, "overload_threshold: expected a number"},
      // impossible values
      {"checkpoint_distance = -1\n", {}, "checkpoint_distance: negative size -1"},
      {"io_alignment = 1000\n", {}, "io_alignment: 1000 is not a power of two"},
      {"io_alignment = 256\n", {}, "io_alignment: 256 is outside [512, 65536]"},
      {"io_latency_padding = \"fast\"\n", {}, "io_latency_padding: "},
      {"io_latency_padding = \"250us/80us\"\n", {}, "io_latency_padding: "},
      {"max_batch_size = 0\n", {}, "max_batch_size: 0 is outside [1, 32]"},
      {"max_batch_size = 33\n", {}, "max_batch_size: 33 is outside [1, 32]"},
      {"pipeline_depth = 0\n", {}, "pipeline_depth: 0 is outside [1, 16]"},
      {"pipeline_depth = 17\n", {}, "pipeline_depth: 17 is outside [1, 16]"},
      {"pipeline_depth = 2.5\n", {}, "pipeline_depth: expected an integer"},
      {"compaction_threshold = 1\n", {}, "compaction_threshold: 1 is outside [2, 10000]"},
      {"connection_threads = 0\n", {}, "connection_threads: 0 is outside"},
      {"connection_threads = 8\nmax_connections = 4\n",
       {},
       "max_connections: 4 is below connection_threads 8"},
      {"overload_threshold = 0\n", {}, "overload_threshold: must be a positive number"},
      {"data_dir = \"\"\n", {}, "data_dir: must not be empty"},
      {"shutdown_timeout = \"0s\"\n", {}, "shutdown_timeout: '0s' is below the minimum 1ms"},
      {"max_vectored_read_bytes = 100\n", {}, "max_vectored_read_bytes: 100 bytes is outside"},
      {"page_cache_size = \"64 KiB\"\n", {}, "page_cache_size: 65536 bytes is outside"},
      {"page_cache_size = 1000000\n", {}, "page_cache_size: 1000000 bytes is not a multiple"},
      {"listen_pg_socket_dir = \"/" + std::string(120, 'x') + "\"\n", {}, "listen_pg_socket_dir: "},
      // bad addresses
      {"listen_pg_addr = \"127.0.0.1\"\n", {}, "listen_pg_addr: bad address '127.0.0.1': no port"},
      {"listen_pg_addr = \"127.0.0.1:70000\"\n", {}, "listen_pg_addr: bad address"},
      {"listen_http_addr = \"example.com:80\"\n", {}, "listen_http_addr: bad address"},
      {"listen_http_addr = \"::1:80\"\n", {}, "listen_http_addr: bad address"},
      // unknown enumerations
      {"virtual_file_io_engine = \"aio\"\n", {}, "virtual_file_io_engine: "},
      {"virtual_file_io_mode = \"odirect\"\n", {}, "virtual_file_io_mode: "},
      {"log_level = \"verbose\"\n", {}, "log_level: unknown log level 'verbose'"},
      {"image_compression = \"lz4\"\n", {}, "image_compression: "},
      // bad units
      {"page_cache_size = \"12MB\"\n", {}, "page_cache_size: unknown unit 'MB' in '12MB'"},
      {"gc_horizon = \"lots\"\n", {}, "gc_horizon: bad size 'lots'"},
      {"wait_lsn_timeout = \"60\"\n", {}, "wait_lsn_timeout: unknown unit '' in duration '60'"},
      {"checkpoint_timeout = \"1.5s\"\n", {}, "checkpoint_timeout: unknown unit '.5s'"},
      {"compaction_period = \"5 days\"\n", {}, "compaction_period: unknown unit 'days'"},
      // overrides: syntax and values
      {"", {"max_batch_size"}, "bad override 'max_batch_size' (expected key=value)"},
      {"", {"=5"}, "bad override '=5'"},
      {"", {"max batch=5"}, "bad override"},
      {"", {"max_batch_size=0"}, "-c max_batch_size: 0 is outside [1, 32]"},
      {"", {"page_cache_size=\"512 MiB"}, "-c page_cache_size: "},
      {"", {"direct_io_fallback=yes"}, "-c direct_io_fallback: expected a boolean, got a string"},
      // TOML syntax
      {"data_dir = \"x\"\n\nmax_batch_size = \n", {}, "cfg.toml:3:"},
      {"data_dir = \"x\"\ndata_dir = \"y\"\n", {}, "TOML syntax error"},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.toml + (c.overrides.empty() ? "" : " -c " + c.overrides[0]));
    const common::Result<ServerConfig> config = Parse(c.toml, c.overrides);
    EXPECT_THAT(config, StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.expected)));
  }
}

TEST(ServerConfigTest, TheFirstMistakeInFileOrderIsReported) {
  EXPECT_THAT(
      Parse("zzz = 1\nmax_batch_size = 0\n"),
      StatusIs(StatusCode::kInvalidArgument, StartsWith("cfg.toml:1:1: unknown key 'zzz'")));
}

TEST(ServerConfigTest, SyntaxErrorNamesFileAndLine) {
  EXPECT_THAT(
      Parse("data_dir = \"x\"\nmax_batch_size = = 3\n"),
      StatusIs(StatusCode::kInvalidArgument,
               ::testing::AllOf(StartsWith("cfg.toml:2:"), HasSubstr("TOML syntax error"))));
}

TEST(ServerConfigTest, UnreadableFileIsAnErrorNamingThePath) {
  testing::TempDir dir;
  EXPECT_THAT(LoadServerConfig(dir.File("missing.toml"), {}),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("missing.toml"), HasSubstr("cannot read"))));
  EXPECT_THAT(LoadServerConfig(dir.path(), {}),  // a directory
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("cannot read")));
}

TEST(ServerConfigTest, FileErrorsNameTheFilePath) {
  testing::TempDir dir;
  const std::string path = dir.File("ps.toml");
  std::ofstream(path) << "data_dir = \"d\"\nmax_batch_size = 64\n";
  EXPECT_THAT(LoadServerConfig(path, {}),
              StatusIs(StatusCode::kInvalidArgument, StartsWith(path + ":2:1: max_batch_size:")));
  ASSERT_OK_AND_ASSIGN(const ServerConfig config, LoadServerConfig(path, {"max_batch_size=2"}));
  EXPECT_EQ(config.data_dir, "d");
  EXPECT_EQ(config.max_batch_size, 2u);
}

TEST(ServerConfigTest, ValueParsersAcceptTheDocumentedSyntax) {
  EXPECT_EQ(*ParseByteSize("512 MiB"), uint64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("512MiB"), uint64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("3 B"), 3u);
  EXPECT_THAT(ParseByteSize("99999999999 TiB"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseByteSize("-1"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(*ParseDuration("60s"), std::chrono::seconds(60));
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("10m"), std::chrono::minutes(10));
  EXPECT_EQ(*ParseDuration("1 h"), std::chrono::hours(1));
  EXPECT_THAT(ParseDuration("10000000h"), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(const ListenAddress a, ParseListenAddress("localhost:9898"));
  EXPECT_EQ(a.ToString(), "127.0.0.1:9898");
  ASSERT_OK_AND_ASSIGN(const ListenAddress b, ParseListenAddress("[::]:1"));
  EXPECT_EQ(b.host, "::");
  EXPECT_EQ(b.ToString(), "[::]:1");
  EXPECT_THAT(ParseListenAddress("1.2.3.4:"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseLogLevel("INFO"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pageserver::server
