// pagebench: a load generator for the page service, like Neon's
// `pagebench get-page-latest-lsn`: GetPage requests over N pipelined
// libpq connections per timeline, every response checked, latency
// percentiles from an HDR-style histogram. See tools/pagebench/bench.h for
// outputs and exit codes and RFC.md "pagebench" for the method.
//
//   pagebench --page-service "host=127.0.0.1 port=64000" --http http://127.0.0.1:9898
//             --clients 8 --queue-depth 32 --duration 30 [--sequential-runs 8] [--json]

#include <CLI/CLI.hpp>

#include "tools/pagebench/bench.h"

namespace {

using pageserver::pagebench::BenchOptions;

void AddOptions(CLI::App& app, BenchOptions& o) {
  app.add_option("--page-service", o.page_service, "libpq conninfo of the page service")
      ->capture_default_str();
  app.add_option("--http", o.http, "HTTP API base URL")->capture_default_str();
  app.add_option("--target", o.targets,
                 "tenant/timeline (hex), repeatable; default: every timeline the HTTP API lists");
  app.add_option(
      "--relations", o.relations_file,
      "file of relation forks 'spc/db/rel[_fork] [nblocks]' instead of asking the server");
  app.add_flag("--probe", o.probe,
               "find relations by probing the page service instead of the HTTP relations route");
  app.add_option("--databases", o.databases, "probe only these database OIDs (tablespace 1663)")
      ->delimiter(',');
  app.add_option("--probe-oid-gap", o.probe_oid_gap,
                 "probing stops after this many OIDs in a row without a find")
      ->capture_default_str();
  app.add_option("--clients", o.clients, "connections per timeline")->capture_default_str();
  app.add_option("--queue-depth", o.queue_depth, "requests in flight per connection")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "client threads polling the connections")
      ->capture_default_str();
  app.add_option("--sequential-runs", o.sequential_runs,
                 "bursts of K adjacent blocks of one relation (K <= queue depth); 0: uniform");
  app.add_option("--lsn", o.lsn, "request at this LSN (X/X) instead of latest");
  app.add_option("--duration", o.duration_seconds, "seconds to run")->capture_default_str();
  app.add_option("--requests", o.requests, "stop after this many requests instead");
  app.add_option("--rate", o.rate, "requests/s per connection, open loop; 0: closed loop");
  app.add_option("--seed", o.seed, "seed of the key generators (default: from the clock)");
  app.add_flag("--scan", o.scan,
               "read every block of the working set once, in key order, split over the "
               "connections, then stop (to warm caches); --duration still caps it");
  app.add_flag("--json", o.json, "print the summary as one JSON object");
  app.add_flag("!--no-progress", o.progress, "no per-second progress lines on stderr");
  app.add_flag("--fail-on-error", o.fail_on_error,
               "exit 1 when any response failed its check or was lost");
  app.add_option("--warmup", o.warmup_seconds,
                 "seconds of the same load before the measured window; checked, reported as "
                 "warmup_requests, not counted in requests/latency")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--working-set", o.working_set,
                 "read only the first ceil(BYTES/8192) blocks of each timeline, in discovery "
                 "order (e.g. 1048576, 64KiB, 512MiB, 2GiB); clamped to the data");
  app.add_option("--series", o.series_file,
                 "write a CSV with one row per second of the measured window: "
                 "second,requests,errors,p50_us,p99_us,max_us (that second only)");
  app.add_option("--csv", o.csv_file,
                 "append one summary row (the --json fields, flattened) to this CSV file, "
                 "writing the header first when it is absent or empty");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pagebench: GetPage load over the page service"};
  BenchOptions options;
  AddOptions(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : pageserver::pagebench::kExitCannotRun;
  }
  return pageserver::pagebench::RunBenchmark(options);
}
