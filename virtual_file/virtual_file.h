#pragma once

// VirtualFile: every file the pageserver reads or writes goes through here.
//
// It decides O_DIRECT from the io mode (io_mode.h), discovers the file's
// direct-IO alignment, validates every request's address, offset and length
// against it *before* any syscall (in every mode), routes the IO to the
// configured IoEngine, records metrics, and attaches path and operation to
// every error.
//
// Alignment policy: a file's alignment is max(IoContext::io_alignment,
// statx(STATX_DIOALIGN).stx_dio_offset_align, .stx_dio_mem_align) when the
// kernel reports DIOALIGN (Linux 6.1+), else IoContext::io_alignment. Offset
// and length must be multiples of it and the buffer address must be aligned
// to it; a violation is InvalidArgument naming path, offset and length, never
// the kernel's EINVAL.
//
// A filesystem that refuses O_DIRECT (open fails with EINVAL) is an
// InvalidArgument error naming the path and the io mode, unless the context
// sets `direct_fallback`, in which case the file is opened buffered, a
// warning is logged once per process and is_direct() reports false.
//
// Thread-safety: a VirtualFile may be read from many threads at once; writes
// to disjoint ranges may also run concurrently. Open/close are not
// concurrent with other calls on the same object.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "io_engine/io_engine.h"
#include "virtual_file/io_buffer.h"
#include "virtual_file/io_metrics.h"
#include "virtual_file/io_mode.h"

namespace pageserver::virtual_file {

struct IoContext;

// Runtime-switchable IO settings (the daemon's `PUT /v1/io_engine` and
// `PUT /v1/io_mode`). When IoContext::live is set, VirtualFile::Open asks it
// for the engine, mode and metrics of the file being opened; files opened
// earlier keep what they were opened with (Neon's semantics for a flip).
// Thread-safety: Resolve() is called concurrently from any thread and must
// return a consistent choice (never the engine of one setting with the mode
// of another).
class LiveIoSettings {
 public:
  virtual ~LiveIoSettings() = default;
  // Overwrites ctx.engine, ctx.mode and ctx.metrics with the current choice.
  virtual void Resolve(IoContext& ctx) const = 0;
};

// Bytes moved on behalf of one owner (the daemon counts them per tenant:
// the explicit resource accounting direct IO makes possible). Either
// counter may be null.
struct IoAccounting {
  common::Counter* read_bytes = nullptr;
  common::Counter* write_bytes = nullptr;
};

// Process-wide IO settings shared by every VirtualFile. Not owned by files:
// the engine, metrics, accounting and live settings must outlive every file
// opened with the context.
struct IoContext {
  io_engine::IoEngine* engine = nullptr;
  IoMode mode = IoMode::kBuffered;
  // Engine-wide minimum alignment (config `io_alignment`): 512 by default,
  // 4096 for 4K-sector devices. REQUIRES: power of two.
  size_t io_alignment = 512;
  // Open buffered instead of failing when the filesystem refuses O_DIRECT.
  bool direct_fallback = false;
  // Optional; nullptr disables metrics.
  IoMetrics* metrics = nullptr;
  // Optional: also count read and written bytes here.
  const IoAccounting* accounting = nullptr;
  // Optional: engine, mode and metrics decided at each Open (see above).
  const LiveIoSettings* live = nullptr;
};

struct OpenOptions {
  OpenIntent intent = OpenIntent::kRead;
  bool create = false;     // O_CREAT
  bool truncate = false;   // O_TRUNC
  bool exclusive = false;  // O_EXCL (with create)
  unsigned permissions = 0644;

  static OpenOptions Read() { return {}; }
  // Create or truncate, write-only.
  static OpenOptions CreateTruncate() { return {OpenIntent::kWrite, true, true, false}; }
  // Create or open, read and write (files read back while written).
  static OpenOptions CreateReadWrite() { return {OpenIntent::kReadWrite, true, false, false}; }
};

class VirtualFile {
 public:
  // Opens `path`. Errors: NotFound, the O_DIRECT refusal described above,
  // anything open(2) reports (with path and mode in the message).
  static Result<VirtualFile> Open(const IoContext& ctx, const std::string& path,
                                  const OpenOptions& options);

  VirtualFile(VirtualFile&& other) noexcept;
  VirtualFile& operator=(VirtualFile&& other) noexcept;
  VirtualFile(const VirtualFile&) = delete;
  VirtualFile& operator=(const VirtualFile&) = delete;
  ~VirtualFile();  // closes; a close error is logged, not lost silently

  // Reads up to dst.size() bytes at `offset`. The result is dst.size() except
  // at end of file, where it is what the file holds (0 past the end).
  // REQUIRES (checked): offset, dst.size() and dst.data() aligned.
  Result<size_t> ReadAt(uint64_t offset, AlignedSpanMut dst) const;
  // As ReadAt, but anything short of dst.size() is an IoError naming path,
  // offset, requested and obtained length.
  Status ReadExactAt(uint64_t offset, AlignedSpanMut dst) const;
  // Writes all of `src` at `offset`. REQUIRES (checked): aligned as above.
  Status WriteAllAt(uint64_t offset, AlignedSpan src) const;

  // One read of a batch; see ReadBatch().
  struct BatchRead {
    const VirtualFile* file = nullptr;
    uint64_t offset = 0;
    AlignedSpanMut dst;
    Result<size_t> result = Status::Internal("not run");
  };
  // Validates each read, then issues every valid one as one engine batch
  // (one io_uring submit) and waits once. Each read's result is set
  // independently: a misaligned or failed read fails only itself. Files
  // opened with different engines (before and after a live engine flip)
  // make one batch per engine, issued one after the other.
  static void ReadBatch(std::span<BatchRead> reads);

  Status Sync() const;      // fsync
  Status SyncData() const;  // fdatasync
  // ftruncate to exactly `length` (need not be aligned).
  Status SetLen(uint64_t length) const;
  Result<uint64_t> Size() const;

  // Async write of a whole aligned span, for BufferedWriter's overlap.
  // Same alignment checks as WriteAllAt. Wait on the same thread.
  Result<io_engine::AsyncIo> SubmitWrite(uint64_t offset, AlignedSpan src) const;
  Status WaitWrite(io_engine::AsyncIo ticket, uint64_t offset, size_t length) const;

  // Async read into an aligned span (same checks as ReadAt), for readers that
  // keep a constant number of reads in flight instead of waiting for whole
  // batches. WaitRead returns bytes read (short only at end of file); wait on
  // the submitting thread, exactly once. `dst` must stay alive until then.
  Result<io_engine::AsyncIo> SubmitRead(uint64_t offset, AlignedSpanMut dst) const;
  Result<size_t> WaitRead(io_engine::AsyncIo ticket, uint64_t offset, size_t length) const;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  size_t alignment() const { return alignment_; }
  bool is_direct() const { return direct_; }
  const IoContext& context() const { return ctx_; }

 private:
  VirtualFile(const IoContext& ctx, std::string path, int fd, size_t alignment, bool direct);
  Status CheckAligned(std::string_view op, uint64_t offset, const void* data, size_t length) const;
  void Record(FileOp op, uint64_t start_nanos, uint64_t bytes, bool ok) const;
  void CloseAndLog();
  // ReadBatch steps: validation of one read (`engine` is the batch's engine
  // so far, nullptr before the first valid read), and its result.
  static Status PrepareBatchRead(const BatchRead& read);
  static void SubmitGroup(io_engine::IoEngine& engine, std::span<const size_t> owners,
                          std::span<BatchRead> reads);
  static Result<size_t> FinishBatchRead(const BatchRead& read, io_engine::IoResult result,
                                        uint64_t start_nanos);

  IoContext ctx_;
  std::string path_;
  int fd_ = -1;
  size_t alignment_ = 512;
  bool direct_ = false;
};

// The direct-IO alignment statx reports for `path` (max of memory and offset
// alignment), or 0 when the kernel does not report DIOALIGN for it (older
// kernel, or a filesystem without direct IO).
Result<size_t> QueryDirectIoAlignment(const std::string& path);

// fsyncs a directory so a rename or create inside it is durable.
Status SyncDirectory(const std::string& dir);

// Names of the entries of `dir` that are not directories (files, links,
// ...), sorted; "." and ".." excluded. DT_UNKNOWN falls back to lstat.
// Errors: what opendir/readdir/lstat report, naming the path.
Result<std::vector<std::string>> ListFileNames(const std::string& dir);

// mkdir -p that survives a crash: creates `dir` and its missing parents and
// fsyncs the parent of every directory it created. An existing `dir` is OK.
Status CreateDirectoriesDurably(const std::string& dir);

// Crash-safe whole-file replace: writes `contents` to "<path>.___temp"
// (through BufferedWriter, so O_DIRECT under direct-rw), fsyncs it, renames
// it over `path`, fsyncs the directory. After a crash, `path` holds either
// the old or the new contents; a leftover temp file may remain and is
// removed by the next replace.
Status ReplaceFileAtomically(const IoContext& ctx, const std::string& path,
                             std::span<const std::byte> contents);

}  // namespace pageserver::virtual_file
