#include "pg_import/tar_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::pg_import {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using test_util::Bytes;
using test_util::MemorySource;
using test_util::PatternBytes;
using test_util::TarBuilder;
using test_util::ToBytes;
using ::testing::HasSubstr;

struct Member {
  std::string path;
  TarEntryType type;
  Bytes content;
  uint64_t header_offset;
};

// Reads every member with its content through reads of `chunk` bytes.
common::Result<std::vector<Member>> ReadAll(ByteSource& source, size_t chunk = 4096) {
  TarReader reader(source);
  std::vector<Member> out;
  for (;;) {
    ASSIGN_OR_RETURN(const std::optional<TarEntry> entry, reader.Next());
    if (!entry) return out;
    Member m{entry->path, entry->type, {}, entry->header_offset};
    Bytes buf(chunk);
    for (;;) {
      ASSIGN_OR_RETURN(const size_t n, reader.ReadContent(buf));
      if (n == 0) break;
      m.content.insert(m.content.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }
    EXPECT_EQ(m.content.size(), entry->size) << entry->path;
    out.push_back(std::move(m));
  }
}

common::Result<std::vector<Member>> ReadAll(const Bytes& tar, size_t chunk = 4096) {
  MemorySource source(tar);
  return ReadAll(source, chunk);
}

// Files of sizes around block boundaries and a directory.
TarBuilder SampleArchive() {
  TarBuilder tar;
  tar.Dir("./base/1");
  for (const size_t size : {0, 1, 511, 512, 513, 8192, 20000}) {
    tar.File("./base/1/f" + std::to_string(size), PatternBytes(size + 1, size));
  }
  return tar;
}

TEST(TarReaderTest, ReadsMembersWithContentAcrossBlockBoundaries) {
  const TarBuilder tar = SampleArchive();
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 8u);
  EXPECT_EQ(members[0].path, "base/1");
  EXPECT_EQ(members[0].type, TarEntryType::kDirectory);
  size_t i = 1;
  for (const size_t size : {0, 1, 511, 512, 513, 8192, 20000}) {
    EXPECT_EQ(members[i].path, "base/1/f" + std::to_string(size));
    EXPECT_EQ(members[i].type, TarEntryType::kFile);
    EXPECT_EQ(members[i].content, PatternBytes(size + 1, size));
    EXPECT_EQ(members[i].header_offset, tar.member_offsets()[i]);
    ++i;
  }
}

TEST(TarReaderTest, ShortReadsOfAnySizeGiveTheSameMembers) {
  const uint64_t seed = pageserver::testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  const Bytes tar = SampleArchive().Finish();
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> expected, ReadAll(tar));
  for (const size_t max_chunk : {size_t{1}, size_t{7}, size_t{512}, size_t{100000}}) {
    MemorySource source(tar, max_chunk, seed);
    ASSERT_OK_AND_ASSIGN(const std::vector<Member> got, ReadAll(source, 333));
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].content, expected[i].content);
  }
}

TEST(TarReaderTest, UnreadContentIsSkippedByNext) {
  const Bytes tar = SampleArchive().Finish();
  MemorySource source(tar);
  TarReader reader(source);
  std::vector<std::string> paths;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(const std::optional<TarEntry> entry, reader.Next());
    if (!entry) break;
    paths.push_back(entry->path);
  }
  EXPECT_EQ(paths.size(), 8u);
  EXPECT_EQ(paths.back(), "base/1/f20000");
  EXPECT_EQ(source.consumed(), tar.size());
}

TEST(TarReaderTest, PosixPrefixIsJoinedToTheName) {
  TarBuilder tar;
  tar.Add({.name = "16384", .prefix = "pg_tblspc/16500/PG_15_202209061/5", .size = 3},
          ToBytes("abc"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].path, "pg_tblspc/16500/PG_15_202209061/5/16384");
}

TEST(TarReaderTest, GnuMagicIgnoresThePrefixField) {
  TarBuilder tar;
  tar.Add({.name = "PG_VERSION", .prefix = "garbage", .size = 3, .magic = TarBuilder::Magic::kGnu},
          ToBytes("15\n"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].path, "PG_VERSION");
}

TEST(TarReaderTest, GnuLongNameAppliesToTheNextMemberOnly) {
  const std::string long_path = "base/1/" + std::string(150, 'x') + "/file";
  TarBuilder tar;
  tar.GnuLongFile(long_path, ToBytes("long"));
  tar.File("short", ToBytes("s"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].path, long_path);
  EXPECT_EQ(members[0].content, ToBytes("long"));
  EXPECT_EQ(members[0].header_offset, 0u);  // the 'L' header's offset
  EXPECT_EQ(members[1].path, "short");
}

TEST(TarReaderTest, PaxPathAndSizeOverrideTheHeader) {
  const std::string long_path = std::string(300, 'p') + "/data";
  const Bytes content = PatternBytes(9, 1000);
  TarBuilder tar;
  // The header's own size field says 0; the pax size (1000) wins.
  tar.PaxFile({{"path", long_path}, {"size", "1000"}, {"mtime", "1.5"}}, "trunc", 0, content);
  tar.File("after", ToBytes("a"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].path, long_path);
  EXPECT_EQ(members[0].content, content);
  EXPECT_EQ(members[1].path, "after");
  EXPECT_EQ(members[1].content, ToBytes("a"));
}

TEST(TarReaderTest, PaxGlobalHeaderAppliesUntilALocalOneOverrides) {
  TarBuilder tar;
  tar.PaxGlobal({{"comment", "made by a test"}, {"path", "global-name"}});
  tar.File("a", ToBytes("1"));
  tar.PaxFile({{"path", "local-name"}}, "b", 1, ToBytes("2"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].path, "global-name");
  EXPECT_EQ(members[1].path, "local-name");
}

TEST(TarReaderTest, PathsLoseLeadingDotSlashAndTrailingSlash) {
  TarBuilder tar;
  tar.Add({.name = "./", .typeflag = '5'}, {});
  tar.Add({.name = "/abs/./x/", .typeflag = '5'}, {});
  tar.Add({.name = "././global/pg_control", .size = 1}, ToBytes("c"));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].path, "");
  EXPECT_EQ(members[1].path, "abs/./x");
  EXPECT_EQ(members[2].path, "global/pg_control");
}

TEST(TarReaderTest, TypeflagsMapToEntryTypes) {
  TarBuilder tar;
  tar.Add({.name = "old", .typeflag = '\0'}, {});
  tar.Add({.name = "contig", .typeflag = '7'}, {});
  tar.Add({.name = "link", .typeflag = '2'}, {});
  tar.Add({.name = "hard", .typeflag = '1'}, {});
  tar.Add({.name = "fifo", .typeflag = '6'}, {});
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 5u);
  EXPECT_EQ(members[0].type, TarEntryType::kFile);
  EXPECT_EQ(members[1].type, TarEntryType::kFile);
  EXPECT_EQ(members[2].type, TarEntryType::kSymlink);
  EXPECT_EQ(members[3].type, TarEntryType::kHardLink);
  EXPECT_EQ(members[4].type, TarEntryType::kOther);
}

TEST(TarReaderTest, Base256SizeIsAccepted) {
  TarBuilder tar;
  tar.Add({.name = "big", .size = 600, .base256_size = true}, PatternBytes(3, 600));
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(tar.Finish()));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].content, PatternBytes(3, 600));
}

TEST(TarReaderTest, DataAfterTheEndBlockIsReadAndIgnored) {
  Bytes tar = SampleArchive().Finish(10240);
  tar.push_back(std::byte{0x55});  // junk after the end: not a member
  MemorySource source(tar);
  ASSERT_OK_AND_ASSIGN(const std::vector<Member> members, ReadAll(source));
  EXPECT_EQ(members.size(), 8u);
  EXPECT_EQ(source.consumed(), tar.size());
}

TEST(TarReaderTest, BadChecksumIsCorruptionNamingMemberAndOffset) {
  TarBuilder tar;
  tar.File("PG_VERSION", ToBytes("15\n"));
  tar.File("global/1262", PatternBytes(1, 8192));
  Bytes bytes = tar.Finish();
  const size_t second = tar.member_offsets()[1];
  bytes[second + 3] ^= std::byte{0x01};  // inside the name
  const auto result = ReadAll(bytes);
  EXPECT_THAT(result, StatusIs(StatusCode::kCorruption, HasSubstr("checksum mismatch")));
  EXPECT_THAT(result,
              StatusIs(StatusCode::kCorruption, HasSubstr("at offset " + std::to_string(second))));
  EXPECT_THAT(result, StatusIs(StatusCode::kCorruption, HasSubstr("glo")));
}

TEST(TarReaderTest, AnyFlippedHeaderByteIsCorruption) {
  // Every single-byte change of the first header is caught by the checksum.
  TarBuilder tar;
  tar.File("base/1/1259", PatternBytes(2, 600));
  const Bytes clean = tar.Finish();
  for (size_t i = 0; i < 512; ++i) {
    if (i >= 148 && i < 156) continue;  // the checksum field itself: see below
    Bytes bytes = clean;
    bytes[i] ^= std::byte{0x04};
    EXPECT_THAT(ReadAll(bytes), StatusIs(StatusCode::kCorruption)) << "byte " << i;
  }
  Bytes bytes = clean;
  bytes[150] = std::byte{'9'};  // not octal
  EXPECT_THAT(ReadAll(bytes), StatusIs(StatusCode::kCorruption, HasSubstr("checksum")));
}

TEST(TarReaderTest, TruncationAtEveryBlockBoundaryIsCorruption) {
  const TarBuilder builder = SampleArchive();
  const Bytes full = builder.Finish();
  const size_t end_block = builder.bytes().size();
  for (size_t cut = 0; cut <= end_block; cut += 512) {
    const Bytes truncated(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
    const auto result = ReadAll(truncated);
    EXPECT_THAT(result, StatusIs(StatusCode::kCorruption, HasSubstr("offset"))) << "cut " << cut;
  }
  // Inside a header and inside content.
  for (const size_t cut : {size_t{100}, size_t{512 + 300}, end_block - 700}) {
    const Bytes truncated(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_THAT(ReadAll(truncated), StatusIs(StatusCode::kCorruption)) << "cut " << cut;
  }
  // One end block is enough.
  const Bytes one_end(full.begin(), full.begin() + static_cast<ptrdiff_t>(end_block + 512));
  EXPECT_OK(ReadAll(one_end));
}

TEST(TarReaderTest, TruncatedContentNamesTheMember) {
  TarBuilder tar;
  tar.File("base/5/16384", PatternBytes(5, 8192 * 3));
  const Bytes full = tar.Finish();
  const Bytes truncated(full.begin(), full.begin() + 512 + 8192);
  EXPECT_THAT(ReadAll(truncated),
              StatusIs(StatusCode::kCorruption,
                       HasSubstr("member 'base/5/16384': stream ends inside the content")));
}

TEST(TarReaderTest, MalformedFieldsAndRecordsAreCorruption) {
  {  // size field not octal (checksum recomputed so only the size is wrong)
    Bytes header = TarBuilder::HeaderBlock({.name = "x", .size = 1});
    header[124] = std::byte{'z'};
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? 32 : uint8_t(header[i]);
    char buf[8];
    std::snprintf(buf, sizeof(buf), "%06o", static_cast<unsigned>(sum));
    for (size_t i = 0; i < 6; ++i) header[148 + i] = std::byte(buf[i]);
    header[154] = std::byte{0};
    header.resize(512 * 4);
    EXPECT_THAT(ReadAll(header), StatusIs(StatusCode::kCorruption, HasSubstr("size field")));
  }
  {  // pax record whose length is wrong
    TarBuilder tar;
    const Bytes pax = ToBytes("99 path=x\n");
    tar.Add({.name = "pax", .size = pax.size(), .typeflag = 'x'}, pax);
    tar.File("x", ToBytes("1"));
    EXPECT_THAT(ReadAll(tar.Finish()), StatusIs(StatusCode::kCorruption, HasSubstr("pax")));
  }
  {  // pax size that is not a number
    TarBuilder tar;
    tar.PaxFile({{"size", "12a"}}, "x", 1, ToBytes("1"));
    EXPECT_THAT(ReadAll(tar.Finish()), StatusIs(StatusCode::kCorruption, HasSubstr("pax size")));
  }
  {  // an oversized long-name header is refused before its content is read
    TarBuilder tar;
    tar.Add({.name = "././@LongLink",
             .size = kMaxTarMetadataBytes + 1,
             .typeflag = 'L',
             .magic = TarBuilder::Magic::kGnu},
            {});
    EXPECT_THAT(ReadAll(tar.bytes()), StatusIs(StatusCode::kCorruption, HasSubstr("exceeds")));
  }
}

TEST(TarReaderTest, ParseTarNumberReadsOctalAndBase256) {
  auto parse = [](const std::string& s) { return ParseTarNumber(ToBytes(s)); };
  EXPECT_EQ(parse(std::string("0000644\0", 8)), 420u);
  EXPECT_EQ(parse("   17 "), 15u);
  EXPECT_EQ(parse(std::string("00000000000\0", 12)), 0u);
  EXPECT_EQ(parse("77777777777"), 8589934591u);
  EXPECT_EQ(parse(""), std::nullopt);
  EXPECT_EQ(parse("   "), std::nullopt);
  EXPECT_EQ(parse("12 3"), std::nullopt);
  EXPECT_EQ(parse("8"), std::nullopt);
  Bytes b256(12);
  b256[0] = std::byte{0x80};
  b256[10] = std::byte{0x01};
  EXPECT_EQ(ParseTarNumber(b256), 256u);
  b256[0] = std::byte{0xFF};  // negative
  EXPECT_EQ(ParseTarNumber(b256), std::nullopt);
}

}  // namespace
}  // namespace pageserver::pg_import
