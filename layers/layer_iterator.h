#pragma once

// LayerIterator: every (key, LSN, value) of a layer in (key, LSN) order, for
// compaction's k-way merge and for `pagectl`/verification.
//
// Bounded read-ahead: the iterator walks the index with a cursor, gathers
// the next entries until their blobs add up to `read_ahead_bytes` (at least
// one entry), reads them with one planned vectored batch, and hands them out
// one by one. Memory is about read_ahead_bytes plus one blob (the entry that
// crosses the limit) plus the read buffers, whatever the layer's size; no
// index pin is held between refills.
//
//   ASSIGN_OR_RETURN(auto it, LayerIterator::Create(*reader, KeyRange::All()));
//   for (; it->valid(); RETURN_IF_ERROR(it->Next())) Use(it->entry());
//   RETURN_IF_ERROR(it->status());
//
// For image layers every entry's LSN is the layer's LSN and will_init is true.
//
// Thread-safety: one thread at a time. The reader must outlive the iterator.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "layers/keyspace.h"

namespace pageserver::layers {

inline constexpr size_t kDefaultReadAheadBytes = 1 << 20;  // 1 MiB

struct LayerEntry {
  Key key;
  Lsn lsn;
  bool will_init = false;
  std::vector<std::byte> value;
};

class LayerIterator {
 public:
  // Positioned at the first entry with key in `keys` (invalid when none).
  // An error met before the first entry (index, BlobRef or blob) is returned
  // here; a later one ends the iteration after the entries before it.
  // A read_ahead_bytes of 0 counts as 1 (one entry per refill).
  static common::Result<std::unique_ptr<LayerIterator>> Create(
      const ImageLayerReader& reader, const KeyRange& keys,
      size_t read_ahead_bytes = kDefaultReadAheadBytes);
  static common::Result<std::unique_ptr<LayerIterator>> Create(
      const DeltaLayerReader& reader, const KeyRange& keys,
      size_t read_ahead_bytes = kDefaultReadAheadBytes);
  ~LayerIterator();

  bool valid() const;
  const LayerEntry& entry() const;  // REQUIRES: valid()
  // Moves to the next entry; an error makes the iterator invalid and is kept in status().
  common::Status Next();
  common::Status status() const;

 private:
  struct State;
  explicit LayerIterator(std::unique_ptr<State> state);
  common::Status Refill();
  std::unique_ptr<State> state_;
};

}  // namespace pageserver::layers
