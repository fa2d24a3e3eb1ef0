#pragma once

// LayerSummary: block 0 of every layer file, describing the rest of it.
//
// File layout (both kinds):
//   block 0                       the summary (this header), kLayerBlockSize bytes
//   [8192, value_region_end)      blobs, back to back (blob.h)
//   [index_start_block * 8192,    the disk B-tree, index_node_count nodes,
//    file_length)                 root last (disk_btree.h)
// index_start_block is value_region_end rounded up to a block; the gap is zero.
//
// Summary block layout (little-endian integers; RFC.md "Layer summary"):
//
//   offset  size  field
//   0       4     magic: kImageLayerMagic "PSLI" or kDeltaLayerMagic "PSLD" (as bytes)
//   4       2     format_version (kLayerFormatVersion = 1)
//   6       2     summary_size: bytes of fields below that this version defines (160)
//   8       16    tenant id
//   24      16    timeline id
//   40      18    key range start (Key encoding)
//   58      18    key range end (exclusive)
//   76      2     index key width: 18 (image) or 26 (delta: key + big-endian LSN)
//   78      1     image compression configured at write time (0 none, 1 zstd)
//   79      1     reserved, 0
//   80      8     LSN range start
//   88      8     LSN range end (exclusive; image: lsn + 1)
//   96      8     value_region_end (byte offset; >= 8192)
//   104     8     index_start_block
//   112     8     index_node_count (>= 1)
//   120     8     index_root_block (relative to index_start_block; == node_count - 1)
//   128     4     index_depth (1..16)
//   132     4     reserved, 0
//   136     8     entry_count
//   144     8     value_bytes: sum of the values' decoded sizes
//   152     8     file_length
//   160     8028  zero
//   8188    4     crc32c of bytes [0, 8188)
//
// Versioning policy: the version changes whenever any byte layout in the file
// changes meaning. A reader accepts exactly the versions it knows (1);
// a higher version is Unsupported ("written by a newer pageserver"), never a
// guess. Fields are only ever appended (summary_size grows), so a future
// reader can still decode a version-1 summary.
//
// Thread-safety: plain values and pure functions.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "layers/blob.h"
#include "layers/ids.h"
#include "layers/keyspace.h"
#include "layers/layer_name.h"
#include "layers/lsn.h"

namespace pageserver::layers {

inline constexpr size_t kLayerBlockSize = 8192;
inline constexpr uint16_t kLayerFormatVersion = 1;
inline constexpr uint16_t kSummarySizeV1 = 160;
inline constexpr std::array<char, 4> kImageLayerMagic = {'P', 'S', 'L', 'I'};
inline constexpr std::array<char, 4> kDeltaLayerMagic = {'P', 'S', 'L', 'D'};
inline constexpr size_t kImageIndexKeyWidth = 18;
inline constexpr size_t kDeltaIndexKeyWidth = 26;

struct LayerSummary {
  LayerKind kind = LayerKind::kImage;
  uint16_t format_version = kLayerFormatVersion;
  TenantId tenant;
  TimelineId timeline;
  KeyRange key_range;
  LsnRange lsn_range;
  Compression image_compression = Compression::kNone;
  uint64_t value_region_end = kLayerBlockSize;
  uint64_t index_start_block = 1;
  uint64_t index_node_count = 1;
  uint64_t index_root_block = 0;
  uint32_t index_depth = 1;
  uint64_t entry_count = 0;
  uint64_t value_bytes = 0;
  uint64_t file_length = 2 * kLayerBlockSize;

  size_t index_key_width() const {
    return kind == LayerKind::kImage ? kImageIndexKeyWidth : kDeltaIndexKeyWidth;
  }
  LayerName name() const { return LayerName{kind, key_range, lsn_range}; }
  bool operator==(const LayerSummary&) const = default;
};

// The summary block (kLayerBlockSize bytes, checksum filled in).
std::array<std::byte, kLayerBlockSize> EncodeSummary(const LayerSummary& summary);

// Decodes and checks block 0 of the file at `path` (named in errors):
//   not a layer file (unknown magic) -> Corruption;
//   format_version > kLayerFormatVersion -> Unsupported; 0 -> Corruption;
//   checksum mismatch -> Corruption;
//   internal inconsistency (empty key/LSN range, an image LSN range other
//   than one LSN, key width not matching the kind, value_region_end < 8192,
//   index_start_block not value_region_end rounded up, root != node_count - 1,
//   depth out of [1, 16], file_length != (index_start_block + node_count) *
//   8192, entry_count blobs not fitting in the value region, a value region
//   beyond BlobRef's 1 TiB offset limit, depth above node_count, unknown
//   compression, nonzero reserved bytes, summary_size other than
//   kSummarySizeV1) -> Corruption naming the field;
//   a block of other than kLayerBlockSize bytes -> Corruption.
// Order of checks: size, magic, version, checksum, kind, consistency; so a
// version-2 file is Unsupported whatever its (future) layout.
// `expected` (when set) is the kind the caller opens: the other kind is
// InvalidArgument ("<path> is a delta layer, not an image layer").
common::Result<LayerSummary> DecodeSummary(std::span<const std::byte> block, std::string_view path,
                                           std::optional<LayerKind> expected = std::nullopt);

// The file's actual length must equal summary.file_length: shorter is
// Corruption ("truncated: N bytes, summary says M"), longer is Corruption too
// (trailing garbage means a damaged or foreign file).
common::Status CheckFileLength(const LayerSummary& summary, uint64_t actual_length,
                               std::string_view path);

}  // namespace pageserver::layers
