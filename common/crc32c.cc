#include "common/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace pageserver::common::crc32c {

uint32_t Extend(uint32_t crc, std::span<const std::byte> data) {
  // ISA-L's crc32_iscsi works on the un-inverted register: invert on the way
  // in and out to get the standard composable value. Its length is an int,
  // so very large spans go in pieces.
  uint32_t reg = ~crc;
  auto* p = reinterpret_cast<unsigned char*>(const_cast<std::byte*>(data.data()));
  size_t left = data.size();
  while (left > 0) {
    const int n = left > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(left);
    reg = crc32_iscsi(p, n, reg);
    p += n;
    left -= static_cast<size_t>(n);
  }
  return ~reg;
}

}  // namespace pageserver::common::crc32c
