#pragma once

// Shared helpers of the layer file tests (image, delta, corruption):
// a fixture with an engine x io-mode context and a PageCache, key
// generators whose shapes stress the B-tree's prefix compression, random
// values, models, and a way to write hand-made layer files.

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "layers/blob.h"
#include "layers/delta_layer.h"
#include "layers/disk_btree.h"
#include "layers/image_layer.h"
#include "layers/key.h"
#include "layers/layer_summary.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers::test_util {

using Bytes = std::vector<std::byte>;
using Rng = std::mt19937_64;

inline TenantId TestTenant() {
  TenantId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = std::byte(0xA0 + i);
  return id;
}

inline TimelineId TestTimeline() {
  TimelineId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = std::byte(0x10 + 3 * i);
  return id;
}

inline std::unique_ptr<page_cache::PageCache> MakeCache(uint64_t pages) {
  auto cache = page_cache::PageCache::Create({.pages = pages});
  if (!cache.has_value()) common::DieWithStatus("test page cache", cache.error());
  return std::move(cache).value();
}

// IoParamTest plus a PageCache for the readers.
class LayerIoTest : public pageserver::testing::IoParamTest {
 protected:
  void SetUp() override {
    IoParamTest::SetUp();
    cache_ = MakeCache(512);
  }
  page_cache::PageCache* cache() { return cache_.get(); }

 private:
  std::unique_ptr<page_cache::PageCache> cache_;
};

// Names of the files in `dir` (no "." and ".."), sorted.
inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Eight bytes per draw: generating test data must not dominate ASan runs.
inline Bytes RandomBytes(Rng& rng, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t word = rng();
    std::memcpy(out.data() + i, &word, std::min<size_t>(8, n - i));
  }
  return out;
}

// A page that zstd compresses well: a few random runs of repeated bytes.
inline Bytes CompressiblePage(Rng& rng, size_t n = 8192) {
  Bytes out(n);
  for (size_t i = 0; i < n;) {
    const size_t run = std::min<size_t>(n - i, 64 + rng() % 512);
    std::fill_n(out.begin() + static_cast<ptrdiff_t>(i), run, std::byte(rng() % 4));
    i += run;
  }
  return out;
}

// Key shapes: how keys share prefixes, and so how the B-tree's prefix
// compression and node fan-out vary.
enum class KeyShape {
  kDenseBlocks,      // consecutive blocks of one relation: 14-byte shared prefixes
  kRandom,           // uniform over the whole key space: almost no shared prefix
  kSparseRelations,  // a few blocks in each of many relations: prefixes change mid-key
  kCarries,          // strides across multi-field carries: prefixes shrink abruptly
  kMixedKinds,       // groups of rel/SLRU/aux/metadata keys: field1 changes
};

inline const char* ShapeName(KeyShape shape) {
  switch (shape) {
    case KeyShape::kDenseBlocks:
      return "DenseBlocks";
    case KeyShape::kRandom:
      return "Random";
    case KeyShape::kSparseRelations:
      return "SparseRelations";
    case KeyShape::kCarries:
      return "Carries";
    case KeyShape::kMixedKinds:
      return "MixedKinds";
  }
  return "?";
}

inline constexpr KeyShape kAllShapes[] = {KeyShape::kDenseBlocks, KeyShape::kRandom,
                                          KeyShape::kSparseRelations, KeyShape::kCarries,
                                          KeyShape::kMixedKinds};

inline Key RandomKey(Rng& rng) {
  Key k{static_cast<uint8_t>(rng()),  static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
        static_cast<uint32_t>(rng()), static_cast<uint8_t>(rng()),  static_cast<uint32_t>(rng())};
  return k == Key::Max() ? Key::Min() : k;
}

inline void AddShapeKeys(KeyShape shape, size_t n, Rng& rng, std::set<Key>& keys) {
  const RelTag rel{1663, 5, 16384, 0};
  switch (shape) {
    case KeyShape::kDenseBlocks:
      for (uint32_t i = 0; keys.size() < n; ++i) keys.insert(Key::RelBlock(rel, 100 + i));
      break;
    case KeyShape::kRandom:
      while (keys.size() < n) keys.insert(RandomKey(rng));
      break;
    case KeyShape::kSparseRelations:
      for (uint32_t i = 0; keys.size() < n; ++i) {
        keys.insert(Key::RelBlock(RelTag{1663, 5, 16384 + i / 5, 0}, (i % 5) * 1000));
      }
      break;
    case KeyShape::kCarries: {
      Key k{0x00, 0x7F, 0xFF, 0xFFFFFFFF, 0xFF, 0xFFFFFF00};
      while (keys.size() < n) {
        keys.insert(k);
        k = k.Add(1 + static_cast<uint32_t>(rng() % 3));
        if (rng() % 64 == 0) k = k.Add(0xFFFFFF00);  // jump to the next carry
      }
      break;
    }
    case KeyShape::kMixedKinds:
      while (keys.size() < n) {
        const size_t group = 1 + rng() % 100;
        const uint32_t base = static_cast<uint32_t>(rng() % 1000000);
        const uint32_t kind = static_cast<uint32_t>(rng() % 4);
        for (size_t i = 0; i < group && keys.size() < n; ++i) {
          const uint32_t b = base + static_cast<uint32_t>(i);
          if (kind == 0) keys.insert(Key::RelBlock(RelTag{1663, 5, 16384 + base % 7, 0}, b));
          if (kind == 1) keys.insert(Key::SlruBlock(SlruKind::kClog, base % 3, b));
          if (kind == 2) keys.insert(Key::TwoPhaseFile(b));
          if (kind == 3) keys.insert(Key{0x06, b, base, b * 7, 1, b});
        }
      }
      break;
  }
}

// n distinct keys of `shape`, sorted.
inline std::vector<Key> GenerateKeys(KeyShape shape, size_t n, Rng& rng) {
  std::set<Key> keys;
  AddShapeKeys(shape, n, rng, keys);
  return {keys.begin(), keys.end()};
}

// Keys not in `present`: neighbours of present keys, the extremes, random keys.
inline std::vector<Key> AbsentKeys(const std::vector<Key>& present, size_t n, Rng& rng) {
  const std::set<Key> set(present.begin(), present.end());
  std::vector<Key> absent;
  auto add = [&](const Key& k) {
    if (!set.contains(k) && absent.size() < n) absent.push_back(k);
  };
  add(Key::Min());
  for (size_t i = 0; i < present.size() && absent.size() <= n / 2; i += 1 + rng() % 7) {
    if (present[i] != Key::Max()) add(present[i].Next());
  }
  while (absent.size() < n) add(RandomKey(rng));
  return absent;
}

// The smallest range holding all keys; a one-key range at Min when empty.
inline KeyRange RangeOf(const std::vector<Key>& keys) {
  if (keys.empty()) return KeyRange::Single(Key::Min());
  return KeyRange{keys.front(), keys.back().Next()};
}

// ------------------------------------------------------------ delta model

struct DeltaValue {
  Bytes bytes;
  bool will_init = false;
};
using DeltaModel = std::map<std::pair<Key, Lsn>, DeltaValue>;

inline std::vector<Key> DistinctKeys(const DeltaModel& model) {
  std::vector<Key> keys;
  for (const auto& [kl, v] : model) {
    if (keys.empty() || keys.back() != kl.first) keys.push_back(kl.first);
  }
  return keys;
}

// The history LookupHistory must return for `key` in `lsns` (newest first,
// stopping after a will_init entry).
struct ExpectedHistory {
  std::vector<std::pair<Lsn, const DeltaValue*>> entries;
  bool complete = false;
};

inline ExpectedHistory ModelHistory(const DeltaModel& model, const Key& key, const LsnRange& lsns) {
  ExpectedHistory out;
  if (lsns.empty()) return out;
  auto it = model.lower_bound({key, lsns.end});
  while (it != model.begin()) {
    --it;
    if (it->first.first != key || it->first.second < lsns.start) break;
    out.entries.emplace_back(it->first.second, &it->second);
    if (it->second.will_init) {
      out.complete = true;
      break;
    }
  }
  return out;
}

// ------------------------------------------------------- hand-made layers

// Collects B-tree nodes in memory.
class VectorSink : public BtreeNodeSink {
 public:
  common::Status AppendNode(std::span<const std::byte> node) override {
    bytes.insert(bytes.end(), node.begin(), node.end());
    return common::Status::Ok();
  }
  Bytes bytes;
};

// Writes a layer file from raw parts: `values` is the value region (from
// offset 8192), `index` the (index key, u64) entries in order. The summary's
// layout fields are computed; `identity` gives the rest.
inline LayerSummary WriteRawLayer(const std::string& path, LayerSummary identity,
                                  const Bytes& values,
                                  const std::vector<std::pair<Bytes, uint64_t>>& index) {
  VectorSink sink;
  DiskBtreeBuilder builder(identity.index_key_width(), &sink);
  for (const auto& [key, value] : index) {
    if (!builder.Append(key, value).ok()) ADD_FAILURE() << "raw layer index append";
  }
  auto shape = builder.Finish();
  if (!shape.has_value()) common::DieWithStatus("raw layer index", shape.error());
  LayerSummary& s = identity;
  s.value_region_end = kLayerBlockSize + values.size();
  s.index_start_block = (s.value_region_end + kLayerBlockSize - 1) / kLayerBlockSize;
  s.index_node_count = shape->node_count;
  s.index_root_block = shape->root_block;
  s.index_depth = shape->depth;
  s.entry_count = index.size();
  s.file_length = (s.index_start_block + s.index_node_count) * kLayerBlockSize;
  Bytes file(s.file_length);
  const auto block0 = EncodeSummary(s);
  std::copy(block0.begin(), block0.end(), file.begin());
  std::copy(values.begin(), values.end(), file.begin() + kLayerBlockSize);
  std::copy(sink.bytes.begin(), sink.bytes.end(),
            file.begin() + static_cast<ptrdiff_t>(s.index_start_block * kLayerBlockSize));
  pageserver::testing::WriteWholeFile(path, file);
  return s;
}

inline Bytes ToBytes(std::span<const std::byte> s) { return Bytes(s.begin(), s.end()); }

// Byte equality through memcmp: the corruption tests compare 8 KiB values
// tens of thousands of times, and std::vector's operator== is a byte loop
// in the debug build. Use as ASSERT_TRUE(SameBytes(got, want)) << context.
inline bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace pageserver::layers::test_util
