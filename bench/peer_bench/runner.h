#pragma once

// The closed-loop point-read run of peer_bench: T threads, each with one
// read outstanding, reading uniformly random keys of a key list for a fixed
// time, every page checked against its load-time hash.
//
// Keys: thread t draws from splitmix64 seeded with (seed, t), so every
// system sees the same key sequence per thread (how far each thread gets in
// it depends on the system's speed). Latency of one read: steady_clock
// before the call to after it (the copy into the caller's buffer included,
// the hash check not). Percentiles come from common::LatencyHistogram
// (nearest rank, relative error <= 1/512, exact below 256 ns), the one
// pagebench uses.
//
// Process-wide measures over the timed window (warmup excluded): CPU from
// getrusage(RUSAGE_SELF) user + sys; device bytes from /proc/self/io
// read_bytes; RSS from /proc/self/status VmRSS sampled every 100 ms (max).
//
// Thread-safety: RunPointReads runs one run at a time; `store` must allow
// NewThread from the run's threads.

#include <cstdint>
#include <span>
#include <string>

#include "bench/peer_bench/stores.h"
#include "common/status.h"
#include "layers/key.h"

namespace pageserver::bench {

struct RunOptions {
  unsigned threads = 1;
  double warmup_seconds = 0;
  double seconds = 10;
  uint64_t seed = 1;
  // Errors printed to stderr per run (the rest are only counted).
  unsigned max_logged_errors = 5;
};

struct RunResult {
  std::string system;
  unsigned threads = 0;
  uint64_t working_set_bytes = 0;
  uint64_t keys = 0;
  double seconds = 0;
  uint64_t reads = 0;
  uint64_t errors = 0;
  double reads_per_s = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double cpu_s_per_1k = 0;
  double device_read_bytes_per_read = 0;
  double rss_peak_mib = 0;
  double index_mem_mib = 0;
};

// Runs the reads of `keys` against `store`; hashes[i] is PageHash of keys[i]'s
// page. A failed read or a page whose hash differs counts in errors.
// REQUIRES: keys.size() == hashes.size() > 0.
RunResult RunPointReads(PointStore& store, std::span<const layers::Key> keys,
                        std::span<const uint64_t> hashes, const RunOptions& options);

}  // namespace pageserver::bench
