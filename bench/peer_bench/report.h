#pragma once

// peer_bench's output: CSV rows appended to a file, and a table on stdout.
//
// CSV columns (header written when the file is new or empty):
//   system,threads,working_set_bytes,keys,seconds,reads,errors,reads_per_s,
//   mean_us,p50_us,p99_us,p999_us,cpu_s_per_1k,device_read_bytes_per_read,
//   rss_peak_mib,index_mem_mib
//
// Thread-safety: not thread-safe; called from main only.

#include <span>
#include <string>

#include "bench/peer_bench/runner.h"
#include "common/status.h"

namespace pageserver::bench {

// Appends `rows` to `path` (header first when the file is new or empty).
common::Status AppendCsv(const std::string& path, std::span<const RunResult> rows);

// The table header and one line per row, on stdout.
void PrintTableHeader();
void PrintTableRow(const RunResult& r);

}  // namespace pageserver::bench
