#include "page_cache/cache_size.h"

#include <charconv>
#include <string>

namespace pageserver::page_cache {

using common::Result;
using common::Status;

namespace {

Status Invalid(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("page_cache_size '" + std::string(text) +
                                 "': " + std::string(why));
}

// Bytes per unit, or 0 for an unknown unit. An empty unit means pages.
uint64_t UnitBytes(std::string_view unit) {
  if (unit.empty()) return kPageSize;
  if (unit == "KiB") return uint64_t{1} << 10;
  if (unit == "MiB") return uint64_t{1} << 20;
  if (unit == "GiB") return uint64_t{1} << 30;
  if (unit == "TiB") return uint64_t{1} << 40;
  return 0;
}

}  // namespace

Result<uint64_t> ParsePageCacheSize(std::string_view text) {
  uint64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc::result_out_of_range) return Invalid(text, "number out of range");
  if (ec != std::errc() || end == text.data()) {
    return Invalid(text, "expected a page count or a size such as 512MiB");
  }
  const std::string_view unit = text.substr(static_cast<size_t>(end - text.data()));
  const uint64_t unit_bytes = UnitBytes(unit);
  if (unit_bytes == 0) {
    return Invalid(text, "unknown unit '" + std::string(unit) + "' (use KiB, MiB, GiB or TiB)");
  }
  if (number > UINT64_MAX / unit_bytes) return Invalid(text, "size out of range");
  const uint64_t bytes = number * unit_bytes;
  if (bytes % kPageSize != 0) {
    return Invalid(text, "not a multiple of the " + std::to_string(kPageSize) + "-byte page");
  }
  const uint64_t pages = bytes / kPageSize;
  if (pages < kMinPages || pages > kMaxPages) {
    return Invalid(text, std::to_string(pages) + " pages, outside [" + std::to_string(kMinPages) +
                             ", " + std::to_string(kMaxPages) + "]");
  }
  return pages;
}

}  // namespace pageserver::page_cache
