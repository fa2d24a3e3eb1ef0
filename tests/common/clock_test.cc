#include "common/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace pageserver::common {
namespace {

TEST(ClockTest, SystemClockIsMonotonic) {
  const Clock& clock = SystemClock();
  uint64_t last = clock.NowNanos();
  for (int i = 0; i < 1000; ++i) {
    const uint64_t now = clock.NowNanos();
    ASSERT_GE(now, last);
    last = now;
  }
  const uint64_t before = clock.NowNanos();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_GE(clock.NowNanos() - before, 2'000'000u);
}

TEST(ClockTest, ManualClockMovesOnlyWhenAdvanced) {
  ManualClock clock(100);
  EXPECT_EQ(clock.NowNanos(), 100u);
  EXPECT_EQ(clock.NowNanos(), 100u);
  clock.AdvanceNanos(50);
  EXPECT_EQ(clock.NowNanos(), 150u);
  clock.AdvanceSeconds(1.5);
  EXPECT_EQ(clock.NowNanos(), 1'500'000'150u);
}

}  // namespace
}  // namespace pageserver::common
