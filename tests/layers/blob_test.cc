// Blob encoding (layers/blob.h): round trips over sizes, flags and
// compressions; decoding from every split of the bytes into pieces; every
// flipped bit is Corruption, never a wrong value; header rejections.

#include "layers/blob.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/crc32c.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using ::pageserver::testing::StatusIs;
using ::testing::HasSubstr;

using Bytes = std::vector<std::byte>;
using Piece = std::span<const std::byte>;

Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (std::byte& b : out) b = std::byte(rng());
  return out;
}

// Text-like data zstd shrinks well: a few words repeated with variation.
Bytes CompressibleBytes(size_t n, uint64_t seed) {
  static constexpr std::string_view kWords[] = {"page ", "tuple ", "xmin ", "lsn ", "heap "};
  std::mt19937_64 rng(seed);
  Bytes out;
  out.reserve(n + 8);
  while (out.size() < n) {
    for (char c : kWords[rng() % 5]) out.push_back(std::byte(c));
  }
  out.resize(n);
  return out;
}

Bytes ToVector(std::span<const std::byte> s) { return Bytes(s.begin(), s.end()); }

Bytes Encode(std::span<const std::byte> value, bool will_init, Compression c) {
  BlobEncoder encoder;
  auto encoded = encoder.Encode(value, will_init, c);
  EXPECT_TRUE(encoded.has_value()) << encoded.error().ToString();
  return encoded.has_value() ? ToVector(*encoded) : Bytes{};
}

common::Result<DecodedBlob> DecodeWhole(const Bytes& blob) {
  const std::array<Piece, 1> pieces{Piece(blob)};
  return DecodeBlob(pieces);
}

uint32_t Le32(const Bytes& b, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);  // tests run on little-endian hosts
  return v;
}

void SetLe32(Bytes& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

// Recomputes the checksum after a test edited a blob on purpose.
void FixChecksum(Bytes& blob) {
  SetLe32(blob, 0, common::crc32c::Value(std::span(blob).subspan(4)));
}

std::span<const std::byte, kBlobHeaderSize> HeaderOf(const Bytes& blob) {
  return std::span<const std::byte, kBlobHeaderSize>(blob.data(), kBlobHeaderSize);
}

// ---- round trips ----

struct RoundTripCase {
  size_t size;
  bool will_init;
  Compression compression;
  bool compressible;
};

std::string CaseName(const RoundTripCase& c) {
  return "size=" + std::to_string(c.size) + " will_init=" + std::to_string(c.will_init) + " " +
         std::string(CompressionName(c.compression)) +
         (c.compressible ? " compressible" : " random");
}

void CheckRoundTrip(const RoundTripCase& c) {
  SCOPED_TRACE(CaseName(c));
  const Bytes value = c.compressible ? CompressibleBytes(c.size, c.size) : RandomBytes(c.size, 7);
  const Bytes blob = Encode(value, c.will_init, c.compression);
  ASSERT_GE(blob.size(), kBlobHeaderSize);
  const std::array<Piece, 1> pieces{Piece(blob)};
  ASSERT_OK_AND_ASSIGN(const BlobHeader header, ReadBlobHeader(pieces));
  EXPECT_EQ(header.decoded_len, c.size);
  EXPECT_EQ(header.stored_len + kBlobHeaderSize, blob.size());
  EXPECT_EQ(header.will_init, c.will_init);
  // zstd is kept only when strictly smaller.
  if (header.compressed) {
    EXPECT_LT(header.stored_len, header.decoded_len);
  }
  if (c.compression == Compression::kNone || !c.compressible) {
    EXPECT_FALSE(header.compressed);
  }
  if (c.compression == Compression::kZstd && c.compressible && c.size >= 8192) {
    EXPECT_TRUE(header.compressed);
  }

  ASSERT_OK_AND_ASSIGN(const DecodedBlob decoded, DecodeBlob(pieces));
  EXPECT_EQ(decoded.value, value);
  EXPECT_EQ(decoded.will_init, c.will_init);
  EXPECT_EQ(decoded.was_compressed, header.compressed);
  Bytes into(c.size);
  ASSERT_OK(DecodeBlobInto(pieces, into));
  EXPECT_EQ(into, value);
}

TEST(BlobTest, RoundTripsEverySizeFlagAndCompression) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{8192}, kMaxValueSize}) {
    for (bool will_init : {false, true}) {
      for (Compression c : {Compression::kNone, Compression::kZstd}) {
        for (bool compressible : {false, true}) {
          CheckRoundTrip({size, will_init, c, compressible});
        }
      }
    }
  }
}

// The documented layout, byte for byte.
TEST(BlobTest, OnDiskLayoutIsAsDocumented) {
  const Bytes value{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  const Bytes blob = Encode(value, /*will_init=*/true, Compression::kNone);
  ASSERT_EQ(blob.size(), 19u);
  EXPECT_EQ(Le32(blob, 0), common::crc32c::Value(std::span(blob).subspan(4)));
  EXPECT_EQ(Le32(blob, 4), 3u);
  EXPECT_EQ(Le32(blob, 8), 3u);
  EXPECT_EQ(blob[12], std::byte{1});
  EXPECT_EQ(blob[13], std::byte{0});
  EXPECT_EQ(blob[14], std::byte{0});
  EXPECT_EQ(blob[15], std::byte{0});
  EXPECT_EQ(ToVector(std::span(blob).subspan(16)), value);

  const Bytes z = Encode(CompressibleBytes(8192, 1), false, Compression::kZstd);
  EXPECT_EQ(z[12], std::byte{2});
  EXPECT_EQ(Le32(z, 8), 8192u);
  EXPECT_EQ(Le32(z, 4) + kBlobHeaderSize, z.size());
}

TEST(BlobTest, EncoderReusesItsBufferAcrossCalls) {
  BlobEncoder encoder;
  const Bytes big = CompressibleBytes(20000, 3);
  const Bytes small = RandomBytes(10, 4);
  for (int round = 0; round < 3; ++round) {
    for (const Bytes* v : {&big, &small}) {
      for (Compression c : {Compression::kZstd, Compression::kNone}) {
        ASSERT_OK_AND_ASSIGN(const auto encoded, encoder.Encode(*v, round == 1, c));
        const Bytes copy = ToVector(encoded);
        ASSERT_OK_AND_ASSIGN(const DecodedBlob decoded, DecodeWhole(copy));
        EXPECT_EQ(decoded.value, *v);
        EXPECT_EQ(decoded.will_init, round == 1);
      }
    }
  }
}

TEST(BlobTest, ValueOverTheMaximumIsInvalidArgument) {
  BlobEncoder encoder;
  const Bytes value(kMaxValueSize + 1);
  EXPECT_THAT(encoder.Encode(value, false, Compression::kZstd),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exceeds")));
}

TEST(BlobTest, DestinationOfTheWrongSizeIsInvalidArgument) {
  const Bytes blob = Encode(RandomBytes(100, 1), false, Compression::kNone);
  const std::array<Piece, 1> pieces{Piece(blob)};
  Bytes small(99);
  Bytes large(101);
  EXPECT_THAT(DecodeBlobInto(pieces, small), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeBlobInto(pieces, large), StatusIs(StatusCode::kInvalidArgument));
}

// ---- pieces ----

void ExpectDecodes(const std::vector<Piece>& pieces, const Bytes& value) {
  auto decoded = DecodeBlob(pieces);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  ASSERT_EQ(decoded->value, value);
  Bytes into(value.size());
  ASSERT_OK(DecodeBlobInto(pieces, into));
  ASSERT_EQ(into, value);
  ASSERT_OK(ReadBlobHeader(pieces));
}

struct PieceCase {
  Bytes value;
  Compression compression;
};

std::vector<PieceCase> PieceCases() {
  return {{RandomBytes(200, 1), Compression::kNone},
          {CompressibleBytes(2000, 2), Compression::kZstd},
          {RandomBytes(8192, 3), Compression::kNone},
          {CompressibleBytes(8192, 4), Compression::kZstd},
          {CompressibleBytes(140000, 5), Compression::kZstd},  // two zstd blocks
          {Bytes{}, Compression::kNone}};
}

// Splits to try for a blob of `size` bytes: all of them for small blobs; for
// large values (each decode writes the whole value) every split in the first
// and last 64 bytes and about 128 through the middle.
std::vector<size_t> SplitPoints(size_t size, size_t value_size) {
  std::vector<size_t> splits;
  const size_t stride = value_size > 100000 ? std::max<size_t>(size / 128, 1) : 1;
  for (size_t split = 0; split <= size; ++split) {
    if (split > 64 && split + 64 < size) split += stride - 1;
    splits.push_back(std::min(split, size));
  }
  return splits;
}

TEST(BlobTest, EverySplitIntoTwoPiecesDecodesIdentically) {
  for (const PieceCase& c : PieceCases()) {
    const Bytes blob = Encode(c.value, false, c.compression);
    SCOPED_TRACE("value " + std::to_string(c.value.size()) + " blob " +
                 std::to_string(blob.size()));
    const Piece whole(blob);
    for (size_t split : SplitPoints(blob.size(), c.value.size())) {
      ExpectDecodes({whole.first(split), whole.subspan(split)}, c.value);
    }
  }
}

TEST(BlobTest, ThreePieceSplitsIncludingEmptyPiecesDecodeIdentically) {
  std::mt19937_64 rng(42);
  for (const PieceCase& c : PieceCases()) {
    const Bytes blob = Encode(c.value, true, c.compression);
    const Piece whole(blob);
    for (int i = 0; i < 200; ++i) {
      size_t a = rng() % (blob.size() + 1);
      size_t b = rng() % (blob.size() + 1);
      if (i % 4 == 0) a = rng() % (kBlobHeaderSize + 1);  // inside the header
      if (a > b) std::swap(a, b);
      SCOPED_TRACE("split " + std::to_string(a) + "," + std::to_string(b));
      ExpectDecodes({whole.first(a), whole.subspan(a, b - a), whole.subspan(b)}, c.value);
    }
    // Many tiny pieces, with empty ones between.
    std::vector<Piece> tiny;
    for (size_t at = 0; at < std::min<size_t>(blob.size(), 64); ++at) {
      tiny.push_back(whole.subspan(at, 1));
      tiny.push_back(whole.subspan(at, 0));
    }
    if (blob.size() > 64) tiny.push_back(whole.subspan(64));
    ExpectDecodes(tiny, c.value);
  }
}

// Regression (found by blob_fuzz): an empty piece with a null data pointer,
// and an empty value decoded into a null destination, must not reach memcpy
// with a null pointer (UBSan reports it even for 0 bytes).
TEST(BlobTest, NullEmptyPiecesAndEmptyDestinationAreFine) {
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    const Bytes blob = Encode({}, false, c);
    const Piece whole(blob);
    const std::vector<Piece> pieces{Piece(), whole.first(3), Piece(), whole.subspan(3), Piece()};
    ASSERT_OK_AND_ASSIGN(DecodedBlob decoded, DecodeBlob(pieces));
    EXPECT_TRUE(decoded.value.empty());
    EXPECT_OK(DecodeBlobInto(pieces, std::span<std::byte>()));
  }
  const std::vector<Piece> only_null{Piece(), Piece()};
  EXPECT_THAT(DecodeBlob(only_null), StatusIs(StatusCode::kCorruption));
}

// ---- corruption ----

void ExpectEveryBitFlipIsCorruption(const Bytes& blob, size_t decoded_len) {
  for (size_t at = 0; at < blob.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = blob;
      bad[at] ^= std::byte(1 << bit);
      SCOPED_TRACE("byte " + std::to_string(at) + " bit " + std::to_string(bit));
      const std::array<Piece, 2> pieces{Piece(bad).first(at), Piece(bad).subspan(at)};
      ASSERT_THAT(DecodeBlob(pieces), StatusIs(StatusCode::kCorruption));
      Bytes into(decoded_len);
      ASSERT_THAT(DecodeBlobInto(pieces, into), StatusIs(StatusCode::kCorruption));
    }
  }
}

TEST(BlobTest, EveryFlippedBitIsCorruptionNeverWrongData) {
  const Bytes raw = Encode(RandomBytes(100, 9), false, Compression::kNone);
  ExpectEveryBitFlipIsCorruption(raw, 100);
  const Bytes value = CompressibleBytes(400, 9);
  const Bytes z = Encode(value, true, Compression::kZstd);
  ASSERT_EQ(z[12], std::byte{3});  // will_init | zstd
  ExpectEveryBitFlipIsCorruption(z, value.size());
}

TEST(BlobTest, ChecksumMismatchIsNamed) {
  Bytes blob = Encode(RandomBytes(50, 1), false, Compression::kNone);
  blob[30] ^= std::byte{0x10};
  EXPECT_THAT(DecodeWhole(blob), StatusIs(StatusCode::kCorruption, HasSubstr("checksum mismatch")));
}

// Each edit keeps a valid checksum, so the header check itself must reject.
TEST(BlobTest, HeaderRejections) {
  const Bytes good = Encode(RandomBytes(32, 1), false, Compression::kNone);
  auto expect_rejected = [](Bytes blob, const std::string& what) {
    FixChecksum(blob);
    SCOPED_TRACE(what);
    EXPECT_THAT(ParseBlobHeader(HeaderOf(blob)), StatusIs(StatusCode::kCorruption));
    const std::array<Piece, 1> pieces{Piece(blob)};
    EXPECT_THAT(ReadBlobHeader(pieces), StatusIs(StatusCode::kCorruption));
    EXPECT_THAT(DecodeBlob(pieces), StatusIs(StatusCode::kCorruption));
  };
  for (int bit = 2; bit < 8; ++bit) {
    Bytes b = good;
    b[12] = std::byte(1 << bit);
    expect_rejected(b, "unknown flag bit " + std::to_string(bit));
  }
  for (size_t at : {13, 14, 15}) {
    Bytes b = good;
    b[at] = std::byte{1};
    expect_rejected(b, "reserved byte " + std::to_string(at));
  }
  Bytes too_large = good;
  SetLe32(too_large, 8, kMaxValueSize + 1);
  too_large[12] = std::byte{2};
  expect_rejected(too_large, "decoded_len over the maximum");
  Bytes differ = good;
  SetLe32(differ, 8, 31);
  expect_rejected(differ, "uncompressed lengths differ");
  Bytes not_smaller = good;
  not_smaller[12] = std::byte{2};
  expect_rejected(not_smaller, "compressed but not smaller");
  Bytes zero_compressed = Encode({}, false, Compression::kNone);
  zero_compressed[12] = std::byte{2};
  expect_rejected(zero_compressed, "compressed empty value");
}

TEST(BlobTest, PiecesOfTheWrongTotalSizeAreCorruption) {
  const Bytes good = Encode(RandomBytes(32, 1), false, Compression::kNone);
  Bytes longer = good;
  longer.push_back(std::byte{0});
  const Piece whole(good);
  const Piece shorter = whole.first(good.size() - 1);
  for (Piece p : {Piece(longer), shorter, whole.first(kBlobHeaderSize)}) {
    const std::array<Piece, 1> pieces{p};
    EXPECT_THAT(ReadBlobHeader(pieces), StatusIs(StatusCode::kCorruption, HasSubstr("length")));
    EXPECT_THAT(DecodeBlob(pieces), StatusIs(StatusCode::kCorruption));
  }
  // Shorter than the header itself, even split.
  const std::array<Piece, 2> split{whole.first(5), whole.subspan(5, 10)};
  EXPECT_THAT(ReadBlobHeader(split), StatusIs(StatusCode::kCorruption, HasSubstr("header")));
  EXPECT_THAT(DecodeBlob(split), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeBlob(BlobPieces{}), StatusIs(StatusCode::kCorruption));
}

// A zstd payload that checksums correctly but is not what the header says.
TEST(BlobTest, ZstdPayloadDisagreeingWithTheHeaderIsCorruption) {
  const Bytes value = CompressibleBytes(5000, 1);
  const Bytes good = Encode(value, false, Compression::kZstd);
  ASSERT_EQ(good[12], std::byte{2});
  const uint32_t stored = Le32(good, 4);

  Bytes bigger = good;  // header claims one more decoded byte
  SetLe32(bigger, 8, 5001);
  FixChecksum(bigger);
  EXPECT_THAT(DecodeWhole(bigger), StatusIs(StatusCode::kCorruption));

  Bytes smaller = good;  // header claims one fewer
  SetLe32(smaller, 8, 4999);
  FixChecksum(smaller);
  EXPECT_THAT(DecodeWhole(smaller), StatusIs(StatusCode::kCorruption));

  Bytes truncated = good;  // frame cut short
  truncated.pop_back();
  SetLe32(truncated, 4, stored - 1);
  FixChecksum(truncated);
  EXPECT_THAT(DecodeWhole(truncated), StatusIs(StatusCode::kCorruption));

  // Two frames back to back: bytes after the end of the first.
  const Bytes small = Encode(CompressibleBytes(1000, 2), false, Compression::kZstd);
  Bytes two = good;
  two.insert(two.end(), small.begin() + kBlobHeaderSize, small.end());
  SetLe32(two, 4, uint32_t(two.size() - kBlobHeaderSize));
  FixChecksum(two);
  EXPECT_THAT(DecodeWhole(two), StatusIs(StatusCode::kCorruption));

  Bytes garbage = good;  // not a zstd frame at all
  for (size_t i = kBlobHeaderSize; i < garbage.size(); ++i) garbage[i] = std::byte(i * 7);
  FixChecksum(garbage);
  EXPECT_THAT(DecodeWhole(garbage), StatusIs(StatusCode::kCorruption, HasSubstr("zstd")));

  // The same decoder context is fine after all those errors.
  ASSERT_OK_AND_ASSIGN(const DecodedBlob decoded, DecodeWhole(good));
  EXPECT_EQ(decoded.value, value);
}

TEST(BlobTest, DecodesConcurrentlyFromManyThreads) {
  const Bytes value = CompressibleBytes(30000, 8);
  const Bytes blob = Encode(value, false, Compression::kZstd);
  std::vector<std::thread> threads;
  std::array<int, 4> failures{};
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      for (size_t split = 0; split < 300; ++split) {
        const std::array<Piece, 2> pieces{Piece(blob).first(split), Piece(blob).subspan(split)};
        auto decoded = DecodeBlob(pieces);
        if (!decoded.has_value() || decoded->value != value) ++failures[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, (std::array<int, 4>{}));
}

// ---- compression names ----

TEST(BlobTest, ParseCompression) {
  ASSERT_OK_AND_ASSIGN(const Compression none, ParseCompression("none"));
  EXPECT_EQ(none, Compression::kNone);
  ASSERT_OK_AND_ASSIGN(const Compression zstd, ParseCompression("zstd"));
  EXPECT_EQ(zstd, Compression::kZstd);
  for (std::string_view bad : {"", "ZSTD", "lz4", "zstd ", "gzip"}) {
    EXPECT_THAT(ParseCompression(bad),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("'" + std::string(bad) + "'")));
  }
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    ASSERT_OK_AND_ASSIGN(const Compression parsed, ParseCompression(CompressionName(c)));
    EXPECT_EQ(parsed, c);
  }
}

}  // namespace
}  // namespace pageserver::layers
