#include "layers/delta_layer.h"

#include <utility>

#include "layers/layer_file.h"
#include "layers/layer_file_writer.h"
#include "layers/layer_name.h"

namespace pageserver::layers {

using common::Result;
using common::Status;
using virtual_file::IoContext;
using virtual_file::VirtualFile;

std::array<std::byte, kDeltaIndexKeyWidth> EncodeDeltaKey(const Key& key, Lsn lsn) {
  std::array<std::byte, kDeltaIndexKeyWidth> out{};
  key.EncodeTo(std::span(out).first<kKeySize>());
  for (size_t i = 0; i < 8; ++i) {
    out[kKeySize + i] = std::byte((lsn.value >> (8 * (7 - i))) & 0xFF);
  }
  return out;
}

void DecodeDeltaKey(std::span<const std::byte> bytes, Key* key, Lsn* lsn) {
  *key = Key::Decode(bytes.first<kKeySize>());
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i)
    value = (value << 8) | std::to_integer<uint8_t>(bytes[kKeySize + i]);
  *lsn = Lsn{value};
}

// ---------------------------------------------------------------- writer

Result<std::unique_ptr<DeltaLayerWriter>> DeltaLayerWriter::Create(
    const IoContext& ctx, const std::string& dir, TenantId tenant, TimelineId timeline,
    const KeyRange& keys, const LsnRange& lsns, const LayerWriterOptions& options) {
  if (keys.empty() || lsns.empty()) {
    return Status::InvalidArgument("delta layer " + keys.ToString() + " " + lsns.ToString() +
                                   ": empty key or LSN range");
  }
  LayerSummary identity;
  identity.kind = LayerKind::kDelta;
  identity.tenant = tenant;
  identity.timeline = timeline;
  identity.key_range = keys;
  identity.lsn_range = lsns;
  identity.image_compression = options.image_compression;
  ASSIGN_OR_RETURN(std::unique_ptr<LayerFileWriter> file,
                   LayerFileWriter::Create(ctx, dir, identity, options));
  return std::unique_ptr<DeltaLayerWriter>(new DeltaLayerWriter(std::move(file), keys, lsns));
}

DeltaLayerWriter::DeltaLayerWriter(std::unique_ptr<LayerFileWriter> file, KeyRange keys,
                                   LsnRange lsns)
    : file_(std::move(file)), keys_(keys), lsns_(lsns) {}

DeltaLayerWriter::~DeltaLayerWriter() = default;

Status DeltaLayerWriter::Put(const Key& key, Lsn lsn, std::span<const std::byte> value,
                             bool will_init) {
  RETURN_IF_ERROR(file_->status());
  if (!keys_.Contains(key) || !lsns_.Contains(lsn)) {
    return Status::InvalidArgument("delta layer put: (" + key.ToHex() + ", " + lsn.ToString() +
                                   ") outside " + keys_.ToString() + " " + lsns_.ToString());
  }
  if (last_.has_value() && std::make_pair(key, lsn) <= *last_) {
    return Status::InvalidArgument("delta layer put: (" + key.ToHex() + ", " + lsn.ToString() +
                                   ") not above the previous entry (" + last_->first.ToHex() +
                                   ", " + last_->second.ToString() + ")");
  }
  // Delta values are never compressed: records are small and read often.
  ASSIGN_OR_RETURN(const BlobRef blob, file_->AppendBlob(value, will_init, Compression::kNone));
  RETURN_IF_ERROR(file_->AddEntry(EncodeDeltaKey(key, lsn), blob, value.size()));
  last_ = std::make_pair(key, lsn);
  return Status::Ok();
}

Result<WrittenLayer> DeltaLayerWriter::Finish() { return file_->Finish(); }
uint64_t DeltaLayerWriter::entry_count() const { return file_->entry_count(); }
uint64_t DeltaLayerWriter::bytes_written() const { return file_->bytes_written(); }

// ---------------------------------------------------------------- reader

Result<std::unique_ptr<DeltaLayerReader>> DeltaLayerReader::Open(const IoContext& ctx,
                                                                 const std::string& path,
                                                                 page_cache::PageCache* cache) {
  ASSIGN_OR_RETURN(internal::OpenedLayer opened,
                   internal::OpenLayerFile(ctx, path, cache, LayerKind::kDelta));
  return std::unique_ptr<DeltaLayerReader>(
      new DeltaLayerReader(std::move(opened.file), opened.summary, opened.file_id, cache));
}

DeltaLayerReader::DeltaLayerReader(VirtualFile file, LayerSummary summary, page_cache::FileId id,
                                   page_cache::PageCache* cache)
    : file_(std::move(file)),
      summary_(summary),
      index_(internal::IndexLocation(summary_, file_, id, cache)) {}

PlannerOptions DeltaLayerReader::planner_options(size_t max_read_bytes) const {
  return internal::PlannerOptionsFor(file_, max_read_bytes);
}

Result<KeyHistory> DeltaLayerReader::LookupHistory(const Key& key, const LsnRange& lsns) const {
  KeyHistory history;
  if (lsns.empty() || !lsns.Overlaps(summary_.lsn_range) || !summary_.key_range.Contains(key)) {
    return history;
  }
  DiskBtreeCursor cursor = index_.NewCursor();
  // The newest entry below lsns.end (which is > lsns.start >= 0: no underflow).
  RETURN_IF_ERROR(cursor.SeekLE(EncodeDeltaKey(key, Lsn{lsns.end.value - 1})));
  while (cursor.valid()) {
    DeltaEntry entry;
    DecodeDeltaKey(cursor.key(), &entry.key, &entry.lsn);
    if (entry.key != key || entry.lsn < lsns.start) break;
    entry.blob = BlobRef::Unpack(cursor.value());
    RETURN_IF_ERROR(internal::CheckBlobRef(summary_, path(), key, entry.blob));
    history.entries.push_back(entry);
    if (entry.blob.will_init) {
      history.complete = true;
      break;
    }
    RETURN_IF_ERROR(cursor.Prev());
  }
  RETURN_IF_ERROR(cursor.status());
  return history;
}

Result<DeltaLayerReader::History> DeltaLayerReader::GetHistory(const Key& key, const LsnRange& lsns,
                                                               size_t max_read_bytes) const {
  const HistoryLookup lookup{key, lsns};
  std::vector<Result<History>> results = GetHistories(std::span(&lookup, 1), max_read_bytes);
  return std::move(results.front());
}

std::vector<Result<DeltaLayerReader::History>> DeltaLayerReader::GetHistories(
    std::span<const HistoryLookup> lookups, size_t max_read_bytes) const {
  std::vector<Result<History>> results;
  results.reserve(lookups.size());
  std::vector<KeyHistory> found(lookups.size());
  std::vector<size_t> first_blob(lookups.size(), 0);
  std::vector<BlobRef> blobs;
  for (size_t i = 0; i < lookups.size(); ++i) {
    Result<KeyHistory> history = LookupHistory(lookups[i].key, lookups[i].lsns);
    if (!history.has_value()) {
      results.push_back(std::move(history).error());
      continue;
    }
    found[i] = std::move(history).value();
    first_blob[i] = blobs.size();
    for (const DeltaEntry& e : found[i].entries) blobs.push_back(e.blob);
    results.push_back(History{{}, found[i].complete});
  }
  if (blobs.empty()) return results;
  const VectoredReadBatch batch = internal::ReadBlobs(file_, blobs, max_read_bytes);
  for (size_t i = 0; i < lookups.size(); ++i) {
    if (!results[i].has_value()) continue;
    const Status decoded = DecodeHistory(batch, found[i], first_blob[i], *results[i]);
    if (!decoded.ok()) results[i] = decoded;
  }
  return results;
}

Status DeltaLayerReader::DecodeHistory(const VectoredReadBatch& batch, const KeyHistory& found,
                                       size_t first_blob, History& out) const {
  out.values.reserve(found.entries.size());
  for (size_t i = 0; i < found.entries.size(); ++i) {
    const DeltaEntry& e = found.entries[i];
    ASSIGN_OR_RETURN(DecodedBlob decoded,
                     internal::DecodeChecked(batch, 0, first_blob + i, e.blob, path()));
    out.values.push_back(Value{e.lsn, decoded.will_init, std::move(decoded.value)});
  }
  return Status::Ok();
}

}  // namespace pageserver::layers
