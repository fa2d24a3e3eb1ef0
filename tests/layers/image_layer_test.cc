#include "layers/image_layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "layers/delta_layer.h"
#include "layers/layer_name.h"
#include "tests/layers/layer_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using pageserver::testing::AllIoParams;
using pageserver::testing::IoParamName;
using pageserver::testing::StatusIs;
using pageserver::testing::TestSeed;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace test_util;  // NOLINT(google-build-using-namespace): test helpers

using ImageModel = std::map<Key, Bytes>;
constexpr Lsn kLsn{0x5000};

class ImageLayerTest : public LayerIoTest {
 protected:
  // Writes `model` as an image layer over `range`.
  WrittenLayer Write(const ImageModel& model, const KeyRange& range,
                     const LayerWriterOptions& options = {}) {
    auto writer = ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range,
                                           kLsn, options);
    if (!writer.has_value()) common::DieWithStatus("create image writer", writer.error());
    for (const auto& [key, value] : model) {
      const common::Status s = (*writer)->Put(key, value);
      if (!s.ok()) ADD_FAILURE() << s.ToString();
    }
    EXPECT_EQ((*writer)->entry_count(), model.size());
    auto written = (*writer)->Finish();
    if (!written.has_value()) common::DieWithStatus("finish image layer", written.error());
    return std::move(written).value();
  }

  std::unique_ptr<ImageLayerReader> Open(const std::string& path) {
    auto reader = ImageLayerReader::Open(ctx(), path, cache());
    if (!reader.has_value()) common::DieWithStatus("open image layer", reader.error());
    return std::move(reader).value();
  }
};

ImageModel RandomModel(const std::vector<Key>& keys, Rng& rng, size_t max_len) {
  ImageModel model;
  for (const Key& k : keys) model[k] = RandomBytes(rng, rng() % (max_len + 1));
  return model;
}

std::vector<Key> KeysOf(const ImageModel& model) {
  std::vector<Key> keys;
  for (const auto& [k, v] : model) keys.push_back(k);
  return keys;
}

// Every check of a reader against its model: point lookups of present and
// absent keys, vectored lookups in random order over many blobs, and index
// scans both ways from the ends and from random probes.
void CheckPointLookups(const ImageLayerReader& reader, const ImageModel& model,
                       const std::vector<Key>& absent, Rng& rng) {
  std::vector<Key> keys = KeysOf(model);
  std::shuffle(keys.begin(), keys.end(), rng);
  keys.resize(std::min<size_t>(keys.size(), 100));
  for (const Key& k : keys) {
    ASSERT_OK_AND_ASSIGN(const Bytes value, reader.Get(k));
    ASSERT_EQ(value, model.at(k)) << k.ToHex();
  }
  for (const Key& k : absent) {
    ASSERT_THAT(reader.Get(k), StatusIs(StatusCode::kNotFound)) << k.ToHex();
    ASSERT_OK_AND_ASSIGN(const std::optional<BlobRef> ref, reader.Lookup(k));
    ASSERT_FALSE(ref.has_value());
  }
}

void CheckVectored(const ImageLayerReader& reader, const ImageModel& model,
                   const std::vector<Key>& absent, Rng& rng, size_t max_read_bytes) {
  std::vector<Key> keys = KeysOf(model);
  keys.insert(keys.end(), absent.begin(), absent.end());
  std::shuffle(keys.begin(), keys.end(), rng);
  const auto results = reader.GetVectored(keys, max_read_bytes);
  ASSERT_EQ(results.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto it = model.find(keys[i]);
    if (it == model.end()) {
      ASSERT_THAT(results[i], StatusIs(StatusCode::kNotFound));
    } else {
      ASSERT_OK(results[i]);
      ASSERT_EQ(*results[i], it->second) << keys[i].ToHex();
    }
  }
}

void CheckScans(const ImageLayerReader& reader, const ImageModel& model, Rng& rng) {
  const std::vector<Key> keys = KeysOf(model);
  DiskBtreeCursor cursor = reader.index().NewCursor();
  ASSERT_OK(cursor.SeekFirst());
  for (const Key& k : keys) {
    ASSERT_TRUE(cursor.valid());
    ASSERT_EQ(Key::Decode(cursor.key().first<kKeySize>()), k);
    ASSERT_TRUE(BlobRef::Unpack(cursor.value()).will_init);
    ASSERT_OK(cursor.Next());
  }
  ASSERT_FALSE(cursor.valid());
  ASSERT_OK(cursor.SeekLast());
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    ASSERT_TRUE(cursor.valid());
    ASSERT_EQ(Key::Decode(cursor.key().first<kKeySize>()), *it);
    ASSERT_OK(cursor.Prev());
  }
  ASSERT_FALSE(cursor.valid());
  // Seeks from random probes, a few steps each way.
  for (int i = 0; i < 50; ++i) {
    const Key probe = rng() % 2 == 0 || keys.empty() ? RandomKey(rng) : keys[rng() % keys.size()];
    auto ge = std::lower_bound(keys.begin(), keys.end(), probe);
    ASSERT_OK(cursor.SeekGE(probe.Encode()));
    for (int step = 0; step < 5 && ge != keys.end(); ++step, ++ge) {
      ASSERT_TRUE(cursor.valid());
      ASSERT_EQ(Key::Decode(cursor.key().first<kKeySize>()), *ge);
      ASSERT_OK(cursor.Next());
    }
    if (ge == keys.end()) {
      ASSERT_FALSE(cursor.valid());
    }
    auto le = std::upper_bound(keys.begin(), keys.end(), probe);
    ASSERT_OK(cursor.SeekLE(probe.Encode()));
    for (int step = 0; step < 5 && le != keys.begin(); ++step) {
      --le;
      ASSERT_TRUE(cursor.valid());
      ASSERT_EQ(Key::Decode(cursor.key().first<kKeySize>()), *le);
      ASSERT_OK(cursor.Prev());
    }
    if (le == keys.begin()) {
      ASSERT_FALSE(cursor.valid());
    }
  }
}

void CheckAll(const ImageLayerReader& reader, const ImageModel& model, Rng& rng) {
  const std::vector<Key> absent = AbsentKeys(KeysOf(model), 100, rng);
  ASSERT_NO_FATAL_FAILURE(CheckPointLookups(reader, model, absent, rng));
  ASSERT_NO_FATAL_FAILURE(CheckVectored(reader, model, absent, rng, kDefaultMaxVectoredReadBytes));
  ASSERT_NO_FATAL_FAILURE(CheckVectored(reader, model, absent, rng, 4096));
  ASSERT_NO_FATAL_FAILURE(CheckScans(reader, model, rng));
}

TEST_P(ImageLayerTest, EmptyLayer) {
  const WrittenLayer written = Write({}, KeyRange::All());
  EXPECT_EQ(written.summary.entry_count, 0u);
  EXPECT_EQ(written.summary.index_depth, 1u);
  EXPECT_EQ(written.summary.file_length, 2 * kLayerBlockSize);
  auto reader = Open(written.path);
  EXPECT_EQ(reader->summary(), written.summary);
  EXPECT_THAT(reader->Get(Key::Min()), StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(reader->GetVectored({}).empty());
  Rng rng(1);
  CheckAll(*reader, {}, rng);
}

TEST_P(ImageLayerTest, SingleEntry) {
  const Key k = Key::RelBlock({1663, 5, 16384, 0}, 3);
  const ImageModel model = {{k, Bytes(8192, std::byte{0x42})}};
  const WrittenLayer written = Write(model, KeyRange::Single(k));
  EXPECT_EQ(written.summary.value_bytes, 8192u);
  auto reader = Open(written.path);
  ASSERT_OK_AND_ASSIGN(const Bytes value, reader->Get(k));
  EXPECT_EQ(value, model.at(k));
  EXPECT_THAT(reader->Get(k.Next()), StatusIs(StatusCode::kNotFound));
  Rng rng(2);
  CheckAll(*reader, model, rng);
}

TEST_P(ImageLayerTest, ModelBasedAllKeyShapes) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  for (KeyShape shape : kAllShapes) {
    SCOPED_TRACE(ShapeName(shape));
    const size_t n = 1000 + rng() % 500;
    const ImageModel model = RandomModel(GenerateKeys(shape, n, rng), rng, 300);
    const KeyRange range = rng() % 2 == 0 ? RangeOf(KeysOf(model)) : KeyRange::All();
    const WrittenLayer written = Write(model, range);
    EXPECT_EQ(written.summary.entry_count, model.size());
    auto reader = Open(written.path);
    ASSERT_NO_FATAL_FAILURE(CheckAll(*reader, model, rng));
    ASSERT_EQ(std::filesystem::remove(written.path), true);
  }
}

// `n` random keys in ascending order, spread over the whole key space like
// KeyShape::kRandom but made from sorted u64s (a std::set of 200k Keys costs
// seconds in the sanitizer build): the u64's bits fill the leading fields,
// random bits the rest, so key order is u64 order.
std::vector<Key> SortedRandomKeys(size_t n, Rng& rng) {
  std::vector<uint64_t> xs(n);
  for (uint64_t& x : xs) x = rng();
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  std::vector<Key> keys;
  keys.reserve(xs.size());
  for (const uint64_t x : xs) {
    keys.push_back(Key{static_cast<uint8_t>(x >> 56), static_cast<uint32_t>(x >> 24),
                       static_cast<uint32_t>(x << 8), static_cast<uint32_t>(rng()),
                       static_cast<uint8_t>(rng()), static_cast<uint32_t>(rng())});
  }
  return keys;  // never Key::Max(): that would need x == ~0 and random fields all ones
}

// Hundreds of thousands of entries against a std::map: random keys share
// almost no prefix, so a leaf holds about 320 of them and 200k keys need
// over 600 leaves under a 3-level index. Point lookups through the image
// reader: every 16th present key in key order (vectored batches of 1000, so
// each leaf is read about once), a few thousand in random order, and as
// many absent keys (successors of present keys and random keys).
TEST_P(ImageLayerTest, HundredsOfThousandsOfEntriesMakeAThreeLevelIndex) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  ImageModel model;
  for (const Key& k : SortedRandomKeys(200000, rng)) {
    model.emplace_hint(model.end(), k, RandomBytes(rng, rng() % 9));
  }
  ASSERT_GE(model.size(), 199000u);
  const WrittenLayer written = Write(model, KeyRange::All());
  EXPECT_GE(written.summary.index_depth, 3u);
  EXPECT_EQ(written.summary.entry_count, model.size());
  RecordProperty("index_depth", std::to_string(written.summary.index_depth));
  RecordProperty("index_nodes", std::to_string(written.summary.index_node_count));
  auto reader = Open(written.path);
  std::vector<Key> batch;
  std::vector<Key> sample;
  auto check_batch = [&] {
    const auto results = reader->GetVectored(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto it = model.find(batch[i]);
      if (it == model.end()) {
        ASSERT_THAT(results[i], StatusIs(StatusCode::kNotFound)) << batch[i].ToHex();
      } else {
        ASSERT_OK(results[i]);
        ASSERT_EQ(*results[i], it->second) << batch[i].ToHex();
      }
    }
    batch.clear();
  };
  size_t n = 0;
  for (const auto& [k, v] : model) {
    if (n++ % 16 == 0) batch.push_back(k);
    if (rng() % 100 == 0) sample.push_back(k);
    if (rng() % 100 == 0 && k != Key::Max() && !model.contains(k.Next()))
      sample.push_back(k.Next());
    if (batch.size() == 1000) {
      ASSERT_NO_FATAL_FAILURE(check_batch());
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_batch());
  for (int i = 0; i < 2000; ++i) sample.push_back(RandomKey(rng));
  sample.push_back(Key::Min());
  std::shuffle(sample.begin(), sample.end(), rng);
  ASSERT_GT(sample.size(), 5000u);
  for (const Key& k : sample) {
    batch.push_back(k);
    if (batch.size() == 100) {
      ASSERT_NO_FATAL_FAILURE(check_batch());
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_batch());
  // Single-key reads agree with the vectored ones.
  for (int i = 0; i < 200; ++i) {
    const Key& k = sample[i];
    const auto it = model.find(k);
    if (it == model.end()) {
      ASSERT_THAT(reader->Get(k), StatusIs(StatusCode::kNotFound));
    } else {
      ASSERT_OK_AND_ASSIGN(const Bytes value, reader->Get(k));
      ASSERT_EQ(value, it->second);
    }
  }
}

// Lookup then ReadValue is Get with the BlobRef in hand (pagectl's one
// index walk); a BlobRef whose will_init bit disagrees with the blob is
// Corruption, as it is for Get.
TEST_P(ImageLayerTest, ReadValueOfALookedUpBlobEqualsGet) {
  Rng rng(8);
  const ImageModel model = RandomModel(GenerateKeys(KeyShape::kDenseBlocks, 300, rng), rng, 9000);
  auto reader = Open(Write(model, KeyRange::All(), {.image_compression = Compression::kZstd}).path);
  for (const auto& [k, v] : model) {
    ASSERT_OK_AND_ASSIGN(const std::optional<BlobRef> ref, reader->Lookup(k));
    ASSERT_TRUE(ref.has_value());
    ASSERT_OK_AND_ASSIGN(const Bytes value, reader->ReadValue(*ref));
    ASSERT_EQ(value, v) << k.ToHex();
  }
  ASSERT_OK_AND_ASSIGN(const std::optional<BlobRef> first, reader->Lookup(model.begin()->first));
  ASSERT_TRUE(first.has_value());
  BlobRef ref = *first;
  ref.will_init = false;
  EXPECT_THAT(reader->ReadValue(ref), StatusIs(StatusCode::kCorruption, HasSubstr("will_init")));
  ref.will_init = true;
  ref.offset += 1;
  EXPECT_THAT(reader->ReadValue(ref), StatusIs(StatusCode::kCorruption));
}

TEST_P(ImageLayerTest, ZstdCompressesPagesAndReadsBackIdentically) {
  Rng rng(7);
  ImageModel model;
  for (const Key& k : GenerateKeys(KeyShape::kDenseBlocks, 200, rng)) {
    model[k] = rng() % 4 == 0 ? RandomBytes(rng, 8192) : CompressiblePage(rng);
  }
  const std::string plain_dir = dir().File("plain");
  std::filesystem::create_directory(plain_dir);
  auto plain_writer = ImageLayerWriter::Create(ctx(), plain_dir, TestTenant(), TestTimeline(),
                                               KeyRange::All(), kLsn);
  ASSERT_OK(plain_writer);
  for (const auto& [k, v] : model) ASSERT_OK((*plain_writer)->Put(k, v));
  ASSERT_OK_AND_ASSIGN(const WrittenLayer plain, (*plain_writer)->Finish());
  const WrittenLayer zstd =
      Write(model, KeyRange::All(), {.image_compression = Compression::kZstd});
  EXPECT_EQ(plain.summary.image_compression, Compression::kNone);
  EXPECT_EQ(zstd.summary.image_compression, Compression::kZstd);
  EXPECT_EQ(zstd.summary.value_bytes, plain.summary.value_bytes);
  EXPECT_LT(zstd.summary.file_length * 2, plain.summary.file_length);
  for (const WrittenLayer* w : {&plain, &zstd}) {
    auto reader = Open(w->path);
    EXPECT_EQ(reader->summary().image_compression, w->summary.image_compression);
    ASSERT_NO_FATAL_FAILURE(CheckAll(*reader, model, rng));
  }
}

TEST_P(ImageLayerTest, WriterRejectionsLeaveItUsable) {
  const Key a = Key::RelBlock({1663, 5, 16384, 0}, 10);
  const KeyRange range{a, a.Add(100)};
  auto writer =
      ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range, kLsn);
  ASSERT_OK(writer);
  ImageLayerWriter& w = **writer;
  const Bytes v(10, std::byte{1});
  EXPECT_THAT(w.Put(a.Add(100), v), StatusIs(StatusCode::kInvalidArgument));  // range end
  EXPECT_THAT(w.Put(Key::Min(), v), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(w.Put(a.Add(5), v));
  EXPECT_THAT(w.Put(a.Add(5), v), StatusIs(StatusCode::kInvalidArgument));  // duplicate
  EXPECT_THAT(w.Put(a.Add(4), v), StatusIs(StatusCode::kInvalidArgument));  // descending
  EXPECT_THAT(w.Put(a.Add(6), Bytes(kMaxValueSize + 1)), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(w.Put(a.Add(6), Bytes(kMaxValueSize)));  // the largest value fits
  ASSERT_OK(w.Put(a.Add(99), v));
  EXPECT_EQ(w.entry_count(), 3u);
  ASSERT_OK_AND_ASSIGN(const WrittenLayer written, w.Finish());
  EXPECT_THAT(w.Put(range.end, v), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Finish(), StatusIs(StatusCode::kInvalidArgument));
  auto reader = Open(written.path);
  ASSERT_OK_AND_ASSIGN(const Bytes big, reader->Get(a.Add(6)));
  EXPECT_EQ(big.size(), kMaxValueSize);
  EXPECT_THAT(reader->Get(a.Add(4)), StatusIs(StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(const Bytes last, reader->Get(a.Add(99)));
  EXPECT_EQ(last, v);
}

TEST_P(ImageLayerTest, CreateRejectsEmptyRanges) {
  const Key a = Key::RelBlock({1663, 5, 16384, 0}, 10);
  EXPECT_THAT(ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                       KeyRange{a, a}, kLsn),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                       KeyRange::All(), Lsn::Max()),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ImageLayerWriter::Create(ctx(), dir().File("missing"), TestTenant(), TestTimeline(),
                                       KeyRange::All(), kLsn),
              StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(ListDir(dir().path()).empty());
}

TEST_P(ImageLayerTest, FinishPublishesUnderTheLayerNameOnly) {
  Rng rng(3);
  const ImageModel model = RandomModel(GenerateKeys(KeyShape::kDenseBlocks, 500, rng), rng, 2000);
  const KeyRange range = RangeOf(KeysOf(model));
  const std::string name = LayerName::Image(range, kLsn).ToString();
  auto writer =
      ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range, kLsn);
  ASSERT_OK(writer);
  for (const auto& [k, v] : model) ASSERT_OK((*writer)->Put(k, v));
  // Before Finish: only temporary files, which a restart would delete.
  for (const std::string& f : ListDir(dir().path())) EXPECT_TRUE(IsTemporaryLayerFileName(f)) << f;
  EXPECT_FALSE(std::filesystem::exists(dir().File(name)));
  ASSERT_OK_AND_ASSIGN(const WrittenLayer written, (*writer)->Finish());
  EXPECT_EQ(written.path, dir().File(name));
  EXPECT_THAT(ListDir(dir().path()), ElementsAre(name));
  EXPECT_EQ(std::filesystem::file_size(written.path), written.summary.file_length);
  EXPECT_EQ(written.summary.name(), LayerName::Image(range, kLsn));
  EXPECT_EQ(written.summary.tenant, TestTenant());
  EXPECT_EQ(written.summary.timeline, TestTimeline());
  writer->reset();
  EXPECT_THAT(ListDir(dir().path()), ElementsAre(name));
  ASSERT_OK_AND_ASSIGN(const auto removed, RemoveTemporaryLayerFiles(dir().path()));
  EXPECT_TRUE(removed.empty());
}

TEST_P(ImageLayerTest, WriterDroppedWithoutFinishLeavesNoFiles) {
  Rng rng(4);
  for (size_t n : {0, 1, 3000}) {
    auto writer = ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                           KeyRange::All(), kLsn);
    ASSERT_OK(writer);
    for (const Key& k : GenerateKeys(KeyShape::kRandom, n, rng)) {
      ASSERT_OK((*writer)->Put(k, RandomBytes(rng, 100)));
    }
    EXPECT_FALSE(ListDir(dir().path()).empty());
    writer->reset();
    EXPECT_TRUE(ListDir(dir().path()).empty()) << n;
  }
}

TEST_P(ImageLayerTest, CrashBeforeFinishLeavesOnlyRemovableTempFiles) {
  Rng rng(5);
  const std::string crashed = dir().File("crashed");
  std::filesystem::create_directory(crashed);
  auto writer = ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                         KeyRange::All(), kLsn);
  ASSERT_OK(writer);
  for (const Key& k : GenerateKeys(KeyShape::kRandom, 5000, rng)) {
    ASSERT_OK((*writer)->Put(k, RandomBytes(rng, 50)));
  }
  // "Crash": the directory as the process left it, writer never finished.
  for (const std::string& f : ListDir(dir().path())) {
    if (f == "crashed") continue;
    std::filesystem::copy_file(dir().File(f), std::filesystem::path(crashed) / f);
  }
  writer->reset();
  const std::vector<std::string> left = ListDir(crashed);
  ASSERT_EQ(left.size(), 2u);  // the layer and its index spill file
  for (const std::string& f : left) {
    EXPECT_TRUE(IsTemporaryLayerFileName(f)) << f;
    EXPECT_FALSE(LayerName::Parse(f).has_value()) << f;
  }
  // A finished layer next to the leftovers survives the cleanup.
  const std::string name = LayerName::Image(KeyRange::All(), kLsn).ToString();
  std::filesystem::copy_file(Write({}, KeyRange::All()).path, crashed + "/" + name);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> removed, RemoveTemporaryLayerFiles(crashed));
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, left);
  EXPECT_THAT(ListDir(crashed), ElementsAre(name));
}

TEST_P(ImageLayerTest, IoErrorPoisonsTheWriterAndLeavesNoFiles) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  ASSERT_TRUE(UseFaults({.seed = seed, .error_one_in = 7}));
  int poisoned = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto writer = ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                           KeyRange::All(), kLsn, {.write_buffer_bytes = 8192});
    if (!writer.has_value()) continue;  // the create itself hit a fault
    common::Status first;
    for (const Key& k : GenerateKeys(KeyShape::kRandom, 300, rng)) {
      first = (*writer)->Put(k, RandomBytes(rng, 500));
      if (!first.ok()) break;
    }
    if (first.ok()) {
      auto finished = (*writer)->Finish();
      if (finished.has_value()) {  // every IO happened to succeed
        std::filesystem::remove(finished->path);
        continue;
      }
      first = finished.error();
    }
    EXPECT_THAT(first, StatusIs(StatusCode::kIoError));
    // Poisoned: every later call returns that same error, even valid ones.
    EXPECT_EQ((*writer)->Put(Key::Max().Add(0), {}), first);
    EXPECT_EQ((*writer)->Finish().error(), first);
    writer->reset();
    EXPECT_THAT(ListDir(dir().path()), ::testing::IsEmpty()) << first.ToString();
    ++poisoned;
  }
  EXPECT_GT(poisoned, 0);
}

TEST_P(ImageLayerTest, RetriedShortTransfersAreInvisible) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  ASSERT_TRUE(UseFaults({.seed = seed, .short_one_in = 3, .short_unit = 4096, .eagain_one_in = 4}));
  const ImageModel model = RandomModel(GenerateKeys(KeyShape::kMixedKinds, 600, rng), rng, 3000);
  auto reader = Open(Write(model, KeyRange::All(), {.write_buffer_bytes = 16384}).path);
  ASSERT_NO_FATAL_FAILURE(CheckVectored(*reader, model, AbsentKeys(KeysOf(model), 50, rng), rng,
                                        kDefaultMaxVectoredReadBytes));
  ASSERT_NO_FATAL_FAILURE(CheckScans(*reader, model, rng));
}

TEST_P(ImageLayerTest, ReadsThatEndEarlyAreErrorsNeverWrongValues) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const ImageModel model = RandomModel(GenerateKeys(KeyShape::kRandom, 600, rng), rng, 3000);
  const std::string path = Write(model, KeyRange::All()).path;
  ASSERT_TRUE(UseFaults({.seed = seed, .zero_one_in = 5}));
  std::vector<Key> keys = KeysOf(model);
  keys.resize(100);
  size_t ok = 0;
  size_t failed = 0;
  for (int round = 0; round < 10; ++round) {
    auto reader = ImageLayerReader::Open(ctx(), path, cache());
    if (!reader.has_value()) {
      ++failed;
      continue;
    }
    const auto results = (*reader)->GetVectored(keys, 8192);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!results[i].has_value()) {
        EXPECT_FALSE(results[i].error().IsNotFound()) << results[i].error().ToString();
        ++failed;
        continue;
      }
      ASSERT_EQ(*results[i], model.at(keys[i]));
      ++ok;
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(failed, 0u);
}

TEST_P(ImageLayerTest, OpenErrors) {
  EXPECT_THAT(ImageLayerReader::Open(ctx(), dir().File("nope"), cache()),
              StatusIs(StatusCode::kNotFound));
  auto delta = DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                        KeyRange::All(), {Lsn{1}, Lsn{9}});
  ASSERT_OK(delta);
  ASSERT_OK_AND_ASSIGN(const WrittenLayer d, (*delta)->Finish());
  EXPECT_THAT(ImageLayerReader::Open(ctx(), d.path, cache()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is a delta layer")));
}

TEST_P(ImageLayerTest, IndexPointingOutsideTheValueRegionIsCorruption) {
  BlobEncoder encoder;
  ASSERT_OK_AND_ASSIGN(const auto blob,
                       encoder.Encode(Bytes(100, std::byte{7}), true, Compression::kNone));
  Bytes values = ToBytes(blob);
  const uint32_t len = static_cast<uint32_t>(blob.size());
  LayerSummary identity;
  identity.key_range = KeyRange::All();
  identity.lsn_range = {kLsn, Lsn{kLsn.value + 1}};
  const Key good = Key::RelBlock({1, 2, 3, 0}, 0);
  const std::vector<std::pair<BlobRef, Key>> refs = {
      {{kLayerBlockSize, len, true}, good},
      {{0, len, true}, good.Add(1)},                       // inside block 0
      {{kLayerBlockSize + 1, len, true}, good.Add(2)},     // past the region end
      {{kLayerBlockSize, 8, true}, good.Add(3)},           // shorter than a header
      {{kLayerBlockSize + 4096, len, true}, good.Add(4)},  // far past the end
      {{kLayerBlockSize, len, false}, good.Add(5)},        // will_init disagrees
  };
  std::vector<std::pair<Bytes, uint64_t>> index;
  index.reserve(refs.size());
  for (const auto& [ref, key] : refs) index.emplace_back(ToBytes(key.Encode()), ref.Pack());
  const std::string path = dir().File("raw");
  WriteRawLayer(path, identity, values, index);
  ASSERT_OK_AND_ASSIGN(auto reader, ImageLayerReader::Open(ctx(), path, cache()));
  ASSERT_OK_AND_ASSIGN(const Bytes v, reader->Get(good));
  EXPECT_EQ(v, Bytes(100, std::byte{7}));
  for (int i = 1; i <= 4; ++i) {
    EXPECT_THAT(reader->Lookup(good.Add(i)),
                StatusIs(StatusCode::kCorruption,
                         ::testing::AllOf(HasSubstr(path), HasSubstr(good.Add(i).ToHex()))));
    EXPECT_THAT(reader->Get(good.Add(i)), StatusIs(StatusCode::kCorruption));
  }
  EXPECT_THAT(reader->Get(good.Add(5)), StatusIs(StatusCode::kCorruption, HasSubstr("will_init")));
  const std::vector<Key> keys = {good, good.Add(2), good.Add(6)};
  const auto results = reader->GetVectored(keys);
  EXPECT_OK(results[0]);
  EXPECT_THAT(results[1], StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(results[2], StatusIs(StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(All, ImageLayerTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

}  // namespace
}  // namespace pageserver::layers
