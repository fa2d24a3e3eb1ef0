#pragma once

// LayerFileWriter: the writing machinery shared by image and delta layers
// (internal to layers/; the public API is image_layer.h and delta_layer.h).
// Reading helpers are in layer_file.h.
//
// Files, for a layer named N in directory D:
//   D/N.___temp          the layer being written: block 0 left empty, values
//                        appended from offset 8192 through a BufferedWriter;
//   D/N.___index.___temp the index spill file: DiskBtreeBuilder nodes as
//                        they are emitted, through a second BufferedWriter,
//                        so memory stays bounded (one node per tree level
//                        plus two write buffers per file) however large the
//                        layer.
// Both names end in kTemporarySuffix, so RemoveTemporaryLayerFiles() deletes
// them after a crash.
//
// Finish():
//   1. emits the builder's last nodes (into the spill file);
//   2. zero-pads the value region to the next 8192 boundary and appends the
//      spill file's nodes there, read back in 256 KiB chunks; deletes the
//      spill file;
//   3. finishes the value writer (exact file length), writes block 0 (the
//      summary) with one aligned write (legal under O_DIRECT), fsyncs the
//      file;
//   4. renames D/N.___temp to D/N and fsyncs D.
// The final name never exists before the file is complete and durable.
// Finish() runs once: calls after it (Finish, AppendBlob, AddEntry) are
// InvalidArgument, or the poisoning error after a failed Finish.
//
// Errors: argument errors (a value too large, a blob beyond BlobRef's
// limits) are InvalidArgument and leave the writer usable. Any IO error
// poisons the writer: status() and every later call return it. A writer
// destroyed without a successful Finish() removes both temporary files. If
// only the directory fsync after the rename fails, the complete, fsynced
// file stays under its final name (Finish reports the error; the caller may
// retry or delete it: removing it could lose an older layer it replaced).
//
// Thread-safety: one thread (BufferedWriter's rule: appends, finish and
// destruction on the thread that submits).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/status.h"
#include "layers/blob.h"
#include "layers/disk_btree.h"
#include "layers/image_layer.h"
#include "layers/layer_summary.h"
#include "layers/vectored_read.h"
#include "virtual_file/buffered_writer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

class LayerFileWriter {
 public:
  // `identity` supplies kind, tenant, timeline, key and LSN ranges and image
  // compression (the other fields are filled by Finish). Creates (truncating)
  // both temporary files in `dir`. `ctx` must outlive the writer.
  // REQUIRES: identity's ranges are not empty.
  static common::Result<std::unique_ptr<LayerFileWriter>> Create(const virtual_file::IoContext& ctx,
                                                                 const std::string& dir,
                                                                 const LayerSummary& identity,
                                                                 const LayerWriterOptions& options);
  ~LayerFileWriter();
  LayerFileWriter(const LayerFileWriter&) = delete;
  LayerFileWriter& operator=(const LayerFileWriter&) = delete;

  // Encodes and appends one blob; returns where it lies. InvalidArgument
  // (nothing written) for a value over kMaxValueSize or a blob BlobRef cannot
  // address.
  common::Result<BlobRef> AppendBlob(std::span<const std::byte> value, bool will_init,
                                     Compression compression);
  // Adds an index entry (keys strictly ascending, index_key_width bytes) and
  // counts `value_size` decoded bytes towards the summary's value_bytes. Any
  // failure here poisons the writer: the blob is already written.
  common::Status AddEntry(std::span<const std::byte> index_key, BlobRef blob, size_t value_size);
  common::Result<WrittenLayer> Finish();

  Compression compression() const { return identity_.image_compression; }
  // OK, or the error that poisoned the writer.
  const common::Status& status() const { return poison_; }
  uint64_t entry_count() const { return entry_count_; }
  uint64_t bytes_written() const;  // value region bytes so far
  const std::string& temp_path() const { return temp_path_; }
  const std::string& spill_path() const { return spill_path_; }
  const std::string& final_path() const { return final_path_; }

 private:
  class SpillSink;
  struct Files;
  LayerFileWriter(std::string dir, const LayerSummary& identity, std::unique_ptr<Files> files);
  // Creates both temporary files and their writers, and the index builder.
  static common::Result<std::unique_ptr<Files>> OpenFiles(const virtual_file::IoContext& ctx,
                                                          const std::string& temp,
                                                          const std::string& spill,
                                                          size_t key_width,
                                                          const LayerWriterOptions& options);

  common::Status Poison(common::Status status);
  common::Result<LayerSummary> FinishFile();
  common::Status AppendIndex(const BtreeShape& shape);
  common::Status CopySpill(uint64_t bytes);
  common::Status WriteSummaryAndSync(const LayerSummary& summary);
  LayerSummary FinalSummary(const BtreeShape& shape, uint64_t value_region_end) const;

  std::string dir_;
  LayerSummary identity_;
  std::string temp_path_;
  std::string spill_path_;
  std::string final_path_;
  std::unique_ptr<Files> files_;
  BlobEncoder encoder_;
  uint64_t entry_count_ = 0;
  uint64_t value_bytes_ = 0;         // decoded value sizes
  uint64_t value_region_bytes_ = 0;  // blob bytes appended after block 0
  common::Status poison_;
  bool finish_started_ = false;
  bool finished_ = false;
};

}  // namespace pageserver::layers
