// LayerIterator over image and delta layers, on every engine x io mode:
// everything written comes back in order (against a std::map model), for
// any sub-range and any read-ahead; the read-ahead bounds what one refill
// reads; a corrupt blob ends the iteration with Corruption after the entries
// before it. Randomized tests print their seed; replay with PS_TEST_SEED.

#include "layers/layer_iterator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;
using common::StatusCode;
using ::pageserver::testing::AllIoParams;
using ::pageserver::testing::IoParamName;
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::StatusIs;
using ::pageserver::testing::TestSeed;
using ::pageserver::testing::WriteWholeFile;
using Bytes = std::vector<std::byte>;

const RelTag kRel{1663, 5, 16384, 0};
const KeyRange kLayerKeys{Key::RelBlock(kRel, 0), Key::RelBlock(kRel, 1'000'000)};
constexpr Lsn kImageLsn{0x5000};
const LsnRange kDeltaLsns{Lsn{0x100}, Lsn{0x100000}};

Key BlockKey(uint32_t blk) { return Key::RelBlock(kRel, blk); }

// Counts what the iterator asks of the engine: batches and the largest
// number of bytes one batch reads (one refill is one batch).
class ReadCountingEngine final : public io_engine::IoEngine {
 public:
  explicit ReadCountingEngine(io_engine::IoEngine& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return inner_.Open(path, flags, mode);
  }
  Status Close(int fd) override { return inner_.Close(fd); }
  void SubmitBatch(std::span<const io_engine::IoRequest> requests,
                   std::span<io_engine::IoResult> results) override {
    uint64_t bytes = 0;
    for (const auto& r : requests) {
      if (r.opcode == io_engine::IoOpcode::kRead) bytes += r.length;
    }
    if (bytes > 0) Record(bytes);
    inner_.SubmitBatch(requests, results);
  }
  Result<io_engine::AsyncIo> SubmitAsync(const io_engine::IoRequest& request) override {
    if (request.opcode == io_engine::IoOpcode::kRead) Record(request.length);
    return inner_.SubmitAsync(request);
  }
  io_engine::IoResult WaitAsync(io_engine::AsyncIo ticket) override {
    return inner_.WaitAsync(std::move(ticket));
  }

  void Reset() {
    read_batches_ = 0;
    max_batch_bytes_ = 0;
  }
  uint64_t read_batches() const { return read_batches_; }
  uint64_t max_batch_bytes() const { return max_batch_bytes_; }

 private:
  void Record(uint64_t bytes) {
    ++read_batches_;
    max_batch_bytes_ = std::max<uint64_t>(max_batch_bytes_, bytes);
  }
  io_engine::IoEngine& inner_;
  std::atomic<uint64_t> read_batches_{0};
  std::atomic<uint64_t> max_batch_bytes_{0};
};

struct DeltaValue {
  Bytes bytes;
  bool will_init = false;
};
using ImageModel = std::map<Key, Bytes>;
using DeltaModel = std::map<std::pair<Key, Lsn>, DeltaValue>;

Bytes RandomBytes(std::mt19937_64& rng, size_t size) {
  Bytes out(size);
  for (std::byte& b : out) b = std::byte(rng());
  return out;
}

// Half of them a short random pattern repeated (zstd shrinks those), half noise.
Bytes RandomValue(std::mt19937_64& rng, size_t size) {
  if (rng() % 2 == 0) return RandomBytes(rng, size);
  const Bytes pattern = RandomBytes(rng, 1 + rng() % 32);
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = pattern[i % pattern.size()];
  return out;
}

// `count` keys spread over the layer's range, values of 0..max_size bytes.
ImageModel RandomImage(std::mt19937_64& rng, size_t count, size_t max_size) {
  ImageModel model;
  while (model.size() < count) {
    model[BlockKey(uint32_t(rng() % 100'000))] = RandomValue(rng, rng() % (max_size + 1));
  }
  return model;
}

// `keys` keys with 1..max_lsns versions each; the oldest of a key always
// initializes it, later ones sometimes.
DeltaModel RandomDelta(std::mt19937_64& rng, size_t keys, size_t max_lsns) {
  DeltaModel model;
  for (size_t k = 0; k < keys; ++k) {
    const Key key = BlockKey(uint32_t(k * 7 + 3));
    uint64_t lsn = kDeltaLsns.start.value + rng() % 64;
    const size_t versions = 1 + rng() % max_lsns;
    for (size_t v = 0; v < versions; ++v, lsn += 1 + rng() % 256) {
      model[{key, Lsn{lsn}}] = DeltaValue{RandomValue(rng, rng() % 300), v == 0 || rng() % 4 == 0};
    }
  }
  return model;
}

struct Collected {
  std::vector<LayerEntry> entries;
  Status status;
};

Collected Drain(LayerIterator& it) {
  Collected out;
  while (it.valid()) {
    out.entries.push_back(it.entry());
    Status s = it.Next();
    if (!s.ok()) {
      EXPECT_FALSE(it.valid());
      EXPECT_EQ(s, it.status());
    }
  }
  out.status = it.status();
  return out;
}

// What iterating `range` of the model must yield, in order.
std::vector<LayerEntry> Expected(const ImageModel& model, const KeyRange& range) {
  std::vector<LayerEntry> out;
  for (auto it = model.lower_bound(range.start); it != model.end() && it->first < range.end; ++it) {
    out.push_back(LayerEntry{it->first, kImageLsn, true, it->second});
  }
  return out;
}

std::vector<LayerEntry> Expected(const DeltaModel& model, const KeyRange& range) {
  std::vector<LayerEntry> out;
  for (auto it = model.lower_bound({range.start, Lsn{0}});
       it != model.end() && it->first.first < range.end; ++it) {
    out.push_back(
        LayerEntry{it->first.first, it->first.second, it->second.will_init, it->second.bytes});
  }
  return out;
}

std::string Describe(const LayerEntry& e) {
  return e.key.ToHex() + "@" + e.lsn.ToString() + (e.will_init ? " init " : " ") +
         std::to_string(e.value.size()) + " bytes";
}

void ExpectEntries(const std::vector<LayerEntry>& got, const std::vector<LayerEntry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = got[i].key == want[i].key && got[i].lsn == want[i].lsn &&
                      got[i].will_init == want[i].will_init && got[i].value == want[i].value;
    ASSERT_TRUE(same) << "entry " << i << ": got " << Describe(got[i]) << ", want "
                      << Describe(want[i]);
  }
}

// The first `n` entries of `entries`.
std::vector<LayerEntry> Prefix(std::vector<LayerEntry> entries, size_t n) {
  entries.resize(std::min(n, entries.size()));
  return entries;
}

class LayerIteratorTest : public ::pageserver::testing::IoParamTest {
 protected:
  void SetUp() override {
    IoParamTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    counting_ = std::make_unique<ReadCountingEngine>(engine());
    mutable_ctx().engine = counting_.get();
    auto cache = page_cache::PageCache::Create({.pages = 64});
    ASSERT_OK(cache);
    cache_ = std::move(cache).value();
  }
  void WriteImage(const ImageModel& model, Compression compression = Compression::kNone) {
    LayerWriterOptions options;
    options.image_compression = compression;
    ASSERT_OK_AND_ASSIGN(auto writer, ImageLayerWriter::Create(
                                          ctx(), dir().path(), TenantId::Generate(),
                                          TimelineId::Generate(), kLayerKeys, kImageLsn, options));
    for (const auto& [key, value] : model) ASSERT_OK(writer->Put(key, value));
    ASSERT_OK_AND_ASSIGN(WrittenLayer layer, writer->Finish());
    path_ = layer.path;
    ASSERT_NO_FATAL_FAILURE(OpenImage());
  }
  void OpenImage() {
    image_.reset();
    ASSERT_OK_AND_ASSIGN(image_, ImageLayerReader::Open(ctx(), path_, cache_.get()));
  }

  void WriteDelta(const DeltaModel& model) {
    ASSERT_OK_AND_ASSIGN(auto writer,
                         DeltaLayerWriter::Create(ctx(), dir().path(), TenantId::Generate(),
                                                  TimelineId::Generate(), kLayerKeys, kDeltaLsns));
    for (const auto& [kl, v] : model) {
      ASSERT_OK(writer->Put(kl.first, kl.second, v.bytes, v.will_init));
    }
    ASSERT_OK_AND_ASSIGN(WrittenLayer layer, writer->Finish());
    path_ = layer.path;
    ASSERT_NO_FATAL_FAILURE(OpenDelta());
  }
  void OpenDelta() {
    delta_.reset();
    ASSERT_OK_AND_ASSIGN(delta_, DeltaLayerReader::Open(ctx(), path_, cache_.get()));
  }

  Result<Collected> IterateImage(const KeyRange& range,
                                 size_t read_ahead = kDefaultReadAheadBytes) {
    ASSIGN_OR_RETURN(auto it, LayerIterator::Create(*image_, range, read_ahead));
    return Drain(*it);
  }
  Result<Collected> IterateDelta(const KeyRange& range,
                                 size_t read_ahead = kDefaultReadAheadBytes) {
    ASSIGN_OR_RETURN(auto it, LayerIterator::Create(*delta_, range, read_ahead));
    return Drain(*it);
  }

  // Flips one payload byte of the blob at `ref` in the file, behind the reader.
  void CorruptBlob(const BlobRef& ref) {
    Bytes file = ReadWholeFile(path_);
    file[ref.offset + ref.length - 1] ^= std::byte{0x40};
    WriteWholeFile(path_, file);
  }

  std::unique_ptr<ReadCountingEngine> counting_;
  std::unique_ptr<page_cache::PageCache> cache_;
  std::string path_;
  std::unique_ptr<ImageLayerReader> image_;
  std::unique_ptr<DeltaLayerReader> delta_;
};

TEST_P(LayerIteratorTest, EmptyImageLayerYieldsNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteImage({}));
  ASSERT_OK_AND_ASSIGN(auto it, LayerIterator::Create(*image_, KeyRange::All()));
  EXPECT_FALSE(it->valid());
  EXPECT_OK(it->status());
}

TEST_P(LayerIteratorTest, EmptyDeltaLayerYieldsNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteDelta({}));
  ASSERT_OK_AND_ASSIGN(auto it, LayerIterator::Create(*delta_, KeyRange::All()));
  EXPECT_FALSE(it->valid());
  EXPECT_OK(it->status());
}

TEST_P(LayerIteratorTest, ImageLayerOfOneEntry) {
  const ImageModel model{{BlockKey(42), Bytes(8192, std::byte{7})}};
  ASSERT_NO_FATAL_FAILURE(WriteImage(model));
  ASSERT_OK_AND_ASSIGN(Collected got, IterateImage(KeyRange::All()));
  EXPECT_OK(got.status);
  ASSERT_EQ(got.entries.size(), 1u);
  ExpectEntries(got.entries, Expected(model, KeyRange::All()));
}

TEST_P(LayerIteratorTest, DeltaLayerOfOneEntry) {
  const DeltaModel model{{{BlockKey(42), Lsn{0x200}}, DeltaValue{Bytes(100, std::byte{9}), true}}};
  ASSERT_NO_FATAL_FAILURE(WriteDelta(model));
  ASSERT_OK_AND_ASSIGN(Collected got, IterateDelta(KeyRange::All()));
  EXPECT_OK(got.status);
  ASSERT_EQ(got.entries.size(), 1u);
  ExpectEntries(got.entries, Expected(model, KeyRange::All()));
}

TEST_P(LayerIteratorTest, ImageLayerYieldsEverythingWrittenInOrder) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (Compression compression : {Compression::kNone, Compression::kZstd}) {
    const ImageModel model = RandomImage(rng, 1500, 9000);
    ASSERT_NO_FATAL_FAILURE(WriteImage(model, compression));
    ASSERT_OK_AND_ASSIGN(Collected got, IterateImage(KeyRange::All()));
    EXPECT_OK(got.status);
    EXPECT_EQ(got.entries.size(), model.size());
    ExpectEntries(got.entries, Expected(model, KeyRange::All()));
    image_.reset();
    std::filesystem::remove(path_);
  }
}

TEST_P(LayerIteratorTest, DeltaLayerWithLongHistoriesYieldsEverythingInOrder) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const DeltaModel model = RandomDelta(rng, 200, 60);
  ASSERT_NO_FATAL_FAILURE(WriteDelta(model));
  ASSERT_OK_AND_ASSIGN(Collected got, IterateDelta(KeyRange::All(), 4096));
  EXPECT_OK(got.status);
  EXPECT_EQ(got.entries.size(), model.size());
  ExpectEntries(got.entries, Expected(model, KeyRange::All()));
}

TEST_P(LayerIteratorTest, SubRangesYieldExactlyTheirKeys) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const ImageModel image = RandomImage(rng, 800, 600);
  ASSERT_NO_FATAL_FAILURE(WriteImage(image));
  const DeltaModel delta = RandomDelta(rng, 300, 8);
  ASSERT_NO_FATAL_FAILURE(WriteDelta(delta));
  std::vector<KeyRange> ranges = {KeyRange::Single(image.begin()->first),
                                  KeyRange::Single(BlockKey(3)),  // the first delta key
                                  {BlockKey(50), BlockKey(50)},   // empty
                                  {BlockKey(200'000), Key::Max()},
                                  {Key::Min(), BlockKey(0)}};
  for (int i = 0; i < 30; ++i) {
    const uint32_t a = uint32_t(rng() % 110'000), b = uint32_t(rng() % 110'000);
    ranges.push_back({BlockKey(std::min(a, b)), BlockKey(std::max(a, b) + 1)});
  }
  for (const KeyRange& range : ranges) {
    SCOPED_TRACE(range.ToString());
    const size_t read_ahead = 1 + rng() % 20'000;
    ASSERT_OK_AND_ASSIGN(Collected got_image, IterateImage(range, read_ahead));
    EXPECT_OK(got_image.status);
    ExpectEntries(got_image.entries, Expected(image, range));
    ASSERT_OK_AND_ASSIGN(Collected got_delta, IterateDelta(range, read_ahead));
    EXPECT_OK(got_delta.status);
    ExpectEntries(got_delta.entries, Expected(delta, range));
  }
}

// Every read-ahead from one byte (one entry per refill) to more than the
// layer gives the same entries; a refill never reads more than the
// read-ahead plus the blob that crosses it (plus alignment), and each refill
// is one engine batch of exactly the entries that reach the read-ahead.
TEST_P(LayerIteratorTest, ReadAheadBoundsEachRefill) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ImageModel model;
  for (uint32_t blk = 0; blk < 300; ++blk) model[BlockKey(blk)] = RandomBytes(rng, 8192);
  ASSERT_NO_FATAL_FAILURE(WriteImage(model));
  ASSERT_OK(IterateImage(KeyRange::All()));  // warms the index blocks in the cache
  const uint64_t align = image_->file().alignment();
  const uint64_t blob = 8192 + kBlobHeaderSize;
  for (size_t read_ahead : {size_t{0}, size_t{1}, size_t{100}, size_t{8208}, size_t{8209},
                            size_t{50'000}, size_t{1} << 20, size_t{64} << 20}) {
    SCOPED_TRACE("read_ahead=" + std::to_string(read_ahead));
    counting_->Reset();
    ASSERT_OK_AND_ASSIGN(Collected got, IterateImage(KeyRange::All(), read_ahead));
    EXPECT_OK(got.status);
    ExpectEntries(got.entries, Expected(model, KeyRange::All()));
    EXPECT_LE(counting_->max_batch_bytes(), read_ahead + blob + 2 * align);
    // Blobs are all `blob` bytes: a refill gathers the fewest that reach the read-ahead.
    const uint64_t per_refill = std::max<uint64_t>(1, (read_ahead + blob - 1) / blob);
    EXPECT_EQ(counting_->read_batches(), (model.size() + per_refill - 1) / per_refill);
  }
}

TEST_P(LayerIteratorTest, CorruptBlobEndsImageIterationAfterTheEntriesBeforeIt) {
  ImageModel model;
  for (uint32_t blk = 0; blk < 100; ++blk) model[BlockKey(blk)] = Bytes(1000, std::byte(blk));
  ASSERT_NO_FATAL_FAILURE(WriteImage(model));
  ASSERT_OK_AND_ASSIGN(std::optional<BlobRef> ref, image_->Lookup(BlockKey(50)));
  ASSERT_TRUE(ref.has_value());
  CorruptBlob(*ref);
  ASSERT_NO_FATAL_FAILURE(OpenImage());
  for (size_t read_ahead : {size_t{1}, size_t{5000}, size_t{30'000}, size_t{1} << 20}) {
    SCOPED_TRACE("read_ahead=" + std::to_string(read_ahead));
    ASSERT_OK_AND_ASSIGN(Collected got, IterateImage(KeyRange::All(), read_ahead));
    EXPECT_THAT(got.status, StatusIs(StatusCode::kCorruption));
    ExpectEntries(got.entries, Expected(model, {Key::Min(), BlockKey(50)}));
  }
  // With the bad blob first in line, Create reports it.
  EXPECT_THAT(IterateImage({BlockKey(50), Key::Max()}), StatusIs(StatusCode::kCorruption));
}

TEST_P(LayerIteratorTest, CorruptBlobEndsDeltaIterationAfterTheEntriesBeforeIt) {
  DeltaModel model;
  for (uint32_t blk = 0; blk < 20; ++blk) {
    for (uint64_t v = 0; v < 10; ++v) {
      model[{BlockKey(blk), Lsn{0x200 + v}}] = DeltaValue{Bytes(500, std::byte(v)), v == 0};
    }
  }
  ASSERT_NO_FATAL_FAILURE(WriteDelta(model));
  ASSERT_OK_AND_ASSIGN(KeyHistory history,
                       delta_->LookupHistory(BlockKey(7), {Lsn{0x205}, Lsn{0x206}}));
  ASSERT_EQ(history.entries.size(), 1u);
  CorruptBlob(history.entries[0].blob);
  ASSERT_NO_FATAL_FAILURE(OpenDelta());
  for (size_t read_ahead : {size_t{1}, size_t{3000}, size_t{20'000}, size_t{1} << 20}) {
    SCOPED_TRACE("read_ahead=" + std::to_string(read_ahead));
    ASSERT_OK_AND_ASSIGN(Collected got, IterateDelta(KeyRange::All(), read_ahead));
    EXPECT_THAT(got.status, StatusIs(StatusCode::kCorruption));
    // keys 0..6 (70 entries) and key 7 at 0x200..0x204
    ExpectEntries(got.entries, Prefix(Expected(model, KeyRange::All()), 75));
  }
}

INSTANTIATE_TEST_SUITE_P(All, LayerIteratorTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

}  // namespace
}  // namespace pageserver::layers
