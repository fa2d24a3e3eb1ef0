#include "bench/timeline_bench/read_cases.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>

#include "bench/io_bench/fio.h"
#include "bench/timeline_bench/host.h"
#include "bench/timeline_bench/read_counting_engine.h"
#include "common/metrics.h"
#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "timeline/timeline.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using virtual_file::IoMode;

namespace {

constexpr const char* kKinds[] = {"single", "batch32"};

std::vector<std::string> CacheStates(const std::string& mode) {
  if (mode == "direct") return {"direct"};
  if (mode == "buffered") return {"buffered-cold", "buffered-warm"};
  return {};
}

std::string CaseName(const std::string& kind, size_t depth, const std::string& engine,
                     const std::string& cache) {
  return "read/" + kind + "/d" + std::to_string(depth) + "/" + engine + "/" + cache;
}

// One Timeline::Load of the dataset for an engine x io mode. Members are
// destroyed bottom-up: the timeline before the cache and engines it uses.
struct Reader {
  std::string engine_name;
  std::unique_ptr<io_engine::IoEngine> base;
  std::unique_ptr<ReadCountingEngine> counting;
  virtual_file::IoContext ctx;
  common::Registry registry;
  std::unique_ptr<page_cache::PageCache> cache;
  std::shared_ptr<timeline::Timeline> tl;
};

timeline::TimelineConfig ReadConfig(const TimelineBenchConfig& config) {
  timeline::TimelineConfig tc;
  tc.background_threads = false;
  tc.gc_horizon = 0;
  tc.max_vectored_read_bytes = config.max_read_kib * 1024;
  return tc;
}

Result<std::unique_ptr<Reader>> OpenReader(const TimelineBenchConfig& config, const Dataset& ds,
                                           std::unique_ptr<io_engine::IoEngine> base, IoMode mode) {
  auto r = std::make_unique<Reader>();
  r->engine_name = std::string(base->name());
  r->base = std::move(base);
  r->counting = std::make_unique<ReadCountingEngine>(*r->base);
  r->ctx.engine = r->counting.get();
  r->ctx.mode = mode;
  // Every index and summary block fits, with room to spare (no eviction).
  const uint64_t pages = std::max<uint64_t>(ds.IndexBlocks() * 5 / 4 + 64, 256);
  ASSIGN_OR_RETURN(r->cache, page_cache::PageCache::Create({.pages = pages}));
  const timeline::TimelineResources res{
      .ctx = &r->ctx, .cache = r->cache.get(), .registry = &r->registry};
  ASSIGN_OR_RETURN(r->tl, timeline::Timeline::Load(res, ds.data_dir, ds.tenant, ds.timeline,
                                                   nullptr, ReadConfig(config)));
  if (r->tl->broken())
    return Status::Corruption("dataset timeline broken: " + *r->tl->broken_reason());
  RETURN_IF_ERROR(CheckDepths(*r->tl->layer_map(), ds));
  return r;
}

struct Counters {
  uint64_t engine_reads = 0;
  uint64_t data_reads = 0;
  uint64_t data_bytes = 0;
  uint64_t misses = 0;
  uint64_t device = 0;
};

Counters Snapshot(Reader& r) {
  const common::Labels labels{{"tenant_id", r.tl->tenant_id().ToHex()},
                              {"timeline_id", r.tl->timeline_id().ToHex()}};
  auto counter = [&](const char* name) {
    return static_cast<uint64_t>(r.registry.GetCounter(name, "", labels).Value());
  };
  return {r.counting->reads(), counter("ps_timeline_data_reads_total"),
          counter("ps_timeline_data_read_bytes_total"), r.cache->Stats().total_misses(),
          DeviceReadBytes()};
}

// The first page of each GetVectored call of a pass, in key order.
std::vector<uint64_t> CallStarts(const Dataset& ds, size_t keys_per_call) {
  std::vector<uint64_t> starts(ds.pages / keys_per_call);
  for (size_t i = 0; i < starts.size(); ++i) starts[i] = i * keys_per_call;
  return starts;
}

// Reads pages [first, first + keys.size()) at `lsn`; returns failed or wrong values.
uint64_t ReadCall(const timeline::Timeline& tl, const Dataset& ds, uint64_t first, Lsn lsn,
                  std::vector<Key>& keys) {
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = PageKey(first + i, ds.rel_blocks);
  const auto values = tl.GetVectored(keys, lsn);
  uint64_t errors = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].has_value() || !PageMatches(*values[i], first + i)) ++errors;
  }
  if (errors > 0 && !values.front().has_value()) {
    std::fprintf(stderr, "timeline_bench: read error: %s\n",
                 values.front().error().ToString().c_str());
  }
  return errors;
}

// A batch pass over every page at `lsn`: every index block those reads use
// enters the PageCache.
Status ReadEveryPage(Reader& r, const Dataset& ds, Lsn lsn) {
  std::vector<Key> keys(kBatchKeys);
  for (uint64_t first : CallStarts(ds, kBatchKeys)) {
    if (ReadCall(*r.tl, ds, first, lsn, keys) != 0) {
      return Status::Internal("warm-up read of page " + std::to_string(first) + " failed");
    }
  }
  return Status::Ok();
}

// Warms the index at the deepest and at the shallowest LSN (a key with a new
// image in a delta stops there, so the deepest pass alone could skip a
// bottom-image index block), and describes the result.
Result<std::string> WarmIndex(Reader& r, const Dataset& ds, const std::string& label) {
  RETURN_IF_ERROR(ReadEveryPage(r, ds, ds.round_lsns.back()));
  if (ds.round_lsns.size() > 1) RETURN_IF_ERROR(ReadEveryPage(r, ds, ds.round_lsns.front()));
  const page_cache::PageCacheStats stats = r.cache->Stats();
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%s: index warm-up cached %llu blocks (of at most %llu: every layer's "
                "index and summary blocks) in a PageCache of %llu pages, %llu evictions",
                label.c_str(), static_cast<unsigned long long>(stats.fills_ok),
                static_cast<unsigned long long>(ds.IndexBlocks()),
                static_cast<unsigned long long>(r.cache->pages()),
                static_cast<unsigned long long>(stats.evictions));
  return std::string(buf);
}

struct CaseSpec {
  std::string kind;
  std::string cache;
  size_t depth = 0;
  size_t keys_per_call = 1;
  double seconds = 0;
};

// Starts a pass: a fresh order and, for cold cases, an empty kernel page cache.
Status StartPass(std::vector<uint64_t>& order, std::mt19937_64& rng, const CaseSpec& spec,
                 const std::vector<std::string>& paths) {
  std::shuffle(order.begin(), order.end(), rng);
  return spec.cache == "buffered-cold" ? DropFromPageCache(paths) : Status::Ok();
}

void FillRow(ReadRow& row, const Counters& before, const Counters& after,
             std::vector<uint64_t>& latencies_ns) {
  row.pages = row.calls * row.keys_per_call;
  row.engine_reads = after.engine_reads - before.engine_reads;
  row.data_reads = after.data_reads - before.data_reads;
  row.data_read_bytes = after.data_bytes - before.data_bytes;
  row.index_misses = after.misses - before.misses;
  row.device_bytes = after.device - before.device;
  const uint64_t total = std::accumulate(latencies_ns.begin(), latencies_ns.end(), uint64_t{0});
  row.mean_us = latencies_ns.empty() ? 0 : total / 1e3 / latencies_ns.size();
  row.latency = ComputePercentiles(latencies_ns);
}

Result<ReadRow> RunCase(Reader& r, const Dataset& ds, const CaseSpec& spec) {
  ReadRow row{.name = CaseName(spec.kind, spec.depth, r.engine_name, spec.cache),
              .kind = spec.kind,
              .engine = r.engine_name,
              .cache = spec.cache,
              .depth = spec.depth,
              .keys_per_call = spec.keys_per_call};
  const Lsn lsn = ds.round_lsns.at(spec.depth);
  const std::vector<std::string> paths = ds.ReadLayerPaths();
  std::vector<uint64_t> order = CallStarts(ds, spec.keys_per_call);
  std::mt19937_64 rng(spec.depth * 31 + spec.keys_per_call);
  std::vector<Key> keys(spec.keys_per_call);
  std::vector<uint64_t> latencies_ns;
  RETURN_IF_ERROR(StartPass(order, rng, spec, paths));
  const Counters before = Snapshot(r);
  uint64_t busy_ns = 0;
  size_t next = 0;
  while (busy_ns < spec.seconds * 1e9) {
    if (next == order.size()) {
      RETURN_IF_ERROR(StartPass(order, rng, spec, paths));
      next = 0;
    }
    const uint64_t start = NowNanos();
    row.errors += ReadCall(*r.tl, ds, order[next++], lsn, keys);
    const uint64_t elapsed = NowNanos() - start;
    latencies_ns.push_back(elapsed);
    busy_ns += elapsed;
    ++row.calls;
  }
  row.seconds = busy_ns * 1e-9;
  FillRow(row, before, Snapshot(r), latencies_ns);
  return row;
}

bool AnySelected(const TimelineBenchConfig& config, const std::string& engine,
                 const std::string& cache) {
  for (const char* kind : kKinds) {
    for (size_t depth : config.depths) {
      if (CaseSelected(config, CaseName(kind, depth, engine, cache))) return true;
    }
  }
  return false;
}

// Runs the selected cases of one cache state on an opened reader.
Status RunCacheState(const TimelineBenchConfig& config, const Dataset& ds, Reader& r,
                     const std::string& cache, ReadResults& out) {
  if (!AnySelected(config, r.engine_name, cache)) return Status::Ok();
  const std::vector<std::string> paths = ds.ReadLayerPaths();
  RETURN_IF_ERROR(cache == "buffered-warm" ? WarmKernelCache(paths) : DropFromPageCache(paths));
  for (const char* kind : kKinds) {
    for (size_t depth : config.depths) {
      const CaseSpec spec{kind, cache, depth, std::string(kind) == "single" ? 1 : kBatchKeys,
                          config.seconds};
      if (!CaseSelected(config, CaseName(kind, depth, r.engine_name, cache))) continue;
      ASSIGN_OR_RETURN(ReadRow row, RunCase(r, ds, spec));
      std::fprintf(stderr, "timeline_bench: %s: %.0f pages/s, %.3f reads/page\n", row.name.c_str(),
                   row.PagesPerSecond(), row.ReadsPerPage());
      out.rows.push_back(std::move(row));
    }
  }
  return Status::Ok();
}

Status RunMode(const TimelineBenchConfig& config, const Dataset& ds, io_engine::IoEngineKind kind,
               const std::string& mode, ReadResults& out) {
  const std::vector<std::string> caches = CacheStates(mode);
  if (caches.empty())
    return Status::InvalidArgument("read --modes: buffered or direct, not " + mode);
  const std::string engine(io_engine::IoEngineKindName(kind));
  bool selected = false;
  for (const std::string& cache : caches) selected = selected || AnySelected(config, engine, cache);
  if (!selected) return Status::Ok();
  ASSIGN_OR_RETURN(auto base, io_engine::CreateIoEngine({.kind = kind}));
  ASSIGN_OR_RETURN(const IoMode io_mode, virtual_file::ParseIoMode(mode));
  ASSIGN_OR_RETURN(auto reader, OpenReader(config, ds, std::move(base), io_mode));
  ASSIGN_OR_RETURN(std::string note, WarmIndex(*reader, ds, engine + "/" + mode));
  out.notes.push_back(std::move(note));
  for (const std::string& cache : caches) {
    RETURN_IF_ERROR(RunCacheState(config, ds, *reader, cache, out));
  }
  return Status::Ok();
}

FioReference RunFioReference(const TimelineBenchConfig& config, const Dataset& ds,
                             const std::string& engine) {
  FioReference ref{.engine = engine};
  const LayerFile* image = ds.BottomImage();
  const FioJob job{.path = image->path,
                   .file_size = image->summary.file_length,
                   .rw = "randread",
                   .block_size = 8192,
                   .ioengine = engine == "io-uring" ? "io_uring" : "psync",
                   .direct = true,
                   .iodepth = 1,
                   .seconds = config.seconds};
  ref.command = FioCommandLine(job);
  if (!FioAvailable()) {
    ref.error = "fio not installed";
    return ref;
  }
  auto stats = RunFio(job);
  if (stats.has_value()) ref.stats = *stats;
  if (!stats.has_value()) ref.error = stats.error().ToString();
  return ref;
}

bool EngineHasRows(const ReadResults& out, const std::string& engine) {
  return std::any_of(out.rows.begin(), out.rows.end(),
                     [&](const ReadRow& row) { return row.engine == engine; });
}

}  // namespace

std::vector<std::string> PlannedReadCases(const TimelineBenchConfig& config) {
  std::vector<std::string> names;
  for (const std::string& engine : config.engines) {
    for (const std::string& mode : config.modes) {
      for (const std::string& cache : CacheStates(mode)) {
        for (const char* kind : kKinds) {
          for (size_t depth : config.depths) {
            const std::string name = CaseName(kind, depth, engine, cache);
            if (CaseSelected(config, name)) names.push_back(name);
          }
        }
      }
    }
  }
  return names;
}

Result<ReadResults> RunReadCases(const TimelineBenchConfig& config, const Dataset& ds) {
  ReadResults out;
  for (const std::string& engine : config.engines) {
    ASSIGN_OR_RETURN(const io_engine::IoEngineKind kind, io_engine::ParseIoEngineKind(engine));
    if (kind == io_engine::IoEngineKind::kIoUring) {
      const Status probe = io_engine::ProbeIoUring();
      if (!probe.ok()) {
        out.notes.push_back("io-uring: skipped: " + probe.ToString());
        continue;
      }
    }
    for (const std::string& mode : config.modes) {
      RETURN_IF_ERROR(RunMode(config, ds, kind, mode, out));
    }
    if (config.run_fio && EngineHasRows(out, engine)) {
      out.fio.push_back(RunFioReference(config, ds, engine));
    }
  }
  return out;
}

}  // namespace pageserver::bench
