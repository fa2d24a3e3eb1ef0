#pragma once

// Shared pieces of the Timeline tests: a fixture with an engine per io
// parameter, a PageCache and a data directory; page and key helpers; and a
// reference model of a timeline's history.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "timeline/timeline.h"
#include "timeline/value.h"

namespace pageserver::timeline::test_util {

using Bytes = std::vector<std::byte>;

// Block `blk` of a fixed test relation (1663/5/16384 + rel).
inline layers::Key RelKey(uint32_t blk, uint32_t rel = 0) {
  return layers::Key::RelBlock(layers::RelTag{1663, 5, 16384 + rel, 0}, blk);
}

// An 8192-byte page whose bytes derive from `seed`.
inline Bytes Page(uint64_t seed) {
  Bytes page(kPageSize);
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < page.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (size_t j = 0; j < 8; ++j) page[i + j] = std::byte((x >> (8 * j)) & 0xFF);
  }
  return page;
}

inline Value ImageValue(const Bytes& bytes) { return Value::Image(bytes).value(); }
inline Value WriteValue(size_t offset, const Bytes& bytes) {
  return Value::Write(offset, bytes).value();
}
inline Value InitValue(size_t offset, const Bytes& bytes) {
  return Value::Init(offset, bytes).value();
}

// A timeline's history kept in plain maps: the expected answer of every read.
class Model {
 public:
  void Put(const layers::Key& key, layers::Lsn lsn, const Value& value) {
    history_[key].insert_or_assign(lsn, value);
  }
  // The value of `key` at `lsn`; nullopt when it has none (the tests never
  // build a history with a write and nothing below it).
  std::optional<Bytes> Get(const layers::Key& key, layers::Lsn lsn) const;
  // Copy of everything at or below `lsn` (for a branch).
  Model Below(layers::Lsn lsn) const;
  std::vector<layers::Key> Keys() const;

 private:
  std::map<layers::Key, std::map<layers::Lsn, Value>> history_;
};

// Engine, context, PageCache, metrics registry and data directory per test.
class TimelineTestBase : public testing::IoParamTest {
 protected:
  void SetUp() override;

  TimelineResources resources() { return TimelineResources{&ctx(), cache_.get(), &registry_}; }
  std::string data_dir() const { return dir().path() + "/data"; }
  // Background threads off: the tests drive flush and background steps.
  static TimelineConfig ManualConfig();

  std::shared_ptr<Timeline> CreateTimeline(layers::Lsn start, const TimelineConfig& config);
  std::shared_ptr<Timeline> Reload(std::shared_ptr<Timeline>& timeline,
                                   std::shared_ptr<Timeline> ancestor = nullptr);

  common::Registry registry_;
  std::unique_ptr<page_cache::PageCache> cache_;
  layers::TenantId tenant_;
  layers::TimelineId timeline_id_;
  TimelineConfig config_;
};

}  // namespace pageserver::timeline::test_util
