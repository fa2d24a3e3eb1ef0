// Micro benchmarks (Google Benchmark) of the per-IO software cost of the IO
// layer: metric updates, the completion state machine, and an 8 KiB
// VirtualFile read served by the kernel page cache compared with a raw
// pread of the same bytes. The difference is what VirtualFile + engine add
// to every IO.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "io_engine/completion.h"
#include "io_engine/io_engine.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {
namespace {

constexpr size_t kPage = 8192;
constexpr uint64_t kFileSize = 64ull << 20;  // fits the page cache comfortably

void BM_CounterIncrement(benchmark::State& state) {
  common::Registry registry;
  common::Counter& c = registry.GetCounter("c", "h");
  for (auto _ : state) c.Increment();
}
BENCHMARK(BM_CounterIncrement);

void BM_HistogramObserve(benchmark::State& state) {
  common::Registry registry;
  common::Histogram& h = registry.GetHistogram("h", "h", common::LatencyBucketsSeconds());
  double v = 1e-6;
  for (auto _ : state) {
    h.Observe(v);
    v = v < 1 ? v * 1.1 : 1e-6;
  }
}
BENCHMARK(BM_HistogramObserve);

void BM_OnCompletion(benchmark::State& state) {
  const io_engine::TransferState s{io_engine::IoOpcode::kRead, kPage};
  for (auto _ : state) benchmark::DoNotOptimize(io_engine::OnCompletion(s, kPage));
}
BENCHMARK(BM_OnCompletion);

// A 64 MiB file of non-zero bytes, read once so the page cache holds it.
const std::string& CachedFile() {
  static const std::string path = [] {
    std::string p = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    p += "/ps_io_path_bench." + std::to_string(::getpid());
    const int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
    std::vector<char> chunk(1 << 20, 'x');
    for (uint64_t off = 0; off < kFileSize; off += chunk.size()) {
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) < 0) std::abort();
    }
    for (uint64_t off = 0; off < kFileSize; off += chunk.size()) {
      if (::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) < 0) std::abort();
    }
    ::close(fd);
    std::atexit([] { ::unlink(CachedFile().c_str()); });
    return p;
  }();
  return path;
}

uint64_t RandomPageOffset(std::mt19937_64& rng) { return (rng() % (kFileSize / kPage)) * kPage; }

void BM_RawPreadPageCacheHit(benchmark::State& state) {
  const int fd = ::open(CachedFile().c_str(), O_RDONLY);
  alignas(4096) static char buf[kPage];
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    if (::pread(fd, buf, kPage, static_cast<off_t>(RandomPageOffset(rng))) != kPage) std::abort();
  }
  ::close(fd);
}
BENCHMARK(BM_RawPreadPageCacheHit);

void BM_VirtualFileReadPageCacheHit(benchmark::State& state, io_engine::IoEngineKind kind,
                                    bool with_metrics) {
  auto engine = io_engine::CreateIoEngine({.kind = kind});
  if (!engine.has_value()) {
    state.SkipWithError(engine.error().ToString().c_str());
    return;
  }
  common::Registry registry;
  virtual_file::IoMetrics metrics(registry, (*engine)->name(), virtual_file::IoMode::kBuffered);
  const virtual_file::IoContext ctx{engine->get(), virtual_file::IoMode::kBuffered, 512, false,
                                    with_metrics ? &metrics : nullptr};
  auto file = virtual_file::VirtualFile::Open(ctx, CachedFile(), virtual_file::OpenOptions::Read());
  if (!file.has_value()) {
    state.SkipWithError(file.error().ToString().c_str());
    return;
  }
  auto buf = virtual_file::IoBufferMut::Allocate(kPage, 4096);
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto n = file->ReadAt(RandomPageOffset(rng), buf.WholeCapacity());
    if (!n.has_value() || *n != kPage) std::abort();
  }
}
BENCHMARK_CAPTURE(BM_VirtualFileReadPageCacheHit, std_fs, io_engine::IoEngineKind::kStdFs, false);
BENCHMARK_CAPTURE(BM_VirtualFileReadPageCacheHit, std_fs_metrics, io_engine::IoEngineKind::kStdFs,
                  true);
BENCHMARK_CAPTURE(BM_VirtualFileReadPageCacheHit, io_uring, io_engine::IoEngineKind::kIoUring,
                  false);
BENCHMARK_CAPTURE(BM_VirtualFileReadPageCacheHit, io_uring_metrics,
                  io_engine::IoEngineKind::kIoUring, true);

}  // namespace
}  // namespace pageserver::bench

BENCHMARK_MAIN();
