#include "page_cache/clock_sweep.h"

namespace pageserver::page_cache::internal {

SweepResult ClockSweep::FindVictim() {
  const uint64_t pages = arena_.pages();
  const uint64_t max_iterations = (kMaxUsage + 2) * pages;
  uint64_t without_progress = 0;
  for (uint64_t i = 1; i <= max_iterations; ++i) {
    Slot& slot = arena_.slot(hand_.fetch_add(1, std::memory_order_relaxed) % pages);
    switch (Examine(slot)) {
      case Verdict::kEvictable:
        if (TryEvict(slot)) return {&slot, i};
        [[fallthrough]];  // lost it to a concurrent hit or eviction
      case Verdict::kBusy:
        if (++without_progress >= pages) return {nullptr, i};
        break;
      case Verdict::kAged:
        without_progress = 0;
        break;
    }
  }
  return {nullptr, max_iterations};
}

ClockSweep::Verdict ClockSweep::Examine(Slot& slot) {
  if (slot.state.load(std::memory_order_relaxed) != SlotState::kValid) return Verdict::kBusy;
  if (slot.pins.load(std::memory_order_relaxed) != 0) return Verdict::kBusy;
  return slot.DecrementUsage() ? Verdict::kAged : Verdict::kEvictable;
}

bool ClockSweep::TryEvict(Slot& slot) {
  const uint32_t index = slot.shard.load(std::memory_order_relaxed);
  Shard& shard = mapping_.shard(index);
  std::lock_guard lock(shard.mu);
  // Seeing kValid (acquire) and then shard == index under this mutex proves
  // the slot is mapped here now (RFC.md 6.2). pins cannot
  // rise while we hold the mutex; acquire on it orders the last reader's
  // accesses to the page before our reuse of it.
  if (slot.state.load(std::memory_order_acquire) != SlotState::kValid) return false;
  if (slot.shard.load(std::memory_order_relaxed) != index) return false;
  if (slot.pins.load(std::memory_order_acquire) != 0) return false;
  if (slot.usage.load(std::memory_order_relaxed) != 0) return false;
  shard.Erase(slot);
  slot.state.store(SlotState::kReserved, std::memory_order_relaxed);
  slot.pins.store(1, std::memory_order_relaxed);
  return true;
}

}  // namespace pageserver::page_cache::internal
