// VirtualFile and BufferedWriter under injected kernel behaviour
// (io_engine::FaultPlan, applied by the engines below their retry logic):
// filesystems refusing O_DIRECT, EIO on every operation, and transient short
// transfers / EAGAIN that must stay invisible.

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"
#include "virtual_file/buffered_writer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::virtual_file {
namespace {

using common::StatusCode;
using ::pageserver::testing::AllIoParams;
using ::pageserver::testing::FirstPatternMismatch;
using ::pageserver::testing::IoParamName;
using ::pageserver::testing::MetricValue;
using ::pageserver::testing::PatternBytes;
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::StatusIs;
using ::pageserver::testing::WriteWholeFile;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 0xfa17;

class FaultTest : public ::pageserver::testing::IoParamTest {
 protected:
  std::string MakePatternFile(const std::string& name, size_t size) {
    std::string path = dir().File(name);
    WriteWholeFile(path, PatternBytes(kSeed, 0, size));
    return path;
  }
  std::string ModeName() const { return std::string(IoModeName(GetParam().mode)); }
  bool IsBuffered() const { return GetParam().mode == IoMode::kBuffered; }

  static io_engine::FaultPlan AlwaysEio() {
    io_engine::FaultPlan plan;
    plan.seed = kSeed;
    plan.error_one_in = 1;
    plan.error_errno = EIO;
    return plan;
  }
};

TEST_P(FaultTest, FilesystemRefusingODirectFailsOnlyDirectOpens) {
  io_engine::FaultPlan plan;
  plan.refuse_o_direct = true;
  ASSERT_TRUE(UseFaults(plan));
  const std::string path = MakePatternFile("refuse", 8192);
  auto reader = VirtualFile::Open(ctx(), path, OpenOptions::Read());
  if (IsBuffered()) {
    ASSERT_OK(reader);
    EXPECT_FALSE(reader->is_direct());
  } else {
    EXPECT_THAT(reader, StatusIs(StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr(path), HasSubstr("io mode " + ModeName()),
                                       HasSubstr("refuses O_DIRECT"))));
  }
  // Files opened for writing use O_DIRECT only under direct-rw.
  auto writer = VirtualFile::Open(ctx(), dir().File("w"), OpenOptions::CreateTruncate());
  if (GetParam().mode == IoMode::kDirectRw) {
    EXPECT_THAT(writer, StatusIs(StatusCode::kInvalidArgument, HasSubstr("refuses O_DIRECT")));
  } else {
    EXPECT_OK(writer);
  }
}

TEST_P(FaultTest, DirectFallbackOpensBufferedAndStillValidatesAlignment) {
  io_engine::FaultPlan plan;
  plan.refuse_o_direct = true;
  ASSERT_TRUE(UseFaults(plan));
  mutable_ctx().direct_fallback = true;
  const std::string path = MakePatternFile("fallback", 8192);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  EXPECT_FALSE(file.is_direct());
  EXPECT_EQ(::fcntl(file.fd(), F_GETFL) & O_DIRECT, 0);
  IoBufferMut buf = IoBufferMut::Allocate(2 * file.alignment(), file.alignment());
  EXPECT_THAT(file.ReadAt(100, buf.WholeCapacity()), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(file.ReadExactAt(0, buf.WholeCapacity()));
  EXPECT_EQ(FirstPatternMismatch(kSeed, 0, buf.WholeCapacity().span()), -1);
}

TEST_P(FaultTest, IoErrorsNamePathOperationOffsetAndLength) {
  ASSERT_TRUE(UseFaults(AlwaysEio()));
  const std::string path = MakePatternFile("eio", 65536);
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(2 * a, a);
  const std::string range = "offset=" + std::to_string(a) + " length=" + std::to_string(2 * a);
  const Status read = file.ReadExactAt(a, buf.WholeCapacity());
  EXPECT_THAT(read,
              StatusIs(StatusCode::kIoError, AllOf(HasSubstr("read " + path), HasSubstr(range))));
  EXPECT_EQ(read.error_number(), EIO);
  EXPECT_TRUE(read.IsFatal());
  EXPECT_THAT(file.WriteAllAt(a, buf.WholeCapacity()),
              StatusIs(StatusCode::kIoError, AllOf(HasSubstr("write " + path), HasSubstr(range))));
  EXPECT_THAT(file.Sync(), StatusIs(StatusCode::kIoError, HasSubstr("fsync " + path)));
  EXPECT_THAT(file.SyncData(), StatusIs(StatusCode::kIoError, HasSubstr("fdatasync " + path)));

  std::vector<VirtualFile::BatchRead> batch(1);
  batch[0] = {&file, a, buf.WholeCapacity()};
  VirtualFile::ReadBatch(batch);
  EXPECT_THAT(batch[0].result,
              StatusIs(StatusCode::kIoError, AllOf(HasSubstr("read " + path), HasSubstr(range))));
}

// Two full buffers are submitted; the first one's failure surfaces when its
// buffer is needed again, and from then on every call returns that error.
TEST_P(FaultTest, FailedAsyncWritePoisonsTheWriter) {
  ASSERT_TRUE(UseFaults(AlwaysEio()));
  common::Registry registry;
  IoMetrics metrics(registry, engine().name(), GetParam().mode);
  mutable_ctx().metrics = &metrics;
  const std::string path = dir().File("poison");
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t cap = 4 * file.alignment();
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file, 0, cap));
  ASSERT_OK(writer->Append(PatternBytes(kSeed, 0, cap)));
  ASSERT_OK(writer->Append(PatternBytes(kSeed, cap, cap)));

  const Status failed = writer->Append(PatternBytes(kSeed, 2 * cap, 10));
  EXPECT_THAT(failed, StatusIs(StatusCode::kIoError,
                               AllOf(HasSubstr("write " + path), HasSubstr("offset=0"),
                                     HasSubstr("length=" + std::to_string(cap)))));
  EXPECT_EQ(failed.error_number(), EIO);
  EXPECT_EQ(writer->Append(PatternBytes(kSeed, 2 * cap, 1)), failed);
  EXPECT_EQ(writer->size(), 2 * cap);

  // The lost range is an error, never stale bytes; the buffer still in
  // flight is served from memory.
  std::vector<std::byte> got(10);
  EXPECT_THAT(writer->ReadAt(5, got),
              StatusIs(StatusCode::kIoError, AllOf(HasSubstr(path), HasSubstr("lost"))));
  ASSERT_OK(writer->ReadAt(cap + 5, got));
  EXPECT_EQ(FirstPatternMismatch(kSeed, cap + 5, got), -1);

  EXPECT_EQ(writer->Finish(), failed);
  EXPECT_EQ(writer->Finish(), failed);
  const std::string series = "ps_virtual_file_errors_total{engine=\"" +
                             std::string(engine().name()) + "\",mode=\"" + ModeName() +
                             "\",op=\"write\"}";
  EXPECT_GT(MetricValue(registry.RenderPrometheusText(), series), 0.0) << series;
}

TEST_P(FaultTest, FailedTailWriteIsReturnedByFinishAndEveryLaterCall) {
  ASSERT_TRUE(UseFaults(AlwaysEio()));
  const std::string path = dir().File("tail");
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file, 0, 4 * file.alignment()));
  ASSERT_OK(writer->Append(PatternBytes(kSeed, 0, 100)));
  const Status failed = writer->Finish();
  EXPECT_THAT(failed, StatusIs(StatusCode::kIoError,
                               AllOf(HasSubstr("write " + path), HasSubstr("offset=0"))));
  EXPECT_EQ(writer->Finish(), failed);
  EXPECT_EQ(writer->Append(PatternBytes(kSeed, 100, 1)), failed);
}

TEST_P(FaultTest, FailedReplaceLeavesOldContentsAndNamesThePath) {
  const std::string path = dir().File("index");
  const std::vector<std::byte> old_contents = PatternBytes(1, 0, 3000);
  WriteWholeFile(path, old_contents);
  ASSERT_TRUE(UseFaults(AlwaysEio()));
  EXPECT_THAT(ReplaceFileAtomically(ctx(), path, PatternBytes(2, 0, 5000)),
              StatusIs(StatusCode::kIoError, HasSubstr("replace " + path)));
  EXPECT_EQ(ReadWholeFile(path), old_contents);
}

// Short transfers and EAGAIN are retried by the engines; nothing above them
// may notice.
TEST_P(FaultTest, TransientShortTransfersAndEagainAreInvisible) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  io_engine::FaultPlan plan;
  plan.seed = seed;
  // Real O_DIRECT short transfers end on a block boundary (a misaligned
  // resubmission of the rest would fail with EINVAL), so direct files get
  // block-sized short transfers and buffered ones byte-sized.
  plan.short_one_in = 3;
  plan.short_unit = UsesODirect(GetParam().mode, OpenIntent::kReadWrite) ? 4096 : 1;
  plan.eagain_one_in = 4;
  ASSERT_TRUE(UseFaults(plan));
  const std::string path = dir().File("flaky");
  ASSERT_OK_AND_ASSIGN(const VirtualFile file,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateReadWrite()));
  const size_t cap = 8 * file.alignment();
  std::mt19937_64 rng(seed);
  {
    ASSERT_OK_AND_ASSIGN(auto writer, BufferedWriter::Create(&file, 0, cap));
    while (writer->size() < (1u << 20)) {
      ASSERT_OK(writer->Append(PatternBytes(kSeed, writer->size(), rng() % (2 * cap))));
    }
    ASSERT_OK(writer->Finish());
    std::vector<std::byte> got(3 * cap);
    ASSERT_OK(writer->ReadAt(7, got));
    EXPECT_EQ(FirstPatternMismatch(kSeed, 7, got), -1);
  }
  const size_t a = file.alignment();
  IoBufferMut buf = IoBufferMut::Allocate(16 * a, a);
  for (int i = 0; i < 50; ++i) {
    const uint64_t offset = (rng() % 200) * a;
    ASSERT_OK(file.ReadExactAt(offset, buf.WholeCapacity()));
    ASSERT_EQ(FirstPatternMismatch(kSeed, offset, buf.WholeCapacity().span()), -1) << offset;
  }
}

INSTANTIATE_TEST_SUITE_P(AllEnginesAndModes, FaultTest, ::testing::ValuesIn(AllIoParams()),
                         IoParamName);

}  // namespace
}  // namespace pageserver::virtual_file
