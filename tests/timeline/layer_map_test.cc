// LayerMap: Neon's search rules on worked examples, then randomized layer
// sets checked against brute-force references written from the rules in
// layer_map.h (a scan over every layer), and snapshot semantics. Randomized
// tests print their seed; replay with PS_TEST_SEED=<seed>.

#include "timeline/layer_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Key;
using layers::KeyRange;
using layers::LayerName;
using layers::Lsn;
using layers::LsnRange;
using ::pageserver::testing::StatusIs;

Key K(uint32_t blk) { return Key{0, 1663, 5, 16384, 0, blk}; }
KeyRange R(uint32_t a, uint32_t b) { return {K(a), K(b)}; }

// Each test layer carries a short label as its payload, so failures print
// "D[10,20)" instead of two 36-digit keys.
LayerHandlePtr MakeLayer(LayerName name, bool is_l0, std::string label) {
  return std::make_shared<const LayerHandle>(
      LayerHandle{LayerDesc{name, 4096, is_l0}, std::make_shared<std::string>(std::move(label))});
}
std::string LsnText(uint64_t lsn) { return std::to_string(lsn); }
std::string KeysText(uint32_t a, uint32_t b) {
  return "{" + std::to_string(a) + "," + std::to_string(b) + "}";
}
LayerHandlePtr Image(uint32_t a, uint32_t b, uint64_t lsn) {
  return MakeLayer(LayerName::Image(R(a, b), Lsn{lsn}), false,
                   "I" + KeysText(a, b) + "@" + LsnText(lsn));
}
LayerHandlePtr Delta(uint32_t a, uint32_t b, uint64_t start, uint64_t end) {
  return MakeLayer(LayerName::Delta(R(a, b), LsnRange{Lsn{start}, Lsn{end}}), false,
                   "D" + KeysText(a, b) + "[" + LsnText(start) + "," + LsnText(end) + ")");
}
LayerHandlePtr L0(uint64_t start, uint64_t end) {
  return MakeLayer(LayerName::Delta(KeyRange::All(), LsnRange{Lsn{start}, Lsn{end}}), true,
                   "L0[" + LsnText(start) + "," + LsnText(end) + ")");
}

std::string Label(const LayerHandlePtr& layer) {
  return layer ? *layer->PayloadAs<std::string>() : "none";
}
std::string Describe(const std::optional<SearchResult>& r) {
  return r ? Label(r->layer) + " from " + LsnText(r->lsn_floor.value) : "none";
}
std::string Found(const LayerMap& map, uint32_t key, uint64_t end_lsn) {
  return Describe(map.Search(K(key), Lsn{end_lsn}));
}

std::shared_ptr<const LayerMap> MapOf(const std::vector<LayerHandlePtr>& layers) {
  LayerMap::Builder builder;
  for (const LayerHandlePtr& layer : layers) EXPECT_OK(builder.Insert(layer));
  return builder.Build();
}

// ------------------------------------------------------- worked examples

TEST(LayerMapTest, EmptyMapFindsNothing) {
  const LayerMap map;
  EXPECT_EQ(Found(map, 1, 100), "none");
  EXPECT_TRUE(map.RangeSearch(R(0, 10), Lsn{100}).size() == 1);
  EXPECT_EQ(map.RangeSearch(R(0, 10), Lsn{100})[0], (RangeSearchEntry{R(0, 10), std::nullopt}));
  EXPECT_EQ(map.CountDeltasAbove(R(0, 10), Lsn{100}), 0u);
  EXPECT_TRUE(map.empty());
}

TEST(LayerMapTest, ImageIsFoundOnlyAboveItsLsnAndInsideItsKeys) {
  const auto map = MapOf({Image(0, 10, 20)});
  EXPECT_EQ(Found(*map, 5, 21), "I{0,10}@20 from 20");
  EXPECT_EQ(Found(*map, 0, 100), "I{0,10}@20 from 20");
  EXPECT_EQ(Found(*map, 5, 20), "none");    // end_lsn is exclusive
  EXPECT_EQ(Found(*map, 10, 100), "none");  // key range is half-open
}

TEST(LayerMapTest, DeltaFloorIsItsStart) {
  const auto map = MapOf({Delta(0, 10, 10, 20)});
  EXPECT_EQ(Found(*map, 3, 100), "D{0,10}[10,20) from 10");
  EXPECT_EQ(Found(*map, 3, 11), "D{0,10}[10,20) from 10");
  EXPECT_EQ(Found(*map, 3, 10), "none");
}

TEST(LayerMapTest, ImageAtDeltaEndMinusOneWins) {
  const auto map = MapOf({Delta(0, 10, 10, 20), Image(0, 10, 19)});
  EXPECT_EQ(Found(*map, 3, 25), "I{0,10}@19 from 19");
}

TEST(LayerMapTest, ImageAboveDeltaWins) {
  const auto map = MapOf({Delta(0, 10, 10, 20), Image(0, 10, 25)});
  EXPECT_EQ(Found(*map, 3, 30), "I{0,10}@25 from 25");
  EXPECT_EQ(Found(*map, 3, 25), "D{0,10}[10,20) from 10");  // image not below end_lsn
}

TEST(LayerMapTest, DeltaAboveImageIsReadDownToImagePlusOne) {
  const auto map = MapOf({Delta(0, 10, 10, 20), Image(0, 10, 15)});
  EXPECT_EQ(Found(*map, 3, 25), "D{0,10}[10,20) from 16");
  EXPECT_EQ(Found(*map, 3, 16), "I{0,10}@15 from 15");      // exact match
  EXPECT_EQ(Found(*map, 3, 15), "D{0,10}[10,20) from 10");  // image not below 15
  EXPECT_EQ(Found(*map, 3, 10), "none");
}

TEST(LayerMapTest, ImageExactlyAtReadPointBeatsTallerDelta) {
  const auto map = MapOf({Delta(0, 10, 10, 30), Image(0, 10, 19)});
  EXPECT_EQ(Found(*map, 3, 20), "I{0,10}@19 from 19");
  EXPECT_EQ(Found(*map, 3, 21), "D{0,10}[10,30) from 20");
}

TEST(LayerMapTest, DeltaStartingAtImageLsnSkipsRecordsAtTheImage) {
  const auto map = MapOf({Delta(0, 10, 5, 10), Image(0, 10, 5)});
  EXPECT_EQ(Found(*map, 3, 10), "D{0,10}[5,10) from 6");
  EXPECT_EQ(Found(*map, 3, 6), "I{0,10}@5 from 5");
}

TEST(LayerMapTest, DeltaAboveOlderImageThenImage) {
  const auto map = MapOf({Delta(0, 10, 20, 30), Image(0, 10, 5)});
  EXPECT_EQ(Found(*map, 3, 40), "D{0,10}[20,30) from 20");
  EXPECT_EQ(Found(*map, 3, 20), "I{0,10}@5 from 5");
}

TEST(LayerMapTest, L0IsSearchedAboveL1) {
  const auto map = MapOf({Delta(0, 100, 10, 20), L0(20, 30), L0(30, 40)});
  EXPECT_EQ(Found(*map, 50, 45), "L0[30,40) from 30");
  EXPECT_EQ(Found(*map, 50, 30), "L0[20,30) from 20");
  EXPECT_EQ(Found(*map, 50, 20), "D{0,100}[10,20) from 10");
  EXPECT_EQ(Found(*map, 50, 10), "none");
  EXPECT_EQ(Found(*map, 150, 25), "L0[20,30) from 20");  // L0 covers keys L1 does not
  ASSERT_EQ(map->L0Deltas().size(), 2u);
  EXPECT_EQ(Label(map->L0Deltas()[0]), "L0[30,40)");
  EXPECT_EQ(Label(map->L0Deltas()[1]), "L0[20,30)");
}

TEST(LayerMapTest, GapsBetweenLayersFindNothing) {
  const auto map = MapOf({Image(0, 10, 5), Delta(20, 30, 1, 9)});
  EXPECT_EQ(Found(*map, 15, 100), "none");
  EXPECT_EQ(Found(*map, 30, 100), "none");
  const auto pieces = map->RangeSearch(R(5, 35), Lsn{100});
  ASSERT_EQ(pieces.size(), 4u);
  EXPECT_EQ(pieces[0].range, R(5, 10));
  EXPECT_EQ(Describe(pieces[0].result), "I{0,10}@5 from 5");
  EXPECT_EQ(pieces[1].range, R(10, 20));
  EXPECT_EQ(Describe(pieces[1].result), "none");
  EXPECT_EQ(pieces[2].range, R(20, 30));
  EXPECT_EQ(Describe(pieces[2].result), "D{20,30}[1,9) from 1");
  EXPECT_EQ(pieces[3].range, R(30, 35));
  EXPECT_EQ(Describe(pieces[3].result), "none");
}

TEST(LayerMapTest, NewestDeltaIsLargestEndThenSmallestStart) {
  const auto overlapping = MapOf({Delta(0, 10, 10, 30), Delta(0, 10, 20, 25)});
  EXPECT_EQ(Found(*overlapping, 3, 40), "D{0,10}[10,30) from 10");
  EXPECT_EQ(Found(*overlapping, 3, 15), "D{0,10}[10,30) from 10");
  const auto tie = MapOf({Delta(0, 10, 20, 30), Delta(0, 10, 10, 30)});
  EXPECT_EQ(Found(*tie, 3, 40), "D{0,10}[10,30) from 10");
  // Not clipped to end_lsn: [10,40) beats [20,30) even when reading below 30.
  const auto tall = MapOf({Delta(0, 10, 20, 30), Delta(0, 10, 10, 40)});
  EXPECT_EQ(Found(*tall, 3, 25), "D{0,10}[10,40) from 10");
  // Same LSN range: the smaller key start, then the larger key end.
  const auto same_lsns = MapOf({Delta(5, 10, 10, 30), Delta(0, 10, 10, 30), Delta(0, 20, 10, 30)});
  EXPECT_EQ(Found(*same_lsns, 7, 40), "D{0,20}[10,30) from 10");
  const auto same_end = MapOf({Delta(5, 30, 10, 30), Delta(0, 10, 10, 30)});
  EXPECT_EQ(Found(*same_end, 7, 40), "D{0,10}[10,30) from 10");
}

TEST(LayerMapTest, RangeSearchMergesEqualNeighbours) {
  const auto map = MapOf({Image(0, 10, 5), Delta(5, 15, 10, 20)});
  const auto pieces = map->RangeSearch(R(0, 20), Lsn{30});
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].range, R(0, 5));
  EXPECT_EQ(Describe(pieces[0].result), "I{0,10}@5 from 5");
  EXPECT_EQ(pieces[1].range, R(5, 15));  // [5,10) and [10,15) agree
  EXPECT_EQ(Describe(pieces[1].result), "D{5,15}[10,20) from 10");
  EXPECT_EQ(pieces[2].range, R(15, 20));
  EXPECT_FALSE(pieces[2].result.has_value());
  EXPECT_TRUE(map->RangeSearch(R(7, 7), Lsn{30}).empty());
}

TEST(LayerMapTest, ImageCoverageAndDeltaDepth) {
  const auto map = MapOf({Image(0, 10, 5), Image(5, 20, 8), Delta(0, 20, 3, 6), Delta(0, 20, 6, 9),
                          Delta(0, 20, 9, 12), L0(12, 15)});
  const auto coverage = map->ImageCoverage(R(0, 30), Lsn{20});
  ASSERT_EQ(coverage.size(), 3u);
  EXPECT_EQ(coverage[0].range, R(0, 5));
  EXPECT_EQ(Label(coverage[0].image), "I{0,10}@5");
  EXPECT_EQ(coverage[1].range, R(5, 20));
  EXPECT_EQ(Label(coverage[1].image), "I{5,20}@8");
  EXPECT_EQ(coverage[2].range, R(20, 30));
  EXPECT_EQ(coverage[2].image, nullptr);
  // Above I@5 (keys 0..4): D[6,9), D[9,12), L0 -> 3 (D[3,6) ends at the image).
  EXPECT_EQ(map->CountDeltasAbove(R(0, 5), Lsn{20}), 3u);
  // Above I@8 (keys 5..19): D[6,9) holds nothing above 8 -> D[9,12), L0 -> 2.
  EXPECT_EQ(map->CountDeltasAbove(R(5, 20), Lsn{20}), 2u);
  // No image on keys 20..: the L0 is the only delta there.
  EXPECT_EQ(map->CountDeltasAbove(R(20, 30), Lsn{20}), 1u);
  EXPECT_EQ(map->CountDeltasAbove(R(0, 30), Lsn{20}), 3u);
  // Reading below the L0 and I@8: above I@5 only D[6,9) and D[9,12) start below 10.
  EXPECT_EQ(map->CountDeltasAbove(R(0, 20), Lsn{10}), 2u);
}

TEST(LayerMapTest, FindAndAllLayers) {
  const auto a = Image(0, 10, 5);
  const auto b = Delta(0, 10, 1, 5);
  const auto map = MapOf({a, b});
  EXPECT_EQ(map->Find(a->desc.name), a);
  EXPECT_EQ(map->Find(b->desc.name), b);
  EXPECT_EQ(map->Find(LayerName::Image(R(0, 10), Lsn{6})), nullptr);
  ASSERT_EQ(map->size(), 2u);
  EXPECT_LT(map->AllLayers()[0]->desc.name, map->AllLayers()[1]->desc.name);
}

TEST(LayerMapTest, BuilderRejectsInvalidAndDuplicateLayers) {
  LayerMap::Builder builder;
  const auto a = Image(0, 10, 5);
  ASSERT_OK(builder.Insert(a));
  EXPECT_THAT(builder.Insert(Image(0, 10, 5)), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(builder.Insert(nullptr), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Insert(Delta(5, 5, 1, 2)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Insert(Delta(0, 5, 2, 2)), StatusIs(StatusCode::kInvalidArgument));
  LayerName wide_image = LayerName::Image(R(0, 5), Lsn{1});
  wide_image.lsn_range.end = Lsn{3};
  EXPECT_THAT(builder.Insert(MakeLayer(wide_image, false, "bad")),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("image")));
  EXPECT_THAT(builder.Insert(MakeLayer(LayerName::Image(R(0, 5), Lsn{1}), true, "bad")),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("L0")));
  EXPECT_THAT(builder.Remove(LayerName::Image(R(0, 10), Lsn{6})), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(builder.size(), 1u);
  ASSERT_OK(builder.Remove(a->desc.name));
  EXPECT_FALSE(builder.Contains(a->desc.name));
}

// ------------------------------------------------------- snapshots

TEST(LayerMapTest, BuilderChangesDoNotAffectAnExistingSnapshot) {
  const auto old_delta = Delta(0, 10, 10, 20);
  const auto old_map = MapOf({old_delta});
  LayerMap::Builder builder(*old_map);
  ASSERT_OK(builder.Remove(old_delta->desc.name));
  ASSERT_OK(builder.Insert(Image(0, 10, 19)));
  const auto new_map = builder.Build();
  ASSERT_OK(builder.Insert(Image(0, 10, 50)));  // after Build: affects neither map

  EXPECT_EQ(Found(*old_map, 3, 100), "D{0,10}[10,20) from 10");
  EXPECT_EQ(old_map->size(), 1u);
  EXPECT_EQ(Found(*new_map, 3, 100), "I{0,10}@19 from 19");
  EXPECT_EQ(new_map->size(), 1u);
  EXPECT_EQ(Found(*builder.Build(), 3, 100), "I{0,10}@50 from 50");
}

TEST(LayerMapTest, SnapshotKeepsARemovedLayerAlive) {
  auto layer = Delta(0, 10, 10, 20);
  const std::weak_ptr<const LayerHandle> weak = layer;
  const std::weak_ptr<void> weak_payload = layer->payload;
  auto old_map = MapOf({layer});
  layer.reset();
  LayerMap::Builder builder(*old_map);
  ASSERT_OK(builder.Remove(weak.lock()->desc.name));
  const auto new_map = builder.Build();
  EXPECT_EQ(Found(*new_map, 3, 100), "none");

  EXPECT_FALSE(weak.expired());  // the old snapshot still holds it
  auto result = old_map->Search(K(3), Lsn{100});
  old_map.reset();
  EXPECT_FALSE(weak.expired());  // ...and so does a search result
  ASSERT_TRUE(result.has_value());
  result.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_TRUE(weak_payload.expired());
}

TEST(LayerMapTest, ReadersKeepTheirSnapshotWhileNewOnesArePublished) {
  std::mutex mu;  // guards `current`, as the timeline's publication does
  std::shared_ptr<const LayerMap> current = MapOf({Image(0, 10, 1)});
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto reader = [&] {
    while (!stop.load()) {
      std::shared_ptr<const LayerMap> snapshot;
      {
        std::lock_guard<std::mutex> lock(mu);
        snapshot = current;
      }
      // Every published map has exactly one image, and Search must find it.
      const auto r = snapshot->Search(K(5), Lsn::Max());
      if (!r || r->layer != snapshot->AllLayers()[0]) failures.fetch_add(1);
    }
  };
  std::thread t1(reader);
  std::thread t2(reader);
  for (uint64_t lsn = 2; lsn < 200; ++lsn) {
    auto next = MapOf({Image(0, 10, lsn)});
    std::lock_guard<std::mutex> lock(mu);
    current = std::move(next);
  }
  stop.store(true);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
}

// ------------------------------------------------------- randomized

constexpr uint32_t kKeys = 40;  // keys K(0)..K(kKeys - 1); probes also K(kKeys)
constexpr uint64_t kLsns = 60;  // LSNs 1..kLsns

// Brute force from the rules in layer_map.h, written independently of the
// index: scan every layer; the image wins iff i >= min(D.end, end_lsn) - 1.
bool RefNewer(const LayerDesc& a, const LayerDesc& b) {
  if (a.lsn_range().end != b.lsn_range().end) return a.lsn_range().end > b.lsn_range().end;
  if (a.lsn_range().start != b.lsn_range().start) {
    return a.lsn_range().start < b.lsn_range().start;
  }
  if (a.key_range().start != b.key_range().start) return a.key_range().start < b.key_range().start;
  return a.key_range().end > b.key_range().end;
}

LayerHandlePtr RefNewest(const LayerMap& map, const Key& key, Lsn end_lsn, bool want_delta) {
  LayerHandlePtr best;
  for (const LayerHandlePtr& l : map.AllLayers()) {
    if (l->desc.is_delta() != want_delta || !l->desc.key_range().Contains(key)) continue;
    if (l->desc.lsn_range().start >= end_lsn) continue;
    if (!best || RefNewer(l->desc, best->desc)) best = l;
  }
  return best;
}

std::optional<SearchResult> ReferenceSearch(const LayerMap& map, const Key& key, Lsn end_lsn) {
  const LayerHandlePtr d = RefNewest(map, key, end_lsn, true);
  const LayerHandlePtr i = RefNewest(map, key, end_lsn, false);
  if (!d && !i) return std::nullopt;
  if (!d) return SearchResult{i, i->desc.image_lsn()};
  if (!i) return SearchResult{d, d->desc.lsn_range().start};
  const uint64_t clipped_end = std::min(d->desc.lsn_range().end.value, end_lsn.value);
  const uint64_t img = i->desc.image_lsn().value;
  if (img >= clipped_end - 1) return SearchResult{i, Lsn{img}};
  return SearchResult{d, Lsn{std::max(d->desc.lsn_range().start.value, img + 1)}};
}

size_t ReferenceDepth(const LayerMap& map, const Key& key, Lsn end_lsn) {
  const LayerHandlePtr image = RefNewest(map, key, end_lsn, false);
  size_t depth = 0;
  for (const LayerHandlePtr& l : map.AllLayers()) {
    if (!l->desc.is_delta() || !l->desc.key_range().Contains(key)) continue;
    if (l->desc.lsn_range().start >= end_lsn) continue;
    if (image && l->desc.lsn_range().end.value <= image->desc.image_lsn().value + 1) continue;
    ++depth;
  }
  return depth;
}

// A random layer set: images, L1 deltas with random key and LSN ranges
// (overlapping freely, as after a crash mid-compaction), and some L0s.
std::shared_ptr<const LayerMap> RandomMap(std::mt19937_64& rng) {
  LayerMap::Builder builder;
  const size_t count = rng() % 30;
  auto key_bounds = [&] {
    const uint32_t a = static_cast<uint32_t>(rng() % kKeys);
    const uint32_t b = a + 1 + static_cast<uint32_t>(rng() % (kKeys - a));
    return std::pair(a, b);
  };
  auto lsn = [&] { return 1 + rng() % kLsns; };
  for (size_t n = 0; n < count; ++n) {
    LayerHandlePtr layer;
    switch (rng() % 5) {
      case 0:
      case 1: {
        const auto [a, b] = key_bounds();
        layer = Image(a, b, lsn());
        break;
      }
      case 2:
      case 3: {
        const auto [a, b] = key_bounds();
        const uint64_t start = lsn();
        layer = Delta(a, b, start, start + 1 + rng() % 15);
        break;
      }
      default: {
        const uint64_t start = lsn();
        layer = L0(start, start + 1 + rng() % 10);
      }
    }
    if (!builder.Contains(layer->desc.name)) EXPECT_OK(builder.Insert(layer));
  }
  return builder.Build();
}

TEST(LayerMapRandomTest, SearchMatchesBruteForce) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 80; ++round) {
    const auto map = RandomMap(rng);
    for (uint32_t key = 0; key <= kKeys; ++key) {
      for (uint64_t end = 0; end <= kLsns + 20; ++end) {
        const auto got = map->Search(K(key), Lsn{end});
        const auto want = ReferenceSearch(*map, K(key), Lsn{end});
        // Equal handles, not only equal labels; describe only on failure (fast).
        ASSERT_TRUE(got == want) << "round " << round << " key " << key << " end_lsn " << end
                                 << ": got " << Describe(got) << ", want " << Describe(want);
        if (got) {
          ASSERT_LT(got->lsn_floor, Lsn{end});
        }
      }
    }
  }
}

TEST(LayerMapRandomTest, ReadWalkDescendsAndEnds) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 100; ++round) {
    const auto map = RandomMap(rng);
    for (uint32_t key = 0; key < kKeys; ++key) {
      Lsn end = Lsn::Max();
      size_t steps = 0;
      while (auto r = map->Search(K(key), end)) {
        ASSERT_LT(r->lsn_floor, end);
        ASSERT_LE(++steps, 2 * map->size()) << "round " << round << " key " << key;
        if (r->layer->desc.is_image()) break;  // an image completes the history
        end = r->lsn_floor;
      }
    }
  }
}

TEST(LayerMapRandomTest, RangeSearchEqualsPerKeySearch) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    const auto map = RandomMap(rng);
    const uint32_t a = static_cast<uint32_t>(rng() % (kKeys + 2));
    const uint32_t b = a + static_cast<uint32_t>(rng() % (kKeys + 3 - a));
    const Lsn end{rng() % (kLsns + 20)};
    SCOPED_TRACE("round " + std::to_string(round) + " range " + KeysText(a, b) + " end_lsn " +
                 LsnText(end.value));
    const auto pieces = map->RangeSearch(R(a, b), end);
    if (a == b) {
      ASSERT_TRUE(pieces.empty());
      continue;
    }
    ASSERT_FALSE(pieces.empty());
    ASSERT_EQ(pieces.front().range.start, K(a));
    ASSERT_EQ(pieces.back().range.end, K(b));
    for (size_t p = 0; p < pieces.size(); ++p) {
      ASSERT_FALSE(pieces[p].range.empty());
      if (p > 0) {
        ASSERT_EQ(pieces[p - 1].range.end, pieces[p].range.start);
        ASSERT_NE(pieces[p - 1].result, pieces[p].result);  // coarsest split
      }
      for (uint32_t k = pieces[p].range.start.field6; k < pieces[p].range.end.field6; ++k) {
        ASSERT_EQ(pieces[p].result, map->Search(K(k), end)) << "key " << k;
      }
    }
  }
}

TEST(LayerMapRandomTest, ImageCoverageAndDeltaDepthMatchBruteForce) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    const auto map = RandomMap(rng);
    const uint32_t a = static_cast<uint32_t>(rng() % (kKeys + 2));
    const uint32_t b = a + static_cast<uint32_t>(rng() % (kKeys + 3 - a));
    const Lsn end{rng() % (kLsns + 20)};
    SCOPED_TRACE("round " + std::to_string(round) + " range " + KeysText(a, b) + " end_lsn " +
                 LsnText(end.value));
    size_t deepest = 0;
    for (uint32_t k = a; k < b; ++k) deepest = std::max(deepest, ReferenceDepth(*map, K(k), end));
    ASSERT_EQ(map->CountDeltasAbove(R(a, b), end), deepest);

    const auto coverage = map->ImageCoverage(R(a, b), end);
    ASSERT_EQ(coverage.empty(), a == b);
    for (size_t p = 0; p < coverage.size(); ++p) {
      if (p > 0) {
        ASSERT_EQ(coverage[p - 1].range.end, coverage[p].range.start);
        ASSERT_NE(coverage[p - 1].image, coverage[p].image);
      }
      for (uint32_t k = coverage[p].range.start.field6; k < coverage[p].range.end.field6; ++k) {
        ASSERT_EQ(coverage[p].image, RefNewest(*map, K(k), end, false)) << "key " << k;
      }
    }
    if (!coverage.empty()) {
      ASSERT_EQ(coverage.back().range.end, K(b));
    }
  }
}

TEST(LayerMapRandomTest, WholeKeyspaceRangeSearchCoversEverything) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 50; ++round) {
    const auto map = RandomMap(rng);
    const Lsn end{rng() % (kLsns + 20)};
    const auto pieces = map->RangeSearch(KeyRange::All(), end);
    ASSERT_FALSE(pieces.empty());
    ASSERT_EQ(pieces.front().range.start, Key::Min());
    ASSERT_EQ(pieces.back().range.end, Key::Max());
    for (const RangeSearchEntry& piece : pieces) {
      ASSERT_EQ(piece.result, map->Search(piece.range.start, end));
    }
  }
}

}  // namespace
}  // namespace pageserver::timeline
