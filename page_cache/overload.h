#pragma once

// The PageCache overload signal: the replacement rate (evictions of valid
// pages per second) as 1-minute and 5-minute exponentially weighted moving
// averages, and an overload gauge with hysteresis.
//
// Neon treats a sustained replacement rate above ~200/s (1-minute average)
// as the sign that the working set no longer fits the cache: the host is
// overloaded and tenants should move. We compute the averages in-process so
// the gauge is a decision, not a dashboard exercise.
//
// Usage: the cache calls RecordEvictions() on its eviction path (one relaxed
// atomic add). Someone calls Tick() periodically (the cache does it lazily
// on reads of the rate, and the daemon's housekeeping every few seconds);
// Tick() folds the evictions since the last tick into the averages using
// the real elapsed time from the injected clock, so irregular ticks are
// handled exactly.
//
// Averages: a tick `dt` seconds after the previous one, with `n` evictions
// pending, is one sample r = n / dt of the rate over that interval, folded as
//
//   avg = avg * exp(-dt / window) + r * (1 - exp(-dt / window))
//
// with window 60 s (Rate1m) and 300 s (Rate5m): Unix load averages, but with
// the real dt instead of a fixed 5 s. This is the exact continuous-time
// average of a rate that is constant within each interval, so for a steady
// rate R the averages are R * (1 - exp(-t / window)) t seconds after the
// first tick whatever the tick pattern, and after a gap much longer than the
// window the average is simply n / dt. Worked example: 300 evictions/s from
// the first tick on gives Rate1m == 300 * (1 - exp(-1)) ~= 189.6 after 60 s.
//
// Time base: the first Tick() only reads the clock; the averages start
// there. Evictions recorded before it have no known interval: they count in
// total_evictions() and the replacements counter but not in the averages.
// A tick less than `min_tick_seconds` after the previous effective one is a
// no-op and its evictions stay pending for the next one.
//
// Overload: the gauge turns 1 once the 1-minute rate has stayed above
// `threshold_per_second` for `sustain_seconds`, and back to 0 only once it
// has stayed below `threshold_per_second * clear_fraction` for
// `sustain_seconds` (hysteresis: between the two levels the state is kept).
// "Stayed" is judged at ticks: a tick that sees the rate on the other side
// ends the run. The start of a run is the instant the average crossed the
// level, found within the tick interval from the same exponential (exact
// when the rate was constant within it), not the tick that first saw it:
// the gauge flips at the first tick at least `sustain` after the crossing,
// and a tick after a long gap judges the whole gap. Example (defaults):
// 300/s from the first tick crosses 200 at 60 ln 3 = 65.9 s; ticked every
// 5 s the gauge turns 1 at 130 s, ticked every 45 s at 135 s (not 180 s).
// On entering overload, and at most every `warn_interval_seconds` while it
// lasts, spdlog::warn names the 1m and 5m rates, the threshold, the hit rate
// (percent) and the cache size ("512 MiB"); an info line says when it clears.
//
// Metrics (when a registry is given; one detector per registry, as the
// series carry no labels):
//   ps_page_cache_overloaded             gauge, 0 or 1
//   ps_page_cache_replacement_rate_1m    gauge, evictions per second
//   ps_page_cache_replacement_rate_5m    gauge, evictions per second
//   ps_page_cache_replacements_total     counter, evictions folded by Tick()
//
// Thread-safety: RecordEvictions() is lock-free; Tick() and the accessors
// are thread-safe (a mutex serializes them). No eviction is lost or counted
// twice however RecordEvictions() and Tick() interleave.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"

namespace pageserver::page_cache {

struct OverloadOptions {
  double threshold_per_second = 200.0;   // Neon's production rule of thumb
  double sustain_seconds = 60.0;         // how long the rate must stay above (or below)
  double clear_fraction = 0.8;           // leave overload below threshold * this
  double warn_interval_seconds = 300.0;  // rate limit of the warning log
  double min_tick_seconds = 1.0;         // lazy ticks closer than this are skipped
};

// What the warning log names besides the rate.
struct CacheDescription {
  double hit_rate = 0;  // 0..1
  uint64_t size_bytes = 0;
};

class OverloadDetector {
 public:
  // `clock` must outlive the detector. `registry` may be nullptr (no
  // metrics); otherwise it must outlive the detector.
  // REQUIRES: threshold_per_second > 0; 0 < clear_fraction <= 1;
  //           sustain_seconds, warn_interval_seconds, min_tick_seconds >= 0.
  OverloadDetector(const OverloadOptions& options, const common::Clock& clock,
                   common::Registry* registry);
  OverloadDetector(const OverloadDetector&) = delete;
  OverloadDetector& operator=(const OverloadDetector&) = delete;

  // Hot path: one relaxed atomic add, no lock, no allocation.
  void RecordEvictions(uint64_t n = 1) { pending_.fetch_add(n, std::memory_order_relaxed); }

  // Folds pending evictions into the averages and updates the gauge.
  // `cache` is used only for the warning message.
  void Tick(const CacheDescription& cache);

  // Evictions per second, as of the last effective tick.
  double Rate1m() const;
  double Rate5m() const;
  bool overloaded() const;
  // Every eviction recorded so far, folded or still pending.
  uint64_t total_evictions() const;
  // Evictions recorded since the last effective tick.
  uint64_t pending_evictions() const;
  // Warnings logged so far (entries into overload plus rate-limited repeats),
  // and the text of the last one ("" before the first): lets tests check the
  // rate limit and the message without capturing spdlog.
  uint64_t warnings_logged() const;
  std::string last_warning() const;
  const OverloadOptions& options() const { return options_; }

 private:
  struct Metrics {
    common::Gauge* overloaded = nullptr;
    common::Gauge* rate_1m = nullptr;
    common::Gauge* rate_5m = nullptr;
    common::Counter* replacements = nullptr;
  };
  static Metrics RegisterMetrics(common::Registry* registry);

  // One effective tick: the interval it closes and what the 1m average did.
  struct Interval {
    uint64_t start_nanos = 0;
    uint64_t end_nanos = 0;
    double start_rate_1m = 0;
    double sample = 0;  // evictions per second within the interval
  };
  // When within `interval` the 1m average crossed `level`.
  static uint64_t CrossingNanos(const Interval& interval, double level);

  // Steps of Tick(); all REQUIRE mu_ held.
  void CountLocked(uint64_t evictions);
  void AverageLocked(const Interval& interval);
  void UpdateStateLocked(const Interval& interval, const CacheDescription& cache);
  void EnterLocked(uint64_t now_nanos, const CacheDescription& cache);
  void ClearLocked(uint64_t now_nanos);
  void WarnLocked(uint64_t now_nanos, const CacheDescription& cache);
  void PublishLocked() const;

  const OverloadOptions options_;
  const common::Clock& clock_;
  const uint64_t sustain_nanos_;
  const uint64_t warn_interval_nanos_;
  const uint64_t min_tick_nanos_;
  const Metrics metrics_;

  // Written by every evicting thread; on its own cache line so evictions do
  // not bounce the line holding the mutex and the averages.
  alignas(64) std::atomic<uint64_t> pending_{0};

  alignas(64) mutable std::mutex mu_;
  // Everything below is guarded by mu_.
  std::optional<uint64_t> last_tick_nanos_;  // unset until the first tick
  double rate_1m_ = 0;
  double rate_5m_ = 0;
  uint64_t folded_ = 0;
  bool overloaded_ = false;
  std::optional<uint64_t> above_since_nanos_;  // start of the current run above threshold
  std::optional<uint64_t> below_since_nanos_;  // start of the current run below clear level
  uint64_t last_warning_nanos_ = 0;
  uint64_t warnings_logged_ = 0;
  std::string last_warning_;
};

}  // namespace pageserver::page_cache
