#pragma once

// SlotArena: the PageCache's memory, allocated once at startup.
//
//   - Pages: one anonymous mmap of pages * kPageSize bytes, so every slot is
//     4 KiB-aligned and can be the target of an O_DIRECT read (the fill reads
//     straight into it: no bounce buffer, no copy). Marked MADV_DONTFORK (a
//     forked child never shares memory the kernel may be DMA-ing into) and
//     populated up front, so the cache's memory is resident and counted from
//     the start and no fill pays a first-touch page fault.
//   - Descriptors: a separate array of internal::Slot.
//   - Free list: never-used and released slots, a Boost.Intrusive slist
//     threaded through the descriptors (no allocation per entry).
//
// Thread-safety: slot()/Page() are plain lookups into fixed arrays; the free
// list has its own mutex. Ownership: the arena owns both arrays; it must
// outlive every Slot pointer and page span handed out.

#include <boost/intrusive/slist.hpp>
#include <cstdint>
#include <memory>
#include <mutex>

#include "common/status.h"
#include "page_cache/cache_size.h"
#include "page_cache/slot.h"
#include "virtual_file/io_buffer.h"

namespace pageserver::page_cache::internal {

class SlotArena {
 public:
  // Maps pages * kPageSize bytes and puts every slot on the free list.
  // ResourceExhausted when the mapping fails (errno in the status).
  // REQUIRES: kMinPages <= pages <= kMaxPages.
  static common::Result<std::unique_ptr<SlotArena>> Create(uint64_t pages);
  ~SlotArena();
  SlotArena(const SlotArena&) = delete;
  SlotArena& operator=(const SlotArena&) = delete;

  uint64_t pages() const { return pages_; }
  Slot& slot(uint64_t index) { return slots_[index]; }
  const Slot& slot(uint64_t index) const { return slots_[index]; }

  // The slot's page as an O_DIRECT-capable read target (kPageSize bytes,
  // kSlotAlignment-aligned).
  virtual_file::AlignedSpanMut Page(const Slot& slot) const;

  // Takes a free slot: state kReserved, pins 1 (the caller's). nullptr when
  // the free list is empty.
  Slot* PopFree();
  // Returns a slot nobody references (not mapped, pins 0) to the free list,
  // clearing its usage and fill error.
  void PushFree(Slot& slot);
  uint64_t free_count() const;

 private:
  using FreeList = boost::intrusive::slist<
      Slot,
      boost::intrusive::member_hook<Slot, boost::intrusive::slist_member_hook<>, &Slot::free_hook>,
      boost::intrusive::constant_time_size<true>>;

  SlotArena(uint64_t pages, std::byte* memory);

  const uint64_t pages_;
  std::byte* const memory_;
  std::unique_ptr<Slot[]> slots_;
  mutable std::mutex free_mu_;
  FreeList free_;  // guarded by free_mu_; destroyed (unlinked) before slots_
};

}  // namespace pageserver::page_cache::internal
