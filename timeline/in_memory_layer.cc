#include "timeline/in_memory_layer.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <utility>

#include "common/align.h"
#include "layers/blob.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using layers::LsnRange;
using virtual_file::AlignedBuffer;
using virtual_file::BufferedWriter;
using virtual_file::IoContext;
using virtual_file::OpenIntent;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

namespace {

constexpr uint8_t kWillInitFlag = 0x01;

std::array<std::byte, InMemoryLayer::kRecordHeaderSize> EncodeHeader(uint32_t length,
                                                                     bool will_init) {
  std::array<std::byte, InMemoryLayer::kRecordHeaderSize> header{};
  for (size_t i = 0; i < 4; ++i) header[i] = std::byte((length >> (8 * i)) & 0xFF);
  header[4] = std::byte(will_init ? kWillInitFlag : 0);
  return header;
}

uint32_t DecodeLength(std::span<const std::byte> header) {
  uint32_t length = 0;
  for (size_t i = 0; i < 4; ++i) length |= std::to_integer<uint32_t>(header[i]) << (8 * i);
  return length;
}

std::string PutContext(const Key& key, Lsn lsn) {
  return "in-memory layer put (" + key.ToHex() + ", " + lsn.ToString() + ")";
}

}  // namespace

Result<std::unique_ptr<InMemoryLayer>> InMemoryLayer::Create(const IoContext& ctx,
                                                             const std::string& ephemeral_path,
                                                             Lsn start_lsn,
                                                             size_t buffer_capacity) {
  if (start_lsn == Lsn::Max()) {
    return Status::InvalidArgument("in-memory layer " + ephemeral_path +
                                   ": start LSN is Lsn::Max()");
  }
  const OpenOptions options{OpenIntent::kReadWrite, /*create=*/true, /*truncate=*/true,
                            /*exclusive=*/false};
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, ephemeral_path, options));
  // Owned from here on, so an error below removes the file again.
  std::unique_ptr<InMemoryLayer> layer(new InMemoryLayer(std::move(file), start_lsn));
  ASSIGN_OR_RETURN(layer->writer_, BufferedWriter::Create(&layer->file_, 0, buffer_capacity));
  return layer;
}

InMemoryLayer::InMemoryLayer(VirtualFile file, Lsn start_lsn)
    : file_(std::move(file)), start_lsn_(start_lsn) {}

InMemoryLayer::~InMemoryLayer() {
  writer_.reset();  // waits for in-flight writes before their buffers go
  if (::unlink(file_.path().c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("in-memory layer: cannot remove {}: {}", file_.path(), std::strerror(errno));
  }
}

// --------------------------------------------------------------- writing

Status InMemoryLayer::CheckPut(const Key& key, Lsn lsn, size_t value_size) const {
  if (end_lsn_.has_value()) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": layer " + file_.path() +
                                   " is frozen at " + end_lsn_->ToString());
  }
  if (lsn < start_lsn_ || lsn == Lsn::Max()) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": LSN outside [" +
                                   start_lsn_.ToString() + ", Lsn::Max())");
  }
  if (lsn < last_lsn_) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": LSN below the previous put's " +
                                   last_lsn_.ToString());
  }
  const auto it = index_.find(key);
  if (it != index_.end() && it->second.back().lsn == lsn) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": key already has a value at this LSN");
  }
  if (key == Key::Max()) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": Key::Max() is outside every layer");
  }
  if (value_size > layers::kMaxValueSize) {
    return Status::InvalidArgument(PutContext(key, lsn) + ": value of " +
                                   std::to_string(value_size) + " bytes exceeds " +
                                   std::to_string(layers::kMaxValueSize));
  }
  return Status::Ok();
}

Status InMemoryLayer::AppendRecord(std::span<const std::byte> value, bool will_init) {
  const auto header = EncodeHeader(static_cast<uint32_t>(value.size()), will_init);
  RETURN_IF_ERROR(writer_->Append(header));
  return writer_->Append(value);
}

Status InMemoryLayer::Put(const Key& key, Lsn lsn, std::span<const std::byte> value,
                          bool will_init) {
  // Only this thread changes the index and LSNs, so the checks and the
  // append need no lock; readers see the entry only once it is inserted,
  // after its bytes are readable.
  RETURN_IF_ERROR(CheckPut(key, lsn, value.size()));
  const uint64_t offset = writer_->size();
  RETURN_IF_ERROR(AppendRecord(value, will_init));
  std::unique_lock lock(mu_);
  index_[key].push_back(IndexEntry{lsn, offset, static_cast<uint32_t>(value.size()), will_init});
  ++entry_count_;
  last_lsn_ = lsn;
  return Status::Ok();
}

Status InMemoryLayer::Freeze(Lsn end_lsn) {
  if (end_lsn_.has_value()) {
    return Status::InvalidArgument("freeze " + file_.path() + " at " + end_lsn.ToString() +
                                   ": already frozen at " + end_lsn_->ToString());
  }
  if (end_lsn <= start_lsn_ || end_lsn <= last_lsn_) {
    return Status::InvalidArgument("freeze " + file_.path() + " at " + end_lsn.ToString() +
                                   ": end LSN must be above the start " + start_lsn_.ToString() +
                                   " and the last put " + last_lsn_.ToString());
  }
  // Write out the tail and wait for every write, so that nothing is left in
  // flight on this thread's ring: from here on any thread may read, write
  // the L0 and destroy the layer.
  RETURN_IF_ERROR(writer_->Finish());
  std::unique_lock lock(mu_);
  end_lsn_ = end_lsn;
  return Status::Ok();
}

Status InMemoryLayer::Drain() { return writer_->Drain(); }

std::vector<Key> InMemoryLayer::Keys(const layers::KeyRange& range, Lsn below) const {
  std::vector<Key> keys;
  std::shared_lock lock(mu_);
  for (auto it = index_.lower_bound(range.start); it != index_.end() && it->first < range.end;
       ++it) {
    if (it->second.front().lsn < below) keys.push_back(it->first);
  }
  return keys;
}

// --------------------------------------------------------------- reading

InMemoryLayer::Lookup InMemoryLayer::LookupEntries(const Key& key, const LsnRange& lsns) const {
  Lookup out;
  if (lsns.empty()) return out;
  std::shared_lock lock(mu_);
  const auto it = index_.find(key);
  if (it == index_.end()) return out;
  const std::vector<IndexEntry>& entries = it->second;
  auto pos = std::lower_bound(entries.begin(), entries.end(), lsns.end,
                              [](const IndexEntry& e, Lsn lsn) { return e.lsn < lsn; });
  while (pos != entries.begin()) {
    --pos;
    if (pos->lsn < lsns.start) break;
    out.entries.push_back(*pos);
    if (pos->will_init) {
      out.complete = true;
      break;
    }
  }
  return out;
}

Status InMemoryLayer::CheckHeader(const IndexEntry& entry,
                                  std::span<const std::byte> header) const {
  const uint32_t length = DecodeLength(header);
  const auto flags = std::to_integer<uint8_t>(header[4]);
  const bool will_init = (flags & kWillInitFlag) != 0;
  const bool reserved_clear = (flags & ~kWillInitFlag) == 0 && header[5] == std::byte{0} &&
                              header[6] == std::byte{0} && header[7] == std::byte{0};
  if (length != entry.length || will_init != entry.will_init || !reserved_clear) {
    return Status::Corruption(
        "in-memory layer " + file_.path() + " offset=" + std::to_string(entry.offset) +
        ": record header (length " + std::to_string(length) + ", flags " + std::to_string(flags) +
        ") disagrees with the index (length " + std::to_string(entry.length) + ")");
  }
  return Status::Ok();
}

Status InMemoryLayer::ReadRecord(const IndexEntry& entry, std::vector<std::byte>& buffer) const {
  buffer.resize(kRecordHeaderSize + entry.length);
  RETURN_IF_ERROR(writer_->ReadAt(entry.offset, buffer));
  return CheckHeader(entry, std::span(buffer).first(kRecordHeaderSize));
}

Result<InMemoryLayer::History> InMemoryLayer::GetHistory(const Key& key,
                                                         const LsnRange& lsns) const {
  const Lookup lookup = LookupEntries(key, lsns);
  History history;
  history.complete = lookup.complete;
  history.values.reserve(lookup.entries.size());
  for (const IndexEntry& entry : lookup.entries) {
    std::vector<std::byte> bytes;
    RETURN_IF_ERROR(ReadRecord(entry, bytes));
    bytes.erase(bytes.begin(), bytes.begin() + kRecordHeaderSize);
    history.values.push_back({entry.lsn, entry.will_init, std::move(bytes)});
  }
  return history;
}

// ------------------------------------------------------------ writing L0

// Reads a frozen layer's values in (key, LSN) order, batch by batch (see
// "Writing L0" in the header). Whole after Freeze: the file holds every
// record (its length is exactly the logical end), nothing is in flight, and
// the index no longer changes, so it is walked without the lock and the
// file is read directly, not through the writer.
class InMemoryLayer::L0Copy {
 public:
  L0Copy(const InMemoryLayer& layer, size_t budget)
      : layer_(layer),
        budget_(budget),
        slack_(budget / kMergeSlackShare),
        alignment_(layer.file_.alignment()),
        max_read_(common::AlignUp(kL0MaxReadBytes, alignment_)),
        logical_end_(layer.writer_->size()) {}

  Status Run(layers::DeltaLayerWriter& writer) {
    for (Cursor begin{layer_.index_.begin()}; !AtEnd(begin);) {
      const Cursor end = PlanBatch(begin);
      LayOutExtents();
      RETURN_IF_ERROR(ReadExtents());
      RETURN_IF_ERROR(PutValues(begin, end, writer));
      begin = end;
    }
    return Status::Ok();
  }

 private:
  using IndexMap = std::map<Key, std::vector<IndexEntry>>;
  // A position in (key, LSN) order: entry `i` of `key`'s vector.
  struct Cursor {
    IndexMap::const_iterator key;
    size_t i = 0;
    bool operator==(const Cursor&) const = default;
  };
  // Disjoint, non-touching aligned file ranges [start, end), by start.
  using Blocks = std::map<uint64_t, uint64_t>;
  // The ranges of `blocks_` that [start, end) overlaps or touches, and the
  // bytes adding it would newly cover.
  struct Cover {
    Blocks::iterator first, last;  // [first, last) merge into [start, end)
    uint64_t start = 0, end = 0;
    uint64_t added = 0;
  };
  // One contiguous read target: file [offset, offset + length) lands at
  // buffer_offset. All three are multiples of alignment_.
  struct Extent {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t buffer_offset = 0;
  };

  bool AtEnd(const Cursor& c) const { return c.key == layer_.index_.end(); }
  void Advance(Cursor& c) const {
    if (++c.i == c.key->second.size()) {
      ++c.key;
      c.i = 0;
    }
  }
  const IndexEntry& EntryAt(const Cursor& c) const { return c.key->second[c.i]; }
  uint64_t RecordEnd(const IndexEntry& e) const { return e.offset + kRecordHeaderSize + e.length; }

  Cover CoverOf(const IndexEntry& e);
  Cursor PlanBatch(Cursor begin);
  void LayOutExtents();
  std::vector<bool> GapsToRead() const;
  Status ReadExtents();
  Status CheckRead(const VirtualFile::BatchRead& read) const;
  Status PutValues(Cursor begin, Cursor end, layers::DeltaLayerWriter& writer) const;

  const InMemoryLayer& layer_;
  // Gap bytes a batch may read on top of its blocks: 1/8 of the budget, so
  // merging costs at most 12.5% more memory than the records' blocks.
  static constexpr size_t kMergeSlackShare = 8;

  const size_t budget_;
  const size_t slack_;
  const size_t alignment_;
  const uint64_t max_read_;
  const uint64_t logical_end_;
  Blocks blocks_;  // of the batch being planned
  std::vector<Extent> extents_;
  std::vector<VirtualFile::BatchRead> reads_;
  AlignedBuffer buffer_;  // reused by every batch, grown when one needs more
};

InMemoryLayer::L0Copy::Cover InMemoryLayer::L0Copy::CoverOf(const IndexEntry& e) {
  Cover c;
  c.start = common::AlignDown(e.offset, alignment_);
  c.end = common::AlignUp(RecordEnd(e), alignment_);
  c.first = blocks_.upper_bound(c.start);
  if (c.first != blocks_.begin() && std::prev(c.first)->second >= c.start) --c.first;
  uint64_t existing = 0;
  for (c.last = c.first; c.last != blocks_.end() && c.last->first <= c.end; ++c.last) {
    c.start = std::min(c.start, c.last->first);
    c.end = std::max(c.end, c.last->second);
    existing += c.last->second - c.last->first;
  }
  c.added = (c.end - c.start) - existing;
  return c;
}

// Takes entries from `begin` while the blocks under them fit the budget
// (always the first); returns where the next batch starts.
InMemoryLayer::L0Copy::Cursor InMemoryLayer::L0Copy::PlanBatch(Cursor begin) {
  blocks_.clear();
  uint64_t covered = 0;
  Cursor c = begin;
  for (; !AtEnd(c); Advance(c)) {
    const Cover cover = CoverOf(EntryAt(c));
    if (covered + cover.added > budget_ && c != begin) break;
    blocks_.erase(cover.first, cover.last);
    blocks_.emplace(cover.start, cover.end);
    covered += cover.added;
  }
  return c;
}

// Which gaps between consecutive block ranges are read (gap i follows range
// i): those under kL0ReadMergeGap, smallest first (the most requests saved
// per slack byte) while their sum stays within the slack.
std::vector<bool> InMemoryLayer::L0Copy::GapsToRead() const {
  std::vector<bool> read(blocks_.size(), false);
  if (blocks_.empty()) return read;
  std::vector<std::pair<uint64_t, size_t>> gaps;  // (bytes, index)
  size_t i = 0;
  for (auto it = blocks_.begin(); std::next(it) != blocks_.end(); ++it, ++i) {
    const uint64_t gap = std::next(it)->first - it->second;
    if (gap < kL0ReadMergeGap) gaps.emplace_back(gap, i);
  }
  std::sort(gaps.begin(), gaps.end());
  uint64_t slack = slack_;
  for (const auto& [bytes, index] : gaps) {
    if (bytes > slack) break;
    slack -= bytes;
    read[index] = true;
  }
  return read;
}

void InMemoryLayer::L0Copy::LayOutExtents() {
  const std::vector<bool> read_gap = GapsToRead();
  extents_.clear();
  uint64_t buffer_bytes = 0;
  bool extend = false;  // the previous range's gap is read: extend its extent
  size_t i = 0;
  for (const auto& [start, end] : blocks_) {
    if (extend) {
      buffer_bytes += end - (extents_.back().offset + extents_.back().length);
      extents_.back().length = end - extents_.back().offset;
    } else {
      extents_.push_back({start, end - start, buffer_bytes});
      buffer_bytes += end - start;
    }
    extend = read_gap[i++];
  }
  if (buffer_.capacity() < buffer_bytes) {
    // Doubling keeps regrowth rare when batches vary; still within the bound.
    const uint64_t grown = std::min<uint64_t>(2 * uint64_t{buffer_.capacity()}, budget_ + slack_);
    buffer_ = AlignedBuffer(std::max(buffer_bytes, grown), alignment_);
  }
}

Status InMemoryLayer::L0Copy::ReadExtents() {
  reads_.clear();
  for (const Extent& e : extents_) {
    for (uint64_t done = 0; done < e.length; done += max_read_) {
      const uint64_t length = std::min(max_read_, e.length - done);
      reads_.push_back({&layer_.file_, e.offset + done,
                        buffer_.AsSpanMut().Subspan(e.buffer_offset + done, length)});
    }
  }
  VirtualFile::ReadBatch(reads_);
  for (const VirtualFile::BatchRead& read : reads_) RETURN_IF_ERROR(CheckRead(read));
  return Status::Ok();
}

// A read may stop short only past the logical end: the last block of the
// file is partial (Finish truncated it to the exact length).
Status InMemoryLayer::L0Copy::CheckRead(const VirtualFile::BatchRead& read) const {
  if (!read.result.has_value()) return read.result.error();
  const uint64_t expected = std::min<uint64_t>(
      read.dst.size(), logical_end_ > read.offset ? logical_end_ - read.offset : 0);
  if (*read.result >= expected) return Status::Ok();
  return Status::Corruption(
      "in-memory layer " + layer_.file_.path() + " offset=" + std::to_string(read.offset) +
      ": read " + std::to_string(*read.result) + " of " + std::to_string(expected) +
      " bytes: the file ends before its logical end " + std::to_string(logical_end_));
}

Status InMemoryLayer::L0Copy::PutValues(Cursor begin, Cursor end,
                                        layers::DeltaLayerWriter& writer) const {
  for (Cursor c = begin; c != end; Advance(c)) {
    const IndexEntry& e = EntryAt(c);
    // The extent holding the record: the last one starting at or below it
    // (a record's blocks are never split between extents).
    const auto extent = std::prev(
        std::upper_bound(extents_.begin(), extents_.end(), e.offset,
                         [](uint64_t offset, const Extent& x) { return offset < x.offset; }));
    assert(RecordEnd(e) <= extent->offset + extent->length);
    const std::byte* record = buffer_.data() + extent->buffer_offset + (e.offset - extent->offset);
    RETURN_IF_ERROR(layer_.CheckHeader(e, std::span(record, kRecordHeaderSize)));
    RETURN_IF_ERROR(writer.Put(c.key->first, e.lsn, std::span(record + kRecordHeaderSize, e.length),
                               e.will_init));
  }
  return Status::Ok();
}

Status InMemoryLayer::CopyTo(layers::DeltaLayerWriter& writer, size_t read_batch_bytes) const {
  return L0Copy(*this, read_batch_bytes).Run(writer);
}

Result<std::optional<layers::WrittenLayer>> InMemoryLayer::WriteL0(
    const IoContext& ctx, const std::string& dir, layers::TenantId tenant,
    layers::TimelineId timeline, const layers::LayerWriterOptions& options,
    size_t read_batch_bytes) const {
  if (!end_lsn_.has_value()) {
    return Status::InvalidArgument("write L0 from " + file_.path() + ": layer is not frozen");
  }
  if (entry_count_ == 0) return std::optional<layers::WrittenLayer>();
  ASSIGN_OR_RETURN(std::unique_ptr<layers::DeltaLayerWriter> writer,
                   layers::DeltaLayerWriter::Create(ctx, dir, tenant, timeline,
                                                    layers::KeyRange::All(), lsn_range(), options));
  RETURN_IF_ERROR(CopyTo(*writer, read_batch_bytes));
  ASSIGN_OR_RETURN(layers::WrittenLayer written, writer->Finish());
  return std::optional<layers::WrittenLayer>(std::move(written));
}

// -------------------------------------------------------------- accessors

LsnRange InMemoryLayer::lsn_range() const {
  std::shared_lock lock(mu_);
  return LsnRange{start_lsn_, end_lsn_.value_or(Lsn::Max())};
}

bool InMemoryLayer::frozen() const {
  std::shared_lock lock(mu_);
  return end_lsn_.has_value();
}

Lsn InMemoryLayer::last_lsn() const {
  std::shared_lock lock(mu_);
  return last_lsn_;
}

uint64_t InMemoryLayer::entry_count() const {
  std::shared_lock lock(mu_);
  return entry_count_;
}

uint64_t InMemoryLayer::key_count() const {
  std::shared_lock lock(mu_);
  return index_.size();
}

}  // namespace pageserver::timeline
