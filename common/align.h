#pragma once

// Alignment arithmetic for direct IO. All helpers take the alignment as a
// power of two (512 and 4096 in practice: the logical sector size and the
// page size); behaviour for other values is undefined and checked by
// IsPowerOfTwo() at the places alignments enter the system (config, statx).

#include <cstddef>
#include <cstdint>

namespace pageserver::common {

// IsPowerOfTwo(512) == true, IsPowerOfTwo(0) == false, IsPowerOfTwo(96) == false.
constexpr bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// AlignUp(13, 8) == 16, AlignUp(16, 8) == 16, AlignUp(0, 512) == 0,
// AlignUp(8193, 4096) == 12288.
constexpr uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

// AlignDown(13, 8) == 8, AlignDown(16, 8) == 16, AlignDown(511, 512) == 0,
// AlignDown(8193, 4096) == 8192.
constexpr uint64_t AlignDown(uint64_t value, uint64_t alignment) {
  return value & ~(alignment - 1);
}

// IsAligned(4096, 512) == true, IsAligned(4097, 512) == false, IsAligned(0, 512) == true.
constexpr bool IsAligned(uint64_t value, uint64_t alignment) {
  return (value & (alignment - 1)) == 0;
}

// IsAlignedPtr(p, 512) is true when the address of p is a multiple of 512.
inline bool IsAlignedPtr(const void* p, uint64_t alignment) {
  return IsAligned(reinterpret_cast<uintptr_t>(p), alignment);
}

static_assert(AlignUp(13, 8) == 16);
static_assert(AlignUp(8193, 4096) == 12288);
static_assert(AlignDown(8193, 4096) == 8192);
static_assert(IsAligned(4096, 512) && !IsAligned(4097, 512));
static_assert(IsPowerOfTwo(512) && !IsPowerOfTwo(0) && !IsPowerOfTwo(96));

}  // namespace pageserver::common
