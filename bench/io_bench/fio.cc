#include "bench/io_bench/fio.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

namespace pageserver::bench {

using common::Result;
using common::Status;

std::string FioCommandLine(const FioJob& job) {
  std::ostringstream cmd;
  cmd << "fio --name=ps_io_bench --filename=" << job.path << " --size=" << job.file_size
      << " --rw=" << job.rw << " --bs=" << job.block_size << " --ioengine=" << job.ioengine
      << " --direct=" << (job.direct ? 1 : 0) << " --iodepth=" << job.iodepth
      << " --numjobs=" << job.numjobs << " --group_reporting --norandommap --randrepeat=0"
      << " --output-format=json";
  if (job.rw != "write") {
    cmd << " --time_based --runtime=" << job.seconds << "s";
  }
  if (job.batched && job.iodepth > 1) {
    cmd << " --iodepth_batch_submit=" << job.iodepth
        << " --iodepth_batch_complete_min=" << job.iodepth;
  }
  // A write job extends a new file as BufferedWriter does: no preallocation.
  if (job.rw == "write") cmd << " --fallocate=none";
  if (job.end_fsync) cmd << " --end_fsync=1";
  return cmd.str();
}

bool FioAvailable() { return std::system("command -v fio >/dev/null 2>&1") == 0; }

namespace {

Result<std::string> Capture(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return Status::FromErrno(errno, "popen " + command);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0) return Status::IoError("fio exited with status " + std::to_string(rc));
  return out;
}

// Reads a number at `path` (object keys) from fio's JSON; NaN when missing
// or not a number, so a format change shows up as an error, not a crash.
double Number(const nlohmann::json& root, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &root;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return std::nan("");
    node = &(*node)[key];
  }
  return node->is_number() ? node->get<double>() : std::nan("");
}

Result<RunStats> ParseJob(const nlohmann::json& job, bool write) {
  const char* dir = write ? "write" : "read";
  RunStats stats;
  const double ios = Number(job, {dir, "total_ios"});
  const double bytes = Number(job, {dir, "io_bytes"});
  const double wall_ms = Number(job, {dir, "runtime"});
  // job_runtime is summed over the group's jobs, and usr_cpu/sys_cpu are
  // percentages of that summed runtime: their product is total CPU time.
  const double cpu = (Number(job, {"usr_cpu"}) + Number(job, {"sys_cpu"})) / 100.0 *
                     Number(job, {"job_runtime"}) / 1000.0;
  const double error = Number(job, {"error"});
  if (std::isnan(ios + bytes + wall_ms + cpu + error)) {
    return Status::IoError("fio JSON lacks expected fields");
  }
  stats.ios = static_cast<uint64_t>(ios);
  stats.bytes = static_cast<uint64_t>(bytes);
  stats.errors = static_cast<uint64_t>(error);
  stats.seconds = wall_ms / 1000.0;
  stats.cpu_seconds = cpu;
  auto pct = [&](const char* key) {
    return Number(job, {dir, "clat_ns", "percentile", key}) / 1e3;
  };
  stats.latency = {pct("50.000000"), pct("99.000000"), pct("99.900000")};
  return stats;
}

}  // namespace

Result<RunStats> RunFio(const FioJob& job) {
  ASSIGN_OR_RETURN(std::string output, Capture(FioCommandLine(job)));
  // fio may print warnings before the JSON document.
  const size_t brace = output.find('{');
  if (brace == std::string::npos) return Status::IoError("fio printed no JSON");
  const nlohmann::json doc = nlohmann::json::parse(output.substr(brace), nullptr, false);
  if (doc.is_discarded() || !doc.contains("jobs") || doc["jobs"].empty()) {
    return Status::IoError("could not parse fio JSON output");
  }
  return ParseJob(doc["jobs"][0], job.rw == "write");
}

}  // namespace pageserver::bench
