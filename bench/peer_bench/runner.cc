#include "bench/peer_bench/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "bench/timeline_bench/host.h"

namespace pageserver::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Log-linear histogram of nanoseconds: values below 1024 exactly, above
// that 512 buckets per power of two (1/512 relative resolution).
class LatencyHistogram {
 public:
  static constexpr unsigned kLinear = 1024;
  static constexpr unsigned kSubBits = 9;  // 512 sub-buckets
  static constexpr size_t kBuckets = kLinear + 54 * (1u << kSubBits);

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void Add(uint64_t ns) {
    ++counts_[Index(ns)];
    sum_ += ns;
    ++n_;
  }
  void Merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    sum_ += o.sum_;
    n_ += o.n_;
  }
  uint64_t count() const { return n_; }
  double MeanNs() const { return n_ == 0 ? 0 : static_cast<double>(sum_) / n_; }
  // The smallest value v with at least q * n samples <= v (bucket midpoint).
  double QuantileNs(double q) const {
    if (n_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * n_ + 0.999999));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return Midpoint(i);
    }
    return Midpoint(kBuckets - 1);
  }

 private:
  static size_t Index(uint64_t v) {
    if (v < kLinear) return v;
    const unsigned shift = std::bit_width(v) - 1 - kSubBits;  // >= 1
    const uint64_t sub = (v >> shift) - (1u << kSubBits);     // 0..511
    return std::min<size_t>(kBuckets - 1, kLinear + (shift - 1) * (1u << kSubBits) + sub);
  }
  static double Midpoint(size_t i) {
    if (i < kLinear) return static_cast<double>(i);
    const size_t shift = (i - kLinear) / (1u << kSubBits) + 1;
    const uint64_t sub = (i - kLinear) % (1u << kSubBits);
    const double lo = static_cast<double>(((1u << kSubBits) + sub) << shift);
    return lo + static_cast<double>(uint64_t{1} << shift) / 2;
  }

  std::vector<uint64_t> counts_;
  uint64_t sum_ = 0;
  uint64_t n_ = 0;
};

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
    out.hist.Add(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
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
    all.Merge(t.hist);
    r.errors += t.errors;
  }
  r.system = store.name();
  r.threads = options.threads;
  r.keys = keys.size();
  r.working_set_bytes = keys.size() * kPageBytes;
  r.seconds = seconds;
  r.reads = all.count();
  r.reads_per_s = r.reads / seconds;
  r.mean_us = all.MeanNs() / 1e3;
  r.p50_us = all.QuantileNs(0.5) / 1e3;
  r.p99_us = all.QuantileNs(0.99) / 1e3;
  r.p999_us = all.QuantileNs(0.999) / 1e3;
  r.cpu_s_per_1k = r.reads == 0 ? 0 : cpu / r.reads * 1000;
  r.device_read_bytes_per_read = r.reads == 0 ? 0 : static_cast<double>(io) / r.reads;
  r.rss_peak_mib = rss_peak / 1048576.0;
  r.index_mem_mib = store.IndexMemBytes() / 1048576.0;
  return r;
}

}  // namespace pageserver::bench
