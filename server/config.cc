#include "server/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "io_engine/latency_padding.h"
#include "layers/blob.h"
#include "page_cache/cache_size.h"

// toml++ is linked as Debian's shared library, built with exceptions (its
// symbols live in toml::ex), so TOML_EXCEPTIONS stays 1 here: toml::parse
// throws toml::parse_error, which ParseToml catches. Nothing else throws.

namespace pageserver::server {

using common::Result;
using common::Status;

namespace {

// --------------------------------------------------------------- value syntax

// Splits "<digits><space?><unit>" into its number and unit. False when the
// text does not start with a decimal number or the number overflows.
bool SplitNumberUnit(std::string_view text, uint64_t& number, std::string_view& unit) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return false;
  unit = text.substr(static_cast<size_t>(end - text.data()));
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return true;
}

uint64_t SizeUnitBytes(std::string_view unit) {
  if (unit.empty() || unit == "B") return 1;
  if (unit == "KiB") return uint64_t{1} << 10;
  if (unit == "MiB") return uint64_t{1} << 20;
  if (unit == "GiB") return uint64_t{1} << 30;
  if (unit == "TiB") return uint64_t{1} << 40;
  return 0;
}

int64_t DurationUnitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  return 0;
}

// The longest duration accepted: 100 days, far beyond any sensible timeout,
// and far from overflowing a steady_clock time point.
constexpr int64_t kMaxDurationMillis = int64_t{100} * 24 * 3600 * 1000;

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string Range(uint64_t lo, uint64_t hi) {
  return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

// --------------------------------------------------------------- toml values

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    default:
      return "nothing";
  }
}

Status WrongType(const toml::node& node, std::string_view expected) {
  return Status::InvalidArgument("expected " + std::string(expected) + ", got " +
                                 std::string(TypeName(node)));
}

Result<std::string> GetString(const toml::node& node) {
  if (!node.is_string()) return WrongType(node, "a string");
  return std::string(node.as_string()->get());
}

Result<bool> GetBool(const toml::node& node) {
  if (!node.is_boolean()) return WrongType(node, "a boolean");
  return node.as_boolean()->get();
}

// An integer in [lo, hi].
Result<uint64_t> GetInteger(const toml::node& node, uint64_t lo, uint64_t hi) {
  if (!node.is_integer()) return WrongType(node, "an integer");
  const int64_t v = node.as_integer()->get();
  if (v < 0 || static_cast<uint64_t>(v) < lo || static_cast<uint64_t>(v) > hi) {
    return Status::InvalidArgument(std::to_string(v) + " is outside " + Range(lo, hi));
  }
  return static_cast<uint64_t>(v);
}

// A size (integer bytes or a string with a unit) in [lo, hi].
Result<uint64_t> GetSize(const toml::node& node, uint64_t lo, uint64_t hi) {
  uint64_t bytes = 0;
  if (node.is_integer()) {
    const int64_t v = node.as_integer()->get();
    if (v < 0) return Status::InvalidArgument("negative size " + std::to_string(v));
    bytes = static_cast<uint64_t>(v);
  } else if (node.is_string()) {
    ASSIGN_OR_RETURN(bytes, ParseByteSize(node.as_string()->get()));
  } else {
    return WrongType(node, "a size (integer bytes or a string such as \"512 MiB\")");
  }
  if (bytes < lo || bytes > hi) {
    return Status::InvalidArgument(std::to_string(bytes) + " bytes is outside " + Range(lo, hi));
  }
  return bytes;
}

// A duration string, at least `min`.
Result<std::chrono::milliseconds> GetDuration(const toml::node& node,
                                              std::chrono::milliseconds min) {
  if (!node.is_string()) return WrongType(node, "a duration string such as \"60s\"");
  ASSIGN_OR_RETURN(const std::chrono::milliseconds d, ParseDuration(node.as_string()->get()));
  if (d < min) {
    return Status::InvalidArgument(Quoted(node.as_string()->get()) + " is below the minimum " +
                                   std::to_string(min.count()) + "ms");
  }
  return d;
}

Result<double> GetPositiveNumber(const toml::node& node) {
  double v = 0;
  if (node.is_floating_point()) {
    v = node.as_floating_point()->get();
  } else if (node.is_integer()) {
    v = static_cast<double>(node.as_integer()->get());
  } else {
    return WrongType(node, "a number");
  }
  if (!std::isfinite(v) || v <= 0) {
    return Status::InvalidArgument("must be a positive number, got " + std::to_string(v));
  }
  return v;
}

// ------------------------------------------------------------------ the keys

using Apply = Status (*)(const toml::node&, ServerConfig&);

struct KeySpec {
  std::string_view name;
  bool string_only;  // an override's raw text is used as the string
  Apply apply;
};

template <typename T>
Status Assign(T& field, Result<T> value) {
  if (!value.has_value()) return std::move(value).error();
  field = std::move(*value);
  return Status::Ok();
}

Status ApplyAddress(const toml::node& node, ListenAddress& out) {
  ASSIGN_OR_RETURN(const std::string text, GetString(node));
  return Assign(out, ParseListenAddress(text));
}

Status ApplyDataDir(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(c.data_dir, GetString(node));
  if (c.data_dir.empty()) return Status::InvalidArgument("must not be empty");
  return Status::Ok();
}

Status ApplyEngine(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(const std::string text, GetString(node));
  return Assign(c.io.engine, io_engine::ParseIoEngineKind(text));
}

Status ApplyMode(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(const std::string text, GetString(node));
  return Assign(c.io.mode, virtual_file::ParseIoMode(text));
}

Status ApplyAlignment(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(const uint64_t v, GetInteger(node, 512, 65536));
  if (!std::has_single_bit(v)) {
    return Status::InvalidArgument(std::to_string(v) + " is not a power of two");
  }
  c.io.io_alignment = v;
  return Status::Ok();
}

Status ApplyLatencyPadding(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(std::string text, GetString(node));
  if (!text.empty()) RETURN_IF_ERROR(io_engine::ParseLatencyProfile(text).status());
  c.io.latency_padding = std::move(text);
  return Status::Ok();
}

Status ApplyPageCacheSize(const toml::node& node, ServerConfig& c) {
  const uint64_t lo = page_cache::kMinPages * page_cache::kPageSize;
  const uint64_t hi = page_cache::kMaxPages * page_cache::kPageSize;
  ASSIGN_OR_RETURN(const uint64_t bytes, GetSize(node, lo, hi));
  if (bytes % page_cache::kPageSize != 0) {
    return Status::InvalidArgument(std::to_string(bytes) + " bytes is not a multiple of the " +
                                   std::to_string(page_cache::kPageSize) + "-byte page");
  }
  c.page_cache_pages = bytes / page_cache::kPageSize;
  return Status::Ok();
}

Status ApplyImageCompression(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(const std::string text, GetString(node));
  return Assign(c.timeline.writer.image_compression, layers::ParseCompression(text));
}

Status ApplyLogLevel(const toml::node& node, ServerConfig& c) {
  ASSIGN_OR_RETURN(const std::string text, GetString(node));
  return Assign(c.log_level, ParseLogLevel(text));
}

constexpr uint64_t kTiB = uint64_t{1} << 40;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr std::chrono::milliseconds kPositive{1};
constexpr std::chrono::milliseconds kNonNegative{0};

// Sorted by name (the order ToToml writes and tests list them in).
constexpr KeySpec kKeys[] = {
    {"checkpoint_distance", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.checkpoint_distance, GetSize(n, 1, kTiB));
     }},
    {"checkpoint_timeout", true,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.checkpoint_timeout, GetDuration(n, kPositive));
     }},
    {"compaction_period", true,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.compaction_period, GetDuration(n, kPositive));
     }},
    {"compaction_target_size", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.compaction_target_size, GetSize(n, 1, kTiB));
     }},
    {"compaction_threshold", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.compaction_threshold, GetInteger(n, 2, 10000));
     }},
    {"connection_threads", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.connection_threads, GetInteger(n, 1, 1024));
     }},
    {"data_dir", true, ApplyDataDir},
    {"direct_io_fallback", false,
     [](const toml::node& n, ServerConfig& c) { return Assign(c.io.direct_fallback, GetBool(n)); }},
    {"gc_horizon", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.gc_horizon, GetSize(n, 0, UINT64_MAX));
     }},
    {"image_compression", true, ApplyImageCompression},
    {"image_creation_threshold", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.image_creation_threshold, GetInteger(n, 1, 10000));
     }},
    {"io_alignment", false, ApplyAlignment},
    {"io_latency_padding", true, ApplyLatencyPadding},
    {"listen_http_addr", true,
     [](const toml::node& n, ServerConfig& c) { return ApplyAddress(n, c.listen_http); }},
    {"listen_pg_addr", true,
     [](const toml::node& n, ServerConfig& c) { return ApplyAddress(n, c.listen_pg); }},
    {"listen_pg_socket_dir", true,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.listen_pg_socket_dir, GetString(n));
     }},
    {"log_level", true, ApplyLogLevel},
    {"max_batch_size", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.max_batch_size, GetInteger(n, 1, 32));
     }},
    {"max_connections", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.max_connections, GetInteger(n, 1, 65536));
     }},
    {"max_vectored_read_bytes", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.timeline.max_vectored_read_bytes, GetSize(n, 4096, kGiB));
     }},
    {"overload_threshold", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.overload_threshold_per_second, GetPositiveNumber(n));
     }},
    {"page_cache_size", false, ApplyPageCacheSize},
    {"pipeline_depth", false,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.pipeline_depth, GetInteger(n, 1, 16));
     }},
    {"shutdown_timeout", true,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.shutdown_timeout, GetDuration(n, kPositive));
     }},
    {"virtual_file_io_engine", true, ApplyEngine},
    {"virtual_file_io_mode", true, ApplyMode},
    {"wait_lsn_timeout", true,
     [](const toml::node& n, ServerConfig& c) {
       return Assign(c.wait_lsn_timeout, GetDuration(n, kNonNegative));
     }},
};

const KeySpec* FindKey(std::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// ------------------------------------------------------------------ parsing

std::string Where(const toml::source_region& src, std::string_view source) {
  return std::string(source) + ":" + std::to_string(src.begin.line) + ":" +
         std::to_string(src.begin.column);
}

Result<toml::table> ParseToml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(Where(e.source(), source) +
                                   ": TOML syntax error: " + std::string(e.description()));
  }
}

// One key's value and where it came from.
struct Setting {
  std::string key;
  std::string where;   // "file:line:col", or "-c" for an override
  uint64_t order = 0;  // file position (line << 32 | column); overrides after
  toml::table holder;  // holds the value under `key`
  // "file:3:1: key" or "-c key": the prefix of this setting's errors.
  std::string Prefix() const { return where == "-c" ? "-c " + key : where + ": " + key; }
};

bool IsKeyName(std::string_view key) {
  if (key.empty()) return false;
  for (const char ch : key) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) return false;
  }
  return true;
}

// The value of `-c key=value`: a TOML value when `value` parses as one, a
// bare string otherwise (and for string-only keys, whenever it is not a
// TOML string).
toml::table OverrideValue(const KeySpec& spec, const std::string& key, const std::string& value) {
  toml::table holder;
  Result<toml::table> parsed = ParseToml("v = " + value, "-c");
  const toml::node* node = parsed.has_value() && parsed->size() == 1 ? parsed->get("v") : nullptr;
  if (node != nullptr && (!spec.string_only || node->is_string())) {
    holder.insert_or_assign(key, *node);
  } else {
    holder.insert_or_assign(key, value);
  }
  return holder;
}

Result<Setting> ParseOverride(std::string_view text) {
  const size_t eq = text.find('=');
  std::string key(text.substr(0, eq == std::string_view::npos ? 0 : eq));
  while (!key.empty() && key.back() == ' ') key.pop_back();
  while (!key.empty() && key.front() == ' ') key.erase(0, 1);
  if (eq == std::string_view::npos || !IsKeyName(key)) {
    return Status::InvalidArgument("bad override " + Quoted(text) + " (expected key=value)");
  }
  const KeySpec* spec = FindKey(key);
  if (spec == nullptr) return Status::InvalidArgument("-c " + key + ": unknown key");
  std::string value(text.substr(eq + 1));
  while (!value.empty() && value.back() == ' ') value.pop_back();
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  return Setting{key, "-c", UINT64_MAX, OverrideValue(*spec, key, value)};
}

Status ApplySetting(const Setting& s, ServerConfig& config) {
  const KeySpec* spec = FindKey(s.key);
  if (spec == nullptr) return Status::InvalidArgument(s.where + ": unknown key " + Quoted(s.key));
  const Status st = spec->apply(*s.holder.get(s.key), config);
  if (st.ok()) return st;
  return Status::InvalidArgument(s.Prefix() + ": " + std::string(st.message()));
}

// The settings of the file (in file order) and then the overrides; a later
// setting of a key wins.
Result<std::vector<Setting>> CollectSettings(std::string_view text, std::string_view source,
                                             const std::vector<std::string>& overrides) {
  ASSIGN_OR_RETURN(toml::table table, ParseToml(text, source));
  std::vector<Setting> settings;
  for (auto&& [key, node] : table) {
    const toml::source_position& pos = key.source().begin;
    Setting s{std::string(key.str()),
              Where(key.source(), source),
              uint64_t{pos.line} << 32 | pos.column,
              {}};
    s.holder.insert_or_assign(key.str(), node);
    settings.push_back(std::move(s));
  }
  // The table iterates by key; the first error reported is the first in the file.
  std::stable_sort(settings.begin(), settings.end(),
                   [](const Setting& a, const Setting& b) { return a.order < b.order; });
  for (const std::string& o : overrides) {
    ASSIGN_OR_RETURN(Setting s, ParseOverride(o));
    auto same = std::find_if(settings.begin(), settings.end(),
                             [&](const Setting& f) { return f.key == s.key; });
    if (same != settings.end()) {
      *same = std::move(s);  // the file's value is never applied
    } else {
      settings.push_back(std::move(s));
    }
  }
  return settings;
}

// --------------------------------------------------------------- rendering

std::string DurationText(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % (3600 * 1000) == 0) return std::to_string(ms / (3600 * 1000)) + "h";
  if (ms != 0 && ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

int64_t Int(uint64_t v) { return static_cast<int64_t>(v); }

Result<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open");
  std::string text;
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read");
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace

// ----------------------------------------------------------- value parsers

std::string ListenAddress::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad address " + Quoted(text) + ": " + std::string(why) +
                                   " (expected host:port, e.g. 127.0.0.1:64000)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  uint32_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return bad("port is not a number in [0, 65535]");
  }
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned char buf[sizeof(struct in6_addr)];
  const bool v4 = !bracketed && inet_pton(AF_INET, host.c_str(), buf) == 1;
  const bool v6 = bracketed && inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v4 && !v6) return bad("host is not an IPv4 address, [IPv6] or localhost");
  return ListenAddress{host, static_cast<uint16_t>(port)};
}

Result<LogLevel> ParseLogLevel(std::string_view text) {
  for (const LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                           LogLevel::kError, LogLevel::kOff}) {
    if (LogLevelName(l) == text) return l;
  }
  return Status::InvalidArgument("unknown log level " + Quoted(text) +
                                 " (trace, debug, info, warn, error, off)");
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumberUnit(text, number, unit)) {
    return Status::InvalidArgument("bad size " + Quoted(text) +
                                   " (expected bytes or a number with B, KiB, MiB, GiB, TiB)");
  }
  const uint64_t unit_bytes = SizeUnitBytes(unit);
  if (unit_bytes == 0) {
    return Status::InvalidArgument("unknown unit " + Quoted(unit) + " in " + Quoted(text) +
                                   " (use B, KiB, MiB, GiB, TiB)");
  }
  if (number > UINT64_MAX / unit_bytes) {
    return Status::InvalidArgument("size " + Quoted(text) + " overflows");
  }
  return number * unit_bytes;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumberUnit(text, number, unit)) {
    return Status::InvalidArgument("bad duration " + Quoted(text) +
                                   " (expected an integer with ms, s, m or h, e.g. \"60s\")");
  }
  const int64_t unit_ms = DurationUnitMillis(unit);
  if (unit_ms == 0) {
    return Status::InvalidArgument("unknown unit " + Quoted(unit) + " in duration " + Quoted(text) +
                                   " (use ms, s, m, h)");
  }
  if (number > static_cast<uint64_t>(kMaxDurationMillis / unit_ms)) {
    return Status::InvalidArgument("duration " + Quoted(text) + " is longer than 100 days");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(number) * unit_ms);
}

// ------------------------------------------------------------- ServerConfig

std::string ServerConfig::SocketPath(uint16_t port) const {
  if (listen_pg_socket_dir.empty()) return "";
  return listen_pg_socket_dir + "/.s.PGSQL." + std::to_string(port);
}

page_cache::PageCacheOptions ServerConfig::MakePageCacheOptions(common::Registry* registry) const {
  page_cache::PageCacheOptions options;
  options.pages = page_cache_pages;
  options.registry = registry;
  options.overload.threshold_per_second = overload_threshold_per_second;
  return options;
}

TenantManagerOptions ServerConfig::MakeTenantManagerOptions() const {
  return TenantManagerOptions{.data_dir = data_dir, .timeline = timeline};
}

Status ServerConfig::Validate() const {
  if (max_connections < connection_threads) {
    return Status::InvalidArgument("max_connections: " + std::to_string(max_connections) +
                                   " is below connection_threads " +
                                   std::to_string(connection_threads));
  }
  // sockaddr_un.sun_path holds 107 characters and a NUL; a port takes up to 5 digits.
  if (!listen_pg_socket_dir.empty() && SocketPath(65535).size() > 107) {
    return Status::InvalidArgument("listen_pg_socket_dir: " + Quoted(listen_pg_socket_dir) +
                                   " is too long for a Unix socket path (107 bytes)");
  }
  if (max_batch_size > timeline.max_get_vectored_keys) {
    return Status::InvalidArgument("max_batch_size: above the read path's " +
                                   std::to_string(timeline.max_get_vectored_keys) +
                                   " keys per call");
  }
  return timeline.Check();
}

std::string ServerConfig::ToToml() const {
  toml::table t;
  t.insert("checkpoint_distance", Int(timeline.checkpoint_distance));
  t.insert("checkpoint_timeout", DurationText(timeline.checkpoint_timeout));
  t.insert("compaction_period", DurationText(timeline.compaction_period));
  t.insert("compaction_target_size", Int(timeline.compaction_target_size));
  t.insert("compaction_threshold", Int(timeline.compaction_threshold));
  t.insert("connection_threads", Int(connection_threads));
  t.insert("data_dir", data_dir);
  t.insert("direct_io_fallback", io.direct_fallback);
  t.insert("gc_horizon", Int(timeline.gc_horizon));
  t.insert("image_compression", std::string(CompressionName(timeline.writer.image_compression)));
  t.insert("image_creation_threshold", Int(timeline.image_creation_threshold));
  t.insert("io_alignment", Int(io.io_alignment));
  t.insert("io_latency_padding", io.latency_padding);
  t.insert("listen_http_addr", listen_http.ToString());
  t.insert("listen_pg_addr", listen_pg.ToString());
  t.insert("listen_pg_socket_dir", listen_pg_socket_dir);
  t.insert("log_level", std::string(LogLevelName(log_level)));
  t.insert("max_batch_size", Int(max_batch_size));
  t.insert("max_connections", Int(max_connections));
  t.insert("max_vectored_read_bytes", Int(timeline.max_vectored_read_bytes));
  t.insert("overload_threshold", overload_threshold_per_second);
  t.insert("page_cache_size", Int(page_cache_pages * page_cache::kPageSize));
  t.insert("pipeline_depth", Int(pipeline_depth));
  t.insert("shutdown_timeout", DurationText(shutdown_timeout));
  t.insert("virtual_file_io_engine", std::string(io_engine::IoEngineKindName(io.engine)));
  t.insert("virtual_file_io_mode", std::string(virtual_file::IoModeName(io.mode)));
  t.insert("wait_lsn_timeout", DurationText(wait_lsn_timeout));
  std::ostringstream out;
  out << t << "\n";
  return out.str();
}

Result<ServerConfig> ParseServerConfig(std::string_view text, std::string_view source,
                                       const std::vector<std::string>& overrides) {
  ASSIGN_OR_RETURN(const std::vector<Setting> settings, CollectSettings(text, source, overrides));
  ServerConfig config;
  for (const Setting& s : settings) RETURN_IF_ERROR(ApplySetting(s, config));
  RETURN_IF_ERROR(config.Validate());
  return config;
}

Result<ServerConfig> LoadServerConfig(const std::optional<std::string>& path,
                                      const std::vector<std::string>& overrides) {
  if (!path.has_value()) return ParseServerConfig("", "<defaults>", overrides);
  Result<std::string> text = ReadWholeFile(*path);
  if (!text.has_value()) {
    return Status::InvalidArgument("config file " + Quoted(*path) +
                                   ": cannot read: " + std::string(text.error().message()));
  }
  return ParseServerConfig(*text, *path, overrides);
}

// server/pageserver.toml, verbatim (config_test checks it).
std::string_view DefaultConfigToml() {
  static constexpr std::string_view kText =
      R"toml(# pageserver configuration: every key with its default.
#
# Start with `pageserver --config pageserver.toml`; override single keys with
# `-c key=value` (e.g. -c page_cache_size="1 GiB" -c virtual_file_io_mode=buffered).
# Sizes: an integer byte count or a string with a binary unit ("512 MiB").
# Durations: a string with a unit: ms, s, m, h ("60s", "10m").
# Unknown keys, wrong types and impossible values are errors naming the key.

# --- Where ---

# Directory of the tenants (<data_dir>/tenants/<tenant>/timelines/<timeline>/).
# Created if missing; a relative path is relative to the working directory.
data_dir = "pageserver_data"

# Page service (Postgres protocol) TCP address, "host:port". Port 0: ephemeral.
listen_pg_addr = "127.0.0.1:64000"

# Directory for the page service's Unix socket <dir>/.s.PGSQL.<port>, reached by
# libpq with "host=<dir> port=<port>". Empty: no Unix socket.
listen_pg_socket_dir = ""

# HTTP API and /metrics address, "host:port".
listen_http_addr = "127.0.0.1:9898"

# --- IO ---

# auto (io-uring when the kernel allows it, else std-fs) | std-fs | io-uring.
virtual_file_io_engine = "auto"

# buffered | direct (O_DIRECT reads) | direct-rw (O_DIRECT reads and writes).
virtual_file_io_mode = "direct"

# Alignment (bytes, a power of two, 512..65536) of IO buffers, offsets and lengths.
io_alignment = 512

# Open files buffered, with a warning, where the filesystem refuses O_DIRECT.
direct_io_fallback = true

# Benchmarks only: pad every IO to a modeled device latency, "80us" (fixed) or
# "80us/250us" (p50/p99 of a log-normal), to see how the daemon behaves on a
# slower device than the one it runs on. Empty: no padding.
io_latency_padding = ""

# PageCache for layer index blocks (B-tree nodes, summaries): a multiple of
# 8 KiB, 128 KiB .. 16 TiB.
page_cache_size = "64 MiB"

# Largest single coalesced data read of the read path.
max_vectored_read_bytes = "256 KiB"

# PageCache replacement rate (evictions/s, 1-minute average) above which the
# host is reported overloaded.
overload_threshold = 200.0

# --- Page service ---

# GetPage requests served by one read-path call (1..32).
max_batch_size = 32

# GetPage batches of one connection in execution at once (1..16): while one
# batch waits for its slowest read, the next one's reads are already queued
# on the device. 1 serves one batch at a time.
pipeline_depth = 1

# How long a request waits for its LSN to be ingested.
wait_lsn_timeout = "60s"

# Connection handler threads.
connection_threads = 8

# Connections served or waiting for a handler; more get "too many connections".
max_connections = 100

# --- Timelines ---

# Freeze the in-memory layer at this size ...
checkpoint_distance = "256 MiB"

# ... or at this age.
checkpoint_timeout = "10m"

# Compact L0 deltas into L1 once this many exist (>= 2).
compaction_threshold = 10

# Target size of the L1 delta layers compaction writes.
compaction_target_size = "128 MiB"

# How often background compaction looks for work.
compaction_period = "20s"

# Create image layers where this many deltas lie above the newest image (>= 1).
image_creation_threshold = 3

# History kept below last_record_lsn, in bytes of WAL. 0 disables GC.
gc_horizon = "64 MiB"

# Compression of image layer pages: none | zstd.
image_compression = "none"

# --- Process ---

# trace | debug | info | warn | error | off (logs go to stderr).
log_level = "info"

# Bound on waiting for connections to end at shutdown.
shutdown_timeout = "10s"
)toml";
  return kText;
}

}  // namespace pageserver::server
