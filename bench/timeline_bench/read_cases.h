#pragma once

// The GetVectored cases: for each engine x io mode, one Timeline::Load of the
// dataset with a ReadCountingEngine under it and a PageCache holding every
// index block, a warm-up pass that brings the whole index into the cache,
// then per case a closed loop on one thread for config.seconds:
//   single   GetVectored of 1 key: a random page, each page once per pass;
//   batch32  GetVectored of 32 adjacent blocks of one relation: a random
//            32-aligned run, each run once per pass;
// at LSN round_lsns[depth]. Cache states:
//   direct         O_DIRECT reads: data comes from the device;
//   buffered-cold  the read layers are dropped from the kernel page cache
//                  (POSIX_FADV_DONTNEED) before every pass (not timed), so a
//                  page is never read twice from the cache within a pass;
//   buffered-warm  every read layer was read through the kernel page cache
//                  first: no device reads.
// Every value is checked against its page stamp; a wrong or failed value is
// an error counted in the row.
// After an engine's cases, fio measures QD1 8 KiB O_DIRECT random reads of
// the bottom image layer file (psync for std-fs, io_uring for io-uring), the
// device reference the rows' latencies are compared with.

#include <optional>
#include <string>
#include <vector>

#include "bench/io_bench/stats.h"
#include "bench/timeline_bench/config.h"
#include "bench/timeline_bench/dataset.h"
#include "common/status.h"

namespace pageserver::bench {

struct ReadRow {
  std::string name;    // read/<kind>/d<depth>/<engine>/<cache>
  std::string kind;    // single | batch32
  std::string engine;  // std-fs | io-uring
  std::string cache;   // direct | buffered-cold | buffered-warm
  size_t depth = 0;
  size_t keys_per_call = 1;
  uint64_t calls = 0;
  uint64_t pages = 0;
  uint64_t errors = 0;           // failed or wrong values (must be 0)
  double seconds = 0;            // wall time of the calls (pass set-up excluded)
  double mean_us = 0;            // per GetVectored call
  Percentiles latency;           // per GetVectored call
  uint64_t engine_reads = 0;     // read requests that reached the engine
  uint64_t data_reads = 0;       // ps_timeline_data_reads_total delta
  uint64_t data_read_bytes = 0;  // ps_timeline_data_read_bytes_total delta
  uint64_t index_misses = 0;     // PageCache misses during the case (0: index warm)
  uint64_t device_bytes = 0;     // /proc/self/io read_bytes delta

  double PagesPerSecond() const { return seconds > 0 ? pages / seconds : 0; }
  double CallsPerSecond() const { return seconds > 0 ? calls / seconds : 0; }
  double MiBps() const { return PagesPerSecond() * 8192.0 / (1 << 20); }
  double ReadsPerPage() const { return pages > 0 ? double(engine_reads) / pages : 0; }
  double DeviceKiBPerPage() const { return pages > 0 ? device_bytes / 1024.0 / pages : 0; }
};

// fio's QD1 8 KiB O_DIRECT random read of the bottom image layer.
struct FioReference {
  std::string engine;  // our engine it was paired with
  std::string command;
  std::optional<RunStats> stats;
  std::string error;  // why stats is empty
  double MeanUs() const { return stats && stats->ios > 0 ? stats->seconds * 1e6 / stats->ios : 0; }
};

struct ReadResults {
  std::vector<ReadRow> rows;
  std::vector<FioReference> fio;
  // Skipped engines, cache sizing and warm-up facts, warnings.
  std::vector<std::string> notes;
};

// The names of the read cases the configuration selects.
std::vector<std::string> PlannedReadCases(const TimelineBenchConfig& config);

common::Result<ReadResults> RunReadCases(const TimelineBenchConfig& config, const Dataset& dataset);

}  // namespace pageserver::bench
