#include "page_cache/page_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

namespace pageserver::page_cache {

using internal::Shard;
using internal::Slot;
using internal::SlotState;

namespace {

void Count(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

uint64_t Load(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// A bound on victim_wait_seconds: a reader stuck longer than an hour is a
// hang by any other name (and the deadline arithmetic stays far from overflow).
constexpr double kMaxWaitSeconds = 3600;

// Sleeps between victim searches while every slot is pinned: 50 us doubling
// to 1 ms, short against a B-tree descent at first, cheap on CPU later.
class Backoff {
 public:
  void Sleep() {
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::microseconds(1000));
  }

 private:
  std::chrono::microseconds delay_{50};
};

}  // namespace

Result<std::unique_ptr<PageCache>> PageCache::Create(const PageCacheOptions& options) {
  if (!(options.victim_wait_seconds >= 0 && options.victim_wait_seconds <= kMaxWaitSeconds)) {
    return Status::InvalidArgument("page cache: victim_wait_seconds must be in [0, 3600], got " +
                                   std::to_string(options.victim_wait_seconds));
  }
  ASSIGN_OR_RETURN(auto arena, internal::SlotArena::Create(options.pages));
  return std::unique_ptr<PageCache>(new PageCache(options, std::move(arena)));
}

PageCache::PageCache(const PageCacheOptions& options, std::unique_ptr<internal::SlotArena> arena)
    : options_(options),
      wait_(options.victim_wait_seconds),
      arena_(std::move(arena)),
      mapping_(arena_->pages()),
      sweep_(*arena_, mapping_),
      overload_(options.overload, options.clock ? *options.clock : common::SystemClock(),
                options.registry),
      estimator_(options.estimator.value_or(EstimatorOptionsForCache(options.pages))),
      metrics_(options.registry, arena_->pages()) {
  // Starts the detector's time base: evictions from now on count in its
  // first real tick's rate.
  overload_.Tick(CacheDescription{0.0, size_bytes()});
}

PageCache::~PageCache() {
  const uint64_t pinned = Stats().pinned;
  if (pinned != 0) {
    common::DieWithStatus("PageCache destroyed while pages are pinned",
                          Status::Internal(std::to_string(pinned) + " slots still pinned"));
  }
}

Result<PageGuard> PageCache::Read(FileId file_id, uint64_t block_no, BlockKind kind,
                                  const virtual_file::VirtualFile& file) {
  if (block_no > UINT64_MAX / kPageSize) {
    return Status::InvalidArgument("page cache: block " + std::to_string(block_no) + " of " +
                                   file.path() + " is beyond any file offset");
  }
  auto fill = [&](virtual_file::AlignedSpanMut dst) { return FillFromFile(file, block_no, dst); };
  return ReadWithFill(PageKey{file_id, block_no}, kind, FillRef(fill));
}

// A short read is legal at the file layer (end of file); here the block
// length is fixed, so anything short is a truncated or corrupt layer file.
Status PageCache::FillFromFile(const virtual_file::VirtualFile& file, uint64_t block_no,
                               virtual_file::AlignedSpanMut dst) {
  const uint64_t offset = block_no * kPageSize;
  const std::string where = "page cache: block " + std::to_string(block_no) + " of " + file.path() +
                            " at offset " + std::to_string(offset);
  Result<size_t> n = file.ReadAt(offset, dst);
  if (!n.has_value()) return n.error().WithContext(where);
  if (*n != kPageSize) {
    return Status::Corruption(where + ": short block, " + std::to_string(*n) + " of " +
                              std::to_string(kPageSize) + " bytes");
  }
  return Status::Ok();
}

// The hit path: everything under the shard mutex is a lookup, two atomic
// increments and counter bumps; nothing allocates.
Result<PageGuard> PageCache::ReadWithFill(const PageKey& key, BlockKind kind, FillRef fill) {
  const uint64_t hash = HashPageKey(key);
  estimator_.Record(hash);
  const size_t k = BlockKindIndex(kind);
  Shard& shard = mapping_.shard(internal::Mapping::ShardIndex(hash));
  Slot* slot = nullptr;
  {
    std::lock_guard lock(shard.mu);
    shard.counters.accesses[k].Bump();
    slot = shard.Find(key, hash);
    if (slot != nullptr) {
      slot->pins.fetch_add(1, std::memory_order_relaxed);
      if (slot->state.load(std::memory_order_acquire) == SlotState::kValid) {
        slot->BumpUsage();
        shard.counters.hits[k].Bump();
        return PageGuard(slot);
      }
    }
    shard.counters.misses[k].Bump();
  }
  if (slot != nullptr) return WaitForFill(*slot);  // someone else is reading it
  return FillMiss(key, hash, fill);
}

Result<PageGuard> PageCache::FillMiss(const PageKey& key, uint64_t hash, FillRef fill) {
  ASSIGN_OR_RETURN(Slot * slot, ReserveSlot());
  const uint32_t shard_index = internal::Mapping::ShardIndex(hash);
  Shard& shard = mapping_.shard(shard_index);
  Slot* raced = nullptr;
  {
    std::lock_guard lock(shard.mu);
    raced = shard.Find(key, hash);
    if (raced != nullptr) {
      raced->pins.fetch_add(1, std::memory_order_relaxed);
    } else {
      slot->key = key;
      slot->shard.store(shard_index, std::memory_order_relaxed);
      slot->usage.store(1, std::memory_order_relaxed);
      slot->state.store(SlotState::kFilling, std::memory_order_relaxed);
      shard.Insert(*slot);
    }
  }
  if (raced != nullptr) {
    // Another reader mapped the block while we searched for a slot: use
    // theirs, give ours back.
    arena_->PushFree(*slot);
    return WaitForFill(*raced);
  }
  return FinishFill(*slot, fill(arena_->Page(*slot)));
}

Result<Slot*> PageCache::ReserveSlot() {
  std::optional<std::chrono::steady_clock::time_point> deadline;  // set at the first failure
  Backoff backoff;
  for (;;) {
    if (Slot* slot = arena_->PopFree()) {
      Count(miss_.victim_found_empty);
      return slot;
    }
    const internal::SweepResult sweep = sweep_.FindVictim();
    Count(miss_.victim_iterations, sweep.iterations);
    if (sweep.victim != nullptr) {
      Count(miss_.victim_found_evicted);
      overload_.RecordEvictions(1);
      return sweep.victim;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!deadline) deadline = now + std::chrono::duration_cast<std::chrono::nanoseconds>(wait_);
    if (now >= *deadline) break;
    backoff.Sleep();
  }
  Count(miss_.victim_errors);
  char waited[32];
  std::snprintf(waited, sizeof(waited), "%g", options_.victim_wait_seconds);
  return Status::ResourceExhausted("page cache: all " + std::to_string(pages()) +
                                   " slots pinned or being filled; none freed within " + waited +
                                   " s (page_cache_size too small for the readers?)");
}

Result<PageGuard> PageCache::FinishFill(Slot& slot, Status status) {
  if (status.ok()) {
    Count(miss_.fills_ok);
    slot.state.store(SlotState::kValid, std::memory_order_release);
    slot.state.notify_all();
    return PageGuard(&slot);
  }
  Count(miss_.fills_failed);
  {
    Shard& shard = mapping_.shard(slot.shard.load(std::memory_order_relaxed));
    std::lock_guard lock(shard.mu);
    shard.Erase(slot);
  }
  // Unmapped: no new reader can pin it; those already waiting copy the error
  // and the last pin returns the slot to the free list.
  slot.fill_error = status;
  slot.state.store(SlotState::kFailed, std::memory_order_release);
  slot.state.notify_all();
  DropFailedPin(slot);
  return status;
}

Result<PageGuard> PageCache::WaitForFill(Slot& slot) {
  SlotState state = slot.state.load(std::memory_order_acquire);
  while (state == SlotState::kFilling) {
    slot.state.wait(SlotState::kFilling, std::memory_order_acquire);
    state = slot.state.load(std::memory_order_acquire);
  }
  if (state == SlotState::kValid) {
    slot.BumpUsage();
    return PageGuard(&slot);
  }
  Status error = slot.fill_error;
  DropFailedPin(slot);
  return error;
}

void PageCache::DropFailedPin(Slot& slot) {
  if (slot.pins.fetch_sub(1, std::memory_order_acq_rel) == 1) arena_->PushFree(slot);
}

void PageCache::Tick() {
  std::lock_guard lock(tick_mu_);
  const double hit_rate = metrics_.Publish(Stats());
  overload_.Tick(CacheDescription{hit_rate, size_bytes()});
}

PageCacheStats PageCache::Stats() const {
  PageCacheStats s;
  s.pages = pages();
  for (uint32_t i = 0; i < internal::kShards; ++i) {
    const internal::ShardCounters& c = mapping_.shard(i).counters;
    for (size_t k = 0; k < kNumBlockKinds; ++k) {
      s.accesses[k] += c.accesses[k].Load();
      s.hits[k] += c.hits[k].Load();
      s.misses[k] += c.misses[k].Load();
    }
  }
  s.fills_ok = Load(miss_.fills_ok);
  s.fills_failed = Load(miss_.fills_failed);
  s.victim_found_empty = Load(miss_.victim_found_empty);
  s.victim_found_evicted = Load(miss_.victim_found_evicted);
  s.victim_errors = Load(miss_.victim_errors);
  s.victim_iterations = Load(miss_.victim_iterations);
  s.evictions = s.victim_found_evicted;
  for (uint64_t i = 0; i < pages(); ++i) {
    if (arena_->slot(i).pins.load(std::memory_order_relaxed) != 0) ++s.pinned;
  }
  s.free = arena_->free_count();
  return s;
}

PageCache::WorkingSetReport PageCache::WorkingSet(double target) const {
  return {estimator_.Curve(CurveSizesAround(pages())), target, estimator_.PagesForHitRate(target)};
}

}  // namespace pageserver::page_cache
