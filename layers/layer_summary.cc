#include "layers/layer_summary.h"

#include <cstring>
#include <string>

#include "common/align.h"
#include "common/crc32c.h"
#include "layers/disk_btree.h"
#include "layers/vectored_read.h"

namespace pageserver::layers {

using common::Result;
using common::Status;

namespace {

// Field offsets of the summary block (the table in layer_summary.h).
constexpr size_t kMagicOff = 0;
constexpr size_t kVersionOff = 4;
constexpr size_t kSummarySizeOff = 6;
constexpr size_t kTenantOff = 8;
constexpr size_t kTimelineOff = 24;
constexpr size_t kKeyStartOff = 40;
constexpr size_t kKeyEndOff = 58;
constexpr size_t kKeyWidthOff = 76;
constexpr size_t kCompressionOff = 78;
constexpr size_t kReserved1Off = 79;
constexpr size_t kLsnStartOff = 80;
constexpr size_t kLsnEndOff = 88;
constexpr size_t kValueRegionEndOff = 96;
constexpr size_t kIndexStartOff = 104;
constexpr size_t kNodeCountOff = 112;
constexpr size_t kRootOff = 120;
constexpr size_t kDepthOff = 128;
constexpr size_t kReserved2Off = 132;
constexpr size_t kEntryCountOff = 136;
constexpr size_t kValueBytesOff = 144;
constexpr size_t kFileLengthOff = 152;
constexpr size_t kCrcOff = kLayerBlockSize - 4;
static_assert(kFileLengthOff + 8 == kSummarySizeV1);

// The largest value region a BlobRef can address (offset and length limits).
constexpr uint64_t kMaxValueRegionEnd = BlobRef::kMaxOffset + 1;

using Block = std::array<std::byte, kLayerBlockSize>;

template <typename T>
void PutLe(Block& b, size_t off, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = std::byte((uint64_t{v} >> (8 * i)) & 0xFF);
}

template <typename T>
T GetLe(std::span<const std::byte> b, size_t off) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= uint64_t(std::to_integer<uint8_t>(b[off + i])) << (8 * i);
  return static_cast<T>(v);
}

void PutBytes(Block& b, size_t off, std::span<const std::byte> src) {
  std::memcpy(b.data() + off, src.data(), src.size());
}

Key GetKey(std::span<const std::byte> b, size_t off) {
  return Key::Decode(b.subspan(off).first<kKeySize>());
}

template <typename Id>
Id GetId(std::span<const std::byte> b, size_t off) {
  Id id;
  std::memcpy(id.bytes.data(), b.data() + off, id.bytes.size());
  return id;
}

// memcmp against zeros: a byte loop costs more than the checksum in debug builds.
bool AllZero(std::span<const std::byte> bytes) {
  static constexpr std::array<std::byte, kLayerBlockSize> kZeros{};
  return bytes.size() <= kZeros.size() &&
         std::memcmp(bytes.data(), kZeros.data(), bytes.size()) == 0;
}

Status Bad(std::string_view path, const std::string& what) {
  return Status::Corruption("layer summary of " + std::string(path) + ": " + what);
}

std::string_view KindName(LayerKind kind) {
  return kind == LayerKind::kImage ? "an image layer" : "a delta layer";
}

// The fields, without any check beyond what parsing needs.
LayerSummary ParseFields(std::span<const std::byte> b, LayerKind kind) {
  LayerSummary s;
  s.kind = kind;
  s.format_version = GetLe<uint16_t>(b, kVersionOff);
  s.tenant = GetId<TenantId>(b, kTenantOff);
  s.timeline = GetId<TimelineId>(b, kTimelineOff);
  s.key_range = KeyRange{GetKey(b, kKeyStartOff), GetKey(b, kKeyEndOff)};
  s.lsn_range =
      LsnRange{Lsn{GetLe<uint64_t>(b, kLsnStartOff)}, Lsn{GetLe<uint64_t>(b, kLsnEndOff)}};
  s.image_compression = static_cast<Compression>(GetLe<uint8_t>(b, kCompressionOff));
  s.value_region_end = GetLe<uint64_t>(b, kValueRegionEndOff);
  s.index_start_block = GetLe<uint64_t>(b, kIndexStartOff);
  s.index_node_count = GetLe<uint64_t>(b, kNodeCountOff);
  s.index_root_block = GetLe<uint64_t>(b, kRootOff);
  s.index_depth = GetLe<uint32_t>(b, kDepthOff);
  s.entry_count = GetLe<uint64_t>(b, kEntryCountOff);
  s.value_bytes = GetLe<uint64_t>(b, kValueBytesOff);
  s.file_length = GetLe<uint64_t>(b, kFileLengthOff);
  return s;
}

// Header fields checked before the fields are trusted at all.
Result<LayerKind> CheckEnvelope(std::span<const std::byte> b, std::string_view path) {
  if (b.size() != kLayerBlockSize) {
    return Bad(path, "block is " + std::to_string(b.size()) + " bytes, not " +
                         std::to_string(kLayerBlockSize));
  }
  LayerKind kind = LayerKind::kImage;
  if (std::memcmp(b.data(), kDeltaLayerMagic.data(), 4) == 0) {
    kind = LayerKind::kDelta;
  } else if (std::memcmp(b.data() + kMagicOff, kImageLayerMagic.data(), 4) != 0) {
    return Bad(path, "not a layer file (unknown magic)");
  }
  const uint16_t version = GetLe<uint16_t>(b, kVersionOff);
  if (version > kLayerFormatVersion) {
    return Status::Unsupported(std::string(path) + ": layer format version " +
                               std::to_string(version) +
                               " written by a newer pageserver (this one reads " +
                               std::to_string(kLayerFormatVersion) + ")");
  }
  if (version == 0) return Bad(path, "format_version 0");
  const uint32_t stored = GetLe<uint32_t>(b, kCrcOff);
  const uint32_t actual = common::crc32c::Value(b.first(kCrcOff));
  if (stored != actual) return Bad(path, "checksum mismatch");
  return kind;
}

Status CheckReserved(std::span<const std::byte> b, std::string_view path) {
  if (GetLe<uint16_t>(b, kSummarySizeOff) != kSummarySizeV1) {
    return Bad(path, "summary_size " + std::to_string(GetLe<uint16_t>(b, kSummarySizeOff)) +
                         ", version 1 defines " + std::to_string(kSummarySizeV1));
  }
  if (b[kReserved1Off] != std::byte{0} || !AllZero(b.subspan(kReserved2Off, 4)) ||
      !AllZero(b.subspan(kSummarySizeV1, kCrcOff - kSummarySizeV1))) {
    return Bad(path, "nonzero reserved bytes");
  }
  return Status::Ok();
}

Status CheckRanges(const LayerSummary& s, uint16_t key_width, std::string_view path) {
  if (s.key_range.empty()) return Bad(path, "empty key range " + s.key_range.ToString());
  if (s.lsn_range.empty()) return Bad(path, "empty LSN range " + s.lsn_range.ToString());
  if (s.kind == LayerKind::kImage && s.lsn_range.end.value - s.lsn_range.start.value != 1) {
    return Bad(path, "image layer LSN range " + s.lsn_range.ToString() + " is not one LSN");
  }
  if (key_width != s.index_key_width()) {
    return Bad(path, "index key width " + std::to_string(key_width) + " for " +
                         std::string(KindName(s.kind)));
  }
  if (s.image_compression != Compression::kNone && s.image_compression != Compression::kZstd) {
    return Bad(path, "unknown image compression " +
                         std::to_string(static_cast<unsigned>(s.image_compression)));
  }
  return Status::Ok();
}

Status CheckValueRegion(const LayerSummary& s, std::string_view path) {
  if (s.value_region_end < kLayerBlockSize || s.value_region_end > kMaxValueRegionEnd) {
    return Bad(path, "value_region_end " + std::to_string(s.value_region_end) + " outside [" +
                         std::to_string(kLayerBlockSize) + ", " +
                         std::to_string(kMaxValueRegionEnd) + "]");
  }
  if (s.index_start_block !=
      common::AlignUp(s.value_region_end, kLayerBlockSize) / kLayerBlockSize) {
    return Bad(path, "index_start_block " + std::to_string(s.index_start_block) +
                         " is not value_region_end " + std::to_string(s.value_region_end) +
                         " rounded up to a block");
  }
  if (s.entry_count > (s.value_region_end - kLayerBlockSize) / kBlobHeaderSize) {
    return Bad(path, "entry_count " + std::to_string(s.entry_count) +
                         " blobs do not fit in a value region ending at " +
                         std::to_string(s.value_region_end));
  }
  return Status::Ok();
}

Status CheckIndex(const LayerSummary& s, std::string_view path) {
  // node_count is bounded so that file_length below cannot overflow.
  constexpr uint64_t kMaxNodes = (~uint64_t{0} / kLayerBlockSize) / 2;
  if (s.index_node_count == 0 || s.index_node_count > kMaxNodes) {
    return Bad(path, "index_node_count " + std::to_string(s.index_node_count));
  }
  if (s.index_root_block != s.index_node_count - 1) {
    return Bad(path,
               "index_root_block " + std::to_string(s.index_root_block) +
                   " is not index_node_count - 1 = " + std::to_string(s.index_node_count - 1));
  }
  if (s.index_depth < 1 || s.index_depth > kMaxTreeDepth || s.index_depth > s.index_node_count) {
    return Bad(path, "index_depth " + std::to_string(s.index_depth) + " (node count " +
                         std::to_string(s.index_node_count) + ")");
  }
  const uint64_t expected = (s.index_start_block + s.index_node_count) * kLayerBlockSize;
  if (s.file_length != expected) {
    return Bad(path, "file_length " + std::to_string(s.file_length) + ", the layout says " +
                         std::to_string(expected));
  }
  return Status::Ok();
}

}  // namespace

std::array<std::byte, kLayerBlockSize> EncodeSummary(const LayerSummary& s) {
  Block b{};
  PutBytes(
      b, kMagicOff,
      std::as_bytes(std::span(s.kind == LayerKind::kImage ? kImageLayerMagic : kDeltaLayerMagic)));
  PutLe<uint16_t>(b, kVersionOff, s.format_version);
  PutLe<uint16_t>(b, kSummarySizeOff, kSummarySizeV1);
  PutBytes(b, kTenantOff, s.tenant.bytes);
  PutBytes(b, kTimelineOff, s.timeline.bytes);
  PutBytes(b, kKeyStartOff, s.key_range.start.Encode());
  PutBytes(b, kKeyEndOff, s.key_range.end.Encode());
  PutLe<uint16_t>(b, kKeyWidthOff, static_cast<uint16_t>(s.index_key_width()));
  PutLe<uint8_t>(b, kCompressionOff, static_cast<uint8_t>(s.image_compression));
  PutLe<uint64_t>(b, kLsnStartOff, s.lsn_range.start.value);
  PutLe<uint64_t>(b, kLsnEndOff, s.lsn_range.end.value);
  PutLe<uint64_t>(b, kValueRegionEndOff, s.value_region_end);
  PutLe<uint64_t>(b, kIndexStartOff, s.index_start_block);
  PutLe<uint64_t>(b, kNodeCountOff, s.index_node_count);
  PutLe<uint64_t>(b, kRootOff, s.index_root_block);
  PutLe<uint32_t>(b, kDepthOff, s.index_depth);
  PutLe<uint64_t>(b, kEntryCountOff, s.entry_count);
  PutLe<uint64_t>(b, kValueBytesOff, s.value_bytes);
  PutLe<uint64_t>(b, kFileLengthOff, s.file_length);
  PutLe<uint32_t>(b, kCrcOff, common::crc32c::Value(std::span(b).first(kCrcOff)));
  return b;
}

Result<LayerSummary> DecodeSummary(std::span<const std::byte> block, std::string_view path,
                                   std::optional<LayerKind> expected) {
  ASSIGN_OR_RETURN(const LayerKind kind, CheckEnvelope(block, path));
  if (expected.has_value() && *expected != kind) {
    return Status::InvalidArgument(std::string(path) + " is " + std::string(KindName(kind)) +
                                   ", not " + std::string(KindName(*expected)));
  }
  RETURN_IF_ERROR(CheckReserved(block, path));
  LayerSummary s = ParseFields(block, kind);
  RETURN_IF_ERROR(CheckRanges(s, GetLe<uint16_t>(block, kKeyWidthOff), path));
  RETURN_IF_ERROR(CheckValueRegion(s, path));
  RETURN_IF_ERROR(CheckIndex(s, path));
  return s;
}

Status CheckFileLength(const LayerSummary& summary, uint64_t actual_length, std::string_view path) {
  if (actual_length == summary.file_length) return Status::Ok();
  const std::string sizes =
      std::to_string(actual_length) + " bytes, summary says " + std::to_string(summary.file_length);
  if (actual_length < summary.file_length) {
    return Status::Corruption(std::string(path) + " truncated: " + sizes);
  }
  return Status::Corruption(std::string(path) + " has trailing bytes: " + sizes);
}

}  // namespace pageserver::layers
