// io_bench: a fio-like driver for the IO layer. Runs 8 KiB random reads,
// 128 KiB sequential reads and BufferedWriter appends through VirtualFile on
// every chosen engine x mode x queue depth, and, when fio is installed, runs
// fio with the same parameters on the same file right after each run and
// prints the ratio. See BENCHMARKS.md for recorded results.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/io_bench/report.h"
#include "bench/io_bench/runner.h"

// CLI11 reports bad arguments by exception (caught by CLI11_PARSE); any
// other exception escaping main is a crash we want to see.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  pageserver::bench::BenchConfig config;
  CLI::App app{"io_bench: benchmark the pageserver IO layer against fio on the same file"};
  // A scalar given twice takes the last value, so wrappers can set defaults
  // that a user's own arguments override.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--file", config.file, "scratch file (created, reused when already valid)");
  app.add_option("--size", config.size_text, "scratch file size, e.g. 512M, 4G");
  app.add_option("--seconds", config.seconds, "duration of each read run")
      ->check(CLI::PositiveNumber);
  app.add_option("--engines", config.engines, "engines: std-fs, io-uring")->delimiter(',');
  app.add_option("--modes", config.modes, "io modes: buffered, direct, direct-rw")->delimiter(',');
  app.add_option("--qd", config.queue_depths, "queue depths (requests per batch)")->delimiter(',');
  app.add_option("--threads", config.threads, "reader threads per run")->delimiter(',');
  app.add_option("--submit", config.submit_styles,
                 "batch (ReadBatch of qd reads, waited as a whole) and/or pipeline (qd async "
                 "reads kept in flight)")
      ->delimiter(',');
  app.add_option("--workloads", config.workloads, "randread, seqread, write")->delimiter(',');
  app.add_option("--write-size", config.write_size_text, "bytes appended per write run");
  app.add_option("--pad-latency", config.pad_latency,
                 "pad every IO to a device latency: '80us' or p50/p99 '60us/250us'");
  app.add_option("--repeat", config.repeat,
                 "runs per case, alternating ours and fio; the median of each is reported")
      ->check(CLI::PositiveNumber);
  app.add_flag("!--no-fio", config.run_fio, "do not run fio side by side");
  app.add_flag("--fio-batched", config.fio_batched,
               "also run fio in whole-batch mode (iodepth_batch_complete_min = qd)");
  app.add_flag("!--no-drop-caches", config.drop_caches,
               "do not drop the kernel page cache before buffered runs");
  app.add_option("--markdown", config.markdown_path, "also write the result table here");
  CLI11_PARSE(app, argc, argv);

  auto rows = pageserver::bench::RunAll(config);
  if (!rows.has_value()) {
    std::fprintf(stderr, "io_bench: %s\n", rows.error().ToString().c_str());
    return 1;
  }
  return pageserver::bench::Report(config, *rows) ? 0 : 1;
}
