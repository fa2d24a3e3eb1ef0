#include "virtual_file/virtual_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <utility>
#include <vector>

#include "common/align.h"
#include "common/clock.h"
#include "common/failpoint.h"
#include "virtual_file/buffered_writer.h"

namespace pageserver::virtual_file {
namespace {

void RecordOp(IoMetrics* metrics, FileOp op, uint64_t start_nanos, uint64_t bytes, bool ok) {
  if (metrics == nullptr) return;
  metrics->Record(op, common::MonotonicNanos() - start_nanos, bytes, ok);
}

// struct statx as the kernel lays it out (include/uapi/linux/stat.h, Linux
// 6.1, where STATX_DIOALIGN appeared). Declared here instead of using
// <sys/stat.h>: glibc 2.36 exposes whatever struct the installed kernel
// headers define, and before linux-libc-dev 6.1 these two fields are part of
// the padding (glibc's own fallback calls them __statx_pad2). Only the fields
// we read are named.
struct KernelStatx {
  uint32_t stx_mask;                // 0x00
  uint32_t stx_blksize;             // 0x04
  std::byte unused1[0x98 - 0x08];   // stx_attributes .. stx_mnt_id (0x90)
  uint32_t stx_dio_mem_align;       // 0x98
  uint32_t stx_dio_offset_align;    // 0x9c
  std::byte unused2[0x100 - 0xa0];  // spare
};
static_assert(offsetof(KernelStatx, stx_dio_mem_align) == 0x98);
static_assert(offsetof(KernelStatx, stx_dio_offset_align) == 0x9c);
static_assert(sizeof(KernelStatx) == 0x100);
constexpr unsigned kStatxDioAlign = 0x00002000U;  // STATX_DIOALIGN in the same header

// max(memory, offset) DIO alignment of `path` relative to `dirfd`, or 0 when
// the kernel does not report one.
Result<size_t> StatxDioAlignment(int dirfd, const char* path, int flags) {
  KernelStatx stx{};
  if (::syscall(SYS_statx, dirfd, path, flags, kStatxDioAlign, &stx) != 0) {
    if (errno == ENOSYS) return size_t{0};  // pre-4.11 kernel or seccomp
    return Status::FromErrno(errno, std::string("statx ") + path);
  }
  if ((stx.stx_mask & kStatxDioAlign) == 0) return size_t{0};
  const size_t align = std::max(stx.stx_dio_mem_align, stx.stx_dio_offset_align);
  return common::IsPowerOfTwo(align) ? align : 0;
}

// The policy in virtual_file.h: the context minimum, raised to what the
// kernel reports for this file.
size_t FileAlignment(const IoContext& ctx, int fd) {
  const Result<size_t> reported = StatxDioAlignment(fd, "", AT_EMPTY_PATH);
  if (!reported.has_value()) return ctx.io_alignment;
  return std::max(ctx.io_alignment, *reported);
}

int OpenFlags(const OpenOptions& options, bool direct) {
  int flags = 0;
  switch (options.intent) {
    case OpenIntent::kRead:
      flags = O_RDONLY;
      break;
    case OpenIntent::kWrite:
      flags = O_WRONLY;
      break;
    case OpenIntent::kReadWrite:
      flags = O_RDWR;
      break;
  }
  if (options.create) flags |= O_CREAT;
  if (options.truncate) flags |= O_TRUNC;
  if (options.exclusive) flags |= O_EXCL;
  if (direct) flags |= O_DIRECT;
  return flags;
}

// "read /data/x offset=8192 length=4096": the context every error carries.
std::string Describe(std::string_view op, const std::string& path, uint64_t offset, size_t length) {
  return std::string(op) + " " + path + " offset=" + std::to_string(offset) +
         " length=" + std::to_string(length);
}

std::string ModeContext(const IoContext& ctx, const std::string& path) {
  return "open " + path + " (io mode " + std::string(IoModeName(ctx.mode)) + ")";
}

Status ValidateContext(const IoContext& ctx, const std::string& path) {
  if (ctx.engine == nullptr) return Status::InvalidArgument("open " + path + ": no io engine");
  if (!common::IsPowerOfTwo(ctx.io_alignment)) {
    return Status::InvalidArgument("open " + path + ": io_alignment " +
                                   std::to_string(ctx.io_alignment) + " is not a power of two");
  }
  return Status::Ok();
}

void WarnDirectFallbackOnce(const IoContext& ctx, const std::string& path) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  spdlog::warn(
      "{}: the filesystem refuses O_DIRECT; opening buffered (direct_fallback is set, "
      "further files are not reported)",
      ModeContext(ctx, path));
}

struct OpenedFd {
  int fd;
  bool direct;
};

Result<OpenedFd> OpenFd(const IoContext& ctx, const std::string& path, const OpenOptions& options) {
  const bool direct = UsesODirect(ctx.mode, options.intent);
  Result<int> fd = ctx.engine->Open(path, OpenFlags(options, direct), options.permissions);
  if (fd.has_value()) return OpenedFd{*fd, direct};
  // open(2) documents EINVAL with O_DIRECT as "the filesystem does not
  // support O_DIRECT"; without O_DIRECT it is an ordinary error.
  if (!direct || fd.error().error_number() != EINVAL) {
    return fd.error().WithContext(ModeContext(ctx, path));
  }
  if (!ctx.direct_fallback) {
    // FromErrno keeps errno 22 for callers; EINVAL maps to InvalidArgument.
    return Status::FromErrno(EINVAL, ModeContext(ctx, path) +
                                         ": the filesystem refuses O_DIRECT (set direct_fallback "
                                         "to open such files buffered)");
  }
  WarnDirectFallbackOnce(ctx, path);
  fd = ctx.engine->Open(path, OpenFlags(options, false), options.permissions);
  if (!fd.has_value()) return fd.error().WithContext(ModeContext(ctx, path));
  return OpenedFd{*fd, false};
}

std::string AddressText(const void* p) {
  char text[32];
  std::snprintf(text, sizeof(text), "%p", p);
  return text;
}

}  // namespace

Result<VirtualFile> VirtualFile::Open(const IoContext& given, const std::string& path,
                                      const OpenOptions& options) {
  IoContext ctx = given;
  if (ctx.live != nullptr) ctx.live->Resolve(ctx);
  RETURN_IF_ERROR(ValidateContext(ctx, path));
  const uint64_t start = common::MonotonicNanos();
  Result<OpenedFd> opened = OpenFd(ctx, path, options);
  RecordOp(ctx.metrics, FileOp::kOpen, start, 0, opened.has_value());
  if (!opened.has_value()) return std::move(opened).error();
  return VirtualFile(ctx, path, opened->fd, FileAlignment(ctx, opened->fd), opened->direct);
}

VirtualFile::VirtualFile(const IoContext& ctx, std::string path, int fd, size_t alignment,
                         bool direct)
    : ctx_(ctx), path_(std::move(path)), fd_(fd), alignment_(alignment), direct_(direct) {}

VirtualFile::VirtualFile(VirtualFile&& other) noexcept
    : ctx_(other.ctx_),
      path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      alignment_(other.alignment_),
      direct_(other.direct_) {}

VirtualFile& VirtualFile::operator=(VirtualFile&& other) noexcept {
  if (this != &other) {
    CloseAndLog();
    ctx_ = other.ctx_;
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    alignment_ = other.alignment_;
    direct_ = other.direct_;
  }
  return *this;
}

VirtualFile::~VirtualFile() { CloseAndLog(); }

void VirtualFile::CloseAndLog() {
  if (fd_ < 0) return;
  const uint64_t start = common::MonotonicNanos();
  const Status status = ctx_.engine->Close(std::exchange(fd_, -1));
  Record(FileOp::kClose, start, 0, status.ok());
  // A destructor cannot return the error; a failed close can mean lost
  // writeback (NFS, quota), so it must at least be visible.
  if (!status.ok()) spdlog::warn("close {}: {}", path_, status.ToString());
}

Status VirtualFile::CheckAligned(std::string_view op, uint64_t offset, const void* data,
                                 size_t length) const {
  if (!common::IsAligned(offset, alignment_) || !common::IsAligned(length, alignment_)) {
    return Status::InvalidArgument(std::string(op) + " " + path_ + ": offset " +
                                   std::to_string(offset) + " length " + std::to_string(length) +
                                   " not aligned to " + std::to_string(alignment_));
  }
  if (!common::IsAlignedPtr(data, alignment_)) {
    return Status::InvalidArgument(
        std::string(op) + " " + path_ + ": buffer address " + AddressText(data) +
        " not aligned to " + std::to_string(alignment_) + " (offset " + std::to_string(offset) +
        " length " + std::to_string(length) + ")");
  }
  return Status::Ok();
}

void VirtualFile::Record(FileOp op, uint64_t start_nanos, uint64_t bytes, bool ok) const {
  RecordOp(ctx_.metrics, op, start_nanos, bytes, ok);
  if (ctx_.accounting == nullptr || bytes == 0) return;
  common::Counter* counter = op == FileOp::kRead    ? ctx_.accounting->read_bytes
                             : op == FileOp::kWrite ? ctx_.accounting->write_bytes
                                                    : nullptr;
  if (counter != nullptr) counter->IncrementBy(bytes);
}

Result<size_t> VirtualFile::ReadAt(uint64_t offset, AlignedSpanMut dst) const {
  RETURN_IF_ERROR(CheckAligned("read", offset, dst.data(), dst.size()));
  const uint64_t start = common::MonotonicNanos();
  io_engine::IoResult result = ctx_.engine->Read(fd_, offset, dst.span());
  Record(FileOp::kRead, start, result.has_value() ? *result : 0, result.has_value());
  if (!result.has_value()) {
    return result.error().WithContext(Describe("read", path_, offset, dst.size()));
  }
  return result;
}

Status VirtualFile::ReadExactAt(uint64_t offset, AlignedSpanMut dst) const {
  ASSIGN_OR_RETURN(const size_t n, ReadAt(offset, dst));
  if (n == dst.size()) return Status::Ok();
  // Engines return short counts only at end of file.
  return Status::IoError(Describe("read", path_, offset, dst.size()) + ": short read, got " +
                         std::to_string(n) + " bytes (end of file at " +
                         std::to_string(offset + n) + ")");
}

Status VirtualFile::WriteAllAt(uint64_t offset, AlignedSpan src) const {
  RETURN_IF_ERROR(CheckAligned("write", offset, src.data(), src.size()));
  const uint64_t start = common::MonotonicNanos();
  io_engine::IoResult result = ctx_.engine->Write(fd_, offset, src.span());
  Record(FileOp::kWrite, start, result.has_value() ? *result : 0, result.has_value());
  if (!result.has_value()) {
    return result.error().WithContext(Describe("write", path_, offset, src.size()));
  }
  return Status::Ok();
}

Status VirtualFile::PrepareBatchRead(const BatchRead& read) {
  if (read.file == nullptr) return Status::InvalidArgument("batch read: no file");
  return read.file->CheckAligned("read", read.offset, read.dst.data(), read.dst.size());
}

void VirtualFile::ReadBatch(std::span<BatchRead> reads) {
  // Grouped by engine in order of first appearance; one group in the
  // common case (no live engine flip since the files were opened).
  std::vector<io_engine::IoEngine*> engines;
  std::vector<std::vector<size_t>> groups;  // groups[g]: indexes into reads
  for (size_t i = 0; i < reads.size(); ++i) {
    Status status = PrepareBatchRead(reads[i]);
    if (!status.ok()) {
      reads[i].result = std::move(status);
      continue;
    }
    io_engine::IoEngine* engine = reads[i].file->ctx_.engine;
    const size_t g =
        static_cast<size_t>(std::find(engines.begin(), engines.end(), engine) - engines.begin());
    if (g == engines.size()) {
      engines.push_back(engine);
      groups.emplace_back();
    }
    groups[g].push_back(i);
  }
  for (size_t g = 0; g < engines.size(); ++g) SubmitGroup(*engines[g], groups[g], reads);
}

void VirtualFile::SubmitGroup(io_engine::IoEngine& engine, std::span<const size_t> owners,
                              std::span<BatchRead> reads) {
  std::vector<io_engine::IoRequest> requests;
  requests.reserve(owners.size());
  for (const size_t i : owners) {
    const BatchRead& read = reads[i];
    requests.push_back(io_engine::IoRequest::Read(read.file->fd_, read.offset, read.dst.span()));
  }
  std::vector<io_engine::IoResult> results(requests.size(), Status::Internal("not run"));
  const uint64_t start = common::MonotonicNanos();
  engine.SubmitBatch(requests, results);
  for (size_t j = 0; j < results.size(); ++j) {
    reads[owners[j]].result = FinishBatchRead(reads[owners[j]], std::move(results[j]), start);
  }
}

Result<size_t> VirtualFile::FinishBatchRead(const BatchRead& read, io_engine::IoResult result,
                                            uint64_t start_nanos) {
  const VirtualFile& file = *read.file;
  file.Record(FileOp::kRead, start_nanos, result.has_value() ? *result : 0, result.has_value());
  if (result.has_value()) return result;
  return result.error().WithContext(Describe("read", file.path_, read.offset, read.dst.size()));
}

Status VirtualFile::Sync() const {
  const uint64_t start = common::MonotonicNanos();
  const Status status = ctx_.engine->Fsync(fd_);
  Record(FileOp::kFsync, start, 0, status.ok());
  return status.WithContext("fsync " + path_);
}

Status VirtualFile::SyncData() const {
  const uint64_t start = common::MonotonicNanos();
  const Status status = ctx_.engine->Fdatasync(fd_);
  Record(FileOp::kFdatasync, start, 0, status.ok());
  return status.WithContext("fdatasync " + path_);
}

// ftruncate and fstat are metadata calls the engines do not offer (and
// io_uring gained ftruncate only in 6.9), so they are issued here.
Status VirtualFile::SetLen(uint64_t length) const {
  const uint64_t start = common::MonotonicNanos();
  int rc = 0;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(length));
  } while (rc != 0 && errno == EINTR);
  const int err = errno;
  Record(FileOp::kSetLen, start, 0, rc == 0);
  if (rc == 0) return Status::Ok();
  return Status::FromErrno(err, "set_len " + path_ + " length=" + std::to_string(length));
}

Result<uint64_t> VirtualFile::Size() const {
  const uint64_t start = common::MonotonicNanos();
  struct stat st {};
  const int rc = ::fstat(fd_, &st);
  const int err = errno;
  Record(FileOp::kMetadata, start, 0, rc == 0);
  if (rc != 0) return Status::FromErrno(err, "stat " + path_);
  return static_cast<uint64_t>(st.st_size);
}

Result<io_engine::AsyncIo> VirtualFile::SubmitWrite(uint64_t offset, AlignedSpan src) const {
  RETURN_IF_ERROR(CheckAligned("write", offset, src.data(), src.size()));
  Result<io_engine::AsyncIo> ticket = ctx_.engine->SubmitWrite(fd_, offset, src.span());
  if (ticket.has_value()) return ticket;
  Record(FileOp::kWrite, common::MonotonicNanos(), 0, false);
  return ticket.error().WithContext(Describe("write", path_, offset, src.size()));
}

// The write histogram observes, for async writes, how long the writer was
// blocked in WaitWrite: the submit time is not carried by the ticket, and the
// blocked time is what a BufferedWriter's caller actually pays.
Status VirtualFile::WaitWrite(io_engine::AsyncIo ticket, uint64_t offset, size_t length) const {
  const uint64_t start = common::MonotonicNanos();
  const io_engine::IoResult result = ctx_.engine->WaitWrite(std::move(ticket));
  Record(FileOp::kWrite, start, result.has_value() ? *result : 0, result.has_value());
  if (result.has_value()) return Status::Ok();
  return result.error().WithContext(Describe("write", path_, offset, length));
}

Result<io_engine::AsyncIo> VirtualFile::SubmitRead(uint64_t offset, AlignedSpanMut dst) const {
  RETURN_IF_ERROR(CheckAligned("read", offset, dst.data(), dst.size()));
  Result<io_engine::AsyncIo> ticket =
      ctx_.engine->SubmitAsync(io_engine::IoRequest::Read(fd_, offset, dst.span()));
  if (ticket.has_value()) return ticket;
  Record(FileOp::kRead, common::MonotonicNanos(), 0, false);
  return ticket.error().WithContext(Describe("read", path_, offset, dst.size()));
}

// As for async writes, the histogram observes the time blocked in WaitRead.
Result<size_t> VirtualFile::WaitRead(io_engine::AsyncIo ticket, uint64_t offset,
                                     size_t length) const {
  const uint64_t start = common::MonotonicNanos();
  io_engine::IoResult result = ctx_.engine->WaitAsync(std::move(ticket));
  Record(FileOp::kRead, start, result.has_value() ? *result : 0, result.has_value());
  if (result.has_value()) return result;
  return result.error().WithContext(Describe("read", path_, offset, length));
}

Result<size_t> QueryDirectIoAlignment(const std::string& path) {
  return StatxDioAlignment(AT_FDCWD, path.c_str(), 0);
}

Status SyncDirectory(const std::string& dir) {
  int fd = -1;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + dir);
  Status status;
  if (::fsync(fd) != 0) status = Status::FromErrno(errno, "fsync directory " + dir);
  ::close(fd);  // read-only directory fd: nothing to lose on close
  return status;
}

namespace {

constexpr std::string_view kTempSuffix = ".___temp";

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status RemoveIfExists(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  return Status::FromErrno(errno, "remove stale temp file " + path);
}

// Two buffers of at most the default size, but no bigger than the contents
// need: index files are small and replaced often.
size_t ReplaceBufferCapacity(size_t size, size_t alignment) {
  const uint64_t needed = std::max<uint64_t>(common::AlignUp(size, alignment), alignment);
  return static_cast<size_t>(
      std::min<uint64_t>(needed, common::AlignUp(BufferedWriter::kDefaultCapacity, alignment)));
}

Status WriteSyncedFile(const IoContext& ctx, const std::string& path,
                       std::span<const std::byte> contents) {
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::CreateTruncate()));
  {
    ASSIGN_OR_RETURN(
        std::unique_ptr<BufferedWriter> writer,
        BufferedWriter::Create(&file, 0, ReplaceBufferCapacity(contents.size(), file.alignment())));
    RETURN_IF_ERROR(writer->Append(contents));
    RETURN_IF_ERROR(writer->Finish());
  }
  return file.Sync();
}

Status RenameFile(const IoContext& ctx, const std::string& from, const std::string& to) {
  const uint64_t start = common::MonotonicNanos();
  const int rc = ::rename(from.c_str(), to.c_str());
  const int err = errno;
  RecordOp(ctx.metrics, FileOp::kRename, start, 0, rc == 0);
  if (rc != 0) return Status::FromErrno(err, "rename " + from + " to " + to);
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> ListFileNames(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), &::closedir);
  if (!handle) return Status::FromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(handle.get());
    if (entry == nullptr) break;
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st;
      const std::string path = dir + "/" + name;
      if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "lstat " + path);
      is_dir = S_ISDIR(st.st_mode);
    }
    if (!is_dir) names.push_back(name);
  }
  if (errno != 0) return Status::FromErrno(errno, "readdir " + dir);
  std::sort(names.begin(), names.end());
  return names;
}

Status CreateDirectoriesDurably(const std::string& dir) {
  const std::string parent = ParentDirectory(dir);
  if (!parent.empty() && parent != dir) {
    struct stat st;
    if (::stat(parent.c_str(), &st) != 0) RETURN_IF_ERROR(CreateDirectoriesDurably(parent));
  }
  if (::mkdir(dir.c_str(), 0755) == 0) return SyncDirectory(parent);
  if (errno == EEXIST) return Status::Ok();
  return Status::FromErrno(errno, "create directory " + dir);
}

Status ReplaceFileAtomically(const IoContext& ctx, const std::string& path,
                             std::span<const std::byte> contents) {
  const std::string temp = path + std::string(kTempSuffix);
  RETURN_IF_ERROR(RemoveIfExists(temp));
  RETURN_IF_ERROR(WriteSyncedFile(ctx, temp, contents).WithContext("replace " + path));
  common::FailPoint("replace-before-rename");
  RETURN_IF_ERROR(RenameFile(ctx, temp, path));
  return SyncDirectory(ParentDirectory(path));
}

}  // namespace pageserver::virtual_file
