// BufferedWriter conformance over {std-fs, io-uring} x {buffered, direct,
// direct-rw}. Appended bytes are PatternBytes(seed, logical offset), so any
// range can be checked; randomized tests print their seed (PS_TEST_SEED).

#include "virtual_file/buffered_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/align.h"
#include "tests/support/counting_engine.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::virtual_file {
namespace {

using common::StatusCode;
using ::pageserver::testing::AllIoParams;
using ::pageserver::testing::CountingEngine;
using ::pageserver::testing::FirstPatternMismatch;
using ::pageserver::testing::IoParamName;
using ::pageserver::testing::PatternBytes;
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 0xb0ff;

class BufferedWriterTest : public ::pageserver::testing::IoParamTest {
 protected:
  void OpenFile() {
    auto file = VirtualFile::Open(ctx(), path(), OpenOptions::CreateReadWrite());
    ASSERT_OK(file);
    file_.emplace(std::move(file).value());
  }
  std::string path() const { return dir().File("layer"); }
  const VirtualFile& file() const { return *file_; }
  size_t align() const { return file_->alignment(); }

  // Appends the pattern for [writer.size(), +length).
  static Status AppendPattern(BufferedWriter& writer, size_t length, uint64_t seed = kSeed) {
    return writer.Append(PatternBytes(seed, writer.size(), length));
  }

  // ReadAt [offset, offset + length) and compare with the pattern.
  static void ExpectReadBack(const BufferedWriter& writer, uint64_t offset, size_t length,
                             uint64_t seed = kSeed) {
    std::vector<std::byte> got(length);
    ASSERT_OK(writer.ReadAt(offset, got));
    EXPECT_EQ(FirstPatternMismatch(seed, offset, got), -1)
        << "offset " << offset << " length " << length;
  }

  // Routes later opens through a counting decorator of the engine.
  CountingEngine& UseCountingEngine() {
    counting_ = std::make_unique<CountingEngine>(engine());
    mutable_ctx().engine = counting_.get();
    return *counting_;
  }

  std::unique_ptr<CountingEngine> counting_;  // outlives file_
  std::optional<VirtualFile> file_;
};

TEST_P(BufferedWriterTest, RandomAppendSizesRoundTripByteForByte) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  const size_t cap = 16 * align();
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, cap));
  std::vector<size_t> sizes = {0, 1, cap, cap - 1, cap + 1, 0, 2 * cap + 3, cap, 1, cap - 1};
  constexpr size_t kTotal = 8 << 20;
  size_t total = 0;
  for (size_t i = 0; total < kTotal; ++i) {
    const size_t n = i < sizes.size() ? sizes[i] : rng() % (3 * cap + 1);
    ASSERT_OK(AppendPattern(*writer, n));
    total += n;
    ASSERT_EQ(writer->size(), total);
    if (i % 16 == 0 && total > 0) {
      const uint64_t offset = rng() % total;
      ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, offset, rng() % (total - offset + 1)));
    }
  }
  ASSERT_OK(writer->Finish());
  ASSERT_OK_AND_ASSIGN(const uint64_t size, file().Size());
  EXPECT_EQ(size, total);
  EXPECT_EQ(ReadWholeFile(path()), PatternBytes(kSeed, 0, total));
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, 0, total));  // all from disk now
}

// After 2.5 buffers: [0, cap) was written and waited for (disk), [cap, 2cap)
// is the in-flight buffer, [2cap, 2.5cap) the one being filled. The counting
// engine shows which ranges needed a disk read.
TEST_P(BufferedWriterTest, ReadAtServesDiskInFlightAndFillingRanges) {
  CountingEngine& counting = UseCountingEngine();
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const size_t cap = 4 * align();
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, cap));
  // Double buffering: a full buffer is submitted at once but waited for
  // only when appends need it again.
  ASSERT_OK(AppendPattern(*writer, 2 * cap));
  EXPECT_EQ(counting.async_writes(), 2u);
  EXPECT_EQ(counting.waits(), 0u);
  ASSERT_OK(AppendPattern(*writer, cap / 2));
  EXPECT_EQ(counting.async_writes(), 2u);
  EXPECT_EQ(counting.waits(), 1u);

  const uint64_t reads_before = counting.reads();
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, cap + 5, 100));     // in flight
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, 2 * cap + 7, 50));  // filling
  EXPECT_EQ(counting.reads(), reads_before);
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, 10, 100));  // disk, bounced
  EXPECT_EQ(counting.reads(), reads_before + 1);
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, cap - 3, cap + 10));  // spans all three
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, 0, 2 * cap + cap / 2));

  // An aligned destination on disk is read straight into, without a bounce.
  IoBufferMut aligned = IoBufferMut::Allocate(cap, align());
  ASSERT_OK(writer->ReadAt(0, {aligned.data(), cap}));
  EXPECT_EQ(FirstPatternMismatch(kSeed, 0, {aligned.data(), cap}), -1);
  ASSERT_OK(writer->Finish());
}

TEST_P(BufferedWriterTest, ConcurrentReadersSeeAppendedBytesWhileAppending) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  const size_t cap = 4 * align();  // small: many buffer switches under the readers
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, cap));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  auto reader = [&](uint64_t reader_seed) {
    std::mt19937_64 rng(reader_seed);
    std::vector<std::byte> got;
    while (!done.load()) {
      const uint64_t size = writer->size();
      if (size == 0) continue;
      const uint64_t offset = rng() % size;
      got.resize(std::min<uint64_t>(rng() % (3 * cap), size - offset));
      const Status s = writer->ReadAt(offset, got);
      if (!s.ok() || FirstPatternMismatch(kSeed, offset, got) >= 0) failures.fetch_add(1);
      reads.fetch_add(1);
    }
  };
  std::thread r1(reader, seed + 1);
  std::thread r2(reader, seed + 2);
  std::mt19937_64 rng(seed);
  while (writer->size() < (8u << 20)) {
    const Status s = AppendPattern(*writer, rng() % (3 * cap));
    if (!s.ok()) {
      ADD_FAILURE() << s.ToString();
      break;
    }
  }
  const Status finished = writer->Finish();
  done.store(true);
  r1.join();
  r2.join();
  ASSERT_OK(finished);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(ReadWholeFile(path()), PatternBytes(kSeed, 0, writer->size()));
}

TEST_P(BufferedWriterTest, FinishTruncatesToTheExactLogicalLength) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, 8 * align()));
  ASSERT_OK(AppendPattern(*writer, 1000));
  ASSERT_OK(writer->Finish());
  ASSERT_OK_AND_ASSIGN(const uint64_t size, file().Size());
  EXPECT_EQ(size, 1000u);
  EXPECT_EQ(ReadWholeFile(path()), PatternBytes(kSeed, 0, 1000));
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, 990, 10));  // tail, from disk past the end
}

TEST_P(BufferedWriterTest, StartOffsetKeepsEarlierBytesAndAppendsAfterThem) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const size_t start = 2 * align();
  IoBufferMut header = IoBufferMut::Allocate(start, align());
  ASSERT_EQ(header.Append(PatternBytes(kSeed, 0, start)), start);
  ASSERT_OK(file().WriteAllAt(0, header.Valid()));
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), start, 4 * align()));
  EXPECT_EQ(writer->size(), start);
  ASSERT_OK(AppendPattern(*writer, 10 * align() + 17));
  ASSERT_NO_FATAL_FAILURE(ExpectReadBack(*writer, start, 10 * align() + 17));
  std::vector<std::byte> two(2);
  EXPECT_THAT(writer->ReadAt(start - 1, two),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside the written range")));
  ASSERT_OK(writer->Finish());
  EXPECT_EQ(ReadWholeFile(path()), PatternBytes(kSeed, 0, start + 10 * align() + 17));
}

TEST_P(BufferedWriterTest, FinishIsIdempotentAndAppendAfterFinishFails) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, 4 * align()));
  ASSERT_OK(AppendPattern(*writer, 5000));
  ASSERT_OK(writer->Finish());
  ASSERT_OK(writer->Finish());
  EXPECT_THAT(AppendPattern(*writer, 1), StatusIs(StatusCode::kInvalidArgument,
                                                  AllOf(HasSubstr(path()), HasSubstr("Finish"))));
  EXPECT_THAT(writer->Append({}), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(BufferedWriterTest, EmptyWriterFinishLeavesFileAtStartOffset) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, 4 * align()));
  ASSERT_OK(writer->Append({}));
  ASSERT_OK(writer->Finish());
  ASSERT_OK_AND_ASSIGN(const uint64_t size, file().Size());
  EXPECT_EQ(size, 0u);
}

TEST_P(BufferedWriterTest, CreateRejectsMisalignedStartOrCapacity) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const auto invalid = StatusIs(StatusCode::kInvalidArgument, HasSubstr(path()));
  EXPECT_THAT(BufferedWriter::Create(&file(), 0, 0), invalid);
  EXPECT_THAT(BufferedWriter::Create(&file(), 0, align() + 1), invalid);
  EXPECT_THAT(BufferedWriter::Create(&file(), 100, 4 * align()), invalid);
  EXPECT_THAT(BufferedWriter::Create(nullptr, 0, 4 * align()),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(BufferedWriterTest, ReadAtPastTheLogicalEndIsInvalidArgument) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, 4 * align()));
  ASSERT_OK(AppendPattern(*writer, 100));
  std::vector<std::byte> got(10);
  EXPECT_THAT(writer->ReadAt(95, got), StatusIs(StatusCode::kInvalidArgument,
                                                AllOf(HasSubstr(path()), HasSubstr("offset=95"))));
  EXPECT_OK(writer->ReadAt(90, got));
  EXPECT_OK(writer->ReadAt(100, {}));
}

TEST_P(BufferedWriterTest, DestroyingWithoutFinishWaitsForWritesInFlight) {
  ASSERT_NO_FATAL_FAILURE(OpenFile());
  const size_t cap = 4 * align();
  {
    ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file(), 0, cap));
    ASSERT_OK(AppendPattern(*writer, 2 * cap + 1));
  }
  const std::vector<std::byte> content = ReadWholeFile(path());
  ASSERT_GE(content.size(), 2 * cap);
  EXPECT_EQ(FirstPatternMismatch(kSeed, 0, {content.data(), 2 * cap}), -1);
}

INSTANTIATE_TEST_SUITE_P(AllEnginesAndModes, BufferedWriterTest, ::testing::ValuesIn(AllIoParams()),
                         IoParamName);

}  // namespace
}  // namespace pageserver::virtual_file
