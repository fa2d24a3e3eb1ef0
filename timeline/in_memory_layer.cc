#include "timeline/in_memory_layer.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "layers/blob.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using layers::LsnRange;
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

Status InMemoryLayer::ReadRecord(const IndexEntry& entry, std::vector<std::byte>& buffer) const {
  buffer.resize(kRecordHeaderSize + entry.length);
  RETURN_IF_ERROR(writer_->ReadAt(entry.offset, buffer));
  const uint32_t length = DecodeLength(buffer);
  const auto flags = std::to_integer<uint8_t>(buffer[4]);
  const bool will_init = (flags & kWillInitFlag) != 0;
  const bool reserved_clear = (flags & ~kWillInitFlag) == 0 && buffer[5] == std::byte{0} &&
                              buffer[6] == std::byte{0} && buffer[7] == std::byte{0};
  if (length != entry.length || will_init != entry.will_init || !reserved_clear) {
    return Status::Corruption(
        "in-memory layer " + file_.path() + " offset=" + std::to_string(entry.offset) +
        ": record header (length " + std::to_string(length) + ", flags " + std::to_string(flags) +
        ") disagrees with the index (length " + std::to_string(entry.length) + ")");
  }
  return Status::Ok();
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

Status InMemoryLayer::CopyTo(layers::DeltaLayerWriter& writer) const {
  // The index of a frozen layer no longer changes, so it is walked without
  // the lock. Records of one key are scattered over the file (appended in
  // LSN order), so each is read on its own into one reused buffer.
  std::vector<std::byte> buffer;
  for (const auto& [key, entries] : index_) {
    for (const IndexEntry& entry : entries) {
      RETURN_IF_ERROR(ReadRecord(entry, buffer));
      RETURN_IF_ERROR(writer.Put(key, entry.lsn, std::span(buffer).subspan(kRecordHeaderSize),
                                 entry.will_init));
    }
  }
  return Status::Ok();
}

Result<std::optional<layers::WrittenLayer>> InMemoryLayer::WriteL0(
    const IoContext& ctx, const std::string& dir, layers::TenantId tenant,
    layers::TimelineId timeline, const layers::LayerWriterOptions& options) const {
  if (!end_lsn_.has_value()) {
    return Status::InvalidArgument("write L0 from " + file_.path() + ": layer is not frozen");
  }
  if (entry_count_ == 0) return std::optional<layers::WrittenLayer>();
  ASSIGN_OR_RETURN(std::unique_ptr<layers::DeltaLayerWriter> writer,
                   layers::DeltaLayerWriter::Create(ctx, dir, tenant, timeline,
                                                    layers::KeyRange::All(), lsn_range(), options));
  RETURN_IF_ERROR(CopyTo(*writer));
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
