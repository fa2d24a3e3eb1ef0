#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace pageserver::common {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterRendersHelpTypeAndValue) {
  Registry r;
  r.GetCounter("ps_reads_total", "Reads done.").Increment(3);
  EXPECT_EQ(r.RenderPrometheusText(),
            "# HELP ps_reads_total Reads done.\n"
            "# TYPE ps_reads_total counter\n"
            "ps_reads_total 3\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeriesWhateverLabelOrder) {
  Registry r;
  Counter& a = r.GetCounter("c", "h", {{"op", "read"}, {"engine", "std-fs"}});
  Counter& b = r.GetCounter("c", "h", {{"engine", "std-fs"}, {"op", "read"}});
  EXPECT_EQ(&a, &b);
  Counter& c = r.GetCounter("c", "h", {{"engine", "std-fs"}, {"op", "write"}});
  EXPECT_NE(&a, &c);
}

TEST(MetricsTest, SeriesAreSortedAndLabelsRenderedSorted) {
  Registry r;
  r.GetGauge("g", "A gauge.", {{"z", "1"}, {"a", "2"}}).Set(1.5);
  r.GetGauge("g", "A gauge.", {{"a", "1"}, {"z", "1"}}).Set(-2);
  EXPECT_EQ(r.RenderPrometheusText(),
            "# HELP g A gauge.\n"
            "# TYPE g gauge\n"
            "g{a=\"1\",z=\"1\"} -2\n"
            "g{a=\"2\",z=\"1\"} 1.5\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("line1\nback\\slash \"quotes\" stay"),
            "line1\\nback\\\\slash \"quotes\" stay");
  Registry r;
  r.GetCounter("c", "multi\nline", {{"path", "/x\"y"}}).Increment();
  const std::string text = r.RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("# HELP c multi\\nline\n"));
  EXPECT_THAT(text, HasSubstr("c{path=\"/x\\\"y\"} 1\n"));
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  Registry r;
  Histogram& h = r.GetHistogram("lat_seconds", "Latency.", {0.001, 0.01, 0.1}, {{"op", "read"}});
  h.Observe(0.0005);
  h.Observe(0.001);  // boundary value belongs to le="0.001"
  h.Observe(0.05);
  h.Observe(5);
  EXPECT_EQ(r.RenderPrometheusText(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"
            "lat_seconds_bucket{op=\"read\",le=\"0.01\"} 2\n"
            "lat_seconds_bucket{op=\"read\",le=\"0.1\"} 3\n"
            "lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{op=\"read\"} 5.0515\n"
            "lat_seconds_count{op=\"read\"} 4\n");
  EXPECT_EQ(h.Count(), 4u);
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{2, 0, 1, 1}));
}

TEST(MetricsTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(1e-6), "1e-06");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(123456789), "123456789");
}

TEST(MetricsTest, FamiliesSortedByName) {
  Registry r;
  r.GetCounter("b_total", "b").Increment();
  r.GetCounter("a_total", "a").Increment();
  const std::string text = r.RenderPrometheusText();
  EXPECT_LT(text.find("a_total"), text.find("b_total"));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.GetCounter("c", "h");
  Histogram& h = r.GetHistogram("h", "h", {1.0});
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment();
        h.Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 80000);
  EXPECT_EQ(h.Count(), 80000u);
  EXPECT_EQ(h.Sum(), 40000);
}

TEST(MetricsTest, LatencyBucketsAreIncreasingFromOneMicrosecond) {
  const std::vector<double> b = LatencyBucketsSeconds();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 1e-6);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_GT(b[i], b[i - 1]);
  EXPECT_GT(b.back(), 1.0);
}

TEST(MetricsDeathTest, OneNameTwoTypesAborts) {
  Registry r;
  (void)r.GetCounter("x", "h");
  EXPECT_DEATH((void)r.GetGauge("x", "h"), "metric x: registered as counter and as gauge");
}

TEST(MetricsDeathTest, InvalidNamesAbort) {
  Registry r;
  EXPECT_DEATH((void)r.GetCounter("1bad", "h"), "invalid metric name");
  EXPECT_DEATH((void)r.GetCounter("ok", "h", {{"__reserved", "v"}}), "invalid label name");
  EXPECT_DEATH((void)r.GetCounter("ok", "h", {{"le", "v"}}), "invalid label name");
}

TEST(MetricsDeathTest, HistogramWithOtherBucketsAborts) {
  Registry r;
  (void)r.GetHistogram("h", "h", {1, 2});
  EXPECT_DEATH((void)r.GetHistogram("h", "h", {1, 3}, {{"a", "b"}}), "different buckets");
}

}  // namespace
}  // namespace pageserver::common
