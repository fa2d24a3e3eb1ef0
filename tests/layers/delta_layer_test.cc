#include "layers/delta_layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "layers/layer_name.h"
#include "tests/layers/layer_test_util.h"
#include "tests/support/counting_engine.h"
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

constexpr LsnRange kLsns{Lsn{0x1000}, Lsn{0x9000}};

// Up to `max_versions` LSNs per key; will_init on the oldest version of
// most keys and on random others, so histories end in the middle.
DeltaModel RandomDeltaModel(const std::vector<Key>& keys, Rng& rng, size_t max_versions,
                            size_t max_len) {
  DeltaModel model;
  for (const Key& k : keys) {
    const size_t versions = 1 + rng() % max_versions;
    std::set<uint64_t> lsns;
    while (lsns.size() < versions) {
      lsns.insert(kLsns.start.value + rng() % (kLsns.end.value - kLsns.start.value));
    }
    bool first = true;
    for (uint64_t lsn : lsns) {
      const bool will_init = (first && rng() % 4 != 0) || rng() % 5 == 0;
      model[{k, Lsn{lsn}}] = DeltaValue{RandomBytes(rng, rng() % (max_len + 1)), will_init};
      first = false;
    }
  }
  return model;
}

class DeltaLayerTest : public LayerIoTest {
 protected:
  WrittenLayer Write(const DeltaModel& model, const KeyRange& range, const LsnRange& lsns = kLsns) {
    auto writer =
        DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range, lsns);
    if (!writer.has_value()) common::DieWithStatus("create delta writer", writer.error());
    for (const auto& [kl, v] : model) {
      const common::Status s = (*writer)->Put(kl.first, kl.second, v.bytes, v.will_init);
      if (!s.ok()) ADD_FAILURE() << s.ToString();
    }
    auto written = (*writer)->Finish();
    if (!written.has_value()) common::DieWithStatus("finish delta layer", written.error());
    return std::move(written).value();
  }

  std::unique_ptr<DeltaLayerReader> Open(const std::string& path) {
    auto reader = DeltaLayerReader::Open(ctx(), path, cache());
    if (!reader.has_value()) common::DieWithStatus("open delta layer", reader.error());
    return std::move(reader).value();
  }
};

// LSN ranges that probe the bounds around `key`'s entries.
std::vector<LsnRange> ProbeRanges(const DeltaModel& model, const Key& key, Rng& rng) {
  std::vector<LsnRange> out = {
      {Lsn{0}, Lsn::Max()}, {Lsn{0}, Lsn{0}},      kLsns,
      {Lsn{5}, Lsn{3}},     {Lsn{0}, kLsns.start}, {kLsns.end, Lsn::Max()}};
  std::vector<Lsn> lsns;
  for (auto it = model.lower_bound({key, Lsn{0}}); it != model.end() && it->first.first == key;
       ++it) {
    lsns.push_back(it->first.second);
  }
  std::shuffle(lsns.begin(), lsns.end(), rng);
  lsns.resize(std::min<size_t>(lsns.size(), 10));
  for (const Lsn l : lsns) {
    out.push_back({Lsn{0}, l});                     // excludes l
    out.push_back({Lsn{0}, Lsn{l.value + 1}});      // newest is l
    out.push_back({l, Lsn::Max()});                 // oldest is l
    out.push_back({l, Lsn{l.value + 1}});           // exactly l
    out.push_back({Lsn{l.value + 1}, Lsn::Max()});  // above l
  }
  for (int i = 0; i < 3; ++i) {
    uint64_t a = kLsns.start.value - 10 + rng() % (kLsns.end.value - kLsns.start.value + 20);
    uint64_t b = kLsns.start.value - 10 + rng() % (kLsns.end.value - kLsns.start.value + 20);
    out.push_back({Lsn{std::min(a, b)}, Lsn{std::max(a, b)}});
  }
  return out;
}

void CheckHistory(const DeltaLayerReader& reader, const DeltaModel& model, const Key& key,
                  const LsnRange& lsns, bool read_values) {
  SCOPED_TRACE(key.ToHex() + " " + lsns.ToString());
  const ExpectedHistory expected = ModelHistory(model, key, lsns);
  ASSERT_OK_AND_ASSIGN(const KeyHistory got, reader.LookupHistory(key, lsns));
  ASSERT_EQ(got.entries.size(), expected.entries.size());
  ASSERT_EQ(got.complete, expected.complete);
  for (size_t i = 0; i < got.entries.size(); ++i) {
    ASSERT_EQ(got.entries[i].key, key);
    ASSERT_EQ(got.entries[i].lsn, expected.entries[i].first);
    ASSERT_EQ(got.entries[i].blob.will_init, expected.entries[i].second->will_init);
  }
  if (!read_values) return;
  ASSERT_OK_AND_ASSIGN(const DeltaLayerReader::History history, reader.GetHistory(key, lsns));
  ASSERT_EQ(history.values.size(), expected.entries.size());
  ASSERT_EQ(history.complete, expected.complete);
  for (size_t i = 0; i < history.values.size(); ++i) {
    ASSERT_EQ(history.values[i].lsn, expected.entries[i].first);
    ASSERT_EQ(history.values[i].will_init, expected.entries[i].second->will_init);
    ASSERT_EQ(history.values[i].bytes, expected.entries[i].second->bytes);
  }
}

void CheckScans(const DeltaLayerReader& reader, const DeltaModel& model) {
  DiskBtreeCursor cursor = reader.index().NewCursor();
  ASSERT_OK(cursor.SeekFirst());
  for (const auto& [kl, v] : model) {
    ASSERT_TRUE(cursor.valid());
    Key k;
    Lsn l;
    DecodeDeltaKey(cursor.key(), &k, &l);
    ASSERT_EQ(std::make_pair(k, l), kl);
    ASSERT_EQ(BlobRef::Unpack(cursor.value()).will_init, v.will_init);
    ASSERT_OK(cursor.Next());
  }
  ASSERT_FALSE(cursor.valid());
  ASSERT_OK(cursor.SeekLast());
  for (auto it = model.rbegin(); it != model.rend(); ++it) {
    ASSERT_TRUE(cursor.valid());
    Key k;
    Lsn l;
    DecodeDeltaKey(cursor.key(), &k, &l);
    ASSERT_EQ(std::make_pair(k, l), it->first);
    ASSERT_OK(cursor.Prev());
  }
  ASSERT_FALSE(cursor.valid());
}

void CheckAll(const DeltaLayerReader& reader, const DeltaModel& model, Rng& rng,
              size_t max_keys = 400) {
  std::vector<Key> keys = DistinctKeys(model);
  std::shuffle(keys.begin(), keys.end(), rng);
  keys.resize(std::min(keys.size(), max_keys));
  for (const Key& k : keys) {
    for (const LsnRange& r : ProbeRanges(model, k, rng)) {
      ASSERT_NO_FATAL_FAILURE(CheckHistory(reader, model, k, r, rng() % 4 == 0));
    }
  }
  for (const Key& k : AbsentKeys(DistinctKeys(model), 100, rng)) {
    ASSERT_NO_FATAL_FAILURE(CheckHistory(reader, model, k, {Lsn{0}, Lsn::Max()}, true));
  }
  ASSERT_NO_FATAL_FAILURE(CheckScans(reader, model));
}

TEST(DeltaKeyTest, EncodingOrderIsKeyThenLsnOrder) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  std::vector<std::pair<Key, Lsn>> entries;
  const std::vector<Key> keys = GenerateKeys(KeyShape::kMixedKinds, 50, rng);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t lsn = rng() % 3 == 0 ? rng() : rng() % 1000;
    entries.emplace_back(keys[rng() % keys.size()], Lsn{lsn});
  }
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    const auto a = EncodeDeltaKey(entries[i].first, entries[i].second);
    const auto b = EncodeDeltaKey(entries[i + 1].first, entries[i + 1].second);
    const int cmp = std::memcmp(a.data(), b.data(), a.size());
    EXPECT_EQ(cmp < 0, entries[i] < entries[i + 1]);
    EXPECT_EQ(cmp == 0, entries[i] == entries[i + 1]);
    Key k;
    Lsn l;
    DecodeDeltaKey(a, &k, &l);
    EXPECT_EQ(std::make_pair(k, l), entries[i]);
  }
  const auto e = EncodeDeltaKey(Key::Min(), Lsn{0x0102030405060708});
  EXPECT_EQ(e[18], std::byte{0x01});
  EXPECT_EQ(e[25], std::byte{0x08});
}

TEST_P(DeltaLayerTest, EmptyLayer) {
  const WrittenLayer written = Write({}, KeyRange::All());
  EXPECT_EQ(written.summary.kind, LayerKind::kDelta);
  EXPECT_EQ(written.summary.entry_count, 0u);
  auto reader = Open(written.path);
  EXPECT_EQ(reader->summary(), written.summary);
  Rng rng(1);
  CheckAll(*reader, {}, rng);
}

TEST_P(DeltaLayerTest, SingleEntry) {
  const Key k = Key::RelBlock({1663, 5, 16384, 0}, 3);
  const DeltaModel model = {{{k, Lsn{0x2000}}, {Bytes(50, std::byte{9}), false}}};
  auto reader = Open(Write(model, KeyRange::Single(k)).path);
  ASSERT_OK_AND_ASSIGN(const auto history, reader->GetHistory(k, {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(history.values.size(), 1u);
  EXPECT_FALSE(history.complete);
  EXPECT_EQ(history.values[0].bytes, Bytes(50, std::byte{9}));
  Rng rng(2);
  CheckAll(*reader, model, rng);
}

TEST_P(DeltaLayerTest, HistoryStopsAtWillInitInTheMiddle) {
  const Key k = Key::RelBlock({1663, 5, 16384, 0}, 3);
  DeltaModel model;
  for (uint64_t i = 1; i <= 6; ++i) {
    model[{k, Lsn{0x1000 + 0x10 * i}}] = {Bytes(i, std::byte(i)), i == 1 || i == 4};
  }
  model[{k.Next(), Lsn{0x1005}}] = {Bytes(3, std::byte{0xEE}), true};
  auto reader = Open(Write(model, KeyRange::All()).path);
  ASSERT_OK_AND_ASSIGN(const auto all, reader->GetHistory(k, {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(all.values.size(), 3u);  // 0x1060, 0x1050, 0x1040 (will_init)
  EXPECT_TRUE(all.complete);
  EXPECT_EQ(all.values[0].lsn, Lsn{0x1060});
  EXPECT_EQ(all.values[2].lsn, Lsn{0x1040});
  EXPECT_TRUE(all.values[2].will_init);
  EXPECT_EQ(all.values[2].bytes, Bytes(4, std::byte{4}));
  ASSERT_OK_AND_ASSIGN(const auto below, reader->GetHistory(k, {Lsn{0}, Lsn{0x1040}}));
  ASSERT_EQ(below.values.size(), 3u);  // 0x1030, 0x1020, 0x1010 (will_init)
  EXPECT_TRUE(below.complete);
  ASSERT_OK_AND_ASSIGN(const auto part, reader->LookupHistory(k, {Lsn{0x1015}, Lsn{0x1031}}));
  ASSERT_EQ(part.entries.size(), 2u);  // 0x1030, 0x1020: the range ends first
  EXPECT_FALSE(part.complete);
  ASSERT_OK_AND_ASSIGN(const auto none, reader->LookupHistory(k, {Lsn{0}, Lsn{0}}));
  EXPECT_TRUE(none.entries.empty());
  ASSERT_OK_AND_ASSIGN(const auto absent, reader->LookupHistory(k.Add(5), {Lsn{0}, Lsn::Max()}));
  EXPECT_TRUE(absent.entries.empty());
  EXPECT_FALSE(absent.complete);
}

TEST_P(DeltaLayerTest, ModelBasedAllKeyShapes) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  for (KeyShape shape : kAllShapes) {
    SCOPED_TRACE(ShapeName(shape));
    const std::vector<Key> keys = GenerateKeys(shape, 300 + rng() % 700, rng);
    const DeltaModel model = RandomDeltaModel(keys, rng, 6, 200);
    const KeyRange range = rng() % 2 == 0 ? RangeOf(keys) : KeyRange::All();
    const WrittenLayer written = Write(model, range);
    EXPECT_EQ(written.summary.entry_count, model.size());
    auto reader = Open(written.path);
    ASSERT_NO_FATAL_FAILURE(CheckAll(*reader, model, rng, 40));
    ASSERT_TRUE(std::filesystem::remove(written.path));
  }
}

TEST_P(DeltaLayerTest, ManyVersionsOfFewKeys) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const std::vector<Key> keys = GenerateKeys(KeyShape::kDenseBlocks, 5, rng);
  const DeltaModel model = RandomDeltaModel(keys, rng, 1500, 20);
  auto reader = Open(Write(model, RangeOf(keys)).path);
  EXPECT_GE(reader->summary().index_depth, 2u);
  ASSERT_NO_FATAL_FAILURE(CheckAll(*reader, model, rng, 2));
}

// The big case, with a plain sorted vector as the model (a std::map of
// 200k entries would cost more than the layer under ASan): random keys
// share almost no prefix, so fan-out is lowest and the index has 3 levels.
struct BigEntry {
  Key key;
  Lsn lsn;
  bool will_init = false;
};

Bytes BigValue(size_t i) {
  Bytes v(i % 5);
  for (size_t j = 0; j < v.size(); ++j) v[j] = std::byte((i >> (8 * j)) & 0xFF);
  return v;
}

std::vector<BigEntry> BigEntries(Rng& rng, size_t keys) {
  std::vector<Key> distinct;
  for (size_t i = 0; i < keys; ++i) distinct.push_back(RandomKey(rng));
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<BigEntry> entries;
  for (const Key& k : distinct) {
    const uint64_t versions = 1 + rng() % 3;
    for (uint64_t v = 0; v < versions; ++v) {
      entries.push_back({k, Lsn{0x1000 + 0x100 * v}, v == 0 || rng() % 3 == 0});
    }
  }
  return entries;
}

// A full forward scan, and backward scans from random seek points (a full
// backward scan is in the model-based tests; here it would double the cost).
void CheckBigScans(const DeltaLayerReader& reader, const std::vector<BigEntry>& entries, Rng& rng) {
  DiskBtreeCursor cursor = reader.index().NewCursor();
  ASSERT_OK(cursor.SeekFirst());
  Key k;
  Lsn l;
  for (const BigEntry& e : entries) {
    ASSERT_TRUE(cursor.valid());
    DecodeDeltaKey(cursor.key(), &k, &l);
    ASSERT_TRUE(k == e.key && l == e.lsn);
    ASSERT_OK(cursor.Next());
  }
  ASSERT_FALSE(cursor.valid());
  for (int n = 0; n < 20; ++n) {
    const size_t start = n == 0 ? entries.size() - 1 : rng() % entries.size();
    const size_t steps = n == 1 ? start + 1 : std::min<size_t>(2000, start + 1);
    ASSERT_OK(cursor.SeekLE(EncodeDeltaKey(entries[start].key, entries[start].lsn)));
    for (size_t s = 0; s < steps; ++s) {
      ASSERT_TRUE(cursor.valid());
      DecodeDeltaKey(cursor.key(), &k, &l);
      ASSERT_TRUE(k == entries[start - s].key && l == entries[start - s].lsn);
      ASSERT_OK(cursor.Prev());
    }
    if (steps == start + 1) {
      ASSERT_FALSE(cursor.valid());  // walked off the first entry
    }
  }
}

// Histories of a sample of keys, read and compared with the vector.
void CheckBigHistories(const DeltaLayerReader& reader, const std::vector<BigEntry>& entries,
                       Rng& rng) {
  for (int n = 0; n < 300; ++n) {
    const size_t i = rng() % entries.size();
    const Key key = n % 3 == 0 ? RandomKey(rng) : entries[i].key;
    auto end = std::upper_bound(entries.begin(), entries.end(), key,
                                [](const Key& k, const BigEntry& e) { return k < e.key; });
    ASSERT_OK_AND_ASSIGN(const auto history, reader.GetHistory(key, {Lsn{0}, Lsn::Max()}));
    size_t got = 0;
    for (auto it = end; it != entries.begin() && std::prev(it)->key == key; --it, ++got) {
      const BigEntry& e = *std::prev(it);
      ASSERT_LT(got, history.values.size());
      ASSERT_EQ(history.values[got].lsn, e.lsn);
      ASSERT_EQ(history.values[got].bytes, BigValue(static_cast<size_t>(&e - entries.data())));
      if (e.will_init) {
        ++got;
        break;
      }
    }
    ASSERT_EQ(history.values.size(), got) << key.ToHex();
  }
}

TEST_P(DeltaLayerTest, HundredsOfThousandsOfEntriesMakeADeepIndex) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const std::vector<BigEntry> entries = BigEntries(rng, 100000);
  ASSERT_GE(entries.size(), 180000u);
  auto writer = DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                         KeyRange::All(), kLsns);
  ASSERT_OK(writer);
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_OK((*writer)->Put(entries[i].key, entries[i].lsn, BigValue(i), entries[i].will_init));
  }
  ASSERT_OK_AND_ASSIGN(const WrittenLayer written, (*writer)->Finish());
  EXPECT_GE(written.summary.index_depth, 3u);
  EXPECT_EQ(written.summary.entry_count, entries.size());
  RecordProperty("entries", std::to_string(entries.size()));
  RecordProperty("index_depth", std::to_string(written.summary.index_depth));
  RecordProperty("index_nodes", std::to_string(written.summary.index_node_count));
  RecordProperty("file_bytes", std::to_string(written.summary.file_length));
  auto reader = Open(written.path);
  ASSERT_NO_FATAL_FAILURE(CheckBigScans(*reader, entries, rng));
  ASSERT_NO_FATAL_FAILURE(CheckBigHistories(*reader, entries, rng));
}

// ------------------------------------------------------- vectored reads

// Lookups for GetHistories: every key of `model` once with a random probe
// range, some twice (overlapping ranges), absent keys, and empty ranges.
std::vector<HistoryLookup> RandomLookups(const DeltaModel& model, Rng& rng) {
  std::vector<HistoryLookup> lookups;
  const std::vector<Key> keys = DistinctKeys(model);
  for (const Key& k : keys) {
    const std::vector<LsnRange> ranges = ProbeRanges(model, k, rng);
    lookups.push_back({k, ranges[rng() % ranges.size()]});
    if (rng() % 8 == 0) lookups.push_back({k, {Lsn{0}, Lsn::Max()}});
  }
  for (const Key& k : AbsentKeys(keys, 50, rng)) lookups.push_back({k, {Lsn{0}, Lsn::Max()}});
  lookups.push_back({keys.front(), {Lsn{0}, Lsn{0}}});
  std::shuffle(lookups.begin(), lookups.end(), rng);
  return lookups;
}

void ExpectHistoryMatches(const DeltaModel& model, const HistoryLookup& lookup,
                          const common::Result<DeltaLayerReader::History>& got) {
  SCOPED_TRACE(lookup.key.ToHex() + " " + lookup.lsns.ToString());
  const ExpectedHistory expected = ModelHistory(model, lookup.key, lookup.lsns);
  ASSERT_OK(got);
  ASSERT_EQ(got->complete, expected.complete);
  ASSERT_EQ(got->values.size(), expected.entries.size());
  for (size_t i = 0; i < got->values.size(); ++i) {
    ASSERT_EQ(got->values[i].lsn, expected.entries[i].first);
    ASSERT_EQ(got->values[i].will_init, expected.entries[i].second->will_init);
    ASSERT_EQ(got->values[i].bytes, expected.entries[i].second->bytes);
  }
}

// The plan GetHistories should make: the blobs of every lookup's history.
VectoredReadPlan ExpectedPlan(const DeltaLayerReader& reader,
                              const std::vector<HistoryLookup>& lookups, size_t max_read_bytes) {
  std::vector<BlobRef> blobs;
  for (const HistoryLookup& l : lookups) {
    auto found = reader.LookupHistory(l.key, l.lsns);
    if (!found.has_value()) ADD_FAILURE() << found.error().ToString();
    if (!found.has_value()) continue;
    for (const DeltaEntry& e : found->entries) blobs.push_back(e.blob);
  }
  return VectoredReadPlan::Build(blobs, reader.planner_options(max_read_bytes));
}

// Many keys, thousands of blobs: every history GetHistories returns matches
// the model, and all values come from one engine batch of exactly the reads
// the planner plans for those blobs (the index is warm, so it reads nothing).
TEST_P(DeltaLayerTest, GetHistoriesMatchTheModelInOneBatch) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const DeltaModel model =
      RandomDeltaModel(GenerateKeys(KeyShape::kSparseRelations, 1500, rng), rng, 5, 300);
  const WrittenLayer written = Write(model, KeyRange::All());
  pageserver::testing::CountingEngine counting(engine());
  virtual_file::IoContext counted = ctx();
  counted.engine = &counting;
  ASSERT_OK_AND_ASSIGN(auto reader, DeltaLayerReader::Open(counted, written.path, cache()));
  ASSERT_LT(reader->summary().index_node_count, 512u);  // the whole index fits the cache
  for (const size_t max_read_bytes : {kDefaultMaxVectoredReadBytes, size_t{4096}}) {
    SCOPED_TRACE("max_read_bytes " + std::to_string(max_read_bytes));
    const std::vector<HistoryLookup> lookups = RandomLookups(model, rng);
    const VectoredReadPlan plan = ExpectedPlan(*reader, lookups, max_read_bytes);  // warms
    ASSERT_GT(plan.blob_count(), 1000u);
    ASSERT_GT(plan.reads().size(), 1u);
    const uint64_t batches = counting.batches();
    const uint64_t reads = counting.reads();
    const auto results = reader->GetHistories(lookups, max_read_bytes);
    EXPECT_EQ(counting.batches() - batches, 1u);
    EXPECT_EQ(counting.reads() - reads, plan.reads().size());
    ASSERT_EQ(results.size(), lookups.size());
    for (size_t i = 0; i < lookups.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(ExpectHistoryMatches(model, lookups[i], results[i]));
    }
  }
}

TEST_P(DeltaLayerTest, GetHistoriesWithoutValuesToReadDoNoIo) {
  const Key k = Key::RelBlock({1663, 5, 16384, 0}, 3);
  const DeltaModel model = {{{k, Lsn{0x2000}}, {Bytes(50, std::byte{9}), true}}};
  const WrittenLayer written = Write(model, KeyRange::Single(k));
  pageserver::testing::CountingEngine counting(engine());
  virtual_file::IoContext counted = ctx();
  counted.engine = &counting;
  ASSERT_OK_AND_ASSIGN(auto reader, DeltaLayerReader::Open(counted, written.path, cache()));
  const std::vector<HistoryLookup> lookups = {
      {k.Next(), {Lsn{0}, Lsn::Max()}},  // outside the key range
      {k, {Lsn{0}, Lsn{0x2000}}},        // below the only entry
      {k, {Lsn{5}, Lsn{5}}}};            // empty range

  ASSERT_OK(reader->LookupHistory(k, {Lsn{0}, Lsn::Max()}));  // warms the index
  const uint64_t requests = counting.requests();
  const auto results = reader->GetHistories(lookups);
  EXPECT_EQ(counting.requests(), requests);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    ASSERT_OK(r);
    EXPECT_TRUE(r->values.empty());
    EXPECT_FALSE(r->complete);
  }
  EXPECT_TRUE(reader->GetHistories({}).empty());
}

// A blob damaged on disk fails exactly the lookups whose histories include
// it; every other lookup of the same batch reads correctly.
TEST_P(DeltaLayerTest, GetHistoriesFailOnlyTheLookupsOfADamagedBlob) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const DeltaModel model =
      RandomDeltaModel(GenerateKeys(KeyShape::kDenseBlocks, 300, rng), rng, 4, 100);
  const WrittenLayer written = Write(model, KeyRange::All());
  auto reader = Open(written.path);
  const std::vector<HistoryLookup> lookups = RandomLookups(model, rng);
  // A blob some lookup needs, damaged in its last payload byte.
  std::vector<std::vector<BlobRef>> needed;
  for (const HistoryLookup& l : lookups) {
    ASSERT_OK_AND_ASSIGN(const KeyHistory h, reader->LookupHistory(l.key, l.lsns));
    needed.emplace_back();
    for (const DeltaEntry& e : h.entries) needed.back().push_back(e.blob);
  }
  std::vector<BlobRef> all;
  for (const auto& n : needed) all.insert(all.end(), n.begin(), n.end());
  ASSERT_FALSE(all.empty());
  const BlobRef damaged = all[rng() % all.size()];
  Bytes file = pageserver::testing::ReadWholeFile(written.path);
  file[damaged.end() - 1] ^= std::byte{0x01};
  pageserver::testing::WriteWholeFile(written.path, file);
  const auto results = reader->GetHistories(lookups);
  size_t failed = 0;
  for (size_t i = 0; i < lookups.size(); ++i) {
    if (std::find(needed[i].begin(), needed[i].end(), damaged) != needed[i].end()) {
      EXPECT_THAT(results[i], StatusIs(StatusCode::kCorruption, HasSubstr(written.path)));
      ++failed;
    } else {
      ASSERT_NO_FATAL_FAILURE(ExpectHistoryMatches(model, lookups[i], results[i]));
    }
  }
  EXPECT_GE(failed, 1u);
}

TEST_P(DeltaLayerTest, WriterRejectionsLeaveItUsable) {
  const Key a = Key::RelBlock({1663, 5, 16384, 0}, 10);
  const KeyRange range{a, a.Add(100)};
  auto writer =
      DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range, kLsns);
  ASSERT_OK(writer);
  DeltaLayerWriter& w = **writer;
  const Bytes v(10, std::byte{1});
  const Lsn l{0x2000};
  EXPECT_THAT(w.Put(a.Add(100), l, v, true), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Put(a, kLsns.end, v, true), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Put(a, Lsn{kLsns.start.value - 1}, v, true),
              StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(w.Put(a.Add(5), l, v, true));
  EXPECT_THAT(w.Put(a.Add(5), l, v, false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Put(a.Add(5), Lsn{l.value - 1}, v, false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Put(a.Add(4), Lsn{l.value + 1}, v, false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(w.Put(a.Add(5), Lsn{l.value + 1}, Bytes(kMaxValueSize + 1), false),
              StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(w.Put(a.Add(5), Lsn{l.value + 1}, v, false));
  ASSERT_OK(w.Put(a.Add(6), kLsns.start, v, true));
  ASSERT_OK(w.Put(a.Add(6), Lsn{kLsns.end.value - 1}, v, false));
  EXPECT_EQ(w.entry_count(), 4u);
  EXPECT_EQ(w.bytes_written(), 4 * (kBlobHeaderSize + v.size()));
  ASSERT_OK_AND_ASSIGN(const WrittenLayer written, w.Finish());
  EXPECT_EQ(written.summary.value_bytes, 4 * v.size());
  auto reader = Open(written.path);
  ASSERT_OK_AND_ASSIGN(const auto h5, reader->GetHistory(a.Add(5), {Lsn{0}, Lsn::Max()}));
  ASSERT_EQ(h5.values.size(), 2u);
  EXPECT_TRUE(h5.complete);
  ASSERT_OK_AND_ASSIGN(const auto h4, reader->LookupHistory(a.Add(4), {Lsn{0}, Lsn::Max()}));
  EXPECT_TRUE(h4.entries.empty());
  EXPECT_THAT(DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(), range,
                                       {Lsn{5}, Lsn{5}}),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(DeltaLayerTest, FinishPublishesUnderTheLayerNameOnly) {
  Rng rng(3);
  const std::vector<Key> keys = GenerateKeys(KeyShape::kSparseRelations, 300, rng);
  const DeltaModel model = RandomDeltaModel(keys, rng, 4, 100);
  const KeyRange range = RangeOf(keys);
  const std::string name = LayerName::Delta(range, kLsns).ToString();
  const WrittenLayer written = Write(model, range);
  EXPECT_EQ(written.path, dir().File(name));
  EXPECT_EQ(written.summary.name(), LayerName::Delta(range, kLsns));
  EXPECT_THAT(ListDir(dir().path()), ElementsAre(name));
  EXPECT_EQ(std::filesystem::file_size(written.path), written.summary.file_length);
}

TEST_P(DeltaLayerTest, WriterDroppedWithoutFinishLeavesNoFiles) {
  Rng rng(4);
  {
    auto writer = DeltaLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                           KeyRange::All(), kLsns);
    ASSERT_OK(writer);
    const DeltaModel model =
        RandomDeltaModel(GenerateKeys(KeyShape::kRandom, 2000, rng), rng, 3, 50);
    for (const auto& [kl, v] : model) {
      ASSERT_OK((*writer)->Put(kl.first, kl.second, v.bytes, v.will_init));
    }
    for (const std::string& f : ListDir(dir().path())) EXPECT_TRUE(IsTemporaryLayerFileName(f));
  }
  EXPECT_TRUE(ListDir(dir().path()).empty());
}

TEST_P(DeltaLayerTest, OpenErrors) {
  EXPECT_THAT(DeltaLayerReader::Open(ctx(), dir().File("nope"), cache()),
              StatusIs(StatusCode::kNotFound));
  auto image = ImageLayerWriter::Create(ctx(), dir().path(), TestTenant(), TestTimeline(),
                                        KeyRange::All(), Lsn{7});
  ASSERT_OK(image);
  ASSERT_OK_AND_ASSIGN(const WrittenLayer i, (*image)->Finish());
  EXPECT_THAT(DeltaLayerReader::Open(ctx(), i.path, cache()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is an image layer")));
}

TEST_P(DeltaLayerTest, IndexPointingOutsideTheValueRegionIsCorruption) {
  BlobEncoder encoder;
  ASSERT_OK_AND_ASSIGN(const auto blob,
                       encoder.Encode(Bytes(40, std::byte{3}), false, Compression::kNone));
  const Bytes values = ToBytes(blob);
  const uint32_t len = static_cast<uint32_t>(blob.size());
  LayerSummary identity;
  identity.kind = LayerKind::kDelta;
  identity.key_range = KeyRange::All();
  identity.lsn_range = kLsns;
  const Key k = Key::RelBlock({1, 2, 3, 0}, 0);
  std::vector<std::pair<Bytes, uint64_t>> index = {
      {ToBytes(EncodeDeltaKey(k, Lsn{0x1100})), BlobRef{kLayerBlockSize, len, false}.Pack()},
      {ToBytes(EncodeDeltaKey(k, Lsn{0x1200})), BlobRef{kLayerBlockSize + 64, len, false}.Pack()},
      {ToBytes(EncodeDeltaKey(k.Next(), Lsn{0x1100})), BlobRef{kLayerBlockSize, len, true}.Pack()},
  };
  const std::string path = dir().File("raw");
  WriteRawLayer(path, identity, values, index);
  ASSERT_OK_AND_ASSIGN(auto reader, DeltaLayerReader::Open(ctx(), path, cache()));
  ASSERT_OK_AND_ASSIGN(const auto old, reader->GetHistory(k, {Lsn{0}, Lsn{0x1200}}));
  ASSERT_EQ(old.values.size(), 1u);
  EXPECT_EQ(old.values[0].bytes, Bytes(40, std::byte{3}));
  EXPECT_THAT(
      reader->LookupHistory(k, {Lsn{0}, Lsn::Max()}),
      StatusIs(StatusCode::kCorruption, ::testing::AllOf(HasSubstr(path), HasSubstr(k.ToHex()))));
  EXPECT_THAT(reader->GetHistory(k.Next(), {Lsn{0}, Lsn::Max()}),
              StatusIs(StatusCode::kCorruption, HasSubstr("will_init")));
  // Vectored: each lookup gets its own answer, the errors only where due.
  const std::vector<HistoryLookup> lookups = {{k, {Lsn{0}, Lsn::Max()}},
                                              {k, {Lsn{0}, Lsn{0x1200}}},
                                              {k.Next(), {Lsn{0}, Lsn::Max()}},
                                              {k.Add(2), {Lsn{0}, Lsn::Max()}}};
  const auto results = reader->GetHistories(lookups);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_THAT(results[0], StatusIs(StatusCode::kCorruption, HasSubstr("outside the value region")));
  ASSERT_OK(results[1]);
  ASSERT_EQ(results[1]->values.size(), 1u);
  EXPECT_EQ(results[1]->values[0].bytes, Bytes(40, std::byte{3}));
  EXPECT_THAT(results[2], StatusIs(StatusCode::kCorruption, HasSubstr("will_init")));
  ASSERT_OK(results[3]);
  EXPECT_TRUE(results[3]->values.empty());
}

INSTANTIATE_TEST_SUITE_P(All, DeltaLayerTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

}  // namespace
}  // namespace pageserver::layers
