#pragma once

// Mapping: PageKey -> Slot, split into kShards shards so readers of different
// blocks rarely meet on a lock.
//
// Each shard is a mutex, a Boost.Intrusive unordered_set whose nodes are the
// slots' `map_hook`s (no allocation per entry; the bucket array is allocated
// once, with one bucket per slot of the whole cache spread over the shards, so
// chains average under one entry), and the shard's access counters. The top
// bits of HashPageKey pick the shard, the low bits the bucket.
//
// The counters of accesses, hits and misses are bumped while the shard's
// mutex is held anyway, so they cost a plain load and store each; they are
// atomics only so Stats() can read them without the mutex. Keeping them per
// shard (rather than in global counters every reader would hit) is what keeps
// the hit path from bouncing one cache line between all reader threads.
//
// Thread-safety: everything in a Shard except `mu` itself and the counter
// reads is guarded by `mu`.

#include <array>
#include <atomic>
#include <boost/intrusive/unordered_set.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "page_cache/block_kind.h"
#include "page_cache/slot.h"

namespace pageserver::page_cache::internal {

// 64 shards: enough that 2-16 reader threads rarely collide (collisions go as
// threads^2 / shards), few enough that the per-shard counters stay small.
inline constexpr uint32_t kShardBits = 6;
inline constexpr uint32_t kShards = uint32_t{1} << kShardBits;

struct SlotKeyOf {
  using type = PageKey;
  const PageKey& operator()(const Slot& slot) const { return slot.key; }
};
struct PageKeyHasher {
  size_t operator()(const PageKey& key) const { return HashPageKey(key); }
};

using SlotSet = boost::intrusive::unordered_set<
    Slot,
    boost::intrusive::member_hook<Slot, boost::intrusive::unordered_set_member_hook<>,
                                  &Slot::map_hook>,
    boost::intrusive::key_of_value<SlotKeyOf>, boost::intrusive::hash<PageKeyHasher>,
    boost::intrusive::power_2_buckets<true>>;

// Written only under the shard mutex, read by anyone.
class LockedCounter {
 public:
  void Bump() {
    value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t Load() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

struct ShardCounters {
  std::array<LockedCounter, kNumBlockKinds> accesses;
  std::array<LockedCounter, kNumBlockKinds> hits;
  std::array<LockedCounter, kNumBlockKinds> misses;
};

struct alignas(64) Shard {
  explicit Shard(size_t buckets);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // The slot mapped under `key`, or nullptr. `hash` is HashPageKey(key),
  // already computed to pick the shard. REQUIRES: mu held.
  Slot* Find(const PageKey& key, uint64_t hash);
  // REQUIRES: mu held; no slot mapped under slot.key.
  void Insert(Slot& slot) { set.insert(slot); }
  // REQUIRES: mu held; `slot` is in this shard's set.
  void Erase(Slot& slot) { set.erase(set.iterator_to(slot)); }

  std::mutex mu;
  std::unique_ptr<SlotSet::bucket_type[]> buckets;
  SlotSet set;
  ShardCounters counters;
};

class Mapping {
 public:
  // Buckets: the next power of two >= pages / kShards in every shard.
  explicit Mapping(uint64_t pages);

  static uint32_t ShardIndex(uint64_t hash) {
    return static_cast<uint32_t>(hash >> (64 - kShardBits));
  }
  Shard& shard(uint32_t index) { return *shards_[index]; }
  const Shard& shard(uint32_t index) const { return *shards_[index]; }

 private:
  std::array<std::optional<Shard>, kShards> shards_;
};

}  // namespace pageserver::page_cache::internal
