// Micro benchmarks (Google Benchmark) of layer files:
//   - BM_BtreeLookupWarm: DiskBtreeReader::Get of random keys in the index of
//     an image layer of 2^20 keys (16 relations x 65536 blocks, 8-byte
//     values), every node held in the PageCache: the CPU cost of a lookup
//     (descent, pins, binary searches), no IO;
//   - BM_PlannerPerBlob: VectoredReadPlan::Build over 32 and 1024 BlobRefs of
//     8208 bytes (an 8 KiB page and its header), adjacent or at random
//     distinct offsets of a 1 GiB value region; items = blobs;
//   - BM_ImageLayerColdRead/{buffered,direct}: ImageLayerReader::Get of one
//     random key of a 64 MiB layer of 8 KiB pages (std-fs engine), each key
//     read once per pass; before each pass (timing paused) the file is
//     dropped from the kernel page cache with POSIX_FADV_DONTNEED, so every
//     value read goes to the device. The index is warmed into the PageCache
//     first: only the value read (plan, one read, checksum, copy) is timed;
//   - BM_ImageLayerPageCacheRead: the same Get with the file held in the
//     kernel page cache (buffered), i.e. Get's software cost without device;
//   - BM_LayerBuild/{buffered,direct-rw}/{none,zstd}: ImageLayerWriter
//     writing a 64 MiB layer of Postgres-like pages (PostgresLikePage below)
//     up to Finish (index, summary, fsync, rename, directory fsync).
// Files live under $PS_BENCH_DIR (default /var/tmp/ps-layer-bench, on disk:
// /tmp may be tmpfs) and are removed at exit.
//
//   build/release/bench/layer_bench      (see BENCHMARKS.md "Layer files")

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io_engine/io_engine.h"
#include "layers/image_layer.h"
#include "layers/vectored_read.h"
#include "page_cache/page_cache.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {
namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;
using layers::RelTag;
using virtual_file::IoMode;

constexpr size_t kPageBytes = 8192;
constexpr uint32_t kLayerPages = 8192;  // 64 MiB of 8 KiB pages
constexpr Lsn kImageLsn{0x1000};

std::string BenchDir() {
  const char* env = std::getenv("PS_BENCH_DIR");
  std::string dir = (env != nullptr && *env != '\0') ? env : "/var/tmp/ps-layer-bench";
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  return dir;
}

// A directory of its own per fixture, so a rename never replaces another
// fixture's layer; removed with its files at exit (static destructors).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(BenchDir() + "/" + name + "." + std::to_string(::getpid())) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

RelTag Relation(uint32_t i) { return RelTag{1663, 5, 16384 + i, 0}; }

// An engine and the IoContext using it.
struct Io {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
};

Result<std::unique_ptr<Io>> MakeIo(IoMode mode) {
  auto io = std::make_unique<Io>();
  ASSIGN_OR_RETURN(io->engine,
                   io_engine::CreateIoEngine({.kind = io_engine::IoEngineKind::kStdFs}));
  io->ctx.engine = io->engine.get();
  io->ctx.mode = mode;
  return io;
}

// A heap page as Postgres lays it out, 71% full: a 24-byte page header, 52
// line pointers, and 52 tuples of 112 bytes at the end of the page (a
// 24-byte tuple header with xmin/ctid/infomask, then an int8 id, a random
// int4, a random float8 and a 68-byte text of random letters and digits);
// the 2136 bytes of free space between pd_lower and pd_upper are zero.
// zstd level 1 stores such a page in about half its size (the decoded /
// stored ratio is printed as the counter `ratio`: 2.0).
std::vector<std::byte> PostgresLikePage(uint32_t blk, std::mt19937_64& rng) {
  constexpr uint16_t kTuples = 52;
  constexpr uint16_t kTupleBytes = 112;
  std::vector<std::byte> page(kPageBytes);
  auto put = [&page](size_t off, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) page[off + i] = static_cast<std::byte>(v >> (8 * i));
  };
  const uint16_t lower = 24 + 4 * kTuples;
  const uint16_t upper = kPageBytes - size_t{kTuples} * kTupleBytes;
  put(0, 0x16B374D848 + blk * 0x200ull, 8);  // pd_lsn
  put(8, rng() & 0xffff, 2);                 // pd_checksum
  put(12, lower, 2);
  put(14, upper, 2);
  put(16, kPageBytes, 2);  // pd_special
  put(18, 0x2004, 2);      // pd_pagesize_version
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (uint16_t t = 0; t < kTuples; ++t) {
    const size_t off = upper + size_t{t} * kTupleBytes;
    put(24 + 4 * t, off | (1u << 15) | (uint64_t{kTupleBytes} << 17), 4);  // line pointer
    put(off, 7000 + blk, 4);                                               // t_xmin
    put(off + 12, blk, 4);                                                 // t_ctid block
    put(off + 16, t + 1, 2);                                               // t_ctid offset
    put(off + 18, 4, 2);                                                   // t_infomask2
    put(off + 20, 0x0902, 2);                                              // t_infomask
    put(off + 22, 24, 1);                                                  // t_hoff
    put(off + 24, uint64_t{blk} * kTuples + t, 8);                         // id
    put(off + 32, rng() & 0xffffffff, 4);                                  // int4
    put(off + 36, rng(), 8);                                               // float8 bits
    put(off + 44, (68 << 1) | 1, 1);                                       // short varlena
    for (size_t i = 0; i < 67; ++i) put(off + 45 + i, kAlnum[rng() % 62], 1);
  }
  return page;
}

// 512 distinct pages (4 MiB), cycled by the writers.
const std::vector<std::vector<std::byte>>& SamplePages() {
  static const auto* pages = [] {
    auto* p = new std::vector<std::vector<std::byte>>();
    std::mt19937_64 rng(42);
    for (uint32_t i = 0; i < 512; ++i) p->push_back(PostgresLikePage(i, rng));
    return p;
  }();
  return *pages;
}

// Writes an image layer of `pages` Postgres-like pages of one relation.
Result<layers::WrittenLayer> WritePageLayer(const virtual_file::IoContext& ctx,
                                            const std::string& dir, uint32_t pages,
                                            layers::Compression compression) {
  const KeyRange keys{Key::RelBlock(Relation(0), 0), Key::RelBlock(Relation(0), pages)};
  ASSIGN_OR_RETURN(auto writer,
                   layers::ImageLayerWriter::Create(ctx, dir, layers::TenantId::Generate(),
                                                    layers::TimelineId::Generate(), keys, kImageLsn,
                                                    {.image_compression = compression}));
  const auto& samples = SamplePages();
  for (uint32_t blk = 0; blk < pages; ++blk) {
    RETURN_IF_ERROR(writer->Put(Key::RelBlock(Relation(0), blk), samples[blk % samples.size()]));
  }
  return writer->Finish();
}

// ---- BM_BtreeLookupWarm ----

constexpr uint32_t kTreeRelations = 16;
constexpr uint32_t kTreeBlocksPerRelation = 65536;  // 16 x 65536 = 2^20 keys

struct WarmTree {
  Status status;
  ScratchDir dir{"btree"};
  std::unique_ptr<Io> io;
  std::unique_ptr<page_cache::PageCache> cache;
  std::unique_ptr<layers::ImageLayerReader> reader;
};

Status WriteTreeLayer(WarmTree& t, std::string& path) {
  const KeyRange keys{Key::RelBlock(Relation(0), 0),
                      Key::RelBlock(Relation(kTreeRelations - 1), kTreeBlocksPerRelation)};
  ASSIGN_OR_RETURN(auto writer, layers::ImageLayerWriter::Create(
                                    t.io->ctx, t.dir.path(), layers::TenantId::Generate(),
                                    layers::TimelineId::Generate(), keys, kImageLsn));
  const std::byte value[8] = {};
  for (uint32_t r = 0; r < kTreeRelations; ++r) {
    for (uint32_t blk = 0; blk < kTreeBlocksPerRelation; ++blk) {
      RETURN_IF_ERROR(writer->Put(Key::RelBlock(Relation(r), blk), value));
    }
  }
  ASSIGN_OR_RETURN(const layers::WrittenLayer layer, writer->Finish());
  path = layer.path;
  return Status::Ok();
}

// Walks every entry with a cursor: every node enters the cache.
Status WarmIndex(const layers::DiskBtreeReader& index) {
  layers::DiskBtreeCursor cursor = index.NewCursor();
  RETURN_IF_ERROR(cursor.SeekFirst());
  while (cursor.valid()) RETURN_IF_ERROR(cursor.Next());
  return cursor.status();
}

Status BuildWarmTree(WarmTree& t) {
  ASSIGN_OR_RETURN(t.io, MakeIo(IoMode::kBuffered));
  std::string path;
  RETURN_IF_ERROR(WriteTreeLayer(t, path));
  ASSIGN_OR_RETURN(t.cache, page_cache::PageCache::Create({.pages = 8192}));
  ASSIGN_OR_RETURN(t.reader, layers::ImageLayerReader::Open(t.io->ctx, path, t.cache.get()));
  if (t.reader->summary().index_node_count > 4096) {
    return Status::Internal("index larger than half the cache");
  }
  return WarmIndex(t.reader->index());
}

WarmTree& GetWarmTree() {
  static WarmTree tree;
  static const bool built = [] {
    tree.status = BuildWarmTree(tree);
    return true;
  }();
  (void)built;
  return tree;
}

void BM_BtreeLookupWarm(benchmark::State& state) {
  WarmTree& t = GetWarmTree();
  if (!t.status.ok()) {
    state.SkipWithError(t.status.ToString().c_str());
    return;
  }
  constexpr size_t kKeys = 1 << 16;  // drawn up front: the loop measures lookups, not the PRNG
  std::mt19937_64 rng(7);
  std::vector<layers::EncodedKey> keys(kKeys);
  for (auto& k : keys) {
    k = Key::RelBlock(Relation(rng() % kTreeRelations), rng() % kTreeBlocksPerRelation).Encode();
  }
  const layers::DiskBtreeReader& index = t.reader->index();
  size_t i = 0;
  for (auto _ : state) {
    auto value = index.Get(keys[i++ & (kKeys - 1)]);
    if (!value.has_value() || !value->has_value()) {
      state.SkipWithError("lookup failed");
      break;
    }
    benchmark::DoNotOptimize(**value);
  }
  state.counters["depth"] = t.reader->summary().index_depth;
  state.counters["nodes"] = static_cast<double>(t.reader->summary().index_node_count);
}
BENCHMARK(BM_BtreeLookupWarm);

// ---- BM_PlannerPerBlob ----

constexpr uint32_t kBlobBytes = kPageBytes + layers::kBlobHeaderSize;

std::vector<layers::BlobRef> PlannerBlobs(size_t n, bool adjacent) {
  constexpr uint64_t kSlots = (1ull << 30) / kBlobBytes;  // a 1 GiB value region
  std::vector<uint64_t> slots;
  if (adjacent) {
    for (size_t i = 0; i < n; ++i) slots.push_back(i);
  } else {
    std::mt19937_64 rng(n);
    while (slots.size() < n) {
      const uint64_t s = rng() % kSlots;
      if (std::find(slots.begin(), slots.end(), s) == slots.end()) slots.push_back(s);
    }
  }
  std::vector<layers::BlobRef> blobs;
  blobs.reserve(slots.size());
  for (uint64_t s : slots) blobs.push_back({kPageBytes + s * kBlobBytes, kBlobBytes, true});
  return blobs;
}

void BM_PlannerPerBlob(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const std::vector<layers::BlobRef> blobs = PlannerBlobs(n, state.range(1) != 0);
  const layers::PlannerOptions options;
  size_t reads = 0;
  for (auto _ : state) {
    layers::VectoredReadPlan plan = layers::VectoredReadPlan::Build(blobs, options);
    reads = plan.reads().size();
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.counters["reads"] = static_cast<double>(reads);
}
BENCHMARK(BM_PlannerPerBlob)->ArgsProduct({{32, 1024}, {1, 0}})->ArgNames({"blobs", "adjacent"});

// ---- BM_ImageLayerColdRead ----

struct ColdLayer {
  Status status;
  ScratchDir dir{"cold"};
  std::string path;
};

const ColdLayer& GetColdLayer() {
  static ColdLayer layer;
  static const bool built = [] {
    auto io = MakeIo(IoMode::kBuffered);
    if (!io.has_value()) {
      layer.status = io.error();
      return true;
    }
    auto written =
        WritePageLayer((*io)->ctx, layer.dir.path(), kLayerPages, layers::Compression::kNone);
    if (written.has_value()) layer.path = written->path;
    if (!written.has_value()) layer.status = written.error();
    return true;
  }();
  (void)built;
  return layer;
}

// Drops the file's pages from the kernel page cache (they are clean: the
// writer fsynced them).
Status DropFromPageCache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (rc != 0) return Status::FromErrno(rc, "posix_fadvise DONTNEED " + path);
  return Status::Ok();
}

Status WarmAllLookups(const layers::ImageLayerReader& reader) {
  for (uint32_t blk = 0; blk < kLayerPages; ++blk) {
    ASSIGN_OR_RETURN(const auto blob, reader.Lookup(Key::RelBlock(Relation(0), blk)));
    if (!blob.has_value()) return Status::Internal("key missing from the bench layer");
  }
  return Status::Ok();
}

// Bytes this process has caused to be read from the block layer
// (/proc/self/io read_bytes; buffered and O_DIRECT reads alike), 0 when the
// file cannot be read.
uint64_t DeviceReadBytes() {
  std::ifstream io("/proc/self/io");
  std::string field;
  uint64_t value = 0;
  while (io >> field >> value) {
    if (field == "read_bytes:") return value;
  }
  return 0;
}

// Starts a pass: a fresh order of all keys and a cold kernel page cache.
Status StartPass(const std::string& path, std::vector<Key>& order, std::mt19937_64& rng) {
  std::shuffle(order.begin(), order.end(), rng);
  return DropFromPageCache(path);
}

// A reader of the cold-read layer with its index warm in its own PageCache.
struct ColdReader {
  std::unique_ptr<Io> io;
  std::unique_ptr<page_cache::PageCache> cache;
  std::unique_ptr<layers::ImageLayerReader> reader;
};

Result<ColdReader> OpenColdReader(IoMode mode) {
  const ColdLayer& layer = GetColdLayer();
  RETURN_IF_ERROR(layer.status);
  ColdReader r;
  ASSIGN_OR_RETURN(r.io, MakeIo(mode));
  ASSIGN_OR_RETURN(r.cache, page_cache::PageCache::Create({.pages = 256}));
  ASSIGN_OR_RETURN(r.reader, layers::ImageLayerReader::Open(r.io->ctx, layer.path, r.cache.get()));
  RETURN_IF_ERROR(WarmAllLookups(*r.reader));
  return r;
}

// Get of every key in a random order per pass; `cold`: the file is dropped
// from the kernel page cache before each pass, else it stays there (after a
// first untimed pass) and Get's software cost is what remains.
void RunImageLayerReads(benchmark::State& state, IoMode mode, bool cold) {
  auto opened = OpenColdReader(mode);
  std::vector<Key> order;
  for (uint32_t blk = 0; blk < kLayerPages; ++blk) order.push_back(Key::RelBlock(Relation(0), blk));
  std::mt19937_64 rng(3);
  Status status = opened.has_value() ? StartPass(GetColdLayer().path, order, rng) : opened.error();
  const layers::ImageLayerReader* reader = opened.has_value() ? opened->reader.get() : nullptr;
  for (size_t i = 0; !cold && status.ok() && i < order.size(); ++i) {
    status = reader->Get(order[i]).error();
  }
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }
  const uint64_t device_bytes_before = DeviceReadBytes();
  size_t next = 0;
  for (auto _ : state) {
    if (next == order.size()) {
      state.PauseTiming();
      status = cold ? StartPass(reader->path(), order, rng) : Status::Ok();
      next = 0;
      state.ResumeTiming();
    }
    auto value = reader->Get(order[next++]);
    if (!value.has_value()) status = value.error();
    if (status.ok() && value->size() != kPageBytes) status = Status::Internal("short value");
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPageBytes));
  // The proof that cold reads were cold: what reached the device per Get.
  state.counters["dev_KiB_per_read"] =
      static_cast<double>(DeviceReadBytes() - device_bytes_before) / 1024.0 /
      static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}

void BM_ImageLayerColdRead(benchmark::State& state, IoMode mode) {
  RunImageLayerReads(state, mode, /*cold=*/true);
}

// The same Get with the file in the kernel page cache: no device time.
void BM_ImageLayerPageCacheRead(benchmark::State& state) {
  RunImageLayerReads(state, IoMode::kBuffered, /*cold=*/false);
}
BENCHMARK(BM_ImageLayerPageCacheRead)->UseRealTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(BM_ImageLayerColdRead, buffered, IoMode::kBuffered)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ImageLayerColdRead, direct, IoMode::kDirect)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---- BM_LayerBuild ----

void BM_LayerBuild(benchmark::State& state, IoMode mode, layers::Compression compression) {
  ScratchDir dir("build");
  auto io = MakeIo(mode);
  if (!io.has_value()) {
    state.SkipWithError(io.error().ToString().c_str());
    return;
  }
  SamplePages();  // generated outside the timed loop
  layers::LayerSummary summary;
  for (auto _ : state) {
    auto written = WritePageLayer((*io)->ctx, dir.path(), kLayerPages, compression);
    if (!written.has_value()) {
      state.SkipWithError(written.error().ToString().c_str());
      break;
    }
    state.PauseTiming();
    summary = written->summary;
    std::filesystem::remove(written->path);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kLayerPages * kPageBytes));
  const double stored = static_cast<double>(summary.value_region_end - layers::kLayerBlockSize);
  state.counters["ratio"] = stored > 0 ? static_cast<double>(summary.value_bytes) / stored : 0;
  state.counters["file_MiB"] = static_cast<double>(summary.file_length) / (1 << 20);
}
BENCHMARK_CAPTURE(BM_LayerBuild, buffered_none, IoMode::kBuffered, layers::Compression::kNone)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LayerBuild, buffered_zstd, IoMode::kBuffered, layers::Compression::kZstd)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LayerBuild, direct_rw_none, IoMode::kDirectRw, layers::Compression::kNone)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LayerBuild, direct_rw_zstd, IoMode::kDirectRw, layers::Compression::kZstd)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pageserver::bench

BENCHMARK_MAIN();
