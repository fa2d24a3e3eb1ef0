#pragma once

// PageCacheStats (the counters, as numbers) and CacheMetrics (the same
// counters as Prometheus series in a common::Registry).
//
// The cache counts in its own atomics (per shard on the hit path, global on
// the miss path; see mapping.h) and CacheMetrics::Publish() adds what changed
// since the previous call to the registry counters. The cache publishes on
// every Tick(), which the daemon's housekeeping runs every few seconds, so a
// scrape lags the truth by at most one tick; Stats() is always exact.
//
// Series (all prefixed ps_page_cache_):
//   accesses_total{kind}                  every Read()
//   hits_total{kind}                      the page was in the cache, ready
//   misses_total{kind}                    it was not (this access read it, or
//                                         waited for another access's read)
//   fills_total{result="ok"|"error"}      block reads into slots
//   victim_searches_total{outcome}        slot searches of misses:
//                                         found_empty | found_evicted | error
//   victim_search_iterations_total        slots the clock hand examined
//   evictions_total                       valid pages evicted
//   size_pages                            gauge: slots in the cache
//   pinned_pages                          gauge: slots pinned at the last tick
// where kind is layer_summary | image_btree | delta_btree.
//
// Thread-safety: PageCacheStats is a plain value. CacheMetrics::Publish() is
// not thread-safe: the cache serializes its ticks (a snapshot must be taken
// and published under one lock, or an older snapshot could follow a newer).

#include <array>
#include <cstdint>

#include "common/metrics.h"
#include "page_cache/block_kind.h"

namespace pageserver::page_cache {

struct PageCacheStats {
  uint64_t pages = 0;
  std::array<uint64_t, kNumBlockKinds> accesses{};
  std::array<uint64_t, kNumBlockKinds> hits{};
  std::array<uint64_t, kNumBlockKinds> misses{};
  uint64_t fills_ok = 0;
  uint64_t fills_failed = 0;
  uint64_t victim_found_empty = 0;
  uint64_t victim_found_evicted = 0;
  uint64_t victim_errors = 0;
  uint64_t victim_iterations = 0;
  uint64_t evictions = 0;
  uint64_t pinned = 0;  // slots pinned when Stats() scanned them
  uint64_t free = 0;    // slots on the free list

  uint64_t total_accesses() const { return Sum(accesses); }
  uint64_t total_hits() const { return Sum(hits); }
  uint64_t total_misses() const { return Sum(misses); }
  // hits / accesses; 0 before the first access. (The counters are read one
  // by one while readers run, so a snapshot is exact only when quiescent.)
  double hit_rate() const;

 private:
  static uint64_t Sum(const std::array<uint64_t, kNumBlockKinds>& a) { return a[0] + a[1] + a[2]; }
};

class CacheMetrics {
 public:
  // `registry` may be nullptr: Publish() then only tracks the hit rate.
  // Otherwise it must outlive this object.
  CacheMetrics(common::Registry* registry, uint64_t pages);

  // Brings the registry up to `now` and returns the hit rate over the
  // accesses since the previous Publish (the cumulative one when there were
  // none). REQUIRES: `now` counters >= those of every earlier call.
  double Publish(const PageCacheStats& now);

 private:
  struct Series {
    std::array<common::Counter*, kNumBlockKinds> accesses{};
    std::array<common::Counter*, kNumBlockKinds> hits{};
    std::array<common::Counter*, kNumBlockKinds> misses{};
    common::Counter* fills_ok = nullptr;
    common::Counter* fills_failed = nullptr;
    common::Counter* victim_found_empty = nullptr;
    common::Counter* victim_found_evicted = nullptr;
    common::Counter* victim_errors = nullptr;
    common::Counter* victim_iterations = nullptr;
    common::Counter* evictions = nullptr;
    common::Gauge* size_pages = nullptr;
    common::Gauge* pinned = nullptr;
  };
  static Series Register(common::Registry& registry);
  void AddDeltas(const PageCacheStats& now);

  const bool enabled_;
  const Series series_;
  PageCacheStats last_;
};

}  // namespace pageserver::page_cache
