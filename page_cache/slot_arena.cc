#include "page_cache/slot_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <string>

namespace pageserver::page_cache::internal {

using common::Result;
using common::Status;

Result<std::unique_ptr<SlotArena>> SlotArena::Create(uint64_t pages) {
  if (pages < kMinPages || pages > kMaxPages) {
    return Status::InvalidArgument("page cache: " + std::to_string(pages) + " pages, outside [" +
                                   std::to_string(kMinPages) + ", " + std::to_string(kMaxPages) +
                                   "]");
  }
  const size_t bytes = pages * kPageSize;
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (memory == MAP_FAILED) {
    // Whatever mmap says (ENOMEM, EAGAIN), the configuration asks for more
    // memory than we can have: report it as exhaustion, keeping the errno.
    const Status cause = Status::FromErrno(errno, "mmap " + std::to_string(bytes) + " bytes");
    return Status::ResourceExhausted("page cache arena of " + std::to_string(pages) +
                                     " pages: " + cause.ToString());
  }
  if (::madvise(memory, bytes, MADV_DONTFORK) != 0) {
    const int err = errno;
    ::munmap(memory, bytes);
    return Status::FromErrno(err, "madvise(MADV_DONTFORK) on the page cache arena");
  }
  return std::unique_ptr<SlotArena>(new SlotArena(pages, static_cast<std::byte*>(memory)));
}

SlotArena::SlotArena(uint64_t pages, std::byte* memory)
    : pages_(pages), memory_(memory), slots_(new Slot[pages]) {
  // Pushed in reverse so slots are handed out in index order: deterministic
  // traces in tests fill slot 0, 1, 2, ...
  for (uint64_t i = pages; i-- > 0;) {
    slots_[i].data = memory_ + i * kPageSize;
    free_.push_front(slots_[i]);
  }
}

SlotArena::~SlotArena() {
  free_.clear();
  ::munmap(memory_, pages_ * kPageSize);
}

virtual_file::AlignedSpanMut SlotArena::Page(const Slot& slot) const {
  // Cannot fail: the arena is page-aligned and kPageSize a multiple of
  // kSlotAlignment.
  return virtual_file::AlignedSpanMut::Wrap(slot.data, kPageSize, kSlotAlignment).value();
}

Slot* SlotArena::PopFree() {
  std::lock_guard lock(free_mu_);
  if (free_.empty()) return nullptr;
  Slot& slot = free_.front();
  free_.pop_front();
  slot.state.store(SlotState::kReserved, std::memory_order_relaxed);
  slot.pins.store(1, std::memory_order_relaxed);
  return &slot;
}

void SlotArena::PushFree(Slot& slot) {
  slot.fill_error = Status();
  slot.usage.store(0, std::memory_order_relaxed);
  slot.pins.store(0, std::memory_order_relaxed);
  slot.state.store(SlotState::kFree, std::memory_order_relaxed);
  std::lock_guard lock(free_mu_);
  free_.push_front(slot);
}

uint64_t SlotArena::free_count() const {
  std::lock_guard lock(free_mu_);
  return free_.size();
}

}  // namespace pageserver::page_cache::internal
