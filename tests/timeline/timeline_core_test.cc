#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "tests/support/counting_engine.h"
#include "tests/support/status_matchers.h"
#include "tests/timeline/timeline_test_util.h"
#include "timeline/pg_mapping.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;
using test_util::Bytes;
using test_util::ImageValue;
using test_util::InitValue;
using test_util::Page;
using test_util::RelKey;
using test_util::WriteValue;
using ::testing::HasSubstr;
using testing::StatusIs;

class TimelineTest : public test_util::TimelineTestBase {
 protected:
  // Images of blocks [0, n) at `lsn`, values Page(seed_base + blk).
  void PutImages(Timeline& tl, uint32_t n, Lsn lsn, uint64_t seed_base) {
    for (uint32_t blk = 0; blk < n; ++blk) {
      ASSERT_OK(tl.Put(RelKey(blk), lsn, ImageValue(Page(seed_base + blk))));
    }
    ASSERT_OK(tl.FinishLsn(lsn));
  }
  void ExpectPage(const Timeline& tl, const Key& key, Lsn lsn, const Bytes& expected) {
    auto got = tl.Get(key, lsn);
    ASSERT_TRUE(got.has_value()) << key.Describe() << " at " << lsn.ToString() << ": "
                                 << got.error().ToString();
    EXPECT_TRUE(*got == expected) << key.Describe() << " at " << lsn.ToString();
  }
  static size_t FilesWithPrefix(const std::string& dir, const std::string& prefix) {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().filename().string().starts_with(prefix)) ++n;
    }
    return n;
  }
};

TEST_P(TimelineTest, ReadsSeeEachLsnsVersionFromTheOpenLayer) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 4, Lsn{0x20}, 100);
  PutImages(*tl, 2, Lsn{0x30}, 200);
  ExpectPage(*tl, RelKey(0), Lsn{0x20}, Page(100));
  ExpectPage(*tl, RelKey(0), Lsn{0x2F}, Page(100));
  ExpectPage(*tl, RelKey(0), Lsn{0x30}, Page(200));
  ExpectPage(*tl, RelKey(3), Lsn{0x30}, Page(103));
  EXPECT_THAT(tl->Get(RelKey(0), Lsn{0x1F}).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(tl->Get(RelKey(9), Lsn{0x30}).status(), StatusIs(StatusCode::kNotFound));
}

TEST_P(TimelineTest, ReadLsnMustBeValidAndIngested) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 1, Lsn{0x20}, 1);
  EXPECT_THAT(tl->Get(RelKey(0), Lsn{0x21}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("above last_record_lsn")));
  EXPECT_THAT(tl->Get(RelKey(0), Lsn{0}).status(), StatusIs(StatusCode::kInvalidArgument));
  std::vector<Key> too_many(config_.max_get_vectored_keys + 1, RelKey(0));
  for (const auto& r : tl->GetVectored(too_many, Lsn{0x20})) {
    EXPECT_THAT(r.status(), StatusIs(StatusCode::kInvalidArgument));
  }
}

TEST_P(TimelineTest, RecordsAreRedoneOnTheirBaseAcrossLayers) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  const Key key = RelKey(7);
  ASSERT_OK(tl->Put(key, Lsn{0x20}, ImageValue(Page(1))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x20}));
  ASSERT_OK(tl->Checkpoint());  // the image is now in an L0 on disk
  ASSERT_OK(tl->Put(key, Lsn{0x30}, WriteValue(100, Bytes(3, std::byte{0xAB}))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x30}));
  ASSERT_OK(tl->Checkpoint());
  ASSERT_OK(tl->Put(key, Lsn{0x40}, WriteValue(101, Bytes(1, std::byte{0xCD}))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x40}));  // in the open layer
  Bytes expected = Page(1);
  std::fill_n(expected.begin() + 100, 3, std::byte{0xAB});
  ExpectPage(*tl, key, Lsn{0x35}, expected);
  expected[101] = std::byte{0xCD};
  ExpectPage(*tl, key, Lsn{0x40}, expected);
  ExpectPage(*tl, key, Lsn{0x2F}, Page(1));
  // An init record hides everything below it.
  ASSERT_OK(tl->Put(key, Lsn{0x50}, InitValue(8, Bytes(2, std::byte{0x11}))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x50}));
  Bytes zero(kPageSize);
  zero[8] = zero[9] = std::byte{0x11};
  ExpectPage(*tl, key, Lsn{0x50}, zero);
  ExpectPage(*tl, key, Lsn{0x40}, expected);
}

TEST_P(TimelineTest, WriteWithoutBaseIsCorruptionNotAZeroPage) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  ASSERT_OK(tl->Put(RelKey(1), Lsn{0x20}, WriteValue(0, Bytes(4, std::byte{1}))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x20}));
  EXPECT_THAT(tl->Get(RelKey(1), Lsn{0x20}).status(),
              StatusIs(StatusCode::kCorruption, HasSubstr("without a base image")));
  ASSERT_OK(tl->Checkpoint());
  EXPECT_THAT(tl->Get(RelKey(1), Lsn{0x20}).status(), StatusIs(StatusCode::kCorruption));
}

TEST_P(TimelineTest, BadPutsAreRejectedAndWriteNothing) {
  config_.keyspace = layers::KeySpace(KeyRange{RelKey(0), RelKey(100)});
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 1, Lsn{0x20}, 1);
  EXPECT_THAT(tl->Put(RelKey(1), Lsn{0x20}, ImageValue(Page(2))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("last_record_lsn")));
  EXPECT_THAT(tl->Put(RelKey(200), Lsn{0x30}, ImageValue(Page(2))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("keyspace")));
  EXPECT_THAT(tl->Put(RelKey(2), Lsn{0x30}, ImageValue(Bytes(100))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("page image of 100 bytes")));
  ASSERT_OK(tl->Put(RelKey(3), Lsn{0x40}, ImageValue(Page(3))));
  EXPECT_THAT(tl->Put(RelKey(4), Lsn{0x38}, ImageValue(Page(4))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("previous put")));
  EXPECT_THAT(tl->FinishLsn(Lsn{0x3F}), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(tl->FinishLsn(Lsn{0x40}));
  EXPECT_THAT(tl->Get(RelKey(2), Lsn{0x40}).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(tl->Get(RelKey(4), Lsn{0x40}).status(), StatusIs(StatusCode::kNotFound));
  ExpectPage(*tl, RelKey(3), Lsn{0x40}, Page(3));
}

TEST_P(TimelineTest, NonPageKeysTakeOnlyImages) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  const Key size_key = Key::RelSize(layers::RelTag{1663, 5, 16384, 0});
  EXPECT_THAT(tl->Put(size_key, Lsn{0x20}, WriteValue(0, Bytes(4))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a page")));
  EXPECT_THAT(tl->Put(size_key, Lsn{0x20}, ImageValue(Bytes(3))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("relation size")));
  ASSERT_OK(tl->Put(size_key, Lsn{0x20}, ImageValue(EncodeRelSize(9))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x20}));
  EXPECT_EQ(*tl->Get(size_key, Lsn{0x20}), EncodeRelSize(9));
}

TEST_P(TimelineTest, IngestBelongsToOneThreadUntilDetached) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 1, Lsn{0x20}, 1);
  common::Status other;
  std::thread([&] { other = tl->Put(RelKey(1), Lsn{0x30}, ImageValue(Page(2))); }).join();
  EXPECT_THAT(other, StatusIs(StatusCode::kInvalidArgument, HasSubstr("another thread")));
  ASSERT_OK(tl->DetachIngest());
  std::thread([&] {
    other = tl->Put(RelKey(1), Lsn{0x30}, ImageValue(Page(2)));
    if (other.ok()) other = tl->FinishLsn(Lsn{0x30});
    if (other.ok()) other = tl->DetachIngest();
  }).join();
  ASSERT_OK(other);
  ExpectPage(*tl, RelKey(1), Lsn{0x30}, Page(2));
}

TEST_P(TimelineTest, WaitLsnWakesOnFinishAndTimesOut) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  EXPECT_THAT(tl->WaitLsn(Lsn{0x20}, std::chrono::milliseconds(20)),
              StatusIs(StatusCode::kTimedOut, HasSubstr("0/20")));
  common::Status waited;
  std::thread waiter([&] { waited = tl->WaitLsn(Lsn{0x20}, std::chrono::seconds(30)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  PutImages(*tl, 1, Lsn{0x20}, 1);
  waiter.join();
  EXPECT_OK(waited);
}

TEST_P(TimelineTest, CheckpointMakesEverythingDurableAcrossReload) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 20, Lsn{0x20}, 100);
  ASSERT_OK(tl->Checkpoint());
  PutImages(*tl, 10, Lsn{0x30}, 200);
  ASSERT_OK(tl->Checkpoint());
  EXPECT_EQ(tl->disk_consistent_lsn(), Lsn{0x30});
  EXPECT_EQ(tl->Stats().l0_deltas, 2u);
  EXPECT_EQ(FilesWithPrefix(tl->dir(), "ephemeral-"), 0u);
  tl = Reload(tl);
  EXPECT_EQ(tl->last_record_lsn(), Lsn{0x30});
  ExpectPage(*tl, RelKey(5), Lsn{0x20}, Page(105));
  ExpectPage(*tl, RelKey(5), Lsn{0x30}, Page(205));
  ExpectPage(*tl, RelKey(15), Lsn{0x30}, Page(115));
  // Ingest resumes above disk_consistent_lsn.
  PutImages(*tl, 1, Lsn{0x40}, 300);
  ExpectPage(*tl, RelKey(0), Lsn{0x40}, Page(300));
}

TEST_P(TimelineTest, UnflushedDataIsGoneAfterReloadAndReingestWorks) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 3, Lsn{0x20}, 100);
  ASSERT_OK(tl->Checkpoint());
  PutImages(*tl, 3, Lsn{0x30}, 200);  // never flushed
  tl = Reload(tl);
  EXPECT_EQ(tl->last_record_lsn(), Lsn{0x20});
  ExpectPage(*tl, RelKey(1), Lsn{0x20}, Page(101));
  PutImages(*tl, 3, Lsn{0x30}, 200);  // the ingest source resends
  ExpectPage(*tl, RelKey(1), Lsn{0x30}, Page(201));
}

TEST_P(TimelineTest, CheckpointDistanceFreezesAndBackpressureFlushes) {
  config_.checkpoint_distance = 64 * 1024;  // ~8 pages per layer
  config_.max_frozen_layers = 1;
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  for (uint32_t i = 0; i < 40; ++i) PutImages(*tl, 1, Lsn{0x20 + i}, i);
  const TimelineStats stats = tl->Stats();
  EXPECT_LE(stats.frozen_layers, 1u);
  EXPECT_GE(stats.l0_deltas, 3u);
  EXPECT_GT(tl->disk_consistent_lsn(), Lsn{0x10});
  for (uint32_t i = 0; i < 40; ++i) ExpectPage(*tl, RelKey(0), Lsn{0x20 + i}, Page(i));
}

TEST_P(TimelineTest, CompactionImagesAndGcKeepEveryReadAboveTheCutoff) {
  config_.gc_horizon = 0x80;
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  uint64_t lsn = 0x100;
  for (int round = 0; round < 4; ++round, lsn += 0x100) {
    PutImages(*tl, 30, Lsn{lsn}, lsn);
    if (round == 0) ASSERT_OK(tl->Put(RelKey(41), Lsn{lsn + 1}, InitValue(0, {})));
    ASSERT_OK(tl->Put(RelKey(41), Lsn{lsn + 2}, WriteValue(round, Bytes(1, std::byte{0xEE}))));
    ASSERT_OK(tl->FinishLsn(Lsn{lsn + 2}));
    ASSERT_OK(tl->Checkpoint());
  }
  const Lsn last = tl->last_record_lsn();
  auto compacted = tl->Compact(/*force=*/true);
  ASSERT_OK(compacted);
  EXPECT_EQ(compacted->inputs, 4u);
  // Few keys: one output, covering the whole keyspace, which the map (like
  // a reload) counts as an L0 (compaction.h); it is merged again next time.
  EXPECT_EQ(compacted->outputs, 1u);
  EXPECT_EQ(tl->Stats().l0_deltas + tl->Stats().l1_deltas, 1u);
  ExpectPage(*tl, RelKey(3), Lsn{0x200}, Page(0x203));
  auto images = tl->CreateImages(/*force=*/true);
  ASSERT_OK(images);
  EXPECT_EQ(*images, 1u) << "one image layer over the single L1 partition";
  EXPECT_EQ(tl->Stats().images, 1u);
  // Another round on top, so GC has an image to stand on below the cutoff.
  PutImages(*tl, 30, Lsn{lsn}, lsn);
  ASSERT_OK(tl->Checkpoint());
  auto gc = tl->Gc();
  ASSERT_OK(gc);
  EXPECT_EQ(gc->cutoff, Lsn{lsn - config_.gc_horizon});
  EXPECT_GE(gc->removed, 1u);
  EXPECT_EQ(tl->gc_cutoff(), gc->cutoff);
  EXPECT_THAT(tl->Get(RelKey(3), Lsn{0x200}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("GC cutoff")));
  EXPECT_LT(last, gc->cutoff);
  ExpectPage(*tl, RelKey(3), gc->cutoff, Page(0x403));
  ExpectPage(*tl, RelKey(3), Lsn{lsn}, Page(lsn + 3));
  Bytes init(kPageSize);
  init[0] = init[1] = init[2] = init[3] = std::byte{0xEE};
  ExpectPage(*tl, RelKey(41), gc->cutoff, init);
  // The cutoff survives a reload.
  tl = Reload(tl);
  EXPECT_EQ(tl->gc_cutoff(), gc->cutoff);
  ExpectPage(*tl, RelKey(3), Lsn{lsn}, Page(lsn + 3));
}

TEST_P(TimelineTest, CompactionInputsAreDeletedOnlyAfterTheLastReader) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 5, Lsn{0x20}, 1);
  ASSERT_OK(tl->Checkpoint());
  PutImages(*tl, 5, Lsn{0x30}, 2);
  ASSERT_OK(tl->Checkpoint());
  std::shared_ptr<const LayerMap> old_map = tl->layer_map();  // a reader's snapshot
  ASSERT_EQ(old_map->L0Deltas().size(), 2u);
  const std::string l0_path = LoadedLayerOf(*old_map->L0Deltas()[0])->path;
  ASSERT_OK(tl->Compact(true));
  struct stat st;
  EXPECT_EQ(::stat(l0_path.c_str(), &st), 0) << "still held by the old snapshot";
  old_map.reset();
  EXPECT_NE(::stat(l0_path.c_str(), &st), 0) << "deleted with the last holder";
  ExpectPage(*tl, RelKey(4), Lsn{0x30}, Page(6));
  tl = Reload(tl);
  EXPECT_EQ(tl->layer_map()->size(), 1u);
  ExpectPage(*tl, RelKey(4), Lsn{0x20}, Page(5));
}

TEST_P(TimelineTest, BranchReadsAncestorBelowBranchPointAndOwnWritesAbove) {
  auto parent = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*parent, 4, Lsn{0x20}, 100);
  ASSERT_OK(parent->Checkpoint());
  PutImages(*parent, 4, Lsn{0x30}, 200);  // in memory only
  const layers::TimelineId child_id = layers::TimelineId::Generate();
  EXPECT_THAT(Timeline::CreateBranch(resources(), data_dir(), child_id, parent, Lsn{0x31}, config_)
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("last_record_lsn")));
  auto child =
      Timeline::CreateBranch(resources(), data_dir(), child_id, parent, Lsn{0x30}, config_);
  ASSERT_OK(child);
  std::shared_ptr<Timeline> tl = *child;
  PutImages(*parent, 4, Lsn{0x40}, 300);  // parent moves on
  ASSERT_OK(tl->Put(RelKey(1), Lsn{0x35}, ImageValue(Page(999))));
  ASSERT_OK(tl->FinishLsn(Lsn{0x35}));
  ExpectPage(*tl, RelKey(0), Lsn{0x35}, Page(200));
  ExpectPage(*tl, RelKey(1), Lsn{0x35}, Page(999));
  ExpectPage(*parent, RelKey(1), Lsn{0x40}, Page(301));
  EXPECT_THAT(tl->Get(RelKey(0), Lsn{0x2F}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("GC cutoff")));
  ASSERT_OK(tl->Checkpoint());
  ASSERT_OK(parent->Checkpoint());
  // Reload both, ancestor first.
  tl.reset();
  parent = Reload(parent);
  auto loaded = Timeline::Load(resources(), data_dir(), tenant_, child_id, parent, config_);
  ASSERT_OK(loaded);
  ExpectPage(**loaded, RelKey(0), Lsn{0x35}, Page(200));
  ExpectPage(**loaded, RelKey(1), Lsn{0x35}, Page(999));
  EXPECT_THAT(Timeline::Load(resources(), data_dir(), tenant_, child_id, nullptr, config_).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("ancestor")));
}

TEST_P(TimelineTest, AncestorGcKeepsWhatABranchNeeds) {
  config_.gc_horizon = 0x10;
  auto parent = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*parent, 8, Lsn{0x100}, 1);
  ASSERT_OK(parent->Checkpoint());
  auto child = Timeline::CreateBranch(resources(), data_dir(), layers::TimelineId::Generate(),
                                      parent, Lsn{0x100}, config_);
  ASSERT_OK(child);
  for (uint64_t lsn = 0x200; lsn <= 0x500; lsn += 0x100) {
    PutImages(*parent, 8, Lsn{lsn}, lsn);
    ASSERT_OK(parent->Checkpoint());
  }
  ASSERT_OK(parent->Compact(true));
  ASSERT_OK(parent->CreateImages(true));
  ASSERT_OK(parent->Gc());
  EXPECT_GT(parent->gc_cutoff(), Lsn{0x100});
  ExpectPage(**child, RelKey(5), Lsn{0x100}, Page(6));
  // A branch below the cutoff is refused.
  EXPECT_THAT(Timeline::CreateBranch(resources(), data_dir(), layers::TimelineId::Generate(),
                                     parent, Lsn{0x100}, config_)
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("GC cutoff")));
}

TEST_P(TimelineTest, BatchOf32AdjacentPagesIsOneEngineBatchOfTwoReads) {
  testing::CountingEngine counting(engine());
  mutable_ctx().engine = &counting;
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 64, Lsn{0x20}, 1);
  ASSERT_OK(tl->Checkpoint());
  ASSERT_OK(tl->CreateImages(true));
  ASSERT_EQ(tl->Stats().images, 1u);
  std::vector<Key> keys;
  for (uint32_t blk = 16; blk < 48; ++blk) keys.push_back(RelKey(blk));
  (void)tl->GetVectored(keys, Lsn{0x20});  // warm the index blocks
  const uint64_t batches = counting.batches();
  const uint64_t reads = counting.reads();
  auto results = tl->GetVectored(keys, Lsn{0x20});
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(results[i].has_value()) << results[i].error().ToString();
    EXPECT_TRUE(*results[i] == Page(1 + 16 + i));
  }
  // 32 adjacent 8 KiB pages (+16-byte headers) = 262,656 bytes, cut at the
  // 256 KiB read cap: 2 physical reads (1/16 per page) in one engine batch.
  EXPECT_EQ(counting.batches() - batches, 1u);
  EXPECT_EQ(counting.reads() - reads, 2u);
}

TEST_P(TimelineTest, CorruptDataBlockFailsOnlyTheKeysThatReadIt) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 8, Lsn{0x20}, 1);
  ASSERT_OK(tl->Checkpoint());
  ASSERT_EQ(tl->Stats().l0_deltas, 1u);
  const std::string path = LoadedLayerOf(*tl->layer_map()->L0Deltas()[0])->path;
  // Values start at 8192, one blob (16-byte header + 1-byte kind + page) per
  // key in key order: flip a byte inside the third value.
  std::vector<std::byte> file = testing::ReadWholeFile(path);
  const size_t blob = 16 + 1 + kPageSize;
  file[8192 + 2 * blob + 100] ^= std::byte{0xFF};
  testing::WriteWholeFile(path, file);
  tl = Reload(tl);
  ASSERT_FALSE(tl->broken());
  std::vector<Key> keys;
  for (uint32_t blk = 0; blk < 8; ++blk) keys.push_back(RelKey(blk));
  auto results = tl->GetVectored(keys, Lsn{0x20});
  for (uint32_t blk = 0; blk < 8; ++blk) {
    if (blk == 2) {
      EXPECT_THAT(results[blk].status(), StatusIs(StatusCode::kCorruption));
    } else {
      ASSERT_TRUE(results[blk].has_value()) << results[blk].error().ToString();
      EXPECT_TRUE(*results[blk] == Page(1 + blk));
    }
  }
}

TEST_P(TimelineTest, CorruptLayerSummaryMarksTheTimelineBroken) {
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 2, Lsn{0x20}, 1);
  ASSERT_OK(tl->Checkpoint());
  const std::string path = LoadedLayerOf(*tl->layer_map()->L0Deltas()[0])->path;
  std::vector<std::byte> file = testing::ReadWholeFile(path);
  file[40] ^= std::byte{1};
  testing::WriteWholeFile(path, file);
  tl = Reload(tl);
  ASSERT_TRUE(tl->broken());
  EXPECT_THAT(tl->Get(RelKey(0), Lsn{0x20}).status(),
              StatusIs(StatusCode::kAborted, HasSubstr("broken")));
  EXPECT_THAT(tl->Put(RelKey(0), Lsn{0x30}, ImageValue(Page(1))), StatusIs(StatusCode::kAborted));
}

TEST_P(TimelineTest, BackgroundThreadsFlushCompactAndCreateImages) {
  config_.background_threads = true;
  config_.checkpoint_distance = 128 * 1024;
  config_.compaction_threshold = 3;
  config_.image_creation_threshold = 2;
  config_.compaction_period = std::chrono::milliseconds(20);
  config_.gc_horizon = 0;
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  uint64_t lsn = 0x100;
  for (int i = 0; i < 200; ++i, ++lsn) {
    ASSERT_OK(tl->Put(RelKey(i % 50), Lsn{lsn}, ImageValue(Page(lsn))));
    ASSERT_OK(tl->FinishLsn(Lsn{lsn}));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         (tl->Stats().images == 0 || tl->Stats().frozen_layers > 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const TimelineStats stats = tl->Stats();
  EXPECT_GE(stats.images, 1u);
  EXPECT_GT(tl->disk_consistent_lsn(), Lsn{0x100});
  for (int i = 150; i < 200; ++i) {
    ExpectPage(*tl, RelKey(i % 50), Lsn{lsn - 1}, Page(0x100 + i));
  }
  EXPECT_GT(testing::MetricValue(registry_.RenderPrometheusText(),
                                 "ps_timeline_keys_read_total{tenant_id=\"" + tenant_.ToHex() +
                                     "\",timeline_id=\"" + timeline_id_.ToHex() + "\"}"),
            0);
  ASSERT_OK(tl->Shutdown(true));
  EXPECT_EQ(tl->disk_consistent_lsn(), tl->last_record_lsn());
}

TEST_P(TimelineTest, IdleLayerIsFlushedAfterCheckpointTimeout) {
  config_.background_threads = true;
  config_.checkpoint_timeout = std::chrono::milliseconds(50);
  auto tl = CreateTimeline(Lsn{0x10}, config_);
  PutImages(*tl, 3, Lsn{0x20}, 1);
  // Still attached: only the ingest thread may freeze its layer.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(tl->disk_consistent_lsn(), Lsn{0x10});
  ASSERT_OK(tl->DetachIngest());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (tl->disk_consistent_lsn() < Lsn{0x20} && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(tl->disk_consistent_lsn(), Lsn{0x20});
  EXPECT_EQ(tl->Stats().in_memory_bytes, 0u);
  ExpectPage(*tl, RelKey(2), Lsn{0x20}, Page(3));
}

// Forwards to an engine, failing every write with EIO once armed: the
// write error an ingest can meet below the in-memory layer.
class FailingWritesEngine final : public io_engine::IoEngine {
 public:
  explicit FailingWritesEngine(io_engine::IoEngine& inner) : inner_(inner) {}
  void Arm() { armed_ = true; }
  std::string_view name() const override { return inner_.name(); }
  common::Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return inner_.Open(path, flags, mode);
  }
  common::Status Close(int fd) override { return inner_.Close(fd); }
  void SubmitBatch(std::span<const io_engine::IoRequest> requests,
                   std::span<io_engine::IoResult> results) override {
    inner_.SubmitBatch(requests, results);
    for (size_t i = 0; i < requests.size(); ++i) {
      if (armed_ && requests[i].opcode == io_engine::IoOpcode::kWrite) results[i] = Injected();
    }
  }
  common::Result<io_engine::AsyncIo> SubmitAsync(const io_engine::IoRequest& request) override {
    if (armed_ && request.opcode == io_engine::IoOpcode::kWrite) return Injected();
    return inner_.SubmitAsync(request);
  }
  io_engine::IoResult WaitAsync(io_engine::AsyncIo ticket) override {
    return inner_.WaitAsync(std::move(ticket));
  }

 private:
  static common::Status Injected() { return common::Status::FromErrno(EIO, "injected write"); }
  io_engine::IoEngine& inner_;
  std::atomic<bool> armed_{false};
};

// Regression: a write error in the middle of a commit's puts used to leave
// the puts written before it in the open layer, above last_record_lsn, where
// a later FinishLsn would have made half a commit visible.
TEST_P(TimelineTest, WriteErrorStopsIngestSoAHalfAppliedCommitNeverBecomesVisible) {
  FailingWritesEngine engine(*ctx().engine);
  virtual_file::IoContext failing_ctx = ctx();
  failing_ctx.engine = &engine;
  TimelineConfig config = config_;
  config.ephemeral_buffer_bytes = 8192;  // every page put reaches the engine
  ASSERT_OK_AND_ASSIGN(
      auto tl, Timeline::CreateEmpty(TimelineResources{&failing_ctx, cache_.get(), &registry_},
                                     data_dir(), tenant_, timeline_id_, Lsn{0x10}, 15, config));
  PutImages(*tl, 4, Lsn{0x20}, 1);  // a committed LSN
  ASSERT_OK(tl->Put(RelKey(0), Lsn{0x30}, ImageValue(Page(50))));
  engine.Arm();
  common::Status failed;
  for (uint32_t blk = 1; blk < 8 && failed.ok(); ++blk) {
    failed = tl->Put(RelKey(blk), Lsn{0x30}, ImageValue(Page(50 + blk)));
  }
  ASSERT_FALSE(failed.ok()) << "no put reached the failing engine";
  EXPECT_FALSE(failed.IsInvalidArgument()) << failed.ToString();
  EXPECT_THAT(tl->FinishLsn(Lsn{0x30}), StatusIs(StatusCode::kAborted, HasSubstr("injected")));
  EXPECT_THAT(tl->Put(RelKey(9), Lsn{0x40}, ImageValue(Page(9))), StatusIs(StatusCode::kAborted));
  EXPECT_THAT(tl->Checkpoint(), StatusIs(StatusCode::kAborted));
  EXPECT_EQ(tl->last_record_lsn(), Lsn{0x20});
  ExpectPage(*tl, RelKey(0), Lsn{0x20}, Page(1));  // the commit before stays readable
  // Detaching reports the write error but still detaches: another thread
  // is then told about the stop, not that ingest belongs to a thread.
  EXPECT_FALSE(tl->DetachIngest().ok());
  std::thread([&] {
    EXPECT_THAT(tl->FinishLsn(Lsn{0x30}), StatusIs(StatusCode::kAborted, HasSubstr("injected")));
    EXPECT_OK(tl->DetachIngest());  // it never attached
  }).join();
}

INSTANTIATE_TEST_SUITE_P(All, TimelineTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
