#pragma once

// InMemoryLayer: the open layer that WAL ingest appends to (Neon's
// InMemoryLayer on an EphemeralFile).
//
// Values are appended to an ephemeral file through a BufferedWriter (so the
// appends are O_DIRECT under io mode direct-rw) and located through an
// in-memory index: per key, the (LSN, file offset, length, will_init) of each
// of its values in LSN order, keys in a std::map so they can be written out in
// key order. Reads find a value wherever it lives (on disk, in a buffer being
// written, in the buffer being filled), so a value is readable as soon as its
// Put returns.
//
// Life cycle:
//
//   ASSIGN_OR_RETURN(auto layer, InMemoryLayer::Create(ctx, dir + "/ephemeral-1", lsn0));
//   RETURN_IF_ERROR(layer->Put(key, lsn, value, /*will_init=*/false));   // ... many
//   RETURN_IF_ERROR(layer->Freeze(end_lsn));          // no more Puts; lsn_range() fixed
//   ASSIGN_OR_RETURN(auto l0, layer->WriteL0(ctx, dir, tenant, timeline, options));
//   layer.reset();                                    // removes the ephemeral file
//
// Ephemeral record format (ours, in-process only, never read after a restart):
//
//   offset  size  field
//   0       4     value length (u32, little-endian)
//   4       1     flags: bit 0 will_init, other bits 0
//   5       3     reserved, 0
//   8       len   value bytes
//
// No checksum: the file lives only as long as this object and is never
// trusted across processes. The header lets every read check that the index
// and the file agree (a mismatch is Corruption naming path and offset).
//
// Memory: each value costs one 24-byte index entry (LSN, offset, length,
// will_init) in its key's vector, up to twice that with vector growth slack;
// each distinct key adds a std::map node (~80 bytes plus allocator overhead).
// For 8 KiB page images that is well under 1% of the bytes held; for small
// WAL records (~100 bytes) it is ~30-40%, as in Neon (~40 bytes per entry).
// The values themselves are on disk or in the writer's two buffers.
//
// Writing L0 (WriteL0): values must go out in key order but sit in the file
// in LSN (append) order, so reading them one at a time is one synchronous
// device read per value under direct-rw (measured ~1.5 MiB/s of 100-byte
// records). Instead the index is walked in key order in batches: a batch
// takes entries while the file blocks under their records (rounded out to
// the file's alignment, overlapping and touching ranges counted once) stay
// within `read_batch_bytes` (default kL0ReadBatchBytes), always at least one
// entry. Those block ranges become extents; gaps of less than
// kL0ReadMergeGap between them are read too, smallest first, as long as the
// gap bytes stay within a slack of read_batch_bytes / 8; extents are cut
// into reads of at most kL0MaxReadBytes. All reads of a batch go down as one
// VirtualFile::ReadBatch (one engine batch per 8 MiB of values when records
// are dense), into one aligned buffer reused by every batch. IO pattern:
// records appended close together (a bulk load, or several keys of one WAL
// record) share blocks and extents, so a layer written mostly in key order
// is read nearly sequentially, in a few large reads per batch.
// Memory of a WriteL0: the read buffer, at most read_batch_bytes * 9 / 8
// (9 MiB by default; more only when a single record's blocks exceed
// read_batch_bytes, impossible by default as values are at most
// layers::kMaxValueSize = 1 MiB), plus ~40 bytes per extent of the batch
// (at most read_batch_bytes / alignment), plus the DeltaLayerWriter's.
//
// Thread-safety: one writer thread calls Put, Freeze and Drain
// (BufferedWriter's rule: its appends and flush waits run on one thread,
// because io_uring completions are reaped on the submitting thread's ring).
// Once Freeze returned, nothing is in flight: any thread may call WriteL0
// and destroy the layer (the timeline's flusher does). Any number of other
// threads may call GetHistory, Keys and the accessors concurrently, also
// during WriteL0.
// The index is guarded by a std::shared_mutex that readers hold only while
// they copy the few index entries they need, never during IO; Put holds it
// exclusively only to insert one entry, never during its append. All readers
// must be done before the layer is destroyed.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/delta_layer.h"
#include "layers/ids.h"
#include "layers/image_layer.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "virtual_file/buffered_writer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::timeline {

class InMemoryLayer {
 public:
  // Bytes before each value in the ephemeral file (the table above).
  static constexpr size_t kRecordHeaderSize = 8;

  // WriteL0's read batches (see "Writing L0" above).
  // Bytes of file blocks one batch reads for its values: at 100-byte records
  // ~80,000 values per engine batch, so the per-batch submit and wait are
  // noise, while a flush holds only a few MiB (several timelines may flush at
  // once). Larger batches gain little: an 8 MiB batch already runs at device
  // bandwidth.
  static constexpr size_t kL0ReadBatchBytes = size_t{8} << 20;
  // Gaps shorter than this between two extents of a batch are read rather
  // than split into two requests: at ~1-2 GB/s, 64 KiB of transfer costs
  // about one request's latency on an NVMe device (~50 us).
  static constexpr size_t kL0ReadMergeGap = size_t{64} << 10;
  // Largest single read: a long extent becomes several reads (one batch
  // still), so a device or io_uring can serve them in parallel and no
  // request nears the kernel's per-call limit (~2 GiB).
  static constexpr size_t kL0MaxReadBytes = size_t{1} << 20;

  // A key's values, newest first, ending after the first will_init value;
  // the same shape a delta layer returns, so the read path merges both alike.
  using History = layers::DeltaLayerReader::History;

  // Creates (or truncates) the ephemeral file at `ephemeral_path`, opened
  // read-write, and a BufferedWriter of `buffer_capacity` bytes at offset 0.
  // `ctx` (its engine and metrics) must outlive the layer. The caller picks
  // a path no other layer uses. Errors: whatever opening the file reports;
  // InvalidArgument when buffer_capacity is 0 or not a multiple of the file's
  // alignment (the file is removed again), or start_lsn is Lsn::Max() (no
  // end LSN could be above it).
  static common::Result<std::unique_ptr<InMemoryLayer>> Create(
      const virtual_file::IoContext& ctx, const std::string& ephemeral_path, layers::Lsn start_lsn,
      size_t buffer_capacity = virtual_file::BufferedWriter::kDefaultCapacity);

  // Waits for in-flight writes, closes and removes the ephemeral file (a
  // failure to remove it is logged). REQUIRES: on the writer thread unless
  // the layer is frozen (or drained), with no reader running.
  ~InMemoryLayer();
  InMemoryLayer(const InMemoryLayer&) = delete;
  InMemoryLayer& operator=(const InMemoryLayer&) = delete;

  // Appends `value` (copied; the caller keeps ownership of its buffer) as the
  // value of `key` at `lsn`. `will_init`: the value is an image or an init
  // record, so the key's history does not go below it.
  // InvalidArgument, nothing written, when:
  //   - the layer is frozen ("frozen");
  //   - lsn < start_lsn(), lsn == Lsn::Max(), or lsn is below the previous
  //     Put's LSN (the timeline ingests in LSN order; several keys may share
  //     an LSN, as one WAL record may touch several pages);
  //   - `key` already has a value at `lsn` (per key, LSNs strictly increase);
  //   - key == Key::Max() (not inside the L0 key range, see WriteL0);
  //   - value.size() > layers::kMaxValueSize (a delta layer could not hold it).
  // An IO error from the append poisons the layer: this and every later Put
  // return it; values put before stay readable where their bytes survive.
  // REQUIRES: writer thread.
  common::Status Put(const layers::Key& key, layers::Lsn lsn, std::span<const std::byte> value,
                     bool will_init);

  // The values of `key` with LSN in `lsns`, newest first, stopping after
  // (and including) the first will_init value; `complete` is true when it
  // stopped there, i.e. nothing older is needed. An absent key or an empty
  // `lsns` yields an empty, incomplete history without IO. Sees every Put
  // that returned before the call; Puts running concurrently may or may not
  // be seen. Errors: IO errors of reading the ephemeral file; Corruption when
  // a record header disagrees with the index. Thread-safe.
  common::Result<History> GetHistory(const layers::Key& key, const layers::LsnRange& lsns) const;

  // Closes the layer for writes at `end_lsn`: later Puts are rejected and
  // lsn_range() becomes [start_lsn, end_lsn). Writes the buffered tail and
  // waits for every write, so after it returns nothing is in flight and
  // WriteL0 and the destructor may run on any thread. InvalidArgument when
  // already frozen, or end_lsn is not above start_lsn() and every put LSN;
  // the write's IO error (the layer stays open, poisoned).
  // REQUIRES: writer thread.
  common::Status Freeze(layers::Lsn end_lsn);

  // Waits for the writes in flight so that another thread may become the
  // writer thread. REQUIRES: writer thread.
  common::Status Drain();

  // The keys in `range` with at least one value below `below`, in order.
  // Thread-safe.
  std::vector<layers::Key> Keys(const layers::KeyRange& range, layers::Lsn below) const;

  // Writes every value, in (key, LSN) order, into an L0 delta layer in `dir`
  // (layers::DeltaLayerWriter: temporary name, fsync, rename, directory
  // fsync). Like Neon's L0 layers it covers the whole key space:
  // KeyRange::All() == [Key::Min(), Key::Max()), which holds every key but
  // Key::Max() itself (hence Put's rejection of it); its LSN range is
  // lsn_range(). Returns nullopt, writing nothing, for a layer without
  // values. Values are read back in batches of about `read_batch_bytes` of
  // file blocks, each batch one engine batch (see "Writing L0" above for the
  // memory bound); any read_batch_bytes works (a batch holds at least one
  // value), the parameter exists for tests. The ephemeral file and the index
  // are left as they are: the layer stays readable, and a failed write may
  // be retried. Errors: InvalidArgument when not frozen; IO errors of
  // reading the ephemeral file or writing the layer; Corruption naming the
  // ephemeral file and offset when a record header disagrees with the index
  // or the file ends before the layer's logical end. On error nothing is
  // left in `dir` (the writer removes its temporary file).
  // Any thread (the reads and the L0 writer's BufferedWriter submit on the
  // calling one).
  common::Result<std::optional<layers::WrittenLayer>> WriteL0(
      const virtual_file::IoContext& ctx, const std::string& dir, layers::TenantId tenant,
      layers::TimelineId timeline, const layers::LayerWriterOptions& options = {},
      size_t read_batch_bytes = kL0ReadBatchBytes) const;

  // --- Accessors: thread-safe. ---
  layers::Lsn start_lsn() const { return start_lsn_; }
  // [start_lsn, end_lsn) once frozen; [start_lsn, Lsn::Max()) while open.
  layers::LsnRange lsn_range() const;
  bool frozen() const;
  // The LSN of the last successful Put; Lsn::Invalid() before the first.
  layers::Lsn last_lsn() const;
  // Size of the ephemeral file's logical contents: headers plus values.
  uint64_t bytes() const { return writer_->size(); }
  uint64_t entry_count() const;  // values put
  uint64_t key_count() const;    // distinct keys
  const std::string& path() const { return file_.path(); }

 private:
  // One value's place in the ephemeral file.
  struct IndexEntry {
    layers::Lsn lsn;
    uint64_t offset = 0;  // of the record header
    uint32_t length = 0;  // value bytes, without the header
    bool will_init = false;
  };
  // Index entries of one lookup, newest first.
  struct Lookup {
    std::vector<IndexEntry> entries;
    bool complete = false;
  };

  InMemoryLayer(virtual_file::VirtualFile file, layers::Lsn start_lsn);

  common::Status CheckPut(const layers::Key& key, layers::Lsn lsn, size_t value_size) const;
  common::Status AppendRecord(std::span<const std::byte> value, bool will_init);
  Lookup LookupEntries(const layers::Key& key, const layers::LsnRange& lsns) const;
  // CopyTo's batched reader (in the .cc): plans a batch of entries, reads
  // it with one engine batch, puts its values.
  class L0Copy;

  // Corruption naming path and offset when `header` (kRecordHeaderSize
  // bytes read at entry.offset) disagrees with `entry`.
  common::Status CheckHeader(const IndexEntry& entry, std::span<const std::byte> header) const;
  // Reads the record of `entry` into `buffer` (resized to header + value)
  // and checks its header against the entry.
  common::Status ReadRecord(const IndexEntry& entry, std::vector<std::byte>& buffer) const;
  common::Status CopyTo(layers::DeltaLayerWriter& writer, size_t read_batch_bytes) const;

  virtual_file::VirtualFile file_;
  const layers::Lsn start_lsn_;
  std::unique_ptr<virtual_file::BufferedWriter> writer_;  // appends and reads file_

  // Written only by the writer thread, under the exclusive lock; the writer
  // thread reads them without the lock (no one else writes them), other
  // threads under the shared lock.
  mutable std::shared_mutex mu_;
  std::map<layers::Key, std::vector<IndexEntry>> index_;  // each vector in LSN order
  uint64_t entry_count_ = 0;
  layers::Lsn last_lsn_;                // Invalid until the first Put
  std::optional<layers::Lsn> end_lsn_;  // set by Freeze
};

}  // namespace pageserver::timeline
