#pragma once

// FaultInjector: turns a FaultPlan into decisions, one per raw kernel result.
// Engines call Apply() on every syscall return value / CQE result before the
// completion state machine sees it (below the retry logic).
//
// Thread-safety: Apply() is thread-safe (an atomic counter feeds a stateless
// mixing function, so the decision sequence depends only on the seed and the
// order of calls).

#include <atomic>
#include <cstdint>

#include "io_engine/io_engine.h"

namespace pageserver::io_engine {

class FaultInjector {
 public:
  explicit FaultInjector(const FaultPlan& plan) : plan_(plan) {}

  bool enabled() const { return plan_.enabled(); }
  bool refuse_o_direct() const { return plan_.refuse_o_direct; }

  // Given the raw result `res` of an operation that asked for `asked` bytes
  // (0 for syncs), returns the result the engine should act on: `res`
  // unchanged, -error_errno, -EAGAIN, 0, or a shorter positive count.
  // An injected short transfer reports a prefix of what the kernel actually
  // moved, so the bytes in the buffer (or file) stay correct for what is
  // reported and the resubmission repeats identical work.
  int64_t Apply(IoOpcode op, size_t asked, int64_t res);

  // Whether the operation should be skipped entirely and fail with
  // -error_errno or -EAGAIN before reaching the kernel (writes and syncs are
  // never half-applied by injection). Returns 0 to proceed.
  int64_t BeforeSubmit(IoOpcode op);

  // io-uring: consulted before each io_uring_submit. Returns 0 to submit for
  // real, or -EBUSY / -ENXIO to report instead (nothing is submitted).
  int BeforeRingSubmit();

 private:
  uint64_t Next();
  bool OneIn(uint32_t n);

  FaultPlan plan_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace pageserver::io_engine
