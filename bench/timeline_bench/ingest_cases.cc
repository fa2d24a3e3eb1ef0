#include "bench/timeline_bench/ingest_cases.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

#include "bench/io_bench/stats.h"
#include "bench/timeline_bench/dataset.h"
#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "timeline/timeline.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using layers::Lsn;
using timeline::Timeline;
using timeline::Value;

namespace {

constexpr size_t kPoolSize = 64;
constexpr uint64_t kKeyCycle = uint64_t{128} << 10;  // pages
constexpr uint32_t kRelBlocks = 16384;
constexpr Lsn kStartLsn{0x1000000};

std::vector<std::string> Kinds(const TimelineBenchConfig& config) {
  return {"image8k", "record" + std::to_string(config.record_bytes)};
}

std::string CaseName(const std::string& kind, const std::string& engine, const std::string& mode) {
  return "ingest/" + kind + "/" + engine + "/" + mode;
}

Result<std::vector<Value>> ValuePool(const TimelineBenchConfig& config, bool images) {
  std::vector<Value> pool;
  std::mt19937_64 rng(config.seed);
  for (size_t i = 0; i < kPoolSize; ++i) {
    if (images) {
      ASSIGN_OR_RETURN(Value v, Value::Image(StampedPage(i, i)));
      pool.push_back(std::move(v));
      continue;
    }
    std::vector<std::byte> bytes(config.record_bytes);
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    const size_t offset =
        kStampBytes + rng() % (timeline::kPageSize - kStampBytes - bytes.size() + 1);
    ASSIGN_OR_RETURN(Value v, Value::Write(offset, bytes));
    pool.push_back(std::move(v));
  }
  return pool;
}

timeline::TimelineConfig IngestConfig(const TimelineBenchConfig& config) {
  timeline::TimelineConfig tc;
  tc.checkpoint_distance = config.checkpoint_distance_mib << 20;
  tc.checkpoint_timeout = std::chrono::hours(24);
  tc.compaction_threshold = size_t{1} << 30;
  tc.image_creation_threshold = size_t{1} << 30;
  tc.gc_horizon = 0;
  tc.compaction_period = std::chrono::hours(24);
  return tc;
}

struct IngestIo {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
  std::unique_ptr<page_cache::PageCache> cache;
};

Result<IngestIo> MakeIngestIo(io_engine::IoEngineKind kind, const std::string& mode) {
  IngestIo io;
  ASSIGN_OR_RETURN(io.engine, io_engine::CreateIoEngine({.kind = kind}));
  io.ctx.engine = io.engine.get();
  ASSIGN_OR_RETURN(io.ctx.mode, virtual_file::ParseIoMode(mode));
  ASSIGN_OR_RETURN(io.cache, page_cache::PageCache::Create({}));
  return io;
}

// Puts `target_bytes` of encoded values from `pool` and checkpoints.
Status Ingest(Timeline& tl, const std::vector<Value>& pool, uint64_t target_bytes, IngestRow& row) {
  Lsn lsn = kStartLsn;
  const uint64_t start = NowNanos();
  while (row.value_bytes < target_bytes) {
    const Value& value = pool[row.records % pool.size()];
    lsn = Lsn{lsn.value + ((value.encoded_size() + 7) & ~uint64_t{7})};
    RETURN_IF_ERROR(tl.Put(PageKey(row.records % kKeyCycle, kRelBlocks), lsn, value));
    RETURN_IF_ERROR(tl.FinishLsn(lsn));
    row.value_bytes += value.encoded_size();
    ++row.records;
  }
  const uint64_t checkpoint_start = NowNanos();
  RETURN_IF_ERROR(tl.Checkpoint());
  const uint64_t end = NowNanos();
  row.seconds = (end - start) * 1e-9;
  row.checkpoint_seconds = (end - checkpoint_start) * 1e-9;
  return Status::Ok();
}

Result<IngestRow> RunCase(const TimelineBenchConfig& config, io_engine::IoEngineKind kind,
                          const std::string& engine, const std::string& mode,
                          const std::string& case_kind) {
  const bool images = case_kind == "image8k";
  IngestRow row{
      .name = CaseName(case_kind, engine, mode), .kind = case_kind, .engine = engine, .mode = mode};
  ASSIGN_OR_RETURN(const std::vector<Value> pool, ValuePool(config, images));
  ASSIGN_OR_RETURN(IngestIo io, MakeIngestIo(kind, mode));
  const std::string dir = config.dir + "/ingest." + std::to_string(::getpid());
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  const timeline::TimelineResources res{.ctx = &io.ctx, .cache = io.cache.get()};
  Status status;
  {
    auto tl =
        Timeline::CreateEmpty(res, dir, layers::TenantId::Generate(),
                              layers::TimelineId::Generate(), kStartLsn, 16, IngestConfig(config));
    status = tl.has_value() ? Status::Ok() : tl.error();
    const uint64_t target = (images ? config.ingest_mib : config.ingest_record_mib) << 20;
    if (status.ok()) status = Ingest(**tl, pool, target, row);
    if (status.ok()) {
      const timeline::TimelineStats stats = (*tl)->Stats();
      row.l0_layers = stats.l0_deltas;
      row.layer_bytes = stats.layer_bytes;
      status = (*tl)->Shutdown(/*checkpoint=*/false);
    }
  }
  std::filesystem::remove_all(dir, ignored);
  RETURN_IF_ERROR(status);
  return row;
}

}  // namespace

std::vector<std::string> PlannedIngestCases(const TimelineBenchConfig& config) {
  std::vector<std::string> names;
  for (const std::string& engine : config.engines) {
    for (const std::string& mode : config.ingest_modes) {
      for (const std::string& kind : Kinds(config)) {
        const std::string name = CaseName(kind, engine, mode);
        if (CaseSelected(config, name)) names.push_back(name);
      }
    }
  }
  return names;
}

Result<std::vector<IngestRow>> RunIngestCases(const TimelineBenchConfig& config,
                                              std::vector<std::string>& notes) {
  std::vector<IngestRow> rows;
  for (const std::string& engine : config.engines) {
    ASSIGN_OR_RETURN(const io_engine::IoEngineKind kind, io_engine::ParseIoEngineKind(engine));
    if (kind == io_engine::IoEngineKind::kIoUring && !io_engine::ProbeIoUring().ok()) {
      notes.push_back("io-uring ingest: skipped: " + io_engine::ProbeIoUring().ToString());
      continue;
    }
    for (const std::string& mode : config.ingest_modes) {
      for (const std::string& case_kind : Kinds(config)) {
        if (!CaseSelected(config, CaseName(case_kind, engine, mode))) continue;
        ASSIGN_OR_RETURN(IngestRow row, RunCase(config, kind, engine, mode, case_kind));
        std::fprintf(stderr, "timeline_bench: %s: %.1f MiB/s\n", row.name.c_str(), row.MiBps());
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

}  // namespace pageserver::bench
