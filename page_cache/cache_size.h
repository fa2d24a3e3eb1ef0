#pragma once

// The PageCache's unit and the parsing of its configured size.
//
// `page_cache_size` is given either as a page count or as a byte size with a
// binary unit; both mean the same number of 8 KiB slots:
//
//   ParsePageCacheSize("65536")  == 65536    (pages)
//   ParsePageCacheSize("512MiB") == 65536    (512 MiB / 8 KiB)
//   ParsePageCacheSize("2GiB")   == 262144
//   ParsePageCacheSize("64KiB")  == InvalidArgument (8 pages < kMinPages)
//   ParsePageCacheSize("12MB")   == InvalidArgument (unknown unit; use MiB)
//   ParsePageCacheSize("100KiB") == InvalidArgument (not a multiple of 8 KiB)
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace pageserver::page_cache {

// One slot holds one block of a layer file: Postgres' BLCKSZ, the unit in
// which layer files (and their B-tree nodes and summaries) are written.
inline constexpr size_t kPageSize = 8192;

// Memory alignment of every slot: the arena is mmap'ed, so slots start on
// 4 KiB page boundaries, enough for O_DIRECT on 512 and 4K-sector devices.
inline constexpr size_t kSlotAlignment = 4096;

// The smallest cache accepted. A GetPage pins one node per B-tree level
// (three or four) while it descends; 16 slots leave room for a few readers
// at once, so a tiny test configuration still makes progress.
inline constexpr uint64_t kMinPages = 16;

// The largest cache accepted: 2^31 pages (16 TiB), far above any host's
// memory; it keeps slot indices and hash arithmetic well inside 64 bits.
inline constexpr uint64_t kMaxPages = uint64_t{1} << 31;

// Parses `page_cache_size`: a decimal page count, or a decimal byte count
// followed by KiB, MiB, GiB or TiB. InvalidArgument (naming the text) when it
// is empty, not a number, has an unknown unit, overflows, is not a multiple
// of kPageSize bytes, or is outside [kMinPages, kMaxPages].
common::Result<uint64_t> ParsePageCacheSize(std::string_view text);

}  // namespace pageserver::page_cache
