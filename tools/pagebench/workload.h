#pragma once

// The keys pagebench asks for: the blocks of a timeline's relations,
// flattened into one index space, and a seeded generator of request bursts
// over them.
//
//   BlockSpace space({{rel_a, 3}, {rel_b, 2}});   // index 0..2 -> rel_a, 3..4 -> rel_b
//   space.At(3) == PageKey{rel_b, 0}
//   KeyGenerator uniform(space, /*run_length=*/1, seed);  // bursts of 1, uniform over 5 blocks
//   KeyGenerator runs(space, /*run_length=*/8, seed);     // min(8, nblocks) adjacent blocks
//
// Uniform: every block of every relation has the same probability, whatever
// its relation's size. Sequential runs of length K: a block is drawn
// uniformly as above; the burst is the min(K, nblocks) adjacent blocks of
// its relation starting there, shifted down so it ends inside the
// relation (first = min(blk, nblocks - len)). Blocks near a relation's end
// are therefore somewhat more often the start of a run; every block is
// still covered.
//
// Thread-safety: BlockSpace is immutable after construction and may be
// shared; a KeyGenerator belongs to one thread.

#include <cstdint>
#include <random>
#include <vector>

#include "layers/key.h"

namespace pageserver::pagebench {

// One relation fork and its size in blocks.
struct RelationSize {
  layers::RelTag rel;
  uint32_t nblocks = 0;
  bool operator==(const RelationSize&) const = default;
};

struct PageKey {
  layers::RelTag rel;
  uint32_t blkno = 0;
  bool operator==(const PageKey&) const = default;
};

// `length` adjacent blocks of `rel` from `first`.
struct Burst {
  layers::RelTag rel;
  uint32_t first = 0;
  uint32_t length = 0;
  PageKey At(uint32_t i) const { return PageKey{rel, first + i}; }
};

class BlockSpace {
 public:
  // Relations of 0 blocks are left out (there is nothing to read).
  explicit BlockSpace(std::vector<RelationSize> relations);

  uint64_t total_blocks() const { return total_; }
  const std::vector<RelationSize>& relations() const { return relations_; }
  // The block at flat `index` and the index of its relation in relations().
  // REQUIRES: index < total_blocks().
  PageKey At(uint64_t index) const;
  size_t RelationIndexOf(uint64_t index) const;

 private:
  std::vector<RelationSize> relations_;
  std::vector<uint64_t> starts_;  // starts_[i]: flat index of relations_[i] block 0
  uint64_t total_ = 0;
};

class KeyGenerator {
 public:
  // run_length 1: uniform single blocks; K > 1: sequential runs of K.
  // REQUIRES: space.total_blocks() > 0, run_length >= 1, `space` outlives this.
  KeyGenerator(const BlockSpace& space, uint32_t run_length, uint64_t seed);

  Burst Next();

 private:
  const BlockSpace& space_;
  uint32_t run_length_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<uint64_t> index_;
};

}  // namespace pageserver::pagebench
