// The GetPage@LSN read path of Timeline (RFC.md 8.6): traversal of the
// in-memory layers, the layer map and the ancestors through the indexes
// only, one engine batch for every data read of the call, then redo per key.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "common/clock.h"
#include "layers/vectored_read.h"
#include "timeline/timeline.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::BlobRef;
using layers::Key;
using layers::Lsn;
using layers::LsnRange;

// One key of a GetVectored call, as traversal fills it in.
struct Timeline::KeyRead {
  // A value of the key's history: either bytes already read (in-memory
  // layers) or a blob of the call's data batch (collector slot).
  struct Piece {
    Lsn lsn;
    bool will_init = false;
    std::vector<std::byte> bytes;
    size_t slot = kNoSlot;
  };
  static constexpr size_t kNoSlot = ~size_t{0};

  Key key;
  Lsn lsn;
  Lsn end;            // exclusive bound of the next search
  bool done = false;  // history complete, or nothing older exists
  Status error;
  std::vector<Piece> records;  // delta values, newest first
  std::optional<Piece> base;   // an image layer's value
  size_t layers_visited = 0;

  void Fail(Status status) {
    error = std::move(status);
    done = true;
  }
};

// The data reads of one call, across layers and timelines: every blob is
// planned per layer file, and all plans execute as one VectoredReadBatch
// (one engine submit, one wait).
class Timeline::ReadCollector {
 public:
  // Registers a blob of `layer` and returns its slot.
  size_t Add(const std::shared_ptr<const LoadedLayer>& layer, BlobRef blob) {
    auto [it, inserted] = index_.try_emplace(layer.get(), layers_.size());
    if (inserted) layers_.push_back(LayerReads{layer, {}, 0});
    LayerReads& reads = layers_[it->second];
    reads.blobs.push_back(blob);
    slots_.push_back({it->second, reads.blobs.size() - 1});
    return slots_.size() - 1;
  }

  void Execute(size_t max_read_bytes) {
    for (LayerReads& reads : layers_) {
      const LoadedLayer& layer = *reads.layer;
      const virtual_file::VirtualFile& file =
          layer.image ? layer.image->file() : layer.delta->file();
      const layers::PlannerOptions options = layer.image
                                                 ? layer.image->planner_options(max_read_bytes)
                                                 : layer.delta->planner_options(max_read_bytes);
      reads.plan = batch_.Add(&file, layers::VectoredReadPlan::Build(reads.blobs, options));
    }
    if (!layers_.empty()) batch_.Execute();
  }

  // The decoded value of a slot; Corruption when the blob's will_init flag
  // disagrees with the index entry that pointed at it.
  Result<std::vector<std::byte>> Decode(size_t slot) const {
    const Slot& s = slots_[slot];
    const LayerReads& reads = layers_[s.layer];
    ASSIGN_OR_RETURN(layers::DecodedBlob blob, batch_.Decode(reads.plan, s.blob));
    const BlobRef& ref = reads.blobs[s.blob];
    if (blob.will_init != ref.will_init) {
      return Status::Corruption(reads.layer->path + " offset " + std::to_string(ref.offset) +
                                ": blob will_init flag disagrees with its index entry");
    }
    return std::move(blob.value);
  }

  size_t read_count() const { return batch_.read_count(); }
  uint64_t bytes_read() const { return batch_.bytes_read(); }

 private:
  struct LayerReads {
    std::shared_ptr<const LoadedLayer> layer;  // keeps the file open until decoded
    std::vector<BlobRef> blobs;
    size_t plan;
  };
  struct Slot {
    size_t layer;
    size_t blob;
  };
  std::vector<LayerReads> layers_;
  std::unordered_map<const LoadedLayer*, size_t> index_;
  std::vector<Slot> slots_;
  layers::VectoredReadBatch batch_;
};

Timeline::Snapshot Timeline::TakeSnapshot() const {
  Snapshot snap;
  std::lock_guard lock(mu_);
  snap.map = map_;
  if (open_ != nullptr) snap.in_memory.push_back(open_);
  snap.in_memory.insert(snap.in_memory.end(), frozen_.rbegin(), frozen_.rend());
  return snap;
}

Status Timeline::CheckReadLsn(Lsn lsn, Lsn last_record, Lsn cutoff) const {
  if (!lsn.valid()) return Status::InvalidArgument("read at invalid LSN 0/0");
  if (lsn > last_record) {
    return Status::InvalidArgument("read at " + lsn.ToString() + " above last_record_lsn " +
                                   last_record.ToString() + " of timeline " + id_.ToHex());
  }
  if (lsn < cutoff) {
    return Status::InvalidArgument("read at " + lsn.ToString() + " below the GC cutoff " +
                                   cutoff.ToString() + " of timeline " + id_.ToHex());
  }
  return Status::Ok();
}

void Timeline::TraverseInMemory(const Snapshot& snap, std::span<KeyRead* const> keys) const {
  for (const std::shared_ptr<InMemoryLayer>& layer : snap.in_memory) {
    const LsnRange range = layer->lsn_range();
    for (KeyRead* read : keys) {
      if (read->done || read->end <= range.start) continue;
      ++read->layers_visited;
      Result<InMemoryLayer::History> history =
          layer->GetHistory(read->key, LsnRange{range.start, std::min(read->end, range.end)});
      if (!history.has_value()) {
        read->Fail(history.error());
        continue;
      }
      for (auto& value : history->values) {
        read->records.push_back({value.lsn, value.will_init, std::move(value.bytes)});
      }
      read->end = range.start;
      if (history->complete) read->done = true;
    }
  }
}

namespace {

// One step of a key's walk through the layer map: reads the index of the
// layer Search chose. Returns false when no layer holds the key below
// read.end (the walk continues in the ancestor).
template <typename KeyReadT, typename Collector>
bool VisitLayer(const LayerMap& map, KeyReadT& read, Collector& reads) {
  const std::optional<SearchResult> found = map.Search(read.key, read.end);
  if (!found.has_value()) return false;
  ++read.layers_visited;
  const std::shared_ptr<const LoadedLayer> layer = LoadedLayerOf(*found->layer);
  if (layer->image != nullptr) {
    Result<std::optional<BlobRef>> blob = layer->image->Lookup(read.key);
    if (!blob.has_value()) {
      read.Fail(blob.error());
    } else {
      // An image layer holds every key of its range that exists at its LSN:
      // absent here means absent at this LSN, so the walk ends either way.
      if (blob->has_value()) {
        read.base = typename KeyReadT::Piece{found->lsn_floor, true, {}, reads.Add(layer, **blob)};
      }
      read.done = true;
    }
    return true;
  }
  Result<layers::KeyHistory> history =
      layer->delta->LookupHistory(read.key, LsnRange{found->lsn_floor, read.end});
  if (!history.has_value()) {
    read.Fail(history.error());
    return true;
  }
  for (const layers::DeltaEntry& entry : history->entries) {
    read.records.push_back({entry.lsn, entry.blob.will_init, {}, reads.Add(layer, entry.blob)});
  }
  read.end = found->lsn_floor;
  if (history->complete) read.done = true;
  return true;
}

}  // namespace

void Timeline::TraverseHistoric(const Snapshot& snap, std::span<KeyRead* const> keys,
                                ReadCollector& reads) const {
  for (KeyRead* read : keys) {
    while (!read->done && VisitLayer(*snap.map, *read, reads)) {
    }
  }
}

void Timeline::Traverse(std::span<KeyRead* const> keys, ReadCollector& reads) const {
  if (broken()) {
    for (KeyRead* read : keys) {
      if (!read->done)
        read->Fail(Status::Aborted("timeline " + id_.ToHex() + " is broken: " + *broken_reason_));
    }
    return;
  }
  const Snapshot snap = TakeSnapshot();
  TraverseInMemory(snap, keys);
  TraverseHistoric(snap, keys, reads);
  std::vector<KeyRead*> below;
  for (KeyRead* read : keys) {
    if (read->done) continue;
    if (ancestor_ == nullptr || read->end.value == 0) {
      read->done = true;  // no older history anywhere
      continue;
    }
    // The branch sees its ancestor's history at and below the branch point.
    read->end = std::min(read->end, Lsn{ancestor_lsn_.value + 1});
    below.push_back(read);
  }
  if (!below.empty()) ancestor_->Traverse(below, reads);
}

void Timeline::Reconstruct(KeyRead& read, const ReadCollector& reads,
                           Result<std::vector<std::byte>>& out) const {
  if (!read.error.ok()) {
    out = read.error;
    return;
  }
  if (read.records.empty() && !read.base.has_value()) {
    out = Status::NotFound(read.key.Describe() + " (" + read.key.ToHex() + ") has no value at " +
                           read.lsn.ToString());
    return;
  }
  ReconstructState state;
  if (read.base.has_value()) {
    Result<std::vector<std::byte>> image = reads.Decode(read.base->slot);
    if (!image.has_value()) {
      out = image.error();
      return;
    }
    state.base_image.emplace(read.base->lsn, std::move(*image));
  }
  for (KeyRead::Piece& piece : read.records) {
    if (piece.slot != KeyRead::kNoSlot) {
      Result<std::vector<std::byte>> bytes = reads.Decode(piece.slot);
      if (!bytes.has_value()) {
        out = bytes.error();
        return;
      }
      piece.bytes = std::move(*bytes);
    }
    Result<Value> value = Value::Decode(piece.bytes);
    if (!value.has_value()) {
      out = value.error().WithContext(read.key.Describe() + " at " + piece.lsn.ToString());
      return;
    }
    if (value->will_init() != piece.will_init) {
      out = Status::Corruption(read.key.Describe() + " at " + piece.lsn.ToString() +
                               ": value kind disagrees with the index's will_init flag");
      return;
    }
    state.records.emplace_back(piece.lsn, std::move(*value));
  }
  out = timeline::Reconstruct(read.key, std::move(state));
}

std::vector<Result<std::vector<std::byte>>> Timeline::GetVectored(std::span<const Key> keys,
                                                                  Lsn lsn) const {
  std::vector<KeyRequest> requests;
  requests.reserve(keys.size());
  for (const Key& key : keys) requests.push_back({key, lsn});
  return GetVectored(requests);
}

std::vector<Result<std::vector<std::byte>>> Timeline::GetVectored(
    std::span<const KeyRequest> requests) const {
  const uint64_t start = common::MonotonicNanos();
  std::vector<Result<std::vector<std::byte>>> results(requests.size(),
                                                      Status::Internal("not read"));
  if (requests.size() > config_.max_get_vectored_keys) {
    const Status too_many = Status::InvalidArgument(
        "GetVectored of " + std::to_string(requests.size()) +
        " keys exceeds max_get_vectored_keys " + std::to_string(config_.max_get_vectored_keys));
    std::fill(results.begin(), results.end(), too_many);
    return results;
  }
  const Lsn last_record = last_record_lsn();
  const Lsn cutoff = gc_cutoff();
  std::vector<KeyRead> reads(requests.size());
  std::vector<KeyRead*> pending;
  for (size_t i = 0; i < requests.size(); ++i) {
    reads[i].key = requests[i].key;
    reads[i].lsn = requests[i].lsn;
    const Status ok = CheckReadLsn(requests[i].lsn, last_record, cutoff);
    if (!ok.ok()) {
      reads[i].Fail(ok);
      continue;
    }
    reads[i].end = Lsn{requests[i].lsn.value + 1};
    pending.push_back(&reads[i]);
  }
  ReadCollector collector;
  Traverse(pending, collector);
  collector.Execute(config_.max_vectored_read_bytes);
  const uint64_t redo_start = common::MonotonicNanos();
  for (size_t i = 0; i < reads.size(); ++i) Reconstruct(reads[i], collector, results[i]);
  if (metrics_) {
    const uint64_t end = common::MonotonicNanos();
    metrics_->get_vectored_seconds.Observe((end - start) * 1e-9);
    metrics_->get_vectored_keys.Observe(static_cast<double>(requests.size()));
    if (!requests.empty())
      metrics_->redo_seconds.Observe((end - redo_start) * 1e-9 / requests.size());
    metrics_->data_reads.IncrementBy(collector.read_count());
    metrics_->data_read_bytes.IncrementBy(collector.bytes_read());
    metrics_->keys_read.IncrementBy(requests.size());
    for (size_t i = 0; i < reads.size(); ++i) {
      metrics_->layers_visited.Observe(static_cast<double>(reads[i].layers_visited));
      if (!results[i].has_value() && !results[i].error().IsNotFound())
        metrics_->read_errors.Increment();
    }
  }
  return results;
}

Result<std::vector<std::byte>> Timeline::Get(const Key& key, Lsn lsn) const {
  std::vector<Result<std::vector<std::byte>>> results = GetVectored(std::span(&key, 1), lsn);
  return std::move(results.front());
}

Status Timeline::WaitLsn(Lsn lsn, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(lsn_mu_);
  const bool reached = lsn_cv_.wait_for(lock, timeout, [&] { return last_record_lsn() >= lsn; });
  if (reached) return Status::Ok();
  return Status::TimedOut("timed out after " + std::to_string(timeout.count()) +
                          " ms waiting for LSN " + lsn.ToString() + " on timeline " + id_.ToHex() +
                          "; last_record_lsn is " + last_record_lsn().ToString());
}

}  // namespace pageserver::timeline
