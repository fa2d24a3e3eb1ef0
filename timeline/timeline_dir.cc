#include "timeline/timeline_dir.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::KeyRange;
using layers::LayerName;
using layers::Lsn;
using layers::LsnRange;
using layers::TenantId;
using layers::TimelineId;

namespace {

std::string JoinPath(const std::string& dir, const std::string& name) { return dir + "/" + name; }

Result<bool> IsDirectory(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "lstat " + path);
  return S_ISDIR(st.st_mode);
}

// Unlinks dir/name; ENOENT (already gone) is success.
Status RemoveFile(const std::string& dir, const std::string& name, std::string_view what) {
  const std::string path = JoinPath(dir, name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, std::string("remove ") + std::string(what) + " " + path);
  }
  return Status::Ok();
}

Status CheckDirectoryExists(const std::string& dir) {
  ASSIGN_OR_RETURN(const bool is_dir, IsDirectory(dir));
  if (!is_dir) return Status::NotFound("timeline directory " + dir + " is not a directory");
  return Status::Ok();
}

Result<std::vector<std::string>> RemoveEphemeralFiles(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, virtual_file::ListFileNames(dir));
  std::erase_if(names, [](const std::string& name) { return !IsEphemeralFileName(name); });
  for (const std::string& name : names) {
    RETURN_IF_ERROR(RemoveFile(dir, name, "stale ephemeral file"));
  }
  if (!names.empty()) RETURN_IF_ERROR(virtual_file::SyncDirectory(dir));
  return names;
}

// OK when the summary read from `path` matches its file name and the ids.
Status VerifySummary(const layers::LayerSummary& summary, const LayerName& name, TenantId tenant,
                     TimelineId timeline) {
  if (summary.name() != name) {
    return Status::Corruption("summary describes layer " + summary.name().ToString() +
                              ", not its file name");
  }
  if (summary.tenant != tenant) {
    return Status::Corruption("summary names tenant " + summary.tenant.ToHex() + ", expected " +
                              tenant.ToHex());
  }
  if (summary.timeline != timeline) {
    return Status::Corruption("summary names timeline " + summary.timeline.ToHex() + ", expected " +
                              timeline.ToHex());
  }
  return Status::Ok();
}

template <typename Reader>
Result<std::shared_ptr<const Reader>> OpenReader(const virtual_file::IoContext& ctx,
                                                 const std::string& path,
                                                 page_cache::PageCache* cache) {
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(ctx, path, cache));
  return std::shared_ptr<const Reader>(std::move(reader));
}

struct LoadRequest {
  const virtual_file::IoContext& ctx;
  const std::string& dir;
  page_cache::PageCache* cache;
  TenantId tenant;
  TimelineId timeline;
};

Result<std::shared_ptr<const LoadedLayer>> OpenLayer(const LoadRequest& req,
                                                     const std::string& file_name,
                                                     const LayerName& name) {
  auto layer = std::make_shared<LoadedLayer>();
  layer->name = name;
  layer->path = JoinPath(req.dir, file_name);
  const layers::LayerSummary* summary = nullptr;
  if (name.kind == layers::LayerKind::kImage) {
    ASSIGN_OR_RETURN(layer->image,
                     OpenReader<layers::ImageLayerReader>(req.ctx, layer->path, req.cache));
    summary = &layer->image->summary();
  } else {
    ASSIGN_OR_RETURN(layer->delta,
                     OpenReader<layers::DeltaLayerReader>(req.ctx, layer->path, req.cache));
    summary = &layer->delta->summary();
  }
  RETURN_IF_ERROR(VerifySummary(*summary, name, req.tenant, req.timeline));
  layer->file_size = summary->file_length;
  return std::shared_ptr<const LoadedLayer>(std::move(layer));
}

LayerHandlePtr MakeHandle(std::shared_ptr<const LoadedLayer> layer) {
  auto handle = std::make_shared<LayerHandle>();
  handle->desc.name = layer->name;
  handle->desc.file_size = layer->file_size;
  handle->desc.is_l0 = IsL0Delta(layer->name);
  handle->payload = std::const_pointer_cast<LoadedLayer>(std::move(layer));
  return handle;
}

void RecordProblem(LoadedTimeline& out, const std::string& file_name, const Status& status) {
  out.problems.push_back(file_name + ": " + std::string(status.message()));
  if (!out.broken_reason) out.broken_reason = out.problems.front();
}

// A layer file left for steps 4 and 5: its directory entry and parsed name.
struct LayerFile {
  std::string file_name;
  LayerName name;
};

// Step 3: sorts the directory's entries into unknown files, future layers
// (deleted here) and the layer files returned.
Result<std::vector<LayerFile>> ClassifyFiles(const LoadRequest& req, LoadedTimeline& out) {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, virtual_file::ListFileNames(req.dir));
  std::vector<LayerFile> files;
  for (const std::string& file_name : names) {
    if (file_name == kMetadataFileName) continue;
    Result<LayerName> name = LayerName::Parse(file_name);
    if (!name.has_value()) {
      out.unknown_files.push_back(file_name);
    } else if (IsFutureLayer(*name, out.metadata.disk_consistent_lsn)) {
      RETURN_IF_ERROR(RemoveFile(req.dir, file_name, "future layer"));
      out.removed_future_layers.push_back(file_name);
    } else {
      files.push_back(LayerFile{file_name, *name});
    }
  }
  return files;
}

// Step 4: deletes the compaction leftovers among `files`; returns the rest.
Result<std::vector<LayerFile>> RemoveCompactionLeftovers(const LoadRequest& req,
                                                         std::vector<LayerFile> files,
                                                         LoadedTimeline& out) {
  std::vector<LayerName> names;
  names.reserve(files.size());
  for (const LayerFile& file : files) names.push_back(file.name);
  const std::vector<LayerName> plan = PlanCompactionLeftovers(names);
  const std::set<LayerName> leftovers(plan.begin(), plan.end());
  std::vector<LayerFile> kept;
  for (LayerFile& file : files) {
    if (!leftovers.contains(file.name)) {
      kept.push_back(std::move(file));
      continue;
    }
    RETURN_IF_ERROR(RemoveFile(req.dir, file.file_name, "compaction leftover"));
    out.removed_compaction_leftovers.push_back(file.file_name);
  }
  std::sort(out.removed_compaction_leftovers.begin(), out.removed_compaction_leftovers.end());
  return kept;
}

// Step 5 for one layer file: open, verify and add it to `builder`, or record
// why it is broken.
void LoadLayerFile(const LoadRequest& req, const LayerFile& file, LoadedTimeline& out,
                   LayerMap::Builder& builder) {
  Result<std::shared_ptr<const LoadedLayer>> layer = OpenLayer(req, file.file_name, file.name);
  if (!layer.has_value()) {
    RecordProblem(out, file.file_name, layer.error());
    return;
  }
  const Status inserted = builder.Insert(MakeHandle(std::move(layer).value()));
  if (!inserted.ok()) RecordProblem(out, file.file_name, inserted);
}

Status LoadLayerFiles(const LoadRequest& req, LoadedTimeline& out) {
  ASSIGN_OR_RETURN(std::vector<LayerFile> files, ClassifyFiles(req, out));
  ASSIGN_OR_RETURN(files, RemoveCompactionLeftovers(req, std::move(files), out));
  if (!out.removed_future_layers.empty() || !out.removed_compaction_leftovers.empty()) {
    RETURN_IF_ERROR(virtual_file::SyncDirectory(req.dir));
  }
  LayerMap::Builder builder;
  for (const LayerFile& file : files) LoadLayerFile(req, file, out, builder);
  out.layers = builder.Build();
  return Status::Ok();
}

// True when `ranges` cover KeyRange::All() exactly, without gaps or overlaps.
bool TilesWholeKeyspace(std::vector<KeyRange> ranges) {
  std::sort(ranges.begin(), ranges.end());
  if (ranges.empty() || ranges.front().start != layers::Key::Min()) return false;
  for (size_t i = 0; i + 1 < ranges.size(); ++i) {
    if (ranges[i].end != ranges[i + 1].start) return false;
  }
  return ranges.back().end == layers::Key::Max();
}

// Strictly contains: `outer` holds every LSN of `inner` and is not equal to it.
bool StrictlyContains(const LsnRange& outer, const LsnRange& inner) {
  return outer != inner && outer.start <= inner.start && inner.end <= outer.end;
}

// The deltas whose LSN range strictly contains `l0`'s, grouped by LSN range.
std::map<LsnRange, std::vector<const LayerName*>> CandidateOutputs(
    const LayerName& l0, const std::vector<const LayerName*>& deltas) {
  std::map<LsnRange, std::vector<const LayerName*>> groups;
  for (const LayerName* delta : deltas) {
    if (StrictlyContains(delta->lsn_range, l0.lsn_range)) {
      groups[delta->lsn_range].push_back(delta);
    }
  }
  return groups;
}

bool GroupTiles(const std::vector<const LayerName*>& group) {
  std::vector<KeyRange> ranges;
  ranges.reserve(group.size());
  for (const LayerName* name : group) ranges.push_back(name->key_range);
  return TilesWholeKeyspace(std::move(ranges));
}

}  // namespace

std::string TimelineDir(const std::string& data_dir, TenantId tenant, TimelineId timeline) {
  return data_dir + "/tenants/" + tenant.ToHex() + "/timelines/" + timeline.ToHex();
}

bool IsEphemeralFileName(std::string_view file_name) {
  return file_name.starts_with(kEphemeralFilePrefix);
}

bool IsL0Delta(const LayerName& name) {
  return name.kind == layers::LayerKind::kDelta && name.key_range == layers::KeyRange::All();
}

bool IsFutureLayer(const LayerName& name, Lsn disk_consistent_lsn) {
  if (name.kind == layers::LayerKind::kImage) return name.lsn_range.start > disk_consistent_lsn;
  // end is exclusive: a delta ending at disk_consistent_lsn + 1 holds records
  // up to disk_consistent_lsn. Saturate so Lsn::Max() does not wrap.
  const uint64_t limit =
      disk_consistent_lsn == Lsn::Max() ? Lsn::kMaxValue : disk_consistent_lsn.value + 1;
  return name.lsn_range.end.value > limit;
}

std::vector<LayerName> PlanCompactionLeftovers(std::span<const LayerName> names) {
  std::vector<const LayerName*> deltas;
  for (const LayerName& name : names) {
    if (name.kind == layers::LayerKind::kDelta) deltas.push_back(&name);
  }
  std::set<LayerName> doomed;
  for (const LayerName* x : deltas) {
    if (!IsL0Delta(*x)) continue;
    const auto groups = CandidateOutputs(*x, deltas);
    const bool finished = std::any_of(groups.begin(), groups.end(),
                                      [](const auto& group) { return GroupTiles(group.second); });
    if (finished) {
      doomed.insert(*x);
      continue;
    }
    for (const auto& [lsns, group] : groups) {
      for (const LayerName* name : group) doomed.insert(*name);
    }
  }
  return {doomed.begin(), doomed.end()};
}

void LoadedLayer::MarkForRemoval(std::shared_ptr<std::atomic<int64_t>> pending) const {
  if (pending != nullptr) pending->fetch_add(1);
  pending_counter = std::move(pending);
  remove_on_drop.store(true, std::memory_order_release);
}

LoadedLayer::~LoadedLayer() {
  if (!remove_on_drop.load(std::memory_order_acquire)) return;
  // Close the file before unlinking it (the readers own its descriptor).
  image.reset();
  delta.reset();
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("layer {}: cannot remove dropped layer file: {}", path, std::strerror(errno));
  }
  if (pending_counter) pending_counter->fetch_sub(1, std::memory_order_acq_rel);
}

Result<LoadedTimeline> LoadTimelineDir(const virtual_file::IoContext& ctx, const std::string& dir,
                                       page_cache::PageCache* cache, TenantId tenant,
                                       TimelineId timeline) {
  RETURN_IF_ERROR(CheckDirectoryExists(dir));
  LoadedTimeline out;
  ASSIGN_OR_RETURN(out.metadata, ReadMetadata(ctx, dir));
  ASSIGN_OR_RETURN(out.removed_temporaries, layers::RemoveTemporaryLayerFiles(dir));
  ASSIGN_OR_RETURN(const std::vector<std::string> ephemeral, RemoveEphemeralFiles(dir));
  out.removed_temporaries.insert(out.removed_temporaries.end(), ephemeral.begin(), ephemeral.end());
  RETURN_IF_ERROR(LoadLayerFiles(LoadRequest{ctx, dir, cache, tenant, timeline}, out));
  return out;
}

}  // namespace pageserver::timeline
