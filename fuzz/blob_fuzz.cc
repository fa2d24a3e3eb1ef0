// libFuzzer target for the blob decoder (layers/blob.h): arbitrary bytes as a
// blob, split into 1-3 pieces at fuzzer-chosen points, through
// ReadBlobHeader, DecodeBlob and DecodeBlobInto.
//
// Input: byte 0 selects the mode, bytes 1-4 the split points (two u16,
// taken modulo the blob size + 1), the rest is the blob.
//   mode bits 0-1  pieces - 1 (3 counts as 3 pieces)
//   mode bit 2     fix up stored_len and the checksum, so the input passes
//                  the cheap checks and reaches payload decoding (zstd)
//   mode bit 3     with bit 2: also set the zstd flag
//
// Properties checked (a violation traps): decoding never depends on where
// the pieces are split; a decoded blob has the header's length and flags, an
// uncompressed one is its payload, and it re-encodes to a blob that decodes
// to the same value. Errors are fine; crashes, leaks and UB are not.
//
// Built by the fuzz preset (fuzz/CMakeLists.txt), run by scripts/fuzz.sh.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/crc32c.h"
#include "common/status.h"
#include "layers/blob.h"

namespace {

using pageserver::layers::BlobEncoder;
using pageserver::layers::BlobHeader;
using pageserver::layers::BlobPieces;
using pageserver::layers::Compression;
using pageserver::layers::DecodedBlob;
using pageserver::layers::kBlobHeaderSize;

using Piece = std::span<const std::byte>;

constexpr size_t kControlBytes = 5;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void StoreLe32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}

// Mode bit 2: make stored_len and the checksum agree with the bytes.
void FixUp(std::vector<std::byte>& blob, bool zstd) {
  if (blob.size() < kBlobHeaderSize) return;
  StoreLe32(&blob[4], static_cast<uint32_t>(blob.size() - kBlobHeaderSize));
  if (zstd) blob[12] |= std::byte{2};
  const uint32_t crc = pageserver::common::crc32c::Value(std::span(blob).subspan(4));
  StoreLe32(&blob[0], crc);
}

struct Split {
  std::array<Piece, 3> pieces;
  size_t count = 0;
  BlobPieces view() const { return BlobPieces(pieces.data(), count); }
};

Split SplitBlob(const std::vector<std::byte>& blob, uint8_t mode, uint16_t s1, uint16_t s2) {
  const Piece whole(blob);
  size_t a = s1 % (blob.size() + 1);
  size_t b = s2 % (blob.size() + 1);
  if (a > b) std::swap(a, b);
  switch (mode & 3) {
    case 0:
      return {{whole}, 1};
    case 1:
      return {{whole.first(a), whole.subspan(a)}, 2};
    default:
      return {{whole.first(a), whole.subspan(a, b - a), whole.subspan(b)}, 3};
  }
}

bool SameStatus(const pageserver::common::Status& x, const pageserver::common::Status& y) {
  return x.code() == y.code();
}

void CheckDecoded(const DecodedBlob& d, const BlobHeader& h, const std::vector<std::byte>& blob) {
  Check(d.value.size() == h.decoded_len);
  Check(d.will_init == h.will_init && d.was_compressed == h.compressed);
  if (!h.compressed) {
    Check(d.value.empty() ||
          std::memcmp(d.value.data(), blob.data() + kBlobHeaderSize, d.value.size()) == 0);
  }
  BlobEncoder encoder;
  auto encoded = encoder.Encode(d.value, d.will_init, Compression::kZstd);
  Check(encoded.has_value());
  const std::array<Piece, 1> again{*encoded};
  auto round = pageserver::layers::DecodeBlob(again);
  Check(round.has_value() && round->value == d.value && round->will_init == d.will_init);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kControlBytes) return 0;
  const uint8_t mode = data[0];
  const uint16_t s1 = static_cast<uint16_t>(data[1] | data[2] << 8);
  const uint16_t s2 = static_cast<uint16_t>(data[3] | data[4] << 8);
  std::vector<std::byte> blob(size - kControlBytes);
  if (!blob.empty()) std::memcpy(blob.data(), data + kControlBytes, blob.size());
  if (mode & 4) FixUp(blob, (mode & 8) != 0);

  const Split split = SplitBlob(blob, mode, s1, s2);
  const std::array<Piece, 1> whole{Piece(blob)};

  auto header = pageserver::layers::ReadBlobHeader(split.view());
  auto header_whole = pageserver::layers::ReadBlobHeader(whole);
  Check(header.has_value() == header_whole.has_value());
  if (!header.has_value()) Check(SameStatus(header.error(), header_whole.error()));

  auto decoded = pageserver::layers::DecodeBlob(split.view());
  auto decoded_whole = pageserver::layers::DecodeBlob(whole);
  Check(decoded.has_value() == decoded_whole.has_value());
  if (!decoded.has_value()) {
    Check(SameStatus(decoded.error(), decoded_whole.error()));
    return 0;
  }
  Check(header.has_value() && decoded->value == decoded_whole->value);
  CheckDecoded(*decoded, *header, blob);

  std::vector<std::byte> into(header->decoded_len);
  Check(pageserver::layers::DecodeBlobInto(split.view(), into).ok());
  Check(into == decoded->value);
  return 0;
}
