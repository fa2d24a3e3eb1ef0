#include "layers/layer_file.h"

#include <algorithm>
#include <utility>

namespace pageserver::layers::internal {

using common::Result;
using common::Status;
using virtual_file::IoContext;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

Result<OpenedLayer> OpenLayerFile(const IoContext& ctx, const std::string& path,
                                  page_cache::PageCache* cache, LayerKind kind) {
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::Read()));
  const page_cache::FileId id = cache->NewFileId();
  LayerSummary summary;
  {
    ASSIGN_OR_RETURN(const page_cache::PageGuard block,
                     cache->Read(id, 0, page_cache::BlockKind::kLayerSummary, file));
    ASSIGN_OR_RETURN(summary, DecodeSummary(block.data(), path, kind));
  }
  ASSIGN_OR_RETURN(const uint64_t length, file.Size());
  RETURN_IF_ERROR(CheckFileLength(summary, length, path));
  return OpenedLayer{std::move(file), summary, id};
}

BtreeLocation IndexLocation(const LayerSummary& summary, const VirtualFile& file,
                            page_cache::FileId id, page_cache::PageCache* cache) {
  BtreeLocation loc;
  loc.cache = cache;
  loc.file_id = id;
  loc.file = &file;
  loc.kind = summary.kind == LayerKind::kImage ? page_cache::BlockKind::kImageBtreeNode
                                               : page_cache::BlockKind::kDeltaBtreeNode;
  loc.first_block = summary.index_start_block;
  loc.shape = BtreeShape{summary.index_root_block, summary.index_node_count, summary.index_depth,
                         summary.entry_count};
  loc.key_width = summary.index_key_width();
  return loc;
}

PlannerOptions PlannerOptionsFor(const VirtualFile& file, size_t max_read_bytes) {
  return PlannerOptions{file.alignment(), std::max(max_read_bytes, file.alignment())};
}

Status CheckBlobRef(const LayerSummary& summary, const std::string& path, const Key& key,
                    BlobRef blob) {
  if (blob.offset >= kLayerBlockSize && blob.length >= kBlobHeaderSize &&
      blob.end() <= summary.value_region_end) {
    return Status::Ok();
  }
  return Status::Corruption(path + ": index entry of key " + key.ToHex() + " points at offset " +
                            std::to_string(blob.offset) + " length " + std::to_string(blob.length) +
                            ", outside the value region [" + std::to_string(kLayerBlockSize) +
                            ", " + std::to_string(summary.value_region_end) + ")");
}

VectoredReadBatch ReadBlobs(const VirtualFile& file, std::span<const BlobRef> blobs,
                            size_t max_read_bytes) {
  VectoredReadBatch batch;
  batch.Add(&file, VectoredReadPlan::Build(blobs, PlannerOptionsFor(file, max_read_bytes)));
  batch.Execute();
  return batch;
}

Result<DecodedBlob> DecodeChecked(const VectoredReadBatch& batch, size_t plan, size_t blob,
                                  BlobRef ref, const std::string& path) {
  ASSIGN_OR_RETURN(DecodedBlob decoded, batch.Decode(plan, blob));
  if (decoded.will_init != ref.will_init) {
    return Status::Corruption(path + ": blob at offset " + std::to_string(ref.offset) +
                              " has will_init " + std::to_string(decoded.will_init) +
                              ", its index entry says " + std::to_string(ref.will_init));
  }
  return decoded;
}

}  // namespace pageserver::layers::internal
