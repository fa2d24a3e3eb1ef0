#pragma once

// Reading helpers shared by ImageLayerReader and DeltaLayerReader (internal
// to layers/): opening and validating a layer file, locating its index, and
// the checks every value read makes.
//
// Thread-safety: pure functions; OpenedLayer is a plain value.

#include <cstddef>
#include <span>
#include <string>

#include "common/status.h"
#include "layers/blob.h"
#include "layers/disk_btree.h"
#include "layers/key.h"
#include "layers/layer_name.h"
#include "layers/layer_summary.h"
#include "layers/vectored_read.h"
#include "page_cache/page_cache.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

namespace internal {

// An opened, validated layer file.
struct OpenedLayer {
  virtual_file::VirtualFile file;
  LayerSummary summary;
  page_cache::FileId file_id;
};

// Opens `path` for reading, reads block 0 through `cache` (BlockKind
// kLayerSummary, under a fresh FileId), DecodeSummary with `kind` expected,
// CheckFileLength against the file's size.
common::Result<OpenedLayer> OpenLayerFile(const virtual_file::IoContext& ctx,
                                          const std::string& path, page_cache::PageCache* cache,
                                          LayerKind kind);

// Where the index of a validated layer lives. `file` must outlive the tree reader.
BtreeLocation IndexLocation(const LayerSummary& summary, const virtual_file::VirtualFile& file,
                            page_cache::FileId id, page_cache::PageCache* cache);

// The file's alignment and the read cap (at least one alignment unit).
PlannerOptions PlannerOptionsFor(const virtual_file::VirtualFile& file, size_t max_read_bytes);

// Corruption naming path, key and blob unless the blob lies inside
// [8192, value_region_end) and holds at least a blob header.
common::Status CheckBlobRef(const LayerSummary& summary, const std::string& path, const Key& key,
                            BlobRef blob);

// Plans `blobs` (VectoredReadPlan::Build with the file's alignment and
// `max_read_bytes`) as plan 0 of a new batch and executes it: every read in
// one VirtualFile::ReadBatch. Decode blob i with DecodeChecked(batch, 0, i, ...).
VectoredReadBatch ReadBlobs(const virtual_file::VirtualFile& file, std::span<const BlobRef> blobs,
                            size_t max_read_bytes);

// Decodes blob `blob` of plan `plan`, checking that its will_init flag
// agrees with the index entry `ref` (Corruption otherwise).
common::Result<DecodedBlob> DecodeChecked(const VectoredReadBatch& batch, size_t plan, size_t blob,
                                          BlobRef ref, const std::string& path);

}  // namespace internal

}  // namespace pageserver::layers
