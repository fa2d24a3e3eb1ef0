#include "layers/lsn.h"

#include <cinttypes>
#include <cstdio>
#include <optional>

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;

// "%X" of a u32 has at most 8 digits; Postgres' pg_lsn input allows no more.
constexpr size_t kMaxHalfDigits = 8;
constexpr size_t kFileHexDigits = 16;

std::optional<uint8_t> HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return std::nullopt;
}

// Every character a hex digit, 1..16 of them (no sign, prefix or spaces).
std::optional<uint64_t> ParseHexDigits(std::string_view digits) {
  if (digits.empty() || digits.size() > kFileHexDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) {
    const std::optional<uint8_t> nibble = HexDigitValue(c);
    if (!nibble) return std::nullopt;
    value = (value << 4) | *nibble;
  }
  return value;
}

Status BadLsn(std::string_view what, std::string_view text) {
  return Status::InvalidArgument(std::string(what) + ": \"" + std::string(text) + "\"");
}

}  // namespace

std::string Lsn::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%X/%X", static_cast<unsigned>(value >> 32),
                static_cast<unsigned>(value & 0xFFFFFFFFu));
  return buf;
}

std::string Lsn::ToFileHex() const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016" PRIX64, value);
  return buf;
}

Result<Lsn> Lsn::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return BadLsn("LSN without '/'", text);
  const std::string_view high = text.substr(0, slash);
  const std::string_view low = text.substr(slash + 1);
  if (high.size() > kMaxHalfDigits || low.size() > kMaxHalfDigits) {
    return BadLsn("LSN half longer than 8 hex digits", text);
  }
  const std::optional<uint64_t> hi = ParseHexDigits(high);
  const std::optional<uint64_t> lo = ParseHexDigits(low);
  if (!hi || !lo) return BadLsn("malformed LSN (want X/X in hex)", text);
  return Lsn{(*hi << 32) | *lo};
}

Result<Lsn> Lsn::ParseFileHex(std::string_view text) {
  if (text.size() != kFileHexDigits) return BadLsn("file LSN is not 16 hex digits", text);
  const std::optional<uint64_t> value = ParseHexDigits(text);
  if (!value) return BadLsn("file LSN is not 16 hex digits", text);
  return Lsn{*value};
}

std::string LsnRange::ToString() const {
  return "[" + start.ToString() + ", " + end.ToString() + ")";
}

}  // namespace pageserver::layers
