#pragma once

// A small metrics registry rendering the Prometheus text exposition format
// (version 0.0.4): counters, gauges and histograms with fixed buckets, each
// in a family of series distinguished by label sets.
//
// Usage: look a series up once, keep the reference, update it on hot paths.
//
//   Registry& r = DefaultRegistry();
//   Counter& reads = r.GetCounter("ps_io_operations_total", "IO operations.",
//                                 {{"op", "read"}, {"engine", "io-uring"}});
//   reads.Increment();
//
// Thread-safety: all methods are thread-safe. Updating a series is a few
// relaxed atomic operations and never allocates or locks. Looking a series up
// takes the registry mutex and may allocate; do it at construction time.
//
// Lifetime: series live as long as the registry; returned references stay
// valid (series are never removed or moved).
//
// Errors: registering one name with two types, or a histogram with different
// buckets, is a programming error and aborts with a message naming the
// metric. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* (and not start with "__"); label values may hold any
// UTF-8 and are escaped on output (backslash, double quote, newline).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pageserver::common {

// Label name -> value. Order of construction does not matter: series are
// identified by the sorted set.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  // REQUIRES: delta >= 0 (counters only go up).
  void Increment(double delta = 1.0);
  void IncrementBy(uint64_t delta) { Increment(static_cast<double>(delta)); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Fixed upper bounds (strictly increasing, +Inf implicit). Observe() finds the
// bucket by binary search and increments only that bucket; rendering turns
// the counts into Prometheus' cumulative `le` series.
class Histogram {
 public:
  // REQUIRES: bounds strictly increasing and finite.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts; size() == bounds().size() + 1, the
  // last being the +Inf bucket.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket layouts used across the project.
// Latency in seconds from 1 us to ~4 s, doubling: 1e-6, 2e-6, 4e-6, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);
std::vector<double> LatencyBucketsSeconds();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // `bounds` must be the same for every series of one family.
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& bounds, const Labels& labels = {});

  // The whole registry in the Prometheus text format: families sorted by
  // name, each with one HELP and one TYPE line, series sorted by labels.
  std::string RenderPrometheusText() const;

 private:
  struct Family;
  Family& GetFamily(std::string_view name, std::string_view help, int type);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// The process-wide registry the daemon exposes on /metrics.
Registry& DefaultRegistry();

// Prometheus escaping: label values escape \ " and newline; HELP text
// escapes \ and newline. EscapeLabelValue("a\"b\\c\nd") == "a\\\"b\\\\c\\nd".
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// Float formatting as Prometheus expects: "+Inf", "-Inf", "NaN", integers
// without exponent where exact ("3"), otherwise shortest round-trip ("0.25").
std::string FormatMetricValue(double value);

}  // namespace pageserver::common
