#pragma once

// Runs fio with the same parameters as an io_bench run, on the same file, in
// the same process lifetime, so the two are measured side by side.

#include <optional>
#include <string>

#include "bench/io_bench/stats.h"
#include "common/status.h"

namespace pageserver::bench {

struct FioJob {
  std::string path;
  uint64_t file_size = 0;
  std::string rw = "randread";  // randread | read | write
  size_t block_size = 8192;
  std::string ioengine = "psync";  // psync | io_uring
  bool direct = true;
  int iodepth = 1;
  int numjobs = 1;
  double seconds = 3.0;  // time-based for reads
  bool batched = false;  // submit and complete whole iodepth batches, as our ReadBatch does
  bool end_fsync = false;
};

// The fio command line for `job`, printed so a reader can rerun it.
std::string FioCommandLine(const FioJob& job);

// Whether fio is on PATH.
bool FioAvailable();

// Runs fio and parses its JSON. Latency percentiles are fio's per-IO
// completion latency (clat).
common::Result<RunStats> RunFio(const FioJob& job);

}  // namespace pageserver::bench
