#include "timeline/tenant.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "timeline/metadata.h"
#include "timeline/timeline_dir.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Lsn;
using layers::TenantId;
using layers::TimelineId;

namespace {

// mkdir of one directory; true when it did not exist before.
Result<bool> MakeDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  return Status::FromErrno(errno, "create directory " + dir);
}

std::string Parent(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::FromErrno(ec.value(), "remove " + path);
  return Status::Ok();
}

std::string Problem(TimelineId id, const Status& status) {
  return id.ToHex() + ": " + status.ToString();
}

// Number of ancestors above `tl` (0 for a root).
size_t Depth(const Timeline& tl) {
  size_t depth = 0;
  for (const Timeline* a = tl.ancestor().get(); a != nullptr; a = a->ancestor().get()) ++depth;
  return depth;
}

}  // namespace

std::string TenantDir(const std::string& data_dir, TenantId tenant) {
  return data_dir + "/tenants/" + tenant.ToHex();
}

// ------------------------------------------------------------------ loading

// The steps of Tenant::Load (see the header), filling in one Tenant.
class Tenant::Loader {
 public:
  explicit Loader(Tenant& tenant) : t_(tenant) {}

  Status Run() {
    RETURN_IF_ERROR(ScanTimelinesDir());
    ReadAllMetadata();
    MarkCycles();
    for (const auto& [id, md] : metadata_) LoadChain(id);
    for (const auto& [id, md] : metadata_) {
      if (failed_.contains(id) && md.ancestor_timeline) {
        t_.unloaded_ancestors_.emplace(id, *md.ancestor_timeline);
      }
    }
    return Status::Ok();
  }

 private:
  // Step 1: classify the entries; remove interrupted deletions.
  Status ScanTimelinesDir() {
    const std::string dir = t_.TimelinesDir();
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) return Status::FromErrno(ec.value(), "list timelines directory " + dir);
    std::vector<std::filesystem::directory_entry> entries;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) entries.push_back(*it);
    if (ec) return Status::FromErrno(ec.value(), "list timelines directory " + dir);
    std::sort(entries.begin(), entries.end());
    for (const auto& entry : entries) RETURN_IF_ERROR(Classify(entry));
    if (!t_.removed_leftovers_.empty()) RETURN_IF_ERROR(virtual_file::SyncDirectory(dir));
    return Status::Ok();
  }

  Status Classify(const std::filesystem::directory_entry& entry) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kDeletedDirSuffix)) {
      RETURN_IF_ERROR(RemoveTree(entry.path().string()));
      spdlog::info("tenant {}: removed interrupted timeline deletion {}", t_.id_.ToHex(), name);
      t_.removed_leftovers_.push_back(name);
      return Status::Ok();
    }
    std::error_code ec;
    auto id = TimelineId::ParseHex(name);
    if (id.has_value() && entry.is_directory(ec)) {
      ids_.push_back(*id);
    } else {
      spdlog::warn("tenant {}: unknown entry {} in the timelines directory, left alone",
                   t_.id_.ToHex(), name);
      t_.unknown_entries_.push_back(name);
    }
    return Status::Ok();
  }

  // Step 2.
  void ReadAllMetadata() {
    for (const TimelineId id : ids_) {
      auto md = ReadMetadata(*t_.res_.ctx, TimelineDir(t_.data_dir_, t_.id_, id));
      if (md.has_value()) {
        metadata_.emplace(id, *md);
      } else {
        Fail(id, md.error());
      }
    }
  }

  // Fails every timeline on an ancestor cycle (each would wait for itself).
  void MarkCycles() {
    for (const auto& [start, md] : metadata_) {
      std::vector<TimelineId> path;
      std::optional<TimelineId> cur = start;
      while (cur && metadata_.contains(*cur) && !failed_.contains(*cur) &&
             !acyclic_.contains(*cur)) {
        const auto seen = std::find(path.begin(), path.end(), *cur);
        if (seen != path.end()) {
          FailCycle({seen, path.end()});
          break;
        }
        path.push_back(*cur);
        cur = metadata_.at(*cur).ancestor_timeline;
      }
      // Whatever was not failed just now leads to a root, a gap or a cycle
      // already marked: later walks may stop there.
      for (const TimelineId id : path) {
        if (!failed_.contains(id)) acyclic_.insert(id);
      }
    }
  }

  void FailCycle(const std::vector<TimelineId>& cycle) {
    std::string text;
    for (const TimelineId id : cycle) text += id.ToHex() + " -> ";
    text += cycle.front().ToHex();
    for (const TimelineId id : cycle) Fail(id, Status::Corruption("ancestor cycle: " + text));
  }

  // Step 3 for `id`: its not yet decided ancestors first, root downwards.
  // MarkCycles ran, so the walk up ends.
  void LoadChain(TimelineId id) {
    std::vector<TimelineId> chain;
    std::optional<TimelineId> cur = id;
    while (cur && metadata_.contains(*cur) && !Decided(*cur)) {
      chain.push_back(*cur);
      cur = metadata_.at(*cur).ancestor_timeline;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) LoadOne(*it);
  }

  bool Decided(TimelineId id) const { return failed_.contains(id) || t_.timelines_.contains(id); }

  void LoadOne(TimelineId id) {
    const std::optional<TimelineId> ancestor_id = metadata_.at(id).ancestor_timeline;
    std::shared_ptr<Timeline> ancestor;
    if (ancestor_id) {
      const auto it = t_.timelines_.find(*ancestor_id);
      if (it == t_.timelines_.end()) return FailMissingAncestor(id, *ancestor_id);
      ancestor = it->second;
    }
    auto loaded = Timeline::Load(t_.res_, t_.data_dir_, t_.id_, id, ancestor, t_.config_);
    if (!loaded.has_value()) return Fail(id, loaded.error());
    if ((*loaded)->broken()) {
      Report(id, Status::Aborted("timeline is broken: " + *(*loaded)->broken_reason()));
    }
    t_.timelines_.emplace(id, std::move(loaded).value());
  }

  void FailMissingAncestor(TimelineId id, TimelineId ancestor) {
    const bool exists = std::find(ids_.begin(), ids_.end(), ancestor) != ids_.end();
    Fail(id, exists ? Status::Aborted("ancestor timeline " + ancestor.ToHex() + " was not loaded")
                    : Status::NotFound("ancestor timeline " + ancestor.ToHex() +
                                       " does not exist in the tenant"));
  }

  void Fail(TimelineId id, const Status& status) {
    failed_.insert(id);
    Report(id, status);
  }

  void Report(TimelineId id, const Status& status) {
    spdlog::error("tenant {}: timeline {}", t_.id_.ToHex(), Problem(id, status));
    t_.problems_.push_back(Problem(id, status));
  }

  Tenant& t_;
  std::vector<TimelineId> ids_;  // sorted
  std::map<TimelineId, TimelineMetadata> metadata_;
  std::set<TimelineId> failed_;
  std::set<TimelineId> acyclic_;  // MarkCycles: known to be on no cycle
};

// ----------------------------------------------------------------- creation

Tenant::Tenant(const TimelineResources& res, const std::string& data_dir, TenantId id,
               const TimelineConfig& config)
    : res_(res), data_dir_(data_dir), id_(id), dir_(TenantDir(data_dir, id)), config_(config) {}

Result<std::unique_ptr<Tenant>> Tenant::Create(const TimelineResources& res,
                                               const std::string& data_dir, TenantId id,
                                               const TimelineConfig& config) {
  RETURN_IF_ERROR(res.Check());
  RETURN_IF_ERROR(config.Check());
  std::unique_ptr<Tenant> tenant(new Tenant(res, data_dir, id, config));
  RETURN_IF_ERROR(virtual_file::CreateDirectoriesDurably(Parent(tenant->dir_)));
  ASSIGN_OR_RETURN(const bool created, MakeDirectory(tenant->dir_));
  if (!created) {
    return Status::AlreadyExists("tenant " + id.ToHex() + " already exists in " + tenant->dir_);
  }
  RETURN_IF_ERROR(MakeDirectory(tenant->TimelinesDir()).status());
  RETURN_IF_ERROR(virtual_file::SyncDirectory(tenant->dir_));
  RETURN_IF_ERROR(virtual_file::SyncDirectory(Parent(tenant->dir_)));
  return tenant;
}

Result<std::unique_ptr<Tenant>> Tenant::Load(const TimelineResources& res,
                                             const std::string& data_dir, TenantId id,
                                             const TimelineConfig& config) {
  RETURN_IF_ERROR(res.Check());
  RETURN_IF_ERROR(config.Check());
  std::unique_ptr<Tenant> tenant(new Tenant(res, data_dir, id, config));
  struct stat st;
  if (::stat(tenant->TimelinesDir().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound("tenant " + id.ToHex() + ": no timelines directory " +
                            tenant->TimelinesDir());
  }
  RETURN_IF_ERROR(Loader(*tenant).Run());
  spdlog::info("tenant {}: loaded {} timelines, {} problems", id.ToHex(), tenant->timelines_.size(),
               tenant->problems_.size());
  return tenant;
}

Tenant::~Tenant() {
  const Status status = Shutdown(false);
  if (!status.ok()) spdlog::warn("tenant {}: shutdown: {}", id_.ToHex(), status.ToString());
}

// ---------------------------------------------------------------- timelines

Status Tenant::CheckRunning() const {
  std::lock_guard lock(mu_);
  if (shut_down_) return Status::Aborted("tenant " + id_.ToHex() + " is shut down");
  return Status::Ok();
}

Status Tenant::CheckNew(TimelineId id) const {
  std::lock_guard lock(mu_);
  if (timelines_.contains(id)) {
    return Status::AlreadyExists("timeline " + id.ToHex() + " already exists in tenant " +
                                 id_.ToHex());
  }
  return Status::Ok();
}

void Tenant::Insert(std::shared_ptr<Timeline> timeline) {
  std::lock_guard lock(mu_);
  const TimelineId id = timeline->timeline_id();
  timelines_.emplace(id, std::move(timeline));
}

Result<std::shared_ptr<Timeline>> Tenant::CreateTimeline(TimelineId id, Lsn start_lsn,
                                                         uint32_t pg_version) {
  std::lock_guard ops(ops_mu_);
  RETURN_IF_ERROR(CheckRunning());
  RETURN_IF_ERROR(CheckNew(id));
  ASSIGN_OR_RETURN(std::shared_ptr<Timeline> timeline,
                   Timeline::CreateEmpty(res_, data_dir_, id_, id, start_lsn, pg_version, config_));
  Insert(timeline);
  return timeline;
}

Result<std::shared_ptr<Timeline>> Tenant::CreateBranch(TimelineId new_id, TimelineId ancestor_id,
                                                       Lsn lsn) {
  std::lock_guard ops(ops_mu_);
  RETURN_IF_ERROR(CheckRunning());
  RETURN_IF_ERROR(CheckNew(new_id));
  auto ancestor = GetTimeline(ancestor_id);
  if (!ancestor.has_value()) {
    return ancestor.error().WithContext("branch " + new_id.ToHex());
  }
  if ((*ancestor)->broken()) {
    return Status::Aborted("branch " + new_id.ToHex() + ": ancestor timeline " +
                           ancestor_id.ToHex() + " is broken: " + *(*ancestor)->broken_reason());
  }
  ASSIGN_OR_RETURN(std::shared_ptr<Timeline> timeline,
                   Timeline::CreateBranch(res_, data_dir_, new_id, *ancestor, lsn, config_));
  Insert(timeline);
  return timeline;
}

Result<std::shared_ptr<Timeline>> Tenant::GetTimeline(TimelineId id) const {
  std::lock_guard lock(mu_);
  const auto it = timelines_.find(id);
  if (it == timelines_.end()) {
    return Status::NotFound("timeline " + id.ToHex() + " not found in tenant " + id_.ToHex());
  }
  return it->second;
}

std::vector<std::shared_ptr<Timeline>> Tenant::Timelines() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Timeline>> out;
  out.reserve(timelines_.size());
  for (const auto& [id, timeline] : timelines_) out.push_back(timeline);
  return out;
}

// ----------------------------------------------------------------- deletion

Status Tenant::CheckNoChildren(TimelineId id) const {
  auto refuse = [&](TimelineId child) {
    return Status::InvalidArgument("delete timeline " + id.ToHex() + ": timeline " + child.ToHex() +
                                   " is a branch of it");
  };
  std::lock_guard lock(mu_);
  for (const auto& [child, timeline] : timelines_) {
    if (timeline->ancestor() != nullptr && timeline->ancestor()->timeline_id() == id) {
      return refuse(child);
    }
  }
  for (const auto& [child, ancestor] : unloaded_ancestors_) {
    if (ancestor == id) return refuse(child);
  }
  return Status::Ok();
}

// Rename first (the point of no return), then remove the renamed tree.
Status Tenant::RemoveTimelineDir(const Timeline& timeline) const {
  const std::string deleted = timeline.dir() + std::string(kDeletedDirSuffix);
  RETURN_IF_ERROR(RemoveTree(deleted));  // a failed earlier delete of the same id
  if (std::rename(timeline.dir().c_str(), deleted.c_str()) != 0) {
    return Status::FromErrno(errno, "rename " + timeline.dir() + " to " + deleted);
  }
  RETURN_IF_ERROR(virtual_file::SyncDirectory(TimelinesDir()));
  return Status::Ok();
}

Status Tenant::DeleteTimeline(TimelineId id) {
  std::lock_guard ops(ops_mu_);
  RETURN_IF_ERROR(CheckRunning());
  ASSIGN_OR_RETURN(std::shared_ptr<Timeline> timeline, GetTimeline(id));
  RETURN_IF_ERROR(CheckNoChildren(id));
  RETURN_IF_ERROR(timeline->Shutdown(false));
  RETURN_IF_ERROR(RemoveTimelineDir(*timeline));
  {
    std::lock_guard lock(mu_);
    timelines_.erase(id);
  }
  if (timeline->ancestor() != nullptr)
    timeline->ancestor()->RemoveBranchPoint(timeline->ancestor_lsn());
  spdlog::info("tenant {}: deleted timeline {}", id_.ToHex(), id.ToHex());
  return RemoveTree(timeline->dir() + std::string(kDeletedDirSuffix));
}

// ----------------------------------------------------------------- shutdown

Status Tenant::Shutdown(bool checkpoint) {
  std::lock_guard ops(ops_mu_);
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
  }
  std::vector<std::pair<size_t, std::shared_ptr<Timeline>>> order;
  for (auto& timeline : Timelines()) order.emplace_back(Depth(*timeline), std::move(timeline));
  // Deepest first: every child stops before its ancestor.
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  Status first;
  for (const auto& [depth, timeline] : order) {
    Status status = timeline->Shutdown(checkpoint);
    if (!status.ok() && first.ok()) {
      first = status.WithContext("shut down timeline " + timeline->timeline_id().ToHex());
    }
  }
  return first;
}

}  // namespace pageserver::timeline
