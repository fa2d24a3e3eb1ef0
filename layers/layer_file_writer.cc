#include "layers/layer_file_writer.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/align.h"
#include "common/failpoint.h"
#include "layers/layer_name.h"

namespace pageserver::layers {

using common::Result;
using common::Status;
using virtual_file::AlignedBuffer;
using virtual_file::BufferedWriter;
using virtual_file::IoContext;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

namespace {

// The spill file's suffix before kTemporarySuffix: "<name>.___index.___temp".
constexpr std::string_view kSpillInfix = ".___index";
// Index nodes are copied from the spill file in chunks of this size: large
// enough for sequential device speed, small enough to keep memory flat.
constexpr size_t kCopyChunkBytes = size_t{256} * 1024;

OpenOptions CreateTruncateReadWrite() {
  OpenOptions options = OpenOptions::CreateReadWrite();
  options.truncate = true;
  return options;
}

// Removes `path` if it exists; failures are logged (called from cleanup
// paths that have no caller to report to).
void RemoveQuietly(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return;
  spdlog::warn("layer writer: cannot remove {}: {}", path, std::strerror(errno));
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  return Status::FromErrno(errno, "remove " + path);
}

Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return Status::Ok();
  return Status::FromErrno(errno, "rename " + from + " to " + to);
}

// The write buffer size rounded to the file's alignment (BufferedWriter's rule).
size_t BufferCapacity(const LayerWriterOptions& options, size_t alignment) {
  return static_cast<size_t>(
      common::AlignUp(std::max<size_t>(options.write_buffer_bytes, 1), alignment));
}

}  // namespace

// Streams the builder's nodes into the spill file.
class LayerFileWriter::SpillSink final : public BtreeNodeSink {
 public:
  explicit SpillSink(BufferedWriter* writer) : writer_(writer) {}
  Status AppendNode(std::span<const std::byte> node) override { return writer_->Append(node); }

 private:
  BufferedWriter* writer_;
};

// Declared in destruction order: the builder before its sink, writers before
// their files.
struct LayerFileWriter::Files {
  Files(VirtualFile v, VirtualFile s) : value_file(std::move(v)), spill_file(std::move(s)) {}
  VirtualFile value_file;
  VirtualFile spill_file;
  std::unique_ptr<BufferedWriter> values;
  std::unique_ptr<BufferedWriter> spill;
  std::unique_ptr<SpillSink> sink;
  std::unique_ptr<DiskBtreeBuilder> builder;
};

namespace {

Result<std::unique_ptr<BufferedWriter>> MakeWriter(const VirtualFile& file, uint64_t start,
                                                   const LayerWriterOptions& options) {
  return BufferedWriter::Create(&file, start, BufferCapacity(options, file.alignment()));
}

}  // namespace

Result<std::unique_ptr<LayerFileWriter::Files>> LayerFileWriter::OpenFiles(
    const IoContext& ctx, const std::string& temp, const std::string& spill, size_t key_width,
    const LayerWriterOptions& options) {
  ASSIGN_OR_RETURN(VirtualFile value_file, VirtualFile::Open(ctx, temp, CreateTruncateReadWrite()));
  ASSIGN_OR_RETURN(VirtualFile spill_file,
                   VirtualFile::Open(ctx, spill, CreateTruncateReadWrite()));
  auto files = std::make_unique<Files>(std::move(value_file), std::move(spill_file));
  ASSIGN_OR_RETURN(files->values, MakeWriter(files->value_file, kLayerBlockSize, options));
  ASSIGN_OR_RETURN(files->spill, MakeWriter(files->spill_file, 0, options));
  files->sink = std::make_unique<SpillSink>(files->spill.get());
  files->builder = std::make_unique<DiskBtreeBuilder>(key_width, files->sink.get());
  return files;
}

Result<std::unique_ptr<LayerFileWriter>> LayerFileWriter::Create(
    const IoContext& ctx, const std::string& dir, const LayerSummary& identity,
    const LayerWriterOptions& options) {
  const std::string base = dir + "/" + identity.name().ToString();
  const std::string temp = base + std::string(kTemporarySuffix);
  const std::string spill = base + std::string(kSpillInfix) + std::string(kTemporarySuffix);
  Result<std::unique_ptr<Files>> files =
      OpenFiles(ctx, temp, spill, identity.index_key_width(), options);
  if (!files.has_value()) {
    RemoveQuietly(temp);
    RemoveQuietly(spill);
    return std::move(files).error().WithContext("create layer " + base);
  }
  return std::unique_ptr<LayerFileWriter>(
      new LayerFileWriter(dir, identity, std::move(files).value()));
}

LayerFileWriter::LayerFileWriter(std::string dir, const LayerSummary& identity,
                                 std::unique_ptr<Files> files)
    : dir_(std::move(dir)),
      identity_(identity),
      temp_path_(files->value_file.path()),
      spill_path_(files->spill_file.path()),
      final_path_(dir_ + "/" + identity.name().ToString()),
      files_(std::move(files)) {}

LayerFileWriter::~LayerFileWriter() {
  files_.reset();  // waits for in-flight writes, closes both files
  RemoveQuietly(spill_path_);
  if (!finished_) RemoveQuietly(temp_path_);
}

Status LayerFileWriter::Poison(Status status) {
  if (poison_.ok()) poison_ = std::move(status);
  return poison_;
}

uint64_t LayerFileWriter::bytes_written() const { return value_region_bytes_; }

Result<BlobRef> LayerFileWriter::AppendBlob(std::span<const std::byte> value, bool will_init,
                                            Compression compression) {
  RETURN_IF_ERROR(poison_);
  if (finish_started_) return Status::InvalidArgument("append to " + temp_path_ + " after Finish");
  ASSIGN_OR_RETURN(const std::span<const std::byte> blob,
                   encoder_.Encode(value, will_init, compression));
  const uint64_t offset = kLayerBlockSize + value_region_bytes_;
  if (blob.size() > BlobRef::kMaxLength || offset + blob.size() > BlobRef::kMaxOffset + 1) {
    return Status::InvalidArgument("layer " + temp_path_ + ": blob of " +
                                   std::to_string(blob.size()) + " bytes at offset " +
                                   std::to_string(offset) + " exceeds BlobRef's limits");
  }
  common::FailPoint("layer-append-blob");
  Status status = files_->values->Append(blob);
  if (!status.ok()) return Poison(std::move(status));
  value_region_bytes_ += blob.size();
  return BlobRef{offset, static_cast<uint32_t>(blob.size()), will_init};
}

Status LayerFileWriter::AddEntry(std::span<const std::byte> index_key, BlobRef blob,
                                 size_t value_size) {
  RETURN_IF_ERROR(poison_);
  if (finish_started_) {
    return Status::InvalidArgument("index entry for " + temp_path_ + " after Finish");
  }
  Status status = files_->builder->Append(index_key, blob.Pack());
  if (!status.ok()) return Poison(std::move(status));
  ++entry_count_;
  value_bytes_ += value_size;
  return Status::Ok();
}

Result<WrittenLayer> LayerFileWriter::Finish() {
  RETURN_IF_ERROR(poison_);
  if (finish_started_) return Status::InvalidArgument("layer " + final_path_ + " already finished");
  finish_started_ = true;
  Result<LayerSummary> summary = FinishFile();
  if (!summary.has_value()) return Poison(std::move(summary).error());
  finished_ = true;
  return WrittenLayer{final_path_, std::move(summary).value()};
}

Result<LayerSummary> LayerFileWriter::FinishFile() {
  ASSIGN_OR_RETURN(const BtreeShape shape, files_->builder->Finish());
  const uint64_t value_region_end = kLayerBlockSize + value_region_bytes_;
  RETURN_IF_ERROR(AppendIndex(shape));
  RETURN_IF_ERROR(files_->values->Finish());
  const LayerSummary summary = FinalSummary(shape, value_region_end);
  if (files_->values->size() != summary.file_length) {
    return Status::Internal("layer " + temp_path_ + ": wrote " +
                            std::to_string(files_->values->size()) + " bytes, layout says " +
                            std::to_string(summary.file_length));
  }
  RETURN_IF_ERROR(WriteSummaryAndSync(summary));
  common::FailPoint("layer-before-rename");
  RETURN_IF_ERROR(RenameFile(temp_path_, final_path_));
  common::FailPoint("layer-after-rename");
  RETURN_IF_ERROR(virtual_file::SyncDirectory(dir_));
  return summary;
}

// Pads the value region to a block boundary, then copies the spill file's
// nodes after it; the spill file is deleted once copied.
Status LayerFileWriter::AppendIndex(const BtreeShape& shape) {
  static constexpr std::array<std::byte, kLayerBlockSize> kZeros{};
  const uint64_t end = kLayerBlockSize + value_region_bytes_;
  const uint64_t pad = common::AlignUp(end, kLayerBlockSize) - end;
  RETURN_IF_ERROR(files_->values->Append(std::span(kZeros).first(pad)));
  RETURN_IF_ERROR(files_->spill->Finish());
  RETURN_IF_ERROR(CopySpill(shape.node_count * kNodeSize));
  return RemoveFile(spill_path_);
}

Status LayerFileWriter::CopySpill(uint64_t bytes) {
  if (files_->spill->size() != bytes) {
    return Status::Internal("index spill " + spill_path_ + " holds " +
                            std::to_string(files_->spill->size()) + " bytes, expected " +
                            std::to_string(bytes));
  }
  AlignedBuffer chunk(kCopyChunkBytes, files_->spill_file.alignment());
  for (uint64_t offset = 0; offset < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kCopyChunkBytes, bytes - offset));
    const std::span<std::byte> piece(chunk.data(), n);
    RETURN_IF_ERROR(files_->spill->ReadAt(offset, piece));
    RETURN_IF_ERROR(files_->values->Append(piece));
    offset += n;
  }
  return Status::Ok();
}

LayerSummary LayerFileWriter::FinalSummary(const BtreeShape& shape,
                                           uint64_t value_region_end) const {
  LayerSummary s = identity_;
  s.format_version = kLayerFormatVersion;
  s.value_region_end = value_region_end;
  s.index_start_block = common::AlignUp(value_region_end, kLayerBlockSize) / kLayerBlockSize;
  s.index_node_count = shape.node_count;
  s.index_root_block = shape.root_block;
  s.index_depth = shape.depth;
  s.entry_count = entry_count_;
  s.value_bytes = value_bytes_;
  s.file_length = (s.index_start_block + shape.node_count) * kLayerBlockSize;
  return s;
}

// Block 0 is written last, with one aligned write (legal under O_DIRECT),
// then the whole file is made durable before it gets its final name.
Status LayerFileWriter::WriteSummaryAndSync(const LayerSummary& summary) {
  const VirtualFile& file = files_->value_file;
  AlignedBuffer block(kLayerBlockSize, file.alignment());
  const std::array<std::byte, kLayerBlockSize> encoded = EncodeSummary(summary);
  std::memcpy(block.data(), encoded.data(), encoded.size());
  RETURN_IF_ERROR(file.WriteAllAt(0, block.AsSpan()));
  return file.Sync();
}

}  // namespace pageserver::layers
