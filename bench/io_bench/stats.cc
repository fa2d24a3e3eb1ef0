#include "bench/io_bench/stats.h"

#include <sys/resource.h>

#include <algorithm>
#include <ctime>

#include "common/clock.h"

namespace pageserver::bench {

uint64_t NowNanos() { return common::MonotonicNanos(); }

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

namespace {

double NearestRank(const std::vector<uint64_t>& sorted, double fraction) {
  // Nearest rank: the smallest sample with at least `fraction` of samples at
  // or below it.
  size_t rank = static_cast<size_t>(fraction * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

}  // namespace

Percentiles ComputePercentiles(std::vector<uint64_t>& samples_ns) {
  if (samples_ns.empty()) return {};
  std::sort(samples_ns.begin(), samples_ns.end());
  return {NearestRank(samples_ns, 0.50), NearestRank(samples_ns, 0.99),
          NearestRank(samples_ns, 0.999)};
}

}  // namespace pageserver::bench
