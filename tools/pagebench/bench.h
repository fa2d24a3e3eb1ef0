#pragma once

// One pagebench run from options to printed summary: discover the targets
// and their relations (discovery.h), run the load (runner.h), print the
// summary (report.h). main.cc only parses arguments into BenchOptions.
//
// Output: progress lines on stderr (unless progress is off), discovery
// warnings on stderr, the summary (text, or one JSON object with --json)
// on stdout.
//
// Exit codes: 0 done (errors counted in the summary); 1 --fail-on-error
// and at least one request failed its check or was lost; 2 the run could
// not start (bad options, unreachable server, no blocks to read).
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
  bool json = false;
  bool progress = true;
  bool fail_on_error = false;
};

int RunBenchmark(const BenchOptions& options);

}  // namespace pageserver::pagebench
