#include "layers/layer_summary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "common/crc32c.h"
#include "tests/layers/layer_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using ::testing::HasSubstr;
using Block = std::array<std::byte, kLayerBlockSize>;

// A consistent summary with every field distinct from its default.
LayerSummary SampleSummary(LayerKind kind) {
  LayerSummary s;
  s.kind = kind;
  s.tenant = test_util::TestTenant();
  s.timeline = test_util::TestTimeline();
  s.key_range = {Key::RelBlock({1663, 5, 16384, 0}, 7), Key::RelSize({1663, 5, 16384, 0})};
  s.lsn_range = kind == LayerKind::kImage ? LsnRange{Lsn{0x1000}, Lsn{0x1001}}
                                          : LsnRange{Lsn{0x1000}, Lsn{0x9000}};
  s.image_compression = Compression::kZstd;
  s.value_region_end = 3 * kLayerBlockSize + 100;
  s.index_start_block = 4;
  s.index_node_count = 5;
  s.index_root_block = 4;
  s.index_depth = 2;
  s.entry_count = 77;
  s.value_bytes = 12345;
  s.file_length = 9 * kLayerBlockSize;
  return s;
}

template <typename T>
void Put(Block& b, size_t off, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = std::byte((uint64_t{v} >> (8 * i)) & 0xFF);
}

template <typename T>
T Get(const Block& b, size_t off) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= uint64_t(std::to_integer<uint8_t>(b[off + i])) << (8 * i);
  return static_cast<T>(v);
}

void Reseal(Block& b) {
  Put<uint32_t>(b, kLayerBlockSize - 4,
                common::crc32c::Value(std::span(b).first(kLayerBlockSize - 4)));
}

TEST(LayerSummaryTest, RoundTripsBothKinds) {
  for (LayerKind kind : {LayerKind::kImage, LayerKind::kDelta}) {
    const LayerSummary s = SampleSummary(kind);
    const Block block = EncodeSummary(s);
    ASSERT_OK_AND_ASSIGN(const LayerSummary decoded, DecodeSummary(block, "x", kind));
    EXPECT_EQ(decoded, s);
    ASSERT_OK_AND_ASSIGN(const LayerSummary any, DecodeSummary(block, "x"));
    EXPECT_EQ(any, s);
  }
}

TEST(LayerSummaryTest, BytesFollowTheDocumentedTable) {
  const LayerSummary s = SampleSummary(LayerKind::kDelta);
  const Block b = EncodeSummary(s);
  EXPECT_EQ(std::memcmp(b.data(), "PSLD", 4), 0);
  EXPECT_EQ(std::memcmp(EncodeSummary(SampleSummary(LayerKind::kImage)).data(), "PSLI", 4), 0);
  EXPECT_EQ(Get<uint16_t>(b, 4), 1);
  EXPECT_EQ(Get<uint16_t>(b, 6), 160);
  EXPECT_EQ(std::memcmp(b.data() + 8, s.tenant.bytes.data(), 16), 0);
  EXPECT_EQ(std::memcmp(b.data() + 24, s.timeline.bytes.data(), 16), 0);
  EXPECT_EQ(std::memcmp(b.data() + 40, s.key_range.start.Encode().data(), 18), 0);
  EXPECT_EQ(std::memcmp(b.data() + 58, s.key_range.end.Encode().data(), 18), 0);
  EXPECT_EQ(Get<uint16_t>(b, 76), 26);
  EXPECT_EQ(Get<uint8_t>(b, 78), 1);
  EXPECT_EQ(Get<uint8_t>(b, 79), 0);
  EXPECT_EQ(Get<uint64_t>(b, 80), 0x1000u);
  EXPECT_EQ(Get<uint64_t>(b, 88), 0x9000u);
  EXPECT_EQ(Get<uint64_t>(b, 96), s.value_region_end);
  EXPECT_EQ(Get<uint64_t>(b, 104), 4u);
  EXPECT_EQ(Get<uint64_t>(b, 112), 5u);
  EXPECT_EQ(Get<uint64_t>(b, 120), 4u);
  EXPECT_EQ(Get<uint32_t>(b, 128), 2u);
  EXPECT_EQ(Get<uint32_t>(b, 132), 0u);
  EXPECT_EQ(Get<uint64_t>(b, 136), 77u);
  EXPECT_EQ(Get<uint64_t>(b, 144), 12345u);
  EXPECT_EQ(Get<uint64_t>(b, 152), 9 * kLayerBlockSize);
  for (size_t i = 160; i < kLayerBlockSize - 4; ++i) ASSERT_EQ(b[i], std::byte{0}) << i;
  EXPECT_EQ(Get<uint32_t>(b, 8188), common::crc32c::Value(std::span(b).first(8188)));
  EXPECT_EQ(Get<uint16_t>(EncodeSummary(SampleSummary(LayerKind::kImage)), 76), 18);
}

TEST(LayerSummaryTest, RejectsABlockOfTheWrongSize) {
  const Block b = EncodeSummary(SampleSummary(LayerKind::kImage));
  EXPECT_THAT(DecodeSummary(std::span(b).first(100), "f"), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeSummary({}, "f"), StatusIs(StatusCode::kCorruption));
}

TEST(LayerSummaryTest, RejectsUnknownMagic) {
  Block b = EncodeSummary(SampleSummary(LayerKind::kImage));
  b[3] = std::byte{'X'};
  Reseal(b);
  EXPECT_THAT(DecodeSummary(b, "/d/f"),
              StatusIs(StatusCode::kCorruption, HasSubstr("not a layer file")));
  Block zero{};
  EXPECT_THAT(DecodeSummary(zero, "/d/f"), StatusIs(StatusCode::kCorruption, HasSubstr("/d/f")));
}

TEST(LayerSummaryTest, FutureVersionIsUnsupportedAndZeroIsCorrupt) {
  Block b = EncodeSummary(SampleSummary(LayerKind::kDelta));
  Put<uint16_t>(b, 4, 2);
  Reseal(b);
  EXPECT_THAT(DecodeSummary(b, "/d/f", LayerKind::kDelta),
              StatusIs(StatusCode::kUnsupported, HasSubstr("newer")));
  // Unsupported even when the rest is a layout this reader cannot check.
  b[200] = std::byte{1};
  EXPECT_THAT(DecodeSummary(b, "/d/f"), StatusIs(StatusCode::kUnsupported));
  Put<uint16_t>(b, 4, 0);
  b[200] = std::byte{0};
  Reseal(b);
  EXPECT_THAT(DecodeSummary(b, "/d/f"), StatusIs(StatusCode::kCorruption));
}

TEST(LayerSummaryTest, ChecksumMismatchIsCorruption) {
  const Block good = EncodeSummary(SampleSummary(LayerKind::kImage));
  for (size_t off : {size_t{8}, size_t{100}, size_t{5000}, kLayerBlockSize - 1}) {
    Block b = good;
    b[off] ^= std::byte{0x01};
    EXPECT_THAT(DecodeSummary(b, "/d/f"), StatusIs(StatusCode::kCorruption, HasSubstr("checksum")))
        << off;
  }
}

TEST(LayerSummaryTest, WrongKindIsInvalidArgument) {
  const Block image = EncodeSummary(SampleSummary(LayerKind::kImage));
  const Block delta = EncodeSummary(SampleSummary(LayerKind::kDelta));
  EXPECT_THAT(DecodeSummary(image, "/d/f", LayerKind::kDelta),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("/d/f is an image layer")));
  EXPECT_THAT(DecodeSummary(delta, "/d/f", LayerKind::kImage),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("/d/f is a delta layer, not an image layer")));
}

struct Mutation {
  const char* name;
  LayerKind kind;
  std::function<void(Block&)> edit;
  const char* message;  // expected in the Corruption message
};

// Each consistency check, reached by editing fields and re-sealing.
std::vector<Mutation> Mutations() {
  const auto u64 = [](size_t off, uint64_t v) {
    return [=](Block& b) { Put<uint64_t>(b, off, v); };
  };
  const auto u32 = [](size_t off, uint32_t v) {
    return [=](Block& b) { Put<uint32_t>(b, off, v); };
  };
  const LayerKind kI = LayerKind::kImage;
  const LayerKind kD = LayerKind::kDelta;
  return {
      {"summary_size", kI, [](Block& b) { Put<uint16_t>(b, 6, 168); }, "summary_size"},
      {"empty key range", kI, [](Block& b) { std::memcpy(b.data() + 58, b.data() + 40, 18); },
       "empty key range"},
      {"empty lsn range", kD, u64(88, 0x1000), "empty LSN range"},
      {"lsn end zero", kD, u64(88, 0), "empty LSN range"},
      {"image two lsns", kI, u64(88, 0x1002), "not one LSN"},
      {"key width image", kI, [](Block& b) { Put<uint16_t>(b, 76, 26); }, "key width"},
      {"key width delta", kD, [](Block& b) { Put<uint16_t>(b, 76, 18); }, "key width"},
      {"compression", kI, [](Block& b) { b[78] = std::byte{2}; }, "compression"},
      {"reserved 79", kI, [](Block& b) { b[79] = std::byte{1}; }, "reserved"},
      {"reserved 132", kI, [](Block& b) { b[133] = std::byte{1}; }, "reserved"},
      {"reserved tail", kD, [](Block& b) { b[8000] = std::byte{1}; }, "reserved"},
      {"value region short", kI, u64(96, 100), "value_region_end"},
      {"value region huge", kI, u64(96, uint64_t{1} << 41), "value_region_end"},
      {"index start", kI, u64(104, 5), "index_start_block"},
      {"index start rounding", kI, u64(96, 4 * kLayerBlockSize + 1), "index_start_block"},
      {"node count zero", kI, u64(112, 0), "index_node_count"},
      {"node count huge", kI, u64(112, ~uint64_t{0}), "index_node_count"},
      {"root", kD, u64(120, 3), "index_root_block"},
      {"depth zero", kI, u32(128, 0), "index_depth"},
      {"depth 17", kI, u32(128, 17), "index_depth"},
      {"depth above nodes", kI, u32(128, 6), "index_depth"},
      {"file length", kD, u64(152, 10 * kLayerBlockSize), "file_length"},
      {"entries", kI, u64(136, 3 * kLayerBlockSize / 16 + 7), "entry_count"},
  };
}

TEST(LayerSummaryTest, EveryConsistencyCheckRejects) {
  for (const Mutation& m : Mutations()) {
    SCOPED_TRACE(m.name);
    Block b = EncodeSummary(SampleSummary(m.kind));
    m.edit(b);
    Reseal(b);
    EXPECT_THAT(DecodeSummary(b, "/d/f"),
                StatusIs(StatusCode::kCorruption,
                         ::testing::AllOf(HasSubstr("/d/f"), HasSubstr(m.message))));
  }
}

// Whatever decodes re-encodes to the same bytes (so no field is ignored or
// normalized), and nothing crashes on mutated fields.
TEST(LayerSummaryTest, MutatedFieldsDecodeExactlyOrFail) {
  const uint64_t seed = pageserver::testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  size_t decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    Block b = EncodeSummary(SampleSummary(i % 2 == 0 ? LayerKind::kImage : LayerKind::kDelta));
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      // Mostly bytes of the value fields, whose changes can stay consistent.
      const size_t off = rng() % 4 == 0 ? rng() % kSummarySizeV1 : 136 + rng() % 16;
      b[off] = std::byte(rng() & 0xFF);
    }
    Reseal(b);
    auto summary = DecodeSummary(b, "f");
    if (!summary.has_value()) continue;
    ++decoded;
    ASSERT_EQ(EncodeSummary(*summary), b) << i;
  }
  EXPECT_GT(decoded, 100u);
}

TEST(LayerSummaryTest, MostEntriesThatFitAreAccepted) {
  LayerSummary s = SampleSummary(LayerKind::kImage);
  s.entry_count = (s.value_region_end - kLayerBlockSize) / kBlobHeaderSize;
  EXPECT_OK(DecodeSummary(EncodeSummary(s), "f"));
}

TEST(LayerSummaryTest, EmptyLayerLayoutIsValid) {
  LayerSummary s;  // defaults: no values, one empty leaf
  s.key_range = KeyRange::All();
  s.lsn_range = {Lsn{5}, Lsn{6}};
  ASSERT_OK_AND_ASSIGN(const LayerSummary decoded, DecodeSummary(EncodeSummary(s), "f"));
  EXPECT_EQ(decoded, s);
}

TEST(LayerSummaryTest, FileLengthMustMatchExactly) {
  const LayerSummary s = SampleSummary(LayerKind::kDelta);
  EXPECT_OK(CheckFileLength(s, s.file_length, "f"));
  EXPECT_THAT(CheckFileLength(s, s.file_length - 1, "/d/f"),
              StatusIs(StatusCode::kCorruption, HasSubstr("truncated")));
  EXPECT_THAT(CheckFileLength(s, 0, "/d/f"), StatusIs(StatusCode::kCorruption, HasSubstr("/d/f")));
  EXPECT_THAT(CheckFileLength(s, s.file_length + 8192, "/d/f"),
              StatusIs(StatusCode::kCorruption, HasSubstr("trailing")));
}

}  // namespace
}  // namespace pageserver::layers
