#pragma once

// LatencyHistogram: an HDR-style histogram of non-negative integer values
// (pagebench and peer_bench record nanoseconds) with log-linear buckets and a bounded
// relative error.
//
// Buckets: with kSubBucketBits = 8 (S = 256 sub-buckets per power of two),
//   value v < S              bucket v, width 1 (exact);
//   value v >= S, h = floor(log2 v), shift = h - 8:
//                            bucket shift * S + (v >> shift), width 2^shift.
// Every bucket of width w > 1 starts at a value >= S * w, so a bucket spans
// less than 1/256 of its smallest value. The whole u64 range fits in
// (64 - 8 + 1) * 256 = 14,592 counters (117 KiB).
//
// Percentile(q), q in [0, 1]: the value of rank max(1, ceil(q * count)) in
// sorted order (the "nearest rank" definition), reported as the midpoint of
// the bucket holding that rank, clamped to [min, max]. Its error against
// the exact nearest-rank value x is at most w / 2 <= x / 512 (0.2 %).
// Min, max, count and mean (from the exact sum) are exact.
//
// Example: after Record(100) and Record(1001): Percentile(0.5) == 100
// (exact bucket), Percentile(1.0) == 1000 (1001 is in bucket [1000, 1002),
// midpoint 1000), max() == 1001.
//
// Thread-safety: none; give each thread its own histogram and Add() them.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pageserver::common {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 8;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr size_t kBucketCount = (64 - kSubBucketBits + 1) * kSubBuckets;

  LatencyHistogram() : counts_(kBucketCount, 0) {}

  void Record(uint64_t value);
  // Adds every value recorded in `other`.
  void Add(const LatencyHistogram& other);
  // Forgets every value.
  void Clear();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  // 0 when empty.
  double Mean() const;
  // 0 when empty. REQUIRES: 0 <= q <= 1.
  uint64_t Percentile(double q) const;
  // The 1-based nearest rank of quantile q among `count` values:
  // max(1, ceil(q * count)). NearestRank(0.99, 1000) == 990.
  static uint64_t NearestRank(double q, uint64_t count);

  // The bucket holding `value` and the range [BucketLow, BucketLow + BucketWidth).
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketWidth(size_t bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  long double sum_ = 0;  // 64-bit mantissa on x86: exact below 2^64 ns in total
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace pageserver::common
