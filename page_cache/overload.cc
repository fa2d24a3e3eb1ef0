#include "page_cache/overload.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace pageserver::page_cache {

namespace {

// The Unix load-average windows; Neon's overload rule uses the 1-minute one.
constexpr double kWindow1mSeconds = 60.0;
constexpr double kWindow5mSeconds = 300.0;

uint64_t ToNanos(double seconds) { return static_cast<uint64_t>(std::llround(seconds * 1e9)); }
double ToSeconds(uint64_t nanos) { return static_cast<double>(nanos) / 1e9; }

// Exact decay for an interval of `dt` seconds during which the rate was
// `sample`: the weight of the old average is exp(-dt / window), so two ticks
// of dt/2 give the same result as one of dt.
double Ewma(double average, double sample, double dt, double window) {
  const double keep = std::exp(-dt / window);
  return average * keep + sample * (1.0 - keep);
}

// 536870912 -> "512 MiB", 1610612736 -> "1.5 GiB", 1000 -> "1000 B".
std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  if (value == std::floor(value)) return fmt::format("{:.0f} {}", value, kUnits[unit]);
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

}  // namespace

OverloadDetector::Metrics OverloadDetector::RegisterMetrics(common::Registry* registry) {
  if (registry == nullptr) return {};
  return Metrics{
      .overloaded = &registry->GetGauge(
          "ps_page_cache_overloaded",
          "1 while the 1-minute page cache replacement rate stays above the overload threshold."),
      .rate_1m = &registry->GetGauge(
          "ps_page_cache_replacement_rate_1m",
          "Evictions of valid page cache pages per second, 1-minute moving average."),
      .rate_5m = &registry->GetGauge(
          "ps_page_cache_replacement_rate_5m",
          "Evictions of valid page cache pages per second, 5-minute moving average."),
      .replacements = &registry->GetCounter("ps_page_cache_replacements_total",
                                            "Evictions of valid page cache pages."),
  };
}

OverloadDetector::OverloadDetector(const OverloadOptions& options, const common::Clock& clock,
                                   common::Registry* registry)
    : options_(options),
      clock_(clock),
      sustain_nanos_(ToNanos(options.sustain_seconds)),
      warn_interval_nanos_(ToNanos(options.warn_interval_seconds)),
      min_tick_nanos_(ToNanos(options.min_tick_seconds)),
      metrics_(RegisterMetrics(registry)) {
  assert(options.threshold_per_second > 0);
  assert(options.clear_fraction > 0 && options.clear_fraction <= 1);
  assert(options.sustain_seconds >= 0 && options.warn_interval_seconds >= 0 &&
         options.min_tick_seconds >= 0);
}

void OverloadDetector::Tick(const CacheDescription& cache) {
  std::lock_guard lock(mu_);
  const uint64_t now = clock_.NowNanos();
  if (!last_tick_nanos_) {
    last_tick_nanos_ = now;
    CountLocked(pending_.exchange(0, std::memory_order_relaxed));
    PublishLocked();
    return;
  }
  // A clock that did not move (or a lazy tick right after another) gives no
  // interval to measure a rate over: keep the evictions for the next tick.
  if (now <= *last_tick_nanos_ || now - *last_tick_nanos_ < min_tick_nanos_) return;
  const uint64_t evictions = pending_.exchange(0, std::memory_order_relaxed);
  const Interval interval{
      .start_nanos = *last_tick_nanos_,
      .end_nanos = now,
      .start_rate_1m = rate_1m_,
      .sample = static_cast<double>(evictions) / ToSeconds(now - *last_tick_nanos_),
  };
  last_tick_nanos_ = now;
  CountLocked(evictions);
  AverageLocked(interval);
  UpdateStateLocked(interval, cache);
  PublishLocked();
}

void OverloadDetector::CountLocked(uint64_t evictions) {
  folded_ += evictions;
  if (metrics_.replacements != nullptr) metrics_.replacements->IncrementBy(evictions);
}

void OverloadDetector::AverageLocked(const Interval& interval) {
  const double dt = ToSeconds(interval.end_nanos - interval.start_nanos);
  rate_1m_ = Ewma(rate_1m_, interval.sample, dt, kWindow1mSeconds);
  rate_5m_ = Ewma(rate_5m_, interval.sample, dt, kWindow5mSeconds);
}

uint64_t OverloadDetector::CrossingNanos(const Interval& interval, double level) {
  // Within the interval the average is sample + (start - sample) e^(-s/60),
  // monotone from start toward sample; it equals `level` at
  // s = 60 ln((start - sample) / (level - sample)). Callers know that the
  // level lies between the start and the end value, so the ratio is >= 1
  // and s <= dt; the clamps only guard rounding.
  const double ratio = (interval.start_rate_1m - interval.sample) / (level - interval.sample);
  const double dt = ToSeconds(interval.end_nanos - interval.start_nanos);
  const double s = ratio > 1.0 ? std::min(kWindow1mSeconds * std::log(ratio), dt) : 0.0;
  return std::min(interval.start_nanos + ToNanos(s), interval.end_nanos);
}

void OverloadDetector::UpdateStateLocked(const Interval& interval, const CacheDescription& cache) {
  const uint64_t now = interval.end_nanos;
  const double threshold = options_.threshold_per_second;
  const double clear_level = threshold * options_.clear_fraction;
  // A run starts where the average crossed into it and ends at any tick that
  // sees the average out of it.
  if (rate_1m_ > threshold) {
    if (!above_since_nanos_) above_since_nanos_ = CrossingNanos(interval, threshold);
  } else {
    above_since_nanos_.reset();
  }
  if (rate_1m_ < clear_level) {
    if (!below_since_nanos_) below_since_nanos_ = CrossingNanos(interval, clear_level);
  } else {
    below_since_nanos_.reset();
  }

  if (!overloaded_) {
    if (above_since_nanos_ && now - *above_since_nanos_ >= sustain_nanos_) EnterLocked(now, cache);
  } else if (below_since_nanos_ && now - *below_since_nanos_ >= sustain_nanos_) {
    ClearLocked(now);
  } else if (now - last_warning_nanos_ >= warn_interval_nanos_) {
    WarnLocked(now, cache);
  }
}

void OverloadDetector::EnterLocked(uint64_t now, const CacheDescription& cache) {
  overloaded_ = true;
  WarnLocked(now, cache);
}

void OverloadDetector::ClearLocked(uint64_t now) {
  overloaded_ = false;
  spdlog::info(
      "page cache overload cleared: replacement rate {:.1f}/s (1m) below {:.1f}/s for {:.0f}s "
      "(5m {:.1f}/s)",
      rate_1m_, options_.threshold_per_second * options_.clear_fraction,
      ToSeconds(now - *below_since_nanos_), rate_5m_);
}

void OverloadDetector::WarnLocked(uint64_t now, const CacheDescription& cache) {
  last_warning_nanos_ = now;
  ++warnings_logged_;
  last_warning_ = fmt::format(
      "page cache overloaded: replacement rate {:.1f}/s (1m), {:.1f}/s (5m), threshold "
      "{:.1f}/s; hit rate {:.1f}%, cache size {}: the working set no longer fits",
      rate_1m_, rate_5m_, options_.threshold_per_second, cache.hit_rate * 100.0,
      HumanBytes(cache.size_bytes));
  spdlog::warn("{}", last_warning_);
}

void OverloadDetector::PublishLocked() const {
  if (metrics_.overloaded == nullptr) return;
  metrics_.overloaded->Set(overloaded_ ? 1.0 : 0.0);
  metrics_.rate_1m->Set(rate_1m_);
  metrics_.rate_5m->Set(rate_5m_);
}

double OverloadDetector::Rate1m() const {
  std::lock_guard lock(mu_);
  return rate_1m_;
}

double OverloadDetector::Rate5m() const {
  std::lock_guard lock(mu_);
  return rate_5m_;
}

bool OverloadDetector::overloaded() const {
  std::lock_guard lock(mu_);
  return overloaded_;
}

uint64_t OverloadDetector::total_evictions() const {
  // Under mu_, no Tick() is between taking the pending count and adding it
  // to folded_, so each eviction is in exactly one of the two.
  std::lock_guard lock(mu_);
  return folded_ + pending_.load(std::memory_order_relaxed);
}

uint64_t OverloadDetector::pending_evictions() const {
  return pending_.load(std::memory_order_relaxed);
}

uint64_t OverloadDetector::warnings_logged() const {
  std::lock_guard lock(mu_);
  return warnings_logged_;
}

std::string OverloadDetector::last_warning() const {
  std::lock_guard lock(mu_);
  return last_warning_;
}

}  // namespace pageserver::page_cache
