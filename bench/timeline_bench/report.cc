#include "bench/timeline_bench/report.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace pageserver::bench {

namespace {

// The target: a batch of 32 adjacent pages costs at most 1/16 of a
// device read per page in direct mode.
constexpr double kTargetReadsPerPage = 1.0 / 16;

std::string Fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

const FioReference* FioFor(const ReadResults& reads, const std::string& engine) {
  for (const FioReference& f : reads.fio) {
    if (f.engine == engine && f.stats) return &f;
  }
  return nullptr;
}

std::string ReadRowLine(const ReadRow& r, const FioReference* fio) {
  const double pages = r.pages > 0 ? static_cast<double>(r.pages) : 1;
  std::string line =
      "| " + r.kind + " | " + std::to_string(r.depth) + " | " + r.engine + " | " + r.cache + " | " +
      Fmt("%.0f", r.CallsPerSecond()) + " | " + Fmt("%.0f", r.PagesPerSecond()) + " | " +
      Fmt("%.1f", r.MiBps()) + " | " + Fmt("%.1f", r.mean_us) + " | " +
      Fmt("%.1f", r.latency.p50_us) + " | " + Fmt("%.1f", r.latency.p99_us) + " | " +
      Fmt("%.4f", r.ReadsPerPage()) + " | " + Fmt("%.1f", r.data_read_bytes / 1024.0 / pages) +
      " | " + Fmt("%.1f", r.DeviceKiBPerPage()) + " | " + std::to_string(r.index_misses) + " | ";
  if (fio == nullptr) return line + "- | - |";
  return line + Fmt("%.2f", r.latency.p50_us / fio->stats->latency.p50_us) + " | " +
         Fmt("%.3f", r.mean_us / r.keys_per_call / fio->MeanUs()) + " |";
}

void PrintReadTable(FILE* out, const ReadResults& reads) {
  if (reads.rows.empty()) return;
  std::fprintf(out,
               "\n### GetVectored\n\n"
               "| kind | depth | engine | cache | calls/s | pages/s | MiB/s | mean us | p50 us | "
               "p99 us | reads/page | KiB read/page | dev KiB/page | idx miss | p50/fio p50 | "
               "us per page/fio mean |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const ReadRow& r : reads.rows) {
    std::fprintf(out, "%s\n", ReadRowLine(r, FioFor(reads, r.engine)).c_str());
  }
}

void PrintFio(FILE* out, const ReadResults& reads) {
  if (reads.fio.empty()) return;
  std::fprintf(out,
               "\n### Device reference: fio QD1 8 KiB O_DIRECT random reads of the bottom image "
               "layer\n\n| paired engine | IOPS | mean us | p50 us | p99 us |\n"
               "|---|---|---|---|---|\n");
  for (const FioReference& f : reads.fio) {
    if (!f.stats) {
      std::fprintf(out, "| %s | (%s) | - | - | - |\n", f.engine.c_str(), f.error.c_str());
      continue;
    }
    std::fprintf(out, "| %s | %.0f | %.1f | %.1f | %.1f |\n", f.engine.c_str(), f.stats->Iops(),
                 f.MeanUs(), f.stats->latency.p50_us, f.stats->latency.p99_us);
  }
  std::fprintf(out, "\nfio commands:\n");
  for (const FioReference& f : reads.fio) std::fprintf(out, "  %s\n", f.command.c_str());
}

void PrintTarget(FILE* out, const ReadResults& reads, size_t max_read_kib) {
  bool header = false;
  for (const ReadRow& r : reads.rows) {
    if (r.kind != "batch32" || r.cache != "direct") continue;
    if (!header) {
      std::fprintf(out,
                   "\n### Target: batch of 32 adjacent pages <= 1/16 device read per page "
                   "(direct; max_vectored_read_bytes %zu KiB)\n\n",
                   max_read_kib);
      header = true;
    }
    const double rpp = r.ReadsPerPage();
    std::fprintf(out, "- %s: %.4f reads/page (%.2f reads per batch): %s\n", r.name.c_str(), rpp,
                 rpp * kBatchKeys, rpp <= kTargetReadsPerPage ? "PASS" : "MISS");
  }
}

void PrintIngestTable(FILE* out, const std::vector<IngestRow>& ingest) {
  if (ingest.empty()) return;
  std::fprintf(out,
               "\n### Ingest (Put + FinishLsn per value, Checkpoint included)\n\n"
               "| kind | engine | mode | values MiB | records | MiB/s | records/s | seconds | "
               "checkpoint s | L0 layers |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const IngestRow& r : ingest) {
    std::fprintf(out, "| %s | %s | %s | %.1f | %llu | %.1f | %.0f | %.2f | %.2f | %zu |\n",
                 r.kind.c_str(), r.engine.c_str(), r.mode.c_str(), r.value_bytes / 1048576.0,
                 static_cast<unsigned long long>(r.records), r.MiBps(), r.RecordsPerSecond(),
                 r.seconds, r.checkpoint_seconds, r.l0_layers);
  }
}

void PrintHeader(FILE* out, const TimelineBenchConfig& config, const RunContext& c) {
  std::fprintf(out,
               "## timeline_bench\n\ncommand: %s\nmachine: %s\ndate: %s\ndir: %s (%s, device "
               "read_ahead_kb %lld)\n",
               c.command.c_str(), c.machine.c_str(), c.date.c_str(), config.dir.c_str(),
               c.filesystem.c_str(), static_cast<long long>(c.read_ahead_kib));
  if (c.dataset == nullptr) return;
  const Dataset& ds = *c.dataset;
  std::fprintf(out,
               "dataset: %llu pages (%llu MiB) in relations of %u blocks, %zu layer files, "
               "%zu delta rounds (%.0f%% of pages each, %.0f%% of those as images, the rest "
               "%zu-byte write records), image compression %s, max_vectored_read_bytes %zu KiB; "
               "%s\n",
               static_cast<unsigned long long>(ds.pages),
               static_cast<unsigned long long>(ds.pages / 128), ds.rel_blocks, ds.layers.size(),
               ds.round_lsns.size() - 1, config.delta_fraction * 100,
               config.delta_image_share * 100, config.record_bytes, config.compression.c_str(),
               config.max_read_kib,
               ds.reused ? "reused (kept)" : Fmt("built in %.1f s", ds.build_seconds).c_str());
}

void PrintNotes(FILE* out, const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() && b.empty()) return;
  std::fprintf(out, "\nNotes:\n");
  for (const auto& n : a) std::fprintf(out, "- %s\n", n.c_str());
  for (const auto& n : b) std::fprintf(out, "- %s\n", n.c_str());
}

nlohmann::json ReadRowJson(const ReadRow& r) {
  return {{"name", r.name},
          {"kind", r.kind},
          {"engine", r.engine},
          {"cache", r.cache},
          {"depth", r.depth},
          {"keys_per_call", r.keys_per_call},
          {"calls", r.calls},
          {"pages", r.pages},
          {"errors", r.errors},
          {"seconds", r.seconds},
          {"calls_per_second", r.CallsPerSecond()},
          {"pages_per_second", r.PagesPerSecond()},
          {"mib_per_second", r.MiBps()},
          {"mean_us", r.mean_us},
          {"p50_us", r.latency.p50_us},
          {"p99_us", r.latency.p99_us},
          {"p999_us", r.latency.p999_us},
          {"engine_reads", r.engine_reads},
          {"data_reads", r.data_reads},
          {"data_read_bytes", r.data_read_bytes},
          {"reads_per_page", r.ReadsPerPage()},
          {"index_misses", r.index_misses},
          {"device_read_bytes", r.device_bytes}};
}

nlohmann::json IngestRowJson(const IngestRow& r) {
  return {{"name", r.name},
          {"kind", r.kind},
          {"engine", r.engine},
          {"mode", r.mode},
          {"records", r.records},
          {"value_bytes", r.value_bytes},
          {"seconds", r.seconds},
          {"checkpoint_seconds", r.checkpoint_seconds},
          {"mib_per_second", r.MiBps()},
          {"records_per_second", r.RecordsPerSecond()},
          {"l0_layers", r.l0_layers},
          {"layer_bytes", r.layer_bytes}};
}

nlohmann::json FioJson(const FioReference& f) {
  nlohmann::json j = {{"engine", f.engine}, {"command", f.command}};
  if (!f.stats) {
    j["error"] = f.error;
    return j;
  }
  j["iops"] = f.stats->Iops();
  j["mean_us"] = f.MeanUs();
  j["p50_us"] = f.stats->latency.p50_us;
  j["p99_us"] = f.stats->latency.p99_us;
  return j;
}

nlohmann::json ConfigJson(const TimelineBenchConfig& c) {
  return {{"dir", c.dir},
          {"dataset_mib", c.dataset_mib},
          {"rel_blocks", c.rel_blocks},
          {"depths", c.depths},
          {"delta_fraction", c.delta_fraction},
          {"delta_image_share", c.delta_image_share},
          {"record_bytes", c.record_bytes},
          {"compression", c.compression},
          {"max_read_kib", c.max_read_kib},
          {"seconds", c.seconds},
          {"engines", c.engines},
          {"modes", c.modes},
          {"ingest_modes", c.ingest_modes},
          {"ingest_mib", c.ingest_mib},
          {"ingest_record_mib", c.ingest_record_mib},
          {"checkpoint_distance_mib", c.checkpoint_distance_mib},
          {"seed", c.seed}};
}

}  // namespace

void PrintReport(const TimelineBenchConfig& config, const RunContext& context,
                 const ReadResults& reads, const std::vector<IngestRow>& ingest) {
  PrintHeader(stdout, config, context);
  PrintReadTable(stdout, reads);
  PrintFio(stdout, reads);
  PrintTarget(stdout, reads, config.max_read_kib);
  PrintIngestTable(stdout, ingest);
  PrintNotes(stdout, reads.notes, context.notes);
}

bool WriteJson(const std::string& path, const TimelineBenchConfig& config,
               const RunContext& context, const ReadResults& reads,
               const std::vector<IngestRow>& ingest) {
  nlohmann::json j = {{"command", context.command},
                      {"machine", context.machine},
                      {"date", context.date},
                      {"filesystem", context.filesystem},
                      {"read_ahead_kib", context.read_ahead_kib},
                      {"config", ConfigJson(config)},
                      {"reads", nlohmann::json::array()},
                      {"fio", nlohmann::json::array()},
                      {"ingest", nlohmann::json::array()},
                      {"notes", reads.notes}};
  for (const auto& n : context.notes) j["notes"].push_back(n);
  for (const ReadRow& r : reads.rows) j["reads"].push_back(ReadRowJson(r));
  for (const FioReference& f : reads.fio) j["fio"].push_back(FioJson(f));
  for (const IngestRow& r : ingest) j["ingest"].push_back(IngestRowJson(r));
  if (context.dataset != nullptr) {
    const Dataset& ds = *context.dataset;
    nlohmann::json lsns = nlohmann::json::array();
    for (const auto& lsn : ds.round_lsns) lsns.push_back(lsn.ToString());
    j["dataset"] = {{"pages", ds.pages},   {"layer_files", ds.layers.size()},
                    {"round_lsns", lsns},  {"build_seconds", ds.build_seconds},
                    {"reused", ds.reused}, {"index_blocks", ds.IndexBlocks()}};
  }
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out.good()) {
    std::fprintf(stderr, "timeline_bench: could not write %s\n", path.c_str());
    return false;
  }
  return true;
}

int CountBadRows(const ReadResults& reads) {
  int bad = 0;
  for (const ReadRow& r : reads.rows) {
    if (r.errors != 0) {
      std::fprintf(stderr, "timeline_bench: %s: %llu failed or wrong values\n", r.name.c_str(),
                   static_cast<unsigned long long>(r.errors));
      ++bad;
    }
    if (r.engine_reads != r.data_reads + r.index_misses) {
      std::fprintf(stderr,
                   "timeline_bench: %s: engine reads %llu != data reads %llu + index misses %llu\n",
                   r.name.c_str(), static_cast<unsigned long long>(r.engine_reads),
                   static_cast<unsigned long long>(r.data_reads),
                   static_cast<unsigned long long>(r.index_misses));
      ++bad;
    }
  }
  return bad;
}

}  // namespace pageserver::bench
