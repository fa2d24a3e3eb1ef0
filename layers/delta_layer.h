#pragma once

// Delta layers: the values (records or images) of a key range over an LSN
// range, ordered by (key, LSN).
//
// Index key: the 18-byte Key followed by the LSN as 8 big-endian bytes (26
// bytes), so memcmp order is (key, LSN) order. Index value: a packed BlobRef
// whose will_init bit tells the read path where a key's history starts
// without reading data.
//
// Writing and reading as image_layer.h (temporary name, BufferedWriter,
// fsync, rename, directory fsync; summary validated before use), with index
// nodes cached as BlockKind::kDeltaBtreeNode.
//
// Thread-safety: as image_layer.h.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "layers/image_layer.h"

namespace pageserver::layers {

// Encodes (key, lsn) as the 26-byte index key.
std::array<std::byte, kDeltaIndexKeyWidth> EncodeDeltaKey(const Key& key, Lsn lsn);
// REQUIRES: bytes.size() == kDeltaIndexKeyWidth.
void DecodeDeltaKey(std::span<const std::byte> bytes, Key* key, Lsn* lsn);

class DeltaLayerWriter {
 public:
  // Creates "<dir>/<LayerName::Delta(keys, lsns)>.___temp".
  static common::Result<std::unique_ptr<DeltaLayerWriter>> Create(
      const virtual_file::IoContext& ctx, const std::string& dir, TenantId tenant,
      TimelineId timeline, const KeyRange& keys, const LsnRange& lsns,
      const LayerWriterOptions& options = {});
  ~DeltaLayerWriter();

  // InvalidArgument (nothing written) for a key outside the range, an LSN
  // outside the LSN range, (key, lsn) not above the previous entry, or a
  // value larger than kMaxValueSize. `will_init`: the value is an image or an
  // init record (history of this key does not go below it). Values are never
  // compressed in delta layers (image_compression applies to image layers).
  common::Status Put(const Key& key, Lsn lsn, std::span<const std::byte> value, bool will_init);
  common::Result<WrittenLayer> Finish();
  uint64_t entry_count() const;
  uint64_t bytes_written() const;

 private:
  DeltaLayerWriter(std::unique_ptr<LayerFileWriter> file, KeyRange keys, LsnRange lsns);
  std::unique_ptr<LayerFileWriter> file_;
  KeyRange keys_;
  LsnRange lsns_;
  std::optional<std::pair<Key, Lsn>> last_;
};

struct DeltaEntry {
  Key key;
  Lsn lsn;
  BlobRef blob;
  auto operator<=>(const DeltaEntry&) const = default;
};

// The part of one key's history a delta layer holds below an LSN.
struct KeyHistory {
  std::vector<DeltaEntry> entries;  // newest first
  bool complete = false;            // ended at a will_init entry: nothing older is needed
};

// One lookup of a vectored history read: `key`'s entries with LSN in `lsns`.
struct HistoryLookup {
  Key key;
  LsnRange lsns;
};

class DeltaLayerReader {
 public:
  static common::Result<std::unique_ptr<DeltaLayerReader>> Open(const virtual_file::IoContext& ctx,
                                                                const std::string& path,
                                                                page_cache::PageCache* cache);
  // Not copyable or movable: the index reader points at this object's file.
  DeltaLayerReader(const DeltaLayerReader&) = delete;
  DeltaLayerReader& operator=(const DeltaLayerReader&) = delete;

  const LayerSummary& summary() const { return summary_; }
  const std::string& path() const { return file_.path(); }
  const virtual_file::VirtualFile& file() const { return file_; }
  const DiskBtreeReader& index() const { return index_; }
  PlannerOptions planner_options(size_t max_read_bytes = kDefaultMaxVectoredReadBytes) const;

  // Index walk only: the entries of `key` with LSN in `lsns`, newest first,
  // stopping after the first will_init entry (included). Corruption when an
  // index entry points outside the value region. An empty `lsns` (start >=
  // end, e.g. end == 0), a key outside the layer's key range, or an LSN range
  // the layer does not overlap yield an empty, incomplete history (no IO).
  common::Result<KeyHistory> LookupHistory(const Key& key, const LsnRange& lsns) const;

  struct Value {
    Lsn lsn;
    bool will_init = false;
    std::vector<std::byte> bytes;
  };
  struct History {
    std::vector<Value> values;  // newest first
    bool complete = false;
  };
  // Self-contained read of LookupHistory's values (one batch):
  // GetHistories of the one lookup.
  common::Result<History> GetHistory(const Key& key, const LsnRange& lsns,
                                     size_t max_read_bytes = kDefaultMaxVectoredReadBytes) const;

  // The vectored form: LookupHistory of every lookup (index walks only),
  // then the blobs of all of them planned as one VectoredReadPlan and read
  // as one VectoredReadBatch (one engine submit; no data read at all when no
  // lookup needs a value), then decoded. One result per lookup, in order. Errors
  // are per lookup: an index error, a failed read or a blob that fails to
  // decode fails only the lookups that needed it. Lookups may repeat keys or
  // overlap; a blob two lookups need is read once. A lookup that finds no
  // entries gets an empty, incomplete History (as LookupHistory).
  std::vector<common::Result<History>> GetHistories(
      std::span<const HistoryLookup> lookups,
      size_t max_read_bytes = kDefaultMaxVectoredReadBytes) const;

 private:
  DeltaLayerReader(virtual_file::VirtualFile file, LayerSummary summary, page_cache::FileId id,
                   page_cache::PageCache* cache);
  // Decodes the values of `found`, whose blobs are blobs [first_blob, ...)
  // of plan 0 of `batch`, into `out`.
  common::Status DecodeHistory(const VectoredReadBatch& batch, const KeyHistory& found,
                               size_t first_blob, History& out) const;
  virtual_file::VirtualFile file_;
  LayerSummary summary_;
  DiskBtreeReader index_;
};

}  // namespace pageserver::layers
