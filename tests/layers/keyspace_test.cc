// KeyRange and KeySpace: fixed cases, then randomized operations checked
// against a brute-force model (one bool per key of a small universe of
// consecutive keys). Randomized tests print their seed; replay with
// PS_TEST_SEED=<seed>.

#include "layers/keyspace.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"

namespace pageserver::layers {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

Key K(uint32_t blk) { return Key{0, 1663, 5, 16384, 0, blk}; }
KeyRange R(uint32_t a, uint32_t b) { return {K(a), K(b)}; }

// Sorted, disjoint, non-adjacent, non-empty: the canonical form.
void ExpectCanonical(const KeySpace& ks) {
  for (size_t i = 0; i < ks.ranges().size(); ++i) {
    EXPECT_FALSE(ks.ranges()[i].empty()) << ks.ToString();
    if (i > 0) {
      EXPECT_LT(ks.ranges()[i - 1].end, ks.ranges()[i].start) << ks.ToString();
    }
  }
}

// ---------------------------------------------------------------- KeyRange

TEST(KeyRangeTest, HalfOpenMembership) {
  const KeyRange r = R(10, 20);
  EXPECT_TRUE(r.Contains(K(10)));
  EXPECT_TRUE(r.Contains(K(19)));
  EXPECT_FALSE(r.Contains(K(20)));
  EXPECT_FALSE(r.Contains(K(9)));
  EXPECT_TRUE(r.Contains(R(12, 20)));
  EXPECT_FALSE(r.Contains(R(12, 21)));
  EXPECT_TRUE(r.Contains(R(30, 30)));  // the empty range is in everything
  EXPECT_TRUE(r.Overlaps(R(19, 25)));
  EXPECT_FALSE(r.Overlaps(R(20, 25)));
  EXPECT_FALSE(r.Overlaps(R(5, 10)));
  EXPECT_FALSE(r.Overlaps(R(15, 15)));
  EXPECT_TRUE(R(5, 5).empty());
  EXPECT_TRUE(R(6, 5).empty());
}

TEST(KeyRangeTest, Intersect) {
  EXPECT_EQ(R(10, 20).Intersect(R(15, 30)), R(15, 20));
  EXPECT_EQ(R(10, 20).Intersect(R(0, 30)), R(10, 20));
  EXPECT_TRUE(R(10, 20).Intersect(R(20, 30)).empty());
  EXPECT_TRUE(R(10, 20).Intersect(R(30, 40)).empty());
}

TEST(KeyRangeTest, SingleAndAll) {
  const KeyRange one = KeyRange::Single(K(7));
  EXPECT_EQ(one, R(7, 8));
  EXPECT_EQ(one.KeyCountApprox(), 1u);
  EXPECT_TRUE(KeyRange::All().Contains(Key::Min()));
  EXPECT_FALSE(KeyRange::All().Contains(Key::Max()));
}

TEST(KeyRangeTest, KeyCountWithinOneRelation) {
  EXPECT_EQ(R(10, 20).KeyCountApprox(), 10u);
  EXPECT_EQ(R(20, 10).KeyCountApprox(), 0u);
  EXPECT_EQ(R(0, 0xFFFFFFFF).KeyCountApprox(), 0xFFFFFFFFu);
  // field5 counts as the high part of the block number (Neon's key_range_size):
  // one whole fork, blocks 0..FFFFFFFE plus the size key, is 2^32 keys.
  const RelTag rel{1663, 5, 16384, 0};
  const KeyRange fork{Key::RelBlock(rel, 0), Key::RelSize(rel).Next()};
  EXPECT_EQ(fork.end, Key::RelBlock(RelTag{1663, 5, 16384, 1}, 0));
  EXPECT_EQ(fork.KeyCountApprox(), uint64_t{1} << 32);
  // Across a field5 boundary the count stays exact.
  EXPECT_EQ((KeyRange{Key{0, 1, 2, 3, 4, 0xFFFFFFFE}, Key{0, 1, 2, 3, 5, 3}}.KeyCountApprox()), 5u);
}

TEST(KeyRangeTest, KeyCountSaturatesAcrossHigherFields) {
  // Start and end differ in field1..field4: UINT64_MAX, even when the true
  // count would be small.
  EXPECT_EQ((KeyRange{Key{0, 1, 2, 3, 0xFF, 0xFFFFFFFF}, Key{0, 1, 2, 4, 0, 0}}.KeyCountApprox()),
            kSaturated);
  EXPECT_EQ((KeyRange{Key::RelBlock({1663, 5, 16384, 0}, 0), Key::RelBlock({1663, 5, 16385, 0}, 0)}
                 .KeyCountApprox()),
            kSaturated);
  EXPECT_EQ(KeyRange::All().KeyCountApprox(), kSaturated);
}

TEST(KeyRangeTest, ToStringIsHexPair) {
  EXPECT_EQ(R(1, 2).ToString(),
            "000000067F00000005000040000000000001-000000067F00000005000040000000000002");
}

// ---------------------------------------------------------------- KeySpace

TEST(KeySpaceTest, HeaderExample) {
  KeySpace ks;
  ks.Add(R(10, 30));
  ks.Add(R(20, 40));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 40)}));
  ks.Remove(R(20, 30));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 20), R(30, 40)}));
}

TEST(KeySpaceTest, AddMergesAdjacentAndIgnoresEmpty) {
  KeySpace ks;
  ks.Add(R(10, 20));
  ks.Add(R(30, 40));
  ks.Add(R(25, 25));
  ks.Add(R(26, 24));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 20), R(30, 40)}));
  ks.Add(R(20, 30));  // touches both
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 40)}));
  ks.Add(R(40, 41));
  ks.Add(R(9, 10));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(9, 41)}));
}

TEST(KeySpaceTest, AddSwallowsManyRanges) {
  KeySpace ks;
  for (uint32_t i = 0; i < 10; ++i) ks.Add(R(10 * i, 10 * i + 5));
  EXPECT_EQ(ks.ranges().size(), 10u);
  ks.Add(R(12, 73));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(0, 5), R(10, 75), R(80, 85), R(90, 95)}));
}

TEST(KeySpaceTest, RemoveSplitsAndTrims) {
  KeySpace ks(R(0, 100));
  ks.Remove(R(40, 60));
  ks.Remove(R(0, 10));
  ks.Remove(R(95, 200));
  ks.Remove(R(50, 55));  // already gone
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 40), R(60, 95)}));
  ks.Remove(R(39, 61));
  EXPECT_EQ(ks.ranges(), std::vector<KeyRange>({R(10, 39), R(61, 95)}));
  ks.Remove(KeyRange::All());
  EXPECT_TRUE(ks.empty());
}

TEST(KeySpaceTest, QueriesOnTwoRanges) {
  const KeySpace ks = KeySpace::FromRanges(std::vector<KeyRange>{R(30, 40), R(10, 20)});
  EXPECT_TRUE(ks.Contains(K(10)));
  EXPECT_FALSE(ks.Contains(K(20)));
  EXPECT_FALSE(ks.Contains(K(25)));
  EXPECT_TRUE(ks.Contains(R(12, 18)));
  EXPECT_FALSE(ks.Contains(R(15, 35)));  // spans the gap
  EXPECT_TRUE(ks.Contains(R(50, 50)));
  EXPECT_TRUE(ks.Overlaps(R(15, 35)));
  EXPECT_TRUE(ks.Overlaps(R(39, 100)));
  EXPECT_FALSE(ks.Overlaps(R(20, 30)));
  EXPECT_FALSE(ks.Overlaps(R(40, 100)));
  EXPECT_EQ(ks.Bounds(), R(10, 40));
  EXPECT_EQ(ks.KeyCountApprox(), 20u);
  EXPECT_EQ(ks.Intersect(R(15, 35)).ranges(), std::vector<KeyRange>({R(15, 20), R(30, 35)}));
  EXPECT_EQ(ks.Intersect(KeySpace::FromRanges(std::vector<KeyRange>{R(0, 12), R(19, 31)})).ranges(),
            std::vector<KeyRange>({R(10, 12), R(19, 20), R(30, 31)}));
}

TEST(KeySpaceTest, MaxKeyIsNeverContained) {
  const KeySpace all(KeyRange::All());
  EXPECT_TRUE(all.Contains(Key::Min()));
  EXPECT_FALSE(all.Contains(Key::Max()));
  EXPECT_TRUE(all.Contains((Key{0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFE})));
  EXPECT_EQ(all.KeyCountApprox(), kSaturated);
}

TEST(KeySpaceTest, KeyCountSumSaturates) {
  KeySpace ks;
  ks.Add(KeyRange{Key{0, 1, 0, 0, 0, 0}, Key{0, 2, 0, 0, 0, 0}});
  ks.Add(KeyRange{Key{0, 3, 0, 0, 0, 0}, Key{0, 4, 0, 0, 0, 0}});
  EXPECT_EQ(ks.KeyCountApprox(), kSaturated);
  ks.Add(R(1, 4));
  EXPECT_EQ(ks.KeyCountApprox(), kSaturated);
}

TEST(KeySpaceTest, ToString) {
  EXPECT_EQ(KeySpace().ToString(), "[]");
  EXPECT_EQ(KeySpace::FromRanges(std::vector<KeyRange>{R(3, 4), R(1, 2)}).ToString(),
            "[" + R(1, 2).ToString() + ", " + R(3, 4).ToString() + "]");
}

// ------------------------------------------------------ model-based tests

// A universe of kUniverse consecutive keys starting at `base` (by Key::Add),
// so [U(i), U(j)) holds exactly the keys i..j-1, and a bit-vector model.
class KeySpaceModelTest : public ::testing::TestWithParam<Key> {
 protected:
  static constexpr uint32_t kUniverse = 64;
  using Model = std::vector<bool>;

  Key U(uint32_t i) const { return GetParam().Add(i); }
  KeyRange UR(uint32_t i, uint32_t j) const { return {U(i), U(j)}; }

  // Random range over the universe, sometimes empty or inverted.
  std::pair<uint32_t, uint32_t> RandomBounds(std::mt19937_64& rng) const {
    const uint32_t a = static_cast<uint32_t>(rng() % (kUniverse + 1));
    if (rng() % 10 == 0) return {a, static_cast<uint32_t>(rng() % (kUniverse + 1))};
    const uint32_t len = static_cast<uint32_t>(rng() % 12);
    return {a, std::min(a + len, kUniverse)};
  }

  static void Set(Model& m, std::pair<uint32_t, uint32_t> b, bool value) {
    for (uint32_t i = b.first; i < b.second; ++i) m[i] = value;
  }

  // The canonical range list of the model's set.
  std::vector<KeyRange> RangesOf(const Model& m) const {
    std::vector<KeyRange> out;
    for (uint32_t i = 0; i < kUniverse;) {
      if (!m[i]) {
        ++i;
        continue;
      }
      uint32_t j = i;
      while (j < kUniverse && m[j]) ++j;
      out.push_back(UR(i, j));
      i = j;
    }
    return out;
  }

  // A random keyspace built from a few ranges, and its model.
  std::pair<KeySpace, Model> RandomKeySpace(std::mt19937_64& rng) const {
    Model m(kUniverse, false);
    std::vector<KeyRange> ranges;
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      const auto b = RandomBounds(rng);
      ranges.push_back(UR(b.first, b.second));
      Set(m, b, true);
    }
    return {KeySpace::FromRanges(ranges), m};
  }

  bool SameHighFields() const {
    const Key a = U(0);
    const Key b = U(kUniverse);
    return a.field1 == b.field1 && a.field2 == b.field2 && a.field3 == b.field3 &&
           a.field4 == b.field4;
  }

  void CheckAgainstModel(const KeySpace& ks, const Model& m, std::mt19937_64& rng) const {
    ExpectCanonical(ks);
    ASSERT_EQ(ks.ranges(), RangesOf(m)) << ks.ToString();
    for (uint32_t i = 0; i < kUniverse; ++i) ASSERT_EQ(ks.Contains(U(i)), m[i]) << i;
    EXPECT_FALSE(ks.Contains(U(kUniverse)));
    const uint64_t count = static_cast<uint64_t>(std::count(m.begin(), m.end(), true));
    if (SameHighFields()) {
      EXPECT_EQ(ks.KeyCountApprox(), count);
    } else {
      EXPECT_GE(ks.KeyCountApprox(), count);
    }
    for (int q = 0; q < 20; ++q) {
      const auto [a, b] = RandomBounds(rng);
      bool all = true;
      bool any = false;
      for (uint32_t i = a; i < b; ++i) {
        all = all && m[i];
        any = any || m[i];
      }
      ASSERT_EQ(ks.Contains(UR(a, b)), all) << a << ".." << b << " in " << ks.ToString();
      ASSERT_EQ(ks.Overlaps(UR(a, b)), any) << a << ".." << b << " in " << ks.ToString();
    }
    if (!ks.empty()) {
      const auto first = static_cast<uint32_t>(std::find(m.begin(), m.end(), true) - m.begin());
      const auto last = static_cast<uint32_t>(m.rend() - std::find(m.rbegin(), m.rend(), true));
      EXPECT_EQ(ks.Bounds(), UR(first, last));
    }
  }
};

TEST_P(KeySpaceModelTest, RandomOperationsMatchModel) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 50; ++round) {
    KeySpace ks;
    Model m(kUniverse, false);
    for (int step = 0; step < 40; ++step) {
      const auto b = RandomBounds(rng);
      switch (rng() % 6) {
        case 0:
        case 1:
          ks.Add(UR(b.first, b.second));
          Set(m, b, true);
          break;
        case 2:
          ks.Remove(UR(b.first, b.second));
          Set(m, b, false);
          break;
        case 3: {
          auto [other, om] = RandomKeySpace(rng);
          ks.Add(other);
          for (uint32_t i = 0; i < kUniverse; ++i) m[i] = m[i] || om[i];
          break;
        }
        case 4: {
          auto [other, om] = RandomKeySpace(rng);
          ks.Remove(other);
          for (uint32_t i = 0; i < kUniverse; ++i) m[i] = m[i] && !om[i];
          break;
        }
        default: {
          auto [other, om] = RandomKeySpace(rng);
          Model both(kUniverse), in_range(kUniverse);
          for (uint32_t i = 0; i < kUniverse; ++i) {
            both[i] = m[i] && om[i];
            in_range[i] = m[i] && i >= b.first && i < b.second;
          }
          CheckAgainstModel(ks.Intersect(other), both, rng);
          CheckAgainstModel(ks.Intersect(UR(b.first, b.second)), in_range, rng);
          if (rng() % 2 == 0) {
            ks = ks.Intersect(other);
            m = both;
          }
        }
      }
      CheckAgainstModel(ks, m, rng);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST_P(KeySpaceModelTest, FromRangesEqualsUnionInAnyOrder) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    Model m(kUniverse, false);
    std::vector<KeyRange> ranges;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const auto b = RandomBounds(rng);
      ranges.push_back(UR(b.first, b.second));
      Set(m, b, true);
    }
    const KeySpace ks = KeySpace::FromRanges(ranges);
    CheckAgainstModel(ks, m, rng);
    std::shuffle(ranges.begin(), ranges.end(), rng);
    KeySpace incremental;
    for (const KeyRange& r : ranges) incremental.Add(r);
    ASSERT_EQ(incremental, ks);
  }
}

// Universes placed so that Key::Add carries inside them: none, through
// field6 into field5, and through the u8 field5 into field4 (where counts
// saturate).
INSTANTIATE_TEST_SUITE_P(Universes, KeySpaceModelTest,
                         ::testing::Values(Key{0, 1663, 5, 16384, 0, 100},
                                           Key{0, 1663, 5, 16384, 1, 0xFFFFFFE0},
                                           Key{1, 2, 1, 7, 0xFF, 0xFFFFFFE0}),
                         [](const ::testing::TestParamInfo<Key>& info) {
                           return "Base" + info.param.ToHex();
                         });

}  // namespace
}  // namespace pageserver::layers
