#include "timeline/timeline.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "common/clock.h"
#include "common/failpoint.h"
#include "timeline/pg_mapping.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using layers::LsnRange;
using layers::TenantId;
using layers::TimelineId;

namespace {

bool IsPageKey(const Key& key) { return key.IsRelBlock() || key.IsSlruBlock(); }

std::string PutContext(const Key& key, Lsn lsn) {
  return "put " + key.Describe() + " at " + lsn.ToString();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

// ------------------------------------------------------------------ config

Status TimelineConfig::Check() const {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("timeline config: " + what);
  };
  if (checkpoint_distance == 0) return bad("checkpoint_distance must be > 0");
  if (checkpoint_timeout.count() <= 0) return bad("checkpoint_timeout must be > 0");
  if (max_frozen_layers == 0) return bad("max_frozen_layers must be >= 1");
  if (compaction_threshold < 2) return bad("compaction_threshold must be >= 2");
  if (compaction_target_size == 0) return bad("compaction_target_size must be > 0");
  if (image_creation_threshold == 0) return bad("image_creation_threshold must be >= 1");
  if (max_get_vectored_keys == 0 || max_get_vectored_keys > 1024) {
    return bad("max_get_vectored_keys must be in [1, 1024]");
  }
  if (max_vectored_read_bytes < 4096) return bad("max_vectored_read_bytes must be >= 4096");
  if (ephemeral_buffer_bytes == 0 || ephemeral_buffer_bytes % 4096 != 0) {
    return bad("ephemeral_buffer_bytes must be a positive multiple of 4096");
  }
  if (keyspace.empty()) return bad("keyspace is empty");
  if (compaction_period.count() <= 0) return bad("compaction_period must be > 0");
  return Status::Ok();
}

// ---------------------------------------------------------------- creation

Timeline::Timeline(const TimelineResources& res, const std::string& data_dir, TenantId tenant,
                   TimelineId id, const TimelineConfig& config)
    : res_(res),
      dir_(TimelineDir(data_dir, tenant, id)),
      tenant_(tenant),
      id_(id),
      config_(config),
      map_(std::make_shared<const LayerMap>()),
      pending_l0_deletions_(std::make_shared<std::atomic<int64_t>>(0)) {
  if (res.registry != nullptr)
    metrics_ = std::make_unique<TimelineMetrics>(*res.registry, tenant, id);
}

Status TimelineResources::Check() const {
  if (ctx == nullptr || ctx->engine == nullptr || cache == nullptr) {
    return Status::InvalidArgument(
        "timeline resources need an IoContext with an engine and a PageCache");
  }
  return Status::Ok();
}

Result<std::shared_ptr<Timeline>> Timeline::CreateEmpty(const TimelineResources& res,
                                                        const std::string& data_dir,
                                                        TenantId tenant, TimelineId id,
                                                        Lsn start_lsn, uint32_t pg_version,
                                                        const TimelineConfig& config) {
  RETURN_IF_ERROR(res.Check());
  RETURN_IF_ERROR(config.Check());
  const std::string dir = TimelineDir(data_dir, tenant, id);
  if (FileExists(MetadataPath(dir))) {
    return Status::AlreadyExists("timeline " + id.ToHex() + " already exists in " + dir);
  }
  RETURN_IF_ERROR(virtual_file::CreateDirectoriesDurably(dir));
  TimelineMetadata metadata;
  metadata.disk_consistent_lsn = start_lsn;
  metadata.initdb_lsn = start_lsn;
  metadata.latest_gc_cutoff_lsn = start_lsn;
  metadata.pg_version = pg_version;
  RETURN_IF_ERROR(WriteMetadata(*res.ctx, dir, metadata));
  return Open(res, data_dir, tenant, id, nullptr, config);
}

Result<std::shared_ptr<Timeline>> Timeline::CreateBranch(const TimelineResources& res,
                                                         const std::string& data_dir, TimelineId id,
                                                         std::shared_ptr<Timeline> ancestor,
                                                         Lsn lsn, const TimelineConfig& config) {
  RETURN_IF_ERROR(res.Check());
  RETURN_IF_ERROR(config.Check());
  if (ancestor == nullptr) return Status::InvalidArgument("branch without an ancestor");
  const std::string what =
      "branch " + id.ToHex() + " of " + ancestor->id_.ToHex() + " at " + lsn.ToString();
  if (!lsn.valid()) return Status::InvalidArgument(what + ": invalid LSN");
  const std::string dir = TimelineDir(data_dir, ancestor->tenant_, id);
  if (FileExists(MetadataPath(dir))) return Status::AlreadyExists(what + ": timeline exists");
  TimelineMetadata metadata;
  {
    // Checked and registered under the ancestor's lock, so a GC that runs
    // concurrently either sees the branch point or raised its cutoff first.
    std::lock_guard lock(ancestor->mu_);
    if (lsn > ancestor->last_record_lsn()) {
      return Status::InvalidArgument(what + ": above the ancestor's last_record_lsn " +
                                     ancestor->last_record_lsn().ToString());
    }
    if (lsn < ancestor->metadata_.latest_gc_cutoff_lsn) {
      return Status::InvalidArgument(what + ": below the ancestor's GC cutoff " +
                                     ancestor->metadata_.latest_gc_cutoff_lsn.ToString());
    }
    ancestor->branch_points_.push_back(lsn);
    metadata.initdb_lsn = ancestor->metadata_.initdb_lsn;
    metadata.pg_version = ancestor->metadata_.pg_version;
  }
  metadata.disk_consistent_lsn = lsn;
  metadata.ancestor_timeline = ancestor->id_;
  metadata.ancestor_lsn = lsn;
  metadata.latest_gc_cutoff_lsn = lsn;
  Status status = virtual_file::CreateDirectoriesDurably(dir);
  if (status.ok()) status = WriteMetadata(*res.ctx, dir, metadata);
  Result<std::shared_ptr<Timeline>> branch =
      status.ok() ? Open(res, data_dir, ancestor->tenant_, id, ancestor, config)
                  : Result<std::shared_ptr<Timeline>>(status);
  if (!branch.has_value()) ancestor->RemoveBranchPoint(lsn);
  return branch;
}

Result<std::shared_ptr<Timeline>> Timeline::Load(const TimelineResources& res,
                                                 const std::string& data_dir, TenantId tenant,
                                                 TimelineId id, std::shared_ptr<Timeline> ancestor,
                                                 const TimelineConfig& config) {
  RETURN_IF_ERROR(res.Check());
  RETURN_IF_ERROR(config.Check());
  ASSIGN_OR_RETURN(std::shared_ptr<Timeline> timeline,
                   Open(res, data_dir, tenant, id, std::move(ancestor), config));
  if (timeline->ancestor_ != nullptr) timeline->ancestor_->AddBranchPoint(timeline->ancestor_lsn_);
  return timeline;
}

Result<std::shared_ptr<Timeline>> Timeline::Open(const TimelineResources& res,
                                                 const std::string& data_dir, TenantId tenant,
                                                 TimelineId id, std::shared_ptr<Timeline> ancestor,
                                                 const TimelineConfig& config) {
  std::shared_ptr<Timeline> tl(new Timeline(res, data_dir, tenant, id, config));
  ASSIGN_OR_RETURN(LoadedTimeline loaded,
                   LoadTimelineDir(*res.ctx, tl->dir_, res.cache, tenant, id));
  const TimelineMetadata& md = loaded.metadata;
  const bool has_ancestor = md.ancestor_timeline.has_value();
  if (has_ancestor != (ancestor != nullptr) ||
      (has_ancestor && *md.ancestor_timeline != ancestor->id_)) {
    return Status::InvalidArgument(
        "timeline " + id.ToHex() + ": metadata names ancestor " +
        (has_ancestor ? md.ancestor_timeline->ToHex() : std::string("none")) + ", was given " +
        (ancestor ? ancestor->id_.ToHex() : std::string("none")));
  }
  for (const std::string& name : loaded.removed_temporaries) {
    spdlog::info("timeline {}: removed temporary file {}", id.ToHex(), name);
  }
  for (const std::string& name : loaded.removed_future_layers) {
    spdlog::info("timeline {}: removed layer above disk_consistent_lsn {}: {}", id.ToHex(),
                 md.disk_consistent_lsn.ToString(), name);
  }
  for (const std::string& problem : loaded.problems) {
    spdlog::error("timeline {}: broken layer {}", id.ToHex(), problem);
  }
  tl->metadata_ = md;
  tl->map_ = loaded.layers;
  tl->broken_reason_ = loaded.broken_reason;
  tl->ancestor_ = std::move(ancestor);
  tl->ancestor_lsn_ = md.ancestor_lsn;
  tl->last_record_lsn_.store(md.disk_consistent_lsn.value);
  tl->last_put_lsn_ = md.disk_consistent_lsn;
  tl->UpdateGauges();
  if (config.background_threads && !tl->broken()) tl->StartBackground();
  return tl;
}

Timeline::~Timeline() {
  const Status status = Shutdown(false);
  if (!status.ok()) spdlog::warn("timeline {}: shutdown: {}", id_.ToHex(), status.ToString());
}

// -------------------------------------------------------------------- ingest

Status Timeline::CheckIngestAllowed() {
  if (broken())
    return Status::Aborted("timeline " + id_.ToHex() + " is broken: " + *broken_reason_);
  if (!ingest_error_.ok()) {
    return Status::Aborted(
        "timeline " + id_.ToHex() + ": ingest stopped by an earlier write error (" +
        ingest_error_.ToString() + "); reopen the timeline to resume from disk_consistent_lsn");
  }
  const std::thread::id me = std::this_thread::get_id();
  std::thread::id current = ingest_thread_.load();
  if (current == me) return Status::Ok();
  if (current == std::thread::id() && ingest_thread_.compare_exchange_strong(current, me)) {
    return Status::Ok();
  }
  return Status::InvalidArgument("timeline " + id_.ToHex() +
                                 ": ingest is attached to another thread (DetachIngest first)");
}

Status Timeline::CheckPut(const Key& key, Lsn lsn, const Value& value) const {
  const Lsn last_record = last_record_lsn();
  if (!lsn.valid() || lsn == Lsn::Max()) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": invalid LSN");
  }
  if (lsn <= last_record) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": not above last_record_lsn " +
                                   last_record.ToString());
  }
  if (lsn < last_put_lsn_) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": below the previous put's LSN " +
                                   last_put_lsn_.ToString());
  }
  if (!config_.keyspace.Contains(key)) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": key " + key.ToHex() +
                                   " is outside the timeline's keyspace");
  }
  if (IsPageKey(key) && value.is_image() && value.bytes().size() != kPageSize) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": page image of " +
                                   std::to_string(value.bytes().size()) + " bytes, expected " +
                                   std::to_string(kPageSize));
  }
  if (!IsPageKey(key) && !value.is_image()) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": " + value.ToString() +
                                   " record for a key that is not a page");
  }
  if (key.IsRelSize() && value.bytes().size() != kRelSizeValueSize) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": relation size of " +
                                   std::to_string(value.bytes().size()) + " bytes, expected " +
                                   std::to_string(kRelSizeValueSize));
  }
  return Status::Ok();
}

Result<InMemoryLayer*> Timeline::OpenLayerForWrite() {
  {
    std::lock_guard lock(mu_);
    if (open_ != nullptr) return open_.get();
  }
  const std::string path =
      dir_ + "/" + std::string(kEphemeralFilePrefix) + std::to_string(++next_ephemeral_);
  ASSIGN_OR_RETURN(std::unique_ptr<InMemoryLayer> layer,
                   InMemoryLayer::Create(*res_.ctx, path, Lsn{last_record_lsn().value + 1},
                                         config_.ephemeral_buffer_bytes));
  std::lock_guard lock(mu_);
  open_ = std::move(layer);
  open_since_ = std::chrono::steady_clock::now();
  return open_.get();
}

Status Timeline::Put(const Key& key, Lsn lsn, const Value& value) {
  std::lock_guard ingest_lock(ingest_mu_);
  RETURN_IF_ERROR(CheckIngestAllowed());
  RETURN_IF_ERROR(CheckPut(key, lsn, value));
  ASSIGN_OR_RETURN(InMemoryLayer * layer, OpenLayerForWrite());
  if (Status appended = layer->Put(key, lsn, value.Encode(), value.will_init()); !appended.ok()) {
    // InvalidArgument rejects this value only; anything else is the
    // poisoning IO error (in_memory_layer.h).
    if (!appended.IsInvalidArgument()) ingest_error_ = appended;
    return appended;
  }
  last_put_lsn_ = lsn;
  if (key.IsRelSize()) {
    ASSIGN_OR_RETURN(const uint32_t nblocks, DecodeRelSize(value.bytes()));
    rel_size_cache_.OnIngest(key.rel(), lsn, nblocks);
  }
  return Status::Ok();
}

bool Timeline::OpenLayerFull() const {
  std::lock_guard lock(mu_);
  if (open_ == nullptr) return false;
  return open_->bytes() >= config_.checkpoint_distance ||
         std::chrono::steady_clock::now() - open_since_ >= config_.checkpoint_timeout;
}

Status Timeline::FinishLsn(Lsn lsn) {
  std::lock_guard ingest_lock(ingest_mu_);
  RETURN_IF_ERROR(CheckIngestAllowed());
  const Lsn last_record = last_record_lsn();
  if (lsn < last_record || lsn < last_put_lsn_) {
    return Status::InvalidArgument("finish LSN " + lsn.ToString() + ": below last_record_lsn " +
                                   last_record.ToString() + " or the last put's LSN " +
                                   last_put_lsn_.ToString());
  }
  if (lsn == last_record) return Status::Ok();
  {
    std::lock_guard lock(lsn_mu_);
    last_record_lsn_.store(lsn.value);
  }
  lsn_cv_.notify_all();
  if (OpenLayerFull()) {
    RETURN_IF_ERROR(FreezeOpenLayer());
    RETURN_IF_ERROR(ApplyBackpressure());
    UpdateGauges();
  } else if (metrics_) {
    // The per-record path: only the LSN gauges (UpdateGauges walks the map).
    metrics_->last_record_lsn.Set(static_cast<double>(lsn.value));
    metrics_->disk_consistent_lsn_lag.Set(
        static_cast<double>(lsn.value - disk_consistent_lsn().value));
  }
  return Status::Ok();
}

Status Timeline::FreezeOpenLayer() {
  std::shared_ptr<InMemoryLayer> layer;
  {
    std::lock_guard lock(mu_);
    layer = open_;
  }
  if (layer == nullptr) return Status::Ok();
  // Every Put is at or below last_record_lsn here (FinishLsn's check), so
  // the layer ends right above it.
  RETURN_IF_ERROR(layer->Freeze(Lsn{last_record_lsn().value + 1}));
  {
    std::lock_guard lock(mu_);
    frozen_.push_back(std::move(layer));
    open_.reset();
  }
  {
    std::lock_guard lock(bg_mu_);
    flush_wanted_ = true;
  }
  bg_cv_.notify_all();
  return Status::Ok();
}

Status Timeline::ApplyBackpressure() {
  if (!config_.background_threads) {
    // Nobody else flushes: do it here once the bound is exceeded.
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (frozen_.size() <= config_.max_frozen_layers) return Status::Ok();
      }
      ASSIGN_OR_RETURN(const size_t flushed, FlushFrozen());
      if (flushed == 0) return Status::Ok();
    }
  }
  const uint64_t start = common::MonotonicNanos();
  std::unique_lock lock(mu_);
  while (frozen_.size() > config_.max_frozen_layers) {
    if (!flush_error_.ok()) return flush_error_.WithContext("ingest backpressure");
    if (stopping_flag_.load()) return Status::Aborted("timeline " + id_.ToHex() + " is stopping");
    flush_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  lock.unlock();
  if (metrics_) metrics_->backpressure_seconds.Increment((common::MonotonicNanos() - start) * 1e-9);
  return Status::Ok();
}

Status Timeline::Checkpoint() {
  std::lock_guard ingest_lock(ingest_mu_);
  const bool was_detached = ingest_thread_.load() == std::thread::id();
  RETURN_IF_ERROR(CheckIngestAllowed());
  const Status frozen = FreezeOpenLayer();
  // Frozen means nothing in flight: a thread that was not the ingest thread
  // before does not stay attached.
  if (was_detached) ingest_thread_.store(std::thread::id());
  RETURN_IF_ERROR(frozen);
  RETURN_IF_ERROR(FlushFrozen().status());
  std::lock_guard flush_lock(flush_mu_);
  {
    std::lock_guard lock(mu_);
    if (open_ != nullptr || !frozen_.empty()) return Status::Ok();
  }
  // Nothing in memory: every record up to last_record_lsn is in layers.
  return AdvanceDiskConsistentLsn(last_record_lsn());
}

Status Timeline::DetachIngest() {
  std::lock_guard ingest_lock(ingest_mu_);
  const std::thread::id me = std::this_thread::get_id();
  const std::thread::id current = ingest_thread_.load();
  if (current == std::thread::id()) return Status::Ok();
  if (current != me) {
    return Status::InvalidArgument("timeline " + id_.ToHex() +
                                   ": DetachIngest from a thread that is not the ingest thread");
  }
  std::shared_ptr<InMemoryLayer> layer;
  {
    std::lock_guard lock(mu_);
    layer = open_;
  }
  // Drain waits for every write even when one failed, so detaching is safe
  // either way; the error is still the caller's to see.
  const Status drained = layer != nullptr ? layer->Drain() : Status::Ok();
  ingest_thread_.store(std::thread::id());
  return drained;
}

// ------------------------------------------------------------------- flushing

Result<size_t> Timeline::FlushFrozen() {
  size_t flushed = 0;
  while (true) {
    Result<bool> one = FlushOldest();
    if (!one.has_value()) {
      {
        std::lock_guard lock(mu_);
        flush_error_ = one.error();
      }
      flush_cv_.notify_all();
      return one.error();
    }
    if (!*one) return flushed;
    ++flushed;
  }
}

Result<bool> Timeline::FlushOldest() {
  std::lock_guard flush_lock(flush_mu_);
  std::shared_ptr<InMemoryLayer> layer;
  {
    std::lock_guard lock(mu_);
    if (frozen_.empty()) return false;
    layer = frozen_.front();
  }
  const uint64_t start = common::MonotonicNanos();
  ASSIGN_OR_RETURN(std::optional<layers::WrittenLayer> written,
                   layer->WriteL0(*res_.ctx, dir_, tenant_, id_, config_.writer));
  RETURN_IF_ERROR(PublishFlushed(layer, std::move(written)));
  common::FailPoint("flush-before-metadata");
  // The L0 is durable (fsynced, renamed, directory fsynced): now the
  // metadata may vouch for it.
  RETURN_IF_ERROR(AdvanceDiskConsistentLsn(Lsn{layer->lsn_range().end.value - 1}));
  if (metrics_) metrics_->flush_seconds.Observe((common::MonotonicNanos() - start) * 1e-9);
  {
    std::lock_guard lock(bg_mu_);
    compact_wanted_ = true;
  }
  bg_cv_.notify_all();
  UpdateGauges();
  return true;
}

Status Timeline::PublishFlushed(const std::shared_ptr<InMemoryLayer>& frozen,
                                std::optional<layers::WrittenLayer> written) {
  LayerHandlePtr handle;
  if (written.has_value()) {
    ASSIGN_OR_RETURN(handle, OpenWrittenLayer(*written, true));
  }
  {
    std::lock_guard lock(mu_);
    if (handle != nullptr) {
      LayerMap::Builder builder(*map_);
      RETURN_IF_ERROR(builder.Insert(handle));
      map_ = builder.Build();
    }
    if (frozen_.empty() || frozen_.front() != frozen) {
      return Status::Internal("flush of " + dir_ + ": frozen layer list changed under the flusher");
    }
    frozen_.pop_front();
    flush_error_ = Status::Ok();
  }
  flush_cv_.notify_all();
  return Status::Ok();
}

Status Timeline::AdvanceDiskConsistentLsn(Lsn lsn) {
  std::lock_guard metadata_lock(metadata_mu_);
  TimelineMetadata md = metadata();
  if (lsn <= md.disk_consistent_lsn) return Status::Ok();
  md.disk_consistent_lsn = lsn;
  md.prev_record_lsn.reset();
  return UpdateMetadata(md);
}

Status Timeline::UpdateMetadata(const TimelineMetadata& metadata) {
  RETURN_IF_ERROR(WriteMetadata(*res_.ctx, dir_, metadata));
  std::lock_guard lock(mu_);
  metadata_ = metadata;
  return Status::Ok();
}

Result<LayerHandlePtr> Timeline::OpenWrittenLayer(const layers::WrittenLayer& written,
                                                  bool is_l0) const {
  auto layer = std::make_shared<LoadedLayer>();
  layer->name = written.summary.name();
  layer->path = written.path;
  layer->file_size = written.summary.file_length;
  if (layer->name.kind == layers::LayerKind::kImage) {
    ASSIGN_OR_RETURN(auto reader,
                     layers::ImageLayerReader::Open(*res_.ctx, written.path, res_.cache));
    layer->image = std::move(reader);
  } else {
    ASSIGN_OR_RETURN(auto reader,
                     layers::DeltaLayerReader::Open(*res_.ctx, written.path, res_.cache));
    layer->delta = std::move(reader);
  }
  auto handle = std::make_shared<LayerHandle>();
  handle->desc.name = layer->name;
  handle->desc.file_size = layer->file_size;
  handle->desc.is_l0 = is_l0;
  handle->payload = std::move(layer);
  return LayerHandlePtr(std::move(handle));
}

Status Timeline::ReplaceLayers(std::span<const LayerHandlePtr> removed,
                               std::span<const LayerHandlePtr> added) {
  std::lock_guard lock(mu_);
  LayerMap::Builder builder(*map_);
  for (const LayerHandlePtr& layer : removed) RETURN_IF_ERROR(builder.Remove(layer->desc.name));
  for (const LayerHandlePtr& layer : added) RETURN_IF_ERROR(builder.Insert(layer));
  map_ = builder.Build();
  return Status::Ok();
}

// ------------------------------------------------------------------ accessors

Lsn Timeline::last_record_lsn() const { return Lsn{last_record_lsn_.load()}; }

Lsn Timeline::disk_consistent_lsn() const {
  std::lock_guard lock(mu_);
  return metadata_.disk_consistent_lsn;
}

Lsn Timeline::gc_cutoff() const {
  std::lock_guard lock(mu_);
  return metadata_.latest_gc_cutoff_lsn;
}

TimelineMetadata Timeline::metadata() const {
  std::lock_guard lock(mu_);
  return metadata_;
}

std::shared_ptr<const LayerMap> Timeline::layer_map() const {
  std::lock_guard lock(mu_);
  return map_;
}

void Timeline::AddBranchPoint(Lsn lsn) {
  std::lock_guard lock(mu_);
  branch_points_.push_back(lsn);
}

void Timeline::RemoveBranchPoint(Lsn lsn) {
  std::lock_guard lock(mu_);
  const auto it = std::find(branch_points_.begin(), branch_points_.end(), lsn);
  if (it != branch_points_.end()) branch_points_.erase(it);
}

TimelineStats Timeline::Stats() const {
  TimelineStats stats;
  stats.last_record_lsn = last_record_lsn();
  std::lock_guard lock(mu_);
  stats.disk_consistent_lsn = metadata_.disk_consistent_lsn;
  stats.gc_cutoff = metadata_.latest_gc_cutoff_lsn;
  if (open_ != nullptr) stats.in_memory_bytes += open_->bytes();
  for (const auto& layer : frozen_) stats.in_memory_bytes += layer->bytes();
  stats.frozen_layers = frozen_.size();
  for (const LayerHandlePtr& layer : map_->AllLayers()) {
    stats.layer_bytes += layer->desc.file_size;
    if (layer->desc.is_image()) {
      ++stats.images;
    } else if (layer->desc.is_l0) {
      ++stats.l0_deltas;
    } else {
      ++stats.l1_deltas;
    }
  }
  return stats;
}

void Timeline::UpdateGauges() const {
  if (!metrics_) return;
  const TimelineStats stats = Stats();
  metrics_->in_memory_bytes.Set(static_cast<double>(stats.in_memory_bytes));
  metrics_->frozen_layers.Set(static_cast<double>(stats.frozen_layers));
  metrics_->l0_layers.Set(static_cast<double>(stats.l0_deltas));
  metrics_->layers.Set(static_cast<double>(stats.l0_deltas + stats.l1_deltas + stats.images));
  metrics_->layer_bytes.Set(static_cast<double>(stats.layer_bytes));
  metrics_->last_record_lsn.Set(static_cast<double>(stats.last_record_lsn.value));
  metrics_->disk_consistent_lsn.Set(static_cast<double>(stats.disk_consistent_lsn.value));
  metrics_->disk_consistent_lsn_lag.Set(
      static_cast<double>(stats.last_record_lsn.value - stats.disk_consistent_lsn.value));
}

}  // namespace pageserver::timeline
