#include "virtual_file/io_buffer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "common/align.h"
#include "tests/support/status_matchers.h"

namespace pageserver::virtual_file {
namespace {

using common::StatusCode;
using ::pageserver::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

bool AllZero(const std::byte* p, size_t n) {
  return std::all_of(p, p + n, [](std::byte b) { return b == std::byte{0}; });
}

TEST(AlignedBufferTest, SmallBufferHasRequestedAlignmentAndIsZeroed) {
  AlignedBuffer buf(1000, 512);
  ASSERT_NE(buf.data(), nullptr);
  EXPECT_EQ(buf.capacity(), 1000u);
  EXPECT_EQ(buf.alignment(), 512u);
  EXPECT_TRUE(common::IsAlignedPtr(buf.data(), 512));
  EXPECT_TRUE(AllZero(buf.data(), buf.capacity()));
}

TEST(AlignedBufferTest, PageSizedBufferIsPageAlignedWhateverWasAsked) {
  AlignedBuffer buf(8192, 512);
  EXPECT_EQ(buf.alignment(), 4096u);
  EXPECT_TRUE(common::IsAlignedPtr(buf.data(), 4096));
  EXPECT_TRUE(AllZero(buf.data(), buf.capacity()));
}

TEST(AlignedBufferTest, LargerAlignmentThanPageIsHonoured) {
  AlignedBuffer buf(size_t{3} * 65536, 65536);
  EXPECT_EQ(buf.alignment(), 65536u);
  EXPECT_TRUE(common::IsAlignedPtr(buf.data(), 65536));
}

TEST(AlignedBufferTest, CapacityNotAPageMultipleIsUsableToTheEnd) {
  AlignedBuffer buf(4096 + 100, 512);
  EXPECT_EQ(buf.capacity(), 4196u);
  std::memset(buf.data(), 0xab, buf.capacity());  // ASan checks the bounds
  EXPECT_EQ(buf.data()[4195], std::byte{0xab});
}

TEST(AlignedBufferTest, ZeroCapacityIsEmpty) {
  AlignedBuffer buf(0, 512);
  EXPECT_EQ(buf.data(), nullptr);
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_TRUE(buf.AsSpan().empty());
}

TEST(AlignedBufferTest, MoveTransfersOwnershipAndEmptiesSource) {
  AlignedBuffer a(4096, 4096);
  std::byte* p = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.capacity(), 4096u);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.capacity(), 0u);

  AlignedBuffer c(512, 512);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
}

TEST(AlignedBufferTest, SpansCoverTheWholeCapacity) {
  AlignedBuffer buf(8192, 4096);
  EXPECT_EQ(buf.AsSpanMut().data(), buf.data());
  EXPECT_EQ(buf.AsSpanMut().size(), 8192u);
  EXPECT_EQ(buf.AsSpan().alignment(), 4096u);
}

TEST(AlignedSpanTest, SubspanKeepsAlignmentTheOffsetPreserves) {
  AlignedBuffer buf(16384, 4096);
  const AlignedSpanMut whole = buf.AsSpanMut();
  EXPECT_EQ(whole.Subspan(0, 100).alignment(), 4096u);
  EXPECT_EQ(whole.Subspan(4096, 4096).alignment(), 4096u);
  EXPECT_EQ(whole.Subspan(8192, 4096).alignment(), 4096u);  // capped at the parent's
  EXPECT_EQ(whole.Subspan(512, 512).alignment(), 512u);
  EXPECT_EQ(whole.Subspan(1536, 512).alignment(), 512u);
  EXPECT_EQ(whole.Subspan(1024, 512).alignment(), 1024u);
  EXPECT_EQ(whole.Subspan(3, 1).alignment(), 1u);
  EXPECT_EQ(whole.Subspan(512, 512).Subspan(256, 256).alignment(), 256u);
}

TEST(AlignedSpanTest, SubspanPointsIntoTheParent) {
  AlignedBuffer buf(4096, 4096);
  const AlignedSpanMut sub = buf.AsSpanMut().Subspan(1024, 2048);
  EXPECT_EQ(sub.data(), buf.data() + 1024);
  EXPECT_EQ(sub.size(), 2048u);
  EXPECT_EQ(sub.First(512).size(), 512u);
  EXPECT_EQ(sub.First(512).data(), sub.data());
  EXPECT_TRUE(common::IsAlignedPtr(sub.data(), sub.alignment()));
}

TEST(AlignedSpanTest, SubspanOfWholeLengthAtEndIsEmpty) {
  AlignedBuffer buf(4096, 4096);
  EXPECT_TRUE(buf.AsSpan().Subspan(4096, 0).empty());
}

TEST(AlignedSpanDeathTest, SubspanPastTheEndAborts) {
  AlignedBuffer buf(4096, 4096);
  EXPECT_DEATH((void)buf.AsSpan().Subspan(4096, 1), "Subspan");
}

TEST(AlignedSpanTest, MutableSpanConvertsToReadOnly) {
  AlignedBuffer buf(4096, 4096);
  const AlignedSpan ro = buf.AsSpanMut().Subspan(512, 512);
  EXPECT_EQ(ro.data(), buf.data() + 512);
  EXPECT_EQ(ro.alignment(), 512u);
}

TEST(AlignedSpanTest, WrapAcceptsAlignedMemory) {
  alignas(4096) static std::array<std::byte, 8192> arena{};
  auto span = AlignedSpanMut::Wrap(arena.data() + 4096, 4096, 4096);
  ASSERT_OK(span);
  EXPECT_EQ(span->data(), arena.data() + 4096);
  EXPECT_EQ(span->size(), 4096u);
  EXPECT_EQ(span->alignment(), 4096u);
  auto ro = AlignedSpan::Wrap(arena.data(), 512, 512);
  ASSERT_OK(ro);
}

TEST(AlignedSpanTest, WrapRejectsMisalignedAddress) {
  alignas(4096) static std::array<std::byte, 8192> arena{};
  EXPECT_THAT(AlignedSpanMut::Wrap(arena.data() + 8, 512, 512),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not aligned to 512")));
}

TEST(AlignedSpanTest, WrapRejectsAlignmentNotAPowerOfTwo) {
  alignas(4096) static std::array<std::byte, 8192> arena{};
  EXPECT_THAT(AlignedSpanMut::Wrap(arena.data(), 512, 96),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("power of two")));
  EXPECT_THAT(AlignedSpanMut::Wrap(arena.data(), 512, 0), StatusIs(StatusCode::kInvalidArgument));
}

TEST(AlignedSpanTest, WrapRejectsNullWithLength) {
  EXPECT_THAT(AlignedSpanMut::Wrap(nullptr, 512, 512), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(AlignedSpanMut::Wrap(nullptr, 0, 512));
}

TEST(IoBufferMutTest, AllocateStartsEmptyWithFullCapacity) {
  IoBufferMut buf = IoBufferMut::Allocate(8192, 512);
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_EQ(buf.capacity(), 8192u);
  EXPECT_EQ(buf.remaining(), 8192u);
  EXPECT_TRUE(common::IsAlignedPtr(buf.data(), 512));
  EXPECT_EQ(buf.WholeCapacity().size(), 8192u);
  EXPECT_TRUE(buf.Valid().empty());
}

TEST(IoBufferMutTest, AppendCopiesWhatFitsAndReportsIt) {
  IoBufferMut buf = IoBufferMut::Allocate(4, 4);
  EXPECT_EQ(buf.Append(Bytes({1, 2, 3})), 3u);
  EXPECT_EQ(buf.Append(Bytes({4, 5, 6})), 1u);
  EXPECT_EQ(buf.Append(Bytes({7})), 0u);
  EXPECT_EQ(buf.size(), 4u);
  EXPECT_EQ(buf.remaining(), 0u);
  const auto bytes = buf.bytes();
  EXPECT_EQ(std::vector<std::byte>(bytes.begin(), bytes.end()), Bytes({1, 2, 3, 4}));
}

TEST(IoBufferMutTest, AppendOfNothingIsANoOp) {
  IoBufferMut buf = IoBufferMut::Allocate(512, 512);
  EXPECT_EQ(buf.Append({}), 0u);
  EXPECT_EQ(buf.size(), 0u);
}

TEST(IoBufferMutTest, ZeroPadToFillsWithZerosUpToTheTarget) {
  IoBufferMut buf = IoBufferMut::Allocate(512, 512);
  std::memset(buf.data(), 0xff, 512);  // stale bytes must be overwritten
  ASSERT_EQ(buf.Append(Bytes({9, 9})), 2u);
  buf.ZeroPadTo(512);
  EXPECT_EQ(buf.size(), 512u);
  EXPECT_EQ(buf.data()[1], std::byte{9});
  EXPECT_TRUE(AllZero(buf.data() + 2, 510));
  buf.ZeroPadTo(512);  // already there
  EXPECT_EQ(buf.size(), 512u);
}

TEST(IoBufferMutTest, ValidViewCoversSizeWithBufferAlignment) {
  IoBufferMut buf = IoBufferMut::Allocate(4096, 4096);
  buf.set_size(1024);
  const AlignedSpan valid = buf.Valid();
  EXPECT_EQ(valid.data(), buf.data());
  EXPECT_EQ(valid.size(), 1024u);
  EXPECT_EQ(valid.alignment(), 4096u);
}

TEST(IoBufferMutTest, SetSizeAndClearKeepContents) {
  IoBufferMut buf = IoBufferMut::Allocate(512, 512);
  ASSERT_EQ(buf.Append(Bytes({5})), 1u);
  buf.clear();
  EXPECT_EQ(buf.size(), 0u);
  buf.set_size(1);
  EXPECT_EQ(buf.data()[0], std::byte{5});
}

TEST(IoBufferMutDeathTest, SetSizeBeyondCapacityAborts) {
  IoBufferMut buf = IoBufferMut::Allocate(512, 512);
  EXPECT_DEATH(buf.set_size(513), "set_size");
}

TEST(IoBufferMutTest, MovedFromBufferIsEmpty) {
  IoBufferMut a = IoBufferMut::Allocate(512, 512);
  a.set_size(100);
  IoBufferMut b = std::move(a);
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(a.size(), 0u);      // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace pageserver::virtual_file

namespace pageserver::virtual_file {
namespace {

// Each test runs on a thread of its own, so it starts with an empty pool
// whatever ran before it.
template <typename F>
void OnFreshThread(F body) {
  std::thread(body).join();
}

TEST(RecycledBufferTest, GivenBackBufferIsReusedForAFittingRequest) {
  OnFreshThread([] {
    AlignedBuffer first = TakeRecycledBuffer(10000, 512);
    EXPECT_GE(first.capacity(), 10000u);
    EXPECT_EQ(first.capacity() % kRecycleGranule, 0u);
    const std::byte* memory = first.data();
    RecycleBuffer(std::move(first));
    AlignedBuffer again = TakeRecycledBuffer(kRecycleGranule, 4096);
    EXPECT_EQ(again.data(), memory);
    RecycleBuffer(std::move(again));
  });
}

TEST(RecycledBufferTest, TooSmallOrUnderAlignedBuffersAreNotHandedOut) {
  OnFreshThread([] {
    AlignedBuffer small(1024, 512);  // below a page: only 512-aligned
    const std::byte* small_memory = small.data();
    RecycleBuffer(std::move(small));
    AlignedBuffer big = TakeRecycledBuffer(2048, 512);
    EXPECT_NE(big.data(), small_memory);
    EXPECT_GE(big.capacity(), 2048u);
    AlignedBuffer aligned = TakeRecycledBuffer(512, 4096);
    EXPECT_NE(aligned.data(), small_memory);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned.data()) % 4096, 0u);
    RecycleBuffer(std::move(big));
    RecycleBuffer(std::move(aligned));
  });
}

TEST(RecycledBufferTest, PoolKeepsAtMostTheNewestBuffers) {
  OnFreshThread([] {
    std::vector<AlignedBuffer> taken;
    for (size_t i = 0; i < kMaxRecycledBuffers + 2; ++i) {
      taken.push_back(TakeRecycledBuffer(kRecycleGranule, 512));
    }
    std::vector<const std::byte*> order;
    for (AlignedBuffer& b : taken) {
      order.push_back(b.data());
      RecycleBuffer(std::move(b));
    }
    // The pool dropped the two oldest; the newest kMaxRecycledBuffers come back.
    const std::set<const std::byte*> newest(order.end() - kMaxRecycledBuffers, order.end());
    std::vector<AlignedBuffer> again;
    for (size_t i = 0; i < kMaxRecycledBuffers; ++i) {
      again.push_back(TakeRecycledBuffer(kRecycleGranule, 512));
      EXPECT_EQ(newest.count(again.back().data()), 1u) << "take " << i;
    }
    for (AlignedBuffer& b : again) RecycleBuffer(std::move(b));
  });
}

TEST(RecycledBufferTest, EachThreadHasItsOwnPool) {
  OnFreshThread([] {
    AlignedBuffer mine = TakeRecycledBuffer(kRecycleGranule, 512);
    const std::byte* memory = mine.data();
    RecycleBuffer(std::move(mine));
    const std::byte* other_thread_got = nullptr;
    std::thread([&] {
      AlignedBuffer b = TakeRecycledBuffer(kRecycleGranule, 512);
      other_thread_got = b.data();
      RecycleBuffer(std::move(b));
    }).join();
    EXPECT_NE(other_thread_got, memory);
    // Still in this thread's pool (among at most kMaxRecycledBuffers).
    std::vector<AlignedBuffer> back;
    bool found = false;
    for (size_t i = 0; i < kMaxRecycledBuffers; ++i) {
      back.push_back(TakeRecycledBuffer(kRecycleGranule, 512));
      found = found || back.back().data() == memory;
    }
    EXPECT_TRUE(found);
    for (AlignedBuffer& b : back) RecycleBuffer(std::move(b));
  });
}

// Regression: a forked child used to be handed the parent's pooled buffers,
// whose pages (MADV_DONTFORK) do not exist in the child.
TEST(RecycledBufferTest, ForkedChildStartsWithAnEmptyPool) {
  OnFreshThread([] {
    AlignedBuffer pooled = TakeRecycledBuffer(64 * 1024, 4096);
    const std::byte* parent_memory = pooled.data();
    RecycleBuffer(std::move(pooled));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      AlignedBuffer child = TakeRecycledBuffer(64 * 1024, 4096);
      std::memset(child.data(), 0x5A, child.capacity());  // faults if unmapped
      ::_exit(child.data() == parent_memory ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child died of signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the child was handed the parent's pooled buffer";
    AlignedBuffer again = TakeRecycledBuffer(64 * 1024, 4096);
    EXPECT_EQ(again.data(), parent_memory) << "the parent's pool is unchanged";
    RecycleBuffer(std::move(again));
  });
}

}  // namespace
}  // namespace pageserver::virtual_file
