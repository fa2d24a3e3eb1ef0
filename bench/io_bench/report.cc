#include "bench/io_bench/report.h"

#include <cstdio>
#include <set>
#include <string>

namespace pageserver::bench {

namespace {

std::string Fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

std::string Ratio(double ours, double theirs) {
  return theirs > 0 ? Fmt("%.2f", ours / theirs) : "-";
}

const char* kHeader =
    "| workload | engine | mode | submit | qd | thr | IOPS | MiB/s | p50 us | p99 us | p99.9 us | "
    "CPU "
    "us/IO | fio IOPS | fio p50 | fio p99 | fio CPU us/IO | IOPS ratio | CPU ratio |";
const char* kRule = "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

std::string FormatRow(const Row& r) {
  const RunStats& o = r.ours;
  std::string line = "| " + r.workload + " | " + r.engine + " | " + r.mode + " | " + r.submit +
                     " | " + std::to_string(r.queue_depth) + " | " + std::to_string(r.threads) +
                     " | " + Fmt("%.0f", o.Iops()) + " | " + Fmt("%.1f", o.MiBps()) + " | " +
                     Fmt("%.1f", o.latency.p50_us) + " | " + Fmt("%.1f", o.latency.p99_us) + " | " +
                     Fmt("%.1f", o.latency.p999_us) + " | " + Fmt("%.2f", o.CpuMicrosPerIo()) +
                     " | ";
  if (!r.fio) return line + "- | - | - | - | - | - |";
  const RunStats& f = *r.fio;
  // Writes compare throughput (our IOs are buffer flushes, fio's are blocks
  // of the same size, so IOPS and MiB/s ratios agree).
  return line + Fmt("%.0f", f.Iops()) + " | " + Fmt("%.1f", f.latency.p50_us) + " | " +
         Fmt("%.1f", f.latency.p99_us) + " | " + Fmt("%.2f", f.CpuMicrosPerIo()) + " | " +
         Ratio(o.MiBps(), f.MiBps()) + " | " + Ratio(o.CpuMicrosPerIo(), f.CpuMicrosPerIo()) + " |";
}

struct Target {
  const char* what;
  std::string engine;
  std::string mode;
  std::string submit;
  int qd;
};

const Row* Find(const std::vector<Row>& rows, const Target& t) {
  for (const Row& r : rows) {
    if (r.workload == "randread" && r.engine == t.engine && r.mode == t.mode &&
        r.submit == t.submit && r.queue_depth == t.qd && r.threads == 1) {
      return &r;
    }
  }
  return nullptr;
}

void PrintTargets(FILE* out, const std::vector<Row>& rows) {
  const Target targets[] = {
      {"io-uring+direct QD32 (pipeline) IOPS >= 0.9x fio io_uring QD32", "io-uring", "direct",
       "pipeline", 32},
      {"io-uring+direct QD32 (batch) IOPS vs fio io_uring QD32 (for reference)", "io-uring",
       "direct", "batch", 32},
      {"std-fs+direct QD1 IOPS >= 0.9x fio psync QD1", "std-fs", "direct", "batch", 1}};
  std::fprintf(out, "\nTargets (ratios to fio measured side by side):\n");
  for (const Target& t : targets) {
    const Row* r = Find(rows, t);
    if (r == nullptr || !r->fio) {
      std::fprintf(out, "- %s: not measured in this run\n", t.what);
      continue;
    }
    const double iops = r->ours.Iops() / r->fio->Iops();
    const double cpu = r->ours.CpuMicrosPerIo() / r->fio->CpuMicrosPerIo();
    std::fprintf(out, "- %s: %.2f %s; CPU/IO %.2fx fio (target <= 1.2x) %s\n", t.what, iops,
                 iops >= 0.9 ? "PASS" : "MISS", cpu, cpu <= 1.2 ? "PASS" : "MISS");
    if (r->fio_batched) {
      std::fprintf(out, "  (vs fio in whole-batch mode: %.2f)\n",
                   r->ours.Iops() / r->fio_batched->Iops());
    }
  }
}

void PrintAll(FILE* out, const BenchConfig& config, const std::vector<Row>& rows) {
  std::fprintf(out, "%s\n%s\n", kHeader, kRule);
  for (const Row& r : rows) std::fprintf(out, "%s\n", FormatRow(r).c_str());
  std::fprintf(out,
               "\nLatency: per IO for qd=1 and pipeline rows (submit to collection, oldest first); "
               "per ReadBatch call for batch rows at qd>1; fio's is per IO (clat). write rows: "
               "IOPS = buffer flushes of 256 KiB, ratio = MiB/s.\n");
  if (!config.pad_latency.empty()) {
    std::fprintf(out, "Latency padding: %s\n", config.pad_latency.c_str());
  }
  PrintTargets(out, rows);
  std::fprintf(out, "\nfio commands:\n");
  std::set<std::string> printed;  // batch and pipeline rows share a fio job
  for (const Row& r : rows) {
    if (!r.fio_command.empty() && printed.insert(r.fio_command).second) {
      std::fprintf(out, "  %s\n", r.fio_command.c_str());
    }
  }
}

}  // namespace

bool Report(const BenchConfig& config, const std::vector<Row>& rows) {
  PrintAll(stdout, config, rows);
  if (!config.markdown_path.empty()) {
    if (FILE* f = std::fopen(config.markdown_path.c_str(), "w")) {
      PrintAll(f, config, rows);
      std::fclose(f);
    }
  }
  bool clean = true;
  for (const Row& r : rows) {
    if (r.ours.errors != 0) {
      std::fprintf(stderr, "io_bench: %s %s %s qd=%d: %llu failed or wrong reads\n",
                   r.workload.c_str(), r.engine.c_str(), r.mode.c_str(), r.queue_depth,
                   static_cast<unsigned long long>(r.ours.errors));
      clean = false;
    }
  }
  return clean;
}

}  // namespace pageserver::bench
