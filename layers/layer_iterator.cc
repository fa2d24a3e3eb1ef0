#include "layers/layer_iterator.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "layers/blob.h"
#include "layers/vectored_read.h"

namespace pageserver::layers {

using common::Result;
using common::Status;

namespace {

// An index entry gathered for the next read.
struct PendingEntry {
  Key key;
  Lsn lsn;
  BlobRef ref;
};

// The index entries of one refill and, when the walk stopped on an error,
// that error: it comes after the entries, so they are still handed out.
struct Gathered {
  std::vector<PendingEntry> entries;
  Status error;
  bool index_done = false;
};

std::string BlobText(const BlobRef& ref) {
  return "[" + std::to_string(ref.offset) + ", +" + std::to_string(ref.length) + ")";
}

bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

// Both reader kinds share the file layout; they differ in the index key and
// in where an entry's LSN and will_init come from.
struct LayerIterator::State {
  LayerKind kind = LayerKind::kImage;
  const DiskBtreeReader* index = nullptr;
  const virtual_file::VirtualFile* file = nullptr;
  const LayerSummary* summary = nullptr;
  PlannerOptions planner;
  KeyRange keys;
  size_t read_ahead_bytes = 1;

  std::vector<LayerEntry> entries;  // the current refill, decoded
  size_t pos = 0;
  // Raw index key of the last entry gathered; empty before the first refill.
  // The next refill seeks to it and skips it, so no pin outlives a refill.
  std::vector<std::byte> resume_key;
  bool index_done = false;
  Status deferred;  // met after `entries`; reported once they are used up
  Status status;    // the error that ended the iteration

  template <typename Reader>
  State(const Reader& reader, LayerKind k, const KeyRange& range, size_t read_ahead)
      : kind(k),
        index(&reader.index()),
        file(&reader.file()),
        summary(&reader.summary()),
        planner(reader.planner_options()),
        keys(range),
        read_ahead_bytes(std::max<size_t>(read_ahead, 1)),
        index_done(range.empty()) {}

  Status SeekStart(DiskBtreeCursor& cursor) const;
  Status Position(DiskBtreeCursor& cursor) const;
  void DecodeIndexKey(std::span<const std::byte> raw, Key* key, Lsn* lsn) const;
  Status CheckRef(const Key& key, const BlobRef& ref) const;
  Status GatherFrom(DiskBtreeCursor& cursor, Gathered& out);
  Gathered Gather();
  Result<LayerEntry> ToEntry(const PendingEntry& pending, DecodedBlob blob) const;
  Status ReadAndDecode(const std::vector<PendingEntry>& pending);
};

Status LayerIterator::State::SeekStart(DiskBtreeCursor& cursor) const {
  if (kind == LayerKind::kImage) return cursor.SeekGE(keys.start.Encode());
  return cursor.SeekGE(EncodeDeltaKey(keys.start, Lsn{0}));
}

Status LayerIterator::State::Position(DiskBtreeCursor& cursor) const {
  if (resume_key.empty()) return SeekStart(cursor);
  RETURN_IF_ERROR(cursor.SeekGE(resume_key));
  if (cursor.valid() && SameBytes(cursor.key(), resume_key)) return cursor.Next();
  return Status::Ok();
}

void LayerIterator::State::DecodeIndexKey(std::span<const std::byte> raw, Key* key,
                                          Lsn* lsn) const {
  if (kind == LayerKind::kDelta) return DecodeDeltaKey(raw, key, lsn);
  *key = Key::Decode(raw.first<kKeySize>());
  *lsn = summary->lsn_range.start;
}

// The readers' rule: a blob lies inside [8192, value_region_end) and holds at
// least its header.
Status LayerIterator::State::CheckRef(const Key& key, const BlobRef& ref) const {
  if (ref.offset >= kLayerBlockSize && ref.length >= kBlobHeaderSize &&
      ref.end() <= summary->value_region_end) {
    return Status::Ok();
  }
  return Status::Corruption(
      file->path() + ": index entry of key " + key.ToHex() + " points at blob " + BlobText(ref) +
      " outside the value region [8192, " + std::to_string(summary->value_region_end) + ")");
}

// Walks from the resume point until the gathered blobs reach the read-ahead
// (at least one entry), the key range or the index ends, or an error.
Status LayerIterator::State::GatherFrom(DiskBtreeCursor& cursor, Gathered& out) {
  uint64_t bytes = 0;
  while (cursor.valid()) {
    PendingEntry e;
    DecodeIndexKey(cursor.key(), &e.key, &e.lsn);
    if (e.key >= keys.end) break;
    e.ref = BlobRef::Unpack(cursor.value());
    RETURN_IF_ERROR(CheckRef(e.key, e.ref));
    out.entries.push_back(e);
    resume_key.assign(cursor.key().begin(), cursor.key().end());
    bytes += e.ref.length;
    if (bytes >= read_ahead_bytes) return Status::Ok();
    RETURN_IF_ERROR(cursor.Next());
  }
  out.index_done = true;
  return cursor.status();
}

Gathered LayerIterator::State::Gather() {
  Gathered out;
  DiskBtreeCursor cursor = index->NewCursor();
  Status s = Position(cursor);
  if (s.ok()) s = GatherFrom(cursor, out);
  out.error = std::move(s);
  return out;
}

Result<LayerEntry> LayerIterator::State::ToEntry(const PendingEntry& pending,
                                                 DecodedBlob blob) const {
  if (kind == LayerKind::kDelta && blob.will_init != pending.ref.will_init) {
    return Status::Corruption(file->path() + ": blob " + BlobText(pending.ref) + " of key " +
                              pending.key.ToHex() + " disagrees with its index entry on will_init");
  }
  const bool will_init = kind == LayerKind::kImage || pending.ref.will_init;
  return LayerEntry{pending.key, pending.lsn, will_init, std::move(blob.value)};
}

// One planned batch for the gathered blobs; decodes in order and stops at the
// first failure, which is returned (the entries before it are kept).
Status LayerIterator::State::ReadAndDecode(const std::vector<PendingEntry>& pending) {
  if (pending.empty()) return Status::Ok();
  std::vector<BlobRef> refs;
  refs.reserve(pending.size());
  for (const PendingEntry& e : pending) refs.push_back(e.ref);
  VectoredReadBatch batch;
  const size_t plan = batch.Add(file, VectoredReadPlan::Build(refs, planner));
  batch.Execute();
  for (size_t i = 0; i < pending.size(); ++i) {
    ASSIGN_OR_RETURN(DecodedBlob blob, batch.Decode(plan, i));
    ASSIGN_OR_RETURN(LayerEntry entry, ToEntry(pending[i], std::move(blob)));
    entries.push_back(std::move(entry));
  }
  return Status::Ok();
}

LayerIterator::LayerIterator(std::unique_ptr<State> state) : state_(std::move(state)) {}

LayerIterator::~LayerIterator() = default;

Result<std::unique_ptr<LayerIterator>> LayerIterator::Create(const ImageLayerReader& reader,
                                                             const KeyRange& keys,
                                                             size_t read_ahead_bytes) {
  std::unique_ptr<LayerIterator> it(new LayerIterator(
      std::make_unique<State>(reader, LayerKind::kImage, keys, read_ahead_bytes)));
  RETURN_IF_ERROR(it->Refill());
  return it;
}

Result<std::unique_ptr<LayerIterator>> LayerIterator::Create(const DeltaLayerReader& reader,
                                                             const KeyRange& keys,
                                                             size_t read_ahead_bytes) {
  std::unique_ptr<LayerIterator> it(new LayerIterator(
      std::make_unique<State>(reader, LayerKind::kDelta, keys, read_ahead_bytes)));
  RETURN_IF_ERROR(it->Refill());
  return it;
}

bool LayerIterator::valid() const { return state_->pos < state_->entries.size(); }

const LayerEntry& LayerIterator::entry() const { return state_->entries[state_->pos]; }

Status LayerIterator::status() const { return state_->status; }

Status LayerIterator::Next() {
  State& s = *state_;
  if (++s.pos < s.entries.size()) return Status::Ok();
  return Refill();
}

// Replaces the used-up entries by the next read-ahead's worth. An error met
// after some entries is deferred until they have been handed out.
Status LayerIterator::Refill() {
  State& s = *state_;
  s.entries.clear();
  s.pos = 0;
  if (!s.deferred.ok()) s.status = std::exchange(s.deferred, Status::Ok());
  if (!s.status.ok() || s.index_done) return s.status;
  Gathered gathered = s.Gather();
  s.index_done = gathered.index_done;
  s.deferred = std::move(gathered.error);
  Status decoded = s.ReadAndDecode(gathered.entries);
  if (!decoded.ok()) s.deferred = std::move(decoded);  // it precedes the walk's error
  if (s.entries.empty() && !s.deferred.ok()) s.status = std::exchange(s.deferred, Status::Ok());
  return s.status;
}

}  // namespace pageserver::layers
