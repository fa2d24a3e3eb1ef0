#pragma once

// Tenant: the timelines of one tenant and their directory (Neon's Tenant,
// without remote storage). A timeline is either a root (CreateTimeline) or a
// branch of another timeline of the same tenant at an LSN (CreateBranch);
// the ancestor links form a forest, and a branch reads its ancestor's
// history below the branch point, so an ancestor is loaded before its
// children, outlives them and cannot be deleted while it has any.
//
// Layout (timeline_dir.h):
//   <data_dir>/tenants/<tenant hex>/timelines/<timeline hex>/         a timeline
//   <data_dir>/tenants/<tenant hex>/timelines/<timeline hex>.___deleted a timeline
//                                                  being deleted (crash leftover)
//
// Load, in order:
//   1. lists "<tenant dir>/timelines" (NotFound when it is missing); removes
//      every "*.___deleted" entry recursively (a delete that a crash
//      interrupted: the rename made it final) and fsyncs the directory;
//      records every other entry that is not a directory named by 32 hex
//      digits in unknown_entries() and leaves it alone;
//   2. reads each timeline's metadata (ReadMetadata); a timeline whose
//      metadata is missing, corrupt or unsupported is not loaded;
//   3. loads the timelines ancestors first (Timeline::Load: temp-file
//      cleanup, every layer opened and verified, the layer map rebuilt). A
//      timeline is not loaded when its ancestor was not loaded (step 2 or 3
//      failed for it), does not exist, or when the ancestor links form a
//      cycle. A timeline that loads broken (a corrupt layer) IS loaded: it is
//      listed by Timelines() and refuses reads and ingest with its reason.
//   Every timeline not loaded, and every broken one, adds one line
//   "<timeline hex>: <Status::ToString()>" to problems(), in the order found.
//   Only a missing timelines directory or an IO error listing it or removing
//   a leftover fails Load; problems never do.
//   Example problems after the metadata of B (A <- B <- C) was corrupted:
//     "<B>: Corruption: ... metadata ...: checksum mismatch ..."
//     "<C>: Aborted: ancestor timeline <B> was not loaded"
//
// DeleteTimeline is crash-safe: it renames the directory to
// "<dir>.___deleted", fsyncs the timelines directory, then removes the
// renamed tree. A crash before the rename leaves the timeline intact; after
// it, Load removes the leftover, so no half-deleted timeline ever loads.
//
// Thread-safety: every method may be called from any thread. Create /
// CreateBranch / DeleteTimeline / Shutdown are serialized among themselves
// (they do IO and fsyncs); GetTimeline / Timelines only take a short lock and
// never wait for that IO. problems() and unknown_entries() are fixed when
// Load returns. The returned timelines are shared: a caller may keep using a
// timeline after DeleteTimeline or Shutdown, but its background threads are
// stopped and calls that touch its (removed) directory fail.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "timeline/timeline.h"

namespace pageserver::timeline {

// Suffix a timeline directory is renamed to while it is deleted.
inline constexpr std::string_view kDeletedDirSuffix = ".___deleted";

// "<data_dir>/tenants/<tenant hex>", e.g.
// TenantDir("/data", t) == "/data/tenants/ad50847381e248feaac9876cc71ae418".
std::string TenantDir(const std::string& data_dir, layers::TenantId tenant);

class Tenant {
 public:
  // Creates "<data_dir>/tenants/<id>/timelines" (and the parents it needs),
  // fsyncing every directory whose entry it created. An empty tenant.
  // Errors: AlreadyExists when the tenant directory exists; InvalidArgument
  // for resources without an engine or cache, or a bad config; IO errors.
  // REQUIRES: `res` (its ctx, cache and registry) outlives the tenant.
  static common::Result<std::unique_ptr<Tenant>> Create(const TimelineResources& res,
                                                        const std::string& data_dir,
                                                        layers::TenantId id,
                                                        const TimelineConfig& config);

  // Loads an existing tenant as the file comment describes; every timeline
  // gets `config`. Errors: NotFound naming the timelines directory when it
  // is missing; InvalidArgument as for Create; IO errors listing the
  // directory or removing a "*.___deleted" leftover. Per-timeline failures
  // are problems(), not errors. REQUIRES: as Create; no other process or
  // Tenant uses the directory.
  static common::Result<std::unique_ptr<Tenant>> Load(const TimelineResources& res,
                                                      const std::string& data_dir,
                                                      layers::TenantId id,
                                                      const TimelineConfig& config);

  // Shutdown(false): background threads stop, children first.
  ~Tenant();
  Tenant(const Tenant&) = delete;
  Tenant& operator=(const Tenant&) = delete;

  // A new root timeline (Timeline::CreateEmpty). Errors: AlreadyExists when
  // the tenant has it, or its directory holds metadata (e.g. a timeline Load
  // reported as a problem); Aborted after Shutdown; the timeline's own errors.
  common::Result<std::shared_ptr<Timeline>> CreateTimeline(layers::TimelineId id,
                                                           layers::Lsn start_lsn,
                                                           uint32_t pg_version);

  // A branch of `ancestor` at `lsn` (Timeline::CreateBranch). Errors:
  // AlreadyExists as above; NotFound when the tenant has no timeline
  // `ancestor`; Aborted when the ancestor is broken (a branch could read
  // nothing) or after Shutdown; Timeline::CreateBranch's InvalidArgument for
  // an LSN above the ancestor's last_record_lsn or below its GC cutoff.
  common::Result<std::shared_ptr<Timeline>> CreateBranch(layers::TimelineId new_id,
                                                         layers::TimelineId ancestor,
                                                         layers::Lsn lsn);

  // NotFound naming both ids when the tenant has no such (loaded) timeline.
  common::Result<std::shared_ptr<Timeline>> GetTimeline(layers::TimelineId id) const;
  // Every loaded timeline (broken ones too), sorted by id.
  std::vector<std::shared_ptr<Timeline>> Timelines() const;

  // Shuts the timeline down (no checkpoint: its unflushed data is dropped),
  // removes it from the tenant, drops its branch point on the ancestor (so
  // the ancestor's GC may remove what only it needed) and removes its
  // directory crash-safely (file comment). Errors: NotFound; InvalidArgument
  // naming a child when another timeline (loaded, or on disk with readable
  // metadata) has it as ancestor; Aborted after Shutdown; IO errors: a failed
  // rename leaves the timeline in the tenant (shut down); a failed removal
  // after the rename leaves a leftover that the next Load removes.
  common::Status DeleteTimeline(layers::TimelineId id);

  // Shuts every timeline down, children before their ancestors; with
  // `checkpoint` each (not broken) one also flushes everything ingested
  // (Timeline::Shutdown). Later Create/Branch/Delete calls are Aborted.
  // Continues past a failing timeline and returns the first error, naming
  // the timeline. Idempotent. REQUIRES (checkpoint): no timeline has ingest
  // attached to another thread (Timeline::DetachIngest).
  common::Status Shutdown(bool checkpoint);

  layers::TenantId tenant_id() const { return id_; }
  // TenantDir(data_dir, id).
  const std::string& dir() const { return dir_; }
  // See the file comment (Load); empty for a created tenant.
  const std::vector<std::string>& problems() const { return problems_; }
  // Names in the timelines directory Load did not recognize, sorted.
  const std::vector<std::string>& unknown_entries() const { return unknown_entries_; }
  // "*.___deleted" names Load removed, sorted.
  const std::vector<std::string>& removed_leftovers() const { return removed_leftovers_; }

 private:
  class Loader;

  Tenant(const TimelineResources& res, const std::string& data_dir, layers::TenantId id,
         const TimelineConfig& config);
  std::string TimelinesDir() const { return dir_ + "/timelines"; }
  common::Status CheckRunning() const;
  common::Status CheckNew(layers::TimelineId id) const;
  common::Status CheckNoChildren(layers::TimelineId id) const;
  common::Status RemoveTimelineDir(const Timeline& timeline) const;
  void Insert(std::shared_ptr<Timeline> timeline);

  const TimelineResources res_;
  const std::string data_dir_;
  const layers::TenantId id_;
  const std::string dir_;
  const TimelineConfig config_;

  // Fixed once Load returns.
  std::vector<std::string> problems_;
  std::vector<std::string> unknown_entries_;
  std::vector<std::string> removed_leftovers_;
  // Timelines on disk with readable metadata that Load could not load, and
  // the ancestor each names: they still pin that ancestor against deletion.
  std::map<layers::TimelineId, layers::TimelineId> unloaded_ancestors_;

  // Serializes the mutating operations (held across their IO); taken before mu_.
  std::mutex ops_mu_;
  mutable std::mutex mu_;
  std::map<layers::TimelineId, std::shared_ptr<Timeline>> timelines_;  // guarded by mu_
  bool shut_down_ = false;                                             // guarded by mu_
};

}  // namespace pageserver::timeline
