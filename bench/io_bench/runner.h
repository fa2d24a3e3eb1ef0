#pragma once

// Runs the io_bench matrix: for each workload x engine x mode x queue depth x
// threads, our run followed by fio's on the same file.

#include <optional>
#include <string>
#include <vector>

#include "bench/io_bench/stats.h"
#include "common/status.h"

namespace pageserver::bench {

struct BenchConfig {
  std::string file = "io_bench.scratch";
  std::string size_text = "1G";
  double seconds = 3.0;
  std::vector<std::string> engines = {"std-fs", "io-uring"};
  std::vector<std::string> modes = {"buffered", "direct"};
  std::vector<int> queue_depths = {1, 8, 32, 64};
  std::vector<int> threads = {1};
  // batch: one ReadBatch of qd reads waited as a whole; pipeline: qd async
  // reads kept in flight. qd=1 runs only as batch (the two are the same).
  std::vector<std::string> submit_styles = {"batch", "pipeline"};
  std::vector<std::string> workloads = {"randread", "seqread", "write"};
  std::string write_size_text = "256M";
  std::string pad_latency;
  // Each case runs this many times, alternating ours and fio; rows report
  // the median run of each side.
  int repeat = 1;
  bool run_fio = true;
  bool fio_batched = false;
  bool drop_caches = true;
  std::string markdown_path;
};

struct Row {
  std::string workload;
  std::string engine;
  std::string mode;
  std::string submit = "batch";
  int queue_depth = 1;
  int threads = 1;
  size_t block_size = 0;
  RunStats ours;
  std::optional<RunStats> fio;          // same parameters, fio's default pipelining
  std::optional<RunStats> fio_batched;  // whole batches, as ReadBatch
  std::string fio_command;
};

// "4G" -> 4294967296, "512M", "64K", "8192". InvalidArgument otherwise.
common::Result<uint64_t> ParseSize(const std::string& text);

common::Result<std::vector<Row>> RunAll(const BenchConfig& config);

}  // namespace pageserver::bench
