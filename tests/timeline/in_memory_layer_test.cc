#include "timeline/in_memory_layer.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "layers/delta_layer.h"
#include "layers/layer_name.h"
#include "tests/layers/layer_test_util.h"
#include "tests/support/counting_engine.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;
using layers::LsnRange;
using pageserver::testing::AllIoParams;
using pageserver::testing::CountingEngine;
using pageserver::testing::IoParamName;
using pageserver::testing::StatusIs;
using pageserver::testing::TestSeed;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace layers::test_util;  // NOLINT(google-build-using-namespace): test helpers

constexpr Lsn kStart{0x1000};
// Two small buffers, so a few puts cycle the writer through disk writes, a
// buffer in flight and the tail buffer (a multiple of any file alignment).
constexpr size_t kSmallBuffer = 8192;
constexpr size_t kMaxTestValue = 8192;
constexpr uint64_t kHeader = InMemoryLayer::kRecordHeaderSize;

Bytes Value(size_t n, uint8_t fill) { return Bytes(n, std::byte(fill)); }

// Checks `reader`'s history of `key` in `lsns` against the model. Works for
// an InMemoryLayer and a DeltaLayerReader alike: both return History.
template <typename Reader>
void ExpectHistory(const Reader& reader, const DeltaModel& model, const Key& key,
                   const LsnRange& lsns) {
  SCOPED_TRACE(key.ToHex() + " " + lsns.ToString());
  const ExpectedHistory expected = ModelHistory(model, key, lsns);
  ASSERT_OK_AND_ASSIGN(const InMemoryLayer::History got, reader.GetHistory(key, lsns));
  ASSERT_EQ(got.complete, expected.complete);
  ASSERT_EQ(got.values.size(), expected.entries.size());
  for (size_t i = 0; i < got.values.size(); ++i) {
    ASSERT_EQ(got.values[i].lsn, expected.entries[i].first);
    ASSERT_EQ(got.values[i].will_init, expected.entries[i].second->will_init);
    ASSERT_EQ(got.values[i].bytes, expected.entries[i].second->bytes) << "at " << i;
  }
}

// LSN ranges around `key`'s versions: the whole history, below, at and
// above random versions, empty and random ranges.
std::vector<LsnRange> ProbeRanges(const DeltaModel& model, const Key& key, Lsn last, Rng& rng) {
  std::vector<LsnRange> out = {
      {Lsn{0}, Lsn::Max()}, {Lsn{0}, Lsn{0}}, {Lsn{5}, Lsn{3}}, {Lsn{0}, kStart}};
  std::vector<Lsn> lsns;
  for (auto it = model.lower_bound({key, Lsn{0}}); it != model.end() && it->first.first == key;
       ++it) {
    lsns.push_back(it->first.second);
  }
  for (size_t i = 0; i < 4 && !lsns.empty(); ++i) {
    const Lsn l = lsns[rng() % lsns.size()];
    out.push_back({Lsn{0}, l});
    out.push_back({l, Lsn{l.value + 1}});
    out.push_back({Lsn{l.value + 1}, Lsn::Max()});
  }
  const uint64_t span = last.value - kStart.value + 20;
  const uint64_t a = kStart.value - 10 + rng() % span;
  const uint64_t b = kStart.value - 10 + rng() % span;
  out.push_back({Lsn{std::min(a, b)}, Lsn{std::max(a, b) + 1}});
  return out;
}

void ExpectAllHistories(const InMemoryLayer& layer, const DeltaModel& model, Lsn last, Rng& rng) {
  for (const Key& key : DistinctKeys(model)) {
    for (const LsnRange& lsns : ProbeRanges(model, key, last, rng)) {
      ASSERT_NO_FATAL_FAILURE(ExpectHistory(layer, model, key, lsns));
    }
  }
}

class InMemoryLayerTest : public pageserver::testing::IoParamTest {
 protected:
  std::unique_ptr<InMemoryLayer> NewLayer(Lsn start = kStart) {
    auto layer = InMemoryLayer::Create(ctx(), EphemeralPath(), start, kSmallBuffer);
    if (!layer.has_value()) common::DieWithStatus("create in-memory layer", layer.error());
    return std::move(layer).value();
  }
  std::string EphemeralPath() const { return dir().File("ephemeral-1"); }
};

// Random puts into a layer and into the model; every put is read back at
// once (from the tail buffer), random histories are checked along the way.
struct PutPhase {
  DeltaModel model;
  Lsn last;
  uint64_t bytes = 0;
};

void RandomPuts(InMemoryLayer& layer, Rng& rng, size_t puts, PutPhase& phase) {
  const std::vector<Key> keys = GenerateKeys(KeyShape::kMixedKinds, 40, rng);
  uint64_t lsn = kStart.value;
  for (size_t i = 0; i < puts; ++i) {
    lsn += rng() % 3;  // 0: several keys share an LSN
    const Key& key = keys[rng() % keys.size()];
    if (phase.model.contains({key, Lsn{lsn}})) ++lsn;
    const auto older = phase.model.lower_bound({key, Lsn{0}});
    const bool first = older == phase.model.end() || older->first.first != key;
    const bool will_init = (first && rng() % 4 != 0) || rng() % 8 == 0;
    DeltaValue v{RandomBytes(rng, 1 + rng() % kMaxTestValue), will_init};
    ASSERT_OK(layer.Put(key, Lsn{lsn}, v.bytes, will_init));
    phase.bytes += kHeader + v.bytes.size();
    phase.model[{key, Lsn{lsn}}] = std::move(v);
    // Just appended: read back from the buffer being filled.
    ASSERT_NO_FATAL_FAILURE(ExpectHistory(layer, phase.model, key, {Lsn{lsn}, Lsn{lsn + 1}}));
    if (i % 16 == 0) {
      const Key& probe = keys[rng() % keys.size()];
      for (const LsnRange& r : ProbeRanges(phase.model, probe, Lsn{lsn}, rng)) {
        ASSERT_NO_FATAL_FAILURE(ExpectHistory(layer, phase.model, probe, r));
      }
    }
  }
  phase.last = Lsn{lsn};
}

TEST_P(InMemoryLayerTest, MatchesModelBeforeAndAfterFreezeAndInL0) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  auto layer = NewLayer();
  PutPhase phase;
  ASSERT_NO_FATAL_FAILURE(RandomPuts(*layer, rng, 400, phase));
  const DeltaModel& model = phase.model;
  EXPECT_EQ(layer->bytes(), phase.bytes);
  EXPECT_EQ(layer->entry_count(), model.size());
  EXPECT_EQ(layer->key_count(), DistinctKeys(model).size());
  EXPECT_EQ(layer->last_lsn(), phase.last);
  EXPECT_EQ(layer->lsn_range(), (LsnRange{kStart, Lsn::Max()}));
  ASSERT_NO_FATAL_FAILURE(ExpectAllHistories(*layer, model, phase.last, rng));

  const Lsn end{phase.last.value + 1 + rng() % 10};
  ASSERT_OK(layer->Freeze(end));
  EXPECT_TRUE(layer->frozen());
  EXPECT_EQ(layer->lsn_range(), (LsnRange{kStart, end}));
  ASSERT_NO_FATAL_FAILURE(ExpectAllHistories(*layer, model, phase.last, rng));

  ASSERT_OK_AND_ASSIGN(const auto written,
                       layer->WriteL0(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                      {.write_buffer_bytes = kSmallBuffer}));
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->summary.kind, layers::LayerKind::kDelta);
  EXPECT_EQ(written->summary.key_range, KeyRange::All());
  EXPECT_EQ(written->summary.lsn_range, (LsnRange{kStart, end}));
  EXPECT_EQ(written->summary.entry_count, model.size());
  const auto cache = MakeCache(256);
  ASSERT_OK_AND_ASSIGN(auto reader,
                       layers::DeltaLayerReader::Open(ctx(), written->path, cache.get()));
  for (const Key& key : DistinctKeys(model)) {
    for (const LsnRange& lsns : ProbeRanges(model, key, phase.last, rng)) {
      ASSERT_NO_FATAL_FAILURE(ExpectHistory(*reader, model, key, lsns));
    }
  }
  // Writing L0 leaves the layer readable (the timeline swaps it out later).
  ASSERT_NO_FATAL_FAILURE(ExpectAllHistories(*layer, model, phase.last, rng));
}

TEST_P(InMemoryLayerTest, LargeValuesSpanBuffers) {
  auto layer = NewLayer();
  const Key key = Key::RelBlock({1663, 5, 16384, 0}, 7);
  Rng rng(7);
  DeltaModel model;
  for (uint64_t i = 0; i < 4; ++i) {
    DeltaValue v{RandomBytes(rng, 3 * kSmallBuffer + 100 * i), i == 0};
    ASSERT_OK(layer->Put(key, Lsn{kStart.value + i}, v.bytes, v.will_init));
    model[{key, Lsn{kStart.value + i}}] = std::move(v);
    ASSERT_NO_FATAL_FAILURE(ExpectHistory(*layer, model, key, {Lsn{0}, Lsn::Max()}));
  }
}

// Values of the concurrency test are a function of (key index, LSN), so
// readers check them without sharing a model with the writer.
constexpr size_t kConcurrentKeys = 4;
constexpr uint64_t kInitEvery = 16;

Bytes ConcurrentValue(size_t k, uint64_t lsn) {
  return pageserver::testing::PatternBytes(k + 1, lsn * 4096, 1 + (lsn * 7919 + k) % 3000);
}

// Key k gets LSNs kStart + k + j * kConcurrentKeys, will_init every
// kInitEvery-th; its full history is the newest value down to the last
// will_init one.
bool CheckConcurrentHistory(const InMemoryLayer::History& h, size_t k, uint64_t* newest_seen) {
  if (h.values.empty()) return *newest_seen == 0;
  const uint64_t newest = h.values.front().lsn.value;
  const uint64_t j = (newest - kStart.value - k) / kConcurrentKeys;
  if (newest < *newest_seen || !h.complete || h.values.size() != j % kInitEvery + 1) return false;
  *newest_seen = newest;
  for (size_t i = 0; i < h.values.size(); ++i) {
    const uint64_t lsn = newest - i * kConcurrentKeys;
    const bool will_init = i + 1 == h.values.size();
    const auto& v = h.values[i];
    if (v.lsn.value != lsn || v.will_init != will_init || v.bytes != ConcurrentValue(k, lsn)) {
      return false;
    }
  }
  return true;
}

class Readers {
 public:
  Readers(const InMemoryLayer& layer, const std::vector<Key>& keys) {
    for (int t = 0; t < 2; ++t) {
      threads_.emplace_back([this, &layer, &keys, t] { Run(layer, keys, t); });
    }
  }
  ~Readers() { (void)Stop(); }
  Readers(const Readers&) = delete;
  Readers& operator=(const Readers&) = delete;

  // Stops the readers; returns the number of failed checks.
  int Stop() {
    done_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return failures_;
  }
  uint64_t reads() const { return reads_; }

 private:
  void Run(const InMemoryLayer& layer, const std::vector<Key>& keys, int t) {
    std::vector<uint64_t> newest(keys.size(), 0);
    for (size_t i = static_cast<size_t>(t); !done_; ++i) {
      const size_t k = i % keys.size();
      auto h = layer.GetHistory(keys[k], {Lsn{0}, Lsn::Max()});
      if (!h.has_value() || !CheckConcurrentHistory(*h, k, &newest[k])) ++failures_;
      (void)layer.bytes();
      (void)layer.entry_count();
      (void)layer.lsn_range();
      ++reads_;
    }
  }
  std::atomic<bool> done_{false};
  std::atomic<int> failures_{0};
  std::atomic<uint64_t> reads_{0};
  std::vector<std::thread> threads_;
};

TEST_P(InMemoryLayerTest, ConcurrentReadersDuringPutsAndWriteL0) {
  auto layer = NewLayer();
  std::vector<Key> keys;
  for (size_t k = 0; k < kConcurrentKeys; ++k) keys.push_back(Key::TwoPhaseFile(100 + k));
  Readers readers(*layer, keys);
  for (uint64_t i = 0; i < 1200; ++i) {
    const size_t k = i % kConcurrentKeys;
    const uint64_t lsn = kStart.value + i;
    const bool will_init = (i / kConcurrentKeys) % kInitEvery == 0;
    ASSERT_OK(layer->Put(keys[k], Lsn{lsn}, ConcurrentValue(k, lsn), will_init));
  }
  ASSERT_OK(layer->Freeze(Lsn{kStart.value + 1200}));
  ASSERT_OK_AND_ASSIGN(const auto written,
                       layer->WriteL0(ctx(), dir().path(), TestTenant(), TestTimeline()));
  EXPECT_EQ(readers.Stop(), 0);
  EXPECT_GT(readers.reads(), 0u);
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->summary.entry_count, 1200u);
}

// ------------------------------------------- batched reads of WriteL0

// Writes `layer` to L0 in a fresh subdirectory `name` of the test dir.
common::Result<std::optional<layers::WrittenLayer>> WriteL0In(const InMemoryLayer& layer,
                                                              const virtual_file::IoContext& ctx,
                                                              const std::string& dir,
                                                              size_t read_batch_bytes) {
  std::filesystem::create_directories(dir);
  return layer.WriteL0(ctx, dir, TestTenant(), TestTimeline(), {.write_buffer_bytes = kSmallBuffer},
                       read_batch_bytes);
}

// Every (key, LSN) of the model, probed through GetHistory of the L0.
void ExpectL0MatchesModel(const virtual_file::IoContext& ctx, const layers::WrittenLayer& written,
                          const DeltaModel& model, Lsn last, Rng& rng) {
  EXPECT_EQ(written.summary.entry_count, model.size());
  const auto cache = MakeCache(256);
  ASSERT_OK_AND_ASSIGN(auto reader, layers::DeltaLayerReader::Open(ctx, written.path, cache.get()));
  for (const Key& key : DistinctKeys(model)) {
    for (const LsnRange& lsns : ProbeRanges(model, key, last, rng)) {
      ASSERT_NO_FATAL_FAILURE(ExpectHistory(*reader, model, key, lsns));
    }
  }
}

// Many small records (some empty, a few larger than the smaller batch
// budgets) over many keys in random order, so a key's records are spread
// over the file: the L0 equals the model whatever the batch size, from one
// value per batch to the whole layer in one.
TEST_P(InMemoryLayerTest, ManySmallRecordsMatchModelInL0AtEveryBatchSize) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  auto layer = NewLayer();
  const std::vector<Key> keys = GenerateKeys(KeyShape::kMixedKinds, 500, rng);
  DeltaModel model;
  uint64_t lsn = kStart.value;
  for (size_t i = 0; i < 3000; ++i) {
    lsn += rng() % 2;
    const Key& key = keys[rng() % keys.size()];
    if (model.contains({key, Lsn{lsn}})) ++lsn;
    const size_t size = rng() % 64 == 0 ? 20000 + rng() % 5000 : rng() % 200;
    DeltaValue v{RandomBytes(rng, size), rng() % 8 == 0};
    ASSERT_OK(layer->Put(key, Lsn{lsn}, v.bytes, v.will_init));
    model[{key, Lsn{lsn}}] = std::move(v);
  }
  ASSERT_OK(layer->Freeze(Lsn{lsn + 1}));
  // The model check is the slow part, so it runs once; every other batch
  // size must produce the same bytes.
  ASSERT_OK_AND_ASSIGN(const auto reference, WriteL0In(*layer, ctx(), dir().File("l0-default"),
                                                       InMemoryLayer::kL0ReadBatchBytes));
  ASSERT_TRUE(reference.has_value());
  ASSERT_NO_FATAL_FAILURE(ExpectL0MatchesModel(ctx(), *reference, model, Lsn{lsn}, rng));
  const std::vector<std::byte> expected = pageserver::testing::ReadWholeFile(reference->path);
  for (const size_t budget : {size_t{1}, size_t{4096}, size_t{64} << 10, size_t{256} << 10}) {
    SCOPED_TRACE("read_batch_bytes=" + std::to_string(budget));
    ASSERT_OK_AND_ASSIGN(
        const auto written,
        WriteL0In(*layer, ctx(), dir().File("l0-" + std::to_string(budget)), budget));
    ASSERT_TRUE(written.has_value());
    EXPECT_EQ(written->summary.entry_count, model.size());
    EXPECT_TRUE(pageserver::testing::ReadWholeFile(written->path) == expected);
  }
}

// Counts the read requests, and the engine batches holding any, that reach
// the engine for one file (recognized by its path at Open), so the L0
// writer's own reads (its index spill) are not counted.
class FileReadCounter final : public io_engine::IoEngine {
 public:
  FileReadCounter(io_engine::IoEngine& inner, std::string path)
      : inner_(inner), path_(std::move(path)) {}
  std::string_view name() const override { return inner_.name(); }
  common::Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    common::Result<int> fd = inner_.Open(path, flags, mode);
    if (fd.has_value() && path == path_) fd_ = *fd;
    return fd;
  }
  common::Status Close(int fd) override { return inner_.Close(fd); }
  void SubmitBatch(std::span<const io_engine::IoRequest> requests,
                   std::span<io_engine::IoResult> results) override {
    uint64_t n = 0;
    for (const auto& r : requests) n += r.opcode == io_engine::IoOpcode::kRead && r.fd == fd_;
    reads_ += n;
    batches_ += n > 0;
    inner_.SubmitBatch(requests, results);
  }
  common::Result<io_engine::AsyncIo> SubmitAsync(const io_engine::IoRequest& request) override {
    return inner_.SubmitAsync(request);
  }
  io_engine::IoResult WaitAsync(io_engine::AsyncIo ticket) override {
    return inner_.WaitAsync(std::move(ticket));
  }
  uint64_t reads() const { return reads_; }
  uint64_t batches() const { return batches_; }

 private:
  io_engine::IoEngine& inner_;
  const std::string path_;
  int fd_ = -1;
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> batches_{0};
};

// Regression: WriteL0 read one value per synchronous read (20,000 reads
// here; ~1.5 MiB/s of small records under direct-rw). Keys are put round
// robin, so in the file a key's records are kKeys records apart and the
// key-order walk jumps all over the file.
TEST_P(InMemoryLayerTest, WriteL0ReadsSmallRecordsInFewBatches) {
  constexpr uint64_t kKeys = 400;
  constexpr uint64_t kRounds = 50;
  constexpr uint64_t kValue = 100;
  constexpr uint64_t kRecord = kHeader + kValue;
  FileReadCounter ephemeral(engine(), EphemeralPath());
  CountingEngine counting(ephemeral);
  mutable_ctx().engine = &counting;
  auto layer = NewLayer();
  for (uint64_t r = 0; r < kRounds; ++r) {
    for (uint64_t k = 0; k < kKeys; ++k) {
      ASSERT_OK(layer->Put(Key::TwoPhaseFile(static_cast<uint32_t>(k)), Lsn{kStart.value + r},
                           Value(kValue, static_cast<uint8_t>(k + r)), r == 0));
    }
  }
  ASSERT_OK(layer->Freeze(Lsn{kStart.value + kRounds}));
  const uint64_t n = kKeys * kRounds;
  ASSERT_EQ(layer->bytes(), n * kRecord);

  // Default budget: the whole 2.16 MB file is one run of touching blocks,
  // read in kL0MaxReadBytes pieces (3) in one engine batch.
  const uint64_t total_reads = counting.reads();
  ASSERT_OK_AND_ASSIGN(auto written, WriteL0In(*layer, ctx(), dir().File("default"),
                                               InMemoryLayer::kL0ReadBatchBytes));
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->summary.entry_count, n);
  EXPECT_EQ(ephemeral.batches(), 1u);
  EXPECT_EQ(ephemeral.reads(),
            (layer->bytes() + InMemoryLayer::kL0MaxReadBytes - 1) / InMemoryLayer::kL0MaxReadBytes);
  EXPECT_LT(counting.reads() - total_reads, n / 100);  // the L0 writer's own reads included
  std::cerr << "[ WriteL0 ] default budget: " << ephemeral.reads() << " ephemeral reads in "
            << ephemeral.batches() << " batches, " << counting.reads() - total_reads
            << " reads in all, for " << n << " values\n";

  // 1 MiB: a batch holds the records of a run of consecutive keys, which in
  // each round are adjacent: at most one extent (< 1 MiB, one read) per
  // round. With alignment a <= 4096, a run of g keys covers at most
  // kRounds * (g * kRecord + 2a) bytes; a batch ends only when the next
  // record does not fit, so it advances by more than g_min - 2 keys.
  constexpr uint64_t kBudget = uint64_t{1} << 20;
  constexpr uint64_t kMaxAlignment = 4096;
  constexpr uint64_t kMinKeysPerBatch = (kBudget / kRounds - 2 * kMaxAlignment) / kRecord - 2;
  constexpr uint64_t kMaxBatches = (kKeys + kMinKeysPerBatch - 1) / kMinKeysPerBatch + 1;
  const uint64_t reads = ephemeral.reads();
  const uint64_t batches = ephemeral.batches();
  ASSERT_OK_AND_ASSIGN(written, WriteL0In(*layer, ctx(), dir().File("1mib"), kBudget));
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->summary.entry_count, n);
  const uint64_t batches_1mib = ephemeral.batches() - batches;
  EXPECT_GE(batches_1mib, 2u);
  EXPECT_LE(batches_1mib, kMaxBatches);
  EXPECT_LE(ephemeral.reads() - reads, batches_1mib * kRounds);
  std::cerr << "[ WriteL0 ] 1 MiB budget: " << ephemeral.reads() - reads << " ephemeral reads in "
            << batches_1mib << " batches (bound " << kMaxBatches << " x " << kRounds << ")\n";
}

// A record header changed on disk after Freeze (here: in a later batch, not
// the first) fails WriteL0 with Corruption naming the file and the record's
// offset, and leaves no layer file behind; so does a file cut short.
TEST_P(InMemoryLayerTest, CorruptRecordHeaderAfterFreezeFailsWriteL0) {
  constexpr uint64_t kRecord = kHeader + 100;
  auto layer = NewLayer();
  for (uint64_t i = 0; i < 2000; ++i) {
    ASSERT_OK(layer->Put(Key::TwoPhaseFile(static_cast<uint32_t>(i)), Lsn{kStart.value + i},
                         Value(100, 1), true));
  }
  ASSERT_OK(layer->Freeze(Lsn{kStart.value + 2000}));
  const uint64_t bad = 1500 * kRecord;
  const int fd = ::open(EphemeralPath().c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::byte flags{0x80};  // a reserved flag bit
  ASSERT_EQ(::pwrite(fd, &flags, 1, static_cast<off_t>(bad + 4)), 1);
  ::close(fd);
  const auto corrupt = HasSubstr(EphemeralPath() + " offset=" + std::to_string(bad));
  for (const size_t budget : {size_t{16} << 10, InMemoryLayer::kL0ReadBatchBytes}) {
    SCOPED_TRACE("read_batch_bytes=" + std::to_string(budget));
    EXPECT_THAT(layer->WriteL0(ctx(), dir().path(), TestTenant(), TestTimeline(), {}, budget),
                StatusIs(StatusCode::kCorruption, corrupt));
    EXPECT_THAT(ListDir(dir().path()), ElementsAre("ephemeral-1"));
  }
  EXPECT_THAT(layer->GetHistory(Key::TwoPhaseFile(1500), {Lsn{0}, Lsn::Max()}),
              StatusIs(StatusCode::kCorruption, corrupt));

  ASSERT_EQ(::truncate(EphemeralPath().c_str(), static_cast<off_t>(bad)), 0);
  EXPECT_THAT(layer->WriteL0(ctx(), dir().path(), TestTenant(), TestTimeline()),
              StatusIs(StatusCode::kCorruption,
                       AllOf(HasSubstr(EphemeralPath()), HasSubstr("logical end"))));
  EXPECT_THAT(ListDir(dir().path()), ElementsAre("ephemeral-1"));
}

INSTANTIATE_TEST_SUITE_P(All, InMemoryLayerTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

// ------------------------------------------- rules (one engine suffices)

class InMemoryLayerRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = pageserver::testing::CreateTestEngine(io_engine::IoEngineKind::kStdFs);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    engine_ = std::move(engine).value();
    ctx_.engine = engine_.get();
    auto layer = InMemoryLayer::Create(ctx_, path(), kStart, kSmallBuffer);
    ASSERT_TRUE(layer.has_value()) << layer.error().ToString();
    layer_ = std::move(layer).value();
  }
  std::string path() const { return dir_.File("ephemeral-7"); }

  pageserver::testing::TempDir dir_;
  std::unique_ptr<io_engine::IoEngine> engine_;
  virtual_file::IoContext ctx_;
  std::unique_ptr<InMemoryLayer> layer_;
  const Key a_ = Key::RelBlock({1663, 5, 16384, 0}, 1);
  const Key b_ = Key::RelBlock({1663, 5, 16384, 0}, 2);
};

TEST_F(InMemoryLayerRulesTest, LsnBelowStartIsRejected) {
  EXPECT_THAT(layer_->Put(a_, Lsn{kStart.value - 1}, Value(10, 1), true),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside")));
  EXPECT_EQ(layer_->bytes(), 0u);
  EXPECT_EQ(layer_->entry_count(), 0u);
  EXPECT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
}

TEST_F(InMemoryLayerRulesTest, LsnGoingBackwardsIsRejectedAndWritesNothing) {
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 10}, Value(10, 1), true));
  const uint64_t bytes = layer_->bytes();
  EXPECT_THAT(layer_->Put(b_, Lsn{kStart.value + 9}, Value(10, 2), true),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("below the previous")));
  EXPECT_EQ(layer_->bytes(), bytes);
  EXPECT_EQ(layer_->entry_count(), 1u);
  EXPECT_EQ(layer_->key_count(), 1u);
  EXPECT_EQ(layer_->last_lsn(), Lsn{kStart.value + 10});
  ASSERT_OK_AND_ASSIGN(const auto h, layer_->GetHistory(b_, {Lsn{0}, Lsn::Max()}));
  EXPECT_TRUE(h.values.empty());
}

TEST_F(InMemoryLayerRulesTest, SameLsnIsAcceptedForOtherKeysOnly) {
  const Lsn lsn{kStart.value + 1};
  ASSERT_OK(layer_->Put(a_, lsn, Value(10, 1), true));
  EXPECT_OK(layer_->Put(b_, lsn, Value(10, 2), true));
  EXPECT_THAT(layer_->Put(a_, lsn, Value(10, 3), false),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("already has a value")));
  ASSERT_OK_AND_ASSIGN(const auto h, layer_->GetHistory(a_, {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(h.values.size(), 1u);
  EXPECT_EQ(h.values[0].bytes, Value(10, 1));
}

TEST_F(InMemoryLayerRulesTest, UnstorableKeysLsnsAndValuesAreRejected) {
  EXPECT_THAT(layer_->Put(Key::Max(), kStart, Value(1, 1), true),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Key::Max")));
  EXPECT_THAT(layer_->Put(a_, Lsn::Max(), Value(1, 1), true),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(layer_->Put(a_, kStart, Value(layers::kMaxValueSize + 1, 1), true),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exceeds")));
  EXPECT_EQ(layer_->bytes(), 0u);
  EXPECT_OK(layer_->Put(Key::Min(), kStart, Bytes{}, true));  // empty values are fine
  ASSERT_OK_AND_ASSIGN(const auto h, layer_->GetHistory(Key::Min(), {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(h.values.size(), 1u);
  EXPECT_TRUE(h.values[0].bytes.empty());
}

TEST_F(InMemoryLayerRulesTest, PutAfterFreezeIsRejected) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
  ASSERT_OK(layer_->Freeze(Lsn{kStart.value + 5}));
  EXPECT_THAT(layer_->Put(b_, Lsn{kStart.value + 1}, Value(10, 2), true),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("frozen")));
  EXPECT_EQ(layer_->entry_count(), 1u);
}

TEST_F(InMemoryLayerRulesTest, FreezeMustBeAboveEveryPutAndOnlyOnce) {
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 3}, Value(10, 1), true));
  EXPECT_THAT(layer_->Freeze(Lsn{kStart.value + 3}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(layer_->Freeze(Lsn{kStart.value + 1}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_FALSE(layer_->frozen());
  EXPECT_OK(layer_->Put(b_, Lsn{kStart.value + 4}, Value(10, 2), true));
  ASSERT_OK(layer_->Freeze(Lsn{kStart.value + 5}));
  EXPECT_THAT(layer_->Freeze(Lsn{kStart.value + 6}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("already frozen")));
  EXPECT_EQ(layer_->lsn_range(), (LsnRange{kStart, Lsn{kStart.value + 5}}));
}

TEST_F(InMemoryLayerRulesTest, EmptyLayerFreezesAboveStartOnly) {
  EXPECT_THAT(layer_->Freeze(kStart), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(layer_->Freeze(Lsn{kStart.value + 1}));
}

TEST_F(InMemoryLayerRulesTest, WriteL0RequiresFrozen) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
  EXPECT_THAT(layer_->WriteL0(ctx_, dir_.path(), TestTenant(), TestTimeline()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not frozen")));
  EXPECT_THAT(ListDir(dir_.path()), ElementsAre("ephemeral-7"));
}

TEST_F(InMemoryLayerRulesTest, EmptyFrozenLayerWritesNothing) {
  ASSERT_OK(layer_->Freeze(Lsn{kStart.value + 1}));
  ASSERT_OK_AND_ASSIGN(const auto written,
                       layer_->WriteL0(ctx_, dir_.path(), TestTenant(), TestTimeline()));
  EXPECT_FALSE(written.has_value());
  EXPECT_THAT(ListDir(dir_.path()), ElementsAre("ephemeral-7"));
}

TEST_F(InMemoryLayerRulesTest, WriteL0NamesTheLayerByWholeKeySpaceAndFrozenRange) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
  const Lsn end{kStart.value + 2};
  ASSERT_OK(layer_->Freeze(end));
  ASSERT_OK_AND_ASSIGN(const auto written,
                       layer_->WriteL0(ctx_, dir_.path(), TestTenant(), TestTimeline()));
  ASSERT_TRUE(written.has_value());
  const std::string name = layers::LayerName::Delta(KeyRange::All(), {kStart, end}).ToString();
  EXPECT_EQ(written->path, dir_.File(name));
  EXPECT_THAT(ListDir(dir_.path()), ElementsAre(name, "ephemeral-7"));
}

TEST_F(InMemoryLayerRulesTest, AbsentKeyAndEmptyRangeGiveEmptyHistory) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
  for (const auto& [key, lsns] :
       std::vector<std::pair<Key, LsnRange>>{{b_, {Lsn{0}, Lsn::Max()}},
                                             {a_, {Lsn{0}, Lsn{0}}},
                                             {a_, {Lsn::Max(), Lsn{0}}},
                                             {a_, {Lsn{0}, kStart}},
                                             {a_, {Lsn{kStart.value + 1}, Lsn::Max()}}}) {
    ASSERT_OK_AND_ASSIGN(const auto h, layer_->GetHistory(key, lsns));
    EXPECT_TRUE(h.values.empty());
    EXPECT_FALSE(h.complete);
  }
}

TEST_F(InMemoryLayerRulesTest, HistoryStopsAtWillInit) {
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 1}, Value(1, 1), true));
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 2}, Value(1, 2), false));
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 3}, Value(1, 3), true));
  ASSERT_OK(layer_->Put(a_, Lsn{kStart.value + 4}, Value(1, 4), false));
  ASSERT_OK_AND_ASSIGN(auto h, layer_->GetHistory(a_, {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(h.values.size(), 2u);
  EXPECT_EQ(h.values[0].lsn, Lsn{kStart.value + 4});
  EXPECT_EQ(h.values[1].lsn, Lsn{kStart.value + 3});
  EXPECT_TRUE(h.complete);
  ASSERT_OK_AND_ASSIGN(h, layer_->GetHistory(a_, {Lsn{0}, Lsn{kStart.value + 3}}));
  ASSERT_EQ(h.values.size(), 2u);
  EXPECT_EQ(h.values[0].bytes, Value(1, 2));
  EXPECT_TRUE(h.complete);
  ASSERT_OK_AND_ASSIGN(h, layer_->GetHistory(a_, {Lsn{kStart.value + 2}, Lsn{kStart.value + 3}}));
  ASSERT_EQ(h.values.size(), 1u);
  EXPECT_FALSE(h.complete);
}

TEST_F(InMemoryLayerRulesTest, DestructorRemovesTheEphemeralFile) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(3 * kSmallBuffer, 1), true));
  EXPECT_EQ(::access(path().c_str(), F_OK), 0);
  layer_.reset();
  EXPECT_NE(::access(path().c_str(), F_OK), 0);
  EXPECT_TRUE(ListDir(dir_.path()).empty());
}

TEST_F(InMemoryLayerRulesTest, CreateErrors) {
  EXPECT_THAT(InMemoryLayer::Create(ctx_, dir_.File("x"), kStart, 1000),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_NE(::access(dir_.File("x").c_str(), F_OK), 0);  // removed again
  EXPECT_THAT(InMemoryLayer::Create(ctx_, dir_.File("y"), Lsn::Max()),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(InMemoryLayer::Create(ctx_, dir_.File("no/such/dir"), kStart),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(InMemoryLayerRulesTest, CreateTruncatesAnOldFile) {
  layer_.reset();
  pageserver::testing::WriteWholeFile(path(), Value(5000, 9));
  ASSERT_OK_AND_ASSIGN(layer_, InMemoryLayer::Create(ctx_, path(), kStart, kSmallBuffer));
  EXPECT_EQ(layer_->bytes(), 0u);
  ASSERT_OK(layer_->Put(a_, kStart, Value(10, 1), true));
  ASSERT_OK_AND_ASSIGN(const auto h, layer_->GetHistory(a_, {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(h.values.size(), 1u);
  EXPECT_EQ(h.values[0].bytes, Value(10, 1));
}

// A record header that disagrees with the index (here: changed on disk
// behind the layer's back) is Corruption, never wrong data.
TEST_F(InMemoryLayerRulesTest, RecordHeaderMismatchIsCorruption) {
  ASSERT_OK(layer_->Put(a_, kStart, Value(100, 1), true));
  // Enough data behind it that the first buffer is written and waited for.
  for (uint64_t i = 1; i <= 4; ++i) {
    ASSERT_OK(layer_->Put(b_, Lsn{kStart.value + i}, Value(kSmallBuffer, 2), i == 1));
  }
  const int fd = ::open(path().c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::byte length_byte{42};
  ASSERT_EQ(::pwrite(fd, &length_byte, 1, 0), 1);
  ::close(fd);
  EXPECT_THAT(layer_->GetHistory(a_, {Lsn{0}, Lsn::Max()}),
              StatusIs(StatusCode::kCorruption, HasSubstr("offset=0")));
  ASSERT_OK(layer_->Freeze(Lsn{kStart.value + 10}));
  EXPECT_THAT(layer_->WriteL0(ctx_, dir_.path(), TestTenant(), TestTimeline()),
              StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(ListDir(dir_.path()), ElementsAre("ephemeral-7"));  // no layer, no temporaries
}

}  // namespace
}  // namespace pageserver::timeline
