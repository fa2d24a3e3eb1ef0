#pragma once

// ServerConfig: the pageserver's configuration, read from a TOML file
// (server/pageserver.toml documents every key with its default) and
// `-c key=value` overrides, then checked as a whole.
//
//   ASSIGN_OR_RETURN(ServerConfig config,
//                    LoadServerConfig("/etc/pageserver.toml", {"page_cache_size=\"1 GiB\""}));
//
// Syntax of values:
//   size       an integer byte count (536870912) or a string with a binary
//              unit ("512 MiB", "512MiB"; units B, KiB, MiB, GiB, TiB).
//   duration   a string: an integer followed by ms, s, m or h ("60s",
//              "500ms", "10m"); "0s" is allowed where the key says so.
//   address    "host:port": host is an IPv4 address, "[IPv6]" or
//              "localhost"; port 0 binds an ephemeral port (tests).
// An override's value is parsed as a TOML value when it parses (so
// `-c max_batch_size=8` is an integer and `-c 'page_cache_size="1 GiB"'` a
// string) and is otherwise taken as a bare string (`-c
// virtual_file_io_mode=direct`); for a key that takes only strings the raw
// text is used whenever it is not a TOML string (`-c data_dir=2024`).
//
// Errors are InvalidArgument with a message naming where and what:
//   "pageserver.toml:7:1: page_cache_size: unknown unit 'MB' in '12MB' (use B, KiB, MiB, GiB, TiB)"
//   "-c max_batch_size: 0 is outside [1, 32]"
//   "pageserver.toml:3:1: unknown key 'listen_addr'"
//   "pageserver.toml:4:14: TOML syntax error: ..."
//   "bad override 'foo' (expected key=value)"
// Keys are flat (no tables): a table is an unknown key or a wrong type.
//
// Thread-safety: pure functions over values.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "page_cache/page_cache.h"
#include "server/io_settings.h"
#include "server/tenant_manager.h"
#include "timeline/timeline.h"

namespace pageserver::server {

// A listen address, validated: host is numeric ("127.0.0.1", "::1"), the
// brackets of an IPv6 address removed; "localhost" becomes "127.0.0.1".
struct ListenAddress {
  std::string host;
  uint16_t port = 0;

  // "127.0.0.1:64000", "[::1]:64000".
  std::string ToString() const;
};

// InvalidArgument naming the text when it is not "host:port" as above.
common::Result<ListenAddress> ParseListenAddress(std::string_view text);

enum class LogLevel : unsigned char { kTrace, kDebug, kInfo, kWarn, kError, kOff };
// "trace" | "debug" | "info" | "warn" | "error" | "off".
common::Result<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

// Parsers of the value syntax above (exposed for tests and the HTTP API).
// ParseByteSize("512 MiB") == 536870912; ParseByteSize("12MB") is an error.
common::Result<uint64_t> ParseByteSize(std::string_view text);
// ParseDuration("60s") == 60000ms; ParseDuration("1.5s") is an error.
common::Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

struct ServerConfig {
  // --- Where ---
  std::string data_dir = "pageserver_data";
  // The page service's TCP address (Neon's default port 64000).
  ListenAddress listen_pg = {"127.0.0.1", 64000};
  // Directory of the page service's Unix socket "<dir>/.s.PGSQL.<port>";
  // empty: no Unix socket.
  std::string listen_pg_socket_dir;
  ListenAddress listen_http = {"127.0.0.1", 9898};

  // --- IO (engine, mode, alignment, direct_fallback) ---
  // direct_io_fallback defaults to true here (IoSettingsOptions: false) so
  // the default config serves on filesystems without O_DIRECT.
  IoSettingsOptions io = {.direct_fallback = true};
  // PageCache slots (config page_cache_size / 8192; default 64 MiB).
  uint64_t page_cache_pages = 8192;
  // config overload_threshold.
  double overload_threshold_per_second = 200.0;

  // --- Page service (PageServiceOptions) ---
  // GetPage requests served by one read-path call, 1..32 (Neon: 32).
  size_t max_batch_size = 32;
  // GetPage batches of one connection in execution at once, 1..16.
  size_t pipeline_depth = 1;
  // How long a request waits for its LSN to be ingested (Neon: 60 s).
  std::chrono::milliseconds wait_lsn_timeout = std::chrono::seconds(60);
  // Handler threads serving connections (each with its own io_uring ring).
  size_t connection_threads = 8;
  // Connections served or queued at once; beyond, a connection gets an
  // ErrorResponse "too many connections" and is closed.
  size_t max_connections = 100;

  // --- Timelines (checkpoint, compaction, GC, reads) ---
  timeline::TimelineConfig timeline;

  // --- Process ---
  LogLevel log_level = LogLevel::kInfo;
  // Bound on each shutdown step that waits for connections to end.
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(10);

  // The path of the Unix socket for `port` (the bound TCP port), or "" when
  // listen_pg_socket_dir is empty.
  std::string SocketPath(uint16_t port) const;

  // Options of the objects the daemon builds.
  page_cache::PageCacheOptions MakePageCacheOptions(common::Registry* registry) const;
  TenantManagerOptions MakeTenantManagerOptions() const;

  // Checks the whole configuration (the per-key checks plus the cross-key
  // ones: max_connections >= connection_threads, TimelineConfig::Check()).
  // InvalidArgument naming the key.
  common::Status Validate() const;

  // The effective configuration as a TOML document of every key, which
  // LoadServerConfig reads back to an equal config.
  std::string ToToml() const;
};

// Parses `text` (a TOML document; `source` names it in errors, e.g. the
// file path), applies `overrides` ("key=value" each) and validates.
common::Result<ServerConfig> ParseServerConfig(std::string_view text, std::string_view source,
                                               const std::vector<std::string>& overrides);

// Reads `path` (none: the built-in defaults) and parses it as above.
// An unreadable file is an error naming the path.
common::Result<ServerConfig> LoadServerConfig(const std::optional<std::string>& path,
                                              const std::vector<std::string>& overrides);

// The documented default configuration (server/pageserver.toml; a test
// checks the two are the same text). `pageserver --print-default-config`.
std::string_view DefaultConfigToml();

}  // namespace pageserver::server
