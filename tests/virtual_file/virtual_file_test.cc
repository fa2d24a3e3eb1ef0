// VirtualFile conformance: every test runs over {std-fs, io-uring} x
// {buffered, direct, direct-rw}. Contents are derived from file offsets (see
// tests/support/io_test_env.h); randomized tests print their seed, replay
// with PS_TEST_SEED=<seed>.

#include "virtual_file/virtual_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/align.h"
#include "common/metrics.h"
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
using ::pageserver::testing::MetricValue;
using ::pageserver::testing::PatternBytes;
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::StatusIs;
using ::pageserver::testing::WriteWholeFile;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 0x5eed;

class VirtualFileTest : public ::pageserver::testing::IoParamTest {
 protected:
  // A file of `size` pattern bytes, written without the code under test.
  std::string MakePatternFile(const std::string& name, size_t size, uint64_t seed = kSeed) {
    std::string path = dir().File(name);
    WriteWholeFile(path, PatternBytes(seed, 0, size));
    return path;
  }

  Result<VirtualFile> OpenRead(const std::string& path) {
    return VirtualFile::Open(ctx(), path, OpenOptions::Read());
  }

  std::string ModeName() const { return std::string(IoModeName(GetParam().mode)); }
};

TEST_P(VirtualFileTest, RandomAlignedWritesAndReadsMatchModel) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  ASSERT_OK_AND_ASSIGN(VirtualFile file, VirtualFile::Open(ctx(), dir().File("model"),
                                                           OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  constexpr size_t kMaxBlocks = 32;
  const size_t file_span = 256 * a;
  std::vector<std::byte> model;  // what the file must hold
  IoBufferMut buf = IoBufferMut::Allocate(kMaxBlocks * a, a);
  for (int op = 0; op < 300; ++op) {
    const uint64_t offset = (rng() % (file_span / a)) * a;
    const size_t length = (1 + rng() % kMaxBlocks) * a;
    SCOPED_TRACE("op " + std::to_string(op) + " offset " + std::to_string(offset) + " length " +
                 std::to_string(length));
    if (rng() % 2 == 0) {
      const std::vector<std::byte> data = PatternBytes(seed + op, offset, length);
      buf.clear();
      ASSERT_EQ(buf.Append(data), length);
      ASSERT_OK(file.WriteAllAt(offset, buf.Valid()));
      if (model.size() < offset + length) model.resize(offset + length);
      std::copy(data.begin(), data.end(), model.begin() + static_cast<ptrdiff_t>(offset));
    } else {
      ASSERT_OK_AND_ASSIGN(const size_t n, file.ReadAt(offset, buf.WholeCapacity().First(length)));
      const size_t expected = offset >= model.size() ? 0 : std::min(length, model.size() - offset);
      ASSERT_EQ(n, expected);
      if (n != 0) {
        ASSERT_EQ(std::memcmp(buf.data(), model.data() + offset, n), 0);
      }
    }
  }
  EXPECT_EQ(ReadWholeFile(dir().File("model")), model);
}

TEST_P(VirtualFileTest, EightConcurrentReadersSeeOffsetDerivedContent) {
  constexpr size_t kFileSize = 4 << 20;
  const std::string path = MakePatternFile("shared", kFileSize);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      const size_t a = file.alignment();
      IoBufferMut buf = IoBufferMut::Allocate(size_t{64} * 1024, a);
      for (int i = 0; i < 200; ++i) {
        const size_t length = (1 + rng() % (buf.capacity() / a)) * a;
        const uint64_t offset = (rng() % ((kFileSize - length) / a + 1)) * a;
        Status s = file.ReadExactAt(offset, buf.WholeCapacity().First(length));
        const bool ok = s.ok() && FirstPatternMismatch(kSeed, offset, {buf.data(), length}) < 0;
        if (!ok) failures.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(reads.load(), 8 * 200);
}

TEST_P(VirtualFileTest, ReadAtTailReturnsShortCountAndPastEndReturnsZero) {
  const std::string path = MakePatternFile("tail", 10000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(4 * a, a);
  const uint64_t tail = common::AlignDown(10000, a);
  ASSERT_OK_AND_ASSIGN(const size_t n, file.ReadAt(tail, buf.WholeCapacity()));
  EXPECT_EQ(n, 10000 - tail);
  EXPECT_EQ(FirstPatternMismatch(kSeed, tail, {buf.data(), n}), -1);
  ASSERT_OK_AND_ASSIGN(const size_t past,
                       file.ReadAt(common::AlignUp(10000, a) + a, buf.WholeCapacity()));
  EXPECT_EQ(past, 0u);
  ASSERT_OK_AND_ASSIGN(const size_t empty, file.ReadAt(0, buf.WholeCapacity().First(0)));
  EXPECT_EQ(empty, 0u);
}

TEST_P(VirtualFileTest, ReadExactAtTailFailsNamingPathOffsetAndLength) {
  const std::string path = MakePatternFile("exact", 10000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(4 * a, a);
  const uint64_t tail = common::AlignDown(10000, a);
  EXPECT_THAT(
      file.ReadExactAt(tail, buf.WholeCapacity()),
      StatusIs(StatusCode::kIoError, AllOf(HasSubstr(path), HasSubstr("read"),
                                           HasSubstr("offset=" + std::to_string(tail)),
                                           HasSubstr("length=" + std::to_string(4 * a)),
                                           HasSubstr("got " + std::to_string(10000 - tail)))));
  EXPECT_OK(file.ReadExactAt(0, buf.WholeCapacity()));
}

// The rejection must happen before the engine sees anything, in every mode
// (buffered included): the counting engine proves no request was issued.
class MisalignedTest : public VirtualFileTest {
 protected:
  void SetUp() override {
    VirtualFileTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    counting_ = std::make_unique<CountingEngine>(engine());
    mutable_ctx().engine = counting_.get();
  }
  std::unique_ptr<CountingEngine> counting_;
};

TEST_P(MisalignedTest, UnalignedOffsetIsRejectedBeforeAnyIo) {
  const std::string path = MakePatternFile("misaligned", size_t{64} * 1024);
  ASSERT_OK_AND_ASSIGN(VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(2 * a, a);
  const uint64_t offset = a / 2;
  const auto expected =
      StatusIs(StatusCode::kInvalidArgument,
               AllOf(HasSubstr(path),
                     HasSubstr("offset " + std::to_string(offset) + " length " + std::to_string(a) +
                               " not aligned to " + std::to_string(a))));
  const AlignedSpanMut dst = buf.WholeCapacity().First(a);
  EXPECT_THAT(file.ReadAt(offset, dst), expected);
  EXPECT_THAT(file.ReadExactAt(offset, dst), expected);
  EXPECT_THAT(file.WriteAllAt(offset, dst), expected);
  EXPECT_THAT(file.SubmitWrite(offset, dst), expected);
  EXPECT_THAT(file.SubmitRead(offset, dst), expected);
  EXPECT_THAT(file.ReadAt(100, dst),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("read " + path + ": offset 100")));
  EXPECT_EQ(counting_->requests(), 0u);
}

TEST_P(MisalignedTest, UnalignedLengthIsRejectedBeforeAnyIo) {
  const std::string path = MakePatternFile("misaligned", size_t{64} * 1024);
  ASSERT_OK_AND_ASSIGN(VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(2 * a, a);
  const AlignedSpanMut dst = buf.WholeCapacity().First(a + 8);
  const auto expected = StatusIs(
      StatusCode::kInvalidArgument,
      AllOf(HasSubstr(path), HasSubstr("length " + std::to_string(a + 8) + " not aligned")));
  EXPECT_THAT(file.ReadAt(0, dst), expected);
  EXPECT_THAT(file.WriteAllAt(0, dst), expected);
  EXPECT_THAT(file.SubmitWrite(0, dst), expected);
  EXPECT_THAT(file.SubmitRead(0, dst), expected);
  EXPECT_EQ(counting_->requests(), 0u);
}

TEST_P(MisalignedTest, UnalignedAddressIsRejectedBeforeAnyIo) {
  const std::string path = MakePatternFile("misaligned", size_t{64} * 1024);
  ASSERT_OK_AND_ASSIGN(VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(3 * a, a);
  const AlignedSpanMut dst = buf.WholeCapacity().Subspan(8, a);
  const auto expected = StatusIs(StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr(path), HasSubstr("buffer address"),
                                       HasSubstr("not aligned to " + std::to_string(a))));
  EXPECT_THAT(file.ReadAt(0, dst), expected);
  EXPECT_THAT(file.WriteAllAt(0, dst), expected);
  EXPECT_THAT(file.SubmitWrite(0, dst), expected);
  EXPECT_EQ(counting_->requests(), 0u);
}

TEST_P(MisalignedTest, ReadBatchResolvesValidMisalignedAndPastEofReadsIndependently) {
  const std::string path = MakePatternFile("batch", 10000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(16 * a, a);
  const AlignedSpanMut mem = buf.WholeCapacity();
  const uint64_t tail = common::AlignDown(10000, a);
  std::vector<VirtualFile::BatchRead> batch(6);
  batch[0] = {&file, 0, mem.Subspan(0, 2 * a)};          // whole
  batch[1] = {&file, 100, mem.Subspan(2 * a, a)};        // misaligned offset
  batch[2] = {&file, 64 * a, mem.Subspan(3 * a, a)};     // past EOF
  batch[3] = {&file, tail, mem.Subspan(4 * a, 2 * a)};   // short at the tail
  batch[4] = {&file, 0, mem.Subspan(6 * a + 8, a)};      // misaligned address
  batch[5] = {&file, 2 * a, mem.Subspan(8 * a, 2 * a)};  // whole
  VirtualFile::ReadBatch(batch);

  EXPECT_EQ(counting_->batches(), 1u);
  EXPECT_EQ(counting_->requests(), 4u);  // the misaligned ones never reached the engine
  ASSERT_OK_AND_ASSIGN(const size_t n0, batch[0].result);
  EXPECT_EQ(n0, 2 * a);
  EXPECT_EQ(FirstPatternMismatch(kSeed, 0, batch[0].dst.span()), -1);
  EXPECT_THAT(batch[1].result, StatusIs(StatusCode::kInvalidArgument,
                                        AllOf(HasSubstr(path), HasSubstr("offset 100"))));
  ASSERT_OK_AND_ASSIGN(const size_t n2, batch[2].result);
  EXPECT_EQ(n2, 0u);
  ASSERT_OK_AND_ASSIGN(const size_t n3, batch[3].result);
  EXPECT_EQ(n3, 10000 - tail);
  EXPECT_EQ(FirstPatternMismatch(kSeed, tail, batch[3].dst.span().first(n3)), -1);
  EXPECT_THAT(batch[4].result, StatusIs(StatusCode::kInvalidArgument, HasSubstr("buffer address")));
  ASSERT_OK_AND_ASSIGN(const size_t n5, batch[5].result);
  EXPECT_EQ(n5, 2 * a);
  EXPECT_EQ(FirstPatternMismatch(kSeed, 2 * a, batch[5].dst.span()), -1);
}

TEST_P(MisalignedTest, ReadBatchOfOnlyInvalidReadsIssuesNoIo) {
  const std::string path = MakePatternFile("batch", 10000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  IoBufferMut buf = IoBufferMut::Allocate(2 * file.alignment(), file.alignment());
  std::vector<VirtualFile::BatchRead> batch(2);
  batch[0] = {&file, 7, buf.WholeCapacity()};
  batch[1] = {nullptr, 0, buf.WholeCapacity()};
  VirtualFile::ReadBatch(batch);
  EXPECT_THAT(batch[0].result, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(batch[1].result, StatusIs(StatusCode::kInvalidArgument, HasSubstr("no file")));
  EXPECT_EQ(counting_->batches(), 0u);
}

TEST_P(VirtualFileTest, IsDirectAndFdFlagsFollowTheModeTable) {
  const std::string path = dir().File("flags");
  for (const OpenOptions& options :
       {OpenOptions::CreateTruncate(), OpenOptions::CreateReadWrite(), OpenOptions::Read()}) {
    SCOPED_TRACE("intent " + std::to_string(static_cast<int>(options.intent)));
    ASSERT_OK_AND_ASSIGN(const VirtualFile file, VirtualFile::Open(ctx(), path, options));
    const bool want = UsesODirect(GetParam().mode, options.intent);
    EXPECT_EQ(file.is_direct(), want);
    const int flags = ::fcntl(file.fd(), F_GETFL);
    ASSERT_GE(flags, 0);
    EXPECT_EQ((flags & O_DIRECT) != 0, want);
  }
}

TEST_P(VirtualFileTest, AlignmentIsAtLeastTheContextsAndTheKernelsDioAlignment) {
  const std::string path = MakePatternFile("align", 4096);
  ASSERT_OK_AND_ASSIGN(const size_t reported, QueryDirectIoAlignment(path));
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  EXPECT_TRUE(common::IsPowerOfTwo(file.alignment()));
  EXPECT_GE(file.alignment(), ctx().io_alignment);
  EXPECT_GE(file.alignment(), reported);

  mutable_ctx().io_alignment = 4096;
  ASSERT_OK_AND_ASSIGN(const VirtualFile strict, OpenRead(path));
  EXPECT_EQ(strict.alignment(), std::max<size_t>(4096, reported));
  IoBufferMut buf = IoBufferMut::Allocate(4096, 4096);
  EXPECT_THAT(strict.ReadAt(512, buf.WholeCapacity()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not aligned to 4096")));
}

TEST_P(VirtualFileTest, ContextWithoutEngineOrBadAlignmentIsRejected) {
  IoContext no_engine;
  EXPECT_THAT(VirtualFile::Open(no_engine, dir().File("x"), OpenOptions::CreateReadWrite()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no io engine")));
  mutable_ctx().io_alignment = 96;
  EXPECT_THAT(VirtualFile::Open(ctx(), dir().File("x"), OpenOptions::CreateReadWrite()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("power of two")));
}

TEST_P(VirtualFileTest, OpenMissingFileIsNotFoundNamingPathAndMode) {
  const std::string path = dir().File("missing");
  EXPECT_THAT(OpenRead(path), StatusIs(StatusCode::kNotFound,
                                       AllOf(HasSubstr(path), HasSubstr("io mode " + ModeName()))));
}

TEST_P(VirtualFileTest, SetLenSizeAndSyncsWork) {
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), dir().File("len"), OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(2 * a, a);
  buf.ZeroPadTo(2 * a);
  ASSERT_OK(file.WriteAllAt(0, buf.Valid()));
  ASSERT_OK_AND_ASSIGN(const uint64_t size, file.Size());
  EXPECT_EQ(size, 2 * a);
  ASSERT_OK(file.SetLen(1000));
  ASSERT_OK_AND_ASSIGN(const uint64_t truncated, file.Size());
  EXPECT_EQ(truncated, 1000u);
  EXPECT_OK(file.Sync());
  EXPECT_OK(file.SyncData());
}

TEST_P(VirtualFileTest, AsyncWriteLandsAfterWait) {
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, VirtualFile::Open(ctx(), dir().File("async"),
                                                                 OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(4 * a, a);
  ASSERT_EQ(buf.Append(PatternBytes(kSeed, a, 4 * a)), 4 * a);
  ASSERT_OK_AND_ASSIGN(io_engine::AsyncIo ticket, file.SubmitWrite(a, buf.Valid()));
  ASSERT_OK(file.WaitWrite(std::move(ticket), a, 4 * a));
  const std::vector<std::byte> content = ReadWholeFile(dir().File("async"));
  ASSERT_EQ(content.size(), 5 * a);
  EXPECT_EQ(FirstPatternMismatch(kSeed, a, {content.data() + a, 4 * a}), -1);
}

TEST_P(VirtualFileTest, AsyncReadsReturnContentAndShortAtTail) {
  const std::string path = MakePatternFile("async_read", 10000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file, OpenRead(path));
  const size_t a = file.alignment();
  const uint64_t tail = common::AlignDown(10000, a);
  IoBufferMut buf = IoBufferMut::Allocate(4 * a, a);
  const AlignedSpanMut head = buf.WholeCapacity().First(2 * a);
  const AlignedSpanMut end = buf.WholeCapacity().Subspan(2 * a, 2 * a);
  ASSERT_OK_AND_ASSIGN(io_engine::AsyncIo t0, file.SubmitRead(0, head));
  ASSERT_OK_AND_ASSIGN(io_engine::AsyncIo t1, file.SubmitRead(tail, end));
  ASSERT_OK_AND_ASSIGN(const size_t n1, file.WaitRead(std::move(t1), tail, end.size()));
  ASSERT_OK_AND_ASSIGN(const size_t n0, file.WaitRead(std::move(t0), 0, head.size()));
  EXPECT_EQ(n0, 2 * a);
  EXPECT_EQ(n1, 10000 - tail);
  EXPECT_EQ(FirstPatternMismatch(kSeed, 0, head.span()), -1);
  EXPECT_EQ(FirstPatternMismatch(kSeed, tail, end.span().first(n1)), -1);
}

TEST_P(VirtualFileTest, MovedFileKeepsTheDescriptor) {
  const std::string path = MakePatternFile("moved", 8192);
  ASSERT_OK_AND_ASSIGN(VirtualFile a, OpenRead(path));
  const int fd = a.fd();
  VirtualFile b(std::move(a));
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(a.fd(), -1);  // NOLINT(bugprone-use-after-move): documented state
  ASSERT_OK_AND_ASSIGN(VirtualFile c, OpenRead(path));
  c = std::move(b);
  EXPECT_EQ(c.fd(), fd);
  EXPECT_EQ(c.path(), path);
}

TEST_P(VirtualFileTest, MetricsCountOperationsAndBytes) {
  common::Registry registry;
  IoMetrics metrics(registry, engine().name(), GetParam().mode);
  mutable_ctx().metrics = &metrics;
  {
    ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                         VirtualFile::Open(ctx(), dir().File("m"), OpenOptions::CreateReadWrite()));
    const size_t a = file.alignment();
    IoBufferMut buf = IoBufferMut::Allocate(2 * a, a);
    buf.ZeroPadTo(2 * a);
    ASSERT_OK(file.WriteAllAt(0, buf.Valid()));
    ASSERT_OK(file.ReadExactAt(0, buf.WholeCapacity()));
    ASSERT_OK(file.Sync());
  }
  const std::string text = registry.RenderPrometheusText();
  const std::string labels =
      "{engine=\"" + std::string(engine().name()) + "\",mode=\"" + ModeName() + "\",op=\"";
  auto series = [&](const std::string& name, const std::string& op) {
    return MetricValue(text, name + labels + op + "\"}");
  };
  EXPECT_EQ(series("ps_virtual_file_op_seconds_count", "open"), 1);
  EXPECT_EQ(series("ps_virtual_file_op_seconds_count", "read"), 1);
  EXPECT_EQ(series("ps_virtual_file_op_seconds_count", "write"), 1);
  EXPECT_EQ(series("ps_virtual_file_op_seconds_count", "fsync"), 1);
  EXPECT_EQ(series("ps_virtual_file_op_seconds_count", "close"), 1);
  EXPECT_GT(series("ps_virtual_file_bytes_total", "read"), 0);
  EXPECT_GT(series("ps_virtual_file_bytes_total", "write"), 0);
  EXPECT_EQ(series("ps_virtual_file_errors_total", "read"), 0);
}

// --- Crash-safe replace ---------------------------------------------------

TEST_P(VirtualFileTest, ReplaceCreatesFileWithExactContents) {
  const std::string path = dir().File("index");
  for (size_t size : {size_t{0}, size_t{1}, size_t{12345}, size_t{(1 << 20) + 7}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const std::vector<std::byte> contents = PatternBytes(size, 0, size);
    ASSERT_OK(ReplaceFileAtomically(ctx(), path, contents));
    EXPECT_EQ(ReadWholeFile(path), contents);
    EXPECT_FALSE(std::filesystem::exists(path + ".___temp"));
  }
}

TEST_P(VirtualFileTest, ReplaceOverwritesExistingContents) {
  const std::string path = MakePatternFile("index", 50000, 1);
  const std::vector<std::byte> contents = PatternBytes(2, 0, 3000);
  ASSERT_OK(ReplaceFileAtomically(ctx(), path, contents));
  EXPECT_EQ(ReadWholeFile(path), contents);
}

TEST_P(VirtualFileTest, CrashLeftoverTempKeepsOldContentsAndNextReplaceWins) {
  const std::string path = dir().File("index");
  const std::vector<std::byte> old_contents = PatternBytes(1, 0, 5000);
  ASSERT_OK(ReplaceFileAtomically(ctx(), path, old_contents));
  // A crash between writing the temp file and the rename leaves this behind.
  WriteWholeFile(path + ".___temp", PatternBytes(3, 0, 777));
  EXPECT_EQ(ReadWholeFile(path), old_contents);

  const std::vector<std::byte> new_contents = PatternBytes(2, 0, 4000);
  ASSERT_OK(ReplaceFileAtomically(ctx(), path, new_contents));
  EXPECT_EQ(ReadWholeFile(path), new_contents);
  EXPECT_FALSE(std::filesystem::exists(path + ".___temp"));
}

TEST_P(VirtualFileTest, ReplaceInMissingDirectoryFailsNamingThePath) {
  const std::string path = dir().File("no/such/dir/index");
  EXPECT_THAT(ReplaceFileAtomically(ctx(), path, PatternBytes(1, 0, 10)),
              StatusIs(StatusCode::kNotFound, HasSubstr(path)));
}

INSTANTIATE_TEST_SUITE_P(AllEnginesAndModes, VirtualFileTest, ::testing::ValuesIn(AllIoParams()),
                         IoParamName);
INSTANTIATE_TEST_SUITE_P(AllEnginesAndModes, MisalignedTest, ::testing::ValuesIn(AllIoParams()),
                         IoParamName);

TEST(SyncDirectoryTest, SyncsAnExistingDirectoryAndReportsAMissingOne) {
  ::pageserver::testing::TempDir dir;
  EXPECT_OK(SyncDirectory(dir.path()));
  EXPECT_THAT(SyncDirectory(dir.File("missing")),
              StatusIs(StatusCode::kNotFound, HasSubstr(dir.File("missing"))));
}

TEST(QueryDirectIoAlignmentTest, ReportsAPowerOfTwoOrZero) {
  ::pageserver::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(const size_t align, QueryDirectIoAlignment(dir.path()));
  EXPECT_TRUE(align == 0 || common::IsPowerOfTwo(align)) << align;
  EXPECT_THAT(QueryDirectIoAlignment(dir.File("missing")),
              StatusIs(StatusCode::kNotFound, HasSubstr(dir.File("missing"))));
}

}  // namespace
}  // namespace pageserver::virtual_file
