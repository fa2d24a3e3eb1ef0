#include "bench/peer_bench/report.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace pageserver::bench {

namespace {

constexpr const char* kCsvHeader =
    "system,threads,working_set_bytes,keys,seconds,reads,errors,reads_per_s,mean_us,p50_us,"
    "p99_us,p999_us,cpu_s_per_1k,device_read_bytes_per_read,rss_peak_mib,index_mem_mib\n";

bool FileEmpty(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) != 0 || st.st_size == 0;
}

}  // namespace

common::Status AppendCsv(const std::string& path, std::span<const RunResult> rows) {
  const bool header = FileEmpty(path);
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return common::Status::FromErrno(errno, "--csv: open " + path);
  if (header) std::fputs(kCsvHeader, f);
  for (const RunResult& r : rows) {
    std::fprintf(f, "%s,%u,%llu,%llu,%.3f,%llu,%llu,%.1f,%.2f,%.2f,%.2f,%.2f,%.4f,%.1f,%.1f,%.2f\n",
                 r.system.c_str(), r.threads, static_cast<unsigned long long>(r.working_set_bytes),
                 static_cast<unsigned long long>(r.keys), r.seconds,
                 static_cast<unsigned long long>(r.reads),
                 static_cast<unsigned long long>(r.errors), r.reads_per_s, r.mean_us, r.p50_us,
                 r.p99_us, r.p999_us, r.cpu_s_per_1k, r.device_read_bytes_per_read, r.rss_peak_mib,
                 r.index_mem_mib);
  }
  if (std::fclose(f) != 0) return common::Status::FromErrno(errno, "--csv: close " + path);
  return common::Status::Ok();
}

void PrintTableHeader() {
  std::printf("%-8s %4s %10s %9s %8s %11s %8s %8s %8s %9s %9s %10s %8s %8s\n", "system", "thr",
              "ws_MiB", "reads", "errors", "reads/s", "mean_us", "p50_us", "p99_us", "p999_us",
              "cpu/1k_s", "dev_B/read", "rss_MiB", "idx_MiB");
}

void PrintTableRow(const RunResult& r) {
  std::printf(
      "%-8s %4u %10.1f %9llu %8llu %11.0f %8.1f %8.1f %8.1f %9.1f %9.4f %10.0f %8.1f %8.2f\n",
      r.system.c_str(), r.threads, r.working_set_bytes / 1048576.0,
      static_cast<unsigned long long>(r.reads), static_cast<unsigned long long>(r.errors),
      r.reads_per_s, r.mean_us, r.p50_us, r.p99_us, r.p999_us, r.cpu_s_per_1k,
      r.device_read_bytes_per_read, r.rss_peak_mib, r.index_mem_mib);
  std::fflush(stdout);
}

}  // namespace pageserver::bench
