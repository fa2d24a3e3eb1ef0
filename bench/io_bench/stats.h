#pragma once

// Measurement helpers for io_bench: latency samples, percentiles, CPU time.

#include <cstdint>
#include <vector>

namespace pageserver::bench {

// Monotonic clock in nanoseconds.
uint64_t NowNanos();
// User + system CPU time of the whole process, in seconds.
double ProcessCpuSeconds();

struct Percentiles {
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
};

// Nearest-rank percentiles of `samples_ns` (sorted in place).
// Percentiles({}) is all zeros.
Percentiles ComputePercentiles(std::vector<uint64_t>& samples_ns);

// Result of one run, ours or fio's.
struct RunStats {
  uint64_t ios = 0;  // completed IOs (requests, not batches)
  uint64_t bytes = 0;
  uint64_t errors = 0;  // failed or wrong-content IOs (must be 0)
  double seconds = 0;
  double cpu_seconds = 0;
  Percentiles latency;  // per IO at QD1, per batch otherwise (see RFC.md)

  double Iops() const { return seconds > 0 ? ios / seconds : 0; }
  double MiBps() const { return seconds > 0 ? bytes / seconds / (1024.0 * 1024.0) : 0; }
  double CpuMicrosPerIo() const { return ios > 0 ? cpu_seconds * 1e6 / ios : 0; }
};

}  // namespace pageserver::bench
