#include <gtest/gtest.h>

#include <string>

#include "common/metrics.h"
#include "tests/support/status_matchers.h"
#include "virtual_file/io_metrics.h"
#include "virtual_file/io_mode.h"

namespace pageserver::virtual_file {
namespace {

using common::StatusCode;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(IoModeTest, ParsesEveryConfigSpellingAndNamesItBack) {
  for (IoMode mode : {IoMode::kBuffered, IoMode::kDirect, IoMode::kDirectRw}) {
    ASSERT_OK_AND_ASSIGN(const IoMode parsed, ParseIoMode(IoModeName(mode)));
    EXPECT_EQ(parsed, mode);
  }
  EXPECT_EQ(IoModeName(IoMode::kDirectRw), "direct-rw");
}

TEST(IoModeTest, UnknownTextIsInvalidArgumentNamingTextAndAcceptedValues) {
  EXPECT_THAT(
      ParseIoMode("O_DIRECT"),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("'O_DIRECT'"), HasSubstr("buffered"),
                                                   HasSubstr("direct"), HasSubstr("direct-rw"))));
  EXPECT_THAT(ParseIoMode(""), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIoMode("Direct"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(IoModeTest, ODirectFollowsNeonsModeTable) {
  EXPECT_FALSE(UsesODirect(IoMode::kBuffered, OpenIntent::kRead));
  EXPECT_FALSE(UsesODirect(IoMode::kBuffered, OpenIntent::kWrite));
  EXPECT_FALSE(UsesODirect(IoMode::kBuffered, OpenIntent::kReadWrite));
  EXPECT_TRUE(UsesODirect(IoMode::kDirect, OpenIntent::kRead));
  EXPECT_FALSE(UsesODirect(IoMode::kDirect, OpenIntent::kWrite));
  EXPECT_FALSE(UsesODirect(IoMode::kDirect, OpenIntent::kReadWrite));
  EXPECT_TRUE(UsesODirect(IoMode::kDirectRw, OpenIntent::kRead));
  EXPECT_TRUE(UsesODirect(IoMode::kDirectRw, OpenIntent::kWrite));
  EXPECT_TRUE(UsesODirect(IoMode::kDirectRw, OpenIntent::kReadWrite));
}

TEST(FileOpTest, NamesAreTheMetricLabelValues) {
  EXPECT_EQ(FileOpName(FileOp::kOpen), "open");
  EXPECT_EQ(FileOpName(FileOp::kSetLen), "set_len");
  EXPECT_EQ(FileOpName(FileOp::kMetadata), "metadata");
  EXPECT_EQ(static_cast<size_t>(FileOp::kMetadata) + 1, kFileOpCount);
}

TEST(IoMetricsTest, RecordCountsLatencyBytesAndErrorsPerOp) {
  common::Registry registry;
  IoMetrics metrics(registry, "std-fs", IoMode::kDirect);
  metrics.Record(FileOp::kRead, 2'000, 8192, true);
  metrics.Record(FileOp::kRead, 3'000, 0, false);
  metrics.Record(FileOp::kFsync, 1'000'000, 0, true);
  const std::string text = registry.RenderPrometheusText();
  const std::string read = R"({engine="std-fs",mode="direct",op="read"})";
  EXPECT_THAT(text, HasSubstr("ps_virtual_file_op_seconds_count" + read + " 2\n"));
  EXPECT_THAT(text, HasSubstr("ps_virtual_file_bytes_total" + read + " 8192\n"));
  EXPECT_THAT(text, HasSubstr("ps_virtual_file_errors_total" + read + " 1\n"));
  EXPECT_THAT(text, HasSubstr("ps_virtual_file_op_seconds_sum" + read + " 5e-06\n"));
  EXPECT_THAT(
      text,
      HasSubstr(R"(ps_virtual_file_op_seconds_count{engine="std-fs",mode="direct",op="fsync"} 1)"));
}

TEST(IoMetricsTest, SeriesExistFromConstructionWithZeroCounts) {
  common::Registry registry;
  IoMetrics metrics(registry, "io-uring", IoMode::kBuffered);
  const std::string text = registry.RenderPrometheusText();
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(ps_virtual_file_errors_total{engine="io-uring",mode="buffered",op="rename"} 0)"));
  // Only reads and writes move bytes.
  EXPECT_THAT(
      text,
      HasSubstr(R"(ps_virtual_file_bytes_total{engine="io-uring",mode="buffered",op="write"} 0)"));
  EXPECT_THAT(text,
              ::testing::Not(HasSubstr(
                  R"(ps_virtual_file_bytes_total{engine="io-uring",mode="buffered",op="open"})")));
}

}  // namespace
}  // namespace pageserver::virtual_file
