#pragma once

// Per-operation IO metrics for VirtualFile, labelled by engine and io mode:
//
//   ps_virtual_file_op_seconds{op,engine,mode}       histogram (latency)
//   ps_virtual_file_bytes_total{op,engine,mode}      counter (read/write only)
//   ps_virtual_file_errors_total{op,engine,mode}     counter
//
// op is one of: open, read, write, fsync, fdatasync, set_len, close, rename,
// metadata. Series are resolved once at construction; Record() is a few
// relaxed atomics.
//
// Thread-safety: Record() is thread-safe.

#include <array>
#include <cstdint>
#include <string_view>

#include "common/metrics.h"
#include "virtual_file/io_mode.h"

namespace pageserver::virtual_file {

enum class FileOp : unsigned char {
  kOpen,
  kRead,
  kWrite,
  kFsync,
  kFdatasync,
  kSetLen,
  kClose,
  kRename,
  kMetadata,
};
inline constexpr size_t kFileOpCount = 9;
std::string_view FileOpName(FileOp op);

class IoMetrics {
 public:
  IoMetrics(common::Registry& registry, std::string_view engine, IoMode mode);

  void Record(FileOp op, uint64_t nanos, uint64_t bytes, bool ok);

 private:
  struct Series {
    common::Histogram* latency = nullptr;
    common::Counter* bytes = nullptr;
    common::Counter* errors = nullptr;
  };
  std::array<Series, kFileOpCount> series_;
};

}  // namespace pageserver::virtual_file
