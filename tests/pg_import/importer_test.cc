// The importer on small synthetic clusters, through both front ends
// (ImportPgdata on a directory, ImportTar on a tar built byte by byte) and
// directly (segment rules with small segments).

#include "pg_import/importer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pg_import/import_values.h"
#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/status_matchers.h"
#include "timeline/pg_mapping.h"

namespace pageserver::pg_import {
namespace {

using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using pageserver::testing::StatusIs;
using test_util::Bytes;
using test_util::MemorySource;
using test_util::PatternBytes;
using test_util::SyntheticCluster;
using test_util::ToBytes;
using ::testing::HasSubstr;

constexpr Lsn kLsn{0x6000060};

SyntheticCluster SmallCluster() {
  SyntheticCluster c;
  c.dirs = {"global", "base", "base/1", "base/5", "base/7", "pg_xact", "pg_wal"};
  c.files["global/pg_control"] = test_util::RealControlFile();
  c.files["global/1262"] = PatternBytes(1, 2 * 8192);
  c.files["global/pg_filenode.map"] = PatternBytes(2, 512);
  c.files["base/1/1259"] = PatternBytes(3, 3 * 8192);
  c.files["base/1/1259_fsm"] = PatternBytes(4, 8192);
  c.files["base/1/PG_VERSION"] = ToBytes("15\n");
  c.files["base/5/16384"] = {};
  c.files["base/5/16384_init"] = PatternBytes(5, 8192);
  c.files["pg_xact/0000"] = PatternBytes(6, 2 * 8192);
  c.files["pg_multixact/offsets/0000"] = PatternBytes(7, 8192);
  c.files["pg_wal/000000010000000000000006"] = PatternBytes(8, 1000);
  c.files["PG_VERSION"] = ToBytes("15\n");
  c.files["postgresql.conf"] = ToBytes("shared_buffers = 1MB\n");
  c.files["big.log"] = PatternBytes(9, 2 * kAuxPartBytes + 17);
  c.files["base/1/" + std::string(120, 'n')] = ToBytes("a long aux name");
  return c;
}

enum class FrontEnd { kPgdata, kTar };

class ImporterTest : public test_util::TimelineFixture,
                     public ::testing::WithParamInterface<FrontEnd> {
 protected:
  common::Result<ImportStats> Import(timeline::Timeline& tl, const SyntheticCluster& c) {
    if (GetParam() == FrontEnd::kPgdata) {
      const std::string pgdata = dir_.path() + "/pgdata";
      c.WriteTo(pgdata);
      return ImportPgdata(tl, kLsn, pgdata);
    }
    MemorySource tar(c.ToTar(), 10000);
    return ImportTar(tl, kLsn, tar);
  }
};

Bytes Page(const Bytes& file, uint32_t blk) {
  return Bytes(file.begin() + blk * 8192, file.begin() + (blk + 1) * 8192);
}

TEST_P(ImporterTest, ImportsRelationsDirectoriesSlruAndAuxFiles) {
  const SyntheticCluster c = SmallCluster();
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  ASSERT_OK_AND_ASSIGN(const ImportStats stats, Import(*tl, c));
  EXPECT_EQ(stats.lsn, kLsn);
  EXPECT_EQ(stats.relation_files, 5u);
  EXPECT_EQ(stats.relation_blocks, 2u + 3 + 1 + 0 + 1);
  EXPECT_EQ(stats.relations, 5u);
  EXPECT_EQ(stats.databases, 4u);  // global, base/1, base/5, base/7
  EXPECT_EQ(stats.slru_segments, 2u);
  EXPECT_EQ(stats.aux_files, 7u);  // pg_control, pg_filenode.map, 2 PG_VERSION, conf, log, long
  EXPECT_EQ(tl->last_record_lsn(), kLsn);
  EXPECT_EQ(tl->disk_consistent_lsn(), kLsn);
  EXPECT_GE(tl->Stats().images, 1u);

  // Sizes, existence, pages.
  const RelTag pg_class{1663, 1, 1259, 0};
  ASSERT_OK_AND_ASSIGN(const uint32_t n, timeline::GetRelSize(*tl, pg_class, kLsn));
  EXPECT_EQ(n, 3u);
  ASSERT_OK_AND_ASSIGN(const uint32_t empty, timeline::GetRelSize(*tl, {1663, 5, 16384, 0}, kLsn));
  EXPECT_EQ(empty, 0u);
  ASSERT_OK_AND_ASSIGN(const bool exists, timeline::RelExists(*tl, {1663, 5, 16384, 3}, kLsn));
  EXPECT_TRUE(exists);
  ASSERT_OK_AND_ASSIGN(const bool missing, timeline::RelExists(*tl, {1663, 5, 16384, 1}, kLsn));
  EXPECT_FALSE(missing);
  std::vector<timeline::RelPageRequest> requests;
  for (uint32_t b = 0; b < 3; ++b) requests.push_back({pg_class, b, kLsn});
  requests.push_back({{1664, 0, 1262, 0}, 1, kLsn});
  const auto pages = timeline::GetRelPages(*tl, requests);
  for (uint32_t b = 0; b < 3; ++b) {
    ASSERT_OK(pages[b]);
    EXPECT_EQ(*pages[b], Page(c.files.at("base/1/1259"), b)) << "block " << b;
  }
  ASSERT_OK(pages[3]);
  EXPECT_EQ(*pages[3], Page(c.files.at("global/1262"), 1));

  // Directories and database sizes.
  ASSERT_OK_AND_ASSIGN(const auto dbs, timeline::GetDbDir(*tl, kLsn));
  EXPECT_EQ(dbs, (std::vector<timeline::DbDirEntry>{{1663, 1}, {1663, 5}, {1663, 7}, {1664, 0}}));
  ASSERT_OK_AND_ASSIGN(const auto reldir, timeline::GetRelDir(*tl, 1663, 5, kLsn));
  EXPECT_EQ(reldir, (std::vector<timeline::RelDirEntry>{{16384, 0}, {16384, 3}}));
  ASSERT_OK_AND_ASSIGN(const auto empty_db, timeline::GetRelDir(*tl, 1663, 7, kLsn));
  EXPECT_TRUE(empty_db.empty());
  ASSERT_OK_AND_ASSIGN(const uint64_t db1, timeline::GetDbSize(*tl, 1663, 1, kLsn));
  EXPECT_EQ(db1, 4u * 8192);

  // SLRU.
  ASSERT_OK_AND_ASSIGN(const Bytes clog, ReadSlruSegment(*tl, layers::SlruKind::kClog, 0, kLsn));
  EXPECT_EQ(clog, c.files.at("pg_xact/0000"));
  ASSERT_OK_AND_ASSIGN(const Bytes clog_dir, tl->Get(Key::SlruDir(layers::SlruKind::kClog), kLsn));
  EXPECT_EQ(DecodeSlruDir(clog_dir).value(), std::vector<uint32_t>{0});
  ASSERT_OK_AND_ASSIGN(const Bytes members_dir,
                       tl->Get(Key::SlruDir(layers::SlruKind::kMultiXactMembers), kLsn));
  EXPECT_TRUE(DecodeSlruDir(members_dir).value().empty());

  // Control file, checkpoint, aux files (one split into three parts).
  ASSERT_OK_AND_ASSIGN(const Bytes control, tl->Get(Key::ControlFile(), kLsn));
  EXPECT_EQ(control, c.files.at("global/pg_control"));
  ASSERT_OK_AND_ASSIGN(const Bytes checkpoint, tl->Get(Key::Checkpoint(), kLsn));
  EXPECT_EQ(checkpoint.size(), 88u);
  for (const char* path : {"postgresql.conf", "PG_VERSION", "base/1/PG_VERSION", "big.log",
                           "global/pg_filenode.map", "global/pg_control"}) {
    ASSERT_OK_AND_ASSIGN(const Bytes content, ReadAuxFile(*tl, path, kLsn));
    EXPECT_EQ(content, c.files.at(path)) << path;
  }
  ASSERT_OK_AND_ASSIGN(const Bytes long_name,
                       ReadAuxFile(*tl, "base/1/" + std::string(120, 'n'), kLsn));
  EXPECT_EQ(long_name, ToBytes("a long aux name"));
  EXPECT_THAT(tl->Get(AuxFileKey("big.log", 3), kLsn), StatusIs(StatusCode::kNotFound));
  // WAL is skipped.
  EXPECT_THAT(ReadAuxFile(*tl, "pg_wal/000000010000000000000006", kLsn),
              StatusIs(StatusCode::kNotFound));
}

TEST_P(ImporterTest, RelationFileOfOddSizeIsCorruptionNamingItAndNothingIsVisible) {
  SyntheticCluster c = SmallCluster();
  c.files["base/5/16390"] = PatternBytes(10, 8192 + 100);
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  EXPECT_THAT(Import(*tl, c), StatusIs(StatusCode::kCorruption,
                                       HasSubstr("relation file base/5/16390 of 8292 bytes")));
  EXPECT_EQ(tl->last_record_lsn(), Lsn{kLsn.value - 1});
}

TEST_P(ImporterTest, GarbageOrMissingControlFileIsAnError) {
  SyntheticCluster c = SmallCluster();
  c.files["global/pg_control"] = PatternBytes(11, 8192);
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  EXPECT_THAT(Import(*tl, c), StatusIs(StatusCode::kUnsupported, HasSubstr("global/pg_control")));
}

TEST_P(ImporterTest, ControlFileWithBadCrcIsCorruption) {
  SyntheticCluster c = SmallCluster();
  c.files["global/pg_control"][50] ^= std::byte{1};
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  EXPECT_THAT(Import(*tl, c), StatusIs(StatusCode::kCorruption, HasSubstr("CRC")));
}

TEST_P(ImporterTest, ClusterWithoutControlFileIsCorruption) {
  SyntheticCluster c = SmallCluster();
  c.files.erase("global/pg_control");
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  EXPECT_THAT(Import(*tl, c), StatusIs(StatusCode::kCorruption, HasSubstr("no global/pg_control")));
}

INSTANTIATE_TEST_SUITE_P(BothFrontEnds, ImporterTest,
                         ::testing::Values(FrontEnd::kPgdata, FrontEnd::kTar),
                         [](const auto& info) {
                           return info.param == FrontEnd::kPgdata ? "Pgdata" : "Tar";
                         });

class ImporterSegmentTest : public test_util::TimelineFixture {
 protected:
  // Imports the control file plus `files` with 2-block segments.
  common::Result<std::shared_ptr<timeline::Timeline>> ImportFiles(
      const std::map<std::string, Bytes>& files) {
    auto tl = CreateTimeline(Lsn{kLsn.value - 1});
    Importer importer(*tl, kLsn, ImporterOptions{.relseg_blocks = 2});
    MemorySource control(test_util::RealControlFile());
    RETURN_IF_ERROR(importer.AddFile("global/pg_control", 8192, control));
    for (const auto& [path, content] : files) {
      MemorySource source(content);
      RETURN_IF_ERROR(importer.AddFile(path, content.size(), source));
    }
    RETURN_IF_ERROR(importer.Finish().status());
    return tl;
  }
};

TEST_F(ImporterSegmentTest, SegmentsAddUpAndMapToBlockNumbers) {
  const std::map<std::string, Bytes> files = {{"base/1/100", PatternBytes(1, 2 * 8192)},
                                              {"base/1/100.1", PatternBytes(2, 2 * 8192)},
                                              {"base/1/100.2", PatternBytes(3, 8192)},
                                              {"base/1/200", PatternBytes(4, 8192)},
                                              {"base/1/200.1", {}}};
  ASSERT_OK_AND_ASSIGN(auto tl, ImportFiles(files));
  ASSERT_OK_AND_ASSIGN(const uint32_t n100, timeline::GetRelSize(*tl, {1663, 1, 100, 0}, kLsn));
  EXPECT_EQ(n100, 5u);
  ASSERT_OK_AND_ASSIGN(const uint32_t n200, timeline::GetRelSize(*tl, {1663, 1, 200, 0}, kLsn));
  EXPECT_EQ(n200, 1u);  // an empty segment after a short one: a truncated leftover
  const auto pages =
      timeline::GetRelPages(*tl, std::vector<timeline::RelPageRequest>{
                                     {{1663, 1, 100, 0}, 2, kLsn}, {{1663, 1, 100, 0}, 4, kLsn}});
  ASSERT_OK(pages[0]);
  EXPECT_EQ(*pages[0], Page(files.at("base/1/100.1"), 0));
  ASSERT_OK(pages[1]);
  EXPECT_EQ(*pages[1], files.at("base/1/100.2"));
}

TEST_F(ImporterSegmentTest, ViolatedSegmentRulesAreCorruption) {
  EXPECT_THAT(
      ImportFiles({{"base/1/300", PatternBytes(1, 8192)}, {"base/1/300.1", PatternBytes(2, 8192)}}),
      StatusIs(StatusCode::kCorruption, HasSubstr("segment 1 holds 1 blocks")));
  EXPECT_THAT(ImportFiles({{"base/1/400", PatternBytes(1, 3 * 8192)}}),
              StatusIs(StatusCode::kCorruption, HasSubstr("more than a segment holds")));
  EXPECT_THAT(ImportFiles({{"base/1/500.1", PatternBytes(1, 8192)}}),
              StatusIs(StatusCode::kCorruption, HasSubstr("segment 1")));
  EXPECT_THAT(ImportFiles({{"pg_xact/0000", PatternBytes(1, 33 * 8192)}}),
              StatusIs(StatusCode::kCorruption, HasSubstr("pg_xact/0000")));
  EXPECT_THAT(ImportFiles({{"pg_xact/0001", PatternBytes(1, 100)}}),
              StatusIs(StatusCode::kCorruption, HasSubstr("SLRU file pg_xact/0001")));
}

TEST_F(ImporterSegmentTest, FileShorterThanItsStatedSizeIsCorruption) {
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  Importer importer(*tl, kLsn);
  MemorySource source(PatternBytes(1, 8192));
  EXPECT_THAT(importer.AddFile("base/1/600", 2 * 8192, source),
              StatusIs(StatusCode::kCorruption, HasSubstr("base/1/600: ends after 8192 of 16384")));
}

class ImportTarTest : public test_util::TimelineFixture {};

TEST_F(ImportTarTest, DuplicateMembersAndHardLinksAreRefused) {
  {
    test_util::TarBuilder tar;
    tar.File("global/pg_control", test_util::RealControlFile());
    tar.File("postgresql.conf", ToBytes("a"));
    tar.File("postgresql.conf", ToBytes("b"));
    MemorySource source(tar.Finish());
    auto tl = CreateTimeline(Lsn{kLsn.value - 1});
    EXPECT_THAT(ImportTar(*tl, kLsn, source),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("seen twice")));
  }
  {
    test_util::TarBuilder tar;
    tar.Add({.name = "base/1/1259", .typeflag = '1'}, {});
    MemorySource source(tar.Finish());
    auto tl = CreateTimeline(Lsn{kLsn.value - 1});
    EXPECT_THAT(ImportTar(*tl, kLsn, source),
                StatusIs(StatusCode::kUnsupported, HasSubstr("hard link")));
  }
}

TEST_F(ImportTarTest, TruncatedArchiveIsCorruptionNamingTheMember) {
  Bytes tar = SmallCluster().ToTar();
  tar.resize(tar.size() / 2);
  MemorySource source(tar);
  auto tl = CreateTimeline(Lsn{kLsn.value - 1});
  EXPECT_THAT(ImportTar(*tl, kLsn, source), StatusIs(StatusCode::kCorruption, HasSubstr("tar: ")));
  EXPECT_EQ(tl->last_record_lsn(), Lsn{kLsn.value - 1});
}

}  // namespace
}  // namespace pageserver::pg_import
