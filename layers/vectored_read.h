#pragma once

// Vectored reads of blobs: plan the physical reads for a set of blobs of one
// layer file, then execute the reads of one or many layers as one engine
// batch and decode blobs straight out of the read buffers.
//
// BlobRef is what a layer's index stores for each value, packed into the
// index's u64 (RFC.md "BlobRef"):
//   bits 63..24  offset of the blob in the file (40 bits: files up to 1 TiB)
//   bits 23..1   total blob length, header included (23 bits: < 8 MiB)
//   bit  0       will_init (the value starts a key's history: an image or an
//                init record), so the read path knows where history ends
//                without reading data
//
// Planning (VectoredReadPlan::Build), for blobs in any order, duplicates
// allowed:
//   1. sort the distinct blobs by offset;
//   2. walk them, growing the current read, which covers whole chunks of
//      `alignment` bytes (512 by default, the file's direct-IO alignment):
//      the next blob joins the current read when it starts in the read's last
//      chunk or the chunk right after it, and the grown read stays within
//      max_read_bytes (config `max_vectored_read_bytes`, default 128 KiB) or
//      does not grow at all (the blob ends inside the read's last chunk);
//   3. otherwise a new read starts. If the next blob starts inside the last
//      chunk of the current read (the chunk is shared), the new read starts at
//      the following chunk, so no chunk is read twice in one batch, and that
//      blob straddles two reads (decoded from both buffers, still one copy).
//      A blob larger than max_read_bytes starts a read of its own, over the
//      cap (only blobs ending inside its last chunk join it, by step 2).
// Example, 512-byte chunks, cap 128 KiB: blobs [0, 8208) and [8208, 16416)
// become one read [0, 16896); blobs [0, 100) and [5000, 5100) become two
// reads [0, 512) and [4608, 5120).
//
// Execution (VectoredReadBatch): every planned read of every plan added is
// issued through VirtualFile::ReadBatch (one engine submit, one wait) into
// aligned buffers owned by the batch. A failed or short read fails only the
// blobs that needed it (a short read is Corruption: the layer's summary said
// the value region was there).
//
// Thread-safety: plans and batches are plain single-threaded values.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/blob.h"
#include "virtual_file/io_buffer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

struct BlobRef {
  uint64_t offset = 0;
  uint32_t length = 0;  // header + stored payload
  bool will_init = false;

  static constexpr uint64_t kMaxOffset = (uint64_t{1} << 40) - 1;
  static constexpr uint32_t kMaxLength = (uint32_t{1} << 23) - 1;

  // REQUIRES: offset <= kMaxOffset, length <= kMaxLength.
  uint64_t Pack() const { return (offset << 24) | (uint64_t{length} << 1) | (will_init ? 1 : 0); }
  static BlobRef Unpack(uint64_t packed) {
    return BlobRef{packed >> 24, static_cast<uint32_t>((packed >> 1) & kMaxLength),
                   (packed & 1) != 0};
  }
  uint64_t end() const { return offset + length; }
  auto operator<=>(const BlobRef&) const = default;
};

inline constexpr size_t kDefaultMaxVectoredReadBytes = 128 * 1024;

// Reads are never planned longer than this, whatever max_read_bytes says
// (except a read holding a single larger blob), so a piece's offset in its
// read fits 32 bits.
inline constexpr size_t kMaxPlannedReadBytes = size_t{1} << 30;

struct PlannerOptions {
  // The file's direct-IO alignment (VirtualFile::alignment()).
  size_t alignment = 512;  // REQUIRES: power of two, <= kMaxPlannedReadBytes
  // Rounded down to a multiple of alignment (at least one chunk) and capped
  // at kMaxPlannedReadBytes.
  size_t max_read_bytes = kDefaultMaxVectoredReadBytes;
};

struct PhysicalRead {
  uint64_t offset = 0;  // multiple of alignment
  uint64_t length = 0;  // multiple of alignment
  auto operator<=>(const PhysicalRead&) const = default;
};

// Where a piece of a blob lies: bytes [offset_in_read, +length) of read `read`.
struct BlobPiece {
  uint32_t read = 0;
  uint32_t offset_in_read = 0;
  uint32_t length = 0;
  auto operator<=>(const BlobPiece&) const = default;
};

class VectoredReadPlan {
 public:
  // A blob has at most this many pieces (a straddling blob, step 3).
  static constexpr size_t kMaxPieces = 2;

  VectoredReadPlan() = default;
  // Blobs that overlap (only a corrupt index makes them) are planned as one
  // extent covering both, so each still gets pieces covering exactly its own
  // bytes; a blob of length 0, or in an overlapping chain longer than
  // kMaxPlannedReadBytes, gets no pieces (decoding it is Corruption).
  // REQUIRES: every blob.offset <= BlobRef::kMaxOffset and
  // blob.length <= BlobRef::kMaxLength (true of any unpacked BlobRef).
  static VectoredReadPlan Build(std::span<const BlobRef> blobs, const PlannerOptions& options);

  // The physical reads, sorted by offset, disjoint.
  const std::vector<PhysicalRead>& reads() const { return reads_; }
  // The blobs as given to Build (index = position in that span).
  size_t blob_count() const { return blobs_.size(); }
  const BlobRef& blob(size_t i) const { return blobs_[i]; }
  // The pieces of blob i, in file order (one, or two for a straddling blob).
  std::span<const BlobPiece> pieces(size_t i) const;
  uint64_t total_read_bytes() const;

 private:
  std::vector<BlobRef> blobs_;
  std::vector<PhysicalRead> reads_;
  // pieces of blob i: pieces_[piece_begin_[i] .. piece_begin_[i + 1])
  std::vector<BlobPiece> pieces_;
  std::vector<uint32_t> piece_begin_;
};

class VectoredReadBatch {
 public:
  VectoredReadBatch() = default;
  VectoredReadBatch(VectoredReadBatch&&) noexcept = default;
  VectoredReadBatch& operator=(VectoredReadBatch&&) noexcept = default;
  // Gives the read buffer back to this thread's pool (virtual_file::RecycleBuffer).
  ~VectoredReadBatch();

  // Adds one layer file's plan and returns its handle (0, 1, ...). `file`
  // must outlive the batch; the plan should have been built with
  // alignment == file->alignment() (a misaligned read fails with
  // InvalidArgument). REQUIRES: not executed yet; all files of a batch share
  // one IoContext engine (VirtualFile::ReadBatch).
  size_t Add(const virtual_file::VirtualFile* file, VectoredReadPlan plan);

  // Allocates the read buffer (aligned to the largest file alignment; every
  // read lands at an offset aligned to it), issues every read of every plan
  // as one VirtualFile::ReadBatch, waits once. Per-read outcomes are kept for
  // the decode calls. A read that ends early at end of file (its last chunk
  // is partial) is fine for the blobs inside what it returned; a blob past
  // that is Corruption. Once only.
  void Execute();

  // The decode calls name the blob by (plan handle, blob index in that plan).
  // Each returns the error of any read the blob needed (with file path and
  // offset), or the blob's own decode error (Corruption naming path, offset
  // and length). Before Execute() or for an index out of range the answer is
  // an error (Internal / InvalidArgument), never undefined behaviour.
  common::Result<BlobHeader> Header(size_t plan, size_t blob) const;
  common::Status DecodeInto(size_t plan, size_t blob, std::span<std::byte> dst) const;
  common::Result<DecodedBlob> Decode(size_t plan, size_t blob) const;

  size_t plan_count() const { return plans_.size(); }
  const VectoredReadPlan& plan(size_t i) const { return plans_[i].plan; }
  size_t read_count() const;    // physical reads issued
  uint64_t bytes_read() const;  // bytes requested by those reads

 private:
  // All reads of the batch land in one aligned buffer, taken from and given
  // back to the thread's recycled buffers (no allocation or madvise per
  // batch in the steady state).
  struct PlanState {
    const virtual_file::VirtualFile* file = nullptr;
    VectoredReadPlan plan;
    std::vector<uint64_t> buffer_offset;      // per read: where it lands in buffer_
    std::vector<common::Status> read_status;  // per read
    std::vector<uint64_t> read_bytes;         // per read: bytes obtained (short at EOF)
  };
  // A blob's bytes in buffer_, in file order.
  struct BlobBytes {
    std::array<std::span<const std::byte>, VectoredReadPlan::kMaxPieces> pieces;
    size_t count = 0;
  };
  uint64_t LayOutReads(size_t alignment);
  void RecordResults(std::span<const virtual_file::VirtualFile::BatchRead> reads);
  common::Status CheckBlobIndex(size_t plan, size_t blob) const;
  common::Result<BlobBytes> PiecesOf(size_t plan, size_t blob) const;
  common::Status WithBlobContext(size_t plan, size_t blob, const common::Status& status) const;
  std::vector<PlanState> plans_;
  virtual_file::AlignedBuffer buffer_;
  bool executed_ = false;
};

}  // namespace pageserver::layers
