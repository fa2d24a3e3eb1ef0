#pragma once

// Lsn: a Postgres WAL position, a u64 byte offset into the WAL stream.
//
// Text form is Postgres' "%X/%X": the high and low 32 bits in upper-case hex
// without leading zeros ("16/B374D848" == 0x16B374D848, "0/0" == 0).
// File names use a fixed 16-digit upper-case hex form ("00000016B374D848"),
// as Neon's layer names do.
//
// Lsn 0 is kInvalid (Postgres' InvalidXLogRecPtr): never a valid read point.
// kMax (all ones) stands for "latest" and for open upper bounds.
//
// Thread-safety: a plain value.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pageserver::layers {

struct Lsn {
  uint64_t value = 0;

  static constexpr uint64_t kInvalidValue = 0;
  static constexpr uint64_t kMaxValue = ~uint64_t{0};
  static constexpr Lsn Invalid() { return Lsn{kInvalidValue}; }
  static constexpr Lsn Max() { return Lsn{kMaxValue}; }

  constexpr bool valid() const { return value != kInvalidValue; }
  constexpr auto operator<=>(const Lsn&) const = default;

  // "X/X" (Postgres). Example: Lsn{0x16B374D848}.ToString() == "16/B374D848".
  std::string ToString() const;
  // 16 upper-case hex digits, for file names.
  std::string ToFileHex() const;

  // Parses "X/X" (1-8 hex digits each side, either case). InvalidArgument
  // naming the text otherwise.
  static common::Result<Lsn> Parse(std::string_view text);
  // Parses exactly 16 hex digits (ToFileHex's form).
  static common::Result<Lsn> ParseFileHex(std::string_view text);
};

// Half-open LSN interval [start, end). Image layers cover [lsn, lsn + 1).
struct LsnRange {
  Lsn start;
  Lsn end;

  constexpr bool empty() const { return start >= end; }
  constexpr bool Contains(Lsn lsn) const { return start <= lsn && lsn < end; }
  // True when some LSN is in both; an empty range overlaps nothing.
  constexpr bool Overlaps(const LsnRange& o) const {
    return !empty() && !o.empty() && start < o.end && o.start < end;
  }
  constexpr auto operator<=>(const LsnRange&) const = default;
  std::string ToString() const;  // "[0/10, 0/20)"
};

}  // namespace pageserver::layers
