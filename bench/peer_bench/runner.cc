#include "bench/peer_bench/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "bench/timeline_bench/host.h"
#include "common/latency_histogram.h"

namespace pageserver::bench {

namespace {

using Clock = std::chrono::steady_clock;
using common::LatencyHistogram;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct alignas(64) ThreadResult {
  LatencyHistogram hist;
  uint64_t errors = 0;
};

double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

uint64_t RssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

struct RunShared {
  PointStore& store;
  std::span<const layers::Key> keys;
  std::span<const uint64_t> hashes;
  const RunOptions& options;
  std::atomic<int> phase{0};  // 0 warmup, 1 measured, 2 stop
  std::atomic<unsigned> logged{0};
};

void LogError(RunShared& s, const std::string& what) {
  if (s.logged.fetch_add(1) < s.options.max_logged_errors) {
    std::fprintf(stderr, "peer_bench: %s: %s\n", s.store.name().c_str(), what.c_str());
  }
}

void ReaderLoop(RunShared& s, unsigned index, ThreadResult& out) {
  auto thread = s.store.NewThread();
  if (!thread.has_value()) {
    LogError(s, "thread: " + thread.error().ToString());
    ++out.errors;
    return;
  }
  StoreThread& reader = **thread;
  uint64_t rng = s.options.seed ^ (0xD1B54A32D192ED03ull * (index + 1));
  alignas(4096) std::array<std::byte, kPageBytes> page;
  const unsigned __int128 n = s.keys.size();
  for (;;) {
    const int phase = s.phase.load(std::memory_order_relaxed);
    if (phase == 2) break;
    const size_t i = static_cast<size_t>((SplitMix64(rng) * n) >> 64);
    const Clock::time_point t0 = Clock::now();
    const common::Status st = reader.Read(s.keys[i], page);
    const Clock::time_point t1 = Clock::now();
    if (phase != 1) continue;
    out.hist.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    if (!st.ok()) {
      ++out.errors;
      LogError(s, s.keys[i].ToHex() + ": " + st.ToString());
    } else if (PageHash(page) != s.hashes[i]) {
      ++out.errors;
      LogError(s, s.keys[i].ToHex() + ": page hash mismatch");
    }
  }
}

}  // namespace

RunResult RunPointReads(PointStore& store, std::span<const layers::Key> keys,
                        std::span<const uint64_t> hashes, const RunOptions& options) {
  RunShared shared{store, keys, hashes, options};
  std::vector<ThreadResult> results(options.threads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < options.threads; ++t) {
    threads.emplace_back([&shared, &results, t] { ReaderLoop(shared, t, results[t]); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_seconds));

  const double cpu0 = CpuSeconds();
  const uint64_t io0 = DeviceReadBytes();
  uint64_t rss_peak = RssBytes();
  const Clock::time_point start = Clock::now();
  shared.phase.store(1);
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options.seconds));
  while (Clock::now() < end) {
    std::this_thread::sleep_until(std::min(end, Clock::now() + std::chrono::milliseconds(100)));
    rss_peak = std::max(rss_peak, RssBytes());
  }
  shared.phase.store(2);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu0;
  const uint64_t io = DeviceReadBytes() - io0;
  for (auto& t : threads) t.join();

  LatencyHistogram all;
  RunResult r;
  for (const ThreadResult& t : results) {
    all.Add(t.hist);
    r.errors += t.errors;
  }
  r.system = store.name();
  r.threads = options.threads;
  r.keys = keys.size();
  r.working_set_bytes = keys.size() * kPageBytes;
  r.seconds = seconds;
  r.reads = all.count();
  r.reads_per_s = r.reads / seconds;
  r.mean_us = all.Mean() / 1e3;
  r.p50_us = static_cast<double>(all.Percentile(0.5)) / 1e3;
  r.p99_us = static_cast<double>(all.Percentile(0.99)) / 1e3;
  r.p999_us = static_cast<double>(all.Percentile(0.999)) / 1e3;
  r.cpu_s_per_1k = r.reads == 0 ? 0 : cpu / r.reads * 1000;
  r.device_read_bytes_per_read = r.reads == 0 ? 0 : static_cast<double>(io) / r.reads;
  r.rss_peak_mib = rss_peak / 1048576.0;
  r.index_mem_mib = store.IndexMemBytes() / 1048576.0;
  return r;
}

}  // namespace pageserver::bench
