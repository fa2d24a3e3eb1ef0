#pragma once

// PageCache: a fixed set of 8 KiB slots holding the *index* blocks of layer
// files (layer summaries and disk B-tree nodes), so that a GetPage descends
// its B-trees without waiting on IO and costs one device read, for the data
// block. Data blocks are never cached here (RFC.md section 6).
//
//   auto cache = PageCache::Create({.pages = 8192, .registry = &registry});
//   FileId id = (*cache)->NewFileId();             // once per opened layer file
//   ASSIGN_OR_RETURN(PageGuard page,
//                    (*cache)->Read(id, block_no, BlockKind::kImageBtreeNode, file));
//   ParseNode(page.data());                        // 8192 bytes, valid while `page` lives
//
// Contents: immutable blocks only. A block is identified by (FileId, block
// number); the FileId is handed out by NewFileId() each time a layer file is
// opened and never reused, so a closed or replaced file's blocks can never be
// served for another (they simply age out).
//
// Misses: the first reader of an absent block reserves a slot, publishes it
// in the mapping as "filling" and reads the block straight into the slot
// (VirtualFile::ReadAt with O_DIRECT when the io mode says so; the slot is
// the DMA target, nothing is copied). Concurrent readers of the same block
// wait for that one read and share its outcome: the page, or a copy of the
// same error Status. A failed read is never cached: the slot goes back to the
// free list and the next reader tries again.
//
// Replacement: clock with usage counts saturating at kMaxUsage (5, as
// Postgres and Neon), see clock_sweep.h. A pinned slot (one a PageGuard
// holds) is never evicted. When no slot can be had because all are pinned,
// the miss retries with backoff for `victim_wait_seconds` and then fails with
// ResourceExhausted ("page cache: all N slots pinned ..."), never hangs.
//
// Cost: a hit is a hash, one of 64 shard mutexes, a lookup in an intrusive
// hash set, an atomic pin and usage bump, and the working-set estimator's
// sample; the cache allocates nothing and writes no counter shared by all
// readers (RFC.md 6.2, 6.5). A miss adds a free-list pop or a clock sweep
// and the device read.
//
// Thread-safety: every method may be called from any number of threads.
// A PageGuard may be moved to and released on another thread.
//
// Ownership and lifetime: the cache owns its memory (one mmap'ed arena,
// allocated at Create). Every PageGuard must be released before the cache is
// destroyed (checked: destroying a cache with pinned pages aborts). The
// registry and clock in the options must outlive the cache. One cache per
// registry: the series carry no cache label.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "page_cache/block_kind.h"
#include "page_cache/cache_metrics.h"
#include "page_cache/cache_size.h"
#include "page_cache/clock_sweep.h"
#include "page_cache/mapping.h"
#include "page_cache/overload.h"
#include "page_cache/slot.h"
#include "page_cache/slot_arena.h"
#include "page_cache/working_set_estimator.h"
#include "virtual_file/io_buffer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::page_cache {

using common::Result;
using common::Status;

struct PageCacheOptions {
  // Number of 8 KiB slots (config `page_cache_size`, see ParsePageCacheSize).
  // Default: Neon's default of 8192 pages (64 MiB).
  uint64_t pages = 8192;
  // Where the series go (cache_metrics.h, plus the overload detector's);
  // nullptr: no metrics.
  common::Registry* registry = nullptr;
  // Time for the overload detector's rates; nullptr: common::SystemClock().
  const common::Clock* clock = nullptr;
  // Passed to the OverloadDetector and WorkingSetEstimator as they are; they
  // must satisfy those classes' REQUIRES. Without estimator options the cache
  // uses EstimatorOptionsForCache(pages): a sampling rate that resolves the
  // curve from a quarter of the cache up (the fixed default 1% would only
  // resolve sizes of ~150k pages and more).
  OverloadOptions overload;
  std::optional<EstimatorOptions> estimator;
  // How long a miss keeps retrying when every slot is pinned before it
  // fails with ResourceExhausted. Pins are held for one B-tree descent, so a
  // second is long; a real all-pinned state means too small a cache.
  double victim_wait_seconds = 1.0;
};

// A pin on one cached page: the page stays in its slot, unchanged, while the
// guard lives. Move-only; the destructor (or Release()) unpins.
class PageGuard {
 public:
  PageGuard() = default;
  PageGuard(PageGuard&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
  PageGuard& operator=(PageGuard&& other) noexcept {
    if (this != &other) {
      Release();
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  PageGuard(const PageGuard&) = delete;
  PageGuard& operator=(const PageGuard&) = delete;
  ~PageGuard() { Release(); }

  // False for a default-constructed, moved-from or released guard.
  bool valid() const { return slot_ != nullptr; }
  // The block's kPageSize bytes. REQUIRES: valid().
  std::span<const std::byte> data() const { return {slot_->data, kPageSize}; }
  FileId file_id() const { return slot_->key.file; }
  uint64_t block_no() const { return slot_->key.block_no; }

  // Unpins now. The release store orders our reads of the page before the
  // evictor's reuse of the slot.
  void Release() {
    if (slot_ == nullptr) return;
    slot_->pins.fetch_sub(1, std::memory_order_release);
    slot_ = nullptr;
  }

 private:
  friend class PageCache;
  explicit PageGuard(internal::Slot* slot) : slot_(slot) {}

  internal::Slot* slot_ = nullptr;
};

// A fill function: `Status fill(AlignedSpanMut dst)` writes exactly
// dst.size() (kPageSize) bytes of the block into dst (kSlotAlignment-aligned)
// or returns an error. It runs on the reading thread with no cache lock held.
// REQUIRES: it does not read the same block through the cache (it would wait
// for itself) and does not keep `dst` after returning.
template <typename F>
concept FillFunction = std::is_invocable_r_v<Status, F&, virtual_file::AlignedSpanMut>;

class FillRef;
// A FillFunction other than FillRef itself (so copying a FillRef copies it).
template <typename F>
concept ForeignFillFunction = FillFunction<F> && !std::is_same_v<std::remove_cvref_t<F>, FillRef>;

// A non-owning reference to a FillFunction: two words, no allocation, one
// indirect call per miss (std::function would allocate for large captures).
// It must not outlive the referenced callable.
class FillRef {
 public:
  template <ForeignFillFunction F>
  explicit FillRef(F& fill)
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(fill)))),
        call_([](void* object, virtual_file::AlignedSpanMut dst) -> Status {
          return (*static_cast<F*>(object))(dst);
        }) {}

  Status operator()(virtual_file::AlignedSpanMut dst) const { return call_(object_, dst); }

 private:
  void* object_;
  Status (*call_)(void*, virtual_file::AlignedSpanMut);
};

class PageCache {
 public:
  // Allocates the arena and every bucket. InvalidArgument for a size outside
  // [kMinPages, kMaxPages] or a wait outside [0, 3600] seconds; ResourceExhausted when the
  // memory cannot be mapped.
  static Result<std::unique_ptr<PageCache>> Create(const PageCacheOptions& options);
  ~PageCache();
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // A fresh id for a layer file being opened (1, 2, 3, ...; never 0, never
  // reused). Lock-free.
  FileId NewFileId() { return FileId{next_file_id_.fetch_add(1, std::memory_order_relaxed)}; }

  // The block `block_no` (bytes [block_no * kPageSize, +kPageSize)) of the
  // file `file_id` names, read from `file` on a miss. Errors: what the read
  // returns, prefixed with "page cache: block N of <path> at offset X";
  // Corruption with the same prefix when the file ends inside or before the
  // block (an index block has a fixed length: a short one means a truncated
  // or corrupt layer); ResourceExhausted when every slot stays pinned (see above);
  // InvalidArgument when block_no * kPageSize does not fit in 64 bits.
  // REQUIRES: `file_id` was handed out for this opened `file`.
  Result<PageGuard> Read(FileId file_id, uint64_t block_no, BlockKind kind,
                         const virtual_file::VirtualFile& file);

  // As above with the miss filled by `fill` (see FillFunction), for callers
  // whose blocks do not come straight from a file, and for tests.
  template <FillFunction Fill>
  Result<PageGuard> Read(FileId file_id, uint64_t block_no, BlockKind kind, Fill&& fill) {
    return ReadWithFill(PageKey{file_id, block_no}, kind, FillRef(fill));
  }

  // Folds evictions into the overload detector's rates (with the hit rate
  // since the last tick) and brings the registry series up to date. Run it
  // every few seconds (the daemon's housekeeping does).
  void Tick();

  // Exact counters as of now (reads every shard; pinned/free are scans).
  PageCacheStats Stats() const;

  uint64_t pages() const { return arena_->pages(); }
  uint64_t size_bytes() const { return pages() * kPageSize; }
  const OverloadDetector& overload() const { return overload_; }

  // The working-set estimate: expected hit rates at 1/4x to 8x this cache's
  // size and the smallest size reaching `target` (0 when no size observed so
  // far reaches it). For /metrics and the status endpoint (later issues).
  struct WorkingSetReport {
    std::vector<CurvePoint> curve;
    double target_hit_rate = 0;
    uint64_t pages_for_target = 0;
  };
  WorkingSetReport WorkingSet(double target = kDefaultTargetHitRate) const;
  const WorkingSetEstimator& estimator() const { return estimator_; }

 private:
  // Counters of the miss path: global atomics, as a miss costs a device read
  // anyway.
  struct MissCounters {
    std::atomic<uint64_t> fills_ok{0};
    std::atomic<uint64_t> fills_failed{0};
    std::atomic<uint64_t> victim_found_empty{0};
    std::atomic<uint64_t> victim_found_evicted{0};
    std::atomic<uint64_t> victim_errors{0};
    std::atomic<uint64_t> victim_iterations{0};
  };

  PageCache(const PageCacheOptions& options, std::unique_ptr<internal::SlotArena> arena);

  Result<PageGuard> ReadWithFill(const PageKey& key, BlockKind kind, FillRef fill);
  static Status FillFromFile(const virtual_file::VirtualFile& file, uint64_t block_no,
                             virtual_file::AlignedSpanMut dst);
  // Miss path steps.
  Result<PageGuard> FillMiss(const PageKey& key, uint64_t hash, FillRef fill);
  Result<internal::Slot*> ReserveSlot();
  Result<PageGuard> FinishFill(internal::Slot& slot, Status status);
  Result<PageGuard> WaitForFill(internal::Slot& slot);
  void DropFailedPin(internal::Slot& slot);

  const PageCacheOptions options_;
  const std::chrono::duration<double> wait_;  // options_.victim_wait_seconds
  std::unique_ptr<internal::SlotArena> arena_;
  internal::Mapping mapping_;
  internal::ClockSweep sweep_;
  OverloadDetector overload_;
  WorkingSetEstimator estimator_;
  alignas(64) std::atomic<uint64_t> next_file_id_{1};
  alignas(64) MissCounters miss_;
  std::mutex tick_mu_;
  CacheMetrics metrics_;  // guarded by tick_mu_
};

}  // namespace pageserver::page_cache
