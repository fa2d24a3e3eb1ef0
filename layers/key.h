#pragma once

// Key: Neon's 18-byte storage key, with the same fields, the same byte order
// and the same Postgres mappings, so layer names, dumps and key ranges read
// the same as Neon's.
//
//   byte  0      field1 (u8)   key kind: 0x00 relation data, 0x01 SLRU, 0x02 two-phase,
//                              0x03 control file / checkpoint, 0x06 aux files
//   bytes 1-4    field2 (u32)  spcnode, or SLRU kind
//   bytes 5-8    field3 (u32)  dbnode, or 1 for SLRU blocks
//   bytes 9-12   field4 (u32)  relnode, or SLRU segment number
//   byte  13     field5 (u8)   fork number
//   bytes 14-17  field6 (u32)  block number; 0xFFFFFFFF marks a size key
//
// All multi-byte fields are big-endian in the encoded form, so the byte-wise
// (memcmp) order of encoded keys equals the field-wise order of Key values:
// a disk B-tree over encoded keys sorts exactly like Key::operator<=>.
//
// Hex form: the 18 bytes as 36 upper-case hex digits, fields concatenated
// as Neon prints keys ({:02X}{:08X}{:08X}{:08X}{:02X}{:08X}). Example, from
// Neon's docs: "000000067F000032BE0000400000000020B6" is
//   00 | 0000067F | 000032BE | 00004000 | 00 | 000020B6
//   rel 1663/12990/16384 (main fork) block 0x20B6.
//
// Postgres mappings (Neon's pgdatadir_mapping):
//   RelBlock(tag, blk)  00 | spc | db | rel | fork | blk
//   RelSize(tag)        00 | spc | db | rel | fork | FFFFFFFF   value: u32 nblocks
//   RelDir(spc, db)     00 | spc | db | 0   | 0    | 1          value: the relation directory
//   DbDir()             00 | 0   | 0  | 0   | 0    | 0          value: the database directory
//   SlruBlock(k, s, b)  01 | k   | 1  | s   | 0    | b
//   SlruSegSize(k, s)   01 | k   | 1  | s   | 0    | FFFFFFFF
//   SlruDir(k)          01 | k   | 0  | 0   | 0    | 0
//   TwoPhaseDir()       02 | 0   | 0  | 0   | 0    | 0
//   TwoPhaseFile(xid)   02 | 0   | 0  | 0   | 0    | xid
//   ControlFile()       03 | 0   | 0  | 0   | 0    | 0
//   Checkpoint()        03 | 0   | 0  | 0   | 0    | 1
//   AuxFile(hash)       06 | hash bytes (field2..field6 from a 17-byte hash prefix)
//
// Thread-safety: a plain value.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pageserver::layers {

inline constexpr size_t kKeySize = 18;
using EncodedKey = std::array<std::byte, kKeySize>;

// Postgres' RelFileLocator plus fork: identifies one relation fork.
struct RelTag {
  uint32_t spcnode = 0;
  uint32_t dbnode = 0;
  uint32_t relnode = 0;
  uint8_t forknum = 0;  // 0 main, 1 fsm, 2 visibility map, 3 init
  constexpr auto operator<=>(const RelTag&) const = default;
  std::string ToString() const;  // "1663/5/16384_fsm" (fork suffix omitted for main)
};

enum class SlruKind : uint8_t { kClog = 0, kMultiXactMembers = 1, kMultiXactOffsets = 2 };

inline constexpr uint32_t kSizeKeyBlock = 0xFFFFFFFF;

struct Key {
  uint8_t field1 = 0;
  uint32_t field2 = 0;
  uint32_t field3 = 0;
  uint32_t field4 = 0;
  uint8_t field5 = 0;
  uint32_t field6 = 0;

  constexpr auto operator<=>(const Key&) const = default;

  static constexpr Key Min() { return Key{}; }
  static constexpr Key Max() {
    return Key{0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF};
  }

  // The next key in order: field6 + 1, a wrap of any field (u32 at
  // 0xFFFFFFFF, u8 at 0xFF) carrying into the next higher one, i.e. the
  // encoded key read as a 144-bit big-endian integer plus one.
  //   Key{0, 1, 2, 3, 0xFF, 0xFFFFFFFF}.Next() == Key{0, 1, 2, 4, 0, 0}
  // REQUIRES: *this != Max() (Max().Next() saturates to Max()).
  Key Next() const;
  // Key with field6 + n, carrying as Next() does; saturates at Max(). For
  // building ranges. Add(1) == Next().
  Key Add(uint32_t n) const;

  EncodedKey Encode() const;
  void EncodeTo(std::span<std::byte, kKeySize> out) const;
  static Key Decode(std::span<const std::byte, kKeySize> bytes);

  std::string ToHex() const;  // 36 upper-case hex digits
  // Exactly 36 hex digits, either case; InvalidArgument naming the text.
  static common::Result<Key> ParseHex(std::string_view text);

  // --- Postgres mappings (see the table above) ---
  static Key RelBlock(const RelTag& rel, uint32_t blknum);
  static Key RelSize(const RelTag& rel);
  static Key RelDir(uint32_t spcnode, uint32_t dbnode);
  static Key DbDir();
  static Key SlruBlock(SlruKind kind, uint32_t segno, uint32_t blknum);
  static Key SlruSegmentSize(SlruKind kind, uint32_t segno);
  static Key SlruDir(SlruKind kind);
  static Key TwoPhaseDir();
  static Key TwoPhaseFile(uint32_t xid);
  static Key ControlFile();
  static Key Checkpoint();
  // Aux-file key: field1 0x06, the next 17 bytes from `hash` (e.g. a hash of
  // the file's path; collisions are the caller's to resolve in the value).
  static Key AuxFile(std::span<const std::byte, 17> hash);

  // The whole key range of one relation fork's blocks and size key.
  // [RelBlock(rel, 0), RelSize(rel).Next())
  bool IsRelBlock() const { return field1 == 0x00 && field4 != 0 && field6 != kSizeKeyBlock; }
  bool IsRelSize() const { return field1 == 0x00 && field4 != 0 && field6 == kSizeKeyBlock; }
  bool IsSlruBlock() const { return field1 == 0x01 && field3 == 1 && field6 != kSizeKeyBlock; }
  // The relation of a rel block or rel size key. REQUIRES: IsRelBlock() || IsRelSize().
  RelTag rel() const { return RelTag{field2, field3, field4, field5}; }
  uint32_t block() const { return field6; }
  // One line for humans: "rel 1663/5/16384 blk 7", "relsize 1663/5/16384",
  // "slru clog seg 0 blk 3", "dbdir", ... or the hex form for other keys.
  std::string Describe() const;
};

}  // namespace pageserver::layers
