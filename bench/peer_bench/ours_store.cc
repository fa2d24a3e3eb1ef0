// OursStore: the pageserver timeline as peer_bench's "ours" (stores.h).

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "bench/peer_bench/stores.h"
#include "io_engine/io_engine.h"
#include "layers/ids.h"
#include "page_cache/page_cache.h"
#include "timeline/pg_mapping.h"
#include "timeline/tenant.h"
#include "timeline/timeline.h"
#include "virtual_file/io_mode.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using layers::Key;

struct OursStore::Impl {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
  std::unique_ptr<page_cache::PageCache> cache;
  std::unique_ptr<timeline::Tenant> tenant;
  std::shared_ptr<timeline::Timeline> tl;
  layers::Lsn lsn;

  ~Impl() {
    tl.reset();
    if (tenant) (void)tenant->Shutdown(/*checkpoint=*/false);
  }
};

namespace {

class OursThread : public StoreThread {
 public:
  OursThread(const timeline::Timeline& tl, layers::Lsn lsn) : tl_(tl), lsn_(lsn) {}
  Status Read(const Key& key, std::span<std::byte> out) override {
    auto results = tl_.GetVectored(std::span<const Key>(&key, 1), lsn_);
    if (!results[0].has_value()) return results[0].error();
    const std::vector<std::byte>& page = *results[0];
    if (page.size() != out.size()) {
      return Status::Corruption("page of " + std::to_string(page.size()) + " bytes");
    }
    std::memcpy(out.data(), page.data(), page.size());
    return Status::Ok();
  }

 private:
  const timeline::Timeline& tl_;
  const layers::Lsn lsn_;
};

}  // namespace

Result<std::unique_ptr<OursStore::Impl>> OursStore::OpenImpl(const OursOptions& o) {
  ASSIGN_OR_RETURN(const layers::TenantId tenant_id, layers::TenantId::ParseHex(o.tenant));
  ASSIGN_OR_RETURN(const layers::TimelineId timeline_id, layers::TimelineId::ParseHex(o.timeline));
  ASSIGN_OR_RETURN(const io_engine::IoEngineKind kind, io_engine::ParseIoEngineKind(o.engine));
  ASSIGN_OR_RETURN(const virtual_file::IoMode mode, virtual_file::ParseIoMode(o.mode));
  auto impl = std::make_unique<OursStore::Impl>();
  io_engine::IoEngineOptions engine_options;
  engine_options.kind = kind;
  ASSIGN_OR_RETURN(impl->engine, io_engine::CreateIoEngine(engine_options));
  impl->ctx.engine = impl->engine.get();
  impl->ctx.mode = mode;
  page_cache::PageCacheOptions cache_options;
  cache_options.pages = o.page_cache_bytes / page_cache::kPageSize;
  ASSIGN_OR_RETURN(impl->cache, page_cache::PageCache::Create(cache_options));
  timeline::TimelineResources res;
  res.ctx = &impl->ctx;
  res.cache = impl->cache.get();
  timeline::TimelineConfig config;
  config.background_threads = false;  // no flush, compaction, image creation or GC
  config.gc_horizon = 0;
  ASSIGN_OR_RETURN(impl->tenant, timeline::Tenant::Load(res, o.data_dir, tenant_id, config));
  ASSIGN_OR_RETURN(impl->tl, impl->tenant->GetTimeline(timeline_id));
  if (impl->tl->broken()) {
    return Status::Aborted("timeline is broken: " + *impl->tl->broken_reason());
  }
  impl->lsn = impl->tl->last_record_lsn();
  return impl;
}

OursStore::OursStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OursStore::~OursStore() = default;

Result<std::unique_ptr<OursStore>> OursStore::Open(const OursOptions& options) {
  ASSIGN_OR_RETURN(auto impl, OpenImpl(options));
  return std::unique_ptr<OursStore>(new OursStore(std::move(impl)));
}

layers::Lsn OursStore::lsn() const { return impl_->lsn; }
size_t OursStore::max_batch() const { return impl_->tl->config().max_get_vectored_keys; }

Result<std::vector<Key>> OursStore::ListRelBlocks() const {
  const timeline::Timeline& tl = *impl_->tl;
  std::vector<Key> keys;
  std::vector<timeline::DbDirEntry> dbs;
  if (auto dir = timeline::GetDbDir(tl, impl_->lsn); dir.has_value()) {
    dbs = std::move(*dir);
  } else if (!dir.error().IsNotFound()) {
    return dir.error();
  }
  for (const auto& db : dbs) {
    ASSIGN_OR_RETURN(const auto rels, timeline::GetRelDir(tl, db.spcnode, db.dbnode, impl_->lsn));
    for (const auto& r : rels) {
      const layers::RelTag rel{db.spcnode, db.dbnode, r.relnode, r.forknum};
      ASSIGN_OR_RETURN(const uint32_t nblocks, timeline::GetRelSize(tl, rel, impl_->lsn));
      for (uint32_t b = 0; b < nblocks; ++b) keys.push_back(Key::RelBlock(rel, b));
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<Result<std::vector<std::byte>>> OursStore::ReadBatch(std::span<const Key> keys) const {
  return impl_->tl->GetVectored(keys, impl_->lsn);
}

Result<std::unique_ptr<StoreThread>> OursStore::NewThread() {
  return std::unique_ptr<StoreThread>(new OursThread(*impl_->tl, impl_->lsn));
}

std::vector<std::string> OursStore::Files() const {
  std::vector<std::string> files;
  for (const timeline::Timeline* tl = impl_->tl.get(); tl != nullptr; tl = tl->ancestor().get()) {
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(tl->dir(), ec)) {
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
    }
  }
  return files;
}

uint64_t OursStore::IndexMemBytes() const { return impl_->cache->size_bytes(); }

}  // namespace pageserver::bench
