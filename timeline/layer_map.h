#pragma once

// LayerMap: an immutable snapshot of a timeline's on-disk (historic) layers
// and the searches the read path needs (Neon's LayerMap::search,
// range_search, image_coverage and count_deltas).
//
// Snapshots and updates
// ---------------------
// A LayerMap never changes after Builder::Build() returns it. An update
// (a flush adds an L0 delta, compaction replaces L0s by L1s, image creation
// adds images, GC removes layers) copies the current layers into a Builder,
// edits them and builds a new map; the timeline then publishes the new
// std::shared_ptr<const LayerMap> atomically (std::atomic<std::shared_ptr>
// or a mutex around the pointer). A reader loads the pointer once and keeps
// that snapshot for its whole read: it sees one consistent set of layers, and
// every layer in it stays alive (the map holds shared_ptr handles) until the
// last reader drops the snapshot, even after a newer map removed the layer.
//
// In-memory layers (the open layer and the frozen ones) are not in the map:
// they hold the newest WAL, above every historic layer, and the timeline
// searches them itself before it asks the map, with end_lsn lowered to the
// oldest in-memory layer's start LSN.
//
// Layer handles: a deliberate non-template design
// -----------------------------------------------
// The map stores std::shared_ptr<const LayerHandle>: a LayerDesc (what the
// search needs: name, size, L0 flag) plus an opaque std::shared_ptr<void>
// payload that belongs to the timeline (its layer object: a resident
// reader, download state, ...). A template over the handle type would put
// the whole search in this header and recompile it in every user; with
// type erasure it lives in layer_map.cc, is compiled once and is tested with
// plain descriptors and no layer files. The cost is one static_pointer_cast
// in the timeline, which is the only code that creates payloads and so knows
// their one type. The map never touches a payload.
//
// Search rules (exactly Neon's LayerMap::search / select_layer)
// ------------------------------------------------------------
// All searches take an exclusive upper bound `end_lsn`: a read of a key "as
// of LSN X" starts with end_lsn = X + 1 and looks for records at LSNs < end_lsn.
// Search(key, end_lsn) considers the layers L with
//     L.key_range.Contains(key)  and  L.lsn_range.start < end_lsn
// (an image at LSN i has lsn_range [i, i + 1), so: i < end_lsn). Among them:
//   D = the newest delta: largest lsn_range.end; on a tie the smaller
//       lsn_range.start, then the smaller key start, then the larger key end
//       (Neon's insertion order into its coverage tree). L0 and L1 deltas
//       compete under the same rule. lsn_range.end is NOT clipped to end_lsn.
//   I = the newest image: largest LSN; on a tie the smaller key start, then
//       the larger key end.
// Result:
//   neither                       -> nullopt (the caller goes to the ancestor)
//   only I                        -> {I, lsn_floor = i}
//   only D                        -> {D, lsn_floor = D.start}
//   both, and i + 1 >= D.end      -> {I, i}      the image is at or above D's
//                                                 last LSN (D.end - 1)
//   both, and i + 1 == end_lsn    -> {I, i}      the image is exactly at the
//                                                 read point, even if D extends
//                                                 above it
//   both, otherwise               -> {D, max(D.start, i + 1)}
//                                                 read D only above the image
// Equivalently: the image wins iff i >= min(D.end, end_lsn) - 1 (D.end
// clipped to end_lsn). The caller reads the layer's records for the key at
// LSNs [lsn_floor, end_lsn); if the key's history is not complete (no image
// value and no will_init record), it calls Search(key, lsn_floor) next.
// Invariant: lsn_floor < end_lsn, so this walk strictly descends and ends.
//
// Worked examples (one key, LSNs in decimal, "D[10,20)" a delta, "I@19" an
// image):
//   D[10,20) I@19,  end 25 -> I@19, floor 19    (19 + 1 >= 20: image at D's end - 1)
//   D[10,20) I@25,  end 30 -> I@25, floor 25    (image above the delta)
//   D[10,20) I@15,  end 25 -> D, floor 16       (delta above the image)
//                  then end 16 -> I@15, floor 15 (exact match: 15 + 1 == 16)
//   D[10,30) I@19,  end 20 -> I@19, floor 19    (exact match beats the taller delta)
//   D[5,10)  I@5,   end 10 -> D, floor 6        (D's records at LSN 5 are in the image)
//   D[20,30) I@5,   end 40 -> D, floor 20;  then end 20 -> I@5, floor 5
//   L1 D[10,20) under L0 D[20,30), end 35 -> L0, floor 20; then end 20 -> L1, floor 10
//   D[10,30) and D[20,25), end 40 -> D[10,30), floor 10 (largest end; D[20,25) never read)
//   D[10,30) and D[20,30), end 40 -> D[10,30) (tie on end: smaller start)
//
// Complexity
// ----------
// n = layers, s = distinct key-range boundaries (s <= 2n). Build() sorts and
// indexes in O(n log n) time; the index stores each layer in at most
// 2 log2(s) nodes of a segment tree over the key segments between
// boundaries, O(n log s) memory. Each node keeps its deltas and its images
// sorted by lsn_range.start with a running "newest so far", so Search visits
// the log2(s) + 1 nodes on one root-to-leaf path and binary-searches each:
// O(log s * log n) worst case, independent of how many layers are newer
// than end_lsn or how deep a key's history is. An L0 delta covering the
// whole keyspace sits in the root node only. In practice (L1 deltas and
// images tiling the keyspace, a few hundred to a few thousand layers) a
// search is ~12 nodes and a few dozen comparisons.
// RangeSearch, ImageCoverage and CountDeltasAbove split the range at every
// layer boundary inside it (b of them) and answer per piece: O((b + 1) *
// log s * log n); CountDeltasAbove adds the deltas it counts.
//
// Thread-safety: a built LayerMap is immutable; any number of threads may
// call its const methods concurrently with no locking. A Builder is a plain
// value: not safe for concurrent use.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/status.h"
#include "layers/keyspace.h"
#include "layers/layer_name.h"
#include "layers/lsn.h"

namespace pageserver::timeline {

// What the map knows about a layer.
struct LayerDesc {
  layers::LayerName name;  // kind, key range, LSN range
  uint64_t file_size = 0;  // bytes; informational (eviction, metrics), not searched
  // An L0 delta: flushed straight from an in-memory layer, normally covering
  // the whole keyspace. L0s are also listed by LayerMap::L0Deltas() for
  // compaction; the search treats them as any other delta of their key range.
  bool is_l0 = false;

  bool is_delta() const { return name.kind == layers::LayerKind::kDelta; }
  bool is_image() const { return name.kind == layers::LayerKind::kImage; }
  const layers::KeyRange& key_range() const { return name.key_range; }
  const layers::LsnRange& lsn_range() const { return name.lsn_range; }
  // An image's LSN. REQUIRES: is_image().
  layers::Lsn image_lsn() const { return name.lsn_range.start; }
};

// One layer as the map holds it. Immutable once shared; the payload object
// itself may have internal state the timeline synchronizes (e.g. a lazily
// opened reader behind its own mutex).
struct LayerHandle {
  LayerDesc desc;
  // The timeline's layer object, or null (tests). Opaque to the map.
  std::shared_ptr<void> payload;

  // The payload as the type the timeline stored. REQUIRES: payload was
  // created as a T (no check is made).
  template <typename T>
  std::shared_ptr<T> PayloadAs() const {
    return std::static_pointer_cast<T>(payload);
  }
};

using LayerHandlePtr = std::shared_ptr<const LayerHandle>;

// A layer to read and the lowest LSN to read from it: records at LSNs in
// [lsn_floor, end_lsn) of the search that returned it.
struct SearchResult {
  LayerHandlePtr layer;  // never null
  layers::Lsn lsn_floor;
  // Same layer object (pointer identity) and same floor.
  bool operator==(const SearchResult&) const = default;
};

// One piece of a RangeSearch answer: every key of `range` has the same
// Search result (nullopt: no historic layer has the keys below end_lsn).
struct RangeSearchEntry {
  layers::KeyRange range;
  std::optional<SearchResult> result;
  bool operator==(const RangeSearchEntry&) const = default;
};

// One piece of an ImageCoverage answer: the newest image below end_lsn that
// covers every key of `range`, or null when none does.
struct ImageCoverageEntry {
  layers::KeyRange range;
  LayerHandlePtr image;
  bool operator==(const ImageCoverageEntry&) const = default;
};

class LayerMap {
 public:
  class Builder;

  // An empty map: every search finds nothing.
  LayerMap() = default;
  LayerMap(const LayerMap&) = delete;
  LayerMap& operator=(const LayerMap&) = delete;

  // The layer to read next for `key` below `end_lsn`, by the rules in the
  // file comment; nullopt when no layer qualifies. The returned handle is a
  // shared_ptr copy: it stays valid after the map is dropped.
  // Example: map {D[10,20), I@15} over key k: Search(k, Lsn{25}) ==
  // {D, Lsn{16}}; Search(k, Lsn{16}) == {I@15, Lsn{15}}; Search(k, Lsn{15})
  // == {D, Lsn{10}}; Search(k, Lsn{10}) == nullopt.
  std::optional<SearchResult> Search(const layers::Key& key, layers::Lsn end_lsn) const;

  // Search for every key of `range` at once, for a vectored read that plans
  // per layer: pieces in key order, covering `range` exactly (first start ==
  // range.start, each end == the next start, last end == range.end), each
  // piece's result equal to Search(k, end_lsn) for every key k in it.
  // Adjacent pieces always differ (equal neighbours are merged), so the
  // answer is the coarsest such split. An empty `range` gives no pieces.
  std::vector<RangeSearchEntry> RangeSearch(const layers::KeyRange& range,
                                            layers::Lsn end_lsn) const;

  // The newest image below `end_lsn` (image LSN < end_lsn) for every key of
  // `range`, as pieces covering `range` exactly, adjacent pieces differing.
  // To ask "an image at or below LSN X", pass Lsn{X + 1}.
  std::vector<ImageCoverageEntry> ImageCoverage(const layers::KeyRange& range,
                                                layers::Lsn end_lsn) const;

  // Delta depth above the newest image, for deciding when to create images:
  // the largest, over keys k of `range`, of the number of deltas (L0 and L1)
  // containing k that hold some LSN in (i_k, end_lsn), where i_k is the
  // newest image LSN below end_lsn covering k (with no such image: every
  // delta containing k with start < end_lsn). A delta D counts for k iff
  // D.start < end_lsn and D.end > i_k + 1. 0 for an empty range.
  // Example: I@5 over [a, b), deltas D[3,6), D[6,9), D[9,12) over [a, b):
  // CountDeltasAbove([a, b), Lsn{20}) == 2 (D[3,6) ends at the image).
  size_t CountDeltasAbove(const layers::KeyRange& range, layers::Lsn end_lsn) const;

  // L0 deltas, newest first (the search order: largest lsn_range.end).
  const std::vector<LayerHandlePtr>& L0Deltas() const { return l0_deltas_; }
  // Every layer, in LayerName order (kind, key range, LSN range).
  const std::vector<LayerHandlePtr>& AllLayers() const { return layers_; }
  // The layer with this exact name, or null. O(log n).
  LayerHandlePtr Find(const layers::LayerName& name) const;
  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }

 private:
  // One kind's layers (deltas or images) in a segment tree over the key
  // segments [boundaries_[j], boundaries_[j + 1]). Node v (1-based heap
  // order, leaves at [leaf_count_, 2 * leaf_count_)) owns entries
  // [node_begin[v], node_begin[v + 1]): the layers whose canonical cover
  // includes v, sorted by lsn_start.
  struct Entry {
    uint64_t lsn_start;  // of `layer`
    uint32_t layer;      // index into layers_
    uint32_t newest;     // newest (search order) layer among entries up to this one
  };
  struct KindIndex {
    std::vector<uint32_t> node_begin;
    std::vector<Entry> entries;
  };

  void BuildIndex();
  KindIndex BuildKindIndex(layers::LayerKind kind) const;
  // The elementary segment holding `key`, or nullopt outside every layer.
  std::optional<size_t> SegmentOf(const layers::Key& key) const;
  // Index of the newest layer of `index` covering `segment` with
  // lsn_range.start < end_lsn, or nullopt.
  std::optional<uint32_t> Newest(const KindIndex& index, size_t segment, layers::Lsn end_lsn) const;
  std::optional<SearchResult> SearchSegment(std::optional<size_t> segment,
                                            layers::Lsn end_lsn) const;
  size_t DeltaDepth(size_t segment, layers::Lsn end_lsn) const;
  // Calls fn(piece, segment) for the pieces of `range` cut at boundaries_.
  template <typename Fn>
  void ForEachPiece(const layers::KeyRange& range, Fn&& fn) const;

  std::vector<LayerHandlePtr> layers_;     // LayerName order
  std::vector<LayerHandlePtr> l0_deltas_;  // newest first
  std::vector<layers::Key> boundaries_;    // sorted distinct key-range starts and ends
  size_t leaf_count_ = 1;                  // power of two >= number of segments
  KindIndex deltas_;
  KindIndex images_;
};

// Collects layers for a new snapshot. Typical update:
//   LayerMap::Builder b(*timeline_map.load());
//   RETURN_IF_ERROR(b.Insert(new_l1));  RETURN_IF_ERROR(b.Remove(old_l0_name));
//   timeline_map.store(b.Build());
// Thread-safety: a plain value; the source map may be shared.
class LayerMap::Builder {
 public:
  Builder() = default;
  // Starts from `base`'s layers (shares their handles; `base` is unchanged).
  explicit Builder(const LayerMap& base);

  // Adds a layer. InvalidArgument for a null handle, an empty key or LSN
  // range, an image whose LSN range is not [i, i + 1), or an L0 image;
  // AlreadyExists when a layer of the same name is present. Nothing changes
  // on error.
  common::Status Insert(LayerHandlePtr layer);
  // Removes the layer of that name; NotFound when there is none.
  common::Status Remove(const layers::LayerName& name);
  bool Contains(const layers::LayerName& name) const { return layers_.contains(name); }
  size_t size() const { return layers_.size(); }

  // A new immutable map of the current layers; the builder stays usable and
  // later edits do not affect the returned map. O(n log n).
  // REQUIRES: size() < 2^32.
  std::shared_ptr<const LayerMap> Build() const;

 private:
  std::map<layers::LayerName, LayerHandlePtr> layers_;
};

}  // namespace pageserver::timeline
