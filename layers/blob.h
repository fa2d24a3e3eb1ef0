#pragma once

// Blob encoding: how one value (a page image or a record) is stored in the
// value region of a layer file. Every blob is self-checking: its checksum
// covers its header and payload and is verified on every decode, so a flipped
// bit on disk becomes Corruption, never a wrong page.
//
// On-disk layout (little-endian integers; RFC.md "Blob"):
//
//   offset  size  field
//   0       4     crc32c of bytes [4, 16 + stored_len)
//   4       4     stored_len: payload bytes as stored
//   8       4     decoded_len: payload bytes after decompression
//                 (== stored_len when not compressed)
//   12      1     flags: bit 0 will_init, bit 1 zstd; other bits must be 0
//   13      3     reserved, must be 0
//   16      stored_len  payload
//
// Blobs are packed back to back with no padding; the index entry that points
// at a blob also records its total length (BlobRef, vectored_read.h), so a
// reader knows the extent to read before reading it. A blob's total length
// must equal 16 + stored_len, or the blob is Corruption.
//
// Compression: with Compression::kZstd the payload is zstd-compressed (level
// kZstdLevel) and kept compressed only when strictly smaller; otherwise it is
// stored raw with the zstd flag clear. Values larger than kMaxValueSize are
// rejected (the largest value the engine stores is an 8 KiB page plus a
// record header; the bound keeps a corrupt header from asking for gigabytes).
//
// Thread-safety: BlobEncoder is single-threaded (one per writer). The decode
// functions are thread-safe (each thread keeps its own zstd context).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pageserver::layers {

inline constexpr size_t kBlobHeaderSize = 16;
inline constexpr size_t kMaxValueSize = 1 << 20;  // 1 MiB
inline constexpr int kZstdLevel = 1;  // fast: layer writes are on the ingest/compaction path

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

// Config `image_compression`: "none" | "zstd". InvalidArgument naming the text otherwise.
common::Result<Compression> ParseCompression(std::string_view text);
std::string_view CompressionName(Compression c);

struct BlobHeader {
  uint32_t stored_len = 0;
  uint32_t decoded_len = 0;
  bool will_init = false;
  bool compressed = false;
};

// Parses (does not verify the checksum of) a header. Corruption for unknown
// flag bits, nonzero reserved bytes, decoded_len > kMaxValueSize, an
// uncompressed blob whose lengths differ, or a compressed one whose stored
// length is not below its decoded length.
common::Result<BlobHeader> ParseBlobHeader(std::span<const std::byte, kBlobHeaderSize> bytes);

class BlobEncoder {
 public:
  BlobEncoder();
  ~BlobEncoder();
  BlobEncoder(const BlobEncoder&) = delete;
  BlobEncoder& operator=(const BlobEncoder&) = delete;

  // Encodes `value` as one blob. The returned bytes live in the encoder and
  // are valid until the next Encode. InvalidArgument when value.size() > kMaxValueSize.
  common::Result<std::span<const std::byte>> Encode(std::span<const std::byte> value,
                                                    bool will_init, Compression compression);

 private:
  struct ZstdState;
  std::unique_ptr<ZstdState> zstd_;
  std::vector<std::byte> scratch_;
};

// A blob's on-disk bytes, possibly split across several read buffers (a
// blob can straddle two planned reads, vectored_read.h): the concatenation of
// the pieces is the blob, header first.
using BlobPieces = std::span<const std::span<const std::byte>>;

// Total size of the pieces.
size_t BlobPiecesSize(BlobPieces pieces);

// Parses the header (which may itself straddle pieces). Checks as ParseBlobHeader
// plus Corruption when BlobPiecesSize(pieces) != 16 + stored_len.
common::Result<BlobHeader> ReadBlobHeader(BlobPieces pieces);

// Verifies the checksum and writes the decoded payload into `dst`, copying
// (or decompressing) each byte exactly once. Corruption on checksum mismatch,
// a bad header, a zstd error or a decoded size other than the header's;
// InvalidArgument when dst.size() != decoded_len.
common::Status DecodeBlobInto(BlobPieces pieces, std::span<std::byte> dst);

struct DecodedBlob {
  bool will_init = false;
  bool was_compressed = false;
  std::vector<std::byte> value;
};
// As DecodeBlobInto into a new vector of decoded_len bytes.
common::Result<DecodedBlob> DecodeBlob(BlobPieces pieces);

}  // namespace pageserver::layers
