#include "io_engine/completion.h"

#include <cerrno>

namespace pageserver::io_engine {

namespace {

CompletionStep Done(TransferState s) { return {CompletionAction::kDone, s, 0}; }
CompletionStep Resubmit(TransferState s) {
  ++s.retries;
  if (s.retries > kMaxResubmissions) return {CompletionAction::kFailed, s, EIO};
  return {CompletionAction::kResubmit, s, 0};
}
CompletionStep Fail(TransferState s, int err) { return {CompletionAction::kFailed, s, err}; }

bool IsSync(IoOpcode op) { return op == IoOpcode::kFsync || op == IoOpcode::kFdatasync; }

CompletionStep OnError(TransferState s, int err) {
  if (err == EINTR || err == EAGAIN) return Resubmit(s);
  if (err == ECANCELED && !s.cancel_retried) {
    s.cancel_retried = true;
    return Resubmit(s);
  }
  return Fail(s, err);
}

}  // namespace

CompletionStep OnCompletion(const TransferState& state, int64_t res) {
  TransferState s = state;
  if (res < 0) return OnError(s, static_cast<int>(-res));
  if (IsSync(s.opcode)) return res == 0 ? Done(s) : Fail(s, EIO);

  const size_t remaining = s.length - s.done;
  const auto n = static_cast<uint64_t>(res);
  if (n > remaining) return Fail(s, EIO);
  if (n == 0) {
    // Zero bytes: end of file for a read; no progress for a write.
    return s.opcode == IoOpcode::kRead ? Done(s) : Fail(s, EIO);
  }
  s.done += n;
  return s.done == s.length ? Done(s) : Resubmit(s);
}

}  // namespace pageserver::io_engine
