#pragma once

// Key ranges and keyspaces: the sets of keys the read path asks for and the
// layer map covers.
//
// KeyRange is half-open [start, end). A KeySpace is a sorted list of
// disjoint, non-adjacent, non-empty ranges (adjacent ranges are merged on
// insertion), so equality of keyspaces is equality of their range lists.
//
//   KeySpace ks;
//   ks.Add({a, c});  ks.Add({b, d});   // a < b < c < d  ->  {[a, d)}
//   ks.Remove({b, c});                 // -> {[a, b), [c, d)}
//
// Thread-safety: plain values.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "layers/key.h"

namespace pageserver::layers {

struct KeyRange {
  Key start;
  Key end;

  static KeyRange Single(const Key& key) { return {key, key.Next()}; }
  static KeyRange All() { return {Key::Min(), Key::Max()}; }

  bool empty() const { return start >= end; }
  bool Contains(const Key& key) const { return start <= key && key < end; }
  bool Contains(const KeyRange& o) const { return o.empty() || (start <= o.start && o.end <= end); }
  // True when some key is in both; an empty range overlaps nothing.
  bool Overlaps(const KeyRange& o) const {
    return !empty() && !o.empty() && start < o.end && o.start < end;
  }
  // The overlap, empty (start == end) when there is none.
  KeyRange Intersect(const KeyRange& o) const;
  // Number of keys, as Neon's key_range_size: 0 when empty; exact when start
  // and end agree in field1..field4 (one relation: field5:field6 read as one
  // 40-bit number, so a whole fork [RelBlock(rel, 0), RelSize(rel).Next())
  // counts 2^32); otherwise UINT64_MAX, even if the true count is small.
  // Never less than the true count.
  uint64_t KeyCountApprox() const;
  auto operator<=>(const KeyRange&) const = default;
  std::string ToString() const;  // "<start hex>-<end hex>"
};

class KeySpace {
 public:
  KeySpace() = default;
  explicit KeySpace(KeyRange range) { Add(range); }
  static KeySpace FromRanges(std::span<const KeyRange> ranges);  // any order, overlaps allowed

  // Inserts a range, merging with overlapping or adjacent ranges. Empty ranges are ignored.
  void Add(const KeyRange& range);
  void Add(const KeySpace& other);
  // Removes every key of `range`, splitting ranges as needed.
  void Remove(const KeyRange& range);
  void Remove(const KeySpace& other);

  // Queries cost O(log ranges) (+ output for Intersect); Add/Remove are
  // O(log ranges + ranges moved); Intersect(KeySpace) is a linear merge.
  KeySpace Intersect(const KeyRange& range) const;
  KeySpace Intersect(const KeySpace& other) const;
  bool Contains(const Key& key) const;         // false for Key::Max(), which no range holds
  bool Contains(const KeyRange& range) const;  // every key of range is in the set
  bool Overlaps(const KeyRange& range) const;  // false for an empty range

  bool empty() const { return ranges_.empty(); }
  const std::vector<KeyRange>& ranges() const { return ranges_; }
  // [first start, last end). REQUIRES: !empty().
  KeyRange Bounds() const;
  // Saturating sum of the ranges' KeyCountApprox(). Cost: O(ranges).
  uint64_t KeyCountApprox() const;
  bool operator==(const KeySpace&) const = default;
  std::string ToString() const;  // "[<range>, <range>]", "[]" when empty

 private:
  std::vector<KeyRange> ranges_;
};

}  // namespace pageserver::layers
