#pragma once

// TenantManager: the daemon's tenants, loaded from `<data_dir>/tenants` at
// startup, created and deleted through the HTTP API, looked up by the page
// service on every connection. It owns the per-tenant IO context (so every
// byte a tenant's files move is counted under its label) and hands each
// tenant the shared PageCache and registry.
//
// Layout on disk: <data_dir>/tenants/<tenant id>/ (timeline::TenantDir).
//
// Thread-safety: every method is thread-safe. Tenants and timelines are
// shared_ptrs: a lookup stays usable after a concurrent delete (its calls
// then fail with Aborted), and memory is freed when the last user drops it.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "page_cache/page_cache.h"
#include "server/io_settings.h"
#include "timeline/tenant.h"
#include "timeline/timeline.h"

namespace pageserver::server {

struct TenantManagerOptions {
  std::string data_dir;
  // Knobs every timeline gets (the config's checkpoint/compaction keys).
  timeline::TimelineConfig timeline;
};

// Ancestor and branch point of a timeline to create; absent for a root.
struct BranchSpec {
  layers::TimelineId ancestor;
  layers::Lsn lsn;
};

class TenantManager {
 public:
  // Creates <data_dir>/tenants if needed and loads every tenant in it.
  // A tenant that fails to load is logged and listed in problems(); the
  // others still load. Errors: the data directory unusable.
  // `io`, `cache` and `registry` must outlive the manager.
  static common::Result<std::unique_ptr<TenantManager>> Open(IoSettings& io,
                                                             page_cache::PageCache& cache,
                                                             common::Registry& registry,
                                                             const TenantManagerOptions& options);
  ~TenantManager();  // Shutdown(false) if not shut down
  TenantManager(const TenantManager&) = delete;
  TenantManager& operator=(const TenantManager&) = delete;

  // AlreadyExists; Aborted after Shutdown.
  common::Result<std::shared_ptr<timeline::Tenant>> CreateTenant(layers::TenantId id);
  // NotFound "tenant <id> not found".
  common::Result<std::shared_ptr<timeline::Tenant>> GetTenant(layers::TenantId id) const;
  std::vector<std::shared_ptr<timeline::Tenant>> Tenants() const;  // sorted by id
  // Shuts the tenant down (no checkpoint) and removes its directory.
  common::Status DeleteTenant(layers::TenantId id);

  // A root timeline starting at start_lsn (pg_version as Postgres' major, e.g. 15),
  // or a branch. Errors as timeline::Tenant::CreateTimeline / CreateBranch;
  // NotFound for an unknown tenant.
  common::Result<std::shared_ptr<timeline::Timeline>> CreateTimeline(layers::TenantId tenant,
                                                                     layers::TimelineId id,
                                                                     layers::Lsn start_lsn,
                                                                     uint32_t pg_version);
  common::Result<std::shared_ptr<timeline::Timeline>> CreateBranch(layers::TenantId tenant,
                                                                   layers::TimelineId id,
                                                                   const BranchSpec& branch);
  // NotFound naming the tenant or the timeline.
  common::Result<std::shared_ptr<timeline::Timeline>> GetTimeline(layers::TenantId tenant,
                                                                  layers::TimelineId id) const;
  common::Status DeleteTimeline(layers::TenantId tenant, layers::TimelineId id);

  // Shuts every tenant down (with `checkpoint`, flushing what was
  // ingested). Later creates are Aborted. Idempotent.
  // REQUIRES (checkpoint): no ingest attached (the page service detaches
  // ingest when its connections end).
  common::Status Shutdown(bool checkpoint);

  // Tenants that failed to load, with the reason.
  std::vector<std::string> problems() const;
  const std::string& data_dir() const { return options_.data_dir; }

 private:
  struct Entry;
  TenantManager(IoSettings& io, page_cache::PageCache& cache, common::Registry& registry,
                TenantManagerOptions options);
  common::Status LoadAll();
  timeline::TimelineResources ResourcesFor(layers::TenantId id);

  IoSettings& io_;
  page_cache::PageCache& cache_;
  common::Registry& registry_;
  const TenantManagerOptions options_;
  mutable std::mutex mu_;
  bool shut_down_ = false;                       // guarded by mu_
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_, sorted by id
  std::vector<std::string> problems_;            // guarded by mu_
};

}  // namespace pageserver::server
