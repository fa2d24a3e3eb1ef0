#pragma once

// TimelineMetadata: the small file `<timeline dir>/metadata` that says how far
// a timeline's layer files are consistent and where it branched from (Neon's
// TimelineMetadata, with our own checksummed layout).
//
// File layout: one fixed kMetadataSize (512) byte block, little-endian
// integers (RFC.md "Timeline metadata"):
//
//   offset  size  field
//   0       4     magic "PSTM" (as bytes)
//   4       2     format_version (kMetadataFormatVersion = 1)
//   6       2     fields_size: bytes of [0, fields_size) this version defines (72)
//   8       8     disk_consistent_lsn
//   16      8     prev_record_lsn (0 = none)
//   24      16    ancestor timeline id (all zero = none)
//   40      8     ancestor_lsn (0 when there is no ancestor)
//   48      8     latest_gc_cutoff_lsn
//   56      8     initdb_lsn
//   64      4     pg_version (Postgres major version, e.g. 16)
//   68      4     reserved, 0
//   72      436   zero
//   508     4     crc32c of bytes [0, 508)
//
// Decoding checks, in order: the length (exactly 512 bytes), the magic, the
// version (a version above 1 is Unsupported: written by a newer pageserver;
// 0 is Corruption), the checksum, fields_size, zero reserved and padding
// bytes, then consistency:
//   - prev_record_lsn, when set, is below disk_consistent_lsn (it is the start
//     of the last record, disk_consistent_lsn the end);
//   - ancestor_lsn is set exactly when there is an ancestor.
// Any failure except the version is Corruption naming what is wrong. Encoding
// checks the same consistency (InvalidArgument), so a written file always
// decodes.
//
// Versioning policy as for layer files (RFC.md 7.3): the version changes when
// any byte changes meaning; a reader accepts exactly the versions it knows.
//
// Crash safety: WriteMetadata replaces the file with
// virtual_file::ReplaceFileAtomically (temp file, fsync, rename, directory
// fsync), so after a crash the file holds the old or the new contents; a
// leftover "metadata.___temp" is ignored by ReadMetadata and removed by the
// next WriteMetadata.
//
// Thread-safety: TimelineMetadata is a plain value. WriteMetadata and
// ReadMetadata may run concurrently for different directories; concurrent
// writers of one directory must be serialized by the caller (they share the
// temp file name).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::timeline {

inline constexpr size_t kMetadataSize = 512;
inline constexpr uint16_t kMetadataFormatVersion = 1;
inline constexpr std::array<std::byte, 4> kMetadataMagic = {std::byte{'P'}, std::byte{'S'},
                                                            std::byte{'T'}, std::byte{'M'}};
// Bytes of the block the version-1 fields occupy (fields_size on disk).
inline constexpr uint16_t kMetadataFieldsSizeV1 = 72;
inline constexpr std::string_view kMetadataFileName = "metadata";

using MetadataBlock = std::array<std::byte, kMetadataSize>;

struct TimelineMetadata {
  // Every WAL record at or below this LSN is in the timeline's layer files.
  layers::Lsn disk_consistent_lsn;
  // The start LSN of the last record before disk_consistent_lsn, when known.
  // REQUIRES: when set, valid() and below disk_consistent_lsn.
  std::optional<layers::Lsn> prev_record_lsn;
  // The timeline this one branched from. REQUIRES: when set, not all zero.
  std::optional<layers::TimelineId> ancestor_timeline;
  // The branch point on the ancestor. REQUIRES: valid() exactly when
  // ancestor_timeline is set.
  layers::Lsn ancestor_lsn;
  // Garbage collection may have removed history below this LSN.
  layers::Lsn latest_gc_cutoff_lsn;
  // The LSN of the initdb image the timeline (or its root ancestor) started from.
  layers::Lsn initdb_lsn;
  uint32_t pg_version = 0;

  bool operator==(const TimelineMetadata&) const = default;

  // InvalidArgument naming the violated REQUIRES above.
  common::Status CheckConsistent() const;
  // The 512-byte block. InvalidArgument when !CheckConsistent().ok().
  common::Result<MetadataBlock> Encode() const;
  // Corruption / Unsupported as described in the header comment.
  static common::Result<TimelineMetadata> Decode(std::span<const std::byte> block);
};

// "<dir>/metadata".
std::string MetadataPath(const std::string& dir);

// Encodes `metadata` and replaces "<dir>/metadata" atomically. Errors:
// InvalidArgument (inconsistent metadata; nothing written), IO errors from the
// replace (the old file, if any, stays intact).
common::Status WriteMetadata(const virtual_file::IoContext& ctx, const std::string& dir,
                             const TimelineMetadata& metadata);

// Reads and decodes "<dir>/metadata". NotFound when the file does not exist;
// Corruption naming the path when it is not exactly kMetadataSize bytes
// (truncated or trailing bytes) or does not decode; Unsupported for a newer
// format version.
common::Result<TimelineMetadata> ReadMetadata(const virtual_file::IoContext& ctx,
                                              const std::string& dir);

}  // namespace pageserver::timeline
