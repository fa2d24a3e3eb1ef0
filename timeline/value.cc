#include "timeline/value.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;

namespace {

uint16_t GetU16(std::span<const std::byte> b, size_t off) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(b[off]) |
                               (std::to_integer<uint16_t>(b[off + 1]) << 8));
}

void PutU16(std::vector<std::byte>& out, uint16_t v) {
  out.push_back(std::byte(v & 0xFF));
  out.push_back(std::byte(v >> 8));
}

std::string_view KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kImage:
      return "image";
    case ValueKind::kWrite:
      return "write";
    case ValueKind::kInit:
      return "init";
  }
  return "unknown";
}

std::string RangeText(size_t offset, size_t length) {
  return "[" + std::to_string(offset) + ", " + std::to_string(offset + length) + ")";
}

Status BadValue(const std::string& what) { return Status::Corruption("value: " + what); }

}  // namespace

Result<Value> Value::Image(std::span<const std::byte> bytes) {
  if (bytes.size() > kMaxImageSize) {
    return Status::InvalidArgument("image of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " + std::to_string(kMaxImageSize));
  }
  return Value(ValueKind::kImage, 0, {bytes.begin(), bytes.end()});
}

Result<Value> Value::Write(size_t offset, std::span<const std::byte> bytes) {
  return Record(ValueKind::kWrite, offset, bytes);
}

Result<Value> Value::Init(size_t offset, std::span<const std::byte> bytes) {
  return Record(ValueKind::kInit, offset, bytes);
}

Result<Value> Value::Record(ValueKind kind, size_t offset, std::span<const std::byte> bytes) {
  if (offset > kPageSize || bytes.size() > kPageSize - offset) {
    return Status::InvalidArgument(std::string(KindName(kind)) + " record range " +
                                   RangeText(offset, bytes.size()) + " is outside the " +
                                   std::to_string(kPageSize) + "-byte page");
  }
  return Value(kind, static_cast<uint16_t>(offset), {bytes.begin(), bytes.end()});
}

size_t Value::encoded_size() const { return (is_image() ? 1 : kRecordHeaderSize) + bytes_.size(); }

std::vector<std::byte> Value::Encode() const {
  std::vector<std::byte> out;
  out.reserve(encoded_size());
  out.push_back(std::byte(static_cast<uint8_t>(kind_)));
  if (!is_image()) {
    PutU16(out, offset_);
    PutU16(out, static_cast<uint16_t>(bytes_.size()));
  }
  out.insert(out.end(), bytes_.begin(), bytes_.end());
  return out;
}

Result<Value> Value::Decode(std::span<const std::byte> encoded) {
  if (encoded.empty()) return BadValue("empty encoding");
  const uint8_t kind = std::to_integer<uint8_t>(encoded[0]);
  if (kind == static_cast<uint8_t>(ValueKind::kImage)) {
    std::span<const std::byte> image = encoded.subspan(1);
    if (image.size() > kMaxImageSize) {
      return BadValue("image of " + std::to_string(image.size()) + " bytes exceeds the limit");
    }
    return Value(ValueKind::kImage, 0, {image.begin(), image.end()});
  }
  if (kind != static_cast<uint8_t>(ValueKind::kWrite) &&
      kind != static_cast<uint8_t>(ValueKind::kInit)) {
    return BadValue("unknown kind " + std::to_string(kind));
  }
  return DecodeRecord(static_cast<ValueKind>(kind), encoded);
}

Result<Value> Value::DecodeRecord(ValueKind kind, std::span<const std::byte> encoded) {
  const std::string name(KindName(kind));
  if (encoded.size() < kRecordHeaderSize) {
    return BadValue(name + " record of " + std::to_string(encoded.size()) +
                    " bytes is shorter than its 5-byte header");
  }
  const size_t offset = GetU16(encoded, 1);
  const size_t length = GetU16(encoded, 3);
  if (offset + length > kPageSize) {
    return BadValue(name + " record range " + RangeText(offset, length) + " is outside the page");
  }
  std::span<const std::byte> payload = encoded.subspan(kRecordHeaderSize);
  if (payload.size() != length) {
    return BadValue(name + " record says " + std::to_string(length) + " bytes, " +
                    std::to_string(payload.size()) + " follow");
  }
  return Value(kind, static_cast<uint16_t>(offset), {payload.begin(), payload.end()});
}

std::string Value::ToString() const {
  if (is_image()) return "image " + std::to_string(bytes_.size()) + " bytes";
  return std::string(KindName(kind_)) + " " + std::to_string(offset_) + "+" +
         std::to_string(bytes_.size());
}

// --- Redo ---

namespace {

std::string RedoAt(const Key& key, Lsn lsn) {
  return "redo of " + key.Describe() + " at " + lsn.ToString();
}

Status CheckOrder(const Key& key, const ReconstructState& state) {
  const auto& records = state.records;
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].first >= records[i - 1].first) {
      return Status::InvalidArgument(RedoAt(key, records[i].first) +
                                     ": records not newest first (follows " +
                                     records[i - 1].first.ToString() + ")");
    }
  }
  if (state.base_image && !records.empty() && state.base_image->first >= records.back().first) {
    return Status::InvalidArgument(RedoAt(key, state.base_image->first) +
                                   ": base image is not older than the oldest record (" +
                                   records.back().first.ToString() + ")");
  }
  return Status::Ok();
}

// Index of the newest will_init record, or records.size() when there is none.
size_t NewestWillInit(const std::vector<VersionedValue>& records) {
  auto it = std::find_if(records.begin(), records.end(),
                         [](const VersionedValue& r) { return r.second.will_init(); });
  return static_cast<size_t>(it - records.begin());
}

// Applies one record onto `page` (a value of the key below it) and returns it.
Result<std::vector<std::byte>> Apply(const Key& key, const VersionedValue& record,
                                     std::vector<std::byte> page) {
  const Value& value = record.second;
  if (value.kind() == ValueKind::kInit) page.assign(kPageSize, std::byte{0});
  if (page.size() != kPageSize) {
    return Status::Corruption(RedoAt(key, record.first) + ": " + value.ToString() +
                              " onto a base of " + std::to_string(page.size()) +
                              " bytes, not a page of " + std::to_string(kPageSize));
  }
  std::copy(value.bytes().begin(), value.bytes().end(),
            page.begin() + static_cast<ptrdiff_t>(value.offset()));
  return page;
}

// The value the oldest needed record applies onto: an image record's bytes,
// the base image, or nothing (an empty vector, which Init replaces).
Result<std::vector<std::byte>> StartingValue(const Key& key, ReconstructState& state,
                                             size_t start) {
  if (start < state.records.size()) {
    VersionedValue& record = state.records[start];
    if (record.second.is_image()) return std::move(record.second).TakeBytes();
    return std::vector<std::byte>{};
  }
  if (state.base_image) return std::move(state.base_image->second);
  return Status::Corruption(RedoAt(key, state.records.back().first) +
                            ": write record without a base image");
}

// How many of the newest records redo applies, oldest of them first, onto
// the starting value: all of them onto a base image, those newer than an
// image record, or an Init record and those newer (Init applies itself).
size_t RecordsToApply(const std::vector<VersionedValue>& records, size_t start) {
  if (start == records.size()) return start;
  return records[start].second.is_image() ? start : start + 1;
}

bool IsPageKey(const Key& key) { return key.IsRelBlock() || key.IsSlruBlock(); }

}  // namespace

Result<std::vector<std::byte>> Reconstruct(const Key& key, ReconstructState&& state) {
  RETURN_IF_ERROR(CheckOrder(key, state));
  if (state.records.empty() && !state.base_image) {
    return Status::NotFound("redo of " + key.Describe() + ": no base image and no records");
  }
  const size_t start = NewestWillInit(state.records);
  ASSIGN_OR_RETURN(std::vector<std::byte> value, StartingValue(key, state, start));
  for (size_t next = RecordsToApply(state.records, start); next-- > 0;) {
    ASSIGN_OR_RETURN(value, Apply(key, state.records[next], std::move(value)));
  }
  if (IsPageKey(key) && value.size() != kPageSize) {
    return Status::Corruption("redo of " + key.Describe() + ": page image of " +
                              std::to_string(value.size()) + " bytes, not " +
                              std::to_string(kPageSize));
  }
  return value;
}

}  // namespace pageserver::timeline
