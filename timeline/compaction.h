#pragma once

// L0 -> L1 compaction: the merge step of Neon's compact_level0.
//
// L0 delta layers each cover the whole keyspace over a short LSN range, so a
// read must visit every one of them. CompactDeltas merges a set of L0s into
// L1 delta layers partitioned by key range, each covering the union of the
// inputs' LSN ranges, so a read visits one L1 per key range instead.
//
//   std::vector<const layers::DeltaLayerReader*> l0s = ...;
//   ASSIGN_OR_RETURN(auto l1s, CompactDeltas(ctx, l0s, {.dir = timeline_dir, ...}));
//   // publish a layer map with l1s instead of l0s, then delete the l0s
//
// How it works: two passes of a k-way merge (a min-heap on (key, LSN)).
//   1. Plan: the merge walks only the inputs' indexes, whose BlobRefs carry
//      each blob's length, and chooses where outputs split: a new output
//      starts at the first new key once the current one holds
//      target_file_size bytes of blobs (one key's history is never split
//      across files). Duplicate (key, LSN) pairs are found here, before any
//      output file exists. This pass is needed because an output's name and
//      summary state its key range, which must be known when its writer is
//      created.
//   2. Write: the merge walks LayerIterators over the inputs and copies every
//      entry (will_init flag and value bytes unchanged) into the planned
//      outputs with DeltaLayerWriter.
// Memory is bounded by inputs x read_ahead_bytes (plus one index node per
// tree level per input and the writer's buffers), never by a layer's size.
//
// Outputs tile the inputs' key range exactly: the first starts at the
// smallest input key range start, each ends where the next begins (its first
// key), the last ends at the largest input key range end. Every output's LSN
// range is [min input LSN start, max input LSN end). Inputs holding no entry
// at all produce no output.
//
// Errors: any error (IO, Corruption from an input, a writer refusal) aborts
// the compaction; the outputs finished before it are deleted again (and the
// directory fsynced), so the caller either gets every output or none and its
// layer map is never half-updated. The error names the failing step and file.
//
// Thread-safety: CompactDeltas may run concurrently with reads of the inputs
// (readers are immutable), but two compactions must not write into the same
// directory with overlapping outputs. Ownership: the inputs stay owned by the
// caller and must outlive the call; the returned outputs are files in
// options.dir that the caller now owns.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/delta_layer.h"
#include "layers/ids.h"
#include "layers/image_layer.h"
#include "layers/layer_iterator.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::timeline {

// Neon's default `compaction_target_size` (128 MiB).
inline constexpr uint64_t kDefaultCompactionTargetSize = uint64_t{128} << 20;

struct CompactionOptions {
  std::string dir;  // where the outputs are written (the timeline directory)
  layers::TenantId tenant;
  layers::TimelineId timeline;
  // Config `compaction_target_size`: an output is closed at the next key
  // change once its value region holds this many bytes. 0 gives one output
  // per distinct key.
  uint64_t target_file_size = kDefaultCompactionTargetSize;
  // LayerIterator read-ahead, per input.
  size_t read_ahead_bytes = layers::kDefaultReadAheadBytes;
  layers::LayerWriterOptions writer;
};

// Merges `inputs` (L0 delta layers of one timeline) into L1 delta layers in
// options.dir and returns them in key order.
// REQUIRES: inputs is non-empty (else InvalidArgument) and holds no null
// pointer. Corruption naming both files when two inputs (or one) hold the same
// (key, LSN): the L0s of a timeline have disjoint LSN ranges.
common::Result<std::vector<layers::WrittenLayer>> CompactDeltas(
    const virtual_file::IoContext& ctx, std::span<const layers::DeltaLayerReader* const> inputs,
    const CompactionOptions& options);

}  // namespace pageserver::timeline
