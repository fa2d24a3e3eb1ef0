#pragma once

// The io_bench workloads, run through VirtualFile on a chosen engine and mode.
//
// Every read is verified: the scratch file's 8-byte words hold a function of
// their own offset (ScratchWord), and each completed block's first word is
// checked, so a benchmark can never report speed for wrong data.

#include <cstdint>
#include <string>

#include "bench/io_bench/stats.h"
#include "common/status.h"
#include "io_engine/io_engine.h"
#include "virtual_file/io_mode.h"

namespace pageserver::bench {

// The word stored at byte `offset` (a multiple of 8) of the scratch file.
uint64_t ScratchWord(uint64_t offset);

// Makes sure `path` is a fully written scratch file of `size` bytes (reused
// when it already is one: same size and verified sample words). Written with
// real data, never fallocate'd: ext4 serves unwritten extents without IO.
common::Status PrepareScratchFile(io_engine::IoEngine& engine, const std::string& path,
                                  uint64_t size);

struct ReadSpec {
  std::string path;
  uint64_t file_size = 0;
  size_t block_size = 8192;
  bool random = true;  // random offsets, else sequential per thread
  // Requests in flight. Batch style: one ReadBatch call of this many reads,
  // waited for as a whole (the read path's GetVectored pattern). Pipelined
  // style: this many async reads kept in flight, each replaced as soon as
  // it is collected (fio's iodepth).
  int queue_depth = 1;
  bool pipelined = false;
  int threads = 1;
  double seconds = 3.0;
  uint64_t seed = 1;
};

common::Result<RunStats> RunReads(io_engine::IoEngine& engine, virtual_file::IoMode mode,
                                  const ReadSpec& spec);

struct WriteSpec {
  std::string path;
  uint64_t total_bytes = 256ull << 20;
  size_t buffer_capacity = 256 * 1024;
  size_t append_size = 8192;  // bytes per Append call
};

// BufferedWriter throughput: appends `total_bytes`, Finish(), fsync. Latency
// fields hold the per-Append distribution.
common::Result<RunStats> RunBufferedWrites(io_engine::IoEngine& engine, virtual_file::IoMode mode,
                                           const WriteSpec& spec);

}  // namespace pageserver::bench
