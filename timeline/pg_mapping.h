#pragma once

// Postgres on top of keys (Neon's pgdatadir_mapping): the values stored under
// the relation-size and directory keys of layers/key.h, and the reads the
// page service answers with them (relation exists / size, database size,
// pages) against one Timeline.
//
// Value encodings (little-endian integers, as Value's; the bytes below are
// the image a Put stores, i.e. what Timeline::GetVectored returns):
//
//   relation size      value of Key::RelSize(rel)
//     offset  size  field
//     0       4     nblocks (u32)                     exactly 4 bytes
//
//   relation directory value of Key::RelDir(spcnode, dbnode)
//     0       4     count (u32)
//     4 + 5i  4     relnode (u32)   of entry i, i < count
//     8 + 5i  1     forknum (u8)    0 main, 1 fsm, 2 vm, 3 init
//     entries strictly ascending by (relnode, forknum); relnode != 0
//     (InvalidOid: relation keys need field4 != 0); size 4 + 5 * count
//
//   database directory value of Key::DbDir()
//     0       4     count (u32)
//     4 + 8i  4     spcnode (u32)   of entry i, i < count
//     8 + 8i  4     dbnode (u32)    (0 for the shared catalogs)
//     entries strictly ascending by (spcnode, dbnode); size 4 + 8 * count
//
// Examples:
//   EncodeRelSize(7)                          -> 07 00 00 00
//   EncodeRelDir({{16384, 1}, {16384, 0}})    -> 02 00 00 00  00 40 00 00 00
//                                                             00 40 00 00 01
//   EncodeDbDir({{1663, 5}})                  -> 01 00 00 00  7F 06 00 00  05 00 00 00
//
// Decode* reject, as Corruption naming what is wrong (and the offending
// entry): a relation size that is not exactly 4 bytes; a directory shorter
// than its count, truncated inside the entries or with trailing bytes after
// them; entries out of order or duplicated; a fork number above 3; a
// relnode of 0. A directory's encoding must fit a Value image
// (kMaxImageSize): about 200,000 relation forks per database.
//
// Reads: every function below reads through Timeline::GetVectored, in calls
// of at most tl.config().max_get_vectored_keys keys, and passes per-key
// errors through: InvalidArgument for an LSN that is invalid, above
// last_record_lsn (call WaitLsn first) or below the GC cutoff; Aborted for
// a broken timeline; IO errors and Corruption of the keys they touched.
// A relation-size read uses tl.rel_size_cache() (see rel_size_cache.h for
// when an entry may answer and when a read may fill it); the cache answers
// only LSNs the timeline itself would accept, so an LSN error is the same
// with and without a cache entry.
//
// Thread-safety: the encodings are pure functions. The reads may run on any
// thread, concurrently with each other and with ingest, as Timeline's reads.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::timeline {

class Timeline;

// The largest Postgres fork number (INIT_FORKNUM).
inline constexpr uint8_t kMaxForkNum = 3;
// The encoded size of a relation-size value.
inline constexpr size_t kRelSizeValueSize = 4;

// --- Relation size ---

// The value of Key::RelSize(rel): EncodeRelSize(7) == {07 00 00 00}.
std::vector<std::byte> EncodeRelSize(uint32_t nblocks);
// Corruption ("relation size value of N bytes, expected 4") unless exactly 4 bytes.
common::Result<uint32_t> DecodeRelSize(std::span<const std::byte> bytes);

// --- Relation directory ---

// One relation fork of a database: RelTag{spcnode, dbnode, relnode, forknum}
// with the directory's spcnode and dbnode.
struct RelDirEntry {
  uint32_t relnode = 0;
  uint8_t forknum = 0;
  constexpr auto operator<=>(const RelDirEntry&) const = default;
};

// The value of Key::RelDir(spcnode, dbnode) holding `entries`, in any order
// and with duplicates (the encoding is sorted and deduplicated). Empty input
// gives the empty directory {00 00 00 00}. InvalidArgument naming the entry
// for a forknum above kMaxForkNum or a relnode of 0 (nothing encoded).
common::Result<std::vector<std::byte>> EncodeRelDir(std::span<const RelDirEntry> entries);
// The entries, ascending. Corruption as described in the header comment.
common::Result<std::vector<RelDirEntry>> DecodeRelDir(std::span<const std::byte> bytes);

// --- Database directory ---

struct DbDirEntry {
  uint32_t spcnode = 0;
  uint32_t dbnode = 0;
  constexpr auto operator<=>(const DbDirEntry&) const = default;
};

// The value of Key::DbDir() holding `entries` (any order; duplicates are
// dropped). Cannot fail.
std::vector<std::byte> EncodeDbDir(std::span<const DbDirEntry> entries);
// The entries, ascending. Corruption as described in the header comment.
common::Result<std::vector<DbDirEntry>> DecodeDbDir(std::span<const std::byte> bytes);

// --- Reads at an LSN ---

// True when the relation-size key of `rel` has a value at `lsn`: NotFound
// from the read is false, any other error is returned. A cache entry for
// `rel` answers true (relations are never removed by a Put).
common::Result<bool> RelExists(const Timeline& tl, const layers::RelTag& rel, layers::Lsn lsn);

// The number of blocks of `rel` at `lsn`. NotFound "relation <rel> does not
// exist at <lsn>" when its size key has no value there; Corruption for a
// malformed size value.
// Cache: Get(rel, lsn) first; on a miss one read of the size key, then
// OnRead(rel, lsn, n) only when lsn >= tl.last_record_lsn() as read after
// the read returned.
// Example: after Put(RelSize(r), 0/20, EncodeRelSize(3)) and FinishLsn(0/30):
// GetRelSize(tl, r, 0/30) == 3; GetRelSize(tl, r, 0/18) is NotFound.
common::Result<uint32_t> GetRelSize(const Timeline& tl, const layers::RelTag& rel, layers::Lsn lsn);

// The relation directory of database (spcnode, dbnode) at `lsn`. NotFound
// "database <spc>/<db> does not exist at <lsn>" without a RelDir value.
common::Result<std::vector<RelDirEntry>> GetRelDir(const Timeline& tl, uint32_t spcnode,
                                                   uint32_t dbnode, layers::Lsn lsn);
// The database directory at `lsn`. NotFound when Key::DbDir() has no value.
common::Result<std::vector<DbDirEntry>> GetDbDir(const Timeline& tl, layers::Lsn lsn);

// Bytes of database (spcnode, dbnode) at `lsn` (Postgres'
// pg_database_size): 8192 * the sum of nblocks over every fork in its
// relation directory. The sizes are read as GetRelSize does (cache first,
// misses batched). Errors: NotFound as GetRelDir; NotFound naming the
// relation when a directory entry has no size value (an inconsistent
// directory); any error of a size read.
common::Result<uint64_t> GetDbSize(const Timeline& tl, uint32_t spcnode, uint32_t dbnode,
                                   layers::Lsn lsn);

// One GetPage@LSN request.
struct RelPageRequest {
  layers::RelTag rel;
  uint32_t blkno = 0;
  layers::Lsn lsn;
};

// One result per request, in order: the block's 8192-byte page at the
// request's LSN. A block at or past the relation's nblocks (at that LSN) is
// a zero page, as Postgres sees a relation being extended. Per request
// errors: NotFound naming the relation when it does not exist at the LSN;
// any error of its size read or page read (the latter with the request,
// "rel <rel> blk <n> at <lsn>", as context). One request's error never
// fails another.
// Reads: sizes as GetRelSize (cache first; the misses, one per distinct
// (rel, lsn), batched); then the pages of every request below nblocks, each
// distinct (block, lsn) once, in ceil(n / max_get_vectored_keys)
// GetVectored calls mixing LSNs.
// Ownership: each result owns its page.
std::vector<common::Result<std::vector<std::byte>>> GetRelPages(
    const Timeline& tl, std::span<const RelPageRequest> requests);

}  // namespace pageserver::timeline
