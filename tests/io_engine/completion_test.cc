// The completion state machine, driven without a kernel.

#include "io_engine/completion.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace pageserver::io_engine {
namespace {

TransferState Read(size_t length, size_t done = 0) {
  TransferState s{IoOpcode::kRead, length};
  s.done = done;
  return s;
}

TransferState Write(size_t length, size_t done = 0) {
  TransferState s{IoOpcode::kWrite, length};
  s.done = done;
  return s;
}

TEST(CompletionTest, FullReadIsDone) {
  const CompletionStep step = OnCompletion(Read(4096), 4096);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 4096u);
  EXPECT_EQ(step.error, 0);
}

TEST(CompletionTest, FullWriteIsDone) {
  const CompletionStep step = OnCompletion(Write(512), 512);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 512u);
}

TEST(CompletionTest, ShortReadResubmitsRemainder) {
  const CompletionStep step = OnCompletion(Read(4096), 1000);
  EXPECT_EQ(step.action, CompletionAction::kResubmit);
  EXPECT_EQ(step.next.done, 1000u);
  EXPECT_EQ(step.next.retries, 1u);
}

TEST(CompletionTest, ShortWriteResubmitsRemainder) {
  const CompletionStep step = OnCompletion(Write(4096), 96);
  EXPECT_EQ(step.action, CompletionAction::kResubmit);
  EXPECT_EQ(step.next.done, 96u);
}

TEST(CompletionTest, WriteRemainderCompletesTransfer) {
  const CompletionStep step = OnCompletion(Write(4096, 96), 4000);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 4096u);
}

TEST(CompletionTest, ResubmittedRemainderCompletesTransfer) {
  CompletionStep step = OnCompletion(Read(4096), 1);
  ASSERT_EQ(step.action, CompletionAction::kResubmit);
  step = OnCompletion(step.next, 4095);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 4096u);
}

TEST(CompletionTest, ZeroOnReadIsEndOfFileWithShortResult) {
  const CompletionStep step = OnCompletion(Read(4096, 100), 0);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 100u);
}

TEST(CompletionTest, ZeroOnFirstReadIsEmptyResult) {
  const CompletionStep step = OnCompletion(Read(4096), 0);
  EXPECT_EQ(step.action, CompletionAction::kDone);
  EXPECT_EQ(step.next.done, 0u);
}

TEST(CompletionTest, ZeroOnWriteFailsWithEio) {
  const CompletionStep step = OnCompletion(Write(4096, 10), 0);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, EagainResubmitsUnchanged) {
  const CompletionStep step = OnCompletion(Read(4096, 8), -EAGAIN);
  EXPECT_EQ(step.action, CompletionAction::kResubmit);
  EXPECT_EQ(step.next.done, 8u);
  EXPECT_EQ(step.next.retries, 1u);
}

TEST(CompletionTest, EintrResubmitsUnchanged) {
  const CompletionStep step = OnCompletion(Write(4096), -EINTR);
  EXPECT_EQ(step.action, CompletionAction::kResubmit);
  EXPECT_EQ(step.next.done, 0u);
}

TEST(CompletionTest, CanceledIsRetriedOnceThenFails) {
  const CompletionStep first = OnCompletion(Read(4096), -ECANCELED);
  ASSERT_EQ(first.action, CompletionAction::kResubmit);
  EXPECT_TRUE(first.next.cancel_retried);
  const CompletionStep second = OnCompletion(first.next, -ECANCELED);
  EXPECT_EQ(second.action, CompletionAction::kFailed);
  EXPECT_EQ(second.error, ECANCELED);
}

TEST(CompletionTest, CancelRetryIsNotResetByProgress) {
  CompletionStep step = OnCompletion(Read(4096), -ECANCELED);
  step = OnCompletion(step.next, 100);
  ASSERT_EQ(step.action, CompletionAction::kResubmit);
  step = OnCompletion(step.next, -ECANCELED);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
}

TEST(CompletionTest, OtherErrnoFailsWithThatErrno) {
  for (int err : {EIO, EBADF, ENOSPC, EINVAL, EFAULT}) {
    const CompletionStep step = OnCompletion(Read(4096), -err);
    EXPECT_EQ(step.action, CompletionAction::kFailed) << err;
    EXPECT_EQ(step.error, err);
  }
}

TEST(CompletionTest, ResultLargerThanRemainingFailsWithEio) {
  const CompletionStep step = OnCompletion(Read(4096, 4000), 97);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, ResultExactlyRemainingIsDone) {
  const CompletionStep step = OnCompletion(Read(4096, 4000), 96);
  EXPECT_EQ(step.action, CompletionAction::kDone);
}

TEST(CompletionTest, SyncSuccessIsDone) {
  for (IoOpcode op : {IoOpcode::kFsync, IoOpcode::kFdatasync}) {
    const CompletionStep step = OnCompletion(TransferState{op, 0}, 0);
    EXPECT_EQ(step.action, CompletionAction::kDone) << IoOpcodeName(op);
    EXPECT_EQ(step.next.done, 0u);
  }
}

TEST(CompletionTest, SyncErrorFailsWithErrno) {
  const CompletionStep step = OnCompletion(TransferState{IoOpcode::kFsync, 0}, -EIO);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, SyncEagainIsResubmitted) {
  const CompletionStep step = OnCompletion(TransferState{IoOpcode::kFdatasync, 0}, -EAGAIN);
  EXPECT_EQ(step.action, CompletionAction::kResubmit);
}

TEST(CompletionTest, SyncPositiveResultIsProtocolError) {
  const CompletionStep step = OnCompletion(TransferState{IoOpcode::kFsync, 0}, 5);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, ResubmissionCapFailsWithEio) {
  TransferState s = Read(4096);
  s.retries = kMaxResubmissions - 1;
  CompletionStep step = OnCompletion(s, -EAGAIN);
  ASSERT_EQ(step.action, CompletionAction::kResubmit);
  EXPECT_EQ(step.next.retries, kMaxResubmissions);
  step = OnCompletion(step.next, -EAGAIN);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, ResubmissionCapAppliesToShortTransfers) {
  TransferState s = Read(1u << 20);
  s.retries = kMaxResubmissions;
  const CompletionStep step = OnCompletion(s, 1);
  EXPECT_EQ(step.action, CompletionAction::kFailed);
  EXPECT_EQ(step.error, EIO);
}

TEST(CompletionTest, EndlessEagainTerminatesWithinCap) {
  TransferState s = Read(4096);
  uint32_t steps = 0;
  for (;;) {
    const CompletionStep step = OnCompletion(s, -EAGAIN);
    ++steps;
    s = step.next;
    if (step.action != CompletionAction::kResubmit) {
      EXPECT_EQ(step.action, CompletionAction::kFailed);
      break;
    }
  }
  EXPECT_EQ(steps, kMaxResubmissions + 1);
}

}  // namespace
}  // namespace pageserver::io_engine
