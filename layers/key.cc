#include "layers/key.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;

constexpr size_t kKeyHexDigits = 2 * kKeySize;

// Byte offsets of the fields in the encoded form (see the table in key.h).
constexpr size_t kField2Offset = 1;
constexpr size_t kField3Offset = 5;
constexpr size_t kField4Offset = 9;
constexpr size_t kField5Offset = 13;
constexpr size_t kField6Offset = 14;

// Postgres' forkNames[] (common/relpath.c), indexed by fork number.
constexpr std::string_view kForkNames[] = {"main", "fsm", "vm", "init"};

void PutU32(std::span<std::byte, kKeySize> out, size_t offset, uint32_t v) {
  out[offset] = static_cast<std::byte>(v >> 24);
  out[offset + 1] = static_cast<std::byte>(v >> 16);
  out[offset + 2] = static_cast<std::byte>(v >> 8);
  out[offset + 3] = static_cast<std::byte>(v);
}

uint32_t GetU32(std::span<const std::byte, kKeySize> in, size_t offset) {
  return (std::to_integer<uint32_t>(in[offset]) << 24) |
         (std::to_integer<uint32_t>(in[offset + 1]) << 16) |
         (std::to_integer<uint32_t>(in[offset + 2]) << 8) |
         std::to_integer<uint32_t>(in[offset + 3]);
}

std::optional<uint8_t> HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return std::nullopt;
}

// Adds 1 to a field whose largest value is `max`; true when it wrapped to 0
// (a carry into the next higher field).
template <typename T>
bool IncrementWraps(T& field, T max) {
  if (field == max) {
    field = 0;
    return true;
  }
  ++field;
  return false;
}

constexpr uint32_t kU32Max = 0xFFFFFFFF;
constexpr uint8_t kU8Max = 0xFF;

// Propagates a carry out of field6 into field5..field1, stopping at the first
// field that does not wrap. False when field1 wraps too, i.e. the true result
// is past Max().
bool CarryIntoHighFields(Key& key) {
  return !(IncrementWraps(key.field5, kU8Max) && IncrementWraps(key.field4, kU32Max) &&
           IncrementWraps(key.field3, kU32Max) && IncrementWraps(key.field2, kU32Max) &&
           IncrementWraps(key.field1, kU8Max));
}

std::string SlruKindName(uint32_t kind) {
  switch (kind) {
    case static_cast<uint32_t>(SlruKind::kClog):
      return "clog";
    case static_cast<uint32_t>(SlruKind::kMultiXactMembers):
      return "multixact_members";
    case static_cast<uint32_t>(SlruKind::kMultiXactOffsets):
      return "multixact_offsets";
    default:
      return "kind" + std::to_string(kind);
  }
}

std::optional<std::string> DescribeRelKey(const Key& k) {
  if (k.IsRelBlock()) return "rel " + k.rel().ToString() + " blk " + std::to_string(k.field6);
  if (k.IsRelSize()) return "relsize " + k.rel().ToString();
  if (k == Key::DbDir()) return "dbdir";
  if (k.field4 != 0 || k.field5 != 0) return std::nullopt;
  const std::string db = std::to_string(k.field2) + "/" + std::to_string(k.field3);
  if (k.field6 == 0) return "relmap " + db;  // Neon's relmap_file_key
  if (k.field6 == 1) return "reldir " + db;
  return std::nullopt;
}

std::optional<std::string> DescribeSlruKey(const Key& k) {
  const std::string kind = "slru " + SlruKindName(k.field2);
  if (k.field3 == 0 && k.field4 == 0 && k.field5 == 0 && k.field6 == 0) return kind + " dir";
  if (k.field3 != 1 || k.field5 != 0) return std::nullopt;
  const std::string seg = kind + " seg " + std::to_string(k.field4);
  if (k.field6 == kSizeKeyBlock) return seg + " size";
  return seg + " blk " + std::to_string(k.field6);
}

std::optional<std::string> DescribeMiscKey(const Key& k) {
  if (k == Key::TwoPhaseDir()) return "twophase dir";
  if (k.field1 == 0x02 && k.field2 == 0 && k.field3 == 0 && k.field4 == 0 && k.field5 == 0) {
    return "twophase xid " + std::to_string(k.field6);
  }
  if (k == Key::ControlFile()) return "controlfile";
  if (k == Key::Checkpoint()) return "checkpoint";
  if (k.field1 == 0x06) return "aux " + k.ToHex();
  return std::nullopt;
}

}  // namespace

std::string RelTag::ToString() const {
  std::string out =
      std::to_string(spcnode) + "/" + std::to_string(dbnode) + "/" + std::to_string(relnode);
  if (forknum == 0) return out;
  if (forknum < std::size(kForkNames)) return out + "_" + std::string(kForkNames[forknum]);
  return out + "_fork" + std::to_string(forknum);
}

Key Key::Next() const { return Add(1); }

Key Key::Add(uint32_t n) const {
  Key key = *this;
  const uint64_t sum = uint64_t{field6} + n;
  key.field6 = static_cast<uint32_t>(sum);
  if (sum <= kU32Max) return key;
  return CarryIntoHighFields(key) ? key : Max();
}

EncodedKey Key::Encode() const {
  EncodedKey out;
  EncodeTo(out);
  return out;
}

void Key::EncodeTo(std::span<std::byte, kKeySize> out) const {
  out[0] = static_cast<std::byte>(field1);
  PutU32(out, kField2Offset, field2);
  PutU32(out, kField3Offset, field3);
  PutU32(out, kField4Offset, field4);
  out[kField5Offset] = static_cast<std::byte>(field5);
  PutU32(out, kField6Offset, field6);
}

Key Key::Decode(std::span<const std::byte, kKeySize> bytes) {
  return Key{std::to_integer<uint8_t>(bytes[0]),
             GetU32(bytes, kField2Offset),
             GetU32(bytes, kField3Offset),
             GetU32(bytes, kField4Offset),
             std::to_integer<uint8_t>(bytes[kField5Offset]),
             GetU32(bytes, kField6Offset)};
}

std::string Key::ToHex() const {
  // Neon's Display for Key: {:02X}{:08X}{:08X}{:08X}{:02X}{:08X}.
  char buf[kKeyHexDigits + 1];
  std::snprintf(buf, sizeof(buf), "%02X%08X%08X%08X%02X%08X", unsigned{field1}, unsigned{field2},
                unsigned{field3}, unsigned{field4}, unsigned{field5}, unsigned{field6});
  return std::string(buf, kKeyHexDigits);
}

Result<Key> Key::ParseHex(std::string_view text) {
  if (text.size() != kKeyHexDigits) {
    return Status::InvalidArgument("key is not 36 hex digits: \"" + std::string(text) + "\"");
  }
  EncodedKey bytes;
  for (size_t i = 0; i < kKeySize; ++i) {
    const std::optional<uint8_t> hi = HexDigitValue(text[2 * i]);
    const std::optional<uint8_t> lo = HexDigitValue(text[2 * i + 1]);
    if (!hi || !lo) {
      return Status::InvalidArgument("key has a non-hex digit: \"" + std::string(text) + "\"");
    }
    bytes[i] = static_cast<std::byte>((*hi << 4) | *lo);
  }
  return Decode(bytes);
}

Key Key::RelBlock(const RelTag& rel, uint32_t blknum) {
  return Key{0x00, rel.spcnode, rel.dbnode, rel.relnode, rel.forknum, blknum};
}

Key Key::RelSize(const RelTag& rel) { return RelBlock(rel, kSizeKeyBlock); }

Key Key::RelDir(uint32_t spcnode, uint32_t dbnode) { return Key{0x00, spcnode, dbnode, 0, 0, 1}; }

Key Key::DbDir() { return Key{}; }

Key Key::SlruBlock(SlruKind kind, uint32_t segno, uint32_t blknum) {
  return Key{0x01, static_cast<uint32_t>(kind), 1, segno, 0, blknum};
}

Key Key::SlruSegmentSize(SlruKind kind, uint32_t segno) {
  return SlruBlock(kind, segno, kSizeKeyBlock);
}

Key Key::SlruDir(SlruKind kind) { return Key{0x01, static_cast<uint32_t>(kind), 0, 0, 0, 0}; }

Key Key::TwoPhaseDir() { return Key{0x02, 0, 0, 0, 0, 0}; }

Key Key::TwoPhaseFile(uint32_t xid) { return Key{0x02, 0, 0, 0, 0, xid}; }

Key Key::ControlFile() { return Key{0x03, 0, 0, 0, 0, 0}; }

Key Key::Checkpoint() { return Key{0x03, 0, 0, 0, 0, 1}; }

Key Key::AuxFile(std::span<const std::byte, 17> hash) {
  EncodedKey bytes;
  bytes[0] = std::byte{0x06};
  std::copy(hash.begin(), hash.end(), bytes.begin() + 1);
  return Decode(bytes);
}

std::string Key::Describe() const {
  std::optional<std::string> text;
  if (field1 == 0x00) text = DescribeRelKey(*this);
  if (field1 == 0x01) text = DescribeSlruKey(*this);
  if (!text) text = DescribeMiscKey(*this);
  return text ? *text : ToHex();
}

}  // namespace pageserver::layers
