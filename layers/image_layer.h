#pragma once

// Image layers: page images (or any values) for a key range at one LSN.
//
// Writing: keys strictly ascending, within the layer's key range. Values go
// through BufferedWriter (O_DIRECT under direct-rw) into a temporary file
// "<final name>.___temp"; Finish() appends the index, writes the summary,
// fsyncs the file, renames it to its final name (layer_name.h) and fsyncs the
// directory. A writer destroyed before Finish() removes its temporary files.
// After a crash the directory holds the whole layer or a temporary file that
// RemoveTemporaryLayerFiles() deletes at load.
//
// Reading: Open() reads and validates the summary against the file length
// before trusting any offset; index nodes come through the PageCache
// (BlockKind::kImageBtreeNode); values are read by the caller's vectored read
// batch (vectored_read.h) from BlobRefs this reader looks up. Get/GetVectored
// are the self-contained forms (one batch for this layer alone).
//
// Thread-safety: a writer is used by one thread. A reader is immutable after
// Open and may be used from any number of threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/blob.h"
#include "layers/disk_btree.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "layers/keyspace.h"
#include "layers/layer_summary.h"
#include "layers/lsn.h"
#include "layers/vectored_read.h"
#include "page_cache/page_cache.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

class LayerFileWriter;

// What a writer needs besides the layer's identity.
struct LayerWriterOptions {
  Compression image_compression = Compression::kNone;  // config `image_compression`
  size_t write_buffer_bytes = 256 * 1024;              // BufferedWriter capacity
};

// What Finish() produced.
struct WrittenLayer {
  std::string path;  // final path: dir + "/" + name
  LayerSummary summary;
};

class ImageLayerWriter {
 public:
  // Creates "<dir>/<LayerName::Image(keys, lsn)>.___temp". `ctx` must outlive the writer.
  static common::Result<std::unique_ptr<ImageLayerWriter>> Create(
      const virtual_file::IoContext& ctx, const std::string& dir, TenantId tenant,
      TimelineId timeline, const KeyRange& keys, Lsn lsn, const LayerWriterOptions& options = {});
  ~ImageLayerWriter();  // removes the temporary files unless Finish() succeeded

  // InvalidArgument (nothing written) for a key outside the range, not above
  // the previous key, or a value larger than kMaxValueSize. After an IO error
  // the writer is poisoned: every later call returns that error.
  common::Status Put(const Key& key, std::span<const std::byte> value);
  common::Result<WrittenLayer> Finish();
  uint64_t entry_count() const;
  uint64_t bytes_written() const;  // value region so far

 private:
  ImageLayerWriter(std::unique_ptr<LayerFileWriter> file, KeyRange keys);
  std::unique_ptr<LayerFileWriter> file_;
  KeyRange keys_;
  std::optional<Key> last_key_;
};

class ImageLayerReader {
 public:
  // Opens and validates (DecodeSummary + CheckFileLength). Wrong kind,
  // future version, truncation and corrupt summaries are errors naming the
  // path. `cache` and `ctx` must outlive the reader.
  static common::Result<std::unique_ptr<ImageLayerReader>> Open(const virtual_file::IoContext& ctx,
                                                                const std::string& path,
                                                                page_cache::PageCache* cache);
  // Not copyable or movable: the index reader points at this object's file.
  ImageLayerReader(const ImageLayerReader&) = delete;
  ImageLayerReader& operator=(const ImageLayerReader&) = delete;

  const LayerSummary& summary() const { return summary_; }
  const std::string& path() const { return file_.path(); }
  const virtual_file::VirtualFile& file() const { return file_; }
  const DiskBtreeReader& index() const { return index_; }
  // Planner options for this file: alignment = the file's alignment.
  PlannerOptions planner_options(size_t max_read_bytes = kDefaultMaxVectoredReadBytes) const;

  // Index lookup only (no data read): the blob of `key`, nullopt when the
  // layer has no image for it (a key outside the key range costs no IO).
  // Corruption naming path and key if the index points outside the value
  // region [8192, value_region_end) or at fewer than kBlobHeaderSize bytes.
  common::Result<std::optional<BlobRef>> Lookup(const Key& key) const;

  // The value stored in `blob`, a BlobRef Lookup returned (one planned read,
  // decode, will_init check as Get): Lookup then ReadValue is Get for callers
  // that also want the blob's stored length and flags, with one index walk.
  common::Result<std::vector<std::byte>> ReadValue(BlobRef blob) const;

  // Self-contained reads: lookups, one planned batch, decode. A blob whose
  // will_init flag disagrees with its index entry is Corruption.
  // Get: the value of `key`, or NotFound.
  common::Result<std::vector<std::byte>> Get(const Key& key) const;
  // One result per key (NotFound for absent keys); errors per key.
  std::vector<common::Result<std::vector<std::byte>>> GetVectored(
      std::span<const Key> keys, size_t max_read_bytes = kDefaultMaxVectoredReadBytes) const;

 private:
  ImageLayerReader(virtual_file::VirtualFile file, LayerSummary summary, page_cache::FileId id,
                   page_cache::PageCache* cache);
  common::Status NotFound(const Key& key) const;
  virtual_file::VirtualFile file_;
  LayerSummary summary_;
  DiskBtreeReader index_;
};

}  // namespace pageserver::layers
