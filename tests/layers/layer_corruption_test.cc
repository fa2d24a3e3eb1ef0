// Damaged layer files: every answer is an error or the correct value, never a
// wrong value, never a crash (ASan/UBSan builds check the latter).

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "layers/delta_layer.h"
#include "layers/image_layer.h"
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
using namespace test_util;  // NOLINT(google-build-using-namespace): test helpers

using ImageModel = std::map<Key, Bytes>;
constexpr LsnRange kLsns{Lsn{0x1000}, Lsn{0x9000}};
constexpr Lsn kImageLsn{0x5000};

// Flips bytes of a file in place through a plain descriptor and restores
// them, so each mutation costs two pwrites instead of a file rewrite.
class FileMutator {
 public:
  explicit FileMutator(const std::string& path) : fd_(::open(path.c_str(), O_RDWR)) {}
  ~FileMutator() { ::close(fd_); }
  bool ok() const { return fd_ >= 0; }
  std::byte Read(uint64_t offset) const {
    std::byte b{};
    EXPECT_EQ(::pread(fd_, &b, 1, static_cast<off_t>(offset)), 1);
    return b;
  }
  void Write(uint64_t offset, std::byte b) const {
    EXPECT_EQ(::pwrite(fd_, &b, 1, static_cast<off_t>(offset)), 1);
  }

 private:
  int fd_;
};

// Outcome tallies, to show the test exercised both sides.
struct Tally {
  uint64_t open_failed = 0;
  uint64_t values_ok = 0;
  uint64_t read_errors = 0;
};

class LayerCorruptionTest : public LayerIoTest {
 protected:
  // std-fs in buffered mode flips every byte of the small files. The other
  // engine x mode combinations flip every byte that has a meaning (the
  // summary's fields and checksum, every index node's header and entries,
  // every blob's header) plus a seeded sample of the rest (payload and zero
  // padding, whose damage only a checksum catches: the same checksum code
  // under every engine and mode). What the engine and mode change is how
  // the damaged bytes reach memory, which those flips exercise on every
  // path. Measured under ASan on the 2-core test VM, every byte under
  // O_DIRECT costs 15-35 s per file per combination (each flip is a device
  // write-back and one to three device reads, 0.3-1 ms), and under io_uring
  // buffered 8-12 s: exhaustive everywhere would add minutes to the suite.
  bool Exhaustive() const {
    return GetParam().engine == io_engine::IoEngineKind::kStdFs &&
           GetParam().mode == virtual_file::IoMode::kBuffered;
  }

  std::string WriteImage(const ImageModel& model, Compression compression) {
    auto writer =
        ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), KeyRange::All(),
                                 kImageLsn, {.image_compression = compression});
    if (!writer.has_value()) common::DieWithStatus("image writer", writer.error());
    for (const auto& [k, v] : model) EXPECT_OK((*writer)->Put(k, v));
    auto written = (*writer)->Finish();
    if (!written.has_value()) common::DieWithStatus("image finish", written.error());
    return written->path;
  }

  std::string WriteDelta(const DeltaModel& model) {
    auto writer = DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                           KeyRange::All(), kLsns);
    if (!writer.has_value()) common::DieWithStatus("delta writer", writer.error());
    for (const auto& [kl, v] : model) {
      EXPECT_OK((*writer)->Put(kl.first, kl.second, v.bytes, v.will_init));
    }
    auto written = (*writer)->Finish();
    if (!written.has_value()) common::DieWithStatus("delta finish", written.error());
    return written->path;
  }

  // Reads `keys` (present and absent ones) through `reader`; each answer
  // must be an error or exactly the model's.
  static void CheckImageReader(const ImageLayerReader& reader, const ImageModel& model,
                               const std::vector<Key>& keys, Tally& tally) {
    const auto results = reader.GetVectored(keys, 8192);
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto it = model.find(keys[i]);
      if (results[i].has_value()) {
        ASSERT_TRUE(it != model.end()) << "value for absent key " << keys[i].ToHex();
        ASSERT_TRUE(SameBytes(*results[i], it->second)) << "wrong value for " << keys[i].ToHex();
        ++tally.values_ok;
      } else {
        // A present key is never reported absent: that would be a wrong answer.
        ASSERT_FALSE(it != model.end() && results[i].error().IsNotFound())
            << keys[i].ToHex() << ": " << results[i].error().ToString();
        if (it != model.end()) ++tally.read_errors;
      }
    }
  }

  void CheckImage(const std::string& path, const ImageModel& model, const std::vector<Key>& keys,
                  Tally& tally) {
    auto reader = ImageLayerReader::Open(ctx(), path, cache());
    if (!reader.has_value()) {
      ++tally.open_failed;
      return;
    }
    CheckImageReader(**reader, model, keys, tally);
  }

  // The histories of `keys` as the read path gets them: index walks, then
  // one vectored batch for all their values.
  static void CheckDeltaReader(const DeltaLayerReader& reader, const DeltaModel& model,
                               const std::vector<Key>& keys, Tally& tally) {
    const LsnRange all{Lsn{0}, Lsn::Max()};
    std::vector<BlobRef> blobs;
    std::vector<const DeltaValue*> expected_values;
    for (const Key& k : keys) {
      const auto got = reader.LookupHistory(k, all);
      if (!got.has_value()) {
        ++tally.read_errors;
        continue;
      }
      const ExpectedHistory expected = ModelHistory(model, k, all);
      ASSERT_EQ(got->entries.size(), expected.entries.size()) << k.ToHex();
      ASSERT_EQ(got->complete, expected.complete);
      for (size_t i = 0; i < got->entries.size(); ++i) {
        ASSERT_EQ(got->entries[i].lsn, expected.entries[i].first);
        ASSERT_EQ(got->entries[i].blob.will_init, expected.entries[i].second->will_init);
        blobs.push_back(got->entries[i].blob);
        expected_values.push_back(expected.entries[i].second);
      }
    }
    VectoredReadBatch batch;
    batch.Add(&reader.file(), VectoredReadPlan::Build(blobs, reader.planner_options(8192)));
    batch.Execute();
    for (size_t i = 0; i < blobs.size(); ++i) {
      const auto decoded = batch.Decode(0, i);
      if (!decoded.has_value()) {
        ++tally.read_errors;
        continue;
      }
      ASSERT_EQ(decoded->will_init, expected_values[i]->will_init);
      ASSERT_TRUE(SameBytes(decoded->value, expected_values[i]->bytes));
      ++tally.values_ok;
    }
  }

  void CheckDelta(const std::string& path, const DeltaModel& model, const std::vector<Key>& keys,
                  Tally& tally) {
    auto reader = DeltaLayerReader::Open(ctx(), path, cache());
    if (!reader.has_value()) {
      ++tally.open_failed;
      return;
    }
    CheckDeltaReader(**reader, model, keys, tally);
  }

  // Whether `offset` lies in the value region [8192, index start) of the
  // file `summary` describes: damage there leaves the summary and index
  // intact, so a reader opened on the clean file sees exactly what a fresh
  // one would (values are never cached) and the flip needs no new open.
  static bool InValueRegion(const LayerSummary& summary, uint64_t offset) {
    return offset >= kLayerBlockSize && offset < summary.index_start_block * kLayerBlockSize;
  }

  // Random flips per file: a few hundred in the exhaustive run, a few
  // dozen in the others.
  size_t SampleFlips() const { return Exhaustive() ? 300 : 40; }

  // The offsets to flip in a small file: all of them (Exhaustive()), or
  // StructuralOffsets plus a seeded sample.
  std::vector<uint64_t> FlipOffsets(const std::string& path, const LayerSummary& summary,
                                    const std::vector<BlobRef>& blobs, Rng& rng) const {
    const uint64_t length = summary.file_length;
    std::vector<uint64_t> offsets;
    if (Exhaustive()) {
      for (uint64_t i = 0; i < length; ++i) offsets.push_back(i);
      return offsets;
    }
    offsets = StructuralOffsets(path, summary, blobs);
    for (size_t i = 0; i < SampleFlips(); ++i) offsets.push_back(rng() % length);
    return offsets;
  }

  // Every byte with a meaning in the file: the summary's fields and its
  // checksum, each index node's checksum, header, prefix and entries (up to
  // its last entry), and each blob's 16-byte header.
  static std::vector<uint64_t> StructuralOffsets(const std::string& path,
                                                 const LayerSummary& summary,
                                                 const std::vector<BlobRef>& blobs) {
    std::vector<uint64_t> offsets;
    auto add = [&](uint64_t from, uint64_t n) {
      for (uint64_t i = 0; i < n; ++i) offsets.push_back(from + i);
    };
    add(0, kSummarySizeV1);
    add(kLayerBlockSize - 4, 4);
    const std::vector<std::byte> file = pageserver::testing::ReadWholeFile(path);
    const size_t width = summary.index_key_width();
    for (uint64_t n = 0; n < summary.index_node_count; ++n) {
      const uint64_t at = (summary.index_start_block + n) * kLayerBlockSize;
      const size_t count =
          std::to_integer<size_t>(file[at + 6]) | std::to_integer<size_t>(file[at + 7]) << 8;
      const size_t prefix = std::to_integer<size_t>(file[at + 9]);
      add(at, kNodeHeaderSize + prefix + count * (width - prefix + 8));
    }
    for (const BlobRef& b : blobs) add(b.offset, kBlobHeaderSize);
    return offsets;
  }

  // Flips the bytes FlipOffsets picks in the image layer at `path`, one at
  // a time; every answer for the model's keys (and two absent ones) must be
  // an error or the model's value.
  void FlipImage(const std::string& path, const ImageModel& model, Rng& rng, Tally& tally) {
    std::vector<Key> keys;
    for (const auto& [k, v] : model) keys.push_back(k);
    for (const Key& k : AbsentKeys(keys, 2, rng)) keys.push_back(k);
    ASSERT_OK_AND_ASSIGN(const auto clean_reader, ImageLayerReader::Open(ctx(), path, cache()));
    std::vector<BlobRef> blobs;
    for (const auto& [k, v] : model) {
      ASSERT_OK_AND_ASSIGN(const std::optional<BlobRef> ref, clean_reader->Lookup(k));
      ASSERT_TRUE(ref.has_value());
      blobs.push_back(*ref);
    }
    FlipEach(path, FlipOffsets(path, clean_reader->summary(), blobs, rng), [&](uint64_t off) {
      if (InValueRegion(clean_reader->summary(), off)) {
        CheckImageReader(*clean_reader, model, keys, tally);
      } else {
        CheckImage(path, model, keys, tally);
      }
    });
  }

  template <typename Check>
  void FlipEach(const std::string& path, const std::vector<uint64_t>& offsets, Check check) {
    FileMutator file(path);
    ASSERT_TRUE(file.ok());
    for (uint64_t off : offsets) {
      const std::byte original = file.Read(off);
      file.Write(off, original ^ std::byte{0xFF});
      check(off);
      file.Write(off, original);
      if (::testing::Test::HasFatalFailure()) {
        FAIL() << "after flipping the byte at offset " << off;
      }
    }
  }
};

// Three blocks: summary, values, one index leaf.
ImageModel SmallImageModel(Rng& rng) {
  ImageModel model;
  for (const Key& k : GenerateKeys(KeyShape::kSparseRelations, 5, rng)) {
    model[k] = RandomBytes(rng, rng() % 400);
  }
  return model;
}

DeltaModel SmallDeltaModel(Rng& rng) {
  DeltaModel model;
  for (const Key& k : GenerateKeys(KeyShape::kDenseBlocks, 3, rng)) {
    for (uint64_t v = 0; v < 3; ++v) {
      const Lsn lsn{0x1000 + 0x100 * v + rng() % 0x80};
      model[{k, lsn}] = {RandomBytes(rng, rng() % 200), v == 0 || rng() % 3 == 0};
    }
  }
  return model;
}

// `present` plus two absent keys (Key::Min() and a present key's successor).
std::vector<Key> WithAbsent(const std::vector<Key>& present, Rng& rng) {
  std::vector<Key> keys = present;
  for (const Key& k : AbsentKeys(present, 2, rng)) keys.push_back(k);
  return keys;
}

std::vector<Key> KeysOfModel(const ImageModel& model) {
  std::vector<Key> keys;
  for (const auto& [k, v] : model) keys.push_back(k);
  return keys;
}

std::vector<uint64_t> RandomOffsets(uint64_t length, size_t n, Rng& rng) {
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < n; ++i) offsets.push_back(rng() % length);
  return offsets;
}

// The key whose blob holds byte `offset` (blob offsets -> keys), if any.
std::optional<Key> KeyAt(const std::map<uint64_t, Key>& blob_at, uint64_t offset) {
  auto hit = blob_at.upper_bound(offset);
  if (hit == blob_at.begin()) return std::nullopt;
  return std::prev(hit)->second;
}

TEST_P(LayerCorruptionTest, ImageByteFlipsNeverYieldWrongValues) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const ImageModel model = SmallImageModel(rng);
  const std::string path = WriteImage(model, Compression::kNone);
  ASSERT_EQ(std::filesystem::file_size(path), 3 * kLayerBlockSize);
  Tally tally;
  ASSERT_NO_FATAL_FAILURE(FlipImage(path, model, rng, tally));
  EXPECT_GT(tally.open_failed, 0u);
  EXPECT_GT(tally.read_errors, 0u);
  EXPECT_GT(tally.values_ok, 0u);
  Tally clean;
  CheckImage(path, model, KeysOfModel(model), clean);  // restored: everything reads again
  EXPECT_EQ(clean.values_ok, model.size());
}

// Every byte of a small zstd layer (compressed payloads, whose damage the
// blob checksum catches before zstd sees it).
TEST_P(LayerCorruptionTest, CompressedImageByteFlipsNeverYieldWrongValues) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  ImageModel model;
  for (const Key& k : GenerateKeys(KeyShape::kDenseBlocks, 3, rng)) {
    model[k] = CompressiblePage(rng, 8192);
  }
  const std::string path = WriteImage(model, Compression::kZstd);
  ASSERT_EQ(std::filesystem::file_size(path), 3 * kLayerBlockSize);  // 3 pages in one block
  Tally tally;
  ASSERT_NO_FATAL_FAILURE(FlipImage(path, model, rng, tally));
  EXPECT_GT(tally.open_failed, 0u);
  EXPECT_GT(tally.read_errors, 0u);
  EXPECT_GT(tally.values_ok, 0u);
  Tally clean;
  CheckImage(path, model, KeysOfModel(model), clean);
  EXPECT_EQ(clean.values_ok, model.size());
}

TEST_P(LayerCorruptionTest, DeltaByteFlipsNeverYieldWrongValues) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const DeltaModel model = SmallDeltaModel(rng);
  const std::string path = WriteDelta(model);
  ASSERT_EQ(std::filesystem::file_size(path), 3 * kLayerBlockSize);
  const std::vector<Key> keys = WithAbsent(DistinctKeys(model), rng);
  ASSERT_OK_AND_ASSIGN(const auto clean_reader, DeltaLayerReader::Open(ctx(), path, cache()));
  std::vector<BlobRef> blobs;
  for (const Key& k : DistinctKeys(model)) {
    ASSERT_OK_AND_ASSIGN(const KeyHistory h, clean_reader->LookupHistory(k, {Lsn{0}, Lsn::Max()}));
    for (const DeltaEntry& e : h.entries) blobs.push_back(e.blob);
  }
  Tally tally;
  FlipEach(path, FlipOffsets(path, clean_reader->summary(), blobs, rng), [&](uint64_t off) {
    if (InValueRegion(clean_reader->summary(), off)) {
      CheckDeltaReader(*clean_reader, model, keys, tally);
    } else {
      CheckDelta(path, model, keys, tally);
    }
  });
  EXPECT_GT(tally.open_failed, 0u);
  EXPECT_GT(tally.read_errors, 0u);
  EXPECT_GT(tally.values_ok, 0u);
}

TEST_P(LayerCorruptionTest, RandomFlipsInALargeImageLayer) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  ImageModel model;
  for (const Key& k : GenerateKeys(KeyShape::kMixedKinds, Exhaustive() ? 5000 : 2500, rng)) {
    model[k] = RandomBytes(rng, rng() % 200);
  }
  const std::string path = WriteImage(model, Compression::kNone);
  const uint64_t length = std::filesystem::file_size(path);
  std::map<uint64_t, Key> blob_at;
  {
    ASSERT_OK_AND_ASSIGN(auto reader, ImageLayerReader::Open(ctx(), path, cache()));
    EXPECT_GE(reader->summary().index_depth, 2u);
    for (const auto& [k, v] : model) {
      ASSERT_OK_AND_ASSIGN(const auto ref, reader->Lookup(k));
      blob_at[ref->offset] = k;
    }
  }
  std::vector<Key> sample;
  size_t i = 0;
  for (const auto& [k, v] : model) {
    if (i++ % 100 == 0) sample.push_back(k);  // a key in every index leaf
  }
  const std::vector<Key> base = WithAbsent(sample, rng);
  Tally tally;
  FlipEach(path, RandomOffsets(length, SampleFlips(), rng), [&](uint64_t off) {
    std::vector<Key> keys = base;
    if (auto hit = KeyAt(blob_at, off)) keys.push_back(*hit);
    CheckImage(path, model, keys, tally);
  });
  EXPECT_GT(tally.values_ok, 0u);
  EXPECT_GT(tally.read_errors + tally.open_failed, 0u);
}

TEST_P(LayerCorruptionTest, RandomFlipsInALargeDeltaLayer) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  DeltaModel model;
  for (const Key& k : GenerateKeys(KeyShape::kRandom, Exhaustive() ? 3000 : 1500, rng)) {
    const uint64_t versions = 1 + rng() % 3;
    for (uint64_t v = 0; v < versions; ++v) {
      model[{k, Lsn{0x1000 + 0x100 * v}}] = {RandomBytes(rng, rng() % 100), v == 0};
    }
  }
  const std::string path = WriteDelta(model);
  const uint64_t length = std::filesystem::file_size(path);
  std::map<uint64_t, Key> blob_at;
  {
    ASSERT_OK_AND_ASSIGN(auto reader, DeltaLayerReader::Open(ctx(), path, cache()));
    EXPECT_GE(reader->summary().index_depth, 2u);
    for (const Key& k : DistinctKeys(model)) {
      ASSERT_OK_AND_ASSIGN(const KeyHistory h, reader->LookupHistory(k, {Lsn{0}, Lsn::Max()}));
      for (const DeltaEntry& e : h.entries) blob_at[e.blob.offset] = k;
    }
  }
  std::vector<Key> sample;
  for (const Key& k : DistinctKeys(model)) {
    if (rng() % 200 == 0) sample.push_back(k);
  }
  const std::vector<Key> base = WithAbsent(sample, rng);
  Tally tally;
  FlipEach(path, RandomOffsets(length, SampleFlips(), rng), [&](uint64_t off) {
    std::vector<Key> keys = base;
    if (auto hit = KeyAt(blob_at, off)) keys.push_back(*hit);
    CheckDelta(path, model, keys, tally);
  });
  EXPECT_GT(tally.values_ok, 0u);
  EXPECT_GT(tally.read_errors + tally.open_failed, 0u);
}

TEST_P(LayerCorruptionTest, TruncatedOrExtendedFilesFailToOpen) {
  Rng rng(11);
  const ImageModel image = SmallImageModel(rng);
  const DeltaModel delta = SmallDeltaModel(rng);
  const std::string image_path = WriteImage(image, Compression::kNone);
  for (const std::string& path : {image_path, WriteDelta(delta)}) {
    const uint64_t length = std::filesystem::file_size(path);
    const std::vector<std::byte> original = pageserver::testing::ReadWholeFile(path);
    std::vector<uint64_t> lengths = {1,    100,        4096,       8191,
                                     8193, length - 1, length + 1, length + 8192};
    for (uint64_t l = 0; l < length; l += kLayerBlockSize) lengths.push_back(l);
    for (uint64_t l : lengths) {
      SCOPED_TRACE(path + " truncated to " + std::to_string(l));
      std::vector<std::byte> bytes = original;
      bytes.resize(l);
      pageserver::testing::WriteWholeFile(path, bytes);
      if (path == image_path) {
        EXPECT_THAT(ImageLayerReader::Open(ctx(), path, cache()),
                    StatusIs(StatusCode::kCorruption));
      } else {
        EXPECT_THAT(DeltaLayerReader::Open(ctx(), path, cache()),
                    StatusIs(StatusCode::kCorruption));
      }
    }
    pageserver::testing::WriteWholeFile(path, original);
  }
}

// Truncation of a multi-block layer at every block boundary (and, as a
// control, not at all). Two readers see each cut: one opened after it
// (Open must fail: the summary records the file length), and one opened on
// the whole file before it and used once, so its index is cached and its
// value reads meet the shortened file. Every answer of both (Get of every
// key, GetHistory) is an error or the correct value.
class LayerTruncationTest : public LayerCorruptionTest {
 protected:
  // Cuts `path` at every block boundary. `open_and_check(path, tally)`
  // opens a fresh reader (tally.open_failed when it cannot) and checks
  // every read; `open_stale()` opens a reader on the whole file, checks it
  // once and returns a check of that reader to run after the cut.
  template <typename OpenAndCheck, typename OpenStale>
  void CutAtEveryBlock(const std::string& path, OpenAndCheck open_and_check, OpenStale open_stale) {
    const std::vector<std::byte> original = pageserver::testing::ReadWholeFile(path);
    ASSERT_GE(original.size(), 10 * kLayerBlockSize);
    ASSERT_OK_AND_ASSIGN(const LayerSummary summary,
                         DecodeSummary(std::span(original).subspan(0, kLayerBlockSize), path));
    for (uint64_t cut = 0; cut <= original.size(); cut += kLayerBlockSize) {
      SCOPED_TRACE(path + " cut at " + std::to_string(cut));
      pageserver::testing::WriteWholeFile(path, original);
      auto check_stale = open_stale();
      ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(cut)), 0);
      Tally fresh;
      open_and_check(path, fresh);
      Tally stale;
      check_stale(stale);
      if (cut < original.size()) {
        EXPECT_EQ(fresh.open_failed, 1u);
      } else {
        EXPECT_EQ(fresh.open_failed + fresh.read_errors, 0u);
        EXPECT_GT(fresh.values_ok, 0u);
      }
      if (cut < summary.value_region_end) {
        EXPECT_GT(stale.read_errors, 0u);  // values past the cut
      } else {
        EXPECT_EQ(stale.read_errors, 0u);  // only index blocks (cached) are gone
      }
      if (cut >= 2 * kLayerBlockSize) {
        EXPECT_GT(stale.values_ok, 0u);  // the first blobs are intact
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    pageserver::testing::WriteWholeFile(path, original);
  }
};

// Get of each key (and GetVectored of all): an error or the model's value.
void CheckImageGets(const ImageLayerReader& reader, const ImageModel& model,
                    const std::vector<Key>& keys, Tally& tally) {
  for (const Key& k : keys) {
    const auto got = reader.Get(k);
    const auto it = model.find(k);
    if (got.has_value()) {
      ASSERT_TRUE(it != model.end()) << "value for absent key " << k.ToHex();
      ASSERT_TRUE(SameBytes(*got, it->second)) << "wrong value for " << k.ToHex();
      ++tally.values_ok;
    } else if (it != model.end()) {
      ASSERT_FALSE(got.error().IsNotFound()) << k.ToHex() << ": " << got.error().ToString();
      ++tally.read_errors;
    }
  }
}

// GetHistory of each key (and GetHistories of all): an error or the model's.
void CheckDeltaHistories(const DeltaLayerReader& reader, const DeltaModel& model,
                         const std::vector<Key>& keys, Tally& tally) {
  const LsnRange all{Lsn{0}, Lsn::Max()};
  std::vector<HistoryLookup> lookups;
  for (const Key& k : keys) lookups.push_back({k, all});
  const auto vectored = reader.GetHistories(lookups, 8192);
  for (size_t i = 0; i < keys.size(); ++i) {
    for (const auto& got : {reader.GetHistory(keys[i], all), vectored[i]}) {
      if (!got.has_value()) {
        ++tally.read_errors;
        continue;
      }
      const ExpectedHistory expected = ModelHistory(model, keys[i], all);
      ASSERT_EQ(got->values.size(), expected.entries.size()) << keys[i].ToHex();
      ASSERT_EQ(got->complete, expected.complete);
      for (size_t v = 0; v < got->values.size(); ++v) {
        ASSERT_EQ(got->values[v].lsn, expected.entries[v].first);
        ASSERT_TRUE(SameBytes(got->values[v].bytes, expected.entries[v].second->bytes));
      }
      tally.values_ok += got->values.size();
    }
  }
}

TEST_P(LayerTruncationTest, ImageLayerCutAtEveryBlockBoundary) {
  Rng rng(21);
  ImageModel model;
  for (const Key& k : GenerateKeys(KeyShape::kSparseRelations, 40, rng)) {
    model[k] = RandomBytes(rng, 2000);
  }
  const std::string path = WriteImage(model, Compression::kNone);
  const std::vector<Key> keys = WithAbsent(KeysOfModel(model), rng);
  CutAtEveryBlock(
      path,
      [&](const std::string& p, Tally& tally) {
        auto reader = ImageLayerReader::Open(ctx(), p, cache());
        if (!reader.has_value()) {
          EXPECT_THAT(reader, StatusIs(StatusCode::kCorruption));
          ++tally.open_failed;
          return;
        }
        CheckImageGets(**reader, model, keys, tally);
        CheckImageReader(**reader, model, keys, tally);
      },
      [&] {
        auto stale_cache = std::shared_ptr<page_cache::PageCache>(MakeCache(64));
        auto reader = ImageLayerReader::Open(ctx(), path, stale_cache.get());
        EXPECT_OK(reader);
        std::shared_ptr<ImageLayerReader> r(reader.has_value() ? std::move(reader).value()
                                                               : nullptr);
        auto check = [&, stale_cache, r](Tally& tally) {
          if (r == nullptr) return;
          CheckImageGets(*r, model, keys, tally);
          CheckImageReader(*r, model, keys, tally);
        };
        Tally warm;
        check(warm);
        EXPECT_EQ(warm.read_errors, 0u);
        return check;
      });
}

TEST_P(LayerTruncationTest, DeltaLayerCutAtEveryBlockBoundary) {
  Rng rng(22);
  DeltaModel model;
  for (const Key& k : GenerateKeys(KeyShape::kRandom, 30, rng)) {
    for (uint64_t v = 0; v < 3; ++v) {
      model[{k, Lsn{0x1000 + 0x100 * v}}] = {RandomBytes(rng, 1000), v == 0};
    }
  }
  const std::string path = WriteDelta(model);
  const std::vector<Key> keys = WithAbsent(DistinctKeys(model), rng);
  CutAtEveryBlock(
      path,
      [&](const std::string& p, Tally& tally) {
        auto reader = DeltaLayerReader::Open(ctx(), p, cache());
        if (!reader.has_value()) {
          EXPECT_THAT(reader, StatusIs(StatusCode::kCorruption));
          ++tally.open_failed;
          return;
        }
        CheckDeltaHistories(**reader, model, keys, tally);
      },
      [&] {
        auto stale_cache = std::shared_ptr<page_cache::PageCache>(MakeCache(64));
        auto reader = DeltaLayerReader::Open(ctx(), path, stale_cache.get());
        EXPECT_OK(reader);
        std::shared_ptr<DeltaLayerReader> r(reader.has_value() ? std::move(reader).value()
                                                               : nullptr);
        auto check = [&, stale_cache, r](Tally& tally) {
          if (r != nullptr) CheckDeltaHistories(*r, model, keys, tally);
        };
        Tally warm;
        check(warm);
        EXPECT_EQ(warm.read_errors, 0u);
        return check;
      });
}

TEST_P(LayerCorruptionTest, WrongKindAndFutureVersionAreRejected) {
  Rng rng(12);
  const std::string image = WriteImage(SmallImageModel(rng), Compression::kNone);
  const std::string delta = WriteDelta(SmallDeltaModel(rng));
  EXPECT_THAT(ImageLayerReader::Open(ctx(), delta, cache()),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(DeltaLayerReader::Open(ctx(), image, cache()),
              StatusIs(StatusCode::kInvalidArgument));
  for (const std::string& path : {image, delta}) {
    std::vector<std::byte> bytes = pageserver::testing::ReadWholeFile(path);
    bytes[4] = std::byte{2};  // format_version 2, properly sealed
    const uint32_t crc = common::crc32c::Value(std::span(bytes).first(kLayerBlockSize - 4));
    for (size_t i = 0; i < 4; ++i)
      bytes[kLayerBlockSize - 4 + i] = std::byte((crc >> (8 * i)) & 0xFF);
    pageserver::testing::WriteWholeFile(path, bytes);
    EXPECT_THAT(ImageLayerReader::Open(ctx(), path, cache()),
                StatusIs(StatusCode::kUnsupported, ::testing::HasSubstr(path)));
    EXPECT_THAT(DeltaLayerReader::Open(ctx(), path, cache()), StatusIs(StatusCode::kUnsupported));
  }
  const std::string garbage = dir().File("garbage");
  pageserver::testing::WriteWholeFile(garbage, RandomBytes(rng, 3 * kLayerBlockSize));
  EXPECT_THAT(ImageLayerReader::Open(ctx(), garbage, cache()), StatusIs(StatusCode::kCorruption));
}

INSTANTIATE_TEST_SUITE_P(All, LayerCorruptionTest, ::testing::ValuesIn(AllIoParams()), IoParamName);
INSTANTIATE_TEST_SUITE_P(All, LayerTruncationTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

}  // namespace
}  // namespace pageserver::layers
