#include "timeline/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::Result;
using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Bytes = std::vector<std::byte>;

const Key kPageKey = Key::RelBlock(RelTag{1663, 5, 16384, 0}, 7);
const Key kSizeKey = Key::RelSize(RelTag{1663, 5, 16384, 0});

Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

Bytes Filled(size_t n, int v) { return Bytes(n, std::byte(v)); }

Value MustImage(const Bytes& bytes) { return Value::Image(bytes).value(); }
Value MustWrite(size_t offset, const Bytes& bytes) { return Value::Write(offset, bytes).value(); }
Value MustInit(size_t offset, const Bytes& bytes) { return Value::Init(offset, bytes).value(); }

// --- Construction and encoding ---

TEST(ValueTest, ImageEncodingIsKindByteThenBytes) {
  const Value v = MustImage(B({0xDE, 0xAD, 0xBE, 0xEF}));
  EXPECT_THAT(v.Encode(), ElementsAre(std::byte{0}, std::byte{0xDE}, std::byte{0xAD},
                                      std::byte{0xBE}, std::byte{0xEF}));
  EXPECT_EQ(v.kind(), ValueKind::kImage);
  EXPECT_TRUE(v.is_image());
  EXPECT_TRUE(v.will_init());
  EXPECT_EQ(v.offset(), 0u);
  EXPECT_EQ(v.encoded_size(), 5u);
  EXPECT_EQ(v.ToString(), "image 4 bytes");
}

TEST(ValueTest, WriteEncodingIsByteExact) {
  const Value v = MustWrite(16, B({0xAA, 0xBB}));
  EXPECT_EQ(v.Encode(), B({0x01, 0x10, 0x00, 0x02, 0x00, 0xAA, 0xBB}));
  EXPECT_FALSE(v.will_init());
  EXPECT_FALSE(v.is_image());
  EXPECT_EQ(v.offset(), 16u);
  EXPECT_EQ(v.ToString(), "write 16+2");
}

TEST(ValueTest, InitEncodingIsByteExact) {
  EXPECT_EQ(MustInit(0, {}).Encode(), B({0x02, 0x00, 0x00, 0x00, 0x00}));
  const Value v = MustInit(0x1234, B({0x77}));
  EXPECT_EQ(v.Encode(), B({0x02, 0x34, 0x12, 0x01, 0x00, 0x77}));
  EXPECT_TRUE(v.will_init());
  EXPECT_EQ(v.kind(), ValueKind::kInit);
  EXPECT_EQ(v.ToString(), "init 4660+1");
}

TEST(ValueTest, EveryKindRoundTrips) {
  const std::vector<Value> values = {
      MustImage(Filled(kPageSize, 0x5A)),  MustImage({}),
      MustImage(B({4, 0, 0, 0})),  // a relation size: 4 blocks
      MustImage(Filled(kMaxImageSize, 1)), MustWrite(0, Filled(kPageSize, 3)),
      MustWrite(kPageSize - 1, B({9})),    MustWrite(kPageSize, {}),
      MustInit(100, Filled(50, 7)),        MustInit(0, {}),
  };
  for (const Value& v : values) {
    SCOPED_TRACE(v.ToString());
    const Bytes encoded = v.Encode();
    EXPECT_EQ(encoded.size(), v.encoded_size());
    EXPECT_LE(encoded.size(), layers::kMaxValueSize);
    ASSERT_OK_AND_ASSIGN(const Value decoded, Value::Decode(encoded));
    EXPECT_EQ(decoded, v);
  }
}

TEST(ValueTest, ImageOverTheLimitIsInvalidArgument) {
  EXPECT_OK(Value::Image(Filled(kMaxImageSize, 0)));
  EXPECT_THAT(Value::Image(Filled(kMaxImageSize + 1, 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exceeds the limit")));
}

TEST(ValueTest, RecordOutsideThePageIsInvalidArgument) {
  EXPECT_THAT(Value::Write(kPageSize, B({1})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("write record range [8192, 8193)")));
  EXPECT_THAT(Value::Write(8000, Filled(200, 1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside the 8192-byte page")));
  EXPECT_THAT(Value::Init(9000, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("init record range")));
  EXPECT_THAT(Value::Write(SIZE_MAX, B({1})), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Value::Init(0, Filled(kPageSize + 1, 0)), StatusIs(StatusCode::kInvalidArgument));
}

// --- Decode rejections ---

TEST(ValueDecodeTest, EmptyInputIsCorruption) {
  EXPECT_THAT(Value::Decode({}), StatusIs(StatusCode::kCorruption, HasSubstr("empty")));
}

TEST(ValueDecodeTest, UnknownKindIsCorruption) {
  for (int kind : {3, 4, 0x80, 0xFF}) {
    EXPECT_THAT(
        Value::Decode(B({kind, 0, 0, 0, 0})),
        StatusIs(StatusCode::kCorruption, HasSubstr("unknown kind " + std::to_string(kind))));
  }
}

TEST(ValueDecodeTest, RecordShorterThanItsHeaderIsCorruption) {
  for (int kind : {1, 2}) {
    for (size_t n = 1; n < kRecordHeaderSize; ++n) {
      Bytes encoded = B({kind, 0, 0, 0});
      encoded.resize(n);
      EXPECT_THAT(Value::Decode(encoded),
                  StatusIs(StatusCode::kCorruption, HasSubstr("shorter than its 5-byte header")));
    }
  }
}

TEST(ValueDecodeTest, RangeOutsideThePageIsCorruption) {
  // offset 8000 (0x1F40), length 200 (0xC8): ends at 8200.
  Bytes encoded = B({1, 0x40, 0x1F, 0xC8, 0x00});
  encoded.resize(kRecordHeaderSize + 200);
  EXPECT_THAT(Value::Decode(encoded),
              StatusIs(StatusCode::kCorruption,
                       HasSubstr("write record range [8000, 8200) is outside the page")));
  // offset 0xFFFF, length 0.
  EXPECT_THAT(Value::Decode(B({2, 0xFF, 0xFF, 0, 0})),
              StatusIs(StatusCode::kCorruption, HasSubstr("init record range [65535, 65535)")));
}

TEST(ValueDecodeTest, EveryTruncationOfARecordIsCorruption) {
  const Bytes encoded = MustWrite(10, Filled(20, 0x33)).Encode();
  for (size_t n = 0; n < encoded.size(); ++n) {
    SCOPED_TRACE("length " + std::to_string(n));
    EXPECT_THAT(Value::Decode(std::span(encoded).first(n)), StatusIs(StatusCode::kCorruption));
  }
  EXPECT_THAT(Value::Decode(std::span(encoded).first(kRecordHeaderSize + 5)),
              StatusIs(StatusCode::kCorruption, HasSubstr("says 20 bytes, 5 follow")));
}

TEST(ValueDecodeTest, TrailingBytesAreCorruption) {
  Bytes encoded = MustInit(0, B({1, 2, 3})).Encode();
  encoded.push_back(std::byte{0});
  EXPECT_THAT(Value::Decode(encoded),
              StatusIs(StatusCode::kCorruption, HasSubstr("init record says 3 bytes, 4 follow")));
}

TEST(ValueDecodeTest, ImageOverTheLimitIsCorruption) {
  Bytes encoded(layers::kMaxValueSize + 1, std::byte{0});
  EXPECT_THAT(Value::Decode(encoded),
              StatusIs(StatusCode::kCorruption, HasSubstr("exceeds the limit")));
}

// --- Redo ---

ReconstructState History(std::vector<VersionedValue> records,
                         std::optional<std::pair<Lsn, Bytes>> base = std::nullopt) {
  return ReconstructState{std::move(base), std::move(records)};
}

TEST(ReconstructTest, ImageRecordAloneIsTheResult) {
  const Bytes page = Filled(kPageSize, 0x42);
  ASSERT_OK_AND_ASSIGN(Bytes result,
                       Reconstruct(kPageKey, History({{Lsn{0x10}, MustImage(page)}})));
  EXPECT_EQ(result, page);
}

TEST(ReconstructTest, BaseImageAloneIsTheResult) {
  const Bytes size = B({3, 0, 0, 0});
  ASSERT_OK_AND_ASSIGN(Bytes result, Reconstruct(kSizeKey, History({}, {{Lsn{0x10}, size}})));
  EXPECT_EQ(result, size);
}

TEST(ReconstructTest, WritesApplyOntoTheBaseImageInLsnOrder) {
  // Newest first: the write at 0/30 overlaps the one at 0/20 and wins.
  ReconstructState state = History(
      {
          {Lsn{0x30}, MustWrite(2, B({0xC1, 0xC2}))},
          {Lsn{0x20}, MustWrite(0, B({0xB1, 0xB2, 0xB3, 0xB4}))},
      },
      {{Lsn{0x10}, Filled(kPageSize, 0xAA)}});
  ASSERT_OK_AND_ASSIGN(Bytes result, Reconstruct(kPageKey, std::move(state)));
  Bytes expected = Filled(kPageSize, 0xAA);
  for (size_t i = 0; i < 4; ++i) expected[i] = B({0xB1, 0xB2, 0xC1, 0xC2})[i];
  EXPECT_EQ(result, expected);
}

TEST(ReconstructTest, WritesApplyOntoAnImageRecord) {
  ReconstructState state = History({
      {Lsn{0x30}, MustWrite(kPageSize - 1, B({0xEE}))},
      {Lsn{0x20}, MustImage(Filled(kPageSize, 0x11))},
  });
  ASSERT_OK_AND_ASSIGN(Bytes result, Reconstruct(kPageKey, std::move(state)));
  Bytes expected = Filled(kPageSize, 0x11);
  expected.back() = std::byte{0xEE};
  EXPECT_EQ(result, expected);
}

TEST(ReconstructTest, InitStartsFromAZeroPage) {
  ASSERT_OK_AND_ASSIGN(Bytes result,
                       Reconstruct(kPageKey, History({{Lsn{0x20}, MustInit(8, B({5, 6}))}})));
  Bytes expected = Filled(kPageSize, 0);
  expected[8] = std::byte{5};
  expected[9] = std::byte{6};
  EXPECT_EQ(result, expected);
}

TEST(ReconstructTest, InitInTheMiddleHidesOlderRecordsAndTheBase) {
  // The write at 0/20 has no base and the image at 0/18 is not a page: if
  // redo looked below the init at 0/30, it would fail.
  ReconstructState state = History(
      {
          {Lsn{0x40}, MustWrite(1, B({0x44}))},
          {Lsn{0x30}, MustInit(0, B({0x33}))},
          {Lsn{0x20}, MustWrite(0, Filled(100, 0xFF))},
          {Lsn{0x18}, MustImage(B({1, 2, 3}))},
      },
      {{Lsn{0x10}, Filled(kPageSize, 0xAA)}});
  ASSERT_OK_AND_ASSIGN(Bytes result, Reconstruct(kPageKey, std::move(state)));
  Bytes expected = Filled(kPageSize, 0);
  expected[0] = std::byte{0x33};
  expected[1] = std::byte{0x44};
  EXPECT_EQ(result, expected);
}

TEST(ReconstructTest, ImageInTheMiddleHidesOlderRecords) {
  ReconstructState state = History({
      {Lsn{0x30}, MustWrite(0, B({0x30}))},
      {Lsn{0x20}, MustImage(Filled(kPageSize, 0x20))},
      {Lsn{0x10}, MustWrite(0, B({0x10}))},  // no base below: hidden, not an error
  });
  ASSERT_OK_AND_ASSIGN(Bytes result, Reconstruct(kPageKey, std::move(state)));
  Bytes expected = Filled(kPageSize, 0x20);
  expected[0] = std::byte{0x30};
  EXPECT_EQ(result, expected);
}

TEST(ReconstructTest, WriteWithoutABaseImageNamesKeyAndLsn) {
  ReconstructState state = History({
      {Lsn{0x1'0000'0030}, MustWrite(0, B({1}))},
      {Lsn{0x1'0000'0020}, MustWrite(0, B({2}))},
  });
  EXPECT_THAT(Reconstruct(kPageKey, std::move(state)),
              StatusIs(StatusCode::kCorruption,
                       HasSubstr("redo of rel 1663/5/16384 blk 7 at 1/20: write record without a "
                                 "base image")));
}

TEST(ReconstructTest, RecordsMustBeNewestFirst) {
  EXPECT_THAT(Reconstruct(kPageKey, History({
                                        {Lsn{0x20}, MustImage(Filled(kPageSize, 0))},
                                        {Lsn{0x30}, MustWrite(0, B({1}))},
                                    })),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("at 0/30"), HasSubstr("not newest first"))));
  EXPECT_THAT(Reconstruct(kPageKey, History({
                                        {Lsn{0x20}, MustWrite(0, B({1}))},
                                        {Lsn{0x20}, MustImage(Filled(kPageSize, 0))},
                                    })),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not newest first")));
}

TEST(ReconstructTest, BaseImageMustBeOlderThanEveryRecord) {
  EXPECT_THAT(Reconstruct(kPageKey, History({{Lsn{0x20}, MustWrite(0, B({1}))}},
                                            {{Lsn{0x20}, Filled(kPageSize, 0)}})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("base image is not older than")));
}

TEST(ReconstructTest, RecordOntoANonPageValueIsCorruption) {
  ReconstructState state =
      History({{Lsn{0x20}, MustWrite(0, B({1}))}}, {{Lsn{0x10}, B({3, 0, 0, 0})}});
  EXPECT_THAT(Reconstruct(kSizeKey, std::move(state)),
              StatusIs(StatusCode::kCorruption,
                       AllOf(HasSubstr("redo of relsize 1663/5/16384 at 0/20"),
                             HasSubstr("onto a base of 4 bytes, not a page of 8192"))));
}

TEST(ReconstructTest, PageKeyWithAShortImageIsCorruption) {
  EXPECT_THAT(Reconstruct(kPageKey, History({{Lsn{0x20}, MustImage(B({1, 2}))}})),
              StatusIs(StatusCode::kCorruption, HasSubstr("page image of 2 bytes, not 8192")));
  const Key slru = Key::SlruBlock(layers::SlruKind::kClog, 0, 3);
  EXPECT_THAT(Reconstruct(slru, History({}, {{Lsn{0x20}, Filled(100, 0)}})),
              StatusIs(StatusCode::kCorruption));
}

TEST(ReconstructTest, NonPageKeysTakeImagesOfAnyLength) {
  for (const Key& key : {kSizeKey, Key::DbDir(), Key::RelDir(1663, 5)}) {
    SCOPED_TRACE(key.Describe());
    ASSERT_OK_AND_ASSIGN(Bytes result,
                         Reconstruct(key, History({{Lsn{0x20}, MustImage(B({7, 0, 0}))}})));
    EXPECT_EQ(result, B({7, 0, 0}));
  }
}

TEST(ReconstructTest, NothingToReconstructIsNotFound) {
  EXPECT_THAT(Reconstruct(kPageKey, ReconstructState{}),
              StatusIs(StatusCode::kNotFound, HasSubstr("rel 1663/5/16384 blk 7")));
}

// --- Randomized differential test against a byte-array model ---

using Page = std::array<std::byte, kPageSize>;

// The model: applies the history oldest first to a plain array. A write with
// nothing below it breaks the page until an image or init repairs it.
struct ModelPage {
  std::optional<Page> page;

  void Apply(const Value& v) {
    if (v.is_image()) {
      page.emplace();
      std::copy(v.bytes().begin(), v.bytes().end(), page->begin());
      return;
    }
    if (v.kind() == ValueKind::kInit) page.emplace(Page{});
    if (!page) return;
    for (size_t i = 0; i < v.bytes().size(); ++i) (*page)[v.offset() + i] = v.bytes()[i];
  }
};

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  for (auto& b : out) b = std::byte(rng() & 0xFF);
  return out;
}

// A random record: mostly small writes (often overlapping), some inits and images.
Value RandomValue(std::mt19937_64& rng) {
  const unsigned roll = rng() % 20;
  if (roll == 0) return MustImage(RandomBytes(rng, kPageSize));
  const size_t offset = rng() % 3 == 0 ? rng() % 64 : rng() % (kPageSize + 1);
  const size_t length = rng() % (std::min<size_t>(kPageSize - offset, 300) + 1);
  if (roll == 1) return MustInit(offset, RandomBytes(rng, length));
  return MustWrite(offset, RandomBytes(rng, length));
}

// Goes through the codec, so the differential test covers Encode/Decode too.
Value RoundTrip(const Value& v) { return Value::Decode(v.Encode()).value(); }

TEST(ReconstructTest, RandomHistoriesMatchTheModel) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  int failures = 0;
  for (int round = 0; round < 500; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ModelPage model;
    ReconstructState state;
    uint64_t lsn = 0x100;
    if (rng() % 2 == 0) {
      state.base_image = {Lsn{lsn}, RandomBytes(rng, kPageSize)};
      model.Apply(MustImage(state.base_image->second));
    }
    const size_t count = rng() % 12;
    for (size_t i = 0; i < count; ++i) {
      lsn += 1 + rng() % 0x40;
      Value v = RandomValue(rng);
      model.Apply(v);
      state.records.emplace_back(Lsn{lsn}, RoundTrip(v));
    }
    std::reverse(state.records.begin(), state.records.end());  // newest first
    const bool empty = state.records.empty() && !state.base_image;
    const std::optional<Lsn> oldest =
        state.records.empty() ? std::nullopt : std::optional(state.records.back().first);

    Result<Bytes> result = Reconstruct(kPageKey, std::move(state));
    if (empty) {
      EXPECT_THAT(result, StatusIs(StatusCode::kNotFound));
    } else if (!model.page) {
      ++failures;
      EXPECT_THAT(result, StatusIs(StatusCode::kCorruption,
                                   HasSubstr("at " + oldest->ToString() +
                                             ": write record without a base image")));
    } else {
      ASSERT_TRUE(result.has_value()) << result.error().ToString();
      ASSERT_TRUE(
          std::equal(result->begin(), result->end(), model.page->begin(), model.page->end()));
    }
  }
  EXPECT_GT(failures, 0);  // the generator reaches the error path too
}

}  // namespace
}  // namespace pageserver::timeline
