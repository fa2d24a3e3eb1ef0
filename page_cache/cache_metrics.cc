#include "page_cache/cache_metrics.h"

#include <algorithm>
#include <string>

namespace pageserver::page_cache {

using common::Counter;
using common::Registry;

double PageCacheStats::hit_rate() const {
  const uint64_t n = total_accesses();
  if (n == 0) return 0.0;
  return std::min(1.0, static_cast<double>(total_hits()) / static_cast<double>(n));
}

namespace {

std::array<Counter*, kNumBlockKinds> PerKind(Registry& r, std::string_view name,
                                             std::string_view help) {
  std::array<Counter*, kNumBlockKinds> out{};
  for (BlockKind kind : kAllBlockKinds) {
    out[BlockKindIndex(kind)] =
        &r.GetCounter(name, help, {{"kind", std::string(BlockKindName(kind))}});
  }
  return out;
}

void AddDelta(Counter* counter, uint64_t now, uint64_t before) {
  if (counter != nullptr && now > before) counter->IncrementBy(now - before);
}

}  // namespace

CacheMetrics::Series CacheMetrics::Register(Registry& r) {
  constexpr std::string_view kSearches = "ps_page_cache_victim_searches_total";
  constexpr std::string_view kSearchesHelp =
      "Slot searches of PageCache misses, by outcome (free slot, evicted page, all pinned).";
  constexpr std::string_view kFills = "ps_page_cache_fills_total";
  constexpr std::string_view kFillsHelp = "Block reads into PageCache slots, by result.";
  Series s;
  s.accesses = PerKind(r, "ps_page_cache_accesses_total", "PageCache reads, by block kind.");
  s.hits = PerKind(r, "ps_page_cache_hits_total",
                   "PageCache reads that found the block cached, by block kind.");
  s.misses = PerKind(r, "ps_page_cache_misses_total",
                     "PageCache reads that did not find the block ready (read it or waited for "
                     "another read of it), by block kind.");
  s.fills_ok = &r.GetCounter(kFills, kFillsHelp, {{"result", "ok"}});
  s.fills_failed = &r.GetCounter(kFills, kFillsHelp, {{"result", "error"}});
  s.victim_found_empty = &r.GetCounter(kSearches, kSearchesHelp, {{"outcome", "found_empty"}});
  s.victim_found_evicted = &r.GetCounter(kSearches, kSearchesHelp, {{"outcome", "found_evicted"}});
  s.victim_errors = &r.GetCounter(kSearches, kSearchesHelp, {{"outcome", "error"}});
  s.victim_iterations = &r.GetCounter("ps_page_cache_victim_search_iterations_total",
                                      "Slots examined by the PageCache clock hand.");
  s.evictions = &r.GetCounter("ps_page_cache_evictions_total",
                              "Valid pages evicted from the PageCache to make room.");
  s.size_pages = &r.GetGauge("ps_page_cache_size_pages", "PageCache size in 8 KiB slots.");
  s.pinned = &r.GetGauge("ps_page_cache_pinned_pages",
                         "PageCache slots pinned by readers at the last tick.");
  return s;
}

CacheMetrics::CacheMetrics(Registry* registry, uint64_t pages)
    : enabled_(registry != nullptr), series_(registry ? Register(*registry) : Series{}) {
  if (enabled_) series_.size_pages->Set(static_cast<double>(pages));
}

double CacheMetrics::Publish(const PageCacheStats& now) {
  const uint64_t accesses = now.total_accesses() - last_.total_accesses();
  const uint64_t hits = now.total_hits() - last_.total_hits();
  if (enabled_) AddDeltas(now);
  last_ = now;
  if (accesses == 0) return now.hit_rate();
  return std::min(1.0, static_cast<double>(hits) / static_cast<double>(accesses));
}

void CacheMetrics::AddDeltas(const PageCacheStats& now) {
  for (size_t k = 0; k < kNumBlockKinds; ++k) {
    AddDelta(series_.accesses[k], now.accesses[k], last_.accesses[k]);
    AddDelta(series_.hits[k], now.hits[k], last_.hits[k]);
    AddDelta(series_.misses[k], now.misses[k], last_.misses[k]);
  }
  AddDelta(series_.fills_ok, now.fills_ok, last_.fills_ok);
  AddDelta(series_.fills_failed, now.fills_failed, last_.fills_failed);
  AddDelta(series_.victim_found_empty, now.victim_found_empty, last_.victim_found_empty);
  AddDelta(series_.victim_found_evicted, now.victim_found_evicted, last_.victim_found_evicted);
  AddDelta(series_.victim_errors, now.victim_errors, last_.victim_errors);
  AddDelta(series_.victim_iterations, now.victim_iterations, last_.victim_iterations);
  AddDelta(series_.evictions, now.evictions, last_.evictions);
  series_.pinned->Set(static_cast<double>(now.pinned));
}

}  // namespace pageserver::page_cache
