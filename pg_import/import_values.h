#pragma once

// The values an import stores that timeline/pg_mapping.h does not define:
// SLRU segment sizes and directories, aux files; and reads of them at an
// LSN. Little-endian integers, as Value's.
//
//   SLRU segment size   value of Key::SlruSegmentSize(kind, segno)
//     0  4  nblocks (u32)                         exactly 4 bytes
//
//   SLRU directory      value of Key::SlruDir(kind)
//     0       4  count (u32)
//     4 + 4i  4  segno (u32) of entry i; strictly ascending; size 4 + 4 * count
//
//   aux file part       value of AuxFileKey(path, part)
//     0       2  path length P (u16), 1..kMaxAuxPathBytes
//     2       P  path, relative to the data directory ("postgresql.conf")
//     2+P     4  part (u32), 0-based
//     6+P     4  parts (u32) >= 1: how many parts the file has
//     10+P    8  file size (u64): bytes of the whole file
//     18+P    4  content length C (u32) of this part
//     22+P    C  the file's bytes [part * kAuxPartBytes, part * kAuxPartBytes + C)
//   Every part but the last holds exactly kAuxPartBytes bytes; an empty file
//   is one part with C = 0. So a file of any size is stored, in
//   ceil(size / kAuxPartBytes) parts (at least one), each value well below
//   kMaxImageSize.
//
// Aux-file keys: Key::AuxFile(h), where h is the first 17 bytes of the
// SHA-1 digest (FIPS 180-4) of:
//   part 0:   the path's bytes
//   part k>0: the path's bytes, one 0x00 byte, k as 4 bytes big-endian
// (a path never contains a NUL byte, so the inputs never coincide). A
// reader finds a file from its path alone. Two paths whose keys collide
// (136 bits of SHA-1) are not stored: the import fails naming both.
//   AuxFileKey("PG_VERSION", 0) hashes the 10 bytes "PG_VERSION".
//
// Decode* return Corruption naming what is wrong: wrong size, truncated,
// trailing bytes, unsorted SLRU directory, a part index not below parts, a
// content length that disagrees with the file size and part.
//
// Thread-safety: pure functions; the reads as timeline reads (any thread).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::timeline {
class Timeline;
}

namespace pageserver::pg_import {

// Bytes of file content per aux part: 512 KiB keeps a part's value (with a
// path of up to kMaxAuxPathBytes) far below kMaxImageSize (1 MiB - 1).
inline constexpr size_t kAuxPartBytes = 512 * 1024;
// Postgres' MAXPGPATH.
inline constexpr size_t kMaxAuxPathBytes = 1024;

// --- SLRU ---

std::vector<std::byte> EncodeSlruSegmentSize(uint32_t nblocks);
common::Result<uint32_t> DecodeSlruSegmentSize(std::span<const std::byte> bytes);
// Any order, duplicates dropped.
std::vector<std::byte> EncodeSlruDir(std::span<const uint32_t> segnos);
common::Result<std::vector<uint32_t>> DecodeSlruDir(std::span<const std::byte> bytes);

// --- Aux files ---

struct AuxFilePart {
  std::string path;
  uint32_t part = 0;
  uint32_t parts = 1;
  uint64_t file_size = 0;
  std::vector<std::byte> content;
  bool operator==(const AuxFilePart&) const = default;
};

// ceil(size / kAuxPartBytes), at least 1.
uint32_t AuxPartCount(uint64_t file_size);
layers::Key AuxFileKey(std::string_view path, uint32_t part);
// REQUIRES: 1 <= path.size() <= kMaxAuxPathBytes, part < parts, content as
// the format says (checked by Decode, not here).
std::vector<std::byte> EncodeAuxFilePart(const AuxFilePart& part);
common::Result<AuxFilePart> DecodeAuxFilePart(std::span<const std::byte> bytes);

// --- Reads at an LSN (Timeline::GetVectored; its per-key errors pass through) ---

// The whole file at `path`: NotFound when it has no part 0; Corruption when
// a part names another path (a collision the import should have refused),
// disagrees with part 0 about the size, or is missing.
common::Result<std::vector<std::byte>> ReadAuxFile(const timeline::Timeline& tl,
                                                   std::string_view path, layers::Lsn lsn);
// An SLRU segment's pages concatenated (nblocks * 8192 bytes). NotFound when
// the segment has no size key at `lsn`.
common::Result<std::vector<std::byte>> ReadSlruSegment(const timeline::Timeline& tl,
                                                       layers::SlruKind kind, uint32_t segno,
                                                       layers::Lsn lsn);

}  // namespace pageserver::pg_import
