#include "timeline/metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Lsn;
using layers::TimelineId;
using pageserver::testing::ReadWholeFile;
using pageserver::testing::StatusIs;
using pageserver::testing::WriteWholeFile;
using ::testing::AnyOf;
using ::testing::HasSubstr;

using Bytes = std::vector<std::byte>;

TimelineId SampleAncestor() {
  return TimelineId::ParseHex("ad50847381e248feaac9876cc71ae418").value();
}

// Every field set and distinct, so a field written to the wrong place shows.
TimelineMetadata BranchMetadata() {
  TimelineMetadata m;
  m.disk_consistent_lsn = Lsn{0x16B374D848};
  m.prev_record_lsn = Lsn{0x16B374D810};
  m.ancestor_timeline = SampleAncestor();
  m.ancestor_lsn = Lsn{0x1500000028};
  m.latest_gc_cutoff_lsn = Lsn{0x1400000000};
  m.initdb_lsn = Lsn{0x169AD58};
  m.pg_version = 16;
  return m;
}

// A root timeline just created: no ancestor, no previous record, nothing on disk yet.
TimelineMetadata RootMetadata() {
  TimelineMetadata m;
  m.initdb_lsn = Lsn{0x169AD58};
  m.latest_gc_cutoff_lsn = Lsn{0x169AD58};
  m.pg_version = 17;
  return m;
}

template <typename T>
T GetLe(const MetadataBlock& b, size_t off) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= uint64_t{std::to_integer<uint8_t>(b[off + i])} << (8 * i);
  return static_cast<T>(v);
}

template <typename T>
void PutLe(MetadataBlock& b, size_t off, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = std::byte((uint64_t{v} >> (8 * i)) & 0xFF);
}

void Reseal(MetadataBlock& b) {
  PutLe<uint32_t>(b, kMetadataSize - 4,
                  common::crc32c::Value(std::span(b).first(kMetadataSize - 4)));
}

// --- Encoding ---

TEST(MetadataTest, RoundTrips) {
  for (const TimelineMetadata& m : {BranchMetadata(), RootMetadata()}) {
    ASSERT_OK_AND_ASSIGN(const MetadataBlock block, m.Encode());
    ASSERT_OK_AND_ASSIGN(const TimelineMetadata decoded, TimelineMetadata::Decode(block));
    EXPECT_EQ(decoded, m);
  }
}

TEST(MetadataTest, LayoutIsByteExact) {
  ASSERT_OK_AND_ASSIGN(const MetadataBlock b, BranchMetadata().Encode());
  EXPECT_EQ(std::memcmp(b.data(), "PSTM", 4), 0);
  EXPECT_EQ(GetLe<uint16_t>(b, 4), 1u);
  EXPECT_EQ(GetLe<uint16_t>(b, 6), 72u);
  EXPECT_EQ(GetLe<uint64_t>(b, 8), 0x16B374D848u);
  EXPECT_EQ(GetLe<uint64_t>(b, 16), 0x16B374D810u);
  EXPECT_EQ(std::memcmp(b.data() + 24, SampleAncestor().bytes.data(), 16), 0);
  EXPECT_EQ(GetLe<uint64_t>(b, 40), 0x1500000028u);
  EXPECT_EQ(GetLe<uint64_t>(b, 48), 0x1400000000u);
  EXPECT_EQ(GetLe<uint64_t>(b, 56), 0x169AD58u);
  EXPECT_EQ(GetLe<uint32_t>(b, 64), 16u);
  for (size_t i = 68; i < kMetadataSize - 4; ++i) ASSERT_EQ(b[i], std::byte{0}) << "byte " << i;
  EXPECT_EQ(GetLe<uint32_t>(b, kMetadataSize - 4),
            common::crc32c::Value(std::span(b).first(kMetadataSize - 4)));
}

TEST(MetadataTest, AbsentOptionalsAreZeroOnDisk) {
  ASSERT_OK_AND_ASSIGN(const MetadataBlock b, RootMetadata().Encode());
  EXPECT_EQ(GetLe<uint64_t>(b, 16), 0u);
  for (size_t i = 24; i < 48; ++i) EXPECT_EQ(b[i], std::byte{0}) << "byte " << i;
}

TEST(MetadataTest, InconsistentMetadataIsNotEncoded) {
  struct Case {
    std::string name;
    TimelineMetadata m;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"prev zero", BranchMetadata(), "prev_record_lsn is set but invalid"});
  cases.back().m.prev_record_lsn = Lsn{0};
  cases.push_back({"prev not below", BranchMetadata(), "is not below disk_consistent_lsn"});
  cases.back().m.prev_record_lsn = cases.back().m.disk_consistent_lsn;
  cases.push_back({"zero ancestor", BranchMetadata(), "all zero"});
  cases.back().m.ancestor_timeline = TimelineId{};
  cases.push_back({"branch without lsn", BranchMetadata(), "invalid for a branch"});
  cases.back().m.ancestor_lsn = Lsn{0};
  cases.push_back({"lsn without branch", RootMetadata(), "without an ancestor timeline"});
  cases.back().m.ancestor_lsn = Lsn{0x10};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(c.m.Encode(), StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

// --- Decode rejections ---

TEST(MetadataTest, EveryFlippedByteIsRejected) {
  ASSERT_OK_AND_ASSIGN(const MetadataBlock good, BranchMetadata().Encode());
  for (size_t i = 0; i < kMetadataSize; ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
      MetadataBlock bad = good;
      bad[i] ^= std::byte{mask};
      SCOPED_TRACE("byte " + std::to_string(i) + " mask " + std::to_string(mask));
      const auto result = TimelineMetadata::Decode(bad);
      if (i == 4 || i == 5) {  // the version: a newer one is Unsupported, 0 Corruption
        EXPECT_THAT(result,
                    AnyOf(StatusIs(StatusCode::kCorruption), StatusIs(StatusCode::kUnsupported)));
      } else {
        EXPECT_THAT(result, StatusIs(StatusCode::kCorruption));
      }
    }
  }
}

TEST(MetadataTest, WrongLengthIsCorruption) {
  ASSERT_OK_AND_ASSIGN(const MetadataBlock good, BranchMetadata().Encode());
  for (size_t n : {size_t{0}, size_t{4}, kMetadataSize - 1}) {
    EXPECT_THAT(
        TimelineMetadata::Decode(std::span(good).first(n)),
        StatusIs(StatusCode::kCorruption, HasSubstr(std::to_string(n) + " bytes, not 512")));
  }
  Bytes longer(good.begin(), good.end());
  longer.push_back(std::byte{0});
  EXPECT_THAT(TimelineMetadata::Decode(longer),
              StatusIs(StatusCode::kCorruption, HasSubstr("513 bytes, not 512")));
}

TEST(MetadataTest, NewerVersionIsUnsupported) {
  ASSERT_OK_AND_ASSIGN(MetadataBlock b, BranchMetadata().Encode());
  PutLe<uint16_t>(b, 4, 2);
  Reseal(b);
  EXPECT_THAT(TimelineMetadata::Decode(b),
              StatusIs(StatusCode::kUnsupported, HasSubstr("format version 2")));
}

// Resealed blocks: the checksum is right, the contents are not.
TEST(MetadataTest, ResealedInconsistenciesAreCorruption) {
  struct Case {
    size_t offset;
    uint64_t value;
    int width;
    std::string message;
  };
  const std::vector<Case> cases = {
      {4, 0, 2, "format version 0"},
      {6, 80, 2, "fields_size 80"},
      {68, 1, 4, "nonzero reserved bytes"},
      {300, 1, 1, "nonzero reserved bytes"},
      {16, 0x16B374D848, 8, "prev_record_lsn 16/B374D848 is not below"},
      {40, 0, 8, "invalid for a branch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    ASSERT_OK_AND_ASSIGN(MetadataBlock b, BranchMetadata().Encode());
    if (c.width == 1) PutLe<uint8_t>(b, c.offset, static_cast<uint8_t>(c.value));
    if (c.width == 2) PutLe<uint16_t>(b, c.offset, static_cast<uint16_t>(c.value));
    if (c.width == 4) PutLe<uint32_t>(b, c.offset, static_cast<uint32_t>(c.value));
    if (c.width == 8) PutLe<uint64_t>(b, c.offset, c.value);
    Reseal(b);
    EXPECT_THAT(TimelineMetadata::Decode(b),
                StatusIs(StatusCode::kCorruption, HasSubstr(c.message)));
  }
}

TEST(MetadataTest, RootWithAncestorLsnIsCorruption) {
  ASSERT_OK_AND_ASSIGN(MetadataBlock b, RootMetadata().Encode());
  PutLe<uint64_t>(b, 40, 0x10);
  Reseal(b);
  EXPECT_THAT(TimelineMetadata::Decode(b),
              StatusIs(StatusCode::kCorruption, HasSubstr("without an ancestor timeline")));
}

// --- Files, over every engine and io mode ---

class MetadataFileTest : public ::pageserver::testing::IoParamTest {};

TEST_P(MetadataFileTest, WriteThenReadRoundTrips) {
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), BranchMetadata()));
  EXPECT_EQ(ReadWholeFile(dir().File("metadata")).size(), kMetadataSize);
  ASSERT_OK_AND_ASSIGN(const TimelineMetadata read, ReadMetadata(ctx(), dir().path()));
  EXPECT_EQ(read, BranchMetadata());
}

TEST_P(MetadataFileTest, RewriteReplacesTheFile) {
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), RootMetadata()));
  TimelineMetadata next = RootMetadata();
  next.disk_consistent_lsn = Lsn{0x2000000};
  next.prev_record_lsn = Lsn{0x1FFFFD0};
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), next));
  ASSERT_OK_AND_ASSIGN(const TimelineMetadata read, ReadMetadata(ctx(), dir().path()));
  EXPECT_EQ(read, next);
  EXPECT_FALSE(std::filesystem::exists(dir().File("metadata.___temp")));
}

TEST_P(MetadataFileTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadMetadata(ctx(), dir().path()),
              StatusIs(StatusCode::kNotFound, HasSubstr(dir().File("metadata"))));
}

TEST_P(MetadataFileTest, InconsistentMetadataWritesNothing) {
  TimelineMetadata bad = RootMetadata();
  bad.ancestor_lsn = Lsn{0x10};
  EXPECT_THAT(WriteMetadata(ctx(), dir().path(), bad), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_FALSE(std::filesystem::exists(dir().File("metadata")));
}

TEST_P(MetadataFileTest, TruncatedOrExtendedFileIsCorruptionNamingThePath) {
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), BranchMetadata()));
  const Bytes good = ReadWholeFile(dir().File("metadata"));
  for (size_t n :
       {size_t{0}, size_t{100}, kMetadataSize - 1, kMetadataSize + 1, kMetadataSize + 4096}) {
    SCOPED_TRACE("length " + std::to_string(n));
    Bytes contents(n, std::byte{0});
    std::copy_n(good.begin(), std::min(n, good.size()), contents.begin());
    if (n == 0) {
      // WriteWholeFile passes fwrite a null pointer for no bytes (UBSan aborts).
      std::filesystem::resize_file(dir().File("metadata"), 0);
    } else {
      WriteWholeFile(dir().File("metadata"), contents);
    }
    EXPECT_THAT(ReadMetadata(ctx(), dir().path()),
                StatusIs(StatusCode::kCorruption, HasSubstr(dir().File("metadata"))));
  }
}

TEST_P(MetadataFileTest, FlippedByteOnDiskIsCorruption) {
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), BranchMetadata()));
  Bytes contents = ReadWholeFile(dir().File("metadata"));
  contents[20] ^= std::byte{0x04};
  WriteWholeFile(dir().File("metadata"), contents);
  EXPECT_THAT(ReadMetadata(ctx(), dir().path()),
              StatusIs(StatusCode::kCorruption, HasSubstr("checksum mismatch")));
}

TEST_P(MetadataFileTest, LeftoverTempFileFromACrashDoesNotBreakReading) {
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), BranchMetadata()));
  // A crash between writing the temp file and the rename leaves it behind.
  WriteWholeFile(dir().File("metadata.___temp"), Bytes(100, std::byte{0xEE}));
  ASSERT_OK_AND_ASSIGN(const TimelineMetadata read, ReadMetadata(ctx(), dir().path()));
  EXPECT_EQ(read, BranchMetadata());
  // The next write replaces the file and removes the leftover.
  ASSERT_OK(WriteMetadata(ctx(), dir().path(), RootMetadata()));
  ASSERT_OK_AND_ASSIGN(const TimelineMetadata reread, ReadMetadata(ctx(), dir().path()));
  EXPECT_EQ(reread, RootMetadata());
  EXPECT_FALSE(std::filesystem::exists(dir().File("metadata.___temp")));
}

TEST_P(MetadataFileTest, LeftoverTempFileWithoutAFinalFileIsNotFound) {
  WriteWholeFile(dir().File("metadata.___temp"), Bytes(kMetadataSize, std::byte{0}));
  EXPECT_THAT(ReadMetadata(ctx(), dir().path()), StatusIs(StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(All, MetadataFileTest,
                         ::testing::ValuesIn(::pageserver::testing::AllIoParams()),
                         ::pageserver::testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
