#include "tools/pagebench/workload.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <string>

namespace pageserver::pagebench {

BlockSpace::BlockSpace(std::vector<RelationSize> relations) {
  for (RelationSize& r : relations) {
    if (r.nblocks == 0) continue;
    starts_.push_back(total_);
    total_ += r.nblocks;
    relations_.push_back(r);
  }
}

size_t BlockSpace::RelationIndexOf(uint64_t index) const {
  // The last relation starting at or before `index`.
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), index);
  return static_cast<size_t>(std::distance(starts_.begin(), it)) - 1;
}

PageKey BlockSpace::At(uint64_t index) const {
  const size_t i = RelationIndexOf(index);
  return PageKey{relations_[i].rel, static_cast<uint32_t>(index - starts_[i])};
}

BlockSpace BlockSpace::Prefix(uint64_t n) const {
  std::vector<RelationSize> kept;
  for (const RelationSize& r : relations_) {
    if (n == 0) break;
    const uint64_t take = std::min<uint64_t>(n, r.nblocks);
    kept.push_back(RelationSize{r.rel, static_cast<uint32_t>(take)});
    n -= take;
  }
  return BlockSpace(std::move(kept));
}

common::Result<uint64_t> ParseByteSize(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    int shift;
  };
  constexpr Unit kUnits[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
  int shift = 0;
  std::string_view digits = text;
  for (const Unit& u : kUnits) {
    if (digits.size() > u.suffix.size() && digits.ends_with(u.suffix)) {
      digits.remove_suffix(u.suffix.size());
      shift = u.shift;
      break;
    }
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      (shift > 0 && value > (UINT64_MAX >> shift))) {
    return common::Status::InvalidArgument("byte size '" + std::string(text) +
                                           "': expected an integer with an optional suffix "
                                           "KiB, MiB or GiB, e.g. 512MiB");
  }
  return value << shift;
}

KeyGenerator::KeyGenerator(const BlockSpace& space, uint32_t run_length, uint64_t seed)
    : space_(space),
      run_length_(std::max<uint32_t>(1, run_length)),
      rng_(seed),
      index_(0, space.total_blocks() - 1) {}

KeyGenerator::KeyGenerator(const BlockSpace& space, std::atomic<uint64_t>* cursor)
    : space_(space), scan_cursor_(cursor), run_length_(1), rng_(0) {}

Burst KeyGenerator::Next() {
  if (scan_cursor_ != nullptr) {
    const uint64_t index = scan_cursor_->fetch_add(1, std::memory_order_relaxed);
    if (index >= space_.total_blocks()) return Burst{};
    const PageKey key = space_.At(index);
    return Burst{key.rel, key.blkno, 1, index};
  }
  const uint64_t index = index_(rng_);
  const size_t rel = space_.RelationIndexOf(index);
  const PageKey key = space_.At(index);
  const uint32_t nblocks = space_.relations()[rel].nblocks;
  const uint32_t length = std::min(run_length_, nblocks);
  const uint32_t first = std::min(key.blkno, nblocks - length);
  return Burst{key.rel, first, length, index - (key.blkno - first)};
}

}  // namespace pageserver::pagebench
