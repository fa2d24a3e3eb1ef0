#pragma once

// Latency padding: an IoEngine decorator that makes a fast device (page cache,
// tmpfs, a local NVMe) look like a slower one, so benchmarks can model a
// cloud volume (say a 60us/250us p50/p99 profile) on a laptop.
//
// Model: the device is fully parallel. Each request gets its own target
// latency, sampled independently; a call returns when the slowest of its
// requests would have finished:
//   return time = max(real completion, submit time + max_i target_i)
// so a batch of 16 reads with a fixed 80 us profile takes ~80 us, not
// 16 * 80 us. Padding never shortens anything: if the real IO took longer than
// the target, no wait is added.
//
// What is padded: SubmitBatch (reads, writes, syncs; failed requests too,
// with results passed through unchanged) and async requests (the wait happens
// in WaitAsync, measured from SubmitAsync). Open and Close are not padded:
// they are metadata operations outside the modeled data path.
//
// Waiting: clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until 100 us
// before the deadline, then a spin on clock_gettime(CLOCK_MONOTONIC). A sleep
// alone overshot its deadline by 54-63 us at the median and 63-96 us at p99
// (default 50 us timer slack plus wake-up latency), so a 50 us spin window
// was too short (median overshoot 3.4 us); with 100 us the spin burns up to
// 100 us of one core per wait (about 45 us typically), and a target under
// 100 us is spun entirely.
// Measured overshoot past the deadline (20000 waits per target, -O2, a
// throwaway loop timing WaitUntilMonotonic(now + target) with steady_clock;
// 2-core VM, kernel 6.18, load average ~1.6 from concurrent builds):
//   target  80 us: p50 0.06 us, p99 0.1-0.5 us, p99.9 ~30 us
//   target 250 us: p50 0.07 us, p99 0.2 us,     p99.9 ~3 ms
//   target   1 ms: p50 0.08 us, p99 53 us,      p99.9 ~2 ms
// The tails come with CPU contention (runnable threads outnumbering cores
// delay the wake-up or preempt the spin). Padding is a floor, not an exact
// latency.
//
// Sampling: a p50/p99 profile samples a log-normal distribution fitted to the
// two quantiles: mu = ln(p50), sigma = ln(p99 / p50) / 2.3263 (z of the 99th
// percentile). Samples come from a counter-based PRNG seeded with
// profile.seed, so a single-threaded run replays the same latencies.
//
// Thread-safety: as the inner engine; the decorator adds a mutex only around
// its async-write deadline table.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "io_engine/io_engine.h"

namespace pageserver::io_engine {

struct LatencyProfile {
  // Fixed latency when p50 == p99; otherwise 0 < p50 < p99.
  std::chrono::nanoseconds p50{0};
  std::chrono::nanoseconds p99{0};
  uint64_t seed = 1;

  static LatencyProfile Fixed(std::chrono::nanoseconds latency) { return {latency, latency}; }
  static LatencyProfile Quantiles(std::chrono::nanoseconds p50, std::chrono::nanoseconds p99) {
    return {p50, p99};
  }
  bool fixed() const { return p50 == p99; }
};

// Parses "80us", "1.5ms", "250ns", "0.002s" (fixed) or "60us/250us" (p50/p99).
// Units: ns, us, ms, s; the number is a non-negative decimal. Errors are
// InvalidArgument naming the text and the expected form, e.g. a missing unit,
// an unknown unit, a negative value, or p50 > p99.
Result<LatencyProfile> ParseLatencyProfile(std::string_view text);

// Wraps `inner` so every operation takes at least its sampled target latency
// (see the model above). name() reports the inner engine's name.
// REQUIRES: inner != nullptr; the profile is valid (as ParseLatencyProfile
// returns: p50 <= p99, p50 > 0 unless fixed).
std::unique_ptr<IoEngine> WithLatencyPadding(std::unique_ptr<IoEngine> inner,
                                             const LatencyProfile& profile);

// Waits until CLOCK_MONOTONIC reaches `deadline` (sleep, then spin as
// described above). Returns at once when the deadline has passed. Exposed for
// tests and for measuring the padding's precision.
void WaitUntilMonotonic(std::chrono::steady_clock::time_point deadline);

}  // namespace pageserver::io_engine
