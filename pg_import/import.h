#pragma once

// Import of a Postgres cluster into an empty timeline, at one LSN: from the
// tar stream `pg_basebackup -Ft -D -` writes (the page service's
// `import basebackup` command feeds it from COPY IN) or from a stopped
// cluster's data directory (`pagectl import --pgdata`).
//
// Mapping (RFC.md "Import"):
//   base/<db>/<rel>[_fsm|_vm|_init][.<seg>]     relation blocks (spc 1663),
//   global/<rel>...                            (spc 1664, db 0),
//   pg_tblspc/<spc>/<PG_xx_cat>/<db>/<rel>...  (spc <spc>)
//       -> Key::RelBlock images (1 GiB segments: block = seg * 131072 + i),
//          Key::RelSize per fork, Key::RelDir per database, Key::DbDir
//   pg_xact/<seg>, pg_multixact/members/<seg>, pg_multixact/offsets/<seg>
//       -> Key::SlruBlock images, Key::SlruSegmentSize, Key::SlruDir
//   global/pg_control -> Key::ControlFile (and kept as an aux file)
//   every other regular file (configs, pg_filenode.map, PG_VERSION, ...)
//       -> an aux-file key (path and contents), so nothing is lost
//   pg_wal/ contents are skipped (WAL reaches us through ingest).
// A relation file whose size is not a multiple of 8192 is Corruption
// naming the file. The import ends with a checkpoint and image layers, so
// the imported pages are served from image layers.
// Both front ends require global/pg_control (Corruption without it; its CRC
// is checked); neither checks the cluster's state (ReadControlFile does, for
// callers importing a data directory). Value encodings of the SLRU and aux
// keys: pg_import/import_values.h; the tar dialects read: tar_reader.h; the
// file classification: pg_path.h; the other errors: importer.h.
//
// Thread-safety: one import per timeline, on the timeline's ingest thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "layers/lsn.h"
#include "timeline/timeline.h"

namespace pageserver::pg_import {

// A stream of bytes (the tar arriving over COPY IN, a file, a pipe).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to dst.size() bytes; 0 means the end of the stream. Errors
  // are the transport's (a client that sent CopyFail is Aborted).
  virtual common::Result<size_t> Read(std::span<std::byte> dst) = 0;
};

struct ImportStats {
  layers::Lsn lsn;
  uint64_t relation_files = 0;  // segment files read
  uint64_t relation_blocks = 0;
  uint64_t relations = 0;  // distinct relation forks
  uint64_t databases = 0;
  uint64_t slru_segments = 0;
  uint64_t aux_files = 0;  // other files kept
  uint64_t bytes = 0;      // bytes of file contents read
};

// What a cluster's control file says (global/pg_control).
struct ControlFileInfo {
  uint64_t system_identifier = 0;
  uint32_t pg_control_version = 0;  // 1300 for Postgres 13-16
  uint32_t state = 0;               // DBState: 1 shut down, 2 shut down in recovery, ...
  layers::Lsn checkpoint_lsn;       // ControlFileData.checkPoint
  layers::Lsn redo_lsn;             // checkPointCopy.redo
  uint32_t pg_major_version = 0;    // from pg_control_version (15 for 1300 is
                                    // ambiguous; PG_VERSION decides when read)
  // The LSN an import uses: checkPoint aligned up to 8 (as Neon's).
  layers::Lsn ImportLsn() const;
};

// Parses and CRC-checks a control file's bytes. Corruption for a bad CRC or
// a short file; Unsupported for a pg_control_version we do not know.
common::Result<ControlFileInfo> ParseControlFile(std::span<const std::byte> bytes);
// Reads <pgdata>/global/pg_control (and PG_VERSION for the major version).
// InvalidArgument when the cluster was not shut down cleanly (state != 1):
// its files are not consistent at any one LSN.
common::Result<ControlFileInfo> ReadControlFile(const std::string& pgdata);

// Imports a tar stream into `timeline` at `lsn`. REQUIRES: the timeline is
// empty (last_record_lsn < lsn, nothing ingested) and this thread may ingest
// into it. On error nothing is committed (the puts stay above
// last_record_lsn, invisible); the caller deletes the timeline.
common::Result<ImportStats> ImportTar(timeline::Timeline& timeline, layers::Lsn lsn,
                                      ByteSource& tar);
// The same from a data directory.
common::Result<ImportStats> ImportPgdata(timeline::Timeline& timeline, layers::Lsn lsn,
                                         const std::string& pgdata);

}  // namespace pageserver::pg_import
