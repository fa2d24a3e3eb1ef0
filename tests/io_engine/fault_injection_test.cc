// Kernel misbehaviour injected below the retry logic (FaultPlan), for every
// engine: what must be invisible stays invisible, what must surface surfaces
// with context, and nothing hangs or poisons the engine.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "io_engine/completion.h"
#include "io_engine/fault_injector.h"
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

constexpr uint64_t kFileSize = 256 * 1024 + 77;

class FaultInjectionTest : public ::testing::TestWithParam<IoEngineKind> {
 protected:
  void SetUp() override {
    PS_SKIP_IF_NO_URING(GetParam());
    seed_ = TestSeed();
    path_ = dir_.File("data");
    ASSERT_TRUE(WritePatternFile(path_, kFileSize, seed_));
  }

  std::unique_ptr<IoEngine> MakeEngine(FaultPlan plan, unsigned ring_entries = 128) {
    plan.seed = seed_;
    IoEngineOptions options;
    options.kind = GetParam();
    options.faults = plan;
    options.ring_entries = ring_entries;
    options.registry = &registry_;
    auto engine = CreateIoEngine(options);
    EXPECT_TRUE(engine.has_value()) << engine.error().ToString();
    return engine.has_value() ? std::move(engine).value() : nullptr;
  }

  int OpenOrDie(IoEngine& engine, const std::string& path, int flags) {
    auto fd = engine.Open(path, flags, 0644);
    EXPECT_TRUE(fd.has_value()) << fd.error().ToString();
    return fd.has_value() ? *fd : -1;
  }

  common::Registry registry_;
  pageserver::testing::TempDir dir_;
  std::string path_;
  uint64_t seed_ = 0;
};

// Reads a batch of `n` random ranges; returns {ok, failed} counts after
// checking every success byte for byte and every failure's errno.
std::pair<int, int> ReadBatchExpecting(IoEngine& engine, int fd, std::mt19937_64& rng,
                                       uint64_t seed, size_t n, int failure_errno) {
  RandomReads reads(fd, rng, n, 8192, kFileSize, true);
  reads.Run(engine);
  std::pair<int, int> counts{0, 0};
  for (size_t i = 0; i < n; ++i) {
    const IoResult& r = reads.results[i];
    if (!r.has_value()) {
      EXPECT_EQ(r.error().error_number(), failure_errno) << r.error().ToString();
      EXPECT_THAT(std::string(r.error().message()), HasSubstr("read fd="));
      ++counts.second;
      continue;
    }
    EXPECT_EQ(*r, reads.bufs[i].size());
    EXPECT_EQ(FirstPatternMismatch(reads.bufs[i], reads.requests[i].offset, seed), -1);
    ++counts.first;
  }
  return counts;
}

TEST(FaultInjectorTest, ShortTransfersAreWholeUnitsAndNeverTheWholeTransfer) {
  FaultPlan plan;
  plan.seed = TestSeed();
  plan.short_one_in = 1;  // every eligible transfer is shortened
  plan.short_unit = 512;
  FaultInjector faults(plan);
  for (int i = 0; i < 1000; ++i) {
    const int64_t got = faults.Apply(IoOpcode::kRead, 8192, 8192);
    ASSERT_GT(got, 0);
    ASSERT_LT(got, 8192);
    ASSERT_EQ(got % 512, 0) << got;
  }
  // An EOF tail that is not a multiple of the unit shortens to whole units.
  EXPECT_EQ(faults.Apply(IoOpcode::kRead, 8192, 700), 512);
  // A single unit cannot be shortened.
  EXPECT_EQ(faults.Apply(IoOpcode::kWrite, 512, 512), 512);
  // Errors and EOF pass through untouched.
  EXPECT_EQ(faults.Apply(IoOpcode::kRead, 8192, 0), 0);
  EXPECT_EQ(faults.Apply(IoOpcode::kRead, 8192, -EIO), -EIO);
}

TEST(FaultInjectorTest, UnitOfOneShortensToAnyPrefix) {
  FaultPlan plan;
  plan.seed = TestSeed();
  plan.short_one_in = 1;
  FaultInjector faults(plan);
  bool saw_odd = false;
  for (int i = 0; i < 200; ++i) {
    const int64_t got = faults.Apply(IoOpcode::kRead, 4096, 4096);
    ASSERT_GE(got, 1);
    ASSERT_LT(got, 4096);
    saw_odd |= got % 2 == 1;
  }
  EXPECT_TRUE(saw_odd);
}

TEST_P(FaultInjectionTest, ShortReadsAndEagainAreTransparent) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.short_one_in = 2, .eagain_one_in = 3});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::mt19937_64 rng(seed_);
  for (int round = 0; round < 20; ++round) {
    RandomReads reads(fd, rng, 24, 20000, kFileSize, true);
    reads.Run(*engine);
    for (size_t i = 0; i < reads.requests.size(); ++i) {
      ASSERT_OK(reads.results[i]);
      ASSERT_EQ(*reads.results[i], reads.bufs[i].size());
      ASSERT_EQ(FirstPatternMismatch(reads.bufs[i], reads.requests[i].offset, seed_), -1);
    }
  }
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, ShortWritesAndEagainAreTransparent) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.short_one_in = 2, .eagain_one_in = 3}, 8);
  ASSERT_NE(engine, nullptr);
  const std::string path = dir_.File("written");
  const int fd = OpenOrDie(*engine, path, O_RDWR | O_CREAT | O_TRUNC);
  constexpr size_t kChunk = 10000;
  constexpr size_t kChunks = 20;
  const std::vector<std::byte> data = PatternBytes(0, kChunk * kChunks, seed_);
  std::vector<IoRequest> requests;
  for (size_t i = 0; i < kChunks / 2; ++i) {
    requests.push_back(IoRequest::Write(fd, i * kChunk, {data.data() + i * kChunk, kChunk}));
  }
  std::vector<IoResult> results(requests.size(), Status::Internal("unset"));
  engine->SubmitBatch(requests, results);
  for (const IoResult& r : results) {
    ASSERT_OK(r);
    ASSERT_EQ(*r, kChunk);
  }
  // The second half as async writes, all outstanding at once.
  std::vector<AsyncIo> tickets;
  for (size_t i = kChunks / 2; i < kChunks; ++i) {
    ASSERT_OK_AND_ASSIGN(AsyncIo t,
                         engine->SubmitWrite(fd, i * kChunk, {data.data() + i * kChunk, kChunk}));
    tickets.push_back(std::move(t));
  }
  for (AsyncIo& t : tickets) {
    ASSERT_OK_AND_ASSIGN(const size_t n, engine->WaitWrite(std::move(t)));
    ASSERT_EQ(n, kChunk);
  }
  EXPECT_OK(engine->Fsync(fd));
  EXPECT_TRUE(ReadWholeFile(path) == data);
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, ZeroByteReadSurfacesAsEmptyResult) {
  auto engine = MakeEngine({.zero_one_in = 1});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::vector<std::byte> buf(4096);
  ASSERT_OK_AND_ASSIGN(const size_t n, engine->Read(fd, 8192, buf));
  EXPECT_EQ(n, 0u);
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, ZeroByteReadsAfterProgressSurfaceAsShortPrefix) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.short_one_in = 2, .zero_one_in = 3});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::mt19937_64 rng(seed_);
  int short_results = 0;
  for (int i = 0; i < 200; ++i) {
    std::vector<std::byte> buf(1 + rng() % 16384);
    const uint64_t offset = rng() % (kFileSize - buf.size());
    ASSERT_OK_AND_ASSIGN(const size_t n, engine->Read(fd, offset, buf));
    ASSERT_LE(n, buf.size());
    if (n < buf.size()) ++short_results;
    // Whatever is reported is exactly right: a prefix, never garbage.
    ASSERT_EQ(FirstPatternMismatch({buf.data(), n}, offset, seed_), -1);
  }
  EXPECT_GT(short_results, 0);
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, InjectedEioReachesCallerWithContext) {
  auto engine = MakeEngine({.error_one_in = 1, .error_errno = EIO});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDWR);
  std::vector<std::byte> buf(4096);
  const std::string fd_text = "fd=" + std::to_string(fd);

  const IoResult read = engine->Read(fd, 12288, buf);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().error_number(), EIO);
  EXPECT_TRUE(read.error().IsFatal());
  EXPECT_THAT(read, StatusIs(StatusCode::kIoError,
                             HasSubstr("read " + fd_text + " offset=12288 length=4096")));

  const IoResult write = engine->Write(fd, 4096, buf);
  EXPECT_TRUE(write.error().IsFatal());
  EXPECT_THAT(write, StatusIs(StatusCode::kIoError,
                              HasSubstr("write " + fd_text + " offset=4096 length=4096")));

  const Status sync = engine->Fdatasync(fd);
  EXPECT_EQ(sync.error_number(), EIO);
  EXPECT_THAT(sync, StatusIs(StatusCode::kIoError, HasSubstr("fdatasync " + fd_text)));

  ASSERT_OK_AND_ASSIGN(AsyncIo ticket, engine->SubmitWrite(fd, 0, buf));
  const IoResult async = engine->WaitWrite(std::move(ticket));
  EXPECT_EQ(async.error().error_number(), EIO);
  EXPECT_THAT(async, StatusIs(StatusCode::kIoError, HasSubstr("write " + fd_text + " offset=0")));
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, InjectedErrnoIsConfigurable) {
  auto engine = MakeEngine({.error_one_in = 1, .error_errno = ENOSPC});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, dir_.File("w"), O_RDWR | O_CREAT);
  const std::vector<std::byte> buf(100);
  const IoResult r = engine->Write(fd, 0, buf);
  EXPECT_EQ(r.error().error_number(), ENOSPC);
  EXPECT_TRUE(r.error().IsRetryable());
  EXPECT_OK(engine->Close(fd));
}

// Random EIO mixed with short transfers and EAGAIN on a small ring: every
// request ends (data exact or EIO), and the engine keeps serving.
TEST_P(FaultInjectionTest, RandomEioNeverHangsAndEngineStaysUsable) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.error_one_in = 5, .short_one_in = 3, .eagain_one_in = 4}, 4);
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::mt19937_64 rng(seed_);
  int ok = 0;
  int failed = 0;
  for (int round = 0; round < 20; ++round) {
    const auto [good, bad] = ReadBatchExpecting(*engine, fd, rng, seed_, 64, EIO);
    ok += good;
    failed += bad;
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, EngineServesCleanRequestsAfterErrors) {
  // error_one_in = 2: about half the attempts fail; a request retried by the
  // caller eventually succeeds on the same engine (and ring).
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.error_one_in = 2});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::vector<std::byte> buf(4096);
  bool succeeded = false;
  for (int attempt = 0; attempt < 200 && !succeeded; ++attempt) {
    const IoResult r = engine->Read(fd, 40960, buf);
    if (r.has_value()) {
      EXPECT_EQ(*r, 4096u);
      EXPECT_EQ(FirstPatternMismatch(buf, 40960, seed_), -1);
      succeeded = true;
    }
  }
  EXPECT_TRUE(succeeded);
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, EndlessEagainFailsWithEioInsteadOfHanging) {
  auto engine = MakeEngine({.eagain_one_in = 1});
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::vector<std::byte> buf(512);
  const IoResult r = engine->Read(fd, 0, buf);
  EXPECT_EQ(r.error().error_number(), EIO) << r.error().ToString();
  EXPECT_OK(engine->Close(fd));
}

TEST_P(FaultInjectionTest, RefuseODirectFailsOnlyODirectOpens) {
  auto engine = MakeEngine({.refuse_o_direct = true});
  ASSERT_NE(engine, nullptr);
  const auto direct = engine->Open(path_, O_RDONLY | O_DIRECT, 0);
  EXPECT_THAT(direct, StatusIs(StatusCode::kInvalidArgument, HasSubstr(path_)));
  EXPECT_EQ(direct.error().error_number(), EINVAL);
  ASSERT_OK_AND_ASSIGN(const int fd, engine->Open(path_, O_RDONLY, 0));
  std::vector<std::byte> buf(100);
  ASSERT_OK_AND_ASSIGN(const size_t n, engine->Read(fd, 0, buf));
  EXPECT_EQ(n, 100u);
  EXPECT_OK(engine->Close(fd));
}

INSTANTIATE_TEST_SUITE_P(Engines, FaultInjectionTest,
                         ::testing::Values(IoEngineKind::kStdFs, IoEngineKind::kIoUring),
                         [](const auto& info) { return KindParamName(info.param); });

// --- io_uring_submit failures (io-uring only) ---

class UringSubmitFaultTest : public FaultInjectionTest {
 protected:
  void SetUp() override {
    PS_SKIP_IF_NO_URING(IoEngineKind::kIoUring);
    FaultInjectionTest::SetUp();
  }
};

TEST_P(UringSubmitFaultTest, SubmitBusyIsReapedAndRetriedTransparently) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.short_one_in = 3, .submit_busy_one_in = 2}, 4);
  ASSERT_NE(engine, nullptr);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  std::mt19937_64 rng(seed_);
  for (int round = 0; round < 10; ++round) {
    const auto [ok, failed] = ReadBatchExpecting(*engine, fd, rng, seed_, 48, 0);
    EXPECT_EQ(ok, 48);
    EXPECT_EQ(failed, 0);
  }
  EXPECT_OK(engine->Close(fd));
}

TEST_P(UringSubmitFaultTest, RingFailureFailsUnsubmittedRequestsAndRingIsRebuilt) {
  SCOPED_TRACE(SeedTrace(seed_));
  const int fds_before = CountIoUringFds();
  {
    auto engine = MakeEngine({.short_one_in = 3, .ring_failure_one_in = 6}, 4);
    ASSERT_NE(engine, nullptr);
    const int fd = OpenOrDie(*engine, path_, O_RDONLY);
    std::mt19937_64 rng(seed_);
    int ok = 0;
    int failed = 0;
    for (int round = 0; round < 20; ++round) {
      const auto [o, f] = ReadBatchExpecting(*engine, fd, rng, seed_, 32, ENXIO);
      ok += o;
      failed += f;
      EXPECT_LE(CountIoUringFds(), fds_before + 1) << "a broken ring was not released";
    }
    EXPECT_GT(ok, 0);
    EXPECT_GT(failed, 0);
    EXPECT_OK(engine->Close(fd));
  }
  EXPECT_EQ(CountIoUringFds(), fds_before);
}

TEST_P(UringSubmitFaultTest, AsyncWritesSurviveRingFailures) {
  SCOPED_TRACE(SeedTrace(seed_));
  auto engine = MakeEngine({.submit_busy_one_in = 3, .ring_failure_one_in = 5}, 4);
  ASSERT_NE(engine, nullptr);
  const std::string path = dir_.File("async");
  const int fd = OpenOrDie(*engine, path, O_RDWR | O_CREAT | O_TRUNC);
  constexpr size_t kN = 30;
  constexpr size_t kLen = 4096;
  const std::vector<std::byte> data = PatternBytes(0, kN * kLen, seed_);
  std::vector<AsyncIo> tickets;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_OK_AND_ASSIGN(AsyncIo t,
                         engine->SubmitWrite(fd, i * kLen, {data.data() + i * kLen, kLen}));
    tickets.push_back(std::move(t));
  }
  std::vector<bool> written(kN);
  for (size_t i = 0; i < kN; ++i) {
    const IoResult r = engine->WaitWrite(std::move(tickets[i]));
    if (r.has_value()) {
      EXPECT_EQ(*r, kLen);
      written[i] = true;
    } else {
      EXPECT_EQ(r.error().error_number(), ENXIO) << r.error().ToString();
    }
  }
  const std::vector<std::byte> back = ReadWholeFile(path);
  for (size_t i = 0; i < kN; ++i) {
    if (!written[i]) continue;
    ASSERT_GE(back.size(), (i + 1) * kLen);
    EXPECT_EQ(FirstPatternMismatch({back.data() + i * kLen, kLen}, i * kLen, seed_), -1) << i;
  }
  EXPECT_OK(engine->Close(fd));
}

// A pipe read stays in flight until data arrives, so a ring failure in the
// same batch must wait for it (reap it) rather than abandon its buffer.
TEST_P(UringSubmitFaultTest, RingFailureStillReapsInFlightRequests) {
  // Find a seed whose first io_uring_submit succeeds and second fails (with
  // only ring_failure_one_in set, each submit draws exactly once).
  FaultPlan plan{.ring_failure_one_in = 2};
  for (plan.seed = 0;; ++plan.seed) {
    FaultInjector probe(plan);
    if (probe.BeforeRingSubmit() == 0 && probe.BeforeRingSubmit() == -ENXIO) break;
  }
  const uint64_t file_seed = seed_;  // the pattern file's
  seed_ = plan.seed;                 // MakeEngine's fault seed
  auto engine = MakeEngine(plan, 4);
  ASSERT_NE(engine, nullptr);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const int fd = OpenOrDie(*engine, path_, O_RDONLY);
  // Wave 1 (4 SQEs): the pipe read (stays in flight) + 3 file reads. Wave 2
  // fails; the batch can only return once the pipe read is reaped.
  constexpr size_t kN = 10;
  std::vector<std::vector<std::byte>> bufs(kN, std::vector<std::byte>(512));
  std::vector<IoRequest> requests = {IoRequest::Read(pipe_fds[0], 0, bufs[0])};
  for (size_t i = 1; i < kN; ++i) requests.push_back(IoRequest::Read(fd, i * 512, bufs[i]));
  std::vector<IoResult> results(kN, Status::Internal("unset"));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::vector<std::byte> msg = PatternBytes(0, 512, 99);
    EXPECT_EQ(::write(pipe_fds[1], msg.data(), msg.size()), 512);
  });
  engine->SubmitBatch(requests, results);
  writer.join();
  ASSERT_OK(results[0]);
  EXPECT_EQ(FirstPatternMismatch(bufs[0], 0, 99), -1);
  for (size_t i = 1; i < 4; ++i) {
    ASSERT_OK(results[i]);
    EXPECT_EQ(FirstPatternMismatch(bufs[i], i * 512, file_seed), -1);
  }
  for (size_t i = 4; i < kN; ++i) {
    EXPECT_EQ(results[i].error().error_number(), ENXIO)
        << i << ": " << results[i].error().ToString();
  }
  // The next call rebuilds the ring; later submits fail at random, so retry.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    served = engine->Read(fd, 0, bufs[1]).has_value();
  }
  EXPECT_TRUE(served);
  EXPECT_OK(engine->Close(fd));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

INSTANTIATE_TEST_SUITE_P(IoUring, UringSubmitFaultTest, ::testing::Values(IoEngineKind::kIoUring),
                         [](const auto& info) { return KindParamName(info.param); });

}  // namespace
}  // namespace pageserver::io_engine
