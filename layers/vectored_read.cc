#include "layers/vectored_read.h"

#include <algorithm>
#include <cassert>
#include <string>
#include <utility>

#include "common/align.h"

namespace pageserver::layers {
namespace {

using common::AlignDown;
using common::AlignUp;
using common::Result;
using common::Status;
using virtual_file::VirtualFile;

// [offset, end) of one or more blobs; overlapping blobs share an extent.
struct Extent {
  uint64_t offset = 0;
  uint64_t end = 0;
};

// Step 1 of the planner: sorted, distinct, and with overlaps merged so the
// extents are disjoint (touching extents stay separate: adjacent blobs of a
// valid file are distinct extents).
std::vector<Extent> SortedExtents(std::span<const BlobRef> blobs) {
  std::vector<Extent> sorted;
  sorted.reserve(blobs.size());
  for (const BlobRef& b : blobs) {
    if (b.length != 0) sorted.push_back({b.offset, b.end()});
  }
  std::sort(sorted.begin(), sorted.end(), [](const Extent& a, const Extent& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.end < b.end;
  });
  std::vector<Extent> merged;
  for (const Extent& e : sorted) {
    if (!merged.empty() && e.offset < merged.back().end) {
      merged.back().end = std::max(merged.back().end, e.end);
    } else {
      merged.push_back(e);
    }
  }
  // A chain of overlapping blobs longer than any read we plan is left
  // unread: its blobs get no pieces and decode as Corruption.
  std::erase_if(merged, [](const Extent& e) { return e.end - e.offset > kMaxPlannedReadBytes; });
  return merged;
}

uint64_t EffectiveCap(const PlannerOptions& options) {
  const uint64_t cap = std::min<uint64_t>(options.max_read_bytes, kMaxPlannedReadBytes);
  return std::max<uint64_t>(AlignDown(cap, options.alignment), options.alignment);
}

// Steps 2 and 3 for one extent. Extents arrive sorted and disjoint, so an
// extent never starts before the last chunk of the current read.
void AddExtent(const Extent& e, uint64_t alignment, uint64_t cap,
               std::vector<PhysicalRead>& reads) {
  const uint64_t first = AlignDown(e.offset, alignment);
  const uint64_t last = AlignUp(e.end, alignment);
  if (!reads.empty()) {
    PhysicalRead& cur = reads.back();
    const uint64_t cur_end = cur.offset + cur.length;
    assert(first + alignment >= cur_end);
    if (first <= cur_end) {
      if (last <= cur_end || last - cur.offset <= cap) {
        cur.length = std::max(cur_end, last) - cur.offset;
        return;
      }
      if (first < cur_end) {  // shared chunk: straddle into a read after it
        reads.push_back({cur_end, last - cur_end});
        return;
      }
    }
  }
  reads.push_back({first, last - first});
}

// The read holding byte `offset` of the file, or reads.end().
std::vector<PhysicalRead>::const_iterator ReadHolding(const std::vector<PhysicalRead>& reads,
                                                      uint64_t offset) {
  auto it = std::upper_bound(reads.begin(), reads.end(), offset,
                             [](uint64_t p, const PhysicalRead& r) { return p < r.offset; });
  if (it == reads.begin()) return reads.end();
  --it;
  return offset < it->offset + it->length ? it : reads.end();
}

// The pieces of the blob over `reads`, which cover all of it or (a zero
// length or an unplanned overlapping chain) none of it.
void AppendPieces(const std::vector<PhysicalRead>& reads, const BlobRef& blob,
                  std::vector<BlobPiece>& out) {
  uint64_t pos = blob.offset;
  auto it = ReadHolding(reads, pos);
  if (blob.length == 0 || it == reads.end()) return;
  for (; pos < blob.end(); ++it) {
    assert(it != reads.end() && it->offset <= pos && pos < it->offset + it->length);
    const uint64_t piece_end = std::min(blob.end(), it->offset + it->length);
    out.push_back({static_cast<uint32_t>(it - reads.begin()),
                   static_cast<uint32_t>(pos - it->offset),
                   static_cast<uint32_t>(piece_end - pos)});
    pos = piece_end;
  }
}

std::string BlobContext(const VirtualFile& file, const BlobRef& blob) {
  return "layer " + file.path() + ": blob at offset " + std::to_string(blob.offset) + " (length " +
         std::to_string(blob.length) + ")";
}

}  // namespace

// ---- VectoredReadPlan ----

VectoredReadPlan VectoredReadPlan::Build(std::span<const BlobRef> blobs,
                                         const PlannerOptions& options) {
  assert(common::IsPowerOfTwo(options.alignment));
  VectoredReadPlan plan;
  plan.blobs_.assign(blobs.begin(), blobs.end());
  const uint64_t cap = EffectiveCap(options);
  for (const Extent& e : SortedExtents(blobs)) {
    AddExtent(e, options.alignment, cap, plan.reads_);
  }
  plan.piece_begin_.reserve(blobs.size() + 1);
  for (const BlobRef& b : blobs) {
    plan.piece_begin_.push_back(static_cast<uint32_t>(plan.pieces_.size()));
    AppendPieces(plan.reads_, b, plan.pieces_);
    assert(plan.pieces_.size() - plan.piece_begin_.back() <= kMaxPieces);
  }
  plan.piece_begin_.push_back(static_cast<uint32_t>(plan.pieces_.size()));
  return plan;
}

std::span<const BlobPiece> VectoredReadPlan::pieces(size_t i) const {
  return std::span(pieces_).subspan(piece_begin_[i], piece_begin_[i + 1] - piece_begin_[i]);
}

uint64_t VectoredReadPlan::total_read_bytes() const {
  uint64_t total = 0;
  for (const PhysicalRead& r : reads_) total += r.length;
  return total;
}

// ---- VectoredReadBatch ----

size_t VectoredReadBatch::Add(const VirtualFile* file, VectoredReadPlan plan) {
  assert(!executed_);
  PlanState state;
  state.file = file;
  state.plan = std::move(plan);
  plans_.push_back(std::move(state));
  return plans_.size() - 1;
}

VectoredReadBatch::~VectoredReadBatch() { virtual_file::RecycleBuffer(std::move(buffer_)); }

// Places every read in buffer_ at an offset aligned to `alignment`; returns
// the buffer size needed.
uint64_t VectoredReadBatch::LayOutReads(size_t alignment) {
  uint64_t cursor = 0;
  for (PlanState& s : plans_) {
    s.buffer_offset.clear();
    for (const PhysicalRead& r : s.plan.reads()) {
      cursor = AlignUp(cursor, alignment);
      s.buffer_offset.push_back(cursor);
      cursor += r.length;
    }
  }
  return cursor;
}

void VectoredReadBatch::RecordResults(std::span<const VirtualFile::BatchRead> reads) {
  size_t next = 0;
  for (PlanState& s : plans_) {
    for (size_t i = 0; i < s.plan.reads().size(); ++i, ++next) {
      const Result<size_t>& result = reads[next].result;
      s.read_status.push_back(result.error());
      s.read_bytes.push_back(result.has_value() ? *result : 0);
    }
  }
}

void VectoredReadBatch::Execute() {
  assert(!executed_);
  executed_ = true;
  size_t alignment = 1;
  for (const PlanState& s : plans_) alignment = std::max(alignment, s.file->alignment());
  buffer_ = virtual_file::TakeRecycledBuffer(LayOutReads(alignment), alignment);
  std::vector<VirtualFile::BatchRead> reads;
  for (const PlanState& s : plans_) {
    for (size_t i = 0; i < s.plan.reads().size(); ++i) {
      const PhysicalRead& r = s.plan.reads()[i];
      reads.push_back(
          {s.file, r.offset, buffer_.AsSpanMut().Subspan(s.buffer_offset[i], r.length)});
    }
  }
  if (!reads.empty()) VirtualFile::ReadBatch(reads);
  RecordResults(reads);
}

Status VectoredReadBatch::CheckBlobIndex(size_t plan, size_t blob) const {
  if (!executed_) return Status::Internal("vectored read batch: decode before Execute()");
  if (plan >= plans_.size() || blob >= plans_[plan].plan.blob_count()) {
    return Status::InvalidArgument("vectored read batch: no blob " + std::to_string(blob) +
                                   " in plan " + std::to_string(plan));
  }
  return Status::Ok();
}

Status VectoredReadBatch::WithBlobContext(size_t plan, size_t blob, const Status& status) const {
  if (status.ok()) return status;  // no context string on the hot path
  const PlanState& s = plans_[plan];
  return status.WithContext(BlobContext(*s.file, s.plan.blob(blob)));
}

Result<VectoredReadBatch::BlobBytes> VectoredReadBatch::PiecesOf(size_t plan, size_t blob) const {
  RETURN_IF_ERROR(CheckBlobIndex(plan, blob));
  const PlanState& s = plans_[plan];
  BlobBytes bytes;
  if (s.plan.pieces(blob).empty() && s.plan.blob(blob).length != 0) {
    return WithBlobContext(
        plan, blob,
        Status::Corruption("not read: overlapping blobs span more than " +
                           std::to_string(kMaxPlannedReadBytes) + " bytes (corrupt index)"));
  }
  for (const BlobPiece& p : s.plan.pieces(blob)) {
    RETURN_IF_ERROR(WithBlobContext(plan, blob, s.read_status[p.read]));
    const PhysicalRead& r = s.plan.reads()[p.read];
    const uint64_t got = s.read_bytes[p.read];
    if (uint64_t{p.offset_in_read} + p.length > got) {
      return WithBlobContext(
          plan, blob,
          Status::Corruption("short read at offset " + std::to_string(r.offset) + ": expected " +
                             std::to_string(r.length) + " bytes, got " + std::to_string(got) +
                             " (the file ends before the blob)"));
    }
    const std::byte* base = buffer_.data() + s.buffer_offset[p.read] + p.offset_in_read;
    bytes.pieces[bytes.count++] = std::span(base, p.length);
  }
  return bytes;
}

Result<BlobHeader> VectoredReadBatch::Header(size_t plan, size_t blob) const {
  ASSIGN_OR_RETURN(const BlobBytes bytes, PiecesOf(plan, blob));
  Result<BlobHeader> header = ReadBlobHeader(BlobPieces(bytes.pieces.data(), bytes.count));
  if (!header.has_value()) return WithBlobContext(plan, blob, header.error());
  return header;
}

Status VectoredReadBatch::DecodeInto(size_t plan, size_t blob, std::span<std::byte> dst) const {
  ASSIGN_OR_RETURN(const BlobBytes bytes, PiecesOf(plan, blob));
  return WithBlobContext(plan, blob,
                         DecodeBlobInto(BlobPieces(bytes.pieces.data(), bytes.count), dst));
}

Result<DecodedBlob> VectoredReadBatch::Decode(size_t plan, size_t blob) const {
  ASSIGN_OR_RETURN(const BlobBytes bytes, PiecesOf(plan, blob));
  Result<DecodedBlob> decoded = DecodeBlob(BlobPieces(bytes.pieces.data(), bytes.count));
  if (!decoded.has_value()) return WithBlobContext(plan, blob, decoded.error());
  return decoded;
}

size_t VectoredReadBatch::read_count() const {
  size_t n = 0;
  for (const PlanState& s : plans_) n += s.plan.reads().size();
  return n;
}

uint64_t VectoredReadBatch::bytes_read() const {
  uint64_t n = 0;
  for (const PlanState& s : plans_) n += s.plan.total_read_bytes();
  return n;
}

}  // namespace pageserver::layers
