#pragma once

// Clock: monotonic time in nanoseconds behind an interface, so code that
// computes rates or timeouts can be tested with an injected clock.
//
//   SystemClock() -> CLOCK_MONOTONIC
//   ManualClock   -> tests advance it by hand
//
// Thread-safety: NowNanos() is thread-safe for both implementations.

#include <atomic>
#include <cstdint>

namespace pageserver::common {

// CLOCK_MONOTONIC in nanoseconds: the one clock read behind SystemClock(),
// for hot paths that time an operation and need no injection (IO metrics).
uint64_t MonotonicNanos();

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t NowNanos() const = 0;
};

// The process-wide monotonic clock (never destroyed).
Clock& SystemClock();

// A clock that moves only when told to. Starts at `start_nanos`.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_nanos = 1'000'000'000) : now_(start_nanos) {}
  uint64_t NowNanos() const override { return now_.load(std::memory_order_acquire); }
  void AdvanceNanos(uint64_t delta) { now_.fetch_add(delta, std::memory_order_acq_rel); }
  void AdvanceSeconds(double seconds) { AdvanceNanos(static_cast<uint64_t>(seconds * 1e9)); }

 private:
  std::atomic<uint64_t> now_;
};

}  // namespace pageserver::common
