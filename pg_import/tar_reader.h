#pragma once

// TarReader: reads a tar archive member by member from a ByteSource, as GNU
// tar and pg_basebackup write them, streaming each member's content (a
// member is never held in memory whole).
//
// Accepted format (POSIX.1-1988 ustar, GNU and POSIX.1-2001 pax):
//   - 512-byte header blocks; name[100] at 0, size[12] at 124, chksum[8] at
//     148, typeflag at 156, magic[6] at 257, prefix[155] at 345. The path is
//     prefix + "/" + name when the magic is "ustar\0" (POSIX) and prefix is
//     not empty; GNU's "ustar  \0" headers keep other data there.
//   - Numeric fields: octal digits, optionally led by spaces and ended by NUL
//     or space; or GNU base-256 (first byte's high bit set) for large sizes.
//   - Checksum: the octal sum of the header's 512 bytes with the chksum field
//     counted as 8 spaces; the unsigned sum and (historic) signed sum are
//     both accepted.
//   - Content follows the header, padded with zeros to a multiple of 512.
//   - Type 'L' (GNU long name): the content is the next member's path
//     (NUL-terminated or not). Type 'K' (GNU long link name) is read and
//     ignored.
//   - Type 'x' (pax extended header): "<len> <key>=<value>\n" records for
//     the next member; `path` and `size` are used, other keys ignored.
//     Type 'g' (pax global header): the same, for every later member, with
//     the next member's own 'x' records taking precedence.
//   - The archive ends with a zero block (GNU and pg_basebackup write two and
//     may pad further); anything after the first zero block is read and
//     discarded. A stream ending before that block is truncated.
// Paths are returned without leading "/" or "./" components and without a
// trailing "/"; the archive root ("./") is the empty path.
//
// Errors: Corruption naming the member (when its path is known) and the
// stream offset, for a bad checksum, a malformed numeric field or pax
// record, a stream that ends inside a header, a member's content or its
// padding, or before the end-of-archive block. Metadata headers ('L', 'K',
// 'x', 'g') larger than kMaxTarMetadataBytes are Corruption too. The
// source's own errors are returned as they are.
//
// Thread-safety: one thread at a time. The source must outlive the reader.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg_import/import.h"

namespace pageserver::pg_import {

inline constexpr size_t kTarBlockSize = 512;
// The largest GNU long name or pax header accepted (Linux PATH_MAX is 4096).
inline constexpr size_t kMaxTarMetadataBytes = 1 << 20;

enum class TarEntryType {
  kFile,       // '0', '\0', '7'
  kDirectory,  // '5'
  kSymlink,    // '2'
  kHardLink,   // '1'
  kOther,      // devices, FIFOs, sparse files and unknown types
};

struct TarEntry {
  std::string path;
  TarEntryType type = TarEntryType::kOther;
  char typeflag = '0';
  uint64_t size = 0;           // content bytes
  uint64_t header_offset = 0;  // stream offset of the member's first header
};

class TarReader {
 public:
  explicit TarReader(ByteSource& source) : source_(source) {}
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The next member, skipping what is left of the current one's content;
  // nullopt after the end-of-archive block (the rest of the stream has then
  // been read and discarded). After an error the reader is unusable.
  common::Result<std::optional<TarEntry>> Next();

  // Reads the current member's content: fills dst unless the content ends
  // first; returns the bytes read, 0 at the content's end. Corruption when
  // the stream ends inside the content.
  // REQUIRES: the last Next() returned a member.
  common::Result<size_t> ReadContent(std::span<std::byte> dst);

  // Bytes consumed from the source so far.
  uint64_t offset() const { return offset_; }

 private:
  struct PaxOverrides {
    std::optional<std::string> path;
    std::optional<uint64_t> size;
  };

  common::Result<size_t> ReadFull(std::span<std::byte> dst);
  common::Status ReadBlockExact(std::span<std::byte> block, const char* what);
  common::Status SkipRest();
  common::Status SkipPadding(uint64_t content_size);
  common::Status DrainTrailer();
  common::Result<std::vector<std::byte>> ReadMetadataContent(uint64_t size, char typeflag,
                                                             uint64_t header_offset);
  common::Status ParsePax(std::span<const std::byte> content, uint64_t header_offset,
                          PaxOverrides& out) const;
  common::Status Fail(const std::string& member, uint64_t at, const std::string& what) const;

  ByteSource& source_;
  uint64_t offset_ = 0;
  bool in_member_ = false;
  bool done_ = false;
  std::string member_;          // current member's path, for messages
  uint64_t member_header_ = 0;  // its header offset
  uint64_t content_left_ = 0;   // unread content of the current member
  uint64_t content_size_ = 0;   // its size (for the padding)
  PaxOverrides global_;         // from 'g' headers
};

// Parses a tar numeric field (octal or GNU base-256). Corruption-free: the
// caller names the member; nullopt for a malformed field. Examples:
//   "0000644\0" -> 420;  "   17 " -> 15;  80 00 .. 00 01 00 -> 256 (base-256).
std::optional<uint64_t> ParseTarNumber(std::span<const std::byte> field);

}  // namespace pageserver::pg_import
