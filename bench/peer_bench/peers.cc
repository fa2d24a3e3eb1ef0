// The RocksDB and LMDB peers (stores.h): their build from our pages and
// their point readers. Why each option is set is in stores.h.

#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>

#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "bench/peer_bench/stores.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using layers::Key;

namespace {

// An SST file is cut at this size: files of a few hundred MiB, as a
// compacted bottom level would have.
constexpr uint64_t kSstFileBytes = uint64_t{256} << 20;
// LMDB puts per write transaction while loading (bounds the dirty list).
constexpr size_t kLmdbPutsPerTxn = 4096;

Status RocksError(const rocksdb::Status& s, const std::string& what) {
  return s.ok() ? Status::Ok() : Status::IoError("rocksdb " + what + ": " + s.ToString());
}
Status LmdbError(int rc, const std::string& what) {
  return rc == 0 ? Status::Ok() : Status::IoError("lmdb " + what + ": " + mdb_strerror(rc));
}

rocksdb::Options RocksOptions() {
  rocksdb::Options options;
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kNoCompression;
  options.max_open_files = -1;
  rocksdb::BlockBasedTableOptions table;
  table.block_size = kPageBytes;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  table.no_block_cache = true;  // data blocks never cached; index/filter in table readers
  table.cache_index_and_filter_blocks = false;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

rocksdb::Slice KeySlice(const layers::EncodedKey& k) {
  return rocksdb::Slice(reinterpret_cast<const char*>(k.data()), k.size());
}

// --- build ---

class RocksBuilder {
 public:
  explicit RocksBuilder(std::string dir) : dir_(std::move(dir)), writer_(env_, RocksOptions()) {}

  Status Add(const Key& key, std::span<const std::byte> page) {
    if (!open_) {
      files_.push_back(dir_ + "/ingest-" + std::to_string(files_.size()) + ".sst");
      RETURN_IF_ERROR(RocksError(writer_.Open(files_.back()), "open sst"));
      open_ = true;
      bytes_ = 0;
    }
    const layers::EncodedKey k = key.Encode();
    const rocksdb::Slice v(reinterpret_cast<const char*>(page.data()), page.size());
    RETURN_IF_ERROR(RocksError(writer_.Put(KeySlice(k), v), "sst put"));
    bytes_ += page.size();
    if (bytes_ >= kSstFileBytes) return FinishFile();
    return Status::Ok();
  }

  Status Finish() {
    if (open_) RETURN_IF_ERROR(FinishFile());
    rocksdb::Options options = RocksOptions();
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    RETURN_IF_ERROR(RocksError(rocksdb::DB::Open(options, dir_ + "/db", &raw), "open"));
    std::unique_ptr<rocksdb::DB> db(raw);
    if (!files_.empty()) {
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = true;
      RETURN_IF_ERROR(RocksError(db->IngestExternalFile(files_, ingest), "ingest"));
    }
    RETURN_IF_ERROR(RocksError(db->Close(), "close"));
    return Status::Ok();
  }

 private:
  Status FinishFile() {
    open_ = false;
    return RocksError(writer_.Finish(), "finish sst");
  }

  const std::string dir_;
  rocksdb::EnvOptions env_;
  rocksdb::SstFileWriter writer_;
  std::vector<std::string> files_;
  bool open_ = false;
  uint64_t bytes_ = 0;
};

class LmdbBuilder {
 public:
  ~LmdbBuilder() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    if (env_ != nullptr) mdb_env_close(env_);
  }

  Status Open(const std::string& path, size_t keys) {
    RETURN_IF_ERROR(LmdbError(mdb_env_create(&env_), "env_create"));
    // Each 8 KiB value takes 3 overflow pages of 4 KiB (value + header);
    // twice that plus 1 GiB leaves room for the tree.
    const size_t map = keys * 3 * 4096 * 2 + (size_t{1} << 30);
    RETURN_IF_ERROR(LmdbError(mdb_env_set_mapsize(env_, map), "set_mapsize"));
    RETURN_IF_ERROR(
        LmdbError(mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | MDB_NOSYNC, 0644), "env_open"));
    return Begin();
  }

  Status Add(const Key& key, std::span<const std::byte> page) {
    layers::EncodedKey k = key.Encode();
    MDB_val mk{k.size(), k.data()};
    MDB_val mv{page.size(), const_cast<std::byte*>(page.data())};
    RETURN_IF_ERROR(LmdbError(mdb_put(txn_, dbi_, &mk, &mv, MDB_APPEND), "put"));
    if (++puts_ % kLmdbPutsPerTxn == 0) RETURN_IF_ERROR(Commit());
    return Status::Ok();
  }

  Status Finish() {
    RETURN_IF_ERROR(Commit());
    return LmdbError(mdb_env_sync(env_, 1), "env_sync");
  }

 private:
  Status Begin() {
    RETURN_IF_ERROR(LmdbError(mdb_txn_begin(env_, nullptr, 0, &txn_), "txn_begin"));
    return LmdbError(mdb_dbi_open(txn_, nullptr, 0, &dbi_), "dbi_open");
  }
  Status Commit() {
    MDB_txn* txn = std::exchange(txn_, nullptr);
    RETURN_IF_ERROR(LmdbError(mdb_txn_commit(txn), "txn_commit"));
    return Begin();
  }

  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  size_t puts_ = 0;
};

// --- read ---

class RocksThread : public StoreThread {
 public:
  explicit RocksThread(rocksdb::DB& db) : db_(db) {
    options_.fill_cache = false;  // moot without a block cache; stated for the reader
  }
  Status Read(const Key& key, std::span<std::byte> out) override {
    const layers::EncodedKey k = key.Encode();
    value_.Reset();
    const rocksdb::Status s = db_.Get(options_, db_.DefaultColumnFamily(), KeySlice(k), &value_);
    if (s.IsNotFound()) return Status::NotFound("rocksdb: key " + key.ToHex());
    RETURN_IF_ERROR(RocksError(s, "get"));
    if (value_.size() != out.size()) return Status::Corruption("rocksdb: value size");
    std::memcpy(out.data(), value_.data(), out.size());
    return Status::Ok();
  }

 private:
  rocksdb::DB& db_;
  rocksdb::ReadOptions options_;
  rocksdb::PinnableSlice value_;
};

class RocksStore : public PointStore {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::string dir)
      : db_(std::move(db)), dir_(std::move(dir)) {}
  std::string name() const override { return "rocksdb"; }
  Result<std::unique_ptr<StoreThread>> NewThread() override {
    return std::unique_ptr<StoreThread>(new RocksThread(*db_));
  }
  std::vector<std::string> Files() const override {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
    }
    return files;
  }
  uint64_t IndexMemBytes() const override {
    uint64_t v = 0;
    db_->GetIntProperty("rocksdb.estimate-table-readers-mem", &v);
    return v;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  const std::string dir_;
};

class LmdbThread : public StoreThread {
 public:
  LmdbThread(MDB_env* env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
  ~LmdbThread() override {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  Status Read(const Key& key, std::span<std::byte> out) override {
    if (txn_ == nullptr) {
      RETURN_IF_ERROR(LmdbError(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_), "txn_begin"));
    } else {
      RETURN_IF_ERROR(LmdbError(mdb_txn_renew(txn_), "txn_renew"));
    }
    layers::EncodedKey k = key.Encode();
    MDB_val mk{k.size(), k.data()};
    MDB_val mv{};
    const int rc = mdb_get(txn_, dbi_, &mk, &mv);
    Status st;
    if (rc == MDB_NOTFOUND) {
      st = Status::NotFound("lmdb: key " + key.ToHex());
    } else if (rc != 0) {
      st = LmdbError(rc, "get");
    } else if (mv.mv_size != out.size()) {
      st = Status::Corruption("lmdb: value size");
    } else {
      std::memcpy(out.data(), mv.mv_data, out.size());
    }
    mdb_txn_reset(txn_);
    return st;
  }

 private:
  MDB_env* env_;
  MDB_dbi dbi_;
  MDB_txn* txn_ = nullptr;
};

class LmdbStore : public PointStore {
 public:
  LmdbStore(MDB_env* env, MDB_dbi dbi, std::string path) : env_(env), dbi_(dbi), path_(path) {}
  ~LmdbStore() override { mdb_env_close(env_); }
  std::string name() const override { return "lmdb"; }
  Result<std::unique_ptr<StoreThread>> NewThread() override {
    return std::unique_ptr<StoreThread>(new LmdbThread(env_, dbi_));
  }
  std::vector<std::string> Files() const override { return {path_}; }
  uint64_t IndexMemBytes() const override { return 0; }  // in the kernel page cache

 private:
  MDB_env* env_;
  MDB_dbi dbi_;
  const std::string path_;
};

}  // namespace

std::string RocksDbDir(const std::string& peer_dir) { return peer_dir + "/rocksdb"; }
std::string LmdbFile(const std::string& peer_dir) { return peer_dir + "/lmdb.mdb"; }

uint64_t PageHash(std::span<const std::byte> page) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ page.size();
  size_t i = 0;
  for (; i + 8 <= page.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, page.data() + i, 8);
    h = (h ^ (w * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  for (; i < page.size(); ++i) h = (h ^ static_cast<uint8_t>(page[i])) * 0x100000001B3ull;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

Result<std::vector<uint64_t>> BuildPeers(const OursStore& ours, std::span<const Key> keys,
                                         const std::string& peer_dir) {
  std::error_code ec;
  std::filesystem::remove_all(RocksDbDir(peer_dir), ec);
  std::filesystem::remove(LmdbFile(peer_dir), ec);
  std::filesystem::remove(LmdbFile(peer_dir) + "-lock", ec);
  std::filesystem::create_directories(RocksDbDir(peer_dir) + "/db", ec);
  if (ec) return Status::FromErrno(ec.value(), "create " + RocksDbDir(peer_dir));
  RocksBuilder rocks(RocksDbDir(peer_dir));
  LmdbBuilder lmdb;
  RETURN_IF_ERROR(lmdb.Open(LmdbFile(peer_dir), keys.size()));
  std::vector<uint64_t> hashes;
  hashes.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); i += ours.max_batch()) {
    const auto batch = keys.subspan(i, std::min(ours.max_batch(), keys.size() - i));
    auto pages = ours.ReadBatch(batch);
    for (size_t j = 0; j < batch.size(); ++j) {
      if (!pages[j].has_value()) {
        return std::move(pages[j]).error().WithContext("read " + batch[j].ToHex());
      }
      const std::vector<std::byte>& page = *pages[j];
      if (page.size() != kPageBytes) return Status::Corruption("page of " + batch[j].ToHex());
      hashes.push_back(PageHash(page));
      RETURN_IF_ERROR(rocks.Add(batch[j], page));
      RETURN_IF_ERROR(lmdb.Add(batch[j], page));
    }
  }
  RETURN_IF_ERROR(rocks.Finish());
  RETURN_IF_ERROR(lmdb.Finish());
  return hashes;
}

Result<std::unique_ptr<PointStore>> OpenRocksDb(const std::string& peer_dir) {
  rocksdb::Options options = RocksOptions();
  options.use_direct_reads = true;
  rocksdb::DB* raw = nullptr;
  const std::string dir = RocksDbDir(peer_dir) + "/db";
  RETURN_IF_ERROR(RocksError(rocksdb::DB::OpenForReadOnly(options, dir, &raw), "open " + dir));
  return std::unique_ptr<PointStore>(new RocksStore(std::unique_ptr<rocksdb::DB>(raw), dir));
}

Result<std::unique_ptr<PointStore>> OpenLmdb(const std::string& peer_dir, unsigned max_threads) {
  MDB_env* env = nullptr;
  RETURN_IF_ERROR(LmdbError(mdb_env_create(&env), "env_create"));
  const std::string path = LmdbFile(peer_dir);
  const unsigned flags = MDB_NOSUBDIR | MDB_RDONLY | MDB_NORDAHEAD;
  Status st = LmdbError(mdb_env_set_maxreaders(env, max_threads + 8), "set_maxreaders");
  if (st.ok()) st = LmdbError(mdb_env_open(env, path.c_str(), flags, 0644), "env_open " + path);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  if (st.ok()) st = LmdbError(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "txn_begin");
  if (st.ok()) {
    st = LmdbError(mdb_dbi_open(txn, nullptr, 0, &dbi), "dbi_open");
    mdb_txn_abort(txn);
  }
  if (!st.ok()) {
    mdb_env_close(env);
    return st;
  }
  return std::unique_ptr<PointStore>(new LmdbStore(env, dbi, path));
}

}  // namespace pageserver::bench
