#include "page_cache/overload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"

namespace pageserver::page_cache {
namespace {

using ::testing::HasSubstr;

constexpr double kThreshold = 200.0;   // the default OverloadOptions
constexpr double kClearLevel = 160.0;  // threshold * clear_fraction (0.8)
constexpr CacheDescription kCache{.hit_rate = 0.935, .size_bytes = 512ull << 20};

// Steady rate R from the first tick on: the closed form of both averages.
double SteadyAverage(double rate, double t, double window) {
  return rate * (1.0 - std::exp(-t / window));
}

// A detector on a manual clock, already given its first tick; Step() feeds
// a constant rate for `dt` seconds and ticks at the end.
struct Driver {
  explicit Driver(const OverloadOptions& options = {}, common::Registry* registry = nullptr)
      : detector(options, clock, registry) {
    detector.Tick(kCache);
  }
  void Step(double rate, double dt) {
    detector.RecordEvictions(static_cast<uint64_t>(std::llround(rate * dt)));
    clock.AdvanceNanos(static_cast<uint64_t>(std::llround(dt * 1e9)));
    elapsed += dt;
    detector.Tick(kCache);
  }

  common::ManualClock clock;
  OverloadDetector detector;
  double elapsed = 0;  // seconds since the first tick
};

TEST(OverloadTest, SteadyRateFollowsTheClosedForm) {
  Driver d;
  for (int tick = 1; tick <= 120; ++tick) {  // 10 minutes, every 5 s
    d.Step(300, 5);
    ASSERT_NEAR(d.detector.Rate1m(), SteadyAverage(300, d.elapsed, 60), 1e-9) << d.elapsed;
    ASSERT_NEAR(d.detector.Rate5m(), SteadyAverage(300, d.elapsed, 300), 1e-9) << d.elapsed;
  }
  EXPECT_NEAR(d.detector.Rate1m(), 300, 3);                          // within 1%
  EXPECT_NEAR(d.detector.Rate5m(), 300 * (1 - std::exp(-2)), 1e-9);  // 259.4: still converging
  EXPECT_EQ(d.detector.total_evictions(), 300u * 600);
}

TEST(OverloadTest, IrregularTicksGiveTheSameAveragesAsRegularOnes) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  // Intervals from 0.2 s to 20 s: those under min_tick (1 s) are skipped and
  // their evictions folded by the next tick, which must not change anything.
  std::uniform_int_distribution<uint64_t> interval_ms(200, 20'000);
  Driver irregular;
  uint64_t remaining_ms = 600'000;
  while (remaining_ms > 21'000) {
    const uint64_t ms = interval_ms(rng);
    remaining_ms -= ms;
    irregular.Step(1000, static_cast<double>(ms) / 1000);       // 1 eviction per ms
    if (irregular.detector.pending_evictions() != 0) continue;  // skipped tick
    ASSERT_NEAR(irregular.detector.Rate1m(), SteadyAverage(1000, irregular.elapsed, 60), 1e-8);
    ASSERT_NEAR(irregular.detector.Rate5m(), SteadyAverage(1000, irregular.elapsed, 300), 1e-8);
  }
  irregular.Step(1000, static_cast<double>(remaining_ms) / 1000);  // ends at exactly 600 s
  ASSERT_EQ(irregular.detector.pending_evictions(), 0u);

  Driver regular;
  for (int tick = 0; tick < 120; ++tick) regular.Step(1000, 5);
  EXPECT_NEAR(irregular.detector.Rate1m(), regular.detector.Rate1m(), 1e-8);
  EXPECT_NEAR(irregular.detector.Rate5m(), regular.detector.Rate5m(), 1e-8);
  EXPECT_EQ(irregular.detector.total_evictions(), regular.detector.total_evictions());
}

TEST(OverloadTest, LongGapGivesTheRateOverTheGap) {
  Driver d;
  for (int tick = 0; tick < 60; ++tick) d.Step(500, 5);
  const double before_5m = d.detector.Rate5m();
  d.Step(2, 3600);  // 7200 evictions over an hour, one tick
  // The old average keeps a weight of exp(-60) (1m) and exp(-12) (5m).
  EXPECT_NEAR(d.detector.Rate1m(), 2.0, 1e-12);
  EXPECT_NEAR(d.detector.Rate5m(), 2.0 + (before_5m - 2.0) * std::exp(-12.0), 1e-9);
  d.Step(0, 1e6);  // nothing for 11 days
  EXPECT_EQ(d.detector.Rate1m(), 0.0);
  EXPECT_EQ(d.detector.Rate5m(), 0.0);
}

TEST(OverloadTest, BurstDecaysWithTheWindowTimeConstant) {
  Driver d;
  d.Step(10'000, 1);  // 10k evictions in one second
  const double peak_1m = 10'000 * (1 - std::exp(-1.0 / 60));
  const double peak_5m = 10'000 * (1 - std::exp(-1.0 / 300));
  ASSERT_NEAR(d.detector.Rate1m(), peak_1m, 1e-9);  // 165.3
  ASSERT_NEAR(d.detector.Rate5m(), peak_5m, 1e-9);  // 33.3
  for (int tick = 1; tick <= 60; ++tick) {          // 5 minutes of nothing
    d.Step(0, 5);
    const double t = 5.0 * tick;
    ASSERT_NEAR(d.detector.Rate1m(), peak_1m * std::exp(-t / 60), 1e-9) << t;
    ASSERT_NEAR(d.detector.Rate5m(), peak_5m * std::exp(-t / 300), 1e-9) << t;
    if (tick == 12) {
      EXPECT_NEAR(d.detector.Rate1m() / peak_1m, std::exp(-1.0), 1e-12);  // one time constant
    }
  }
  EXPECT_FALSE(d.detector.overloaded());
}

TEST(OverloadTest, TicksCloserThanMinTickKeepEvictionsPending) {
  common::Registry registry;
  Driver d({.min_tick_seconds = 1.0}, &registry);
  common::Counter& replacements = registry.GetCounter("ps_page_cache_replacements_total", "");
  d.Step(200, 0.5);  // 100 evictions, tick skipped
  EXPECT_EQ(d.detector.pending_evictions(), 100u);
  EXPECT_EQ(d.detector.total_evictions(), 100u);
  EXPECT_EQ(d.detector.Rate1m(), 0.0);
  EXPECT_EQ(replacements.Value(), 0.0);
  d.detector.Tick(kCache);  // again at the same instant: still too close
  EXPECT_EQ(d.detector.pending_evictions(), 100u);

  d.Step(0, 0.5);  // 1 s since the last effective tick: folds the 100 over 1 s
  EXPECT_EQ(d.detector.pending_evictions(), 0u);
  EXPECT_EQ(d.detector.total_evictions(), 100u);
  EXPECT_EQ(replacements.Value(), 100.0);
  EXPECT_NEAR(d.detector.Rate1m(), SteadyAverage(100, 1, 60), 1e-12);

  // Even with no minimum, a tick at the same instant has no interval to
  // divide by: a no-op, not a NaN.
  Driver no_min({.min_tick_seconds = 0});
  no_min.detector.RecordEvictions(5);
  no_min.detector.Tick(kCache);
  EXPECT_EQ(no_min.detector.pending_evictions(), 5u);
  EXPECT_EQ(no_min.detector.Rate1m(), 0.0);
  no_min.Step(0, 1e-3);
  EXPECT_NEAR(no_min.detector.Rate1m(), SteadyAverage(5000, 1e-3, 60), 1e-9);
}

TEST(OverloadTest, EvictionsBeforeTheFirstTickCountButDoNotMoveTheAverages) {
  common::ManualClock clock;
  OverloadDetector detector({}, clock, nullptr);
  detector.RecordEvictions(1'000'000);
  clock.AdvanceSeconds(1);
  detector.Tick(kCache);  // starts the time base
  EXPECT_EQ(detector.total_evictions(), 1'000'000u);
  EXPECT_EQ(detector.pending_evictions(), 0u);
  clock.AdvanceSeconds(5);
  detector.Tick(kCache);
  EXPECT_EQ(detector.Rate1m(), 0.0);
  EXPECT_FALSE(detector.overloaded());
}

TEST(OverloadTest, EntersOnlyAfterTheRateStaysAboveThresholdForSustain) {
  Driver d;
  // 300 (1 - e^(-t/60)) crosses 200 at t = 60 ln 3 = 65.9 s: overload from
  // the first tick at least 60 s later, 130 s.
  const double crossing = 60 * std::log(3.0);
  while (d.elapsed < 300) {
    d.Step(300, 5);
    ASSERT_EQ(d.detector.overloaded(), d.elapsed >= crossing + 60) << d.elapsed;
  }
  EXPECT_EQ(d.detector.warnings_logged(), 1u);
}

TEST(OverloadTest, SustainCountsFromTheCrossingNotFromTheTickThatSawIt) {
  // Ticked every 45 s: the first tick above is at 90 s, but the average
  // crossed at 65.9 s, so overload starts at the first tick after 125.9 s.
  Driver sparse;
  while (!sparse.detector.overloaded()) sparse.Step(300, 45);
  EXPECT_EQ(sparse.elapsed, 135);

  // One tick for ten minutes at 300/s, then one for an hour at 2/s: each
  // judges its whole interval.
  Driver d;
  d.Step(300, 600);
  EXPECT_TRUE(d.detector.overloaded());
  d.Step(2, 3600);  // under 160/s from 38 s into the hour
  EXPECT_FALSE(d.detector.overloaded());
  EXPECT_EQ(d.detector.warnings_logged(), 1u);  // no "overloaded" warning naming 2/s
}

TEST(OverloadTest, BurstsShorterThanSustainDoNotTrigger) {
  Driver d({.min_tick_seconds = 1.0});
  // 20 s at 1000/s lifts Rate1m to 283/s, above the threshold for about
  // 27 s; then 160 s of nothing. Five times.
  int longest_run = 0;
  int run = 0;
  for (int burst = 0; burst < 5; ++burst) {
    for (int s = 0; s < 180; ++s) {
      d.Step(s < 20 ? 1000 : 0, 1);
      run = d.detector.Rate1m() > kThreshold ? run + 1 : 0;
      longest_run = std::max(longest_run, run);
      ASSERT_FALSE(d.detector.overloaded()) << d.elapsed;
    }
  }
  EXPECT_GT(longest_run, 20);  // the bursts did cross the threshold
  EXPECT_LT(longest_run, 60);
  EXPECT_EQ(d.detector.warnings_logged(), 0u);
}

TEST(OverloadTest, RateHoveringAroundThresholdDoesNotEnter) {
  Driver d;
  for (int tick = 0; tick < 60; ++tick) d.Step(200, 5);  // settle near the threshold
  int crossings = 0;
  bool above = d.detector.Rate1m() > kThreshold;
  for (int tick = 0; tick < 240; ++tick) {  // 20 minutes of 180/220 every 30 s
    d.Step((tick / 6) % 2 == 0 ? 220 : 180, 5);
    if ((d.detector.Rate1m() > kThreshold) != above) ++crossings;
    above = d.detector.Rate1m() > kThreshold;
    ASSERT_FALSE(d.detector.overloaded()) << d.elapsed;
  }
  EXPECT_GE(crossings, 30);
}

// Enters overload with 300/s (at 130 s, see above) and runs on to 180 s.
void EnterOverload(Driver& d) {
  while (d.elapsed < 180) d.Step(300, 5);
  ASSERT_TRUE(d.detector.overloaded());
}

TEST(OverloadTest, HysteresisKeepsOverloadWhileTheRateSwingsAroundThreshold) {
  Driver d;
  ASSERT_NO_FATAL_FAILURE(EnterOverload(d));
  // 150/250 alternating every minute: once settled (3 minutes), Rate1m
  // swings about 177..223 (0.89..1.12 x threshold), never under the clear
  // level.
  double lowest = 1e9;
  double highest = 0;
  for (int tick = 0; tick < 276; ++tick) {  // 23 minutes
    d.Step((tick / 12) % 2 == 0 ? 150 : 250, 5);
    ASSERT_TRUE(d.detector.overloaded()) << d.elapsed;
    if (tick < 36) continue;
    lowest = std::min(lowest, d.detector.Rate1m());
    highest = std::max(highest, d.detector.Rate1m());
  }
  EXPECT_LT(lowest, 0.9 * kThreshold);
  EXPECT_GT(lowest, kClearLevel);
  EXPECT_GT(highest, 1.1 * kThreshold);

  // A sustained drop to 100/s: 100 + (from - 100) e^(-t/60) crosses the
  // clear level at t = 60 ln((from - 100) / 60); overload clears at the
  // first tick at least 60 s after that.
  const double from = d.detector.Rate1m();
  const double clear_at = d.elapsed + 60 * std::log((from - 100) / (kClearLevel - 100)) + 60;
  for (int tick = 0; tick < 60; ++tick) {
    d.Step(100, 5);
    ASSERT_EQ(d.detector.overloaded(), d.elapsed < clear_at) << d.elapsed;
  }
  EXPECT_FALSE(d.detector.overloaded());
}

TEST(OverloadTest, ShortDipBelowClearLevelDoesNotClear) {
  Driver d;
  ASSERT_NO_FATAL_FAILURE(EnterOverload(d));
  // 40 s of nothing takes Rate1m from ~285 to ~146, under the clear level
  // for a few ticks; 300/s brings it back above within seconds.
  bool dipped = false;
  for (int tick = 0; tick < 8; ++tick) {
    d.Step(0, 5);
    dipped |= d.detector.Rate1m() < kClearLevel;
  }
  ASSERT_TRUE(dipped);
  for (int tick = 0; tick < 120; ++tick) {
    d.Step(300, 5);
    ASSERT_TRUE(d.detector.overloaded()) << d.elapsed;
  }
}

TEST(OverloadTest, WarningsAreRateLimitedWhileOverloaded) {
  Driver d({.warn_interval_seconds = 300});
  // 400 (1 - e^(-t/60)) crosses 200 at 60 ln 2 = 41.6 s: overload from
  // the first tick at least 60 s later, 105 s.
  constexpr double kEntry = 105;
  while (d.elapsed < 1700) {
    d.Step(400, 5);
    const uint64_t expected =
        d.elapsed < kEntry ? 0 : 1 + static_cast<uint64_t>((d.elapsed - kEntry) / 300);
    ASSERT_EQ(d.detector.warnings_logged(), expected) << d.elapsed;
  }
  EXPECT_EQ(d.detector.warnings_logged(), 6u);  // 105, 405, ..., 1605

  while (d.detector.overloaded()) d.Step(0, 5);  // 115 s: clears before the next is due at 1905
  ASSERT_LT(d.elapsed, 1905);
  EXPECT_EQ(d.detector.warnings_logged(), 6u);  // clearing is not a warning
  while (!d.detector.overloaded()) d.Step(400, 5);
  EXPECT_EQ(d.detector.warnings_logged(), 7u);  // a new episode warns at once
}

TEST(OverloadTest, WarningNamesRatesThresholdHitRateAndCacheSize) {
  Driver d;
  EXPECT_EQ(d.detector.last_warning(), "");
  while (!d.detector.overloaded()) d.Step(300, 5);
  char rates[128];
  std::snprintf(rates, sizeof(rates), "%.1f/s (1m), %.1f/s (5m)", d.detector.Rate1m(),
                d.detector.Rate5m());
  const std::string warning = d.detector.last_warning();
  EXPECT_THAT(warning, HasSubstr(rates));
  EXPECT_THAT(warning, HasSubstr("threshold 200.0/s"));
  EXPECT_THAT(warning, HasSubstr("hit rate 93.5%"));
  EXPECT_THAT(warning, HasSubstr("cache size 512 MiB"));
}

TEST(OverloadTest, MetricsRenderTheGaugesAndTheCounter) {
  common::Registry registry;
  Driver d({}, &registry);
  std::string text = registry.RenderPrometheusText();
  EXPECT_THAT(text,
              HasSubstr("# TYPE ps_page_cache_overloaded gauge\nps_page_cache_overloaded 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE ps_page_cache_replacements_total counter\n"
                              "ps_page_cache_replacements_total 0\n"));

  ASSERT_NO_FATAL_FAILURE(EnterOverload(d));
  text = registry.RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("\nps_page_cache_overloaded 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE ps_page_cache_replacement_rate_1m gauge\n"
                              "ps_page_cache_replacement_rate_1m " +
                              common::FormatMetricValue(d.detector.Rate1m()) + "\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE ps_page_cache_replacement_rate_5m gauge\n"
                              "ps_page_cache_replacement_rate_5m " +
                              common::FormatMetricValue(d.detector.Rate5m()) + "\n"));
  EXPECT_THAT(text, HasSubstr("\nps_page_cache_replacements_total 54000\n"));  // 300/s x 180 s

  while (d.detector.overloaded()) d.Step(0, 5);
  EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("\nps_page_cache_overloaded 0\n"));
}

TEST(OverloadTest, ConcurrentEvictionsAndTicksLoseNothing) {
  common::Registry registry;
  Driver d({.threshold_per_second = 1.0, .sustain_seconds = 2.0}, &registry);
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 100'000;
  std::atomic<bool> go{false};  // start together, so the adds contend
  std::atomic<int> running{kThreads};
  std::vector<std::thread> evictors;
  evictors.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    evictors.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (uint64_t i = 0; i < kPerThread; ++i) d.detector.RecordEvictions(t % 2 == 0 ? 1 : 3);
      running.fetch_sub(1);
    });
  }
  // The ticker moves the clock, so it is the only thread using Driver::Step's
  // bookkeeping; the evictors touch only the detector.
  uint64_t last_total = 0;
  int ticks = 0;
  go.store(true);
  while (running.load() > 0 || ticks < 10) {
    d.clock.AdvanceSeconds(1);
    d.detector.Tick(kCache);
    const uint64_t total = d.detector.total_evictions();
    ASSERT_GE(total, last_total);
    last_total = total;
    (void)d.detector.Rate1m();
    (void)d.detector.overloaded();
    ++ticks;
  }
  for (std::thread& t : evictors) t.join();
  d.clock.AdvanceSeconds(1);
  d.detector.Tick(kCache);
  constexpr uint64_t kExpected = 2 * kPerThread * 1 + 2 * kPerThread * 3;
  EXPECT_EQ(d.detector.pending_evictions(), 0u);
  EXPECT_EQ(d.detector.total_evictions(), kExpected);
  EXPECT_EQ(registry.GetCounter("ps_page_cache_replacements_total", "").Value(),
            static_cast<double>(kExpected));
}

}  // namespace
}  // namespace pageserver::page_cache
