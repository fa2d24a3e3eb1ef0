#include "timeline/compaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "layers/layer_iterator.h"
#include "tests/layers/layer_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::DeltaLayerReader;
using layers::DeltaLayerWriter;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;
using layers::LsnRange;
using layers::WrittenLayer;
using layers::test_util::Bytes;
using layers::test_util::DeltaModel;
using layers::test_util::DeltaValue;
using layers::test_util::ListDir;
using layers::test_util::Rng;
using ::testing::HasSubstr;
using testing::StatusIs;

constexpr uint64_t kLsnsPerLayer = 0x100;
constexpr uint64_t kBlobHeaderBytes = 16;  // RFC.md 7.4

// One L0 to write: its entries and ranges.
struct L0Spec {
  DeltaModel entries;
  KeyRange keys;
  LsnRange lsns;
};

// A key range wider than the keys on both sides, different per layer, so
// that the outputs' tiling of the union is visible.
void FitKeyRange(L0Spec& spec, size_t i) {
  spec.keys = {Key::Min().Add(static_cast<uint32_t>(i)),
               spec.entries.rbegin()->first.first.Add(static_cast<uint32_t>(1 + 7 * i))};
}

// Random L0s with consecutive disjoint LSN ranges whose key sets overlap
// (each draws from one shared key pool); values of 0..600 bytes or a page,
// will_init at random.
std::vector<L0Spec> RandomL0s(Rng& rng, size_t layers, size_t key_pool) {
  const auto keys =
      layers::test_util::GenerateKeys(layers::test_util::KeyShape::kMixedKinds, key_pool, rng);
  std::vector<L0Spec> specs(layers);
  for (size_t i = 0; i < layers; ++i) {
    L0Spec& spec = specs[i];
    const uint64_t base = 0x1000 + i * kLsnsPerLayer;
    spec.lsns = {Lsn{base}, Lsn{base + kLsnsPerLayer}};
    for (const Key& key : keys) {
      if (rng() % 3 == 0) continue;
      for (uint64_t lsn = base + rng() % 8; lsn < base + kLsnsPerLayer; lsn += 1 + rng() % 96) {
        const size_t size = rng() % 8 == 0 ? 8192 : rng() % 600;
        spec.entries[{key, Lsn{lsn}}] =
            DeltaValue{layers::test_util::RandomBytes(rng, size), rng() % 4 == 0};
      }
    }
    if (spec.entries.empty()) spec.entries[{keys[0], Lsn{base}}] = DeltaValue{Bytes{}, true};
    FitKeyRange(spec, i);
  }
  return specs;
}

class CompactionTest : public layers::test_util::LayerIoTest {
 protected:
  void SetUp() override {
    LayerIoTest::SetUp();
    if (IsSkipped()) return;
    out_dir_ = dir().File("out");
    ASSERT_EQ(::mkdir(out_dir_.c_str(), 0755), 0);
  }

  CompactionOptions Options(uint64_t target) const {
    CompactionOptions options;
    options.dir = out_dir_;
    options.tenant = layers::test_util::TestTenant();
    options.timeline = layers::test_util::TestTimeline();
    options.target_file_size = target;
    options.read_ahead_bytes = 4096;
    return options;
  }

  // Writes the L0s into dir() and opens them.
  void WriteInputs(const std::vector<L0Spec>& specs) {
    for (const L0Spec& spec : specs) {
      ASSERT_OK_AND_ASSIGN(
          auto writer,
          DeltaLayerWriter::Create(ctx(), dir().path(), layers::test_util::TestTenant(),
                                   layers::test_util::TestTimeline(), spec.keys, spec.lsns));
      for (const auto& [kl, v] : spec.entries) {
        ASSERT_OK(writer->Put(kl.first, kl.second, v.bytes, v.will_init));
      }
      ASSERT_OK_AND_ASSIGN(auto written, writer->Finish());
      ASSERT_OK_AND_ASSIGN(auto reader, DeltaLayerReader::Open(ctx(), written.path, cache()));
      readers_.push_back(std::move(reader));
      inputs_.push_back(readers_.back().get());
    }
  }

  common::Result<std::vector<WrittenLayer>> Compact(uint64_t target) {
    return CompactDeltas(ctx(), inputs_, Options(target));
  }

  // Every (key, LSN) entry of `path`, in iteration order, plus its blob bytes per key.
  DeltaModel ReadOutput(const std::string& path, std::vector<std::pair<Key, uint64_t>>* key_bytes) {
    DeltaModel model;
    auto reader = DeltaLayerReader::Open(ctx(), path, cache());
    EXPECT_OK(reader);
    if (!reader.has_value()) return model;
    auto it = layers::LayerIterator::Create(**reader, KeyRange::All(), 1000);
    EXPECT_OK(it);
    if (!it.has_value()) return model;
    for (; (*it)->valid(); (void)(*it)->Next()) {
      const auto& e = (*it)->entry();
      EXPECT_TRUE(model.emplace(std::pair{e.key, e.lsn}, DeltaValue{e.value, e.will_init}).second);
      if (key_bytes->empty() || key_bytes->back().first != e.key) key_bytes->push_back({e.key, 0});
      key_bytes->back().second += kBlobHeaderBytes + e.value.size();
    }
    EXPECT_OK((*it)->status());
    return model;
  }

  // Checks the outputs against the union of `specs` and the target-size rule.
  void CheckOutputs(const std::vector<L0Spec>& specs, const std::vector<WrittenLayer>& outputs,
                    uint64_t target) {
    DeltaModel expected;
    KeyRange keys = specs[0].keys;
    LsnRange lsns = specs[0].lsns;
    for (const L0Spec& s : specs) {
      expected.insert(s.entries.begin(), s.entries.end());
      keys = {std::min(keys.start, s.keys.start), std::max(keys.end, s.keys.end)};
      lsns = {std::min(lsns.start, s.lsns.start), std::max(lsns.end, s.lsns.end)};
    }
    ASSERT_FALSE(outputs.empty());
    EXPECT_EQ(outputs.front().summary.key_range.start, keys.start);
    EXPECT_EQ(outputs.back().summary.key_range.end, keys.end);
    DeltaModel actual;
    for (size_t i = 0; i < outputs.size(); ++i) {
      SCOPED_TRACE("output " + outputs[i].path);
      const auto& summary = outputs[i].summary;
      EXPECT_EQ(summary.lsn_range, lsns);
      if (i + 1 < outputs.size()) {
        EXPECT_EQ(summary.key_range.end, outputs[i + 1].summary.key_range.start);
      }
      std::vector<std::pair<Key, uint64_t>> key_bytes;
      const DeltaModel got = ReadOutput(outputs[i].path, &key_bytes);
      ASSERT_FALSE(got.empty());
      if (i > 0) {
        EXPECT_EQ(got.begin()->first.first, summary.key_range.start);
      }
      for (const auto& [kl, v] : got) EXPECT_TRUE(summary.key_range.Contains(kl.first));
      CheckSplit(key_bytes, target, i + 1 == outputs.size());
      // Outputs are in key order, so each one's entries come after the last's.
      if (!actual.empty()) {
        EXPECT_LT(actual.rbegin()->first, got.begin()->first);
      }
      actual.insert(got.begin(), got.end());
    }
    ASSERT_EQ(actual.size(), expected.size());
    for (auto a = actual.begin(), e = expected.begin(); a != actual.end(); ++a, ++e) {
      ASSERT_EQ(a->first, e->first);
      ASSERT_EQ(a->second.will_init, e->second.will_init) << a->first.first.ToHex();
      ASSERT_EQ(a->second.bytes, e->second.bytes) << a->first.first.ToHex();
    }
  }

  // An output closes at the first key change after reaching the target, so
  // every output but the last reaches it, and none reached it before its last key.
  static void CheckSplit(const std::vector<std::pair<Key, uint64_t>>& key_bytes, uint64_t target,
                         bool last) {
    uint64_t before_last_key = 0;
    for (size_t k = 0; k + 1 < key_bytes.size(); ++k) before_last_key += key_bytes[k].second;
    if (key_bytes.size() > 1) {
      EXPECT_LT(before_last_key, target);
    }
    if (!last) {
      EXPECT_GE(before_last_key + key_bytes.back().second, target);
    }
  }

  std::string out_dir_;
  std::vector<std::unique_ptr<DeltaLayerReader>> readers_;
  std::vector<const DeltaLayerReader*> inputs_;
};

// ------------------------------------------------ model test, every engine x io mode

class CompactionModelTest : public CompactionTest {};

TEST_P(CompactionModelTest, OutputsHoldExactlyTheInputsTiledByKeyRange) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const auto specs = RandomL0s(rng, 4, 300);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  const uint64_t target = 64 * 1024;
  ASSERT_OK_AND_ASSIGN(auto outputs, Compact(target));
  EXPECT_GE(outputs.size(), 3u);
  CheckOutputs(specs, outputs, target);
  EXPECT_EQ(ListDir(out_dir_).size(), outputs.size());  // no temporaries left
}

INSTANTIATE_TEST_SUITE_P(All, CompactionModelTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);

// ------------------------------------------------ shapes and errors, one engine

class CompactionShapeTest : public CompactionTest {};

TEST_P(CompactionShapeTest, OneInputIsCopied) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const auto specs = RandomL0s(rng, 1, 200);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  ASSERT_OK_AND_ASSIGN(auto outputs, Compact(32 * 1024));
  CheckOutputs(specs, outputs, 32 * 1024);
}

TEST_P(CompactionShapeTest, TenInputsMerge) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const auto specs = RandomL0s(rng, 10, 100);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  ASSERT_OK_AND_ASSIGN(auto outputs, Compact(48 * 1024));
  EXPECT_GE(outputs.size(), 2u);
  CheckOutputs(specs, outputs, 48 * 1024);
}

TEST_P(CompactionShapeTest, TinyTargetGivesOneOutputPerKey) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const auto specs = RandomL0s(rng, 3, 40);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  ASSERT_OK_AND_ASSIGN(auto outputs, Compact(1));
  DeltaModel all;
  for (const auto& s : specs) all.insert(s.entries.begin(), s.entries.end());
  EXPECT_EQ(outputs.size(), layers::test_util::DistinctKeys(all).size());
  CheckOutputs(specs, outputs, 1);
}

TEST_P(CompactionShapeTest, HugeTargetGivesOneOutput) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const auto specs = RandomL0s(rng, 5, 150);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  ASSERT_OK_AND_ASSIGN(auto outputs, Compact(kDefaultCompactionTargetSize));
  ASSERT_EQ(outputs.size(), 1u);
  CheckOutputs(specs, outputs, kDefaultCompactionTargetSize);
}

TEST_P(CompactionShapeTest, NoInputsIsInvalidArgument) {
  EXPECT_THAT(Compact(1).error(), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(CompactionShapeTest, DuplicateKeyLsnIsCorruptionNamingBothFiles) {
  Rng rng(7);
  auto specs = RandomL0s(rng, 2, 50);
  // Overlapping LSN ranges sharing one (key, LSN) in the middle of the keys.
  specs[1].lsns = specs[0].lsns;
  specs[1].entries.clear();
  auto shared = std::next(specs[0].entries.begin(), specs[0].entries.size() / 2);
  specs[1].entries.insert(*shared);
  FitKeyRange(specs[1], 1);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  auto result = Compact(1);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error(), StatusIs(StatusCode::kCorruption, HasSubstr(inputs_[0]->path())));
  EXPECT_THAT(result.error(), StatusIs(StatusCode::kCorruption, HasSubstr(inputs_[1]->path())));
  EXPECT_THAT(ListDir(out_dir_), ::testing::IsEmpty());
}

// A corrupt value is found only while writing (the plan reads indexes only),
// after several outputs are finished: they must be removed again.
TEST_P(CompactionShapeTest, CorruptValueRemovesFinishedOutputs) {
  Rng rng(11);
  const auto specs = RandomL0s(rng, 2, 60);
  ASSERT_NO_FATAL_FAILURE(WriteInputs(specs));
  const auto& [last_kl, last_value] = *specs[1].entries.rbegin();
  ASSERT_OK_AND_ASSIGN(auto history,
                       inputs_[1]->LookupHistory(last_kl.first, {last_kl.second, Lsn::Max()}));
  ASSERT_FALSE(history.entries.empty());
  const std::string path = inputs_[1]->path();
  auto file = testing::ReadWholeFile(path);
  file[history.entries.front().blob.offset + 1] ^= std::byte{0x40};  // inside the checksum
  testing::WriteWholeFile(path, file);

  auto result = Compact(1);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error(), StatusIs(StatusCode::kCorruption, HasSubstr(path)));
  EXPECT_THAT(ListDir(out_dir_), ::testing::IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(StdFs, CompactionShapeTest, ::testing::Values(testing::IoParam{}),
                         testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
