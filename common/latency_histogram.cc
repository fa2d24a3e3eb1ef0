#include "common/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace pageserver::common {

size_t LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kSubBuckets) return static_cast<size_t>(value);
  const int shift = std::bit_width(value) - 1 - kSubBucketBits;
  return static_cast<size_t>(uint64_t(shift) * kSubBuckets + (value >> shift));
}

uint64_t LatencyHistogram::BucketWidth(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return 1;
  return uint64_t{1} << (bucket / kSubBuckets - 1);
}

uint64_t LatencyHistogram::BucketLow(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const uint64_t shift = bucket / kSubBuckets - 1;
  // Sub-bucket index in [S, 2S): bucket - shift * S.
  return (bucket - shift * kSubBuckets) << shift;
}

void LatencyHistogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  ++count_;
  sum_ += static_cast<long double>(value);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Clear() { *this = LatencyHistogram(); }

double LatencyHistogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t LatencyHistogram::NearestRank(double q, uint64_t count) {
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count)));
  return std::clamp<uint64_t>(rank, 1, std::max<uint64_t>(count, 1));
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  const uint64_t rank = NearestRank(q, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(i) + (BucketWidth(i) - 1) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace pageserver::common
