#include "bench/io_bench/runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>

#include "bench/io_bench/fio.h"
#include "bench/io_bench/workloads.h"
#include "io_engine/io_engine.h"
#include "io_engine/latency_padding.h"
#include "virtual_file/io_mode.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using virtual_file::IoMode;

Result<uint64_t> ParseSize(const std::string& text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) {
    return Status::InvalidArgument("bad size '" + text + "'");
  }
  const std::string suffix(end, text.data() + text.size());
  int shift = 0;
  if (suffix == "K" || suffix == "KiB")
    shift = 10;
  else if (suffix == "M" || suffix == "MiB")
    shift = 20;
  else if (suffix == "G" || suffix == "GiB")
    shift = 30;
  else if (!suffix.empty())
    return Status::InvalidArgument("bad size suffix in '" + text + "'");
  return value << shift;
}

namespace {

struct Engine {
  std::string name;
  std::unique_ptr<io_engine::IoEngine> engine;
};

Result<Engine> MakeEngine(const std::string& name, const std::string& pad_latency) {
  ASSIGN_OR_RETURN(io_engine::IoEngineKind kind, io_engine::ParseIoEngineKind(name));
  io_engine::IoEngineOptions options;
  options.kind = kind;
  ASSIGN_OR_RETURN(std::unique_ptr<io_engine::IoEngine> engine, io_engine::CreateIoEngine(options));
  if (!pad_latency.empty()) {
    ASSIGN_OR_RETURN(io_engine::LatencyProfile profile,
                     io_engine::ParseLatencyProfile(pad_latency));
    engine = io_engine::WithLatencyPadding(std::move(engine), profile);
  }
  return Engine{name, std::move(engine)};
}

// Empties the kernel page cache so buffered runs start cold, as fio's do.
void DropCaches(const BenchConfig& config) {
  if (!config.drop_caches) return;
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0 || ::write(fd, "1", 1) != 1) {
    static bool warned = false;
    if (!warned) {
      std::perror("io_bench: cannot drop the page cache (needs root); buffered runs start warm");
    }
    warned = true;
  }
  if (fd >= 0) ::close(fd);
}

std::string FioEngine(const std::string& engine) {
  return engine == "io-uring" ? "io_uring" : "psync";
}

bool DirectFor(IoMode mode, bool write) {
  return virtual_file::UsesODirect(
      mode, write ? virtual_file::OpenIntent::kWrite : virtual_file::OpenIntent::kRead);
}

void Progress(const Row& row) {
  std::fprintf(stderr, "io_bench: %s %s %s %s qd=%d threads=%d: %.0f IOPS\n", row.workload.c_str(),
               row.engine.c_str(), row.mode.c_str(), row.submit.c_str(), row.queue_depth,
               row.threads, row.ours.Iops());
}

struct Matrix {
  const BenchConfig& config;
  std::vector<Engine>& engines;
  uint64_t file_size;
};

// Every repetition's measurements of one case; the row reports the median
// run (by throughput) of each side.
struct Samples {
  std::vector<RunStats> ours;
  std::vector<RunStats> fio;
  std::vector<RunStats> fio_batched;
};

std::optional<RunStats> Median(std::vector<RunStats> runs) {
  if (runs.empty()) return std::nullopt;
  std::sort(runs.begin(), runs.end(),
            [](const RunStats& a, const RunStats& b) { return a.MiBps() < b.MiBps(); });
  return runs[(runs.size() - 1) / 2];
}

void RunFioInto(const BenchConfig& config, bool drop_caches, FioJob job, Samples& samples) {
  if (!config.run_fio) return;
  if (drop_caches) DropCaches(config);
  if (auto fio = RunFio(job); fio.has_value()) {
    samples.fio.push_back(*fio);
  } else {
    std::fprintf(stderr, "io_bench: fio failed: %s\n", fio.error().ToString().c_str());
  }
  if (!config.fio_batched || job.iodepth <= 1) return;
  job.batched = true;
  if (drop_caches) DropCaches(config);
  if (auto fio = RunFio(job); fio.has_value()) samples.fio_batched.push_back(*fio);
}

void Summarize(Samples& samples, const FioJob& job, const BenchConfig& config, Row& row) {
  row.ours = *Median(samples.ours);
  row.fio = Median(samples.fio);
  row.fio_batched = Median(samples.fio_batched);
  if (config.run_fio) row.fio_command = FioCommandLine(job);
}

struct ReadCase {
  std::string workload;
  std::string submit;
  int qd = 1;
  int threads = 1;
};

Result<Row> RunReadCase(const Matrix& m, Engine& engine, IoMode mode, const ReadCase& c) {
  const bool random = c.workload == "randread";
  const ReadSpec spec{m.config.file,          m.file_size, random ? 8192u : 131072u, random, c.qd,
                      c.submit == "pipeline", c.threads,   m.config.seconds};
  const FioJob job{m.config.file,
                   m.file_size,
                   random ? "randread" : "read",
                   spec.block_size,
                   FioEngine(engine.name),
                   DirectFor(mode, false),
                   c.qd,
                   c.threads,
                   m.config.seconds};
  const bool buffered = mode == IoMode::kBuffered;
  Row row{c.workload, engine.name,    std::string(virtual_file::IoModeName(mode)), c.submit, c.qd,
          c.threads,  spec.block_size};
  Samples samples;
  for (int i = 0; i < m.config.repeat; ++i) {
    // Alternate who goes first: the second run of a pair may find blocks the
    // first left in a cache below the guest (a host-cached virtual disk).
    const bool fio_first = i % 2 == 1;
    if (fio_first) RunFioInto(m.config, buffered, job, samples);
    if (buffered) DropCaches(m.config);
    ASSIGN_OR_RETURN(RunStats ours, RunReads(*engine.engine, mode, spec));
    samples.ours.push_back(ours);
    if (!fio_first) RunFioInto(m.config, buffered, job, samples);
  }
  Summarize(samples, job, m.config, row);
  Progress(row);
  return row;
}

Result<Row> RunWriteCase(const Matrix& m, Engine& engine, IoMode mode) {
  ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(m.config.write_size_text));
  const std::string path = m.config.file + ".write";
  const WriteSpec spec{path, bytes};
  // BufferedWriter keeps at most two buffer writes in flight; fio ends with
  // an fsync as our run does.
  FioJob job{
      path, bytes, "write", spec.buffer_capacity, FioEngine(engine.name), DirectFor(mode, true),
      2,    1};
  job.end_fsync = true;
  Row row{"write", engine.name,         std::string(virtual_file::IoModeName(mode)), "async", 2,
          1,       spec.buffer_capacity};
  Samples samples;
  // Both sides write a new file, so both pay block allocation and size
  // updates (fio would otherwise overwrite the file ours left behind).
  for (int i = 0; i < m.config.repeat; ++i) {
    ::unlink(path.c_str());
    ASSIGN_OR_RETURN(RunStats ours, RunBufferedWrites(*engine.engine, mode, spec));
    samples.ours.push_back(ours);
    ::unlink(path.c_str());
    RunFioInto(m.config, false, job, samples);
  }
  ::unlink(path.c_str());
  Summarize(samples, job, m.config, row);
  Progress(row);
  return row;
}

Status RunWorkload(const Matrix& m, const std::string& workload, std::vector<Row>& rows) {
  for (Engine& engine : m.engines) {
    for (const std::string& mode_text : m.config.modes) {
      ASSIGN_OR_RETURN(IoMode mode, virtual_file::ParseIoMode(mode_text));
      if (workload == "write") {
        ASSIGN_OR_RETURN(Row row, RunWriteCase(m, engine, mode));
        rows.push_back(std::move(row));
        continue;
      }
      for (int threads : m.config.threads) {
        for (int qd : m.config.queue_depths) {
          for (const std::string& submit : m.config.submit_styles) {
            if (qd == 1 && submit != m.config.submit_styles.front()) continue;
            if (submit != "batch" && submit != "pipeline") {
              return Status::InvalidArgument("unknown submit style '" + submit + "'");
            }
            ASSIGN_OR_RETURN(Row row,
                             RunReadCase(m, engine, mode, {workload, submit, qd, threads}));
            rows.push_back(std::move(row));
          }
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Row>> RunAll(const BenchConfig& config) {
  ASSIGN_OR_RETURN(uint64_t size, ParseSize(config.size_text));
  std::vector<Engine> engines;
  for (const std::string& name : config.engines) {
    ASSIGN_OR_RETURN(Engine engine, MakeEngine(name, config.pad_latency));
    engines.push_back(std::move(engine));
  }
  if (engines.empty()) return Status::InvalidArgument("no engines selected");
  std::fprintf(stderr, "io_bench: preparing %s (%s)\n", config.file.c_str(),
               config.size_text.c_str());
  RETURN_IF_ERROR(PrepareScratchFile(*engines.front().engine, config.file, size));
  const Matrix matrix{config, engines, size};
  std::vector<Row> rows;
  for (const std::string& workload : config.workloads) {
    if (workload != "randread" && workload != "seqread" && workload != "write") {
      return Status::InvalidArgument("unknown workload '" + workload + "'");
    }
    RETURN_IF_ERROR(RunWorkload(matrix, workload, rows));
  }
  return rows;
}

}  // namespace pageserver::bench
