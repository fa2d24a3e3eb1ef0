#include "io_engine/io_engine.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>

#include "io_engine/backends.h"
#include "io_engine/fault_injector.h"

namespace pageserver::io_engine {

std::string_view IoOpcodeName(IoOpcode op) {
  switch (op) {
    case IoOpcode::kRead:
      return "read";
    case IoOpcode::kWrite:
      return "write";
    case IoOpcode::kFsync:
      return "fsync";
    case IoOpcode::kFdatasync:
      return "fdatasync";
  }
  return "unknown";
}

namespace internal {

std::string DescribeRequest(const IoRequest& request) {
  std::string out(IoOpcodeName(request.opcode));
  out += " fd=" + std::to_string(request.fd);
  if (request.opcode == IoOpcode::kRead || request.opcode == IoOpcode::kWrite) {
    out += " offset=" + std::to_string(request.offset);
    out += " length=" + std::to_string(request.length);
  }
  return out;
}

Result<int> OpenFile(const std::string& path, int flags, unsigned mode,
                     const FaultInjector& faults) {
  if (faults.refuse_o_direct() && (flags & O_DIRECT) != 0) {
    return Status::FromErrno(EINVAL, "open " + path);
  }
  for (;;) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return fd;
    if (errno != EINTR) return Status::FromErrno(errno, "open " + path);
  }
}

Status UringDisabledByEnv() {
  const char* value = std::getenv(kUringDisableEnv);
  if (value == nullptr || *value == '\0' || std::string_view(value) == "0") return Status::Ok();
  return Status::Unsupported(std::string("disabled by ") + kUringDisableEnv + "=" + value);
}

Status CloseFile(int fd) {
  // close(2) must not be retried on EINTR: the fd is gone either way.
  if (::close(fd) != 0) return Status::FromErrno(errno, "close fd=" + std::to_string(fd));
  return Status::Ok();
}

}  // namespace internal

IoResult IoEngine::Read(int fd, uint64_t offset, std::span<std::byte> dst) {
  const IoRequest request = IoRequest::Read(fd, offset, dst);
  IoResult result = Status::Internal("not run");
  SubmitBatch({&request, 1}, {&result, 1});
  return result;
}

IoResult IoEngine::Write(int fd, uint64_t offset, std::span<const std::byte> src) {
  const IoRequest request = IoRequest::Write(fd, offset, src);
  IoResult result = Status::Internal("not run");
  SubmitBatch({&request, 1}, {&result, 1});
  return result;
}

namespace {

Status RunSync(IoEngine& engine, const IoRequest& request) {
  IoResult result = Status::Internal("not run");
  engine.SubmitBatch({&request, 1}, {&result, 1});
  return result.has_value() ? Status::Ok() : result.error();
}

}  // namespace

Status IoEngine::Fsync(int fd) { return RunSync(*this, IoRequest::Fsync(fd)); }
Status IoEngine::Fdatasync(int fd) { return RunSync(*this, IoRequest::Fdatasync(fd)); }

Result<IoEngineKind> ParseIoEngineKind(std::string_view text) {
  if (text == "auto") return IoEngineKind::kAuto;
  if (text == "std-fs") return IoEngineKind::kStdFs;
  if (text == "io-uring") return IoEngineKind::kIoUring;
  return Status::InvalidArgument("unknown io engine '" + std::string(text) +
                                 "' (expected auto, std-fs or io-uring)");
}

std::string_view IoEngineKindName(IoEngineKind kind) {
  switch (kind) {
    case IoEngineKind::kAuto:
      return "auto";
    case IoEngineKind::kStdFs:
      return "std-fs";
    case IoEngineKind::kIoUring:
      return "io-uring";
  }
  return "unknown";
}

Status ProbeIoUring() { return internal::ProbeUring(); }

Result<std::unique_ptr<IoEngine>> CreateIoEngine(const IoEngineOptions& options) {
  switch (options.kind) {
    case IoEngineKind::kStdFs:
      return internal::NewStdFsEngine(options);
    case IoEngineKind::kIoUring: {
      auto engine = internal::NewUringEngine(options);
      if (!engine.has_value()) return engine.error().WithContext("io engine io-uring unusable");
      return engine;
    }
    case IoEngineKind::kAuto: {
      auto engine = internal::NewUringEngine(options);
      if (engine.has_value()) return engine;
      // Once per process: every VirtualFile user creating an engine would
      // otherwise repeat the same line.
      static std::once_flag logged;
      std::call_once(logged, [&] {
        spdlog::warn("io engine auto: io_uring unusable ({}), falling back to std-fs",
                     engine.error().ToString());
      });
      return internal::NewStdFsEngine(options);
    }
  }
  return Status::InvalidArgument("bad io engine kind");
}

}  // namespace pageserver::io_engine
