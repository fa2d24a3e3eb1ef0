#include "timeline/timeline_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/layers/layer_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::DeltaLayerReader;
using layers::DeltaLayerWriter;
using layers::ImageLayerWriter;
using layers::Key;
using layers::KeyRange;
using layers::LayerName;
using layers::Lsn;
using layers::LsnRange;
using layers::TenantId;
using layers::test_util::Bytes;
using layers::test_util::ListDir;
using layers::test_util::TestTenant;
using layers::test_util::TestTimeline;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testing::StatusIs;

Key K(uint32_t n) { return Key::Min().Add(n); }

LayerName L0(uint64_t start, uint64_t end) {
  return LayerName::Delta(KeyRange::All(), {Lsn{start}, Lsn{end}});
}

LayerName Delta(const Key& from, const Key& to, uint64_t start, uint64_t end) {
  return LayerName::Delta({from, to}, {Lsn{start}, Lsn{end}});
}

Bytes Value(std::string_view text) {
  Bytes out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// ------------------------------------------------------------ pure helpers

TEST(TimelineDirPathTest, JoinsDataDirTenantAndTimelineHex) {
  EXPECT_EQ(TimelineDir("/data", TestTenant(), TestTimeline()),
            "/data/tenants/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
            "/timelines/101316191c1f2225282b2e3134373a3d");
}

TEST(TimelineDirNamesTest, EphemeralFileNameNeedsThePrefix) {
  EXPECT_TRUE(IsEphemeralFileName("ephemeral-1"));
  EXPECT_TRUE(IsEphemeralFileName("ephemeral-"));
  EXPECT_FALSE(IsEphemeralFileName("ephemeral"));
  EXPECT_FALSE(IsEphemeralFileName("x-ephemeral-1"));
  EXPECT_FALSE(IsEphemeralFileName(""));
}

TEST(TimelineDirNamesTest, L0DeltaIsAWholeKeyspaceDelta) {
  EXPECT_TRUE(IsL0Delta(L0(0x10, 0x20)));
  EXPECT_FALSE(IsL0Delta(Delta(Key::Min(), K(100), 0x10, 0x20)));
  EXPECT_FALSE(IsL0Delta(Delta(K(1), Key::Max(), 0x10, 0x20)));
  EXPECT_FALSE(IsL0Delta(LayerName::Image(KeyRange::All(), Lsn{0x10})));
}

TEST(TimelineDirNamesTest, FutureImageIsAboveDiskConsistentLsn) {
  EXPECT_FALSE(IsFutureLayer(LayerName::Image(KeyRange::All(), Lsn{0x99}), Lsn{0x100}));
  EXPECT_FALSE(IsFutureLayer(LayerName::Image(KeyRange::All(), Lsn{0x100}), Lsn{0x100}));
  EXPECT_TRUE(IsFutureLayer(LayerName::Image(KeyRange::All(), Lsn{0x101}), Lsn{0x100}));
}

TEST(TimelineDirNamesTest, FutureDeltaEndsAboveDiskConsistentLsnPlusOne) {
  EXPECT_FALSE(IsFutureLayer(L0(0x10, 0x101), Lsn{0x100}));
  EXPECT_TRUE(IsFutureLayer(L0(0x10, 0x102), Lsn{0x100}));
  EXPECT_TRUE(IsFutureLayer(Delta(K(1), K(2), 0x10, 0x102), Lsn{0x100}));
}

TEST(TimelineDirNamesTest, FutureRuleSaturatesAtMaxLsn) {
  // Without saturation disk_consistent_lsn + 1 wraps to 0 and every delta
  // would be a future layer.
  EXPECT_FALSE(IsFutureLayer(L0(0x10, Lsn::kMaxValue), Lsn::Max()));
  EXPECT_FALSE(IsFutureLayer(L0(0x10, 0x20), Lsn::Max()));
  EXPECT_FALSE(
      IsFutureLayer(LayerName::Image(KeyRange::All(), Lsn{Lsn::kMaxValue - 1}), Lsn::Max()));
}

// --------------------------------------------------- PlanCompactionLeftovers

std::vector<LayerName> Plan(const std::vector<LayerName>& names) {
  return PlanCompactionLeftovers(names);
}

TEST(PlanCompactionLeftoversTest, FinishedCompactionInTwoPiecesDeletesItsL0s) {
  const std::vector<LayerName> names = {L0(10, 20), L0(20, 30), Delta(Key::Min(), K(100), 10, 30),
                                        Delta(K(100), Key::Max(), 10, 30)};
  EXPECT_THAT(Plan(names), ElementsAre(L0(10, 20), L0(20, 30)));
}

TEST(PlanCompactionLeftoversTest, FinishedCompactionInThreePiecesDeletesItsL0s) {
  const std::vector<LayerName> names = {Delta(K(200), Key::Max(), 10, 30), L0(20, 30),
                                        Delta(Key::Min(), K(100), 10, 30),
                                        Delta(K(100), K(200), 10, 30), L0(10, 20)};
  EXPECT_THAT(Plan(names), ElementsAre(L0(10, 20), L0(20, 30)));
}

TEST(PlanCompactionLeftoversTest, SingleWholeKeyspaceOutputDeletesL0s) {
  const std::vector<LayerName> names = {L0(10, 20), L0(20, 30), L0(10, 30)};
  EXPECT_THAT(Plan(names), ElementsAre(L0(10, 20), L0(20, 30)));
}

TEST(PlanCompactionLeftoversTest, OutputsMissingAMiddlePieceAreDeleted) {
  const std::vector<LayerName> names = {L0(10, 20), L0(20, 30), Delta(Key::Min(), K(100), 10, 30),
                                        Delta(K(200), Key::Max(), 10, 30)};
  EXPECT_THAT(Plan(names),
              ElementsAre(Delta(Key::Min(), K(100), 10, 30), Delta(K(200), Key::Max(), 10, 30)));
}

TEST(PlanCompactionLeftoversTest, OutputsMissingTheLastPieceAreDeletedOnce) {
  // Both L0s see the same partial group; each name is returned once.
  const std::vector<LayerName> names = {L0(10, 20), L0(20, 30), Delta(Key::Min(), K(100), 10, 30),
                                        Delta(K(100), K(200), 10, 30)};
  EXPECT_THAT(Plan(names),
              ElementsAre(Delta(Key::Min(), K(100), 10, 30), Delta(K(100), K(200), 10, 30)));
}

TEST(PlanCompactionLeftoversTest, OverlappingPiecesDoNotTile) {
  const std::vector<LayerName> names = {L0(10, 20), L0(20, 30), Delta(Key::Min(), K(150), 10, 30),
                                        Delta(K(100), Key::Max(), 10, 30)};
  EXPECT_THAT(Plan(names),
              ElementsAre(Delta(Key::Min(), K(150), 10, 30), Delta(K(100), Key::Max(), 10, 30)));
}

TEST(PlanCompactionLeftoversTest, L1sNotContainingAnL0RangeAreUntouched) {
  // Older L1s below the L0s, and one overlapping an L0's LSNs without
  // containing them.
  const std::vector<LayerName> names = {L0(10, 20),
                                        L0(20, 30),
                                        Delta(Key::Min(), K(100), 0, 10),
                                        Delta(K(100), Key::Max(), 0, 10),
                                        Delta(Key::Min(), K(100), 5, 15),
                                        Delta(K(100), Key::Max(), 5, 15)};
  EXPECT_THAT(Plan(names), IsEmpty());
}

TEST(PlanCompactionLeftoversTest, EqualLsnRangeIsNotAnOutput) {
  // An L1 with exactly the L0's LSN range is not a compaction output of it.
  const std::vector<LayerName> names = {L0(10, 20), Delta(Key::Min(), K(100), 10, 20)};
  EXPECT_THAT(Plan(names), IsEmpty());
}

TEST(PlanCompactionLeftoversTest, NoDeltasGivesNothing) {
  EXPECT_THAT(Plan({}), IsEmpty());
  EXPECT_THAT(Plan({LayerName::Image(KeyRange::All(), Lsn{10}),
                    LayerName::Image({Key::Min(), K(100)}, Lsn{20})}),
              IsEmpty());
}

TEST(PlanCompactionLeftoversTest, ImagesAreNeverReturned) {
  const std::vector<LayerName> names = {LayerName::Image(KeyRange::All(), Lsn{15}), L0(10, 20),
                                        L0(20, 30), LayerName::Image({Key::Min(), K(100)}, Lsn{25}),
                                        Delta(Key::Min(), K(100), 10, 30)};
  EXPECT_THAT(Plan(names), ElementsAre(Delta(Key::Min(), K(100), 10, 30)));
}

// ------------------------------------------------------- loading from disk

class TimelineDirTest : public layers::test_util::LayerIoTest {
 protected:
  const std::string& tl_dir() const { return dir().path(); }

  void WriteMeta(uint64_t disk_consistent_lsn) {
    TimelineMetadata metadata;
    metadata.disk_consistent_lsn = Lsn{disk_consistent_lsn};
    metadata.initdb_lsn = Lsn{1};
    metadata.pg_version = 16;
    ASSERT_OK(WriteMetadata(ctx(), tl_dir(), metadata));
  }

  // Writes an image layer holding `key` -> `value`; returns its file name.
  std::string WriteImage(const KeyRange& keys, uint64_t lsn, const Key& key, std::string_view value,
                         TenantId tenant = TestTenant()) {
    auto writer = ImageLayerWriter::Create(ctx(), tl_dir(), tenant, TestTimeline(), keys, Lsn{lsn});
    EXPECT_OK(writer);
    if (!writer.has_value()) return "";
    EXPECT_OK((*writer)->Put(key, Value(value)));
    return Finish(**writer);
  }

  // Writes a delta layer holding one will_init record of `key` at lsns.start.
  std::string WriteDelta(const LayerName& name, const Key& key, std::string_view value) {
    auto writer = DeltaLayerWriter::Create(ctx(), tl_dir(), TestTenant(), TestTimeline(),
                                           name.key_range, name.lsn_range);
    EXPECT_OK(writer);
    if (!writer.has_value()) return "";
    EXPECT_OK((*writer)->Put(key, name.lsn_range.start, Value(value), true));
    return Finish(**writer);
  }

  template <typename Writer>
  std::string Finish(Writer& writer) {
    auto written = writer.Finish();
    EXPECT_OK(written);
    if (!written.has_value()) return "";
    return written->path.substr(tl_dir().size() + 1);
  }

  void Touch(const std::string& name) {
    pageserver::testing::WriteWholeFile(dir().File(name), Value("junk"));
  }

  common::Result<LoadedTimeline> Load() {
    return LoadTimelineDir(ctx(), tl_dir(), cache(), TestTenant(), TestTimeline());
  }

  static std::vector<LayerName> MapNames(const LoadedTimeline& loaded) {
    std::vector<LayerName> names;
    for (const LayerHandlePtr& handle : loaded.layers->AllLayers()) {
      names.push_back(handle->desc.name);
    }
    return names;
  }
};

TEST_P(TimelineDirTest, MissingDirectoryIsNotFound) {
  EXPECT_THAT(LoadTimelineDir(ctx(), dir().File("nope"), cache(), TestTenant(), TestTimeline()),
              StatusIs(StatusCode::kNotFound));
}

TEST_P(TimelineDirTest, MissingMetadataIsNotFound) {
  EXPECT_THAT(Load(), StatusIs(StatusCode::kNotFound));
}

TEST_P(TimelineDirTest, CorruptMetadataIsCorruption) {
  WriteMeta(0x100);
  Bytes block = pageserver::testing::ReadWholeFile(MetadataPath(tl_dir()));
  ASSERT_EQ(block.size(), kMetadataSize);
  block[9] ^= std::byte{0x40};  // inside disk_consistent_lsn: the checksum no longer matches
  pageserver::testing::WriteWholeFile(MetadataPath(tl_dir()), block);
  EXPECT_THAT(Load(), StatusIs(StatusCode::kCorruption));
}

TEST_P(TimelineDirTest, EmptyTimelineLoadsAnEmptyMap) {
  WriteMeta(0x100);
  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  EXPECT_EQ(loaded.metadata.disk_consistent_lsn, Lsn{0x100});
  ASSERT_NE(loaded.layers, nullptr);
  EXPECT_TRUE(loaded.layers->empty());
  EXPECT_FALSE(loaded.broken());
}

TEST_P(TimelineDirTest, RemovesTemporaryAndEphemeralFilesAndKeepsUnknownOnes) {
  WriteMeta(0x100);
  const std::string image = WriteImage(KeyRange::All(), 0x10, K(5), "img");
  Touch(image + ".___temp");
  Touch("ephemeral-2");
  Touch("ephemeral-1");
  Touch("notes.txt");
  ASSERT_EQ(::mkdir(dir().File("ephemeral-dir").c_str(), 0755), 0);

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  EXPECT_THAT(loaded.removed_temporaries,
              ElementsAre(image + ".___temp", "ephemeral-1", "ephemeral-2"));
  EXPECT_THAT(loaded.unknown_files, ElementsAre("notes.txt"));
  EXPECT_THAT(ListDir(tl_dir()), ElementsAre(image, "ephemeral-dir", "metadata", "notes.txt"));
  EXPECT_EQ(loaded.layers->size(), 1u);
  EXPECT_FALSE(loaded.broken());
}

TEST_P(TimelineDirTest, DeletesFutureLayersWithoutOpeningThem) {
  WriteMeta(0x100);
  WriteImage(KeyRange::All(), 0x100, K(5), "a");
  WriteDelta(L0(0x50, 0x101), K(5), "b");
  const std::string future_image = WriteImage({K(1), K(9)}, 0x101, K(5), "c");
  // A future layer need not even be a valid file.
  const std::string future_delta = Delta(K(1), K(9), 0x50, 0x102).ToString();
  Touch(future_delta);

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  std::vector<std::string> expected_removed = {future_image, future_delta};
  std::sort(expected_removed.begin(), expected_removed.end());
  EXPECT_EQ(loaded.removed_future_layers, expected_removed);
  EXPECT_FALSE(FileExists(dir().File(future_image)));
  EXPECT_FALSE(FileExists(dir().File(future_delta)));
  EXPECT_EQ(loaded.layers->size(), 2u);
  EXPECT_NE(loaded.layers->Find(L0(0x50, 0x101)), nullptr);
  EXPECT_NE(loaded.layers->Find(LayerName::Image(KeyRange::All(), Lsn{0x100})), nullptr);
  EXPECT_FALSE(loaded.broken());
}

TEST_P(TimelineDirTest, LoadsImageL0AndL1LayersIntoTheMap) {
  WriteMeta(0x100);
  const std::string image = WriteImage(KeyRange::All(), 0x10, K(5), "image@10");
  WriteDelta(Delta(Key::Min(), K(100), 0x10, 0x20), K(7), "l1-low");
  WriteDelta(Delta(K(100), Key::Max(), 0x10, 0x20), K(150), "l1-high");
  WriteDelta(L0(0x20, 0x30), K(7), "l0");

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  EXPECT_FALSE(loaded.broken());
  EXPECT_THAT(loaded.removed_compaction_leftovers, IsEmpty());
  EXPECT_EQ(loaded.layers->size(), 4u);
  ASSERT_EQ(loaded.layers->L0Deltas().size(), 1u);
  EXPECT_EQ(loaded.layers->L0Deltas()[0]->desc.name, L0(0x20, 0x30));

  const LayerHandlePtr image_handle =
      loaded.layers->Find(LayerName::Image(KeyRange::All(), Lsn{0x10}));
  ASSERT_NE(image_handle, nullptr);
  const auto image_layer = LoadedLayerOf(*image_handle);
  ASSERT_NE(image_layer->image, nullptr);
  EXPECT_EQ(image_layer->delta, nullptr);
  EXPECT_EQ(image_layer->path, dir().File(image));
  EXPECT_EQ(image_handle->desc.file_size,
            pageserver::testing::ReadWholeFile(dir().File(image)).size());
  ASSERT_OK_AND_ASSIGN(const Bytes image_value, image_layer->image->Get(K(5)));
  EXPECT_EQ(image_value, Value("image@10"));

  const LayerHandlePtr l1 = loaded.layers->Find(Delta(K(100), Key::Max(), 0x10, 0x20));
  ASSERT_NE(l1, nullptr);
  EXPECT_FALSE(l1->desc.is_l0);
  const auto l1_layer = LoadedLayerOf(*l1);
  ASSERT_NE(l1_layer->delta, nullptr);
  EXPECT_EQ(l1_layer->image, nullptr);
  ASSERT_OK_AND_ASSIGN(const auto history,
                       l1_layer->delta->GetHistory(K(150), {Lsn{0}, Lsn{0x100}}));
  ASSERT_EQ(history.values.size(), 1u);
  EXPECT_EQ(history.values[0].lsn, Lsn{0x10});
  EXPECT_EQ(history.values[0].bytes, Value("l1-high"));
  EXPECT_TRUE(history.complete);
}

TEST_P(TimelineDirTest, BrokenLayersAreLeftOutAndMarkTheTimelineBroken) {
  WriteMeta(0x100);
  // Key starts K(1)..K(4) fix the name order of the broken files.
  const std::string truncated = WriteImage({K(1), K(2)}, 0x10, K(1), "t");
  const std::string flipped = WriteImage({K(2), K(3)}, 0x10, K(2), "f");
  const std::string source = WriteImage({K(10), K(11)}, 0x10, K(10), "r");
  const std::string renamed = LayerName::Image({K(3), K(4)}, Lsn{0x10}).ToString();
  TenantId other = TestTenant();
  other.bytes[0] = std::byte{0x01};
  const std::string foreign = WriteImage({K(4), K(5)}, 0x10, K(4), "o", other);
  WriteImage({K(20), K(21)}, 0x10, K(20), "g");

  const std::string truncated_path = dir().File(truncated);
  const Bytes whole = pageserver::testing::ReadWholeFile(truncated_path);
  ASSERT_GT(whole.size(), 8192u);
  ASSERT_EQ(::truncate(truncated_path.c_str(), static_cast<off_t>(whole.size() - 8192)), 0);
  Bytes summary = pageserver::testing::ReadWholeFile(dir().File(flipped));
  summary[100] ^= std::byte{0x01};  // value_region_end; the summary checksum catches it
  pageserver::testing::WriteWholeFile(dir().File(flipped), summary);
  ASSERT_EQ(::rename(dir().File(source).c_str(), dir().File(renamed).c_str()), 0);

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  ASSERT_TRUE(loaded.broken());
  EXPECT_THAT(*loaded.broken_reason, StartsWith(truncated + ": "));
  ASSERT_EQ(loaded.problems.size(), 4u);
  EXPECT_EQ(loaded.problems[0], *loaded.broken_reason);
  EXPECT_THAT(loaded.problems[1], StartsWith(flipped + ": "));
  EXPECT_THAT(loaded.problems[2], StartsWith(renamed + ": "));
  EXPECT_THAT(loaded.problems[2], HasSubstr("not its file name"));
  EXPECT_THAT(loaded.problems[3], StartsWith(foreign + ": "));
  EXPECT_THAT(loaded.problems[3], HasSubstr("tenant"));
  EXPECT_THAT(MapNames(loaded), ElementsAre(LayerName::Image({K(20), K(21)}, Lsn{0x10})));
  // Broken files stay on disk for inspection.
  EXPECT_TRUE(FileExists(truncated_path));
  EXPECT_TRUE(FileExists(dir().File(renamed)));
}

TEST_P(TimelineDirTest, FinishedCompactionLeftoverL0sAreDeleted) {
  WriteMeta(0x100);
  const std::string l0a = WriteDelta(L0(0x10, 0x20), K(7), "a");
  const std::string l0b = WriteDelta(L0(0x20, 0x30), K(7), "b");
  const std::string low = WriteDelta(Delta(Key::Min(), K(100), 0x10, 0x30), K(7), "low");
  const std::string high = WriteDelta(Delta(K(100), Key::Max(), 0x10, 0x30), K(150), "high");

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  std::vector<std::string> expected = {l0a, l0b};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(loaded.removed_compaction_leftovers, expected);
  std::vector<std::string> on_disk = {low, high, "metadata"};
  std::sort(on_disk.begin(), on_disk.end());
  EXPECT_EQ(ListDir(tl_dir()), on_disk);
  EXPECT_THAT(MapNames(loaded), ElementsAre(Delta(Key::Min(), K(100), 0x10, 0x30),
                                            Delta(K(100), Key::Max(), 0x10, 0x30)));
  EXPECT_THAT(loaded.layers->L0Deltas(), IsEmpty());
  EXPECT_FALSE(loaded.broken());
}

TEST_P(TimelineDirTest, InterruptedCompactionOutputsAreDeleted) {
  WriteMeta(0x100);
  const std::string l0a = WriteDelta(L0(0x10, 0x20), K(7), "a");
  const std::string l0b = WriteDelta(L0(0x20, 0x30), K(7), "b");
  const std::string low = WriteDelta(Delta(Key::Min(), K(100), 0x10, 0x30), K(7), "low");

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  EXPECT_THAT(loaded.removed_compaction_leftovers, ElementsAre(low));
  EXPECT_FALSE(FileExists(dir().File(low)));
  EXPECT_TRUE(FileExists(dir().File(l0a)));
  EXPECT_TRUE(FileExists(dir().File(l0b)));
  EXPECT_THAT(MapNames(loaded), ElementsAre(L0(0x10, 0x20), L0(0x20, 0x30)));
  EXPECT_EQ(loaded.layers->L0Deltas().size(), 2u);
}

TEST_P(TimelineDirTest, FutureLayersDoNotTakePartInLeftoverPlanning) {
  // L0(0x50, 0x102) would make L0(0x50, 0x101) redundant, but it is a future
  // layer, deleted first; the L0 below it must survive.
  WriteMeta(0x100);
  WriteDelta(L0(0x50, 0x101), K(7), "kept");
  const std::string future = WriteDelta(L0(0x50, 0x102), K(7), "future");

  ASSERT_OK_AND_ASSIGN(const LoadedTimeline loaded, Load());
  EXPECT_THAT(loaded.removed_future_layers, ElementsAre(future));
  EXPECT_THAT(loaded.removed_compaction_leftovers, IsEmpty());
  EXPECT_THAT(MapNames(loaded), ElementsAre(L0(0x50, 0x101)));
}

// ------------------------------------------------------- deferred deletion

class LoadedLayerTest : public TimelineDirTest {
 protected:
  // A LoadedLayer over a freshly written delta layer.
  std::shared_ptr<LoadedLayer> MakeLayer() {
    const LayerName name = L0(0x10, 0x20);
    const std::string file = WriteDelta(name, K(7), "v");
    auto layer = std::make_shared<LoadedLayer>();
    layer->name = name;
    layer->path = dir().File(file);
    auto reader = DeltaLayerReader::Open(ctx(), layer->path, cache());
    EXPECT_OK(reader);
    if (reader.has_value()) layer->delta = std::move(reader).value();
    return layer;
  }

  static void MarkRemoved(const LoadedLayer& layer, std::shared_ptr<std::atomic<int64_t>> counter) {
    layer.MarkForRemoval(std::move(counter));
  }
};

TEST_P(LoadedLayerTest, RemoveOnDropDeletesTheFileWhenTheLastHolderDrops) {
  auto counter = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<LoadedLayer> layer = MakeLayer();
  const std::string path = layer->path;
  std::shared_ptr<const LoadedLayer> reader_copy = layer;
  MarkRemoved(*layer, counter);
  layer.reset();

  // A reader still holding the layer keeps its file and can read it.
  EXPECT_TRUE(FileExists(path));
  EXPECT_EQ(counter->load(), 1);
  ASSERT_OK_AND_ASSIGN(const auto history,
                       reader_copy->delta->GetHistory(K(7), {Lsn{0}, Lsn{0x20}}));
  ASSERT_EQ(history.values.size(), 1u);
  EXPECT_EQ(history.values[0].bytes, Value("v"));

  reader_copy.reset();
  EXPECT_FALSE(FileExists(path));
  EXPECT_EQ(counter->load(), 0);
}

TEST_P(LoadedLayerTest, WithoutRemoveOnDropTheFileStays) {
  auto counter = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<LoadedLayer> layer = MakeLayer();
  const std::string path = layer->path;
  layer.reset();
  EXPECT_TRUE(FileExists(path));
  EXPECT_EQ(counter->load(), 0);
}

TEST_P(LoadedLayerTest, AlreadyMissingFileStillDecrementsTheCounter) {
  auto counter = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<LoadedLayer> layer = MakeLayer();
  ASSERT_EQ(::unlink(layer->path.c_str()), 0);
  MarkRemoved(*layer, counter);
  layer.reset();
  EXPECT_EQ(counter->load(), 0);
}

TEST_P(LoadedLayerTest, UnlinkFailureIsLoggedNotThrown) {
  auto counter = std::make_shared<std::atomic<int64_t>>(0);
  auto layer = std::make_shared<LoadedLayer>();
  layer->path = dir().File("a-directory");  // unlink fails with EISDIR
  ASSERT_EQ(::mkdir(layer->path.c_str(), 0755), 0);
  const std::string path = layer->path;
  MarkRemoved(*layer, counter);
  layer.reset();
  EXPECT_TRUE(FileExists(path));
  EXPECT_EQ(counter->load(), 0);
}

TEST_P(LoadedLayerTest, RemoveOnDropThroughTheMapWaitsForSnapshotAndHandle) {
  WriteMeta(0x100);
  const std::string file = WriteDelta(L0(0x10, 0x20), K(7), "v");
  ASSERT_OK_AND_ASSIGN(LoadedTimeline loaded, Load());
  LayerHandlePtr handle = loaded.layers->Find(L0(0x10, 0x20));
  ASSERT_NE(handle, nullptr);
  MarkRemoved(*LoadedLayerOf(*handle), nullptr);

  loaded.layers.reset();  // the map snapshot goes; the handle still holds the layer
  EXPECT_TRUE(FileExists(dir().File(file)));
  handle.reset();
  EXPECT_FALSE(FileExists(dir().File(file)));
}

INSTANTIATE_TEST_SUITE_P(All, TimelineDirTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);
INSTANTIATE_TEST_SUITE_P(All, LoadedLayerTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
