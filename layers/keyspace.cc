#include "layers/keyspace.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace pageserver::layers {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

// field5 and field6 as one 40-bit number, as Neon's key_range_size does.
uint64_t LowFields(const Key& k) { return (uint64_t{k.field5} << 32) | k.field6; }

bool SameHighFields(const Key& a, const Key& b) {
  return a.field1 == b.field1 && a.field2 == b.field2 && a.field3 == b.field3 &&
         a.field4 == b.field4;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > kSaturated - b ? kSaturated : a + b; }

}  // namespace

KeyRange KeyRange::Intersect(const KeyRange& o) const {
  const Key& lo = std::max(start, o.start);
  const Key& hi = std::min(end, o.end);
  if (lo >= hi) return {lo, lo};
  return {lo, hi};
}

uint64_t KeyRange::KeyCountApprox() const {
  if (empty()) return 0;
  if (!SameHighFields(start, end)) return kSaturated;
  return LowFields(end) - LowFields(start);
}

std::string KeyRange::ToString() const { return start.ToHex() + "-" + end.ToHex(); }

KeySpace KeySpace::FromRanges(std::span<const KeyRange> ranges) {
  std::vector<KeyRange> sorted(ranges.begin(), ranges.end());
  std::sort(sorted.begin(), sorted.end());
  KeySpace ks;
  // Sorted by start, every insertion lands at the back: linear overall.
  for (const KeyRange& r : sorted) ks.Add(r);
  return ks;
}

void KeySpace::Add(const KeyRange& range) {
  if (range.empty()) return;
  // First range that overlaps or touches `range` (its end reaches range.start).
  auto first = std::lower_bound(ranges_.begin(), ranges_.end(), range.start,
                                [](const KeyRange& r, const Key& k) { return r.end < k; });
  // One past the last range that overlaps or touches it (starts at or before range.end).
  auto last = std::upper_bound(first, ranges_.end(), range.end,
                               [](const Key& k, const KeyRange& r) { return k < r.start; });
  if (first == last) {
    ranges_.insert(first, range);
    return;
  }
  const KeyRange merged{std::min(first->start, range.start), std::max((last - 1)->end, range.end)};
  *first = merged;
  ranges_.erase(first + 1, last);
}

void KeySpace::Add(const KeySpace& other) {
  for (const KeyRange& r : other.ranges_) Add(r);
}

void KeySpace::Remove(const KeyRange& range) {
  if (range.empty()) return;
  // First range with a key at or after range.start; then those starting before range.end.
  auto first = std::upper_bound(ranges_.begin(), ranges_.end(), range.start,
                                [](const Key& k, const KeyRange& r) { return k < r.end; });
  auto last = std::lower_bound(first, ranges_.end(), range.end,
                               [](const KeyRange& r, const Key& k) { return r.start < k; });
  if (first == last) return;
  std::vector<KeyRange> leftovers;
  if (first->start < range.start) leftovers.push_back({first->start, range.start});
  if (range.end < (last - 1)->end) leftovers.push_back({range.end, (last - 1)->end});
  auto pos = ranges_.erase(first, last);
  ranges_.insert(pos, leftovers.begin(), leftovers.end());
}

void KeySpace::Remove(const KeySpace& other) {
  for (const KeyRange& r : other.ranges_) Remove(r);
}

KeySpace KeySpace::Intersect(const KeyRange& range) const {
  KeySpace out;
  if (range.empty()) return out;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), range.start,
                             [](const Key& k, const KeyRange& r) { return k < r.end; });
  for (; it != ranges_.end() && it->start < range.end; ++it) {
    out.ranges_.push_back(it->Intersect(range));
  }
  return out;
}

KeySpace KeySpace::Intersect(const KeySpace& other) const {
  // Two-pointer sweep; the pieces come out sorted, disjoint and (as pieces
  // of non-adjacent ranges of *this) non-adjacent.
  KeySpace out;
  auto a = ranges_.begin();
  auto b = other.ranges_.begin();
  while (a != ranges_.end() && b != other.ranges_.end()) {
    const KeyRange piece = a->Intersect(*b);
    if (!piece.empty()) out.ranges_.push_back(piece);
    if (a->end < b->end) {
      ++a;
    } else {
      ++b;
    }
  }
  return out;
}

bool KeySpace::Contains(const Key& key) const {
  // Not via KeyRange::Single: Max().Next() saturates, and Max is in no range.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), key,
                             [](const Key& k, const KeyRange& r) { return k < r.end; });
  return it != ranges_.end() && it->start <= key;
}

bool KeySpace::Contains(const KeyRange& range) const {
  if (range.empty()) return true;
  // Ranges are non-adjacent, so one stored range must hold all of `range`.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), range.start,
                             [](const Key& k, const KeyRange& r) { return k < r.end; });
  return it != ranges_.end() && it->Contains(range);
}

bool KeySpace::Overlaps(const KeyRange& range) const {
  if (range.empty()) return false;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), range.start,
                             [](const Key& k, const KeyRange& r) { return k < r.end; });
  return it != ranges_.end() && it->start < range.end;
}

KeyRange KeySpace::Bounds() const {
  assert(!ranges_.empty());
  return {ranges_.front().start, ranges_.back().end};
}

uint64_t KeySpace::KeyCountApprox() const {
  uint64_t total = 0;
  for (const KeyRange& r : ranges_) total = SaturatingAdd(total, r.KeyCountApprox());
  return total;
}

std::string KeySpace::ToString() const {
  std::string out = "[";
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (i > 0) out += ", ";
    out += ranges_[i].ToString();
  }
  return out + "]";
}

}  // namespace pageserver::layers
