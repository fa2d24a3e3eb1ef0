#include "io_engine/io_engine.h"

#include <spdlog/spdlog.h>

#include <string>

#include "io_engine/backends.h"

namespace pageserver::io_engine {

std::string_view IoOpcodeName(IoOpcode op) {
  switch (op) {
    case IoOpcode::kRead: return "read";
    case IoOpcode::kWrite: return "write";
    case IoOpcode::kFsync: return "fsync";
    case IoOpcode::kFdatasync: return "fdatasync";
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
    case IoEngineKind::kAuto: return "auto";
    case IoEngineKind::kStdFs: return "std-fs";
    case IoEngineKind::kIoUring: return "io-uring";
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
      spdlog::warn("io engine auto: io_uring unusable ({}), falling back to std-fs",
                   engine.error().ToString());
      return internal::NewStdFsEngine(options);
    }
  }
  return Status::InvalidArgument("bad io engine kind");
}

}  // namespace pageserver::io_engine
