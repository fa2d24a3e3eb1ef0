#pragma once

// The three key-value stores peer_bench reads 8 KiB pages from, behind one
// point-read interface, and the one-time build of the two peers.
//
//   ours     the pageserver Timeline, opened in-process from a data
//            directory (Tenant::Load, background threads off: nothing is
//            ingested, compacted, GC'd or checkpointed). A read is one
//            Timeline::GetVectored call with one key at the last LSN, as the
//            daemon issues for a single GetPage request. Caches: the
//            PageCache (--page-cache-size) holds index (B-tree) nodes only;
//            data blocks are read with the configured engine and mode
//            (direct: no kernel page cache).
//   rocksdb  one column family, key = Key::Encode() (the 18-byte big-endian
//            encoding, so byte order == key order), value = the page. Built
//            with SstFileWriter (256 MiB files) + IngestExternalFile,
//            compression off, block_size 8192, bloom filter 10 bits. Read
//            with OpenForReadOnly, use_direct_reads, max_open_files -1 and
//            no_block_cache = true: data blocks are never cached anywhere
//            in the process; index and filter blocks are held by the table
//            readers (all opened at DB open), reported as
//            rocksdb.estimate-table-readers-mem.
//   lmdb     one env file (MDB_NOSUBDIR), the same keys and values, loaded
//            with MDB_APPEND in key order; read with MDB_RDONLY |
//            MDB_NORDAHEAD through mmap, so the kernel page cache is its
//            only cache (index and data alike). One read txn per thread,
//            renewed for each read.
//
// Thread-safety: a PointStore is shared by the reading threads; each thread
// makes its own StoreThread (NewThread) and uses only that one.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::bench {

inline constexpr size_t kPageBytes = 8192;

// One reading thread's handle on a store.
class StoreThread {
 public:
  virtual ~StoreThread() = default;
  // Copies the page of `key` into `out`. NotFound when the store has no
  // such key; Corruption when the value is not kPageBytes long.
  // REQUIRES: out.size() == kPageBytes.
  virtual common::Status Read(const layers::Key& key, std::span<std::byte> out) = 0;
};

class PointStore {
 public:
  virtual ~PointStore() = default;
  virtual std::string name() const = 0;
  virtual common::Result<std::unique_ptr<StoreThread>> NewThread() = 0;
  // Every file the store reads (for dropping them from the kernel page cache).
  virtual std::vector<std::string> Files() const = 0;
  // Memory the store holds for its index (and filters), in bytes.
  virtual uint64_t IndexMemBytes() const = 0;
};

// --- ours ---

struct OursOptions {
  std::string data_dir;
  std::string tenant;    // 32 hex digits
  std::string timeline;  // 32 hex digits
  std::string engine = "io-uring";
  std::string mode = "direct";
  uint64_t page_cache_bytes = uint64_t{64} << 20;
};

// The opened timeline as a PointStore, plus what the loader needs.
class OursStore : public PointStore {
 public:
  // InvalidArgument for bad ids/engine/mode; NotFound / IO errors when the
  // data directory or timeline cannot be opened; Aborted for a broken one.
  static common::Result<std::unique_ptr<OursStore>> Open(const OursOptions& options);
  ~OursStore() override;

  layers::Lsn lsn() const;
  // Every relation block at lsn(), sorted (the relation listing of the HTTP
  // route /relations: database dir -> relation dirs -> sizes).
  common::Result<std::vector<layers::Key>> ListRelBlocks() const;
  // Pages of `keys` (at most 32) at lsn(), in order; NotFound etc. per key.
  std::vector<common::Result<std::vector<std::byte>>> ReadBatch(
      std::span<const layers::Key> keys) const;
  size_t max_batch() const;

  std::string name() const override { return "ours"; }
  common::Result<std::unique_ptr<StoreThread>> NewThread() override;
  std::vector<std::string> Files() const override;
  uint64_t IndexMemBytes() const override;

 private:
  struct Impl;
  explicit OursStore(std::unique_ptr<Impl> impl);
  static common::Result<std::unique_ptr<Impl>> OpenImpl(const OursOptions& options);
  std::unique_ptr<Impl> impl_;
};

// --- peers ---

// Where the peers live under --peer-dir.
std::string RocksDbDir(const std::string& peer_dir);
std::string LmdbFile(const std::string& peer_dir);

// Writes the pages of `keys` (sorted, read from `ours` in batches in key
// order) into a new RocksDB and a new LMDB under `peer_dir` (replacing what
// is there) and returns the 64-bit hash (PageHash) of each page, in key
// order. Errors: a page read error (naming the key), any peer write error.
common::Result<std::vector<uint64_t>> BuildPeers(const OursStore& ours,
                                                 std::span<const layers::Key> keys,
                                                 const std::string& peer_dir);

common::Result<std::unique_ptr<PointStore>> OpenRocksDb(const std::string& peer_dir);
common::Result<std::unique_ptr<PointStore>> OpenLmdb(const std::string& peer_dir,
                                                     unsigned max_threads);

// A fast 64-bit hash of a page (64-bit multiply-xor over 8-byte words,
// murmur-style finalizer); used to verify every read.
uint64_t PageHash(std::span<const std::byte> page);

}  // namespace pageserver::bench
