// Background work of Timeline (RFC.md 8.7): the flusher and compactor
// threads, L0 -> L1 compaction, image layer creation and GC.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <utility>

#include "common/clock.h"
#include "common/failpoint.h"
#include "layers/delta_layer.h"
#include "layers/disk_btree.h"
#include "timeline/compaction.h"
#include "timeline/gc.h"
#include "timeline/timeline.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;

namespace {

double SecondsSince(uint64_t start_nanos) {
  return static_cast<double>(common::MonotonicNanos() - start_nanos) * 1e-9;
}

// Marks layers removed from the map for deletion once the last holder drops
// them (LoadedLayer's destructor), counting them in `pending` when given.
void RemoveOnDrop(std::span<const LayerHandlePtr> layers,
                  const std::shared_ptr<std::atomic<int64_t>>& pending) {
  for (const LayerHandlePtr& handle : layers) {
    const std::shared_ptr<const LoadedLayer> layer = LoadedLayerOf(*handle);
    if (layer != nullptr) layer->MarkForRemoval(pending);
  }
}

// Appends the keys of `reader`'s index in `range` with an entry below `below`.
Status ImageIndexKeys(const layers::ImageLayerReader& reader, const KeyRange& range,
                      std::vector<Key>& out) {
  layers::DiskBtreeCursor cursor = reader.index().NewCursor();
  RETURN_IF_ERROR(cursor.SeekGE(range.start.Encode()));
  while (cursor.valid()) {
    const Key key = Key::Decode(cursor.key().first<layers::kKeySize>());
    if (key >= range.end) break;
    out.push_back(key);
    RETURN_IF_ERROR(cursor.Next());
  }
  return cursor.status();
}

Status DeltaIndexKeys(const layers::DeltaLayerReader& reader, const KeyRange& range, Lsn below,
                      std::vector<Key>& out) {
  layers::DiskBtreeCursor cursor = reader.index().NewCursor();
  RETURN_IF_ERROR(cursor.SeekGE(layers::EncodeDeltaKey(range.start, Lsn{0})));
  while (cursor.valid()) {
    Key key;
    Lsn lsn;
    layers::DecodeDeltaKey(cursor.key(), &key, &lsn);
    if (key >= range.end) break;
    if (lsn < below && (out.empty() || out.back() != key)) out.push_back(key);
    RETURN_IF_ERROR(cursor.Next());
  }
  return cursor.status();
}

// The key partitions image creation works on: the key ranges of the newest
// generation of L1 deltas (one compaction's outputs, which tile the
// keyspace), or the whole keyspace while there are only L0s.
std::vector<KeyRange> ImagePartitions(const LayerMap& map) {
  std::optional<layers::LsnRange> newest;
  for (const LayerHandlePtr& layer : map.AllLayers()) {
    const LayerDesc& desc = layer->desc;
    if (!desc.is_delta() || desc.is_l0) continue;
    if (!newest || desc.lsn_range().end > newest->end) newest = desc.lsn_range();
  }
  std::vector<KeyRange> partitions;
  if (!newest) {
    if (!map.L0Deltas().empty()) partitions.push_back(KeyRange::All());
    return partitions;
  }
  for (const LayerHandlePtr& layer : map.AllLayers()) {
    const LayerDesc& desc = layer->desc;
    if (desc.is_delta() && !desc.is_l0 && desc.lsn_range() == *newest) {
      partitions.push_back(desc.key_range());
    }
  }
  std::sort(partitions.begin(), partitions.end());
  return partitions;
}

}  // namespace

// ---------------------------------------------------------------- compaction

Result<CompactionResult> Timeline::Compact(bool force) {
  std::lock_guard compact_lock(compact_mu_);
  const std::shared_ptr<const LayerMap> map = layer_map();
  std::vector<LayerHandlePtr> l0s = map->L0Deltas();
  // Only L0s the metadata vouches for. A flush publishes its L0 before it
  // advances disk_consistent_lsn; an output covering that L0 would be a
  // future layer, deleted at load after a crash, while its inputs are gone.
  // Unvouched L0s are the newest (flushes advance it in order), so the rest
  // stay contiguous.
  const Lsn durable = disk_consistent_lsn();
  std::erase_if(l0s,
                [&](const LayerHandlePtr& l0) { return IsFutureLayer(l0->desc.name, durable); });
  const size_t needed = force ? 2 : config_.compaction_threshold;
  if (l0s.size() < needed) return CompactionResult{};
  const uint64_t start = common::MonotonicNanos();
  std::vector<const layers::DeltaLayerReader*> inputs;
  for (const LayerHandlePtr& handle : l0s) inputs.push_back(LoadedLayerOf(*handle)->delta.get());
  CompactionOptions options;
  options.dir = dir_;
  options.tenant = tenant_;
  options.timeline = id_;
  options.target_file_size = config_.compaction_target_size;
  options.writer = config_.writer;
  ASSIGN_OR_RETURN(std::vector<layers::WrittenLayer> written,
                   CompactDeltas(*res_.ctx, inputs, options));
  common::FailPoint("compaction-before-publish");
  std::vector<LayerHandlePtr> outputs;
  for (const layers::WrittenLayer& layer : written) {
    ASSIGN_OR_RETURN(LayerHandlePtr handle,
                     OpenWrittenLayer(layer, IsL0Delta(layer.summary.name())));
    outputs.push_back(std::move(handle));
  }
  RETURN_IF_ERROR(ReplaceLayers(l0s, outputs));
  RemoveOnDrop(l0s, pending_l0_deletions_);
  common::FailPoint("compaction-after-publish");
  if (metrics_) metrics_->compaction_seconds.Observe(SecondsSince(start));
  spdlog::info("timeline {}: compacted {} L0 layers into {} L1 layers", id_.ToHex(), l0s.size(),
               outputs.size());
  UpdateGauges();
  return CompactionResult{l0s.size(), outputs.size()};
}

// ------------------------------------------------------------ image creation

Result<std::vector<Key>> Timeline::CollectKeys(const KeyRange& range, Lsn below) const {
  std::vector<Key> keys;
  const Snapshot snap = TakeSnapshot();
  for (const auto& layer : snap.in_memory) {
    const std::vector<Key> found = layer->Keys(range, below);
    keys.insert(keys.end(), found.begin(), found.end());
  }
  for (const LayerHandlePtr& handle : snap.map->AllLayers()) {
    const LayerDesc& desc = handle->desc;
    if (!desc.key_range().Overlaps(range) || desc.lsn_range().start >= below) continue;
    const std::shared_ptr<const LoadedLayer> layer = LoadedLayerOf(*handle);
    if (layer->image != nullptr) {
      RETURN_IF_ERROR(ImageIndexKeys(*layer->image, range, keys));
    } else {
      RETURN_IF_ERROR(DeltaIndexKeys(*layer->delta, range, below, keys));
    }
  }
  if (ancestor_ != nullptr) {
    // Keys the branch inherited: an image layer here must hold them too, or
    // reads would stop at it and miss them.
    ASSIGN_OR_RETURN(std::vector<Key> inherited,
                     ancestor_->CollectKeys(range, std::min(below, Lsn{ancestor_lsn_.value + 1})));
    keys.insert(keys.end(), inherited.begin(), inherited.end());
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

Result<bool> Timeline::CreateImageLayer(const KeyRange& range, Lsn lsn) {
  const uint64_t start = common::MonotonicNanos();
  ASSIGN_OR_RETURN(const std::vector<Key> keys, CollectKeys(range, Lsn{lsn.value + 1}));
  ASSIGN_OR_RETURN(
      std::unique_ptr<layers::ImageLayerWriter> writer,
      layers::ImageLayerWriter::Create(*res_.ctx, dir_, tenant_, id_, range, lsn, config_.writer));
  const size_t batch = config_.max_get_vectored_keys;
  for (size_t i = 0; i < keys.size(); i += batch) {
    const std::span<const Key> chunk(keys.data() + i, std::min(batch, keys.size() - i));
    std::vector<Result<std::vector<std::byte>>> values = GetVectored(chunk, lsn);
    for (size_t j = 0; j < chunk.size(); ++j) {
      if (!values[j].has_value()) {
        if (values[j].error().IsNotFound()) continue;  // the key does not exist at lsn
        return values[j].error().WithContext("image layer " + range.ToString() + " at " +
                                             lsn.ToString());
      }
      RETURN_IF_ERROR(writer->Put(chunk[j], *values[j]));
    }
  }
  ASSIGN_OR_RETURN(const layers::WrittenLayer written, writer->Finish());
  ASSIGN_OR_RETURN(LayerHandlePtr handle, OpenWrittenLayer(written, false));
  const LayerHandlePtr added[] = {handle};
  common::FailPoint("image-before-publish");
  RETURN_IF_ERROR(ReplaceLayers({}, added));
  if (metrics_) metrics_->image_creation_seconds.Observe(SecondsSince(start));
  return true;
}

Result<size_t> Timeline::CreateImages(bool force) {
  std::lock_guard compact_lock(compact_mu_);
  // Images at disk_consistent_lsn: never a "future" layer after a restart,
  // and never below the GC cutoff (Gc keeps the cutoff at or below it).
  const Lsn lsn = disk_consistent_lsn();
  if (!lsn.valid() || lsn < gc_cutoff()) return size_t{0};
  const std::shared_ptr<const LayerMap> map = layer_map();
  size_t created = 0;
  for (const KeyRange& partition : ImagePartitions(*map)) {
    if (map->Find(layers::LayerName::Image(partition, lsn)) != nullptr) continue;
    const size_t depth = map->CountDeltasAbove(partition, Lsn{lsn.value + 1});
    if (depth == 0 || (!force && depth < config_.image_creation_threshold)) continue;
    ASSIGN_OR_RETURN(const bool made, CreateImageLayer(partition, lsn));
    if (made) ++created;
  }
  if (created > 0) {
    spdlog::info("timeline {}: created {} image layers at {}", id_.ToHex(), created,
                 lsn.ToString());
    UpdateGauges();
  }
  return created;
}

// ------------------------------------------------------------------------ GC

Result<GcResult> Timeline::Gc() {
  std::lock_guard compact_lock(compact_mu_);
  GcResult result;
  result.cutoff = gc_cutoff();
  if (config_.gc_horizon == 0) return result;
  if (pending_l0_deletions_->load() > 0) return result;  // RFC 8.8: wait for them
  const Lsn last_record = last_record_lsn();
  if (last_record.value <= config_.gc_horizon) return result;
  // Never above disk_consistent_lsn: image creation materializes there.
  const Lsn target{std::min(last_record.value - config_.gc_horizon, disk_consistent_lsn().value)};
  std::vector<LayerHandlePtr> victims;
  {
    // Branch creation checks the cutoff and registers its branch point under
    // mu_: hold it from reading the branch points until the new cutoff is
    // in force, so no branch below the cutoff appears meanwhile.
    std::unique_lock metadata_lock(metadata_mu_);
    TimelineMetadata md = metadata();
    std::vector<Lsn> retain;
    {
      std::lock_guard lock(mu_);
      retain = branch_points_;
    }
    if (target > md.latest_gc_cutoff_lsn) {
      md.latest_gc_cutoff_lsn = target;
      // Persisted before anything is removed, so after a crash no read
      // below it is served from a timeline that lost the layers for it.
      RETURN_IF_ERROR(UpdateMetadata(md));
    }
    result.cutoff = md.latest_gc_cutoff_lsn;
    {
      std::lock_guard lock(mu_);
      for (const Lsn lsn : branch_points_) {
        if (std::find(retain.begin(), retain.end(), lsn) == retain.end()) retain.push_back(lsn);
      }
      victims = SelectGcVictims(*map_, result.cutoff, retain);
    }
  }
  if (victims.empty()) return result;
  common::FailPoint("gc-before-remove");
  RETURN_IF_ERROR(ReplaceLayers(victims, {}));
  RemoveOnDrop(victims, nullptr);
  for (const LayerHandlePtr& layer : victims) result.bytes += layer->desc.file_size;
  result.removed = victims.size();
  if (metrics_) metrics_->gc_removed_layers.IncrementBy(victims.size());
  spdlog::info("timeline {}: GC at cutoff {} removed {} layers ({} bytes)", id_.ToHex(),
               result.cutoff.ToString(), result.removed, result.bytes);
  UpdateGauges();
  return result;
}

// ------------------------------------------------------------------ threads

void Timeline::StartBackground() {
  flusher_ = std::thread([this] { FlusherLoop(); });
  compactor_ = std::thread([this] { CompactorLoop(); });
}

void Timeline::FlusherLoop() {
  // A failed flush is retried after a pause; ingest sees the error through
  // backpressure meanwhile.
  constexpr auto kRetryPause = std::chrono::seconds(1);
  constexpr auto kIdleCheck = std::chrono::milliseconds(500);
  while (true) {
    {
      std::unique_lock lock(bg_mu_);
      bg_cv_.wait_for(lock, kIdleCheck, [&] { return stopping_ || flush_wanted_; });
      if (stopping_) return;
      flush_wanted_ = false;
    }
    MaybeFreezeIdleLayer();
    const Result<size_t> flushed = FlushFrozen();
    if (!flushed.has_value()) {
      spdlog::error("timeline {}: flush failed: {}", id_.ToHex(), flushed.error().ToString());
      if (metrics_) metrics_->background_errors.Increment();
      std::unique_lock lock(bg_mu_);
      bg_cv_.wait_for(lock, kRetryPause, [&] { return stopping_; });
      flush_wanted_ = true;
    }
  }
}

void Timeline::MaybeFreezeIdleLayer() {
  // checkpoint_timeout while ingest is idle: only when no thread is attached
  // (an attached ingest thread checks the timeout itself in FinishLsn), and
  // holding ingest_mu_ so no ingest call starts meanwhile. try_lock: an
  // ingest call may be waiting for this very thread (backpressure).
  if (!OpenLayerFull()) return;
  std::unique_lock ingest_lock(ingest_mu_, std::try_to_lock);
  if (!ingest_lock.owns_lock() || ingest_thread_.load() != std::thread::id()) return;
  const Status frozen = FreezeOpenLayer();
  if (!frozen.ok()) {
    spdlog::error("timeline {}: freeze after checkpoint_timeout failed: {}", id_.ToHex(),
                  frozen.ToString());
  }
}

void Timeline::CompactorLoop() {
  while (true) {
    {
      std::unique_lock lock(bg_mu_);
      bg_cv_.wait_for(lock, config_.compaction_period,
                      [&] { return stopping_ || compact_wanted_; });
      if (stopping_) return;
      compact_wanted_ = false;
    }
    auto report = [&](std::string_view step, const Status& status) {
      if (status.ok()) return;
      spdlog::error("timeline {}: {} failed: {}", id_.ToHex(), step, status.ToString());
      if (metrics_) metrics_->background_errors.Increment();
    };
    report("compaction", Compact().status());
    report("image creation", CreateImages().status());
    report("gc", Gc().status());
  }
}

Status Timeline::Shutdown(bool checkpoint) {
  {
    std::lock_guard lock(bg_mu_);
    stopping_ = true;
  }
  stopping_flag_.store(true);
  bg_cv_.notify_all();
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (compactor_.joinable()) compactor_.join();
  if (checkpoint && !broken()) return Checkpoint();
  return Status::Ok();
}

}  // namespace pageserver::timeline
