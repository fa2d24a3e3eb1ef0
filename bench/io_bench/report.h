#pragma once

// Prints io_bench results: one table row per run with fio side by side and
// the ratios, then the targets from the IO-layer issue as PASS / MISS.

#include <vector>

#include "bench/io_bench/runner.h"

namespace pageserver::bench {

// Prints to stdout (and config.markdown_path when set). Returns false when a
// run saw IO errors or wrong data (targets missed are reported, not failed).
bool Report(const BenchConfig& config, const std::vector<Row>& rows);

}  // namespace pageserver::bench
