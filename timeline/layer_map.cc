#include "timeline/layer_map.h"

#include <algorithm>
#include <bit>
#include <numeric>
#include <span>
#include <string>
#include <utility>

namespace pageserver::timeline {
namespace {

using common::Status;
using layers::Key;
using layers::KeyRange;
using layers::LayerKind;
using layers::LayerName;
using layers::Lsn;
using layers::LsnRange;

// Neon keeps, per key, the layer with the largest lsn_range.end and lets the
// first one inserted win ties; it inserts in (lsn.start asc, lsn.end desc,
// key.start asc, key.end desc) order. This is that priority as a strict
// order. It is total for distinct names of one kind (kind, key range and LSN
// range are all compared).
bool IsNewer(const LayerDesc& a, const LayerDesc& b) {
  const LsnRange& al = a.lsn_range();
  const LsnRange& bl = b.lsn_range();
  if (al.end != bl.end) return al.end > bl.end;
  if (al.start != bl.start) return al.start < bl.start;
  const KeyRange& ak = a.key_range();
  const KeyRange& bk = b.key_range();
  if (ak.start != bk.start) return ak.start < bk.start;
  return ak.end > bk.end;
}

// Neon's select_layer; see the rules in layer_map.h. A null pointer means
// "no candidate of this kind".
std::optional<SearchResult> SelectLayer(const LayerHandlePtr* delta, const LayerHandlePtr* image,
                                        Lsn end_lsn) {
  if (delta == nullptr && image == nullptr) return std::nullopt;
  if (delta == nullptr) return SearchResult{*image, (*image)->desc.image_lsn()};
  const LsnRange& d = (*delta)->desc.lsn_range();
  if (image == nullptr) return SearchResult{*delta, d.start};
  // Validated at insertion: an image's LSN is below Lsn::Max(), so + 1 cannot wrap.
  const uint64_t next_after_image = (*image)->desc.image_lsn().value + 1;
  if (next_after_image >= d.end.value || next_after_image == end_lsn.value) {
    return SearchResult{*image, (*image)->desc.image_lsn()};
  }
  return SearchResult{*delta, std::max(d.start, Lsn{next_after_image})};
}

Status ValidateDesc(const LayerDesc& desc) {
  auto invalid = [&](std::string_view why) {
    return Status::InvalidArgument("layer map: " + std::string(why) + ": " + desc.name.ToString());
  };
  if (desc.key_range().empty()) return invalid("empty key range");
  if (desc.lsn_range().empty()) return invalid("empty LSN range");
  if (desc.is_image() && desc.lsn_range().end.value != desc.lsn_range().start.value + 1) {
    return invalid("image LSN range is not [lsn, lsn + 1)");
  }
  if (desc.is_image() && desc.is_l0) return invalid("an image layer cannot be L0");
  return Status::Ok();
}

// Calls fn(node) for the canonical cover of leaves [lo, hi) in a heap-ordered
// segment tree with `leaf_count` leaves: at most 2 log2(leaf_count) nodes,
// pairwise disjoint, so every root-to-leaf path meets at most one of them.
template <typename Fn>
void ForEachCoverNode(size_t leaf_count, size_t lo, size_t hi, Fn&& fn) {
  for (lo += leaf_count, hi += leaf_count; lo < hi; lo >>= 1, hi >>= 1) {
    if (lo & 1) fn(lo++);
    if (hi & 1) fn(--hi);
  }
}

// Appends `value` for `piece`, extending the last entry instead when it holds
// an equal value (pieces arrive in key order, each starting where the last ended).
template <typename Entry, typename Value>
void AppendMerged(std::vector<Entry>& out, Value Entry::*field, const KeyRange& piece,
                  Value value) {
  if (!out.empty() && out.back().*field == value) {
    out.back().range.end = piece.end;
    return;
  }
  Entry entry;
  entry.range = piece;
  entry.*field = std::move(value);
  out.push_back(std::move(entry));
}

}  // namespace

// ---------------------------------------------------------------- building

void LayerMap::BuildIndex() {
  for (const LayerHandlePtr& layer : layers_) {
    if (layer->desc.is_l0) l0_deltas_.push_back(layer);
    boundaries_.push_back(layer->desc.key_range().start);
    boundaries_.push_back(layer->desc.key_range().end);
  }
  std::sort(
      l0_deltas_.begin(), l0_deltas_.end(),
      [](const LayerHandlePtr& a, const LayerHandlePtr& b) { return IsNewer(a->desc, b->desc); });
  std::sort(boundaries_.begin(), boundaries_.end());
  boundaries_.erase(std::unique(boundaries_.begin(), boundaries_.end()), boundaries_.end());
  const size_t segments = boundaries_.size() > 1 ? boundaries_.size() - 1 : 1;
  leaf_count_ = std::bit_ceil(segments);
  deltas_ = BuildKindIndex(LayerKind::kDelta);
  images_ = BuildKindIndex(LayerKind::kImage);
}

LayerMap::KindIndex LayerMap::BuildKindIndex(LayerKind kind) const {
  auto boundary_index = [&](const Key& key) {
    return static_cast<size_t>(std::lower_bound(boundaries_.begin(), boundaries_.end(), key) -
                               boundaries_.begin());
  };
  // A layer reaching the last boundary also takes the padding leaves (never
  // searched), so a whole-keyspace L0 lands in the root alone.
  const size_t segments = boundaries_.empty() ? 0 : boundaries_.size() - 1;
  auto last_leaf = [&](const Key& end) {
    const size_t hi = boundary_index(end);
    return hi == segments ? leaf_count_ : hi;
  };
  auto for_each_placement = [&](auto&& fn) {
    for (uint32_t i = 0; i < layers_.size(); ++i) {
      const LayerDesc& desc = layers_[i]->desc;
      if (desc.name.kind != kind) continue;
      ForEachCoverNode(leaf_count_, boundary_index(desc.key_range().start),
                       last_leaf(desc.key_range().end), [&](size_t node) { fn(node, i); });
    }
  };

  // Two passes (count, then fill) give one flat array with per-node slices.
  KindIndex index;
  index.node_begin.assign(2 * leaf_count_ + 1, 0);
  for_each_placement([&](size_t node, uint32_t) { ++index.node_begin[node + 1]; });
  std::partial_sum(index.node_begin.begin(), index.node_begin.end(), index.node_begin.begin());
  std::vector<uint32_t> cursor(index.node_begin.begin(), index.node_begin.end() - 1);
  index.entries.resize(index.node_begin.back());
  for_each_placement([&](size_t node, uint32_t i) {
    index.entries[cursor[node]++] = Entry{layers_[i]->desc.lsn_range().start.value, i, i};
  });

  // Sort each node by start LSN and record the newest layer of every prefix:
  // the entries with start < end_lsn are a prefix, and its last `newest` is
  // the node's answer.
  for (size_t node = 1; node < 2 * leaf_count_; ++node) {
    std::span<Entry> slice(index.entries.data() + index.node_begin[node],
                           index.node_begin[node + 1] - index.node_begin[node]);
    std::sort(slice.begin(), slice.end(), [](const Entry& a, const Entry& b) {
      return std::pair(a.lsn_start, a.layer) < std::pair(b.lsn_start, b.layer);
    });
    for (size_t j = 1; j < slice.size(); ++j) {
      const uint32_t prev = slice[j - 1].newest;
      const uint32_t cur = slice[j].layer;
      slice[j].newest = IsNewer(layers_[cur]->desc, layers_[prev]->desc) ? cur : prev;
    }
  }
  return index;
}

LayerMap::Builder::Builder(const LayerMap& base) {
  for (const LayerHandlePtr& layer : base.layers_) layers_.emplace(layer->desc.name, layer);
}

Status LayerMap::Builder::Insert(LayerHandlePtr layer) {
  if (layer == nullptr) return Status::InvalidArgument("layer map: null layer handle");
  if (Status s = ValidateDesc(layer->desc); !s.ok()) return s;
  const auto [it, inserted] = layers_.emplace(layer->desc.name, layer);
  if (!inserted) {
    return Status::AlreadyExists("layer map: layer already present: " + it->first.ToString());
  }
  return Status::Ok();
}

Status LayerMap::Builder::Remove(const LayerName& name) {
  if (layers_.erase(name) == 0) {
    return Status::NotFound("layer map: no such layer: " + name.ToString());
  }
  return Status::Ok();
}

std::shared_ptr<const LayerMap> LayerMap::Builder::Build() const {
  auto map = std::make_shared<LayerMap>();
  map->layers_.reserve(layers_.size());
  for (const auto& [name, layer] : layers_) map->layers_.push_back(layer);
  map->BuildIndex();
  return map;
}

// ---------------------------------------------------------------- searching

std::optional<size_t> LayerMap::SegmentOf(const Key& key) const {
  const auto it = std::upper_bound(boundaries_.begin(), boundaries_.end(), key);
  if (it == boundaries_.begin() || it == boundaries_.end()) return std::nullopt;
  return static_cast<size_t>(it - boundaries_.begin()) - 1;
}

std::optional<uint32_t> LayerMap::Newest(const KindIndex& index, size_t segment,
                                         Lsn end_lsn) const {
  std::optional<uint32_t> best;
  for (size_t node = leaf_count_ + segment; node > 0; node >>= 1) {
    const auto first = index.entries.begin() + index.node_begin[node];
    const auto last = index.entries.begin() + index.node_begin[node + 1];
    const auto below = std::partition_point(
        first, last, [&](const Entry& e) { return e.lsn_start < end_lsn.value; });
    if (below == first) continue;
    const uint32_t candidate = std::prev(below)->newest;
    if (!best || IsNewer(layers_[candidate]->desc, layers_[*best]->desc)) best = candidate;
  }
  return best;
}

std::optional<SearchResult> LayerMap::SearchSegment(std::optional<size_t> segment,
                                                    Lsn end_lsn) const {
  if (!segment) return std::nullopt;
  const std::optional<uint32_t> delta = Newest(deltas_, *segment, end_lsn);
  const std::optional<uint32_t> image = Newest(images_, *segment, end_lsn);
  return SelectLayer(delta ? &layers_[*delta] : nullptr, image ? &layers_[*image] : nullptr,
                     end_lsn);
}

std::optional<SearchResult> LayerMap::Search(const Key& key, Lsn end_lsn) const {
  return SearchSegment(SegmentOf(key), end_lsn);
}

template <typename Fn>
void LayerMap::ForEachPiece(const KeyRange& range, Fn&& fn) const {
  if (range.empty()) return;
  // `next` is always the first boundary above the current piece's start, so
  // the piece lies in segment next - 1 (when that is a segment at all).
  auto next = std::upper_bound(boundaries_.begin(), boundaries_.end(), range.start);
  Key start = range.start;
  while (true) {
    const bool cut = next != boundaries_.end() && *next < range.end;
    const Key end = cut ? *next : range.end;
    std::optional<size_t> segment;
    if (next != boundaries_.begin() && next != boundaries_.end()) {
      segment = static_cast<size_t>(next - boundaries_.begin()) - 1;
    }
    fn(KeyRange{start, end}, segment);
    if (!cut) return;
    start = end;
    ++next;
  }
}

std::vector<RangeSearchEntry> LayerMap::RangeSearch(const KeyRange& range, Lsn end_lsn) const {
  std::vector<RangeSearchEntry> out;
  ForEachPiece(range, [&](const KeyRange& piece, std::optional<size_t> segment) {
    AppendMerged(out, &RangeSearchEntry::result, piece, SearchSegment(segment, end_lsn));
  });
  return out;
}

std::vector<ImageCoverageEntry> LayerMap::ImageCoverage(const KeyRange& range, Lsn end_lsn) const {
  std::vector<ImageCoverageEntry> out;
  ForEachPiece(range, [&](const KeyRange& piece, std::optional<size_t> segment) {
    std::optional<uint32_t> image;
    if (segment) image = Newest(images_, *segment, end_lsn);
    AppendMerged(out, &ImageCoverageEntry::image, piece,
                 image ? layers_[*image] : LayerHandlePtr());
  });
  return out;
}

size_t LayerMap::DeltaDepth(size_t segment, Lsn end_lsn) const {
  const std::optional<uint32_t> image = Newest(images_, segment, end_lsn);
  // A delta holds an LSN above image i iff its end > i + 1.
  const uint64_t min_end = image ? layers_[*image]->desc.image_lsn().value + 1 : 0;
  size_t depth = 0;
  for (size_t node = leaf_count_ + segment; node > 0; node >>= 1) {
    for (uint32_t j = deltas_.node_begin[node]; j < deltas_.node_begin[node + 1]; ++j) {
      const Entry& e = deltas_.entries[j];
      if (e.lsn_start >= end_lsn.value) break;  // sorted by start
      if (layers_[e.layer]->desc.lsn_range().end.value > min_end) ++depth;
    }
  }
  return depth;
}

size_t LayerMap::CountDeltasAbove(const KeyRange& range, Lsn end_lsn) const {
  size_t deepest = 0;
  ForEachPiece(range, [&](const KeyRange&, std::optional<size_t> segment) {
    if (segment) deepest = std::max(deepest, DeltaDepth(*segment, end_lsn));
  });
  return deepest;
}

LayerHandlePtr LayerMap::Find(const LayerName& name) const {
  const auto it = std::lower_bound(
      layers_.begin(), layers_.end(), name,
      [](const LayerHandlePtr& layer, const LayerName& n) { return layer->desc.name < n; });
  if (it == layers_.end() || (*it)->desc.name != name) return nullptr;
  return *it;
}

}  // namespace pageserver::timeline
