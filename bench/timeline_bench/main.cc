// timeline_bench: benchmarks the Timeline read and ingest paths (issue 5,
// "Benchmark"): GetVectored of random single keys and of 32 adjacent keys at
// delta depths 0, 3 and 10, per engine x io mode, with data reads per page
// counted and fio's QD1 device latency alongside; and ingest throughput of
// 8 KiB images and small records, buffered vs direct-rw. See
// bench/timeline_bench/*.h for what each case does and BENCHMARKS.md for
// recorded results.
//
//   build/release/bench/timeline_bench --smoke        (a few seconds)
//   build/release/bench/timeline_bench --json out.json

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/timeline_bench/config.h"
#include "bench/timeline_bench/dataset.h"
#include "bench/timeline_bench/host.h"
#include "bench/timeline_bench/ingest_cases.h"
#include "bench/timeline_bench/read_cases.h"
#include "bench/timeline_bench/report.h"

namespace pageserver::bench {
namespace {

void AddOptions(CLI::App& app, TimelineBenchConfig& c) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--dir", c.dir,
                 "where files go (default $PS_BENCH_DIR or /var/tmp/ps-timeline-bench; not tmpfs)");
  app.add_option("--dataset-mib", c.dataset_mib, "read dataset size in MiB of 8 KiB pages")
      ->capture_default_str();
  app.add_option("--rel-blocks", c.rel_blocks, "blocks per relation (multiple of 32)")
      ->capture_default_str();
  app.add_option("--depths", c.depths, "delta depths to read at")->delimiter(',');
  app.add_option("--delta-fraction", c.delta_fraction, "share of pages each delta round writes")
      ->capture_default_str();
  app.add_option("--delta-image-share", c.delta_image_share,
                 "share of a round's values that are 8 KiB images (rest: write records)")
      ->capture_default_str();
  app.add_option("--record-bytes", c.record_bytes, "payload bytes of a write record")
      ->capture_default_str();
  app.add_option("--compression", c.compression, "bottom image compression: none | zstd")
      ->capture_default_str();
  app.add_option("--max-read-kib", c.max_read_kib, "timeline max_vectored_read_bytes in KiB")
      ->capture_default_str();
  app.add_option("--seconds", c.seconds, "duration of each read case")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--engines", c.engines, "std-fs, io-uring")->delimiter(',');
  app.add_option("--modes", c.modes, "read io modes: buffered (cold and warm), direct")
      ->delimiter(',');
  app.add_option("--ingest-modes", c.ingest_modes, "ingest io modes: buffered, direct-rw")
      ->delimiter(',');
  app.add_option("--ingest-mib", c.ingest_mib, "MiB of 8 KiB images per image ingest case")
      ->capture_default_str();
  app.add_option("--ingest-record-mib", c.ingest_record_mib,
                 "MiB of encoded records per record ingest case")
      ->capture_default_str();
  app.add_option("--checkpoint-distance-mib", c.checkpoint_distance_mib,
                 "ingest timelines' checkpoint_distance in MiB")
      ->capture_default_str();
  app.add_option("--cases", c.cases,
                 "case patterns (substring, or fnmatch glob with * ?), e.g. "
                 "'read/batch32/*/*/direct',ingest; names: read/<single|batch32>/d<depth>/"
                 "<engine>/<direct|buffered-cold|buffered-warm>, ingest/<image8k|record<N>>/"
                 "<engine>/<buffered|direct-rw>")
      ->delimiter(',');
  app.add_flag("!--no-fio", c.run_fio, "do not run fio for the device reference");
  app.add_flag(
      "--keep", c.keep,
      "keep the read dataset in <dir>/read-dataset and reuse it when the parameters match");
  app.add_option("--json", c.json_path, "also write the results as JSON here");
  app.add_option("--seed", c.seed, "seed of the delta rounds")->capture_default_str();
  app.add_flag("--smoke", c.smoke,
               "tiny run for CI: 16 MiB dataset, depths 0,3, 0.2 s per case, small ingest "
               "(options given explicitly still win)");
}

// --smoke values for every option the user did not give.
void ApplySmoke(const CLI::App& app, TimelineBenchConfig& c) {
  auto unset = [&](const char* name) { return app.get_option(name)->count() == 0; };
  if (unset("--dataset-mib")) c.dataset_mib = 16;
  if (unset("--rel-blocks")) c.rel_blocks = 1024;
  if (unset("--depths")) c.depths = {0, 3};
  if (unset("--seconds")) c.seconds = 0.2;
  if (unset("--ingest-mib")) c.ingest_mib = 8;
  if (unset("--ingest-record-mib")) c.ingest_record_mib = 1;
  if (unset("--checkpoint-distance-mib")) c.checkpoint_distance_mib = 4;
}

bool Validate(const TimelineBenchConfig& c) {
  auto all_in = [](const std::vector<std::string>& values, std::vector<std::string> allowed,
                   const char* what) {
    for (const std::string& v : values) {
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        std::fprintf(stderr, "timeline_bench: unknown %s '%s'\n", what, v.c_str());
        return false;
      }
    }
    return true;
  };
  return all_in(c.engines, {"std-fs", "io-uring"}, "engine") &&
         all_in(c.modes, {"buffered", "direct"}, "read mode") &&
         all_in(c.ingest_modes, {"buffered", "direct-rw"}, "ingest mode");
}

std::string JoinArgs(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

int Run(const TimelineBenchConfig& config, RunContext& context) {
  ReadResults reads;
  std::vector<IngestRow> ingest;
  std::optional<Dataset> dataset;
  if (!PlannedReadCases(config).empty()) {
    auto prepared = PrepareDataset(config);
    if (!prepared.has_value()) {
      std::fprintf(stderr, "timeline_bench: dataset: %s\n", prepared.error().ToString().c_str());
      return 1;
    }
    dataset = std::move(*prepared);
    context.dataset = &*dataset;
    auto ran = RunReadCases(config, *dataset);
    if (!ran.has_value()) {
      CleanUp(*dataset);
      std::fprintf(stderr, "timeline_bench: reads: %s\n", ran.error().ToString().c_str());
      return 1;
    }
    reads = std::move(*ran);
  }
  if (!PlannedIngestCases(config).empty()) {
    auto ran = RunIngestCases(config, context.notes);
    if (!ran.has_value()) {
      if (dataset) CleanUp(*dataset);
      std::fprintf(stderr, "timeline_bench: ingest: %s\n", ran.error().ToString().c_str());
      return 1;
    }
    ingest = std::move(*ran);
  }
  if (dataset) CleanUp(*dataset);
  PrintReport(config, context, reads, ingest);
  const bool json_ok =
      config.json_path.empty() || WriteJson(config.json_path, config, context, reads, ingest);
  return CountBadRows(reads) == 0 && json_ok ? 0 : 1;
}

int Main(int argc, char** argv) {
  TimelineBenchConfig config;
  CLI::App app{"timeline_bench: GetVectored and ingest throughput of the Timeline"};
  AddOptions(app, config);
  CLI11_PARSE(app, argc, argv);
  if (config.smoke) ApplySmoke(app, config);
  // The library's log lines go to stderr: stdout is the report.
  spdlog::set_default_logger(spdlog::stderr_color_mt("timeline_bench"));
  if (!Validate(config)) return 2;
  if (config.dir.empty()) config.dir = DefaultBenchDir();
  std::error_code ec;
  std::filesystem::create_directories(config.dir, ec);
  RunContext context{.command = JoinArgs(argc, argv),
                     .machine = MachineDescription(),
                     .date = UtcNow(),
                     .filesystem = FilesystemType(config.dir),
                     .read_ahead_kib = ReadAheadKib(config.dir)};
  if (context.filesystem == "tmpfs") {
    context.notes.push_back("WARNING: " + config.dir +
                            " is tmpfs: no device reads, direct and cold numbers are meaningless");
  }
  return Run(config, context);
}

}  // namespace
}  // namespace pageserver::bench

// CLI11 reports bad arguments by exception (caught by CLI11_PARSE); any
// other exception escaping main is a crash we want to see.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  return pageserver::bench::Main(argc, argv);
}
