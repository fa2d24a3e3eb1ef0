// The latency-padding decorator: profile parsing, "at least the target",
// the fully-parallel batch model, and error pass-through. Timing assertions
// are one-sided or have wide margins (ordering-based, not tight targets).

#include "io_engine/latency_padding.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "common/metrics.h"
#include "tests/io_engine/engine_test_util.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::io_engine {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// --- Parsing ---

TEST(ParseLatencyProfileTest, AcceptsFixedDurationsInEveryUnit) {
  struct Case {
    const char* text;
    nanoseconds want;
  };
  for (const Case& c : {Case{"80us", microseconds(80)}, Case{"1.5ms", microseconds(1500)},
                        Case{"250ns", nanoseconds(250)}, Case{"2s", milliseconds(2000)},
                        Case{"0.002s", milliseconds(2)}, Case{"0us", nanoseconds(0)}}) {
    ASSERT_OK_AND_ASSIGN(const LatencyProfile p, ParseLatencyProfile(c.text));
    EXPECT_TRUE(p.fixed()) << c.text;
    EXPECT_EQ(p.p50, c.want) << c.text;
    EXPECT_EQ(p.p99, c.want) << c.text;
  }
}

TEST(ParseLatencyProfileTest, AcceptsP50SlashP99) {
  ASSERT_OK_AND_ASSIGN(const LatencyProfile p, ParseLatencyProfile("60us/250us"));
  EXPECT_FALSE(p.fixed());
  EXPECT_EQ(p.p50, microseconds(60));
  EXPECT_EQ(p.p99, microseconds(250));
  ASSERT_OK_AND_ASSIGN(const LatencyProfile mixed, ParseLatencyProfile("500us/1.2ms"));
  EXPECT_EQ(mixed.p99, microseconds(1200));
}

TEST(ParseLatencyProfileTest, EqualQuantilesAreFixed) {
  ASSERT_OK_AND_ASSIGN(const LatencyProfile p, ParseLatencyProfile("80us/80us"));
  EXPECT_TRUE(p.fixed());
}

TEST(ParseLatencyProfileTest, RejectsMalformedTextNamingIt) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c :
       {Case{"", "missing number"}, Case{"80", "missing unit"}, Case{"us", "missing number"},
        Case{"80xs", "unknown unit 'xs'"}, Case{"80 us", "unknown unit ' us'"},
        Case{"-5us", "out of range"}, Case{"1/2us", "missing unit"},
        Case{"60us/", "missing number"}, Case{"250us/60us", "p50 is greater than p99"},
        Case{"0us/10us", "p50 must be positive"}, Case{"2h", "unknown unit"},
        Case{"1e30s", "out of range"}, Case{"nanus", "out of range"}}) {
    const auto p = ParseLatencyProfile(c.text);
    EXPECT_THAT(p, StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.why)))
        << "'" << c.text << "'";
    EXPECT_THAT(p, StatusIs(StatusCode::kInvalidArgument,
                            HasSubstr("latency profile '" + std::string(c.text) + "'")));
  }
}

// --- Padding ---

class LatencyPaddingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("data");
    // Written just now, so reads hit the page cache and take microseconds.
    ASSERT_TRUE(testutil::WritePatternFile(path_, 1 << 20, 3));
  }

  std::unique_ptr<IoEngine> Padded(const LatencyProfile& profile,
                                   IoEngineKind kind = IoEngineKind::kStdFs) {
    IoEngineOptions options;
    options.kind = kind;
    options.registry = &registry_;
    auto inner = CreateIoEngine(options);
    EXPECT_TRUE(inner.has_value()) << inner.error().ToString();
    return inner.has_value() ? WithLatencyPadding(std::move(inner).value(), profile) : nullptr;
  }

  common::Registry registry_;
  pageserver::testing::TempDir dir_;
  std::string path_;
};

TEST_F(LatencyPaddingTest, NameIsInnerEngineName) {
  EXPECT_EQ(Padded(LatencyProfile::Fixed(microseconds(1)))->name(), "std-fs");
}

TEST_F(LatencyPaddingTest, PaddedReadOfCachedFileTakesAtLeastTarget) {
  for (IoEngineKind kind : {IoEngineKind::kStdFs, IoEngineKind::kAuto}) {
    auto engine = Padded(LatencyProfile::Fixed(milliseconds(2)), kind);
    ASSERT_NE(engine, nullptr);
    ASSERT_OK_AND_ASSIGN(const int fd, engine->Open(path_, O_RDONLY, 0));
    std::vector<std::byte> buf(4096);
    for (int i = 0; i < 5; ++i) {
      const Clock::time_point start = Clock::now();
      ASSERT_OK_AND_ASSIGN(const size_t n, engine->Read(fd, uint64_t{4096} * i, buf));
      const auto elapsed = Clock::now() - start;
      EXPECT_EQ(n, 4096u);
      EXPECT_GE(elapsed, milliseconds(2)) << engine->name();
    }
    EXPECT_OK(engine->Close(fd));
  }
}

TEST_F(LatencyPaddingTest, BatchOfSixteenTakesAboutOneLatencyNotSixteen) {
  constexpr auto kLatency = milliseconds(5);
  constexpr size_t kN = 16;
  auto engine = Padded(LatencyProfile::Fixed(kLatency));
  ASSERT_OK_AND_ASSIGN(const int fd, engine->Open(path_, O_RDONLY, 0));
  std::vector<std::byte> buf(kN * 4096);
  std::vector<IoRequest> requests;
  for (size_t i = 0; i < kN; ++i) {
    requests.push_back(IoRequest::Read(fd, i * 4096, {buf.data() + i * 4096, 4096}));
  }
  std::vector<IoResult> results(kN, Status::Internal("unset"));
  const Clock::time_point start = Clock::now();
  engine->SubmitBatch(requests, results);
  const auto elapsed = Clock::now() - start;
  for (const IoResult& r : results) ASSERT_OK(r);
  EXPECT_GE(elapsed, kLatency);
  EXPECT_LT(elapsed, kLatency * kN / 2);
  EXPECT_OK(engine->Close(fd));
}

TEST_F(LatencyPaddingTest, AsyncWriteIsPaddedFromSubmitToWait) {
  constexpr auto kLatency = milliseconds(3);
  auto engine = Padded(LatencyProfile::Fixed(kLatency));
  ASSERT_OK_AND_ASSIGN(const int fd, engine->Open(dir_.File("w"), O_RDWR | O_CREAT, 0644));
  const std::vector<std::byte> data = testutil::PatternBytes(0, 8192, 4);
  const Clock::time_point start = Clock::now();
  ASSERT_OK_AND_ASSIGN(AsyncIo ticket, engine->SubmitWrite(fd, 0, data));
  ASSERT_OK_AND_ASSIGN(const size_t n, engine->WaitWrite(std::move(ticket)));
  EXPECT_GE(Clock::now() - start, kLatency);
  EXPECT_EQ(n, data.size());
  EXPECT_TRUE(testutil::ReadWholeFile(dir_.File("w")) == data);
  EXPECT_OK(engine->Close(fd));
}

TEST_F(LatencyPaddingTest, QuantileProfileIsNeverFasterThanRealAndCentersNearP50) {
  // p50 = 300 us, p99 = 3 ms: the median of 101 padded reads lies between
  // p50 (it can only be slower) and a generous bound that real read time
  // under sanitizers cannot reach.
  auto engine = Padded(LatencyProfile::Quantiles(microseconds(300), milliseconds(3)));
  ASSERT_OK_AND_ASSIGN(const int fd, engine->Open(path_, O_RDONLY, 0));
  std::vector<std::byte> buf(512);
  std::vector<nanoseconds> latencies;
  for (int i = 0; i < 101; ++i) {
    const Clock::time_point start = Clock::now();
    ASSERT_OK(engine->Read(fd, uint64_t{512} * i, buf));
    latencies.push_back(Clock::now() - start);
  }
  std::nth_element(latencies.begin(), latencies.begin() + 50, latencies.end());
  const nanoseconds median = latencies[50];
  EXPECT_GE(median,
            microseconds(200));  // a sample below p50 is possible; the median is not far below
  EXPECT_LT(median, milliseconds(2));
  EXPECT_OK(engine->Close(fd));
}

TEST_F(LatencyPaddingTest, ErrorsPassThroughUnchanged) {
  auto engine = Padded(LatencyProfile::Fixed(microseconds(100)));
  const IoResult bad = engine->Read(1'000'000, 0, {});
  // Zero-length reads succeed without touching the fd on every engine.
  ASSERT_OK(bad);
  std::vector<std::byte> buf(10);
  const IoResult ebadf = engine->Read(1'000'000, 0, buf);
  EXPECT_EQ(ebadf.error().error_number(), EBADF);
  EXPECT_THAT(ebadf, StatusIs(StatusCode::kInvalidArgument, HasSubstr("read fd=1000000")));
  EXPECT_THAT(engine->Open(dir_.File("missing"), O_RDONLY, 0), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(engine->Fsync(1'000'000).error_number(), EBADF);
  EXPECT_THAT(engine->WaitWrite(AsyncIo()), StatusIs(StatusCode::kInvalidArgument));
}

TEST(WaitUntilMonotonicTest, ReturnsAtOnceForPastDeadline) {
  const Clock::time_point start = Clock::now();
  WaitUntilMonotonic(start - milliseconds(5));
  EXPECT_LT(Clock::now() - start, milliseconds(5));
}

TEST(WaitUntilMonotonicTest, NeverReturnsBeforeDeadline) {
  for (auto wait : {microseconds(10), microseconds(60), microseconds(500), microseconds(2000)}) {
    const Clock::time_point deadline = Clock::now() + wait;
    WaitUntilMonotonic(deadline);
    EXPECT_GE(Clock::now(), deadline) << wait.count() << "us";
  }
}

}  // namespace
}  // namespace pageserver::io_engine
