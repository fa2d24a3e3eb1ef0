#pragma once

// The completion state machine shared by every engine: a pure function of
// (request state, raw result) that decides whether a transfer is done, must be
// resubmitted for the rest, or failed. io_uring feeds it cqe->res; std-fs
// feeds it the pread/pwrite return value as -errno or a byte count. Tests
// drive it directly, without a kernel.
//
// Rules (RFC.md "Completion handling"):
//   res > 0 and done + res == length         -> kDone
//   res > 0 and done + res <  length         -> kResubmit (the rest, at offset + done)
//   res > remaining                          -> kFailed (IoError: the kernel
//                                               claims more than was asked)
//   res == 0 on a read                       -> kDone, short: end of file
//   res == 0 on a write with bytes remaining -> kFailed (no progress)
//   -EINTR, -EAGAIN                          -> kResubmit (unchanged)
//   -ECANCELED                               -> kResubmit once, then kFailed
//   any other -errno                         -> kFailed with that errno
//   fsync/fdatasync: res == 0 -> kDone; -errno as above.

#include <cstddef>
#include <cstdint>

#include "io_engine/io_engine.h"

namespace pageserver::io_engine {

struct TransferState {
  IoOpcode opcode = IoOpcode::kRead;
  size_t length = 0;      // total bytes requested
  size_t done = 0;        // bytes transferred so far
  bool cancel_retried = false;
  uint32_t retries = 0;   // resubmissions so far (EINTR/EAGAIN/short)
};

enum class CompletionAction : unsigned char { kDone, kResubmit, kFailed };

struct CompletionStep {
  CompletionAction action;
  TransferState next;  // the state after this completion
  int error = 0;       // errno when action == kFailed (EIO for protocol errors)
};

// REQUIRES: state.done < state.length for reads/writes (a transfer that is
// already complete is never submitted).
CompletionStep OnCompletion(const TransferState& state, int64_t res);

// Upper bound on resubmissions of one request before it fails with EIO, so a
// device that keeps returning EAGAIN or 1-byte transfers cannot hang a caller.
inline constexpr uint32_t kMaxResubmissions = 1u << 16;

}  // namespace pageserver::io_engine
