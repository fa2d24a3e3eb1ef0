#pragma once

// RelSizeCache: the number of blocks of each relation fork as of some LSN,
// so GetPage and Nblocks at the latest LSN do not read the relation-size key
// through the layers every time (Neon's rel_size_cache).
//
// An entry (rel -> lsn, nblocks) says: the relation-size key of `rel` was
// `nblocks` at `lsn` and did not change between `lsn` and the newest LSN the
// timeline had ingested when the entry was made or last updated. It answers
// reads at any LSN >= lsn; reads below it go to the layers.
//
// Why that holds (RFC.md 8.9):
//   - Ingest calls OnIngest for every Put of a relation-size key, before the
//     Put's LSN becomes readable, so a change at LSN y > lsn always moves the
//     entry to (y, new size) first; a reader at x < y then misses.
//   - A reader fills the cache (OnRead) only when it read at an LSN x at or
//     above last_record_lsn as observed after the read: every size change at
//     or below x is then visible to that read, and any later one goes through
//     OnIngest. An entry is never moved backwards (OnRead with x below the
//     entry's LSN keeps the entry).
//
// Example: OnIngest(r, 0/10, 5); Get(r, 0/20) == 5; Get(r, 0/8) == nullopt;
// OnIngest(r, 0/30, 7); Get(r, 0/20) == nullopt; Get(r, 0/30) == 7.
//
// Memory: one entry per relation fork ever seen (~48 bytes); bounded by
// max_entries, beyond which OnRead stops adding (OnIngest still updates and
// adds, since a missed update would be a wrong answer). Thread-safe: one
// mutex, held for a hash-map operation.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::timeline {

class RelSizeCache {
 public:
  static constexpr size_t kDefaultMaxEntries = 1 << 20;

  explicit RelSizeCache(size_t max_entries = kDefaultMaxEntries) : max_entries_(max_entries) {}

  // The size of `rel` as of `lsn`, or nullopt when the cache cannot say.
  std::optional<uint32_t> Get(const layers::RelTag& rel, layers::Lsn lsn) const;
  // Ingest stored `nblocks` as the size of `rel` at `lsn`.
  void OnIngest(const layers::RelTag& rel, layers::Lsn lsn, uint32_t nblocks);
  // A read at `lsn` found `nblocks`. REQUIRES (of the caller):
  // lsn >= last_record_lsn read after the size was read.
  void OnRead(const layers::RelTag& rel, layers::Lsn lsn, uint32_t nblocks);
  size_t size() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct RelTagHash {
    size_t operator()(const layers::RelTag& rel) const;
  };
  struct Entry {
    layers::Lsn lsn;
    uint32_t nblocks = 0;
  };
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<layers::RelTag, Entry, RelTagHash> entries_;
  mutable uint64_t hits_ = 0;
  mutable uint64_t misses_ = 0;
};

}  // namespace pageserver::timeline
