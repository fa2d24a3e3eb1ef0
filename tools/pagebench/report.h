#pragma once

// pagebench's final summary: a text table for people and one JSON object
// (--json) holding the same figures plus the configuration.
//
// Throughput counts only responses that passed every check
// (response_check.h): requests_per_second = ok / elapsed_seconds. Latency
// percentiles are over the ok responses; they come from LatencyHistogram
// (relative error <= 1/512), mean/min/max are exact.
//
// JSON shape (latencies in microseconds):
//   {"config": {...}, "targets": [{"tenant", "timeline", "request_lsn",
//    "not_modified_since", "relations", "blocks"}],
//    "histogram": {"sub_bucket_bits": 8, "max_relative_error": 0.001953125},
//    "requests": N, "ok": N, "errors": N, "errors_by_kind": {"server_error": N, ...},
//    "elapsed_seconds": S, "requests_per_second": R,
//    "latency_us": {"mean", "min", "p50", "p95", "p99", "p99_9", "p99_99", "max"},
//    "sample_errors": ["..."]}
//
// Thread-safety: pure functions.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/pagebench/runner.h"

namespace pageserver::pagebench {

nlohmann::json ResultJson(const nlohmann::json& config, const std::vector<Target>& targets,
                          const LoadResult& result);
// The same figures as lines of text.
std::string ResultText(const nlohmann::json& config, const std::vector<Target>& targets,
                       const LoadResult& result);
// One progress line: "pagebench: 3.0 s  41234 req/s  p99 so far 812.3 us  errors 0".
std::string ProgressLine(const ProgressTick& tick);

}  // namespace pageserver::pagebench
