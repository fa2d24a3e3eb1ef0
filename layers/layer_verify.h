#pragma once

// Whole-file inspection of a layer: statistics for `pagectl layer dump` and
// a full integrity check for `pagectl layer verify`.
//
// Verification checks, and reports every problem found (not just the
// first): the summary (checksum, version, consistency, file length); every
// index node (checksum, level, key width, child pointers); key order across
// the whole index; entry count and value byte totals against the summary;
// every key inside the summary's key range (and, for delta layers, every LSN
// inside its LSN range); every BlobRef inside the value region, blobs in file
// order without overlap; every blob's checksum and decode.
//
// Thread-safety: pure functions over a file; they use their own small PageCache.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/layer_summary.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

struct LayerStats {
  LayerSummary summary;
  uint64_t file_bytes = 0;
  uint32_t index_depth = 0;
  uint64_t index_nodes = 0;
  uint64_t leaf_nodes = 0;
  double mean_leaf_fanout = 0;       // entries per leaf
  double mean_inner_fanout = 0;      // children per inner node (0 without inner nodes)
  uint64_t stored_value_bytes = 0;   // value region: headers + payloads as stored
  uint64_t decoded_value_bytes = 0;  // summary.value_bytes
  uint64_t compressed_values = 0;    // blobs stored zstd-compressed
  double compression_ratio = 1.0;    // decoded payload bytes / stored payload bytes
};

// The kind recorded in block 0 of `path` (reads the summary only).
common::Result<LayerKind> PeekLayerKind(const virtual_file::IoContext& ctx,
                                        const std::string& path);

// Reads the summary and walks the index (and blob headers for the
// compression figures). Errors: what opening the layer returns.
common::Result<LayerStats> ComputeLayerStats(const virtual_file::IoContext& ctx,
                                             const std::string& path);

struct VerifyReport {
  std::optional<LayerSummary> summary;  // when block 0 decoded
  std::vector<std::string> problems;    // empty: the file is sound
  uint64_t nodes_checked = 0;
  uint64_t entries_checked = 0;
  uint64_t blobs_checked = 0;
  bool ok() const { return problems.empty(); }
};

// Never fails for a damaged file (damage goes into problems); the Status
// is for being unable to look at all (NotFound, permission).
common::Result<VerifyReport> VerifyLayerFile(const virtual_file::IoContext& ctx,
                                             const std::string& path);

}  // namespace pageserver::layers
