#include "tools/pagebench/workload.h"

#include <algorithm>
#include <iterator>

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

KeyGenerator::KeyGenerator(const BlockSpace& space, uint32_t run_length, uint64_t seed)
    : space_(space),
      run_length_(std::max<uint32_t>(1, run_length)),
      rng_(seed),
      index_(0, space.total_blocks() - 1) {}

Burst KeyGenerator::Next() {
  const uint64_t index = index_(rng_);
  const size_t rel = space_.RelationIndexOf(index);
  const PageKey key = space_.At(index);
  const uint32_t nblocks = space_.relations()[rel].nblocks;
  const uint32_t length = std::min(run_length_, nblocks);
  return Burst{key.rel, std::min(key.blkno, nblocks - length), length};
}

}  // namespace pageserver::pagebench
