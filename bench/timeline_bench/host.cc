#include "bench/timeline_bench/host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <vector>

namespace pageserver::bench {

using common::Status;

std::string DefaultBenchDir() {
  const char* env = std::getenv("PS_BENCH_DIR");
  return (env != nullptr && *env != '\0') ? env : "/var/tmp/ps-timeline-bench";
}

Status DropFromPageCache(std::span<const std::string> paths) {
  for (const std::string& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
    if (rc != 0) return Status::FromErrno(rc, "posix_fadvise DONTNEED " + path);
  }
  return Status::Ok();
}

Status WarmKernelCache(std::span<const std::string> paths) {
  std::vector<char> buf(1 << 20);
  for (const std::string& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    ssize_t n = 0;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    }
    const int err = errno;
    ::close(fd);
    if (n < 0) return Status::FromErrno(err, "read " + path);
  }
  return Status::Ok();
}

uint64_t DeviceReadBytes() {
  std::ifstream io("/proc/self/io");
  std::string field;
  uint64_t value = 0;
  while (io >> field >> value) {
    if (field == "read_bytes:") return value;
  }
  return 0;
}

std::string FilesystemType(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x01021994UL:
      return "tmpfs";
    case 0xEF53UL:
      return "ext4";
    case 0x58465342UL:
      return "xfs";
    case 0x9123683EUL:
      return "btrfs";
    case 0x794C7630UL:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(fs.f_type));
      return buf;
    }
  }
}

namespace {

int64_t ReadNumber(const std::string& path) {
  std::ifstream in(path);
  int64_t value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

int64_t ReadAheadKib(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  const std::string dev =
      "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  const int64_t own = ReadNumber(dev + "/queue/read_ahead_kb");
  return own >= 0 ? own : ReadNumber(dev + "/../queue/read_ahead_kb");
}

namespace {

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

}  // namespace

std::string MachineDescription() {
  struct utsname u {};
  ::uname(&u);
  struct sysinfo si {};
  ::sysinfo(&si);
  const double ram_gib = static_cast<double>(si.totalram) * si.mem_unit / (1024.0 * 1024 * 1024);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s %s %s, %ld CPUs, %.1f GiB RAM, %s", u.sysname, u.release,
                u.machine, ::sysconf(_SC_NPROCESSORS_ONLN), ram_gib, CpuModel().c_str());
  return buf;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace pageserver::bench
