#pragma once

// timeline_bench's output: markdown tables on stdout (ready for
// BENCHMARKS.md) and the same results as JSON (--json).

#include <string>
#include <vector>

#include "bench/timeline_bench/config.h"
#include "bench/timeline_bench/dataset.h"
#include "bench/timeline_bench/ingest_cases.h"
#include "bench/timeline_bench/read_cases.h"

namespace pageserver::bench {

// What the report says about the run besides the rows.
struct RunContext {
  std::string command;  // argv joined
  std::string machine;  // MachineDescription()
  std::string date;     // UtcNow() at start
  std::string filesystem;
  int64_t read_ahead_kib = -1;
  const Dataset* dataset = nullptr;  // null when no read case ran
  std::vector<std::string> notes;
};

// Prints the tables, the target and the notes to stdout.
void PrintReport(const TimelineBenchConfig& config, const RunContext& context,
                 const ReadResults& reads, const std::vector<IngestRow>& ingest);

// Writes everything as JSON to `path`; false (and a message on stderr) on failure.
bool WriteJson(const std::string& path, const TimelineBenchConfig& config,
               const RunContext& context, const ReadResults& reads,
               const std::vector<IngestRow>& ingest);

// Rows with errors, and rows whose engine reads != data reads + index misses.
int CountBadRows(const ReadResults& reads);

}  // namespace pageserver::bench
