#include "layers/image_layer.h"

#include <algorithm>
#include <utility>

#include "layers/layer_file.h"
#include "layers/layer_file_writer.h"
#include "layers/layer_name.h"

namespace pageserver::layers {

using common::Result;
using common::Status;
using virtual_file::IoContext;
using virtual_file::VirtualFile;

// ---------------------------------------------------------------- writer

Result<std::unique_ptr<ImageLayerWriter>> ImageLayerWriter::Create(
    const IoContext& ctx, const std::string& dir, TenantId tenant, TimelineId timeline,
    const KeyRange& keys, Lsn lsn, const LayerWriterOptions& options) {
  if (keys.empty() || lsn == Lsn::Max()) {
    return Status::InvalidArgument("image layer " + keys.ToString() + " at " + lsn.ToString() +
                                   ": empty key range or LSN out of range");
  }
  LayerSummary identity;
  identity.kind = LayerKind::kImage;
  identity.tenant = tenant;
  identity.timeline = timeline;
  identity.key_range = keys;
  identity.lsn_range = LsnRange{lsn, Lsn{lsn.value + 1}};
  identity.image_compression = options.image_compression;
  ASSIGN_OR_RETURN(std::unique_ptr<LayerFileWriter> file,
                   LayerFileWriter::Create(ctx, dir, identity, options));
  return std::unique_ptr<ImageLayerWriter>(new ImageLayerWriter(std::move(file), keys));
}

ImageLayerWriter::ImageLayerWriter(std::unique_ptr<LayerFileWriter> file, KeyRange keys)
    : file_(std::move(file)), keys_(keys) {}

ImageLayerWriter::~ImageLayerWriter() = default;

Status ImageLayerWriter::Put(const Key& key, std::span<const std::byte> value) {
  RETURN_IF_ERROR(file_->status());
  if (!keys_.Contains(key)) {
    return Status::InvalidArgument("image layer put: key " + key.ToHex() + " outside " +
                                   keys_.ToString());
  }
  if (last_key_.has_value() && key <= *last_key_) {
    return Status::InvalidArgument("image layer put: key " + key.ToHex() +
                                   " not above the previous key " + last_key_->ToHex());
  }
  ASSIGN_OR_RETURN(const BlobRef blob,
                   file_->AppendBlob(value, /*will_init=*/true, file_->compression()));
  RETURN_IF_ERROR(file_->AddEntry(key.Encode(), blob, value.size()));
  last_key_ = key;
  return Status::Ok();
}

Result<WrittenLayer> ImageLayerWriter::Finish() { return file_->Finish(); }
uint64_t ImageLayerWriter::entry_count() const { return file_->entry_count(); }
uint64_t ImageLayerWriter::bytes_written() const { return file_->bytes_written(); }

// ---------------------------------------------------------------- reader

Result<std::unique_ptr<ImageLayerReader>> ImageLayerReader::Open(const IoContext& ctx,
                                                                 const std::string& path,
                                                                 page_cache::PageCache* cache) {
  ASSIGN_OR_RETURN(internal::OpenedLayer opened,
                   internal::OpenLayerFile(ctx, path, cache, LayerKind::kImage));
  return std::unique_ptr<ImageLayerReader>(
      new ImageLayerReader(std::move(opened.file), opened.summary, opened.file_id, cache));
}

ImageLayerReader::ImageLayerReader(VirtualFile file, LayerSummary summary, page_cache::FileId id,
                                   page_cache::PageCache* cache)
    : file_(std::move(file)),
      summary_(summary),
      index_(internal::IndexLocation(summary_, file_, id, cache)) {}

PlannerOptions ImageLayerReader::planner_options(size_t max_read_bytes) const {
  return internal::PlannerOptionsFor(file_, max_read_bytes);
}

Result<std::optional<BlobRef>> ImageLayerReader::Lookup(const Key& key) const {
  if (!summary_.key_range.Contains(key)) return std::optional<BlobRef>();
  ASSIGN_OR_RETURN(const std::optional<uint64_t> packed, index_.Get(key.Encode()));
  if (!packed.has_value()) return std::optional<BlobRef>();
  const BlobRef blob = BlobRef::Unpack(*packed);
  RETURN_IF_ERROR(internal::CheckBlobRef(summary_, path(), key, blob));
  return std::optional<BlobRef>(blob);
}

Result<std::vector<std::byte>> ImageLayerReader::ReadValue(BlobRef blob) const {
  const VectoredReadBatch batch =
      internal::ReadBlobs(file_, std::span(&blob, 1), kDefaultMaxVectoredReadBytes);
  ASSIGN_OR_RETURN(DecodedBlob decoded, internal::DecodeChecked(batch, 0, 0, blob, path()));
  return std::move(decoded.value);
}

Result<std::vector<std::byte>> ImageLayerReader::Get(const Key& key) const {
  std::vector<Result<std::vector<std::byte>>> results = GetVectored(std::span(&key, 1));
  return std::move(results.front());
}

std::vector<Result<std::vector<std::byte>>> ImageLayerReader::GetVectored(
    std::span<const Key> keys, size_t max_read_bytes) const {
  std::vector<Result<std::vector<std::byte>>> results;
  results.reserve(keys.size());
  std::vector<BlobRef> blobs;
  std::vector<size_t> blob_of_key(keys.size(), SIZE_MAX);
  for (size_t i = 0; i < keys.size(); ++i) {
    Result<std::optional<BlobRef>> found = Lookup(keys[i]);
    if (!found.has_value()) {
      results.push_back(std::move(found).error());
    } else if (!found->has_value()) {
      results.push_back(NotFound(keys[i]));
    } else {
      blob_of_key[i] = blobs.size();
      blobs.push_back(**found);
      results.push_back(std::vector<std::byte>());  // filled from the batch below
    }
  }
  if (blobs.empty()) return results;
  const VectoredReadBatch batch = internal::ReadBlobs(file_, blobs, max_read_bytes);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (blob_of_key[i] == SIZE_MAX) continue;
    const size_t b = blob_of_key[i];
    Result<DecodedBlob> decoded = internal::DecodeChecked(batch, 0, b, blobs[b], path());
    if (decoded.has_value()) {
      results[i] = std::move(decoded->value);
    } else {
      results[i] = std::move(decoded).error();
    }
  }
  return results;
}

Status ImageLayerReader::NotFound(const Key& key) const {
  return Status::NotFound("key " + key.ToHex() + " not in image layer " + path());
}

}  // namespace pageserver::layers
