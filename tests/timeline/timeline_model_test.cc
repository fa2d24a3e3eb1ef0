// Differential test: random histories of puts (images, writes, inits) over
// many keys and LSNs on a tree of branches, interleaved with freezes,
// flushes, compactions, image creation, GC, branching and reopening from
// disk (clean and after losing what was not flushed); every read at a random
// (key, LSN at or above the GC cutoff) must equal the reference model.
// The seed is printed; PS_TEST_SEED=<seed> replays a run.

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/timeline/timeline_test_util.h"

namespace pageserver::timeline {
namespace {

using layers::Key;
using layers::Lsn;
using test_util::Bytes;
using test_util::Model;

class TimelineModelTest : public test_util::TimelineTestBase {
 protected:
  struct Branch {
    std::shared_ptr<Timeline> tl;
    Model model;
    int parent = -1;  // index into branches_
    layers::TimelineId id;
  };

  void SetUp() override {
    TimelineTestBase::SetUp();
    if (IsSkipped()) return;
    config_.checkpoint_distance = 48 * 1024;
    config_.max_frozen_layers = 2;
    config_.gc_horizon = 0x300;
    config_.compaction_target_size = 96 * 1024;  // several L1s per compaction
    seed_ = testing::TestSeed();
    std::fprintf(stderr, "TimelineModelTest seed=%llu (replay: PS_TEST_SEED=%llu)\n",
                 static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_));
    rng_.seed(seed_);
    for (uint32_t rel = 0; rel < 3; ++rel) {
      for (uint32_t blk = 0; blk < 24; ++blk)
        keys_.push_back(test_util::RelKey(blk * 3 + rel, rel));
    }
    Branch root;
    root.id = timeline_id_;
    root.tl = CreateTimeline(Lsn{0x10}, config_);
    branches_.push_back(std::move(root));
  }

  uint64_t Rand(uint64_t n) { return rng_() % n; }

  Bytes RandomBytes(size_t n) {
    Bytes out(n);
    for (auto& b : out) b = std::byte(rng_() & 0xFF);
    return out;
  }

  // A value for `key` that the model can redo: a write only above a value.
  Value RandomValue(const Branch& b, const Key& key) {
    const bool has_value = b.model.Get(key, b.tl->last_record_lsn()).has_value();
    const uint64_t pick = Rand(10);
    if (!has_value || pick < 3) return test_util::ImageValue(test_util::Page(rng_()));
    const size_t offset = Rand(kPageSize - 64);
    if (pick < 5) return test_util::InitValue(offset, RandomBytes(1 + Rand(64)));
    return test_util::WriteValue(offset, RandomBytes(1 + Rand(64)));
  }

  void Ingest(Branch& b) {
    const Lsn lsn{b.tl->last_record_lsn().value + 1 + Rand(0x20)};
    std::set<Key> chosen;
    const size_t n = 1 + Rand(6);
    while (chosen.size() < n) chosen.insert(keys_[Rand(keys_.size())]);
    for (const Key& key : chosen) {
      const Value value = RandomValue(b, key);
      ASSERT_OK(b.tl->Put(key, lsn, value));
      b.model.Put(key, lsn, value);
    }
    ASSERT_OK(b.tl->FinishLsn(lsn));
  }

  void CheckRead(const Branch& b, std::span<const Key> keys, Lsn lsn) {
    auto results = b.tl->GetVectored(keys, lsn);
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::optional<Bytes> expected = b.model.Get(keys[i], lsn);
      const std::string where = keys[i].Describe() + " at " + lsn.ToString() + " on branch " +
                                b.id.ToHex() + " seed " + std::to_string(seed_);
      if (!expected.has_value()) {
        EXPECT_TRUE(!results[i].has_value() && results[i].error().IsNotFound())
            << where << ": expected NotFound, got "
            << (results[i].has_value() ? "a value" : results[i].error().ToString());
        continue;
      }
      ASSERT_TRUE(results[i].has_value()) << where << ": " << results[i].error().ToString();
      EXPECT_TRUE(*results[i] == *expected) << where << ": wrong value";
    }
  }

  Lsn RandomReadLsn(const Branch& b) {
    const uint64_t lo = b.tl->gc_cutoff().value;
    const uint64_t hi = b.tl->last_record_lsn().value;
    if (hi < lo || hi == 0) return Lsn{0};
    return Lsn{std::max<uint64_t>(1, lo + Rand(hi - lo + 1))};
  }

  void RandomRead(const Branch& b) {
    const Lsn lsn = RandomReadLsn(b);
    if (!lsn.valid()) return;
    std::vector<Key> keys;
    const size_t n = 1 + Rand(config_.max_get_vectored_keys);
    if (Rand(2) == 0) {
      for (size_t i = 0; i < n; ++i) keys.push_back(keys_[Rand(keys_.size())]);
    } else {  // adjacent keys of one relation
      const size_t start = Rand(keys_.size());
      for (size_t i = start; i < keys_.size() && keys.size() < n; ++i) keys.push_back(keys_[i]);
    }
    CheckRead(b, keys, lsn);
  }

  void CreateChild(int parent) {
    Branch& p = branches_[parent];
    const Lsn lsn = RandomReadLsn(p);
    if (!lsn.valid()) return;
    Branch child;
    child.id = layers::TimelineId::Generate();
    auto tl = Timeline::CreateBranch(resources(), data_dir(), child.id, p.tl, lsn, config_);
    ASSERT_OK(tl);
    child.tl = *tl;
    child.model = p.model.Below(lsn);
    child.parent = parent;
    branches_.push_back(std::move(child));
  }

  bool HasChildren(size_t i) const {
    for (const Branch& b : branches_) {
      if (b.parent == static_cast<int>(i)) return true;
    }
    return false;
  }

  // Drops every timeline object (children first) and loads all again,
  // ancestors first. With `crash`, one leaf loses what it had not flushed
  // (as after a kill): its model is cut at disk_consistent_lsn; the others
  // are checkpointed first (a clean shutdown).
  void Reopen(bool crash) {
    size_t victim = branches_.size();
    if (crash) {
      victim = Rand(branches_.size());
      // A parent losing data below a child's branch point would need the
      // ingest source to resend it; only leaves lose data here.
      if (HasChildren(victim)) victim = branches_.size();
    }
    for (size_t i = 0; i < branches_.size(); ++i) {
      Branch& b = branches_[i];
      if (i == victim) {
        b.model = b.model.Below(b.tl->disk_consistent_lsn());
      } else {
        ASSERT_OK(b.tl->Checkpoint());
      }
    }
    for (size_t i = branches_.size(); i-- > 0;) branches_[i].tl.reset();
    for (Branch& b : branches_) {
      std::shared_ptr<Timeline> ancestor = b.parent >= 0 ? branches_[b.parent].tl : nullptr;
      auto tl = Timeline::Load(resources(), data_dir(), tenant_, b.id, ancestor, config_);
      ASSERT_OK(tl);
      b.tl = *tl;
      ASSERT_FALSE(b.tl->broken()) << *b.tl->broken_reason();
      ASSERT_EQ(b.tl->last_record_lsn(), b.tl->disk_consistent_lsn());
    }
  }

  void Step() {
    Branch& b = branches_[Rand(branches_.size())];
    const uint64_t op = Rand(100);
    if (op < 45) {
      Ingest(b);
    } else if (op < 75) {
      RandomRead(b);
    } else if (op < 81) {
      ASSERT_OK(b.tl->Checkpoint());
    } else if (op < 85) {
      ASSERT_OK(b.tl->Compact(/*force=*/Rand(2) == 0));
    } else if (op < 89) {
      ASSERT_OK(b.tl->CreateImages(/*force=*/Rand(2) == 0));
    } else if (op < 93) {
      ASSERT_OK(b.tl->Gc());
    } else if (op < 96) {
      if (branches_.size() < 5) CreateChild(static_cast<int>(&b - branches_.data()));
    } else {
      Reopen(/*crash=*/Rand(2) == 0);
    }
  }

  void CheckEverything() {
    for (const Branch& b : branches_) {
      const uint64_t lo = std::max<uint64_t>(1, b.tl->gc_cutoff().value);
      const uint64_t hi = b.tl->last_record_lsn().value;
      if (hi < lo) continue;
      for (uint64_t lsn : {lo, lo + (hi - lo) / 2, hi}) {
        for (size_t i = 0; i < keys_.size(); i += config_.max_get_vectored_keys) {
          const size_t n = std::min(config_.max_get_vectored_keys, keys_.size() - i);
          CheckRead(b, std::span(keys_).subspan(i, n), Lsn{lsn});
        }
      }
    }
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::vector<Key> keys_;
  std::vector<Branch> branches_;
};

TEST_P(TimelineModelTest, RandomHistoriesReadAsTheModelSays) {
  constexpr int kSteps = 400;
  for (int step = 0; step < kSteps; ++step) {
    ASSERT_NO_FATAL_FAILURE(Step()) << "step " << step << " seed " << seed_;
    if (HasFailure()) return;
  }
  CheckEverything();
  size_t images = 0;
  size_t deltas = 0;
  size_t gced = 0;
  for (const Branch& b : branches_) {
    const TimelineStats stats = b.tl->Stats();
    images += stats.images;
    deltas += stats.l0_deltas + stats.l1_deltas;
    if (stats.gc_cutoff > Lsn{0x10}) ++gced;
  }
  std::fprintf(stderr, "branches %zu, image layers %zu, delta layers %zu, branches GCed %zu\n",
               branches_.size(), images, deltas, gced);
  EXPECT_GT(images + deltas, 0u) << "the run never wrote a layer: the test did not test much";
}

INSTANTIATE_TEST_SUITE_P(All, TimelineModelTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
