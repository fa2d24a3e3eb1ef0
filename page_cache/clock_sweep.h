#pragma once

// ClockSweep: victim selection by clock with usage counts (Postgres'
// StrategyGetBuffer, Neon's PageCache::find_victim).
//
// A global hand (an atomic counter, so concurrent searches take distinct
// slots) walks the slots. At each slot:
//   - not kValid (free, reserved, filling, failed) or pinned: skip;
//   - usage > 0: decrement it and move on (the page gets another lap);
//   - usage == 0: evict it, under the mutex of its shard, re-checking there
//     that it is still valid, unpinned, unused and mapped in that shard.
//
// The search is bounded: it gives up after `pages` consecutive slots that
// were pinned or not valid (a full lap without progress, as Postgres'
// trycounter), and in any case after (kMaxUsage + 2) * pages slots (enough to
// age every page from kMaxUsage to 0 and take one, whatever concurrent hits
// do). The caller decides whether to wait and retry.
//
// Thread-safety: FindVictim() may run on many threads at once and
// concurrently with hits.

#include <atomic>
#include <cstdint>

#include "page_cache/mapping.h"
#include "page_cache/slot_arena.h"

namespace pageserver::page_cache::internal {

struct SweepResult {
  // The evicted slot: unmapped, state kReserved, pins 1 (the caller's).
  // nullptr when the search gave up.
  Slot* victim = nullptr;
  uint64_t iterations = 0;  // slots examined
};

class ClockSweep {
 public:
  // Both must outlive the sweep.
  ClockSweep(SlotArena& arena, Mapping& mapping) : arena_(arena), mapping_(mapping) {}

  SweepResult FindVictim();

 private:
  enum class Verdict { kBusy, kAged, kEvictable };
  static Verdict Examine(Slot& slot);
  bool TryEvict(Slot& slot);

  SlotArena& arena_;
  Mapping& mapping_;
  alignas(64) std::atomic<uint64_t> hand_{0};
};

}  // namespace pageserver::page_cache::internal
