#pragma once

// TenantId and TimelineId: 16-byte identifiers, written as 32 lower-case hex
// digits as Neon writes them ("ad50847381e248feaac9876cc71ae418").
//
// Thread-safety: plain values.

#include <array>
#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pageserver::layers {

template <typename Tag>
struct Id128 {
  std::array<std::byte, 16> bytes{};

  auto operator<=>(const Id128&) const = default;
  bool IsZero() const { return *this == Id128{}; }
  std::string ToHex() const;  // 32 lower-case hex digits
  // Exactly 32 hex digits, either case; InvalidArgument naming the text.
  static common::Result<Id128> ParseHex(std::string_view text);
  // 16 random bytes from the OS (getrandom).
  static Id128 Generate();
};

struct TenantTag;
struct TimelineTag;
using TenantId = Id128<TenantTag>;
using TimelineId = Id128<TimelineTag>;

extern template struct Id128<TenantTag>;
extern template struct Id128<TimelineTag>;

}  // namespace pageserver::layers
