// LatencyHistogram (common/latency_histogram.h): percentiles within the
// stated error of a sorted oracle, buckets that tile the u64 range, Add, and
// the documented example.

#include "common/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"

namespace pageserver::common {
namespace {

using testing::TestSeed;

// The exact nearest-rank percentile of `sorted`.
uint64_t OraclePercentile(const std::vector<uint64_t>& sorted, double q) {
  return sorted[LatencyHistogram::NearestRank(q, sorted.size()) - 1];
}

TEST(LatencyHistogramTest, PercentilesMatchASortedOracleWithinTheStatedError) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20; ++round) {
    // Log-uniform values from 1 ns to ~100 s, plus exact small values.
    std::uniform_real_distribution<double> exponent(0, 11);
    const size_t n = 1 + rng() % 20000;
    std::vector<uint64_t> values;
    LatencyHistogram h;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v =
          rng() % 4 == 0 ? rng() % 300 : static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
      values.push_back(v);
      h.Record(v);
    }
    std::sort(values.begin(), values.end());
    ASSERT_EQ(h.count(), n);
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    long double sum = 0;
    for (uint64_t v : values) sum += static_cast<long double>(v);
    EXPECT_NEAR(h.Mean(), static_cast<double>(sum / n), 1e-9 * h.Mean());
    for (double q : {0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0}) {
      const uint64_t exact = OraclePercentile(values, q);
      const uint64_t got = h.Percentile(q);
      const double bound = static_cast<double>(exact) / 512.0;
      EXPECT_LE(std::abs(static_cast<double>(got) - static_cast<double>(exact)), bound)
          << "q=" << q << " n=" << n << " exact=" << exact << " got=" << got;
    }
  }
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  for (size_t b = 0; b + 1 < LatencyHistogram::kBucketCount; ++b) {
    const uint64_t low = LatencyHistogram::BucketLow(b);
    const uint64_t width = LatencyHistogram::BucketWidth(b);
    ASSERT_EQ(LatencyHistogram::BucketLow(b + 1), low + width) << "bucket " << b;
    ASSERT_EQ(LatencyHistogram::BucketOf(low), b);
    ASSERT_EQ(LatencyHistogram::BucketOf(low + width - 1), b);
    if (width > 1) {
      ASSERT_LE(width * LatencyHistogram::kSubBuckets, low) << "bucket " << b;
    }
  }
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX), LatencyHistogram::kBucketCount - 1);
}

TEST(LatencyHistogramTest, AddEqualsRecordingIntoOneAndEmptyIsZero) {
  LatencyHistogram a, b, both;
  for (uint64_t v : {5, 700, 123456}) {
    a.Record(v);
    both.Record(v);
  }
  for (uint64_t v : {1, 99999999}) {
    b.Record(v);
    both.Record(v);
  }
  a.Add(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), 1u);
  EXPECT_EQ(a.max(), 99999999u);
  for (double q : {0.2, 0.5, 0.8, 1.0}) EXPECT_EQ(a.Percentile(q), both.Percentile(q));
  const LatencyHistogram empty;
  EXPECT_EQ(empty.Percentile(0.99), 0u);
  EXPECT_EQ(empty.Mean(), 0.0);
  EXPECT_EQ(empty.min(), 0u);
}

TEST(LatencyHistogramTest, DocumentedExampleHolds) {
  LatencyHistogram h;
  h.Record(100);
  h.Record(1001);
  EXPECT_EQ(h.Percentile(0.5), 100u);
  EXPECT_EQ(h.Percentile(1.0), 1000u);
  EXPECT_EQ(h.max(), 1001u);
  EXPECT_EQ(LatencyHistogram::NearestRank(0.99, 1000), 990u);
}

}  // namespace
}  // namespace pageserver::common
