#include "timeline/pg_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/timeline.h"
#include "timeline/value.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::StatusIs;
using Bytes = std::vector<std::byte>;

Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

TEST(PgMappingEncodingTest, RelSizeIsFourLittleEndianBytes) {
  EXPECT_EQ(EncodeRelSize(7), B({0x07, 0, 0, 0}));
  EXPECT_EQ(EncodeRelSize(0x01020304), B({0x04, 0x03, 0x02, 0x01}));
  for (uint32_t n : {0u, 1u, 131072u, 0xFFFFFFFFu}) {
    ASSERT_OK_AND_ASSIGN(const uint32_t back, DecodeRelSize(EncodeRelSize(n)));
    EXPECT_EQ(back, n);
  }
}

TEST(PgMappingEncodingTest, RelSizeOfWrongLengthIsCorruption) {
  for (size_t len : {0, 1, 3, 5, 8}) {
    EXPECT_THAT(DecodeRelSize(Bytes(len)),
                StatusIs(StatusCode::kCorruption,
                         HasSubstr("relation size value of " + std::to_string(len) + " bytes")))
        << len;
  }
}

TEST(PgMappingEncodingTest, RelDirWorkedExample) {
  const RelDirEntry entries[] = {{16384, 1}, {16384, 0}};
  ASSERT_OK_AND_ASSIGN(const Bytes bytes, EncodeRelDir(entries));
  EXPECT_EQ(bytes, B({0x02, 0, 0, 0,              // count
                      0x00, 0x40, 0, 0, 0x00,     // 16384 main
                      0x00, 0x40, 0, 0, 0x01}));  // 16384 fsm
  ASSERT_OK_AND_ASSIGN(const auto back, DecodeRelDir(bytes));
  EXPECT_THAT(back, ElementsAre(RelDirEntry{16384, 0}, RelDirEntry{16384, 1}));
}

TEST(PgMappingEncodingTest, EmptyDirectoriesAreACountOfZero) {
  ASSERT_OK_AND_ASSIGN(const Bytes rel_dir, EncodeRelDir({}));
  EXPECT_EQ(rel_dir, B({0, 0, 0, 0}));
  EXPECT_EQ(EncodeDbDir({}), B({0, 0, 0, 0}));
  ASSERT_OK_AND_ASSIGN(const auto rels, DecodeRelDir(rel_dir));
  EXPECT_TRUE(rels.empty());
  ASSERT_OK_AND_ASSIGN(const auto dbs, DecodeDbDir(rel_dir));
  EXPECT_TRUE(dbs.empty());
}

TEST(PgMappingEncodingTest, EncodeRelDirSortsAndDeduplicates) {
  const RelDirEntry entries[] = {{20000, 3}, {5, 0}, {20000, 0}, {5, 0}, {16384, 2}, {20000, 3}};
  ASSERT_OK_AND_ASSIGN(const Bytes bytes, EncodeRelDir(entries));
  EXPECT_EQ(bytes.size(), 4u + 4 * 5);
  ASSERT_OK_AND_ASSIGN(const auto back, DecodeRelDir(bytes));
  EXPECT_THAT(back, ElementsAre(RelDirEntry{5, 0}, RelDirEntry{16384, 2}, RelDirEntry{20000, 0},
                                RelDirEntry{20000, 3}));
}

TEST(PgMappingEncodingTest, EncodeRelDirRejectsBadForkAndInvalidRelnode) {
  const RelDirEntry bad_fork[] = {{16384, 0}, {16384, 4}};
  EXPECT_THAT(EncodeRelDir(bad_fork),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("relnode 16384 fork 4")));
  const RelDirEntry zero_relnode[] = {{0, 0}};
  EXPECT_THAT(EncodeRelDir(zero_relnode),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("relnode 0")));
}

TEST(PgMappingEncodingTest, RelDirRoundTripsRandomSets) {
  const uint64_t seed = pageserver::testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 50; ++round) {
    std::vector<RelDirEntry> input;
    std::set<RelDirEntry> model;
    const size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      // A small relnode range makes duplicates likely.
      const RelDirEntry e{1 + static_cast<uint32_t>(rng() % (round % 2 ? 50 : 0xFFFFFFFE)),
                          static_cast<uint8_t>(rng() % 4)};
      input.push_back(e);
      model.insert(e);
    }
    ASSERT_OK_AND_ASSIGN(const Bytes bytes, EncodeRelDir(input));
    EXPECT_EQ(bytes.size(), 4 + 5 * model.size());
    ASSERT_OK_AND_ASSIGN(const auto back, DecodeRelDir(bytes));
    EXPECT_EQ(back, std::vector<RelDirEntry>(model.begin(), model.end()));
  }
}

TEST(PgMappingEncodingTest, DbDirWorkedExampleAndRoundTrip) {
  const DbDirEntry one[] = {{1663, 5}};
  EXPECT_EQ(EncodeDbDir(one), B({0x01, 0, 0, 0, 0x7F, 0x06, 0, 0, 0x05, 0, 0, 0}));
  // Shared catalogs: dbnode 0 in the global tablespace.
  const DbDirEntry many[] = {{1663, 16384}, {1664, 0}, {1663, 5}, {1663, 16384}, {1663, 1}};
  const Bytes bytes = EncodeDbDir(many);
  EXPECT_EQ(bytes.size(), 4u + 4 * 8);
  ASSERT_OK_AND_ASSIGN(const auto back, DecodeDbDir(bytes));
  EXPECT_THAT(back, ElementsAre(DbDirEntry{1663, 1}, DbDirEntry{1663, 5}, DbDirEntry{1663, 16384},
                                DbDirEntry{1664, 0}));
}

// A valid three-entry relation directory: 16384 main, 16384 vm, 16390 main.
Bytes ThreeRelDir() {
  return B({3, 0, 0, 0, 0x00, 0x40, 0, 0, 0, 0x00, 0x40, 0, 0, 2, 0x06, 0x40, 0, 0, 0});
}

TEST(PgMappingEncodingTest, EveryTruncationOfADirectoryIsCorruption) {
  const Bytes rel_dir = ThreeRelDir();
  ASSERT_OK(DecodeRelDir(rel_dir));
  const DbDirEntry dbs[] = {{1663, 5}, {1663, 6}, {1664, 0}};
  const Bytes db_dir = EncodeDbDir(dbs);
  for (size_t len = 0; len < rel_dir.size(); ++len) {
    const std::span<const std::byte> prefix(rel_dir.data(), len);
    EXPECT_THAT(DecodeRelDir(prefix),
                StatusIs(StatusCode::kCorruption,
                         HasSubstr(len < 4 ? "shorter than its 4-byte count" : "truncated")))
        << len;
  }
  for (size_t len = 0; len < db_dir.size(); ++len) {
    const std::span<const std::byte> prefix(db_dir.data(), len);
    EXPECT_THAT(DecodeDbDir(prefix), StatusIs(StatusCode::kCorruption)) << len;
  }
}

TEST(PgMappingEncodingTest, TrailingBytesAreCorruption) {
  Bytes rel_dir = ThreeRelDir();
  rel_dir.push_back(std::byte{0});
  EXPECT_THAT(DecodeRelDir(rel_dir),
              StatusIs(StatusCode::kCorruption, HasSubstr("has 1 trailing bytes")));
  const DbDirEntry dbs[] = {{1663, 5}};
  Bytes db_dir = EncodeDbDir(dbs);
  db_dir.insert(db_dir.end(), 3, std::byte{0xFF});
  EXPECT_THAT(DecodeDbDir(db_dir),
              StatusIs(StatusCode::kCorruption, HasSubstr("has 3 trailing bytes")));
  // A count below the entries present reads as trailing bytes.
  Bytes short_count = ThreeRelDir();
  short_count[0] = std::byte{2};
  EXPECT_THAT(DecodeRelDir(short_count), StatusIs(StatusCode::kCorruption, HasSubstr("trailing")));
}

TEST(PgMappingEncodingTest, HugeCountIsCorruptionNotAnAllocation) {
  const Bytes bytes = B({0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0});
  EXPECT_THAT(DecodeRelDir(bytes), StatusIs(StatusCode::kCorruption, HasSubstr("truncated")));
  EXPECT_THAT(DecodeDbDir(bytes), StatusIs(StatusCode::kCorruption, HasSubstr("truncated")));
}

TEST(PgMappingEncodingTest, RelDirDisorderDuplicatesBadForkAndRelnodeZeroAreCorruption) {
  Bytes disorder = ThreeRelDir();  // swap the forks of entries 0 and 1: vm before main
  disorder[8] = std::byte{2};
  disorder[13] = std::byte{0};
  EXPECT_THAT(DecodeRelDir(disorder),
              StatusIs(StatusCode::kCorruption,
                       HasSubstr("entry 1 (relnode 16384 fork 0) is out of order after entry 0 "
                                 "(relnode 16384 fork 2)")));
  Bytes duplicate = ThreeRelDir();  // entry 1 == entry 0
  duplicate[13] = std::byte{0};
  EXPECT_THAT(DecodeRelDir(duplicate),
              StatusIs(StatusCode::kCorruption, HasSubstr("entry 1 (relnode 16384 fork 0) "
                                                          "duplicates entry 0")));
  Bytes bad_fork = ThreeRelDir();  // entry 2 fork 4
  bad_fork[18] = std::byte{4};
  EXPECT_THAT(DecodeRelDir(bad_fork),
              StatusIs(StatusCode::kCorruption, HasSubstr("entry 2 (relnode 16390 fork 4)")));
  Bytes zero = B({1, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_THAT(DecodeRelDir(zero),
              StatusIs(StatusCode::kCorruption, HasSubstr("relnode 0 (InvalidOid)")));
}

TEST(PgMappingEncodingTest, DbDirDisorderAndDuplicatesAreCorruption) {
  const Bytes disorder = B({2, 0, 0, 0, 0x7F, 6, 0, 0, 6, 0, 0, 0, 0x7F, 6, 0, 0, 5, 0, 0, 0});
  EXPECT_THAT(DecodeDbDir(disorder),
              StatusIs(StatusCode::kCorruption,
                       HasSubstr("entry 1 (1663/5) is out of order after entry 0 (1663/6)")));
  const Bytes duplicate = B({2, 0, 0, 0, 0x7F, 6, 0, 0, 5, 0, 0, 0, 0x7F, 6, 0, 0, 5, 0, 0, 0});
  EXPECT_THAT(DecodeDbDir(duplicate),
              StatusIs(StatusCode::kCorruption, HasSubstr("duplicates entry 0")));
}

// Any single flipped byte: an error, or a directory that re-encodes to the
// same bytes (the encoding is canonical, so nothing made up is accepted).
TEST(PgMappingEncodingTest, FlippedBytesDecodeToErrorOrCanonicalDirectory) {
  const Bytes rel_dir = ThreeRelDir();
  for (size_t i = 0; i < rel_dir.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes flipped = rel_dir;
      flipped[i] ^= std::byte(1 << bit);
      auto decoded = DecodeRelDir(flipped);
      if (!decoded.has_value()) {
        EXPECT_THAT(decoded, StatusIs(StatusCode::kCorruption));
        continue;
      }
      ASSERT_OK_AND_ASSIGN(const Bytes again, EncodeRelDir(*decoded));
      EXPECT_EQ(again, flipped) << "byte " << i << " bit " << bit;
    }
  }
  const DbDirEntry dbs[] = {{1663, 5}, {1663, 6}, {1664, 0}};
  const Bytes db_dir = EncodeDbDir(dbs);
  for (size_t i = 0; i < db_dir.size(); ++i) {
    Bytes flipped = db_dir;
    flipped[i] ^= std::byte{0x80};
    auto decoded = DecodeDbDir(flipped);
    if (decoded.has_value()) {
      EXPECT_EQ(EncodeDbDir(*decoded), flipped) << "byte " << i;
    } else {
      EXPECT_THAT(decoded, StatusIs(StatusCode::kCorruption));
    }
  }
}

// ---------------------------------------------------------------------------
// Reads against a Timeline
// ---------------------------------------------------------------------------

constexpr uint32_t kSpc = 1663;
constexpr uint32_t kDb = 5;
constexpr uint32_t kDb2 = 6;
const RelTag kRelA{kSpc, kDb, 16384, 0};
const RelTag kRelAFsm{kSpc, kDb, 16384, 1};
const RelTag kRelB{kSpc, kDb, 16385, 0};
const RelTag kRelC{kSpc, kDb2, 16390, 0};
const RelTag kMissing{kSpc, kDb, 99999, 0};

// What the test ingested: per relation, its sizes and page versions by LSN.
struct Model {
  std::map<RelTag, std::map<Lsn, uint32_t>> sizes;
  std::map<std::pair<RelTag, uint32_t>, std::map<Lsn, Bytes>> pages;

  std::optional<uint32_t> SizeAt(const RelTag& rel, Lsn lsn) const {
    const auto it = sizes.find(rel);
    if (it == sizes.end()) return std::nullopt;
    auto v = it->second.upper_bound(lsn);
    if (v == it->second.begin()) return std::nullopt;
    return std::prev(v)->second;
  }
  // The page a reader must see; nullopt when the relation does not exist.
  std::optional<Bytes> PageAt(const RelTag& rel, uint32_t blk, Lsn lsn) const {
    const auto size = SizeAt(rel, lsn);
    if (!size) return std::nullopt;
    if (blk >= *size) return Bytes(kPageSize);
    const auto& versions = pages.at({rel, blk});
    auto v = versions.upper_bound(lsn);
    if (v == versions.begin()) {
      ADD_FAILURE() << "model has no page " << blk << " at " << lsn.ToString();
      return Bytes{};
    }
    return std::prev(v)->second;
  }
};

class PgMappingTimelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(engine_,
                         pageserver::testing::CreateTestEngine(io_engine::IoEngineKind::kStdFs));
    ctx_.engine = engine_.get();
    ASSERT_OK_AND_ASSIGN(cache_, page_cache::PageCache::Create({.pages = 256}));
    config_.background_threads = false;
    tenant_ = layers::TenantId::Generate();
    id_ = layers::TimelineId::Generate();
    ASSERT_OK_AND_ASSIGN(tl_, Timeline::CreateEmpty(Resources(), TimelineDir(), tenant_, id_,
                                                    Lsn{0x10}, 16, config_));
  }

  void TearDown() override { tl_.reset(); }

  TimelineResources Resources() const { return {.ctx = &ctx_, .cache = cache_.get()}; }
  std::string TimelineDir() const { return dir_.File("timeline"); }

  // Closes and reopens the timeline from its directory (an empty rel-size cache).
  void Reopen() {
    ASSERT_OK(tl_->Shutdown(true));
    tl_.reset();
    ASSERT_OK_AND_ASSIGN(
        tl_, Timeline::Load(Resources(), TimelineDir(), tenant_, id_, nullptr, config_));
  }

  void PutImage(const Key& key, Lsn lsn, std::span<const std::byte> bytes) {
    ASSERT_OK_AND_ASSIGN(const Value value, Value::Image(bytes));
    ASSERT_OK(tl_->Put(key, lsn, value));
  }
  // A page whose bytes name (rel, blk, lsn), so a wrong version shows.
  void PutPage(const RelTag& rel, uint32_t blk, Lsn lsn) {
    const uint64_t seed = (uint64_t{rel.relnode} << 40) ^ (uint64_t{rel.forknum} << 36) ^
                          (uint64_t{blk} << 16) ^ lsn.value;
    Bytes page = pageserver::testing::PatternBytes(seed, 0, kPageSize);
    PutImage(Key::RelBlock(rel, blk), lsn, page);
    model_.pages[{rel, blk}][lsn] = std::move(page);
  }
  // Sets the size of `rel` at `lsn`, with a new page version of each block in [from, n).
  void Extend(const RelTag& rel, Lsn lsn, uint32_t from, uint32_t n) {
    for (uint32_t blk = from; blk < n; ++blk) PutPage(rel, blk, lsn);
    PutImage(Key::RelSize(rel), lsn, EncodeRelSize(n));
    model_.sizes[rel][lsn] = n;
  }
  void PutRelDir(uint32_t spc, uint32_t db, Lsn lsn, std::vector<RelDirEntry> entries) {
    ASSERT_OK_AND_ASSIGN(const Bytes bytes, EncodeRelDir(entries));
    PutImage(Key::RelDir(spc, db), lsn, bytes);
  }
  void PutDbDir(Lsn lsn, std::vector<DbDirEntry> entries) {
    PutImage(Key::DbDir(), lsn, EncodeDbDir(entries));
  }

  // The history the read tests check:
  //   0/20  db 5 {A}; A: 2 blocks
  //   0/30  A: 4 blocks, block 0 rewritten
  //   0/40  db 5 {A, A fsm, B}; A fsm: 1 block; B: 40 blocks
  //   0/50  db 6 {C}; C: 3 blocks; B block 5 rewritten
  //   last_record_lsn 0/60
  void IngestHistory() {
    PutDbDir(Lsn{0x20}, {{kSpc, kDb}});
    PutRelDir(kSpc, kDb, Lsn{0x20}, {{kRelA.relnode, 0}});
    Extend(kRelA, Lsn{0x20}, 0, 2);
    ASSERT_OK(tl_->FinishLsn(Lsn{0x20}));

    PutPage(kRelA, 0, Lsn{0x30});
    Extend(kRelA, Lsn{0x30}, 2, 4);
    ASSERT_OK(tl_->FinishLsn(Lsn{0x30}));

    PutRelDir(kSpc, kDb, Lsn{0x40}, {{kRelA.relnode, 0}, {kRelA.relnode, 1}, {kRelB.relnode, 0}});
    Extend(kRelAFsm, Lsn{0x40}, 0, 1);
    Extend(kRelB, Lsn{0x40}, 0, 40);
    ASSERT_OK(tl_->FinishLsn(Lsn{0x40}));

    PutDbDir(Lsn{0x50}, {{kSpc, kDb}, {kSpc, kDb2}});
    PutRelDir(kSpc, kDb2, Lsn{0x50}, {{kRelC.relnode, 0}});
    PutPage(kRelB, 5, Lsn{0x50});
    Extend(kRelC, Lsn{0x50}, 0, 3);
    ASSERT_OK(tl_->FinishLsn(Lsn{0x60}));
  }

  void ExpectPages(std::span<const RelPageRequest> requests) {
    const auto results = GetRelPages(*tl_, requests);
    ASSERT_EQ(results.size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      const RelPageRequest& r = requests[i];
      SCOPED_TRACE("request " + std::to_string(i) + ": " + r.rel.ToString() + " blk " +
                   std::to_string(r.blkno) + " at " + r.lsn.ToString());
      const auto expected = model_.PageAt(r.rel, r.blkno, r.lsn);
      if (!expected) {
        EXPECT_THAT(results[i], StatusIs(StatusCode::kNotFound, HasSubstr(r.rel.ToString())));
        continue;
      }
      ASSERT_OK(results[i]);
      EXPECT_TRUE(*results[i] == *expected);
    }
  }

  // Every answer the history above implies, at several LSNs.
  void CheckHistory() {
    // Sizes grow over LSNs; old LSNs keep their old sizes.
    const std::pair<uint64_t, uint32_t> a_sizes[] = {{0x20, 2}, {0x28, 2}, {0x30, 4}, {0x60, 4}};
    for (const auto& [lsn, want] : a_sizes) {
      ASSERT_OK_AND_ASSIGN(const uint32_t n, GetRelSize(*tl_, kRelA, Lsn{lsn}));
      EXPECT_EQ(n, want) << "lsn " << lsn;
    }
    EXPECT_THAT(GetRelSize(*tl_, kRelA, Lsn{0x1F}),
                StatusIs(StatusCode::kNotFound, HasSubstr("relation 1663/5/16384 does not exist")));
    EXPECT_THAT(GetRelSize(*tl_, kRelB, Lsn{0x3F}),
                StatusIs(StatusCode::kNotFound, HasSubstr("1663/5/16385")));
    ASSERT_OK_AND_ASSIGN(const uint32_t b_size, GetRelSize(*tl_, kRelB, Lsn{0x40}));
    EXPECT_EQ(b_size, 40u);

    ASSERT_OK_AND_ASSIGN(bool exists, RelExists(*tl_, kRelA, Lsn{0x1F}));
    EXPECT_FALSE(exists);
    ASSERT_OK_AND_ASSIGN(exists, RelExists(*tl_, kRelA, Lsn{0x20}));
    EXPECT_TRUE(exists);
    ASSERT_OK_AND_ASSIGN(exists, RelExists(*tl_, kRelAFsm, Lsn{0x3F}));
    EXPECT_FALSE(exists);
    ASSERT_OK_AND_ASSIGN(exists, RelExists(*tl_, kRelAFsm, Lsn{0x60}));
    EXPECT_TRUE(exists);
    ASSERT_OK_AND_ASSIGN(exists, RelExists(*tl_, kMissing, Lsn{0x60}));
    EXPECT_FALSE(exists);

    // Database sizes: 8192 * the blocks of every fork in the directory.
    ASSERT_OK_AND_ASSIGN(uint64_t bytes, GetDbSize(*tl_, kSpc, kDb, Lsn{0x20}));
    EXPECT_EQ(bytes, 2u * 8192);
    ASSERT_OK_AND_ASSIGN(bytes, GetDbSize(*tl_, kSpc, kDb, Lsn{0x3F}));
    EXPECT_EQ(bytes, 4u * 8192);
    ASSERT_OK_AND_ASSIGN(bytes, GetDbSize(*tl_, kSpc, kDb, Lsn{0x60}));
    EXPECT_EQ(bytes, (4u + 1 + 40) * 8192);
    ASSERT_OK_AND_ASSIGN(bytes, GetDbSize(*tl_, kSpc, kDb2, Lsn{0x50}));
    EXPECT_EQ(bytes, 3u * 8192);
    EXPECT_THAT(GetDbSize(*tl_, kSpc, kDb2, Lsn{0x4F}),
                StatusIs(StatusCode::kNotFound, HasSubstr("database 1663/6 does not exist")));
    EXPECT_THAT(GetDbSize(*tl_, kSpc, kDb, Lsn{0x1F}),
                StatusIs(StatusCode::kNotFound, HasSubstr("database 1663/5")));

    // Directories.
    ASSERT_OK_AND_ASSIGN(const auto dbs, GetDbDir(*tl_, Lsn{0x4F}));
    EXPECT_THAT(dbs, ElementsAre(DbDirEntry{kSpc, kDb}));
    ASSERT_OK_AND_ASSIGN(const auto dbs_later, GetDbDir(*tl_, Lsn{0x60}));
    EXPECT_THAT(dbs_later, ElementsAre(DbDirEntry{kSpc, kDb}, DbDirEntry{kSpc, kDb2}));
    EXPECT_THAT(GetDbDir(*tl_, Lsn{0x1F}), StatusIs(StatusCode::kNotFound));
    ASSERT_OK_AND_ASSIGN(const auto rels, GetRelDir(*tl_, kSpc, kDb, Lsn{0x60}));
    EXPECT_THAT(rels,
                ElementsAre(RelDirEntry{16384, 0}, RelDirEntry{16384, 1}, RelDirEntry{16385, 0}));

    // Pages: versions by LSN, zero pages past nblocks, missing relations.
    const RelPageRequest singles[] = {
        {kRelA, 0, Lsn{0x20}},    {kRelA, 0, Lsn{0x2F}},  {kRelA, 0, Lsn{0x30}},
        {kRelA, 2, Lsn{0x20}},  // past nblocks at 0/20: zero page
        {kRelA, 3, Lsn{0x60}},    {kRelA, 4, Lsn{0x60}},  {kRelB, 5, Lsn{0x4F}},
        {kRelB, 5, Lsn{0x50}},    {kRelB, 39, Lsn{0x60}}, {kRelB, 1000000, Lsn{0x60}},
        {kRelC, 0, Lsn{0x4F}},  // C does not exist yet
        {kMissing, 0, Lsn{0x60}},
    };
    ExpectPages(singles);
    const auto zero = GetRelPages(*tl_, std::span(&singles[3], 1));
    ASSERT_OK(zero[0]);
    EXPECT_EQ(*zero[0], Bytes(kPageSize));

    // A batch of more than 32 requests over several relations and LSNs.
    std::vector<RelPageRequest> batch;
    for (uint32_t blk = 0; blk < 42; ++blk) {
      batch.push_back({kRelB, blk, Lsn{0x40 + (blk % 3) * 0x10}});
      if (blk % 4 == 0) batch.push_back({kRelA, blk / 4, Lsn{0x20 + (blk % 5) * 0x10}});
      if (blk % 7 == 0) batch.push_back({kRelC, blk / 7, Lsn{0x48 + (blk % 2) * 0x10}});
    }
    batch.push_back({kMissing, 1, Lsn{0x60}});
    batch.push_back(batch.front());  // a duplicate request
    ASSERT_GT(batch.size(), config_.max_get_vectored_keys);
    ExpectPages(batch);
  }

  pageserver::testing::TempDir dir_;
  std::unique_ptr<io_engine::IoEngine> engine_;
  virtual_file::IoContext ctx_;
  std::unique_ptr<page_cache::PageCache> cache_;
  TimelineConfig config_;
  layers::TenantId tenant_;
  layers::TimelineId id_;
  std::shared_ptr<Timeline> tl_;
  Model model_;
};

TEST_F(PgMappingTimelineTest, AnswersFromTheInMemoryLayer) {
  IngestHistory();
  CheckHistory();
}

TEST_F(PgMappingTimelineTest, SameAnswersAfterCheckpointToAnL0Layer) {
  IngestHistory();
  ASSERT_OK(tl_->Checkpoint());
  EXPECT_GE(tl_->Stats().l0_deltas, 1u);
  EXPECT_EQ(tl_->disk_consistent_lsn(), Lsn{0x60});
  CheckHistory();
}

TEST_F(PgMappingTimelineTest, SameAnswersAfterReopenWithAnEmptyCache) {
  IngestHistory();
  Reopen();
  ASSERT_EQ(tl_->rel_size_cache().size(), 0u);
  CheckHistory();
}

TEST_F(PgMappingTimelineTest, RandomBatchesMatchTheModel) {
  IngestHistory();
  const uint64_t seed = pageserver::testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const RelTag rels[] = {kRelA, kRelAFsm, kRelB, kRelC, kMissing};
  for (int round = 0; round < 4; ++round) {
    std::vector<RelPageRequest> batch;
    const size_t n = 1 + rng() % 150;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(
          {rels[rng() % 5], static_cast<uint32_t>(rng() % 45), Lsn{0x10 + 1 + rng() % 0x50}});
    }
    ExpectPages(batch);
    if (round == 1) ASSERT_OK(tl_->Checkpoint());
  }
}

TEST_F(PgMappingTimelineTest, RepeatedLatestLsnReadHitsTheCache) {
  IngestHistory();
  Reopen();
  RelSizeCache& cache = tl_->rel_size_cache();
  const Lsn latest = tl_->last_record_lsn();
  // A read below last_record_lsn must not fill the cache.
  ASSERT_OK_AND_ASSIGN(uint32_t n, GetRelSize(*tl_, kRelA, Lsn{0x30}));
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(cache.size(), 0u);
  const uint64_t misses = cache.misses();
  const uint64_t hits = cache.hits();
  ASSERT_OK_AND_ASSIGN(n, GetRelSize(*tl_, kRelA, latest));
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(cache.misses(), misses + 1);
  EXPECT_EQ(cache.size(), 1u);
  ASSERT_OK_AND_ASSIGN(n, GetRelSize(*tl_, kRelA, latest));
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(cache.hits(), hits + 1);
  EXPECT_EQ(cache.misses(), misses + 1);
  // Page requests and db sizes use the same cache.
  const RelPageRequest request{kRelA, 1, latest};
  const auto pages = GetRelPages(*tl_, std::span(&request, 1));
  ASSERT_OK(pages[0]);
  EXPECT_EQ(cache.hits(), hits + 2);
  ASSERT_OK(GetDbSize(*tl_, kSpc, kDb, latest));
  EXPECT_EQ(cache.hits(), hits + 3);
  EXPECT_EQ(cache.size(), 3u);  // A, A fsm and B filled by the db-size read
}

TEST_F(PgMappingTimelineTest, OldLsnReadAfterSizeChangeDoesNotSeeTheNewSize) {
  IngestHistory();
  ASSERT_OK_AND_ASSIGN(uint32_t n, GetRelSize(*tl_, kRelA, Lsn{0x60}));
  EXPECT_EQ(n, 4u);
  Extend(kRelA, Lsn{0x70}, 4, 6);
  ASSERT_OK(tl_->FinishLsn(Lsn{0x70}));
  ASSERT_OK_AND_ASSIGN(n, GetRelSize(*tl_, kRelA, Lsn{0x60}));
  EXPECT_EQ(n, 4u);
  ASSERT_OK_AND_ASSIGN(n, GetRelSize(*tl_, kRelA, Lsn{0x6F}));
  EXPECT_EQ(n, 4u);
  ASSERT_OK_AND_ASSIGN(n, GetRelSize(*tl_, kRelA, Lsn{0x70}));
  EXPECT_EQ(n, 6u);
  const RelPageRequest requests[] = {
      {kRelA, 5, Lsn{0x60}}, {kRelA, 5, Lsn{0x70}}, {kRelA, 4, Lsn{0x6F}}, {kRelA, 4, Lsn{0x70}}};
  ExpectPages(requests);
  const auto pages = GetRelPages(*tl_, requests);
  ASSERT_OK(pages[0]);
  EXPECT_EQ(*pages[0], Bytes(kPageSize));
  ASSERT_OK(pages[1]);
  EXPECT_NE(*pages[1], Bytes(kPageSize));
  ASSERT_OK_AND_ASSIGN(const uint64_t bytes, GetDbSize(*tl_, kSpc, kDb, Lsn{0x6F}));
  EXPECT_EQ(bytes, 45u * 8192);
}

TEST_F(PgMappingTimelineTest, LsnErrorsPassThroughEvenWithACacheEntry) {
  IngestHistory();
  ASSERT_OK(GetRelSize(*tl_, kRelA, Lsn{0x60}));  // a cache entry for A
  EXPECT_THAT(GetRelSize(*tl_, kRelA, Lsn{0x61}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(GetRelSize(*tl_, kRelA, Lsn::Invalid()), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RelExists(*tl_, kRelA, Lsn{0x61}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(GetDbSize(*tl_, kSpc, kDb, Lsn{0x61}), StatusIs(StatusCode::kInvalidArgument));
  // Per-request errors stay per request.
  const RelPageRequest requests[] = {{kRelA, 0, Lsn{0x60}},
                                     {kRelA, 0, Lsn{0x61}},
                                     {kRelA, 9, Lsn{0x61}},
                                     {kMissing, 0, Lsn{0x60}},
                                     {kRelA, 9, Lsn{0x60}}};
  const auto pages = GetRelPages(*tl_, requests);
  ASSERT_EQ(pages.size(), 5u);
  EXPECT_OK(pages[0]);
  EXPECT_THAT(pages[1], StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(pages[2], StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(pages[3], StatusIs(StatusCode::kNotFound, HasSubstr("1663/5/99999")));
  ASSERT_OK(pages[4]);
  EXPECT_EQ(*pages[4], Bytes(kPageSize));
}

// Put refuses a malformed relation size (InvalidArgument), so only the
// directories can be stored malformed; a read reports them as Corruption.
TEST_F(PgMappingTimelineTest, MalformedDirectoriesAreCorruption) {
  PutImage(Key::RelDir(kSpc, 7), Lsn{0x20}, B({1, 0, 0, 0, 0xF4, 1, 0, 0}));   // truncated
  PutImage(Key::RelDir(kSpc, 8), Lsn{0x20}, B({1, 0, 0, 0, 99, 0, 0, 0, 0}));  // no size key
  PutImage(Key::DbDir(), Lsn{0x20}, B({1, 0, 0, 0}));
  ASSERT_OK(tl_->FinishLsn(Lsn{0x20}));
  EXPECT_THAT(GetDbSize(*tl_, kSpc, 7, Lsn{0x20}),
              StatusIs(StatusCode::kCorruption, HasSubstr("database 1663/7 at 0/20")));
  EXPECT_THAT(GetRelDir(*tl_, kSpc, 7, Lsn{0x20}),
              StatusIs(StatusCode::kCorruption, HasSubstr("truncated")));
  EXPECT_THAT(GetDbSize(*tl_, kSpc, 8, Lsn{0x20}),
              StatusIs(StatusCode::kNotFound, HasSubstr("relation 1663/8/99 does not exist")));
  EXPECT_THAT(GetDbDir(*tl_, Lsn{0x20}), StatusIs(StatusCode::kCorruption, HasSubstr("truncated")));
}

}  // namespace
}  // namespace pageserver::timeline
