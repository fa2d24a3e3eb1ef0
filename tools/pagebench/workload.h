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
// Working set: BlockSpace::Prefix(n) keeps the first n blocks in index
// order (relations in the order given, blocks ascending), so a generator
// over it, sequential runs included, never leaves those blocks:
//
//   space.Prefix(4).relations() == {{rel_a, 3}, {rel_b, 1}}
//   WorkingSetBlocks(*ParseByteSize("512MiB")) == 65536   // ceil(bytes / 8192)
//
// Scan: KeyGenerator(space, &cursor) hands out every block of the space
// exactly once in index order, one block per burst, from a cursor shared by
// all generators of the space (so N connections split one pass between
// them); once the cursor passes the end, Next() returns empty bursts
// (length 0). pagebench --scan uses it to warm caches with a working set.
//
// Thread-safety: BlockSpace is immutable after construction and may be
// shared; a KeyGenerator belongs to one thread (a scan cursor may be shared
// by generators on many threads).

#include <atomic>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "common/status.h"
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

// `length` adjacent blocks of `rel` from `first`; `first_index` is the
// flat BlockSpace index of `first` (block i of the burst is first_index + i).
struct Burst {
  layers::RelTag rel;
  uint32_t first = 0;
  uint32_t length = 0;
  uint64_t first_index = 0;
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
  // The first min(n, total_blocks()) blocks: whole relations, then the
  // leading blocks of the relation holding index n - 1.
  BlockSpace Prefix(uint64_t n) const;

 private:
  std::vector<RelationSize> relations_;
  std::vector<uint64_t> starts_;  // starts_[i]: flat index of relations_[i] block 0
  uint64_t total_ = 0;
};

// Page size of the blocks pagebench reads (Postgres BLCKSZ).
inline constexpr uint64_t kBlockBytes = 8192;

// "8192", "64KiB", "512MiB", "2GiB" (binary units; no space, no fraction)
// to bytes. InvalidArgument for anything else or a value past 2^64.
common::Result<uint64_t> ParseByteSize(std::string_view text);
// The blocks a working set of `bytes` covers: ceil(bytes / kBlockBytes).
// WorkingSetBlocks(1) == 1, WorkingSetBlocks(16384) == 2.
inline uint64_t WorkingSetBlocks(uint64_t bytes) {
  return bytes / kBlockBytes + (bytes % kBlockBytes != 0 ? 1 : 0);
}

class KeyGenerator {
 public:
  // run_length 1: uniform single blocks; K > 1: sequential runs of K.
  // REQUIRES: space.total_blocks() > 0, run_length >= 1, `space` outlives this.
  KeyGenerator(const BlockSpace& space, uint32_t run_length, uint64_t seed);
  // Scan mode (see above). REQUIRES: `cursor` starts at 0 and outlives this.
  KeyGenerator(const BlockSpace& space, std::atomic<uint64_t>* cursor);

  // The next burst; in scan mode, length 0 once every block was handed out.
  Burst Next();

 private:
  const BlockSpace& space_;
  std::atomic<uint64_t>* scan_cursor_ = nullptr;
  uint32_t run_length_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<uint64_t> index_;
};

}  // namespace pageserver::pagebench
