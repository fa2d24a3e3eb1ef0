#include "common/clock.h"

#include <ctime>

namespace pageserver::common {

uint64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

class MonotonicClock final : public Clock {
 public:
  uint64_t NowNanos() const override { return MonotonicNanos(); }
};

}  // namespace

Clock& SystemClock() {
  static MonotonicClock* clock = new MonotonicClock();  // never destroyed: used until exit
  return *clock;
}

}  // namespace pageserver::common
