#pragma once

// One pagebench run from options to printed summary: discover the targets
// and their relations (discovery.h), run the load (runner.h), print the
// summary (report.h). main.cc only parses arguments into BenchOptions.
//
// Output: progress lines on stderr (unless progress is off), discovery
// warnings on stderr, the summary (text, or one JSON object with --json)
// on stdout. Files, when asked for: `series_file` is rewritten with one
// CSV row per second of the measured window (report.h SeriesCsv);
// `csv_file` gets one summary row appended (report.h SummaryCsvRow), after
// the header when the file is absent or empty. Both are checked before the
// load starts: a file that cannot be written, or a csv_file whose header is
// not SummaryCsvHeader() (columns of another version), cannot run.
//
// Warm-up (`warmup_seconds`): the load runs that long before the measured
// window; its requests are checked, reported as warmup_requests and
// warmup_errors, and count for --fail-on-error, but are not in requests,
// ok, errors, latency, throughput or the series (runner.h).
//
// Working set (`working_set`: bytes, "512MiB"): each target's keys are
// its first ceil(bytes / 8192) blocks in discovery order (workload.h
// BlockSpace::Prefix), clamped to the blocks it has.
//
// Exit codes: 0 done (errors counted in the summary); 1 --fail-on-error
// and at least one request (warm-up included) failed its check or was
// lost; 2 the run could not start (bad options, unreachable server, no
// blocks to read, an output file that cannot be written) or its output
// files could not be written after it.
//
// Thread-safety: call from one thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pageserver::pagebench {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRequestErrors = 1;
inline constexpr int kExitCannotRun = 2;

struct BenchOptions {
  std::string page_service = "host=127.0.0.1 port=64000";  // libpq conninfo
  std::string http = "http://127.0.0.1:9898";
  std::vector<std::string> targets;  // "tenant/timeline"; empty: every timeline
  std::string relations_file;        // empty: probe the page service
  bool probe = false;                // find relations by probing even with an HTTP API
  std::vector<uint32_t> databases;   // probing: these databases only
  uint32_t probe_oid_gap = 16384;
  uint32_t clients = 1;  // per target
  uint32_t queue_depth = 1;
  uint32_t threads = 1;
  uint32_t sequential_runs = 0;  // 0 or 1: uniform; K: runs of K
  std::string lsn;               // "X/X"; empty: latest
  double duration_seconds = 10;
  std::optional<uint64_t> requests;
  double rate = 0;               // per client; 0: closed loop
  std::optional<uint64_t> seed;  // default: from the clock, printed
  bool scan = false;             // every block of the working set once, then stop
  bool json = false;
  bool progress = true;
  bool fail_on_error = false;
  double warmup_seconds = 0;
  std::string working_set;  // bytes with an optional KiB/MiB/GiB suffix; empty: every block
  std::string series_file;  // empty: no series
  std::string csv_file;     // empty: no CSV summary row
};

int RunBenchmark(const BenchOptions& options);

}  // namespace pageserver::pagebench
