#pragma once

// The layout of Postgres' control file (global/pg_control, struct
// ControlFileData of src/include/catalog/pg_control.h) as far as the import
// reads it. The layout is fixed per pg_control_version; 1300 covers
// Postgres 13 to 16 on 64-bit little-endian machines (the only layout we
// accept). Offsets were checked against a pg_control written by initdb 15
// (pg_controldata shows the same values):
//
//   offset  size  field
//   0       8     system_identifier (u64)
//   8       4     pg_control_version (u32)          1300
//   12      4     catalog_version_no (u32)          202209061 for Postgres 15
//   16      4     state (DBState enum)              1 shut down, 6 in production
//   24      8     time (pg_time_t)
//   32      8     checkPoint (XLogRecPtr)           the latest checkpoint record
//   40      88    checkPointCopy (struct CheckPoint); its first field, at 40,
//                 is redo (XLogRecPtr)
//   ...
//   216     4     blcksz (u32)                      8192
//   220     4     relseg_size (u32)                 131072 blocks (1 GiB)
//   288     4     crc (CRC32C of bytes [0, 288))
//   292           end of the fields (sizeof(ControlFileData) is 296 with its
//                 alignment padding); the file is zero-padded to 8192 bytes
//
// ParseControlFile (import.h) checks, in order: at least 292 bytes;
// pg_control_version == 1300 (else Unsupported); the CRC (else
// Corruption); blcksz == 8192 and relseg_size == 131072 (else Unsupported:
// the keys and the segment arithmetic assume them).

#include <cstddef>
#include <cstdint>

namespace pageserver::pg_import::control_file {

inline constexpr size_t kSystemIdentifierOffset = 0;
inline constexpr size_t kVersionOffset = 8;
inline constexpr size_t kCatalogVersionOffset = 12;
inline constexpr size_t kStateOffset = 16;
inline constexpr size_t kCheckPointOffset = 32;
inline constexpr size_t kCheckPointCopyOffset = 40;
inline constexpr size_t kCheckPointCopySize = 88;
inline constexpr size_t kRedoOffset = kCheckPointCopyOffset;
inline constexpr size_t kBlckszOffset = 216;
inline constexpr size_t kRelsegSizeOffset = 220;
inline constexpr size_t kCrcOffset = 288;
inline constexpr size_t kControlDataSize = kCrcOffset + 4;
// PG_CONTROL_FILE_SIZE: the file is padded to this size.
inline constexpr size_t kControlFileSize = 8192;

inline constexpr uint32_t kSupportedVersion = 1300;
// DBState values.
inline constexpr uint32_t kStateShutdowned = 1;

// Postgres' CATALOG_VERSION_NO of each major release as released: a control
// file whose catalog version is at or above one of them and below the next
// is taken to belong to that release (a pre-release cluster may be placed
// one release low; PG_VERSION decides when it is read).
struct CatalogVersion {
  uint32_t major;
  uint32_t first_catversion;
};
inline constexpr CatalogVersion kCatalogVersions[] = {
    {13, 202007201}, {14, 202107181}, {15, 202209061}, {16, 202307071}};

// "shut down", "in production", ... (Postgres' dbState()); "unknown (N)".
const char* StateName(uint32_t state);

}  // namespace pageserver::pg_import::control_file
