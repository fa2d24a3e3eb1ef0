// The same behaviour contract, checked against every engine. io-uring
// instances skip (with the probe's reason) where the kernel cannot run it.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdint>
#include <future>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "io_engine/io_engine.h"
#include "tests/io_engine/engine_test_util.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::io_engine {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using ::testing::HasSubstr;
using namespace testutil;  // NOLINT(google-build-using-namespace): test helpers

// Not a multiple of any block size, so the last page is partial.
constexpr uint64_t kFileSize = (1u << 20) + 123;

class EngineConformanceTest : public ::testing::TestWithParam<IoEngineKind> {
 protected:
  void SetUp() override {
    PS_SKIP_IF_NO_URING(GetParam());
    seed_ = TestSeed();
    path_ = dir_.File("data");
    ASSERT_TRUE(WritePatternFile(path_, kFileSize, seed_));
    engine_ = MakeEngine();
    ASSERT_NE(engine_, nullptr);
  }

  std::unique_ptr<IoEngine> MakeEngine(unsigned ring_entries = 128) {
    IoEngineOptions options;
    options.kind = GetParam();
    options.ring_entries = ring_entries;
    options.registry = &registry_;
    auto engine = CreateIoEngine(options);
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.has_value() ? std::move(engine).value() : nullptr;
  }

  // Opens `path` on `engine` (default: the fixture's), failing the test on error.
  int OpenOrDie(const std::string& path, int flags, IoEngine* engine = nullptr) {
    auto fd = (engine ? engine : engine_.get())->Open(path, flags, 0644);
    EXPECT_TRUE(fd.has_value()) << fd.error().ToString();
    return fd.has_value() ? *fd : -1;
  }

  // Expected result of reading `length` bytes at `offset` of the pattern file.
  static size_t ExpectedReadLength(uint64_t offset, size_t length) {
    return offset >= kFileSize
               ? 0
               : static_cast<size_t>(std::min<uint64_t>(length, kFileSize - offset));
  }

  common::Registry registry_;
  pageserver::testing::TempDir dir_;
  std::string path_;
  uint64_t seed_ = 0;
  std::unique_ptr<IoEngine> engine_;
};

TEST_P(EngineConformanceTest, NameMatchesKind) {
  EXPECT_EQ(engine_->name(), IoEngineKindName(GetParam()));
}

TEST_P(EngineConformanceTest, RandomReadsReturnOffsetDerivedContent) {
  SCOPED_TRACE(SeedTrace(seed_));
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::mt19937_64 rng(seed_);
  for (int i = 0; i < 300; ++i) {
    const uint64_t offset = rng() % (kFileSize + 8192);
    const size_t length = 1 + rng() % 65536;
    std::vector<std::byte> buf(length);
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(fd, offset, buf));
    ASSERT_EQ(n, ExpectedReadLength(offset, length)) << "offset=" << offset << " length=" << length;
    ASSERT_EQ(FirstPatternMismatch({buf.data(), n}, offset, seed_), -1) << "offset=" << offset;
  }
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, ReadAcrossEndOfFileIsShort) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> buf(4096);
  const uint64_t offset = kFileSize - 100;
  ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(fd, offset, buf));
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(FirstPatternMismatch({buf.data(), n}, offset, seed_), -1);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, ReadAtOrPastEndOfFileReturnsZero) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> buf(4096);
  for (uint64_t offset : {kFileSize, kFileSize + 1, kFileSize + 4096, uint64_t{1} << 40}) {
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(fd, offset, buf));
    EXPECT_EQ(n, 0u) << "offset=" << offset;
  }
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, ZeroLengthReadAndWriteReturnZero) {
  const int fd = OpenOrDie(path_, O_RDWR);
  ASSERT_OK_AND_ASSIGN(const size_t r, engine_->Read(fd, 10, {}));
  EXPECT_EQ(r, 0u);
  ASSERT_OK_AND_ASSIGN(const size_t w, engine_->Write(fd, 10, {}));
  EXPECT_EQ(w, 0u);
  EXPECT_OK(engine_->Close(fd));
}

// Regression: requests an engine answers without the kernel (zero length,
// offset out of range) share a batch with real ones; in every order, the
// batch must still wait for every real request.
TEST_P(EngineConformanceTest, BatchMixingTrivialAndRealRequestsWaitsForAll) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> a(65536);
  std::vector<std::byte> b(4096);
  std::vector<std::byte> c(16);
  enum Kind { kZero, kRealA, kOutOfRange, kRealB };
  std::vector<Kind> order = {kZero, kRealA, kOutOfRange, kRealB};
  do {
    std::vector<IoRequest> requests;
    for (Kind k : order) {
      switch (k) {
        case kZero:
          requests.push_back(IoRequest::Read(fd, 0, {}));
          break;
        case kRealA:
          requests.push_back(IoRequest::Read(fd, 100, a));
          break;
        case kOutOfRange:
          requests.push_back(IoRequest::Read(fd, std::numeric_limits<uint64_t>::max(), c));
          break;
        case kRealB:
          requests.push_back(IoRequest::Read(fd, 70000, b));
          break;
      }
    }
    std::vector<IoResult> results(requests.size(), Status::Internal("unset"));
    engine_->SubmitBatch(requests, results);
    for (size_t i = 0; i < order.size(); ++i) {
      SCOPED_TRACE("request " + std::to_string(i) + " kind " + std::to_string(order[i]));
      if (order[i] == kOutOfRange) {
        EXPECT_EQ(results[i].error().error_number(), EINVAL) << results[i].error().ToString();
        continue;
      }
      ASSERT_OK(results[i]);
      EXPECT_EQ(*results[i], requests[i].length);
    }
    EXPECT_EQ(FirstPatternMismatch(a, 100, seed_), -1);
    EXPECT_EQ(FirstPatternMismatch(b, 70000, seed_), -1);
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, OffsetBeyondInt64IsInvalidArgument) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> buf(16);
  const IoResult r = engine_->Read(fd, std::numeric_limits<uint64_t>::max(), buf);
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("read fd=")));
  EXPECT_EQ(r.error().error_number(), EINVAL);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, RandomWritesReadBackLikeModel) {
  SCOPED_TRACE(SeedTrace(seed_));
  const std::string path = dir_.File("written");
  const int fd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC);
  std::vector<std::byte> model;
  std::mt19937_64 rng(seed_);
  for (int i = 0; i < 200; ++i) {
    const uint64_t offset = rng() % (uint64_t{512} * 1024);
    const size_t length = 1 + rng() % 16384;
    const std::vector<std::byte> data = PatternBytes(offset, length, seed_ + i);
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Write(fd, offset, data));
    ASSERT_EQ(n, length);
    if (model.size() < offset + length) model.resize(offset + length);
    std::copy(data.begin(), data.end(), model.begin() + static_cast<ptrdiff_t>(offset));
  }
  ASSERT_OK(engine_->Fsync(fd));
  ASSERT_OK(engine_->Fdatasync(fd));
  std::vector<std::byte> back(model.size() + 100);
  ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(fd, 0, back));
  ASSERT_EQ(n, model.size());
  back.resize(n);
  EXPECT_TRUE(back == model);
  EXPECT_TRUE(ReadWholeFile(path) == model);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, BatchWithOneBadFdFailsOnlyThatRequest) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  constexpr size_t kN = 10;
  constexpr size_t kBad = 4;
  std::vector<std::vector<std::byte>> bufs(kN, std::vector<std::byte>(4096));
  std::vector<IoRequest> requests;
  for (size_t i = 0; i < kN; ++i) {
    const int req_fd = i == kBad ? 1'000'000 : fd;  // far above any open fd
    requests.push_back(IoRequest::Read(req_fd, i * 8192, bufs[i]));
  }
  std::vector<IoResult> results(kN, Status::Internal("unset"));
  engine_->SubmitBatch(requests, results);
  for (size_t i = 0; i < kN; ++i) {
    if (i == kBad) {
      EXPECT_EQ(results[i].error().error_number(), EBADF) << results[i].error().ToString();
      EXPECT_THAT(results[i], StatusIs(StatusCode::kInvalidArgument,
                                       HasSubstr("read fd=1000000 offset=32768 length=4096")));
      continue;
    }
    ASSERT_OK(results[i]);
    EXPECT_EQ(*results[i], 4096u);
    EXPECT_EQ(FirstPatternMismatch(bufs[i], i * 8192, seed_), -1) << i;
  }
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, MixedBatchOfReadsWritesAndSyncs) {
  const std::string path = dir_.File("mixed");
  const int wfd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC);
  const int rfd = OpenOrDie(path_, O_RDONLY);
  const std::vector<std::byte> w0 = PatternBytes(0, 5000, 7);
  const std::vector<std::byte> w1 = PatternBytes(5000, 3000, 7);
  std::vector<std::byte> r0(4096);
  std::vector<std::byte> r1(4096);
  const std::vector<IoRequest> requests = {
      IoRequest::Write(wfd, 0, w0),
      IoRequest::Read(rfd, 100, r0),
      IoRequest::Write(wfd, 5000, w1),
      IoRequest::Fdatasync(wfd),
      IoRequest::Read(rfd, kFileSize - 10, r1),
      IoRequest::Fsync(-1),
  };
  std::vector<IoResult> results(requests.size(), Status::Internal("unset"));
  engine_->SubmitBatch(requests, results);
  ASSERT_OK(results[0]);
  EXPECT_EQ(*results[0], 5000u);
  ASSERT_OK(results[1]);
  EXPECT_EQ(FirstPatternMismatch(r0, 100, seed_), -1);
  ASSERT_OK(results[2]);
  ASSERT_OK(results[3]);
  EXPECT_EQ(*results[3], 0u);
  ASSERT_OK(results[4]);
  EXPECT_EQ(*results[4], 10u);
  EXPECT_EQ(results[5].error().error_number(), EBADF);
  EXPECT_THAT(results[5], StatusIs(StatusCode::kInvalidArgument, HasSubstr("fsync fd=-1")));
  // Batch requests are independent and may run in any order, so the file is
  // checked after the batch returned.
  EXPECT_EQ(FirstPatternMismatch(ReadWholeFile(path), 0, 7), -1);
  EXPECT_OK(engine_->Close(wfd));
  EXPECT_OK(engine_->Close(rfd));
}

// 1000 requests: several ring-sized waves for io-uring (128 entries), and
// many more with an 8-entry ring.
TEST_P(EngineConformanceTest, BatchLargerThanRingCompletesEveryRequest) {
  for (unsigned entries : {128u, 8u}) {
    SCOPED_TRACE("ring_entries=" + std::to_string(entries));
    std::unique_ptr<IoEngine> engine = MakeEngine(entries);
    ASSERT_NE(engine, nullptr);
    const int fd = OpenOrDie(path_, O_RDONLY, engine.get());
    constexpr size_t kN = 1000;
    std::vector<std::byte> buf(kN * 1024);
    std::vector<IoRequest> requests;
    for (size_t i = 0; i < kN; ++i) {
      requests.push_back(IoRequest::Read(fd, i * 1037, {buf.data() + i * 1024, 1024}));
    }
    std::vector<IoResult> results(kN, Status::Internal("unset"));
    engine->SubmitBatch(requests, results);
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_OK(results[i]);
      ASSERT_EQ(*results[i], 1024u);
      ASSERT_EQ(FirstPatternMismatch({buf.data() + i * 1024, 1024}, i * 1037, seed_), -1) << i;
    }
    EXPECT_OK(engine->Close(fd));
  }
}

TEST_P(EngineConformanceTest, LargeWriteBatchLandsOnDisk) {
  const std::string path = dir_.File("big");
  const int fd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC);
  constexpr size_t kN = 1000;
  constexpr size_t kLen = 512;
  const std::vector<std::byte> data = PatternBytes(0, kN * kLen, 3);
  std::vector<IoRequest> requests;
  for (size_t i = 0; i < kN; ++i) {
    requests.push_back(IoRequest::Write(fd, i * kLen, {data.data() + i * kLen, kLen}));
  }
  std::vector<IoResult> results(kN, Status::Internal("unset"));
  engine_->SubmitBatch(requests, results);
  for (const IoResult& r : results) ASSERT_OK(r);
  EXPECT_TRUE(ReadWholeFile(path) == data);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, ConcurrentBatchesFromEightThreads) {
  SCOPED_TRACE(SeedTrace(seed_));
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed_ + static_cast<uint64_t>(t));
      for (int round = 0; round < 30; ++round) {
        RandomReads reads(fd, rng, 16, 8192, kFileSize, false);
        reads.Run(*engine_);
        for (size_t i = 0; i < reads.requests.size(); ++i) {
          const IoRequest& r = reads.requests[i];
          const size_t want = ExpectedReadLength(r.offset, r.length);
          if (!reads.results[i].has_value() || *reads.results[i] != want ||
              FirstPatternMismatch({reads.bufs[i].data(), want}, r.offset, seed_) != -1) {
            failures.fetch_add(1);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, AsyncWritesWaitedInAnyOrder) {
  const std::string path = dir_.File("async");
  const int fd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC);
  constexpr size_t kN = 6;
  constexpr size_t kLen = 8192;
  const std::vector<std::byte> data = PatternBytes(0, kN * kLen, 11);
  std::vector<AsyncIo> tickets;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_OK_AND_ASSIGN(AsyncIo t,
                         engine_->SubmitWrite(fd, i * kLen, {data.data() + i * kLen, kLen}));
    EXPECT_TRUE(t.valid());
    tickets.push_back(std::move(t));
  }
  // Wait in the order 5, 0, 4, 1, 3, 2.
  for (size_t k = 0; k < kN; ++k) {
    const size_t i = k % 2 == 0 ? kN - 1 - k / 2 : k / 2;
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->WaitWrite(std::move(tickets[i])));
    EXPECT_EQ(n, kLen) << i;
  }
  EXPECT_TRUE(ReadWholeFile(path) == data);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, AsyncWritesSurviveInterleavedBatches) {
  const std::string path = dir_.File("async_mixed");
  const int wfd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC);
  const int rfd = OpenOrDie(path_, O_RDONLY);
  constexpr size_t kN = 4;
  constexpr size_t kLen = 65536;
  const std::vector<std::byte> data = PatternBytes(0, kN * kLen, 5);
  std::vector<AsyncIo> tickets;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_OK_AND_ASSIGN(AsyncIo t,
                         engine_->SubmitWrite(wfd, i * kLen, {data.data() + i * kLen, kLen}));
    tickets.push_back(std::move(t));
    // A batch on the same thread reaps whatever completed meanwhile,
    // including the async writes; those completions must be kept.
    std::vector<std::byte> buf(4096);
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(rfd, i * 4096, buf));
    ASSERT_EQ(n, 4096u);
    EXPECT_EQ(FirstPatternMismatch(buf, i * 4096, seed_), -1);
  }
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->WaitWrite(std::move(tickets[i])));
    EXPECT_EQ(n, kLen);
  }
  EXPECT_TRUE(ReadWholeFile(path) == data);
  EXPECT_OK(engine_->Close(wfd));
  EXPECT_OK(engine_->Close(rfd));
}

TEST_P(EngineConformanceTest, MoreOutstandingAsyncWritesThanRingEntries) {
  std::unique_ptr<IoEngine> engine = MakeEngine(4);
  ASSERT_NE(engine, nullptr);
  const std::string path = dir_.File("async_many");
  const int fd = OpenOrDie(path, O_RDWR | O_CREAT | O_TRUNC, engine.get());
  constexpr size_t kN = 40;
  constexpr size_t kLen = 1000;
  const std::vector<std::byte> data = PatternBytes(0, kN * kLen, 9);
  std::vector<AsyncIo> tickets;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_OK_AND_ASSIGN(AsyncIo t,
                         engine->SubmitWrite(fd, i * kLen, {data.data() + i * kLen, kLen}));
    tickets.push_back(std::move(t));
  }
  for (auto it = tickets.rbegin(); it != tickets.rend(); ++it) {
    ASSERT_OK_AND_ASSIGN(const size_t n, engine->WaitWrite(std::move(*it)));
    EXPECT_EQ(n, kLen);
  }
  EXPECT_TRUE(ReadWholeFile(path) == data);
  EXPECT_OK(engine->Close(fd));
}

// A pipelined reader keeps a constant number of reads in flight: it waits for
// the oldest, checks it, and submits a new one in its slot.
TEST_P(EngineConformanceTest, PipelinedAsyncReadsReturnOffsetDerivedContent) {
  SCOPED_TRACE(SeedTrace(seed_));
  const int fd = OpenOrDie(path_, O_RDONLY);
  constexpr size_t kDepth = 16;
  constexpr size_t kLen = 8192;
  std::mt19937_64 rng(seed_);
  std::vector<std::vector<std::byte>> bufs(kDepth, std::vector<std::byte>(kLen));
  std::vector<uint64_t> offsets(kDepth);
  std::vector<AsyncIo> tickets(kDepth);
  auto submit = [&](size_t slot) {
    offsets[slot] = (rng() % (kFileSize / kLen)) * kLen;
    auto t = engine_->SubmitAsync(IoRequest::Read(fd, offsets[slot], bufs[slot]));
    ASSERT_TRUE(t.has_value()) << t.error().ToString();
    tickets[slot] = std::move(t).value();
  };
  for (size_t slot = 0; slot < kDepth; ++slot) submit(slot);
  for (size_t i = 0; i < 500; ++i) {
    const size_t slot = i % kDepth;
    ASSERT_OK_AND_ASSIGN(const size_t n, engine_->WaitAsync(std::move(tickets[slot])));
    ASSERT_EQ(n, kLen);
    ASSERT_EQ(FirstPatternMismatch(bufs[slot], offsets[slot], seed_), -1) << offsets[slot];
    submit(slot);
  }
  for (auto& t : tickets) ASSERT_OK(engine_->WaitAsync(std::move(t)));
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, AsyncReadAcrossEndOfFileIsShortAndBatchesKeepItsCompletion) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> tail(8192);
  ASSERT_OK_AND_ASSIGN(AsyncIo t, engine_->SubmitAsync(IoRequest::Read(fd, kFileSize - 100, tail)));
  // A synchronous batch on the same thread may reap the async completion.
  std::vector<std::byte> buf(4096);
  ASSERT_OK_AND_ASSIGN(const size_t m, engine_->Read(fd, 0, buf));
  EXPECT_EQ(m, 4096u);
  ASSERT_OK_AND_ASSIGN(const size_t n, engine_->WaitAsync(std::move(t)));
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(FirstPatternMismatch({tail.data(), n}, kFileSize - 100, seed_), -1);
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, AsyncReadOnBadFdFailsWithContext) {
  std::vector<std::byte> buf(512);
  ASSERT_OK_AND_ASSIGN(AsyncIo t, engine_->SubmitAsync(IoRequest::Read(1'000'000, 4096, buf)));
  const IoResult r = engine_->WaitAsync(std::move(t));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().error_number(), EBADF);
  EXPECT_THAT(r.error().message(), HasSubstr("read fd=1000000 offset=4096 length=512"));
}

TEST_P(EngineConformanceTest, WaitWriteTwiceIsInvalidArgument) {
  const int fd = OpenOrDie(dir_.File("twice"), O_RDWR | O_CREAT);
  const std::vector<std::byte> data(100, std::byte{1});
  ASSERT_OK_AND_ASSIGN(AsyncIo t, engine_->SubmitWrite(fd, 0, data));
  const AsyncIo copy(t.id());
  ASSERT_OK(engine_->WaitWrite(std::move(t)));
  EXPECT_THAT(engine_->WaitWrite(AsyncIo(copy.id())), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(engine_->WaitWrite(AsyncIo()), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(engine_->Close(fd));
}

TEST_P(EngineConformanceTest, SyncOnBadFdFailsWithEbadf) {
  const Status s = engine_->Fsync(1'000'000);
  EXPECT_EQ(s.error_number(), EBADF);
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, HasSubstr("fsync fd=1000000")));
  EXPECT_EQ(engine_->Fdatasync(1'000'000).error_number(), EBADF);
}

TEST_P(EngineConformanceTest, OpenMissingFileIsNotFoundNamingPath) {
  const auto fd = engine_->Open(dir_.File("missing"), O_RDONLY, 0);
  EXPECT_THAT(fd, StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
}

TEST_P(EngineConformanceTest, CloseBadFdIsError) {
  EXPECT_EQ(engine_->Close(1'000'000).error_number(), EBADF);
}

// Threads use the engine and stay alive while it is destroyed; their rings
// must be torn down by the engine, and the threads must exit cleanly later
// (and be able to use a new engine meanwhile).
TEST_P(EngineConformanceTest, EngineDestroyedWhileUsingThreadsAreAlive) {
  const int fds_before = CountIoUringFds();
  const int fd = OpenOrDie(path_, O_RDONLY);
  constexpr int kThreads = 4;
  std::barrier used(kThreads + 1);
  std::barrier destroyed(kThreads + 1);
  std::atomic<int> failures{0};
  // An async write nobody waits for: the engine must reap it on destruction,
  // so its buffer only has to outlive the engine.
  const std::vector<std::byte> orphan_data(4096, std::byte{42});
  const int wfd = OpenOrDie(dir_.File("orphan"), O_RDWR | O_CREAT);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> buf(4096);
      const IoResult r = engine_->Read(fd, static_cast<uint64_t>(t) * 4096, buf);
      if (!r.has_value() || *r != 4096) failures.fetch_add(1);
      if (t == 0 && !engine_->SubmitWrite(wfd, 0, orphan_data).has_value()) failures.fetch_add(1);
      used.arrive_and_wait();
      destroyed.arrive_and_wait();
      // A fresh engine on the same thread gets a fresh ring.
      std::unique_ptr<IoEngine> next = MakeEngine();
      if (next == nullptr || !next->Read(fd, 0, buf).has_value()) failures.fetch_add(1);
    });
  }
  used.arrive_and_wait();
  engine_.reset();
  EXPECT_EQ(CountIoUringFds(), fds_before) << "rings outlived their engine";
  destroyed.arrive_and_wait();
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(CountIoUringFds(), fds_before) << "rings outlived their threads";
  EXPECT_EQ(::close(fd), 0);
  EXPECT_EQ(::close(wfd), 0);
}

// Threads that used the engine exit first; their rings go with them and the
// engine keeps working for the threads that remain and new ones.
TEST_P(EngineConformanceTest, ThreadsExitBeforeEngineIsDestroyed) {
  const int fd = OpenOrDie(path_, O_RDONLY);
  std::vector<std::byte> buf(4096);
  ASSERT_OK(engine_->Read(fd, 0, buf));  // the main thread's ring, if any
  const int fds_with_main = CountIoUringFds();
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> threads;
    threads.reserve(8);
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::byte> local(4096);
        const IoResult r = engine_->Read(fd, static_cast<uint64_t>(t) * 4096, local);
        if (!r.has_value() ||
            FirstPatternMismatch(local, static_cast<uint64_t>(t) * 4096, seed_) != -1) {
          failures.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(CountIoUringFds(), fds_with_main)
        << "round " << round << ": exited threads kept rings";
  }
  ASSERT_OK_AND_ASSIGN(const size_t n, engine_->Read(fd, 4096, buf));
  EXPECT_EQ(n, 4096u);
  EXPECT_EQ(FirstPatternMismatch(buf, 4096, seed_), -1);
  EXPECT_OK(engine_->Close(fd));
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineConformanceTest,
                         ::testing::Values(IoEngineKind::kStdFs, IoEngineKind::kIoUring),
                         [](const auto& info) { return KindParamName(info.param); });

// --- io-uring specifics ---

class UringEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PS_SKIP_IF_NO_URING(IoEngineKind::kIoUring);
    IoEngineOptions options;
    options.kind = IoEngineKind::kIoUring;
    options.registry = &registry_;
    auto engine = CreateIoEngine(options);
    ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
    engine_ = std::move(engine).value();
  }

  common::Registry registry_;
  pageserver::testing::TempDir dir_;
  std::unique_ptr<IoEngine> engine_;
};

TEST_F(UringEngineTest, WaitWriteOnAnotherThreadIsInvalidArgumentNotHang) {
  auto fd = engine_->Open(dir_.File("x"), O_RDWR | O_CREAT, 0644);
  ASSERT_OK(fd);
  const std::vector<std::byte> data(4096, std::byte{7});
  ASSERT_OK_AND_ASSIGN(AsyncIo ticket, engine_->SubmitWrite(*fd, 0, data));
  const uint64_t id = ticket.id();
  auto other = std::async(std::launch::async, [&] { return engine_->WaitWrite(AsyncIo(id)); });
  const IoResult r = other.get();
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("submitted")));
  // The write is still pending on this thread and completes normally.
  ASSERT_OK_AND_ASSIGN(const size_t n, engine_->WaitWrite(std::move(ticket)));
  EXPECT_EQ(n, 4096u);
  EXPECT_OK(engine_->Close(*fd));
}

TEST_F(UringEngineTest, QueueDepthHistogramObservesEverySubmit) {
  pageserver::testing::TempDir dir;
  const std::string path = dir.File("f");
  ASSERT_TRUE(WritePatternFile(path, 65536, 1));
  auto fd = engine_->Open(path, O_RDONLY, 0);
  ASSERT_OK(fd);
  std::vector<std::byte> buf(size_t{16} * 4096);
  std::vector<IoRequest> requests;
  for (size_t i = 0; i < 16; ++i) {
    requests.push_back(IoRequest::Read(*fd, i * 4096, {buf.data() + i * 4096, 4096}));
  }
  std::vector<IoResult> results(16, Status::Internal("unset"));
  engine_->SubmitBatch(requests, results);
  for (const IoResult& r : results) ASSERT_OK(r);
  const common::Histogram& h =
      registry_.GetHistogram("ps_io_uring_queue_depth", "", common::ExponentialBuckets(1, 2, 9));
  EXPECT_GE(h.Count(), 1u);
  // One io_uring_submit for the whole batch: 16 in flight at once.
  EXPECT_GE(h.Sum(), 16.0);
  const std::string text = registry_.RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("# HELP ps_io_uring_queue_depth Number of requests in flight"));
  EXPECT_THAT(text, HasSubstr("ps_io_uring_queue_depth_bucket{le=\"16\"}"));
  EXPECT_OK(engine_->Close(*fd));
}

TEST_F(UringEngineTest, ManyEnginesOnOneThreadEachGetTheirOwnRing) {
  const int before = CountIoUringFds();
  std::vector<std::unique_ptr<IoEngine>> engines;
  for (int i = 0; i < 5; ++i) {
    IoEngineOptions options;
    options.kind = IoEngineKind::kIoUring;
    options.registry = &registry_;
    ASSERT_OK_AND_ASSIGN(auto engine, CreateIoEngine(options));
    EXPECT_EQ(engine->Fsync(1'000'000).error_number(), EBADF);  // creates this thread's ring
    engines.push_back(std::move(engine));
  }
  EXPECT_EQ(CountIoUringFds(), before + 5);
  engines.clear();
  EXPECT_EQ(CountIoUringFds(), before);
}

}  // namespace
}  // namespace pageserver::io_engine
