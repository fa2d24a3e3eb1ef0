#include "timeline/compaction.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layers/disk_btree.h"
#include "layers/vectored_read.h"

namespace pageserver::timeline {
namespace {

using common::Result;
using common::Status;
using layers::DeltaLayerReader;
using layers::Key;
using layers::KeyRange;
using layers::Lsn;
using layers::LsnRange;
using layers::WrittenLayer;
using Inputs = std::span<const DeltaLayerReader* const>;

// One input's entries through its index only (pass 1): (key, LSN, BlobRef).
class IndexSource {
 public:
  static Result<IndexSource> Open(const DeltaLayerReader& reader) {
    IndexSource source(reader);
    RETURN_IF_ERROR(source.cursor_.SeekFirst());
    source.Decode();
    return source;
  }
  bool valid() const { return cursor_.valid(); }
  const Key& key() const { return key_; }
  Lsn lsn() const { return lsn_; }
  const layers::BlobRef& blob() const { return blob_; }
  Status Next() {
    RETURN_IF_ERROR(cursor_.Next());
    Decode();
    return Status::Ok();
  }

 private:
  explicit IndexSource(const DeltaLayerReader& reader) : cursor_(reader.index().NewCursor()) {}
  void Decode() {
    if (!cursor_.valid()) return;
    layers::DecodeDeltaKey(cursor_.key(), &key_, &lsn_);
    blob_ = layers::BlobRef::Unpack(cursor_.value());
  }
  layers::DiskBtreeCursor cursor_;
  Key key_;
  Lsn lsn_;
  layers::BlobRef blob_;
};

// One input's entries with their values (pass 2).
class EntrySource {
 public:
  static Result<EntrySource> Open(const DeltaLayerReader& reader, size_t read_ahead_bytes) {
    ASSIGN_OR_RETURN(auto it,
                     layers::LayerIterator::Create(reader, KeyRange::All(), read_ahead_bytes));
    return EntrySource(std::move(it));
  }
  bool valid() const { return it_->valid(); }
  const Key& key() const { return it_->entry().key; }
  Lsn lsn() const { return it_->entry().lsn; }
  const layers::LayerEntry& entry() const { return it_->entry(); }
  Status Next() {
    RETURN_IF_ERROR(it_->Next());
    return it_->status();
  }

 private:
  explicit EntrySource(std::unique_ptr<layers::LayerIterator> it) : it_(std::move(it)) {}
  std::unique_ptr<layers::LayerIterator> it_;
};

// K-way merge of per-input sources in (key, LSN) order, with a min-heap of
// source indexes. Rejects a (key, LSN) seen twice as Corruption.
template <typename Source>
class Merger {
 public:
  Merger(Inputs inputs, std::vector<Source> sources)
      : inputs_(inputs), sources_(std::move(sources)) {
    for (size_t i = 0; i < sources_.size(); ++i) {
      if (sources_[i].valid()) heap_.push_back(i);
    }
    std::make_heap(heap_.begin(), heap_.end(), Greater{this});
  }
  bool valid() const { return !heap_.empty(); }
  // REQUIRES: valid().
  const Source& top() const { return sources_[heap_.front()]; }

  // Moves past the current entry. REQUIRES: valid().
  Status Next() {
    std::pop_heap(heap_.begin(), heap_.end(), Greater{this});
    const size_t done = heap_.back();
    Source& source = sources_[done];
    const Key key = source.key();
    const Lsn lsn = source.lsn();
    RETURN_IF_ERROR(source.Next().WithContext("reading compaction input " + inputs_[done]->path()));
    if (source.valid()) {
      std::push_heap(heap_.begin(), heap_.end(), Greater{this});
    } else {
      heap_.pop_back();
    }
    if (valid() && top().key() == key && top().lsn() == lsn) return Duplicate(done, key, lsn);
    return Status::Ok();
  }

 private:
  // std heap functions build a max-heap; comparing with > makes it a min-heap.
  struct Greater {
    const Merger* m;
    bool operator()(size_t a, size_t b) const {
      const Source& x = m->sources_[a];
      const Source& y = m->sources_[b];
      if (x.key() != y.key()) return x.key() > y.key();
      if (x.lsn() != y.lsn()) return x.lsn() > y.lsn();
      return a > b;
    }
  };
  Status Duplicate(size_t first, const Key& key, Lsn lsn) const {
    return Status::Corruption("duplicate entry key " + key.ToHex() + " lsn " + lsn.ToString() +
                              " in compaction inputs " + inputs_[first]->path() + " and " +
                              inputs_[heap_.front()]->path());
  }

  Inputs inputs_;
  std::vector<Source> sources_;
  std::vector<size_t> heap_;
};

Result<Merger<IndexSource>> OpenIndexMerger(Inputs inputs) {
  std::vector<IndexSource> sources;
  for (const DeltaLayerReader* input : inputs) {
    auto source = IndexSource::Open(*input);
    if (!source.has_value()) return source.error().WithContext("reading " + input->path());
    sources.push_back(std::move(source).value());
  }
  return Merger<IndexSource>(inputs, std::move(sources));
}

Result<Merger<EntrySource>> OpenEntryMerger(Inputs inputs, size_t read_ahead_bytes) {
  std::vector<EntrySource> sources;
  for (const DeltaLayerReader* input : inputs) {
    auto source = EntrySource::Open(*input, read_ahead_bytes);
    if (!source.has_value()) return source.error().WithContext("reading " + input->path());
    sources.push_back(std::move(source).value());
  }
  return Merger<EntrySource>(inputs, std::move(sources));
}

// The key and LSN ranges the outputs cover: the union (hull) of the inputs'.
struct Bounds {
  KeyRange keys;
  LsnRange lsns;
};

Bounds InputBounds(Inputs inputs) {
  Bounds b{inputs[0]->summary().key_range, inputs[0]->summary().lsn_range};
  for (const DeltaLayerReader* input : inputs) {
    const auto& s = input->summary();
    b.keys = {std::min(b.keys.start, s.key_range.start), std::max(b.keys.end, s.key_range.end)};
    b.lsns = {std::min(b.lsns.start, s.lsn_range.start), std::max(b.lsns.end, s.lsn_range.end)};
  }
  return b;
}

// Pass 1's result: the first key of every output (empty when there are no
// entries at all).
using Plan = std::vector<Key>;

// Blob lengths (header included) are exactly what DeltaLayerWriter appends to
// the value region (delta values are never compressed), so the plan splits
// where a single pass measuring bytes_written() would.
Result<Plan> PlanOutputs(Inputs inputs, uint64_t target_file_size) {
  ASSIGN_OR_RETURN(auto merger, OpenIndexMerger(inputs));
  Plan starts;
  std::optional<Key> previous;
  uint64_t current_bytes = 0;
  while (merger.valid()) {
    const Key& key = merger.top().key();
    if (!previous.has_value() || (key != *previous && current_bytes >= target_file_size)) {
      starts.push_back(key);
      current_bytes = 0;
    }
    previous = key;
    current_bytes += merger.top().blob().length;
    RETURN_IF_ERROR(merger.Next());
  }
  return starts;
}

// Deletes finished outputs after a failure. Tries every file even when one
// fails, and names the ones left behind: they are complete layers the layer
// map does not know, which the caller must not mistake for published ones.
Status RemoveOutputs(const std::string& dir, const std::vector<WrittenLayer>& outputs) {
  std::string failed;
  for (const WrittenLayer& out : outputs) {
    if (::unlink(out.path.c_str()) != 0 && errno != ENOENT) failed += " " + out.path;
  }
  if (!outputs.empty()) {
    const Status sync = virtual_file::SyncDirectory(dir);
    if (!sync.ok()) return sync;
  }
  if (!failed.empty()) return Status::IoError("could not remove compaction outputs:" + failed);
  return Status::Ok();
}

// Pass 2: copies the merged entries into the planned outputs.
class OutputWriter {
 public:
  OutputWriter(const virtual_file::IoContext& ctx, const CompactionOptions& options,
               const Bounds& bounds, const Plan& plan)
      : ctx_(ctx), options_(options), bounds_(bounds), plan_(plan) {}

  Status Add(const layers::LayerEntry& e) {
    if (next_ < plan_.size() && e.key == plan_[next_]) RETURN_IF_ERROR(StartNext());
    return writer_->Put(e.key, e.lsn, e.value, e.will_init)
        .WithContext("writing compaction output for key " + e.key.ToHex());
  }
  Status Finish() {
    if (writer_ == nullptr) return Status::Ok();
    auto written = writer_->Finish();
    writer_.reset();
    if (!written.has_value()) return written.error().WithContext("finishing compaction output");
    outputs_.push_back(std::move(written).value());
    return Status::Ok();
  }
  // Removes every finished output; the current writer removes its own
  // temporary files when destroyed.
  Status Abort() {
    writer_.reset();
    return RemoveOutputs(options_.dir, std::exchange(outputs_, {}));
  }
  std::vector<WrittenLayer> TakeOutputs() { return std::exchange(outputs_, {}); }

 private:
  KeyRange RangeOf(size_t i) const {
    return {i == 0 ? bounds_.keys.start : plan_[i],
            i + 1 < plan_.size() ? plan_[i + 1] : bounds_.keys.end};
  }
  Status StartNext() {
    RETURN_IF_ERROR(Finish());
    const KeyRange keys = RangeOf(next_++);
    auto writer =
        layers::DeltaLayerWriter::Create(ctx_, options_.dir, options_.tenant, options_.timeline,
                                         keys, bounds_.lsns, options_.writer);
    if (!writer.has_value()) {
      return writer.error().WithContext("creating compaction output " + keys.ToString());
    }
    writer_ = std::move(writer).value();
    return Status::Ok();
  }

  const virtual_file::IoContext& ctx_;
  const CompactionOptions& options_;
  Bounds bounds_;
  const Plan& plan_;
  size_t next_ = 0;  // index in plan_ of the next output to start
  std::unique_ptr<layers::DeltaLayerWriter> writer_;
  std::vector<WrittenLayer> outputs_;
};

Status WriteOutputs(Inputs inputs, size_t read_ahead_bytes, OutputWriter& out) {
  ASSIGN_OR_RETURN(auto merger, OpenEntryMerger(inputs, read_ahead_bytes));
  while (merger.valid()) {
    RETURN_IF_ERROR(out.Add(merger.top().entry()));
    RETURN_IF_ERROR(merger.Next());
  }
  return out.Finish();
}

Status WithCompactionContext(const Status& status, Inputs inputs, const std::string& dir) {
  return status.WithContext("compacting " + std::to_string(inputs.size()) + " delta layers into " +
                            dir);
}

}  // namespace

Result<std::vector<WrittenLayer>> CompactDeltas(const virtual_file::IoContext& ctx, Inputs inputs,
                                                const CompactionOptions& options) {
  if (inputs.empty()) return Status::InvalidArgument("CompactDeltas: no input layers");
  const Bounds bounds = InputBounds(inputs);
  auto plan = PlanOutputs(inputs, options.target_file_size);
  if (!plan.has_value()) return WithCompactionContext(plan.error(), inputs, options.dir);
  OutputWriter out(ctx, options, bounds, *plan);
  const Status status = WriteOutputs(inputs, options.read_ahead_bytes, out);
  if (!status.ok()) {
    const Status removed = out.Abort();
    Status error = WithCompactionContext(status, inputs, options.dir);
    if (!removed.ok()) error = error.WithContext("cleanup failed (" + removed.ToString() + ")");
    return error;
  }
  return out.TakeOutputs();
}

}  // namespace pageserver::timeline
