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
//    "not_modified_since", "relations", "blocks", "working_set_blocks"}],
//    "histogram": {"sub_bucket_bits": 8, "max_relative_error": 0.001953125},
//    "requests": N, "ok": N, "errors": N, "errors_by_kind": {"server_error": N, ...},
//    "warmup_requests": N, "warmup_errors": N,
//    "working_set_blocks": N, "distinct_blocks_touched": N,
//    "elapsed_seconds": S, "requests_per_second": R,
//    "latency_us": {"mean", "min", "p50", "p95", "p99", "p99_9", "p99_99", "max"},
//    "sample_errors": ["..."]}
// requests/ok/errors/errors_by_kind/latency are of the measured window;
// warmup_requests counts the warm-up's completed requests (ok or not),
// warmup_errors the failed ones among them. working_set_blocks sums the
// targets' working sets (all their blocks without --working-set);
// distinct_blocks_touched counts blocks with an ok response, warm-up included.
//
// CSV summary (SummaryCsvHeader/SummaryCsvRow): one row per run, the
// columns kSummaryCsvColumns below in that order, named by their JSON path
// joined with '.' ("latency_us.p99"). Numbers are written as JSON writes
// them (no thousands separators), null as an empty cell, config.targets as
// the targets joined by spaces; text cells are quoted as RFC 4180 says
// when they hold a comma, quote or line break. The per-target list, the
// histogram constants and sample_errors are left out.
//
// Series CSV (SeriesCsv): header "second,requests,errors,p50_us,p99_us,max_us",
// then one line per SeriesRow (runner.h), latencies in microseconds.
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
// One progress line: "pagebench: 3.0 s  41234 req/s  p99 so far 812.3 us  errors 0",
// with "(warm-up)" after the time during the warm-up.
std::string ProgressLine(const ProgressTick& tick);

// The summary CSV's header line and the row of a ResultJson object (both
// without the line break).
std::string SummaryCsvHeader();
std::string SummaryCsvRow(const nlohmann::json& summary);
// The whole series file, header first, every line ending in '\n'.
std::string SeriesCsv(const std::vector<SeriesRow>& rows);

}  // namespace pageserver::pagebench
