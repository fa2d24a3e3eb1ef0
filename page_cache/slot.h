#pragma once

// The key of a cached block and the descriptor of one cache slot.
//
// Internal to page_cache/ (namespace `internal`); page_cache.h includes it
// only so PageGuard can unpin inline. Nothing outside page_cache/ may touch a
// Slot.
//
// Slot life cycle (SlotState), and who may move it:
//
//   kFree --pop from free list--> kReserved --insert in mapping--> kFilling
//   kFilling --fill OK--> kValid --clock sweep evicts--> kReserved
//   kFilling --fill failed, unmapped--> kFailed --last pin dropped--> kFree
//   kReserved --lost an insert race--> kFree
//
// Only kFilling and kValid slots are in a shard's hash set; only kFree slots
// are in the free list; kReserved and kFailed slots are in neither.
//
// Synchronization (RFC.md 6.2):
//   - `key`, `map_hook` and membership in a shard's set are guarded by that
//     shard's mutex.
//   - `pins` is incremented only under the mutex of the shard the slot is
//     mapped in (or set to 1 by whoever takes a slot that is in no set), and
//     decremented anywhere. So under the shard mutex "pins == 0" is stable:
//     the evictor checks it there.
//   - `usage` is a hint: bumped under the shard mutex, decremented by the
//     clock hand without a lock; both with CAS so it never wraps.
//   - `state` is published with release stores: a reader that sees kValid
//     (acquire) sees the filled bytes, one that sees kFailed sees
//     `fill_error`.
//   - `shard` (the shard the slot was last inserted into) is atomic because
//     the clock hand reads it before taking that shard's mutex; the evictor
//     re-checks it under the mutex.

#include <atomic>
#include <boost/intrusive/slist_hook.hpp>
#include <boost/intrusive/unordered_set_hook.hpp>
#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace pageserver::page_cache {

// Identity of one opened layer file, handed out by PageCache::NewFileId().
// Never reused within a process, so blocks of a closed or replaced file can
// never be served for another. 0 is never handed out.
struct FileId {
  uint64_t value = 0;
  friend bool operator==(FileId, FileId) = default;
};

// A cached block: (file, block number in units of kPageSize).
struct PageKey {
  FileId file;
  uint64_t block_no = 0;
  friend bool operator==(const PageKey&, const PageKey&) = default;
};

// splitmix64 of the pair: well mixed in every bit, because the top bits pick
// the shard and the bottom bits the bucket.
inline uint64_t HashPageKey(const PageKey& key) {
  uint64_t x = key.file.value * 0x9e3779b97f4a7c15ULL ^ key.block_no;
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Usage counts saturate here, as Postgres' BM_MAX_USAGE_COUNT and Neon's
// MAX_USAGE_COUNT: a page touched five times survives five sweeps of the
// clock hand without being touched again.
inline constexpr uint32_t kMaxUsage = 5;

namespace internal {

enum class SlotState : uint32_t { kFree, kReserved, kFilling, kValid, kFailed };

// One descriptor per slot, in an array separate from the page arena so the
// pages stay densely packed and O_DIRECT-aligned. Cache-line aligned: hits on
// neighbouring slots from different threads do not share a line.
struct alignas(64) Slot {
  boost::intrusive::unordered_set_member_hook<> map_hook;
  boost::intrusive::slist_member_hook<> free_hook;
  PageKey key;
  std::byte* data = nullptr;  // kPageSize bytes in the arena; fixed at creation
  std::atomic<SlotState> state{SlotState::kFree};
  std::atomic<uint32_t> pins{0};
  std::atomic<uint32_t> usage{0};
  std::atomic<uint32_t> shard{0};
  // The failed fill's status, for the readers that waited on it; written
  // before `state` becomes kFailed and cleared by whoever drops the last pin.
  common::Status fill_error;

  // Saturating increment (hit path).
  void BumpUsage() {
    uint32_t u = usage.load(std::memory_order_relaxed);
    while (u < kMaxUsage && !usage.compare_exchange_weak(u, u + 1, std::memory_order_relaxed)) {
    }
  }
  // Decrement unless already 0 (clock hand). True when it decremented.
  bool DecrementUsage() {
    uint32_t u = usage.load(std::memory_order_relaxed);
    while (u > 0 && !usage.compare_exchange_weak(u, u - 1, std::memory_order_relaxed)) {
    }
    return u > 0;
  }
};

// One cache line per descriptor (1/128 of the page it describes).
static_assert(sizeof(Slot) == 64);

}  // namespace internal
}  // namespace pageserver::page_cache
