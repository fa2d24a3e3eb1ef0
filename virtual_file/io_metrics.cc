#include "virtual_file/io_metrics.h"

#include <string>
#include <vector>

namespace pageserver::virtual_file {
namespace {

constexpr std::string_view kLatencyName = "ps_virtual_file_op_seconds";
constexpr std::string_view kBytesName = "ps_virtual_file_bytes_total";
constexpr std::string_view kErrorsName = "ps_virtual_file_errors_total";

bool TransfersBytes(FileOp op) { return op == FileOp::kRead || op == FileOp::kWrite; }

}  // namespace

std::string_view FileOpName(FileOp op) {
  switch (op) {
    case FileOp::kOpen:
      return "open";
    case FileOp::kRead:
      return "read";
    case FileOp::kWrite:
      return "write";
    case FileOp::kFsync:
      return "fsync";
    case FileOp::kFdatasync:
      return "fdatasync";
    case FileOp::kSetLen:
      return "set_len";
    case FileOp::kClose:
      return "close";
    case FileOp::kRename:
      return "rename";
    case FileOp::kMetadata:
      return "metadata";
  }
  return "unknown";
}

IoMetrics::IoMetrics(common::Registry& registry, std::string_view engine, IoMode mode) {
  const std::vector<double> buckets = common::LatencyBucketsSeconds();
  for (size_t i = 0; i < kFileOpCount; ++i) {
    const auto op = static_cast<FileOp>(i);
    const common::Labels labels = {{"op", std::string(FileOpName(op))},
                                   {"engine", std::string(engine)},
                                   {"mode", std::string(IoModeName(mode))}};
    Series& s = series_[i];
    s.latency = &registry.GetHistogram(kLatencyName, "VirtualFile operation latency in seconds.",
                                       buckets, labels);
    s.errors = &registry.GetCounter(kErrorsName, "VirtualFile operations that failed.", labels);
    if (TransfersBytes(op)) {
      s.bytes =
          &registry.GetCounter(kBytesName, "Bytes moved by VirtualFile reads and writes.", labels);
    }
  }
}

void IoMetrics::Record(FileOp op, uint64_t nanos, uint64_t bytes, bool ok) {
  const Series& s = series_[static_cast<size_t>(op)];
  s.latency->Observe(static_cast<double>(nanos) * 1e-9);
  if (s.bytes != nullptr && bytes != 0) s.bytes->IncrementBy(bytes);
  if (!ok) s.errors->Increment();
}

}  // namespace pageserver::virtual_file
