// BatchPipeline (server/page_service_pipeline.h): jobs run concurrently up
// to the depth, sends happen in submission order, the first send error is
// sticky, and destruction waits for everything submitted.

#include "server/page_service_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::server {
namespace {

using common::Status;
using common::StatusCode;
using ::testing::HasSubstr;
using testing::StatusIs;

// Job i renders the single byte i.
BatchPipeline::Rendered RenderIndex(size_t i) {
  BatchPipeline::Rendered r;
  r.bytes.push_back(static_cast<std::byte>(i & 0xff));
  r.payload_bytes = 1;
  return r;
}

// Records what was sent, in order.
struct SentLog {
  std::mutex mu;
  std::vector<int> sent;
  BatchPipeline::Sender Sender() {
    return [this](const BatchPipeline::Rendered& r) {
      std::lock_guard lock(mu);
      sent.push_back(std::to_integer<int>(r.bytes.at(0)));
      return Status::Ok();
    };
  }
};

TEST(BatchPipelineTest, SendsInSubmissionOrderWhateverOrderJobsFinishIn) {
  std::mt19937_64 rng(testing::TestSeed());
  SentLog log;
  constexpr size_t kJobs = 200;
  {
    BatchPipeline pipeline(4, log.Sender());
    for (size_t i = 0; i < kJobs; ++i) {
      const auto delay = std::chrono::microseconds(rng() % 300);
      ASSERT_OK(pipeline.Submit([i, delay] {
        std::this_thread::sleep_for(delay);
        return RenderIndex(i);
      }));
    }
    ASSERT_OK(pipeline.Drain());
    EXPECT_TRUE(pipeline.idle());
  }
  ASSERT_EQ(log.sent.size(), kJobs);
  for (size_t i = 0; i < kJobs; ++i) EXPECT_EQ(log.sent[i], static_cast<int>(i & 0xff)) << i;
}

TEST(BatchPipelineTest, RunsUpToDepthJobsAtOnceAndNoMore) {
  constexpr size_t kDepth = 3;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::atomic<bool> release{false};
  SentLog log;
  BatchPipeline pipeline(kDepth, log.Sender());
  auto job = [&](size_t i) {
    return [&, i] {
      const int now = running.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      while (!release.load()) std::this_thread::sleep_for(std::chrono::microseconds(50));
      running.fetch_sub(1);
      return RenderIndex(i);
    };
  };
  for (size_t i = 0; i < kDepth; ++i) ASSERT_OK(pipeline.Submit(job(i)));
  // All three run at once: none can finish before `release`.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (running.load() < static_cast<int>(kDepth) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(running.load(), static_cast<int>(kDepth));
  EXPECT_FALSE(pipeline.idle());
  // A fourth Submit blocks until one is sent.
  std::atomic<bool> fourth_queued{false};
  std::thread submitter([&] {
    EXPECT_OK(pipeline.Submit(job(kDepth)));
    fourth_queued = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fourth_queued.load());
  release = true;
  submitter.join();
  EXPECT_TRUE(fourth_queued.load());
  ASSERT_OK(pipeline.Drain());
  EXPECT_EQ(most.load(), static_cast<int>(kDepth));
  EXPECT_EQ(log.sent, (std::vector<int>{0, 1, 2, 3}));
}

TEST(BatchPipelineTest, FirstSendErrorIsStickyAndNothingLaterIsSent) {
  std::mutex mu;
  std::vector<int> sent;
  std::atomic<int> jobs_run{0};
  BatchPipeline pipeline(2, [&](const BatchPipeline::Rendered& r) {
    const int i = std::to_integer<int>(r.bytes.at(0));
    if (i == 3) return Status::IoError("send on page service connection: Broken pipe");
    std::lock_guard lock(mu);
    sent.push_back(i);
    return Status::Ok();
  });
  Status submitted;
  for (size_t i = 0; i < 20 && submitted.ok(); ++i) {
    submitted = pipeline.Submit([&, i] {
      jobs_run.fetch_add(1);
      return RenderIndex(i);
    });
  }
  EXPECT_THAT(pipeline.Drain(), StatusIs(StatusCode::kIoError, HasSubstr("Broken pipe")));
  EXPECT_THAT(pipeline.Submit([] { return RenderIndex(99); }),
              StatusIs(StatusCode::kIoError, HasSubstr("Broken pipe")));
  std::lock_guard lock(mu);
  EXPECT_EQ(sent, (std::vector<int>{0, 1, 2}));
  EXPECT_GE(jobs_run.load(), 4);
}

TEST(BatchPipelineTest, DestructionWaitsForEverySubmittedJob) {
  SentLog log;
  {
    BatchPipeline pipeline(4, log.Sender());
    for (size_t i = 0; i < 8; ++i) {
      ASSERT_OK(pipeline.Submit([i] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return RenderIndex(i);
      }));
    }
  }
  EXPECT_EQ(log.sent, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(BatchPipelineTest, DepthOneRunsOneJobAtATime) {
  std::atomic<int> running{0};
  std::atomic<bool> overlapped{false};
  SentLog log;
  {
    BatchPipeline pipeline(1, log.Sender());
    for (size_t i = 0; i < 10; ++i) {
      ASSERT_OK(pipeline.Submit([&, i] {
        if (running.fetch_add(1) != 0) overlapped = true;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        running.fetch_sub(1);
        return RenderIndex(i);
      }));
    }
  }
  EXPECT_FALSE(overlapped.load());
  EXPECT_EQ(log.sent.size(), 10u);
}

}  // namespace
}  // namespace pageserver::server
