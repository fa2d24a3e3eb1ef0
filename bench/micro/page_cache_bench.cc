// Micro benchmarks (Google Benchmark) of the PageCache:
//   - BM_UnorderedMapFind: std::unordered_map<uint64_t, uint64_t>::find over
//     as many keys as the cache has pages: the floor a hash lookup costs on
//     this machine, measured in the same run for comparison;
//   - BM_PageCacheHit: Read() of a cached block (hash, shard lock, lookup,
//     pin, usage bump, estimator sample) and the guard's unpin, on 1 and 2
//     threads sharing one cache;
//   - BM_PageCacheMissDirect: Read() of blocks of a file 64x larger than the
//     cache, so nearly every access misses: victim search, eviction and one
//     8 KiB O_DIRECT read through VirtualFile into the slot;
//   - BM_EstimatorRecord: the working-set estimator's per-access cost, which
//     every hit includes.
// Keys are drawn up front so the loops measure the cache, not the PRNG.
//
//   build/release/bench/page_cache_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true      (one command line)

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "page_cache/working_set_estimator.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {
namespace {

using page_cache::BlockKind;
using page_cache::FileId;
using page_cache::kPageSize;
using page_cache::PageCache;

constexpr uint64_t kCachePages = 8192;  // Neon's default page_cache_size (64 MiB)
constexpr size_t kKeys = 1 << 16;       // pre-drawn keys per thread

std::vector<uint64_t> RandomKeys(uint64_t range, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> keys(kKeys);
  for (auto& k : keys) k = rng() % range;
  return keys;
}

void BM_UnorderedMapFind(benchmark::State& state) {
  static const auto* map = [] {
    auto* m = new std::unordered_map<uint64_t, uint64_t>();
    for (uint64_t i = 0; i < kCachePages; ++i) (*m)[i] = i * 3;
    return m;
  }();
  const std::vector<uint64_t> keys = RandomKeys(kCachePages, state.thread_index() + 1);
  size_t i = 0;
  for (auto _ : state) {
    auto it = map->find(keys[i++ & (kKeys - 1)]);
    benchmark::DoNotOptimize(it->second);
  }
}
BENCHMARK(BM_UnorderedMapFind)->Threads(1)->Threads(2);

// One cache for every hit benchmark, holding blocks 0..kCachePages-1 of one
// file (filled by memset: no disk).
struct HitFixture {
  std::unique_ptr<PageCache> cache;
  FileId file;
};

const HitFixture& WarmCache() {
  static const HitFixture* fixture = [] {
    auto* f = new HitFixture;
    f->cache = std::move(PageCache::Create({.pages = kCachePages})).value();
    f->file = f->cache->NewFileId();
    for (uint64_t b = 0; b < kCachePages; ++b) {
      auto fill = [b](virtual_file::AlignedSpanMut dst) {
        std::memset(dst.data(), static_cast<int>(b & 0xff), dst.size());
        return common::Status::Ok();
      };
      if (!f->cache->Read(f->file, b, BlockKind::kImageBtreeNode, fill).has_value()) std::abort();
    }
    return f;
  }();
  return *fixture;
}

void BM_PageCacheHit(benchmark::State& state) {
  const HitFixture& f = WarmCache();
  const std::vector<uint64_t> keys = RandomKeys(kCachePages, state.thread_index() + 1);
  auto never = [](virtual_file::AlignedSpanMut) { return common::Status::Internal("miss"); };
  size_t i = 0;
  for (auto _ : state) {
    auto page = f.cache->Read(f.file, keys[i++ & (kKeys - 1)], BlockKind::kImageBtreeNode, never);
    benchmark::DoNotOptimize(page->data()[0]);
  }
  if (state.thread_index() == 0) {
    const auto s = f.cache->Stats();
    state.counters["hit_rate"] = s.hit_rate();
  }
}
BENCHMARK(BM_PageCacheHit)->Threads(1)->Threads(2);

// A file of kFileBlocks pattern blocks, written once per process.
constexpr uint64_t kFileBlocks = uint64_t{64} * 1024;  // 512 MiB: 64x the miss cache below
const std::string& DataFile() {
  static const std::string path = [] {
    const char* dir = std::getenv("PS_BENCH_DIR");
    if (dir == nullptr) dir = std::getenv("TMPDIR");
    std::string p =
        std::string(dir ? dir : "/tmp") + "/ps_page_cache_bench." + std::to_string(::getpid());
    FILE* out = std::fopen(p.c_str(), "wb");
    if (out == nullptr) std::abort();
    std::vector<char> block(kPageSize);
    for (uint64_t b = 0; b < kFileBlocks; ++b) {
      std::memset(block.data(), static_cast<int>(b & 0xff), block.size());
      if (std::fwrite(block.data(), 1, block.size(), out) != block.size()) std::abort();
    }
    std::fclose(out);
    std::atexit([] { ::unlink(DataFile().c_str()); });
    return p;
  }();
  return path;
}

void BM_PageCacheMissDirect(benchmark::State& state, io_engine::IoEngineKind kind) {
  auto engine = io_engine::CreateIoEngine({.kind = kind});
  if (!engine.has_value()) {
    state.SkipWithError(engine.error().ToString().c_str());
    return;
  }
  const virtual_file::IoContext ctx{engine->get(), virtual_file::IoMode::kDirect};
  auto file = virtual_file::VirtualFile::Open(ctx, DataFile(), virtual_file::OpenOptions::Read());
  if (!file.has_value()) {
    state.SkipWithError(file.error().ToString().c_str());
    return;
  }
  auto cache = std::move(PageCache::Create({.pages = 1024})).value();
  const FileId id = cache->NewFileId();
  const std::vector<uint64_t> keys = RandomKeys(kFileBlocks, 7);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t block = keys[i++ & (kKeys - 1)];
    auto page = cache->Read(id, block, BlockKind::kDeltaBtreeNode, *file);
    if (!page.has_value() || page->data()[kPageSize - 1] != std::byte(block & 0xff)) {
      state.SkipWithError("bad read");
      break;
    }
  }
  const auto s = cache->Stats();
  state.counters["hit_rate"] = s.hit_rate();
  state.counters["evictions"] = static_cast<double>(s.evictions);
}
BENCHMARK_CAPTURE(BM_PageCacheMissDirect, std_fs, io_engine::IoEngineKind::kStdFs)->UseRealTime();
BENCHMARK_CAPTURE(BM_PageCacheMissDirect, io_uring, io_engine::IoEngineKind::kIoUring)
    ->UseRealTime();

void BM_EstimatorRecord(benchmark::State& state) {
  // Sized as the benchmarked cache sizes its own (8192 pages: R = 1/8).
  page_cache::WorkingSetEstimator estimator(page_cache::EstimatorOptionsForCache(8192));
  const std::vector<uint64_t> keys = RandomKeys(1 << 20, 3);
  size_t i = 0;
  for (auto _ : state) estimator.Record(keys[i++ & (kKeys - 1)]);
}
BENCHMARK(BM_EstimatorRecord);

}  // namespace
}  // namespace pageserver::bench

BENCHMARK_MAIN();
