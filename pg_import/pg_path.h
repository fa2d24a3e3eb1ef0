#pragma once

// What a file of a Postgres data directory is, from its path alone (RFC.md
// "Import", the mapping table). Paths are relative to the data directory,
// '/'-separated, without a leading "./" (TarReader's form).
//
//   base/<db>/<relfile>                          relation, spc 1663 (pg_default)
//   global/<relfile>                             relation, spc 1664 (pg_global), db 0
//   pg_tblspc/<spc>/PG_<major>_<cat>/<db>/<relfile>   relation, spc <spc>
//   global/pg_control                            control file
//   pg_xact/<seg>                                SLRU clog
//   pg_multixact/members/<seg>                   SLRU multixact members
//   pg_multixact/offsets/<seg>                   SLRU multixact offsets
//   pg_wal, pg_wal/...                           WAL: skipped
//   anything else                                aux (kept as a file)
//
// <relfile> is <relnode>[_fsm|_vm|_init][.<segno>]: relnode a decimal OID in
// 1..4294967295 without leading zeros, segno a decimal 1..; segment 0 has no
// suffix. <db> and <spc> are non-zero decimal OIDs written the same way.
// <seg> (SLRU) is 4 to 15 upper-case hex digits with a value below 2^32,
// as Postgres names segments ("%04X"). A name that does not match (e.g.
// "base/5/pg_filenode.map", "base/5/PG_VERSION", "base/5/t3_16384",
// "pg_xact/zz") is aux.
//
// Examples:
//   "base/5/16384"            relation 1663/5/16384 main, segment 0
//   "base/5/16384_vm.2"       relation 1663/5/16384_vm, segment 2
//   "global/1262"             relation 1664/0/1262 main
//   "pg_tblspc/16500/PG_15_202209061/5/16390_fsm"   relation 16500/5/16390_fsm
//   "pg_xact/0000"            SLRU clog segment 0
//   "postgresql.conf"         aux
//
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string_view>

#include "layers/key.h"
#include "timeline/pg_mapping.h"

namespace pageserver::pg_import {

// Postgres' DEFAULTTABLESPACE_OID and GLOBALTABLESPACE_OID.
inline constexpr uint32_t kDefaultTablespaceOid = 1663;
inline constexpr uint32_t kGlobalTablespaceOid = 1664;
// Postgres' RELSEG_SIZE for 8 KiB blocks: 1 GiB segments.
inline constexpr uint32_t kRelSegmentBlocks = 131072;
// Postgres' SLRU_PAGES_PER_SEGMENT.
inline constexpr uint32_t kSlruPagesPerSegment = 32;

enum class PgFileKind { kRelation, kSlru, kControlFile, kWal, kAux };

struct PgFile {
  PgFileKind kind = PgFileKind::kAux;
  layers::RelTag rel;                               // kRelation
  uint32_t segno = 0;                               // kRelation (1 GiB segment) and kSlru
  layers::SlruKind slru = layers::SlruKind::kClog;  // kSlru
};

// Classifies a regular file's path.
PgFile ClassifyFile(std::string_view path);

// The database a directory is, or nullopt: "base/<db>" -> (1663, db),
// "global" -> (1664, 0), "pg_tblspc/<spc>/PG_<major>_<cat>/<db>" -> (spc, db).
std::optional<timeline::DbDirEntry> ClassifyDirectory(std::string_view path);

// "16384" -> 16384; nullopt for empty, non-digits, a leading zero (other
// than "0" itself), or a value above 2^32 - 1.
std::optional<uint32_t> ParseOid(std::string_view text);

}  // namespace pageserver::pg_import
