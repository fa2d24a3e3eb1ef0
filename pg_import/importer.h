#pragma once

// Importer: turns the files of a Postgres cluster, fed one at a time in any
// order, into timeline keys at one LSN (the mapping of import.h and RFC.md
// "Import"). ImportTar and ImportPgdata are its two front ends; they differ
// only in where the files come from.
//
// Streaming: a relation or SLRU file is read and Put kRelPagesPerRead pages
// at a time, an aux file one part (kAuxPartBytes) at a time, so memory does
// not grow with file sizes. What is kept until Finish: per relation fork its
// segments' block counts, per database its relation forks, the SLRU
// segments, the aux keys written (to refuse a hash collision). All Puts go
// to the timeline's open in-memory layer (an ephemeral file) at `lsn`; none
// is visible before Finish calls FinishLsn(lsn).
//
// Relation size (Postgres' mdnblocks): the sum of segments 0, 1, ... up to
// and including the first one that is not full (kRelSegmentBlocks blocks)
// or missing. A segment after that one must be empty (Postgres leaves
// truncated segments at length 0 until a checkpoint): a non-empty one is
// Corruption, as is a segment holding more than a full segment's blocks.
//
// Errors (nothing is made visible; the caller deletes the timeline):
//   Corruption  a relation or SLRU file whose size is not a multiple of
//               8192 or is larger than a segment, a file that ends before
//               its stated size, a file seen twice, a bad control file, no
//               control file at Finish, the segment rules above;
//   InvalidArgument  an aux path longer than kMaxAuxPathBytes; two aux
//               paths whose keys collide;
//   the timeline's and the source's errors as they are.
//
// Thread-safety: one thread, the timeline's ingest thread.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "pg_import/import.h"
#include "pg_import/pg_path.h"
#include "timeline/pg_mapping.h"
#include "timeline/timeline.h"

namespace pageserver::pg_import {

// Pages read (and Put) per read of a relation or SLRU file: 128 KiB.
inline constexpr size_t kRelPagesPerRead = 16;

struct ImporterOptions {
  // Blocks per relation segment file. Postgres' RELSEG_SIZE (1 GiB of 8 KiB
  // blocks); tests use small values to exercise the segment rules.
  uint32_t relseg_blocks = kRelSegmentBlocks;
};

class Importer {
 public:
  // REQUIRES: as ImportTar (an empty timeline, lsn > its last_record_lsn).
  Importer(timeline::Timeline& tl, layers::Lsn lsn, ImporterOptions options = {});
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  // A directory of the cluster: "base/<db>", "global" and tablespace
  // database directories become databases (possibly without relations).
  void AddDirectory(std::string_view path);
  // A regular file of `size` bytes; `content` yields its bytes (at least
  // `size`; more are not read). WAL files are not read at all.
  common::Status AddFile(const std::string& path, uint64_t size, ByteSource& content);
  // Writes the size and directory keys, then FinishLsn(lsn), Checkpoint()
  // and CreateImages(force). REQUIRES: called once, after every file.
  common::Result<ImportStats> Finish();

 private:
  common::Status AddPages(const std::string& path, uint64_t size, ByteSource& content,
                          uint64_t max_pages, const PgFile& file);
  common::Status AddRelationFile(const std::string& path, uint64_t size, ByteSource& content,
                                 const PgFile& file);
  common::Status AddSlruFile(const std::string& path, uint64_t size, ByteSource& content,
                             const PgFile& file);
  common::Status AddControlFile(const std::string& path, uint64_t size, ByteSource& content);
  common::Status AddAuxFile(const std::string& path, uint64_t size, ByteSource& content);
  common::Status PutAuxPart(const std::string& path, uint32_t part, uint32_t parts, uint64_t size,
                            std::vector<std::byte> bytes);
  common::Status Put(const layers::Key& key, std::span<const std::byte> image);

  common::Result<uint32_t> RelationSize(const layers::RelTag& rel,
                                        const std::map<uint32_t, uint32_t>& segments) const;
  common::Status PutRelationKeys();
  common::Status PutSlruKeys();

  timeline::Timeline& tl_;
  const layers::Lsn lsn_;
  const ImporterOptions options_;
  ImportStats stats_;
  bool control_file_seen_ = false;

  // Relation fork -> segment number -> blocks in that segment file.
  std::map<layers::RelTag, std::map<uint32_t, uint32_t>> relations_;
  // Every database seen -> its relation forks.
  std::map<timeline::DbDirEntry, std::set<timeline::RelDirEntry>> databases_;
  // SLRU kind -> segment -> blocks.
  std::map<layers::SlruKind, std::map<uint32_t, uint32_t>> slru_;
  // Aux keys written -> the path they belong to.
  std::map<layers::Key, std::string> aux_keys_;
};

}  // namespace pageserver::pg_import
