#pragma once

// Value: what a layer stores for one (key, LSN), and redo: turning a key's
// history into the bytes a reader asked for.
//
// A value is either
//   - an image: the whole value of the key at that LSN. For page keys (relation
//     and SLRU blocks) exactly kPageSize bytes; for other keys (relation size:
//     u32 nblocks little-endian, directories, SLRU segment size, ...) any length
//     up to kMaxImageSize; or
//   - a record: one page operation, applied in LSN order onto a kPageSize page:
//       Write  writes `bytes` at `offset` of the page below it (needs a base);
//       Init   starts from a zero page, then writes `bytes` at `offset`.
// An image or an Init ends the history of a key (will_init() is true): a read
// never looks below it. This is the flag layers keep in their index (blob.h,
// delta_layer.h) so the read path stops walking without reading data.
//
// Encoding (RFC.md "Values"; little-endian integers):
//
//   image   offset  size  field
//           0       1     kind = 0
//           1       n     the image bytes (n <= kMaxImageSize; n may be 0)
//
//   write / offset  size  field
//   init    0       1     kind = 1 (write) or 2 (init)
//           1       2     page offset (u16)
//           3       2     length L (u16)
//           5       L     bytes to write at [offset, offset + L)
//
// Decode rejects, as Corruption naming what is wrong: an empty input, an
// unknown kind, an image longer than kMaxImageSize, a record shorter than its
// 5-byte header, offset + L > 8192, and a record whose input is not exactly
// 5 + L bytes (truncated or trailing).
// The encoding of a value is at most layers::kMaxValueSize bytes, so every
// value fits in one blob.
//
// Examples:
//   Value::Image(page)               -> 00 <8192 page bytes>
//   Value::Write(16, {AA, BB})       -> 01 10 00 02 00 AA BB
//   Value::Init(0, {})               -> 02 00 00 00 00          (a zero page)
//
// Thread-safety: Value and ReconstructState are plain values; Reconstruct is
// a pure function.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "layers/blob.h"
#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::timeline {

// Postgres' BLCKSZ: the size of every relation and SLRU page.
inline constexpr size_t kPageSize = 8192;
// Bytes before a record's payload: kind, offset, length.
inline constexpr size_t kRecordHeaderSize = 5;
// The largest image: its encoding (kind byte + bytes) must fit in a blob.
inline constexpr size_t kMaxImageSize = layers::kMaxValueSize - 1;

enum class ValueKind : uint8_t { kImage = 0, kWrite = 1, kInit = 2 };

class Value {
 public:
  // InvalidArgument when bytes.size() > kMaxImageSize. The length is not
  // checked against any key here; Reconstruct checks page keys.
  static common::Result<Value> Image(std::span<const std::byte> bytes);
  // A byte-range write at `offset` of the page below. InvalidArgument when
  // offset + bytes.size() > kPageSize. An empty write is a valid no-op.
  static common::Result<Value> Write(size_t offset, std::span<const std::byte> bytes);
  // A zero page with `bytes` at `offset`. InvalidArgument as Write.
  static common::Result<Value> Init(size_t offset, std::span<const std::byte> bytes);

  // Parses an encoding (see the header comment). The result owns a copy of
  // the bytes; `encoded` may be freed afterwards.
  static common::Result<Value> Decode(std::span<const std::byte> encoded);
  std::vector<std::byte> Encode() const;
  size_t encoded_size() const;

  ValueKind kind() const { return kind_; }
  bool is_image() const { return kind_ == ValueKind::kImage; }
  // True for images and Init records: older history is not needed.
  bool will_init() const { return kind_ != ValueKind::kWrite; }
  // The page offset of a record; 0 for images.
  size_t offset() const { return offset_; }
  // The image bytes, or the record's bytes to write. Valid while *this lives
  // and is not moved from.
  std::span<const std::byte> bytes() const { return bytes_; }
  // Moves the bytes out (for redo, which adopts an image without copying).
  std::vector<std::byte> TakeBytes() && { return std::move(bytes_); }

  // For messages and test output: "image 8192 bytes", "write 16+2", "init 0+8192".
  std::string ToString() const;

  bool operator==(const Value&) const = default;

 private:
  Value(ValueKind kind, uint16_t offset, std::vector<std::byte> bytes)
      : kind_(kind), offset_(offset), bytes_(std::move(bytes)) {}
  static common::Result<Value> Record(ValueKind kind, size_t offset,
                                      std::span<const std::byte> bytes);
  static common::Result<Value> DecodeRecord(ValueKind kind, std::span<const std::byte> encoded);

  ValueKind kind_ = ValueKind::kImage;
  uint16_t offset_ = 0;
  std::vector<std::byte> bytes_;
};

// One entry of a key's history: the value written at an LSN.
using VersionedValue = std::pair<layers::Lsn, Value>;

// What the read path collected for one key, as the input of redo.
//
// Ownership: the state owns its bytes; Reconstruct consumes it, so the base
// image and an image record become the result without a copy.
struct ReconstructState {
  // A materialized value of the key below every record (e.g. from an image
  // layer or a cache), or none.
  std::optional<std::pair<layers::Lsn, std::vector<std::byte>>> base_image;
  // Newest first, as DeltaLayerReader::GetHistory returns them.
  std::vector<VersionedValue> records;
};

// Applies a key's history and returns its value at the newest record's LSN
// (or the base image when there are no records).
//
// Start: the newest will_init record (records older than it, and the base
// image, are hidden and ignored): an image is taken as is, an Init starts
// from a zero page. Without a will_init record, the base image. Then every
// newer record is applied, oldest first; overlapping writes: the later wins.
//
// Errors, naming the key (Key::Describe) and the record's LSN:
//   InvalidArgument  records not in strictly decreasing LSN order, or a base
//                    image whose LSN is not below every record's.
//   Corruption       "redo of <key> at <lsn>: write record without a base
//                    image": the oldest record is a Write and there is no
//                    base image, i.e. the stored history of the key is
//                    incomplete. Never a made-up (zero) page.
//   Corruption       a record applied onto a value that is not kPageSize
//                    bytes, or a page key (relation or SLRU block) whose
//                    result is not kPageSize bytes.
//   NotFound         neither a base image nor records.
common::Result<std::vector<std::byte>> Reconstruct(const layers::Key& key,
                                                   ReconstructState&& state);

}  // namespace pageserver::timeline
