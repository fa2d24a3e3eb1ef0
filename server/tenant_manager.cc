#include "server/tenant_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "virtual_file/virtual_file.h"

namespace pageserver::server {

using common::Result;
using common::Status;
using layers::TenantId;
using layers::TimelineId;
using timeline::Tenant;
using timeline::Timeline;

namespace {

// A tenant directory renamed to this while it is deleted; Open removes
// leftovers of a delete a crash interrupted (the rename made it final).
constexpr std::string_view kDeletedSuffix = ".___deleted";

std::string TenantsDir(const std::string& data_dir) { return data_dir + "/tenants"; }

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::FromErrno(ec.value(), "remove " + path);
  return Status::Ok();
}

Status NotFoundTenant(TenantId id) {
  return Status::NotFound("tenant " + id.ToHex() + " not found");
}

// Directory names under tenants/: 32 hex digits (a tenant), a deleted
// leftover, or something we leave alone.
struct TenantsDirListing {
  std::vector<TenantId> tenants;
  std::vector<std::string> leftovers;
  std::vector<std::string> unknown;
};

Result<TenantsDirListing> ListTenantsDir(const std::string& dir) {
  TenantsDirListing listing;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "list " + dir);
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kDeletedSuffix)) {
      listing.leftovers.push_back(entry.path().string());
      continue;
    }
    const Result<TenantId> id = TenantId::ParseHex(name);
    if (id.has_value() && entry.is_directory(ec)) {
      listing.tenants.push_back(*id);
    } else {
      listing.unknown.push_back(name);
    }
  }
  std::sort(listing.tenants.begin(), listing.tenants.end());
  return listing;
}

}  // namespace

struct TenantManager::Entry {
  TenantId id;
  std::shared_ptr<Tenant> tenant;
};

TenantManager::TenantManager(IoSettings& io, page_cache::PageCache& cache,
                             common::Registry& registry, TenantManagerOptions options)
    : io_(io), cache_(cache), registry_(registry), options_(std::move(options)) {}

TenantManager::~TenantManager() {
  const Status status = Shutdown(false);
  if (!status.ok()) spdlog::warn("tenant manager shutdown: {}", status.ToString());
}

Result<std::unique_ptr<TenantManager>> TenantManager::Open(IoSettings& io,
                                                           page_cache::PageCache& cache,
                                                           common::Registry& registry,
                                                           const TenantManagerOptions& options) {
  RETURN_IF_ERROR(options.timeline.Check());
  if (options.data_dir.empty()) return Status::InvalidArgument("data_dir is empty");
  RETURN_IF_ERROR(virtual_file::CreateDirectoriesDurably(TenantsDir(options.data_dir)));
  std::unique_ptr<TenantManager> manager(new TenantManager(io, cache, registry, options));
  RETURN_IF_ERROR(manager->LoadAll());
  return manager;
}

timeline::TimelineResources TenantManager::ResourcesFor(TenantId id) {
  return timeline::TimelineResources{io_.ContextFor(id), &cache_, &registry_};
}

Status TenantManager::LoadAll() {
  const std::string dir = TenantsDir(options_.data_dir);
  ASSIGN_OR_RETURN(TenantsDirListing listing, ListTenantsDir(dir));
  for (const std::string& leftover : listing.leftovers) {
    spdlog::info("removing {} (a tenant delete interrupted by a crash)", leftover);
    RETURN_IF_ERROR(RemoveTree(leftover));
  }
  if (!listing.leftovers.empty()) RETURN_IF_ERROR(virtual_file::SyncDirectory(dir));
  for (const std::string& name : listing.unknown) {
    spdlog::warn("{}/{}: not a tenant directory; left alone", dir, name);
  }
  std::lock_guard lock(mu_);
  for (const TenantId id : listing.tenants) {
    Result<std::unique_ptr<Tenant>> tenant =
        Tenant::Load(ResourcesFor(id), options_.data_dir, id, options_.timeline);
    if (!tenant.has_value()) {
      spdlog::error("tenant {} not loaded: {}", id.ToHex(), tenant.error().ToString());
      problems_.push_back(id.ToHex() + ": " + tenant.error().ToString());
      continue;
    }
    for (const std::string& problem : (*tenant)->problems()) {
      spdlog::error("tenant {}: timeline {}", id.ToHex(), problem);
      problems_.push_back(id.ToHex() + "/" + problem);
    }
    spdlog::info("loaded tenant {} ({} timelines)", id.ToHex(), (*tenant)->Timelines().size());
    entries_.push_back(std::make_unique<Entry>(Entry{id, std::move(*tenant)}));
  }
  return Status::Ok();
}

Result<std::shared_ptr<Tenant>> TenantManager::CreateTenant(TenantId id) {
  std::lock_guard lock(mu_);
  if (shut_down_) return Status::Aborted("pageserver is shutting down");
  const auto pos = std::lower_bound(entries_.begin(), entries_.end(), id,
                                    [](const auto& e, TenantId v) { return e->id < v; });
  if (pos != entries_.end() && (*pos)->id == id) {
    return Status::AlreadyExists("tenant " + id.ToHex() + " already exists");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tenant> tenant,
                   Tenant::Create(ResourcesFor(id), options_.data_dir, id, options_.timeline));
  std::shared_ptr<Tenant> shared = std::move(tenant);
  entries_.insert(pos, std::make_unique<Entry>(Entry{id, shared}));
  spdlog::info("created tenant {}", id.ToHex());
  return shared;
}

Result<std::shared_ptr<Tenant>> TenantManager::GetTenant(TenantId id) const {
  std::lock_guard lock(mu_);
  for (const auto& e : entries_) {
    if (e->id == id) return e->tenant;
  }
  return NotFoundTenant(id);
}

std::vector<std::shared_ptr<Tenant>> TenantManager::Tenants() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Tenant>> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e->tenant);
  return out;
}

// Crash-safe as Tenant::DeleteTimeline: rename, fsync the parent, remove.
Status TenantManager::DeleteTenant(TenantId id) {
  std::shared_ptr<Tenant> tenant;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return Status::Aborted("pageserver is shutting down");
    const auto it =
        std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e->id == id; });
    if (it == entries_.end()) return NotFoundTenant(id);
    tenant = (*it)->tenant;
    entries_.erase(it);
  }
  RETURN_IF_ERROR(tenant->Shutdown(false));
  const std::string dir = tenant->dir();
  const std::string doomed = dir + std::string(kDeletedSuffix);
  if (std::rename(dir.c_str(), doomed.c_str()) != 0) {
    return Status::FromErrno(errno, "rename " + dir + " to " + doomed);
  }
  RETURN_IF_ERROR(virtual_file::SyncDirectory(TenantsDir(options_.data_dir)));
  spdlog::info("deleted tenant {}", id.ToHex());
  return RemoveTree(doomed);
}

Result<std::shared_ptr<Timeline>> TenantManager::CreateTimeline(TenantId tenant, TimelineId id,
                                                                layers::Lsn start_lsn,
                                                                uint32_t pg_version) {
  ASSIGN_OR_RETURN(std::shared_ptr<Tenant> t, GetTenant(tenant));
  return t->CreateTimeline(id, start_lsn, pg_version);
}

Result<std::shared_ptr<Timeline>> TenantManager::CreateBranch(TenantId tenant, TimelineId id,
                                                              const BranchSpec& branch) {
  ASSIGN_OR_RETURN(std::shared_ptr<Tenant> t, GetTenant(tenant));
  return t->CreateBranch(id, branch.ancestor, branch.lsn);
}

Result<std::shared_ptr<Timeline>> TenantManager::GetTimeline(TenantId tenant, TimelineId id) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Tenant> t, GetTenant(tenant));
  return t->GetTimeline(id);
}

Status TenantManager::DeleteTimeline(TenantId tenant, TimelineId id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Tenant> t, GetTenant(tenant));
  return t->DeleteTimeline(id);
}

Status TenantManager::Shutdown(bool checkpoint) {
  std::vector<std::shared_ptr<Tenant>> tenants;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    for (const auto& e : entries_) tenants.push_back(e->tenant);
  }
  Status first = Status::Ok();
  for (const auto& t : tenants) {
    const Status status = t->Shutdown(checkpoint);
    if (!status.ok()) {
      spdlog::error("tenant {} shutdown: {}", t->tenant_id().ToHex(), status.ToString());
      if (first.ok()) first = status;
    }
  }
  return first;
}

std::vector<std::string> TenantManager::problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

}  // namespace pageserver::server
