#pragma once

// IoEngine: the only code that issues file IO system calls.
//
// Requests are plain values (fd, offset, buffer). Two backends exist:
//   - "std-fs":   pread/pwrite/fsync on the calling thread; a batch is a
//                 serial loop.
//   - "io-uring": liburing, one ring per (engine, thread), created lazily;
//                 a batch is submitted with one io_uring_submit and reaped
//                 together.
// Backends are private; CreateIoEngine() is the only way to get one.
//
// Transfer semantics, identical for every engine:
//   - A read completes the whole buffer unless it reaches end of file: the
//     result is the byte count, smaller than requested only at EOF (0 when
//     the offset is at or past EOF). Short transfers are resubmitted for the
//     rest; EINTR/EAGAIN are retried; ECANCELED is retried once.
//   - A write transfers all bytes or fails. A write that makes no progress is
//     an IoError.
//   - Errors are Status values carrying errno and context (operation, fd,
//     offset, length). Engines never print and never abort on IO results.
//
// Alignment: engines do not validate alignment; VirtualFile does that before
// it calls an engine (see virtual_file/). Engines pass buffers to the kernel
// as given.
//
// Thread-safety: every method may be called concurrently from any number of
// threads. An async request ticket must be waited for on the thread that
// submitted it (io_uring completions are reaped from that thread's ring).
//
// Buffer ownership: the caller owns every buffer and must keep it alive and
// untouched until the call returns (synchronous calls) or until WaitAsync
// returns (async requests). Engines never retain a buffer past that point.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pageserver::common {
class Registry;
}

namespace pageserver::io_engine {

using common::Result;
using common::Status;

enum class IoOpcode : unsigned char { kRead, kWrite, kFsync, kFdatasync };

// "read", "write", "fsync", "fdatasync".
std::string_view IoOpcodeName(IoOpcode op);

// One IO request. For kFsync/kFdatasync, offset and buffer are ignored.
struct IoRequest {
  IoOpcode opcode = IoOpcode::kRead;
  int fd = -1;
  uint64_t offset = 0;
  std::byte* data = nullptr;  // destination (read) or source (write)
  size_t length = 0;

  static IoRequest Read(int fd, uint64_t offset, std::span<std::byte> dst) {
    return {IoOpcode::kRead, fd, offset, dst.data(), dst.size()};
  }
  static IoRequest Write(int fd, uint64_t offset, std::span<const std::byte> src) {
    // The engine never writes through `data` for a write request.
    return {IoOpcode::kWrite, fd, offset, const_cast<std::byte*>(src.data()), src.size()};
  }
  static IoRequest Fsync(int fd) { return {IoOpcode::kFsync, fd, 0, nullptr, 0}; }
  static IoRequest Fdatasync(int fd) { return {IoOpcode::kFdatasync, fd, 0, nullptr, 0}; }
};

// Bytes transferred (reads: may be short only at EOF; writes: == length;
// syncs: 0) or the error.
using IoResult = Result<size_t>;

// Seeded kernel-behaviour injection, applied by the engines to raw syscall /
// CQE results *below* their retry logic, so tests exercise the same code
// paths a real short read or EAGAIN takes. Each rate is "one in N" (0 = off),
// drawn from a PRNG seeded with `seed`, so a failing run replays exactly.
struct FaultPlan {
  uint64_t seed = 0;
  uint32_t error_one_in = 0;  // fail the op with `error_errno`
  int error_errno = 5;        // EIO
  uint32_t short_one_in = 0;  // transfer only a prefix (at least 1 byte)
  // Injected short transfers are multiples of this (1 = any prefix). Set it
  // to the file alignment for O_DIRECT files: the kernel only ever shortens a
  // direct transfer at a block boundary, and resubmitting a misaligned rest
  // would (rightly) fail with EINVAL.
  uint32_t short_unit = 1;
  uint32_t zero_one_in = 0;      // a read returns 0 bytes (looks like EOF)
  uint32_t eagain_one_in = 0;    // -EAGAIN: must be retried transparently
  bool refuse_o_direct = false;  // open() with O_DIRECT fails with EINVAL
  // io-uring only; these act on io_uring_submit itself, not on one request.
  uint32_t submit_busy_one_in = 0;   // -EBUSY: the engine reaps, then retries
  uint32_t ring_failure_one_in = 0;  // -ENXIO: the ring breaks (see uring_engine.cc)

  bool enabled() const {
    return error_one_in || short_one_in || zero_one_in || eagain_one_in || refuse_o_direct ||
           submit_busy_one_in || ring_failure_one_in;
  }
};

// Handle of an asynchronous request. Move-only; WaitAsync consumes it.
class AsyncIo {
 public:
  AsyncIo() = default;
  explicit AsyncIo(uint64_t id) : id_(id) {}
  AsyncIo(AsyncIo&& other) noexcept : id_(other.id_) { other.id_ = 0; }
  AsyncIo& operator=(AsyncIo&& other) noexcept {
    id_ = other.id_;
    other.id_ = 0;
    return *this;
  }
  AsyncIo(const AsyncIo&) = delete;
  AsyncIo& operator=(const AsyncIo&) = delete;

  bool valid() const { return id_ != 0; }
  uint64_t id() const { return id_; }

 private:
  uint64_t id_ = 0;
};

class IoEngine {
 public:
  virtual ~IoEngine() = default;

  // "std-fs" or "io-uring" (decorators report their inner engine's name).
  virtual std::string_view name() const = 0;

  // open(2) with the given flags/mode. Returns the fd. The error names path.
  virtual Result<int> Open(const std::string& path, int flags, unsigned mode) = 0;
  // close(2). The fd is released even when close reports an error.
  virtual Status Close(int fd) = 0;

  // Runs every request to completion and stores each one's result in
  // `results[i]`. Requests are independent: one failing does not affect the
  // others. REQUIRES: results.size() == requests.size().
  virtual void SubmitBatch(std::span<const IoRequest> requests, std::span<IoResult> results) = 0;

  // Starts `request` and returns once it is with the kernel (io-uring) or a
  // worker thread (std-fs). The caller must keep the request's buffer alive
  // and untouched until WaitAsync(ticket) returns, and call WaitAsync exactly
  // once, on the submitting thread. Used by BufferedWriter to overlap a flush
  // with filling the next buffer, and by pipelined readers that keep a
  // constant number of reads in flight.
  virtual Result<AsyncIo> SubmitAsync(const IoRequest& request) = 0;
  // Blocks until the request completes; returns its result with the same
  // semantics as SubmitBatch. Waiting for a request whose completion was
  // already reaped (by another call on this thread) returns at once.
  virtual IoResult WaitAsync(AsyncIo ticket) = 0;

  // Async write conveniences over SubmitAsync/WaitAsync.
  Result<AsyncIo> SubmitWrite(int fd, uint64_t offset, std::span<const std::byte> src) {
    return SubmitAsync(IoRequest::Write(fd, offset, src));
  }
  IoResult WaitWrite(AsyncIo ticket) { return WaitAsync(std::move(ticket)); }

  // Single-request conveniences built on SubmitBatch.
  IoResult Read(int fd, uint64_t offset, std::span<std::byte> dst);
  IoResult Write(int fd, uint64_t offset, std::span<const std::byte> src);
  Status Fsync(int fd);
  Status Fdatasync(int fd);
};

enum class IoEngineKind : unsigned char { kAuto, kStdFs, kIoUring };

// "auto" | "std-fs" | "io-uring" (the config spelling).
Result<IoEngineKind> ParseIoEngineKind(std::string_view text);
std::string_view IoEngineKindName(IoEngineKind kind);

struct IoEngineOptions {
  IoEngineKind kind = IoEngineKind::kAuto;
  // io_uring submission queue entries per ring (per thread). A batch larger
  // than this is submitted in ring-sized waves.
  unsigned ring_entries = 128;
  // Kernel behaviour injection for tests; disabled by default.
  FaultPlan faults;
  // Where the engine registers its metrics (io_uring queue depth). nullptr =
  // common::DefaultRegistry().
  common::Registry* registry = nullptr;
};

// Whether io_uring can be used here: OK, or Unsupported naming the reason
// (sysctl kernel.io_uring_disabled, EPERM from seccomp, ENOMEM from
// RLIMIT_MEMLOCK, a missing opcode, or liburing absent at build time).
// The kernel is probed once per process and the answer cached. Setting the
// environment variable PS_IO_URING_DISABLE=1 makes it report io_uring
// unusable ("disabled by PS_IO_URING_DISABLE=1"), to exercise the fallback.
Status ProbeIoUring();

// Builds an engine. kAuto picks io-uring when ProbeIoUring() is OK and
// otherwise std-fs, logging the reason once. kIoUring when io_uring is
// unusable is an Unsupported error carrying the probe's reason.
Result<std::unique_ptr<IoEngine>> CreateIoEngine(const IoEngineOptions& options);

}  // namespace pageserver::io_engine
