// peer_bench: point reads of the same 8 KiB pages from our timeline, RocksDB
// and LMDB, in one process, at the same memory budget.
//
//   peer_bench --data-dir D --tenant HEX --timeline HEX --peer-dir P
//              [--systems ours,rocksdb,lmdb] [--threads 1,8,32]
//              [--duration 10] [--warmup 0] [--working-set BYTES]
//              [--engine io-uring|std-fs] [--mode direct|buffered]
//              [--page-cache-size 64MiB] [--drop-caches] [--csv FILE] [--seed N]
//              [--prepare-only]
//
// Method.
//  1. The timeline is opened in-process from the pageserver data directory
//     (Tenant::Load, background threads off: nothing is ingested, flushed,
//     compacted, GC'd or checkpointed; loading only removes a crashed
//     writer's temp files, as the daemon's startup would).
//  2. The keys: every relation block at the timeline's last_record_lsn, from
//     the database directory, the relation directories and the relation
//     sizes (the listing behind GET .../relations), sorted. --working-set B
//     restricts the reads to the first ceil(B / 8192) keys (a contiguous
//     prefix in key order); the stores always hold every key.
//  3. The peers are built once under --peer-dir from pages read through our
//     timeline (GetVectored batches of 32, key order) and reused while
//     marker.json says they were built from the same data dir, tenant,
//     timeline, LSN and key count; hashes.bin keeps each page's 64-bit hash
//     (PageHash). Every read of every system is checked against that hash; a
//     failed or wrong read is an error (exit status 1).
//  4. For each system and thread count: T threads, each one read at a time
//     (closed loop), uniformly random keys from the same seeded PRNG streams
//     (runner.h), --warmup seconds not counted, then --duration seconds
//     measured. A system is opened just before each run and closed after
//     it, so no other system's memory is resident during a run.
//
// Fairness rules: the same keys, the same page bytes, the same key
// distribution and the same concurrency for every system; memory is made
// equal from outside (the suite runs the process in a cgroup v1 memory
// limit), so what each caches is what fits its design in that limit:
//   ours     the PageCache (--page-cache-size) holds index nodes only; data
//            reads go through --engine/--mode (direct: no kernel cache);
//   rocksdb  no block cache at all (no_block_cache): data blocks are read
//            with O_DIRECT every time; index and bloom filter blocks live
//            in the table readers (max_open_files -1: all opened at DB open),
//            reported as index_mem_mib (rocksdb.estimate-table-readers-mem);
//   lmdb     mmap only: the kernel page cache holds its tree and data pages
//            (MDB_NORDAHEAD; index_mem_mib 0, its index is in page cache).
// With --drop-caches each system's files are dropped from the kernel page
// cache (posix_fadvise DONTNEED) before each of its runs, so each starts
// cold (after the open, which loads RocksDB's index and filter blocks and
// reads our layers' summaries). Our PageCache starts empty in every run.
//
// Exit status: 0 success, 1 some read failed or returned a wrong page, 2 bad
// options, unopenable data or a failed peer build.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "bench/peer_bench/report.h"
#include "bench/peer_bench/runner.h"
#include "bench/peer_bench/stores.h"
#include "bench/timeline_bench/host.h"
#include "page_cache/cache_size.h"

namespace pageserver::bench {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitWrongReads = 1;
constexpr int kExitSetup = 2;

struct Args {
  OursOptions ours;
  std::string page_cache_size = "64MiB";
  std::string peer_dir;
  std::vector<std::string> systems = {"ours", "rocksdb", "lmdb"};
  std::vector<unsigned> threads = {1, 8, 32};
  double duration = 10;
  double warmup = 0;
  uint64_t working_set = 0;  // 0: every key
  bool drop_caches = false;
  bool prepare_only = false;
  std::string csv;
  uint64_t seed = 42;
};

void AddOptions(CLI::App& app, Args& a) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--data-dir", a.ours.data_dir, "pageserver data directory")->required();
  app.add_option("--tenant", a.ours.tenant, "tenant id (32 hex digits)")->required();
  app.add_option("--timeline", a.ours.timeline, "timeline id (32 hex digits)")->required();
  app.add_option("--peer-dir", a.peer_dir, "where the RocksDB and LMDB copies live")->required();
  app.add_option("--engine", a.ours.engine, "ours: std-fs | io-uring")->capture_default_str();
  app.add_option("--mode", a.ours.mode, "ours: buffered | direct")->capture_default_str();
  app.add_option("--page-cache-size", a.page_cache_size,
                 "ours: PageCache size, bytes or with KiB/MiB/GiB")
      ->capture_default_str();
  app.add_option("--systems", a.systems, "ours, rocksdb, lmdb")->delimiter(',');
  app.add_option("--threads", a.threads, "thread counts")->delimiter(',');
  app.add_option("--duration", a.duration, "measured seconds per run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", a.warmup, "unmeasured seconds before each run")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--working-set", a.working_set,
                 "read only the first ceil(BYTES/8192) keys (default: all)");
  app.add_flag("--drop-caches", a.drop_caches,
               "drop each system's files from the kernel page cache before its runs");
  app.add_flag("--prepare-only", a.prepare_only,
               "build (or check) the peers and the page hashes, then exit without reading");
  app.add_option("--csv", a.csv, "append one row per (system, threads) to this CSV file");
  app.add_option("--seed", a.seed, "PRNG seed of the key streams")->capture_default_str();
}

Status CheckArgs(Args& a) {
  for (const std::string& s : a.systems) {
    if (s != "ours" && s != "rocksdb" && s != "lmdb") {
      return Status::InvalidArgument("--systems: unknown system '" + s + "'");
    }
  }
  for (unsigned t : a.threads) {
    if (t == 0 || t > 1024) return Status::InvalidArgument("--threads: 1..1024");
  }
  if (a.ours.mode != "buffered" && a.ours.mode != "direct") {
    return Status::InvalidArgument("--mode: buffered | direct");
  }
  const std::string& s = a.page_cache_size;
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); })) {
    a.ours.page_cache_bytes = std::stoull(s);
    ASSIGN_OR_RETURN(
        const uint64_t pages,
        page_cache::ParsePageCacheSize(std::to_string(a.ours.page_cache_bytes / 1024) + "KiB"));
    a.ours.page_cache_bytes = pages * kPageBytes;
  } else {
    ASSIGN_OR_RETURN(const uint64_t pages, page_cache::ParsePageCacheSize(s));
    a.ours.page_cache_bytes = pages * kPageBytes;
  }
  std::error_code ec;
  a.ours.data_dir = std::filesystem::absolute(a.ours.data_dir, ec).string();
  return Status::Ok();
}

// --- the key list and the peers, built once ---

struct Dataset {
  std::vector<layers::Key> keys;
  std::vector<uint64_t> hashes;
};

json Marker(const Args& a, const OursStore& ours, size_t keys) {
  return json{{"version", 1},
              {"data_dir", a.ours.data_dir},
              {"tenant", a.ours.tenant},
              {"timeline", a.ours.timeline},
              {"lsn", ours.lsn().ToString()},
              {"keys", keys}};
}

std::string MarkerPath(const std::string& peer_dir) { return peer_dir + "/marker.json"; }
std::string HashesPath(const std::string& peer_dir) { return peer_dir + "/hashes.bin"; }

// The cached hashes when the marker matches, else nothing.
std::vector<uint64_t> LoadCachedHashes(const std::string& peer_dir, const json& marker) {
  std::ifstream in(MarkerPath(peer_dir));
  if (!in) return {};
  const json on_disk = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (on_disk != marker) return {};
  const size_t n = marker["keys"].get<size_t>();
  std::vector<uint64_t> hashes(n);
  std::ifstream h(HashesPath(peer_dir), std::ios::binary);
  h.read(reinterpret_cast<char*>(hashes.data()), static_cast<std::streamsize>(n * 8));
  if (!h || h.peek() != EOF) return {};
  return hashes;
}

Status SaveCache(const std::string& peer_dir, const json& marker,
                 const std::vector<uint64_t>& hashes) {
  std::ofstream h(HashesPath(peer_dir), std::ios::binary | std::ios::trunc);
  h.write(reinterpret_cast<const char*>(hashes.data()),
          static_cast<std::streamsize>(hashes.size() * 8));
  h.close();
  std::ofstream m(MarkerPath(peer_dir), std::ios::trunc);
  m << marker.dump(2) << "\n";
  m.close();
  if (!h || !m) return Status::IoError("writing " + MarkerPath(peer_dir));
  return Status::Ok();
}

Result<Dataset> PrepareDataset(const Args& a) {
  ASSIGN_OR_RETURN(const auto ours, OursStore::Open(a.ours));
  Dataset d;
  ASSIGN_OR_RETURN(d.keys, ours->ListRelBlocks());
  if (d.keys.empty()) return Status::NotFound("the timeline has no relation blocks");
  const json marker = Marker(a, *ours, d.keys.size());
  d.hashes = LoadCachedHashes(a.peer_dir, marker);
  if (!d.hashes.empty()) {
    std::printf("peers: reusing %s (%zu keys at %s)\n", a.peer_dir.c_str(), d.keys.size(),
                ours->lsn().ToString().c_str());
    return d;
  }
  std::printf("peers: building %s from %zu pages at %s\n", a.peer_dir.c_str(), d.keys.size(),
              ours->lsn().ToString().c_str());
  std::fflush(stdout);
  std::error_code ec;
  std::filesystem::remove(MarkerPath(a.peer_dir), ec);
  std::filesystem::create_directories(a.peer_dir, ec);
  ASSIGN_OR_RETURN(d.hashes, BuildPeers(*ours, d.keys, a.peer_dir));
  RETURN_IF_ERROR(SaveCache(a.peer_dir, marker, d.hashes));
  return d;
}

// --- the runs ---

Result<std::unique_ptr<PointStore>> OpenSystem(const Args& a, const std::string& system) {
  if (system == "rocksdb") return OpenRocksDb(a.peer_dir);
  unsigned max_threads = *std::max_element(a.threads.begin(), a.threads.end());
  if (system == "lmdb") return OpenLmdb(a.peer_dir, max_threads);
  ASSIGN_OR_RETURN(auto ours, OursStore::Open(a.ours));
  return std::unique_ptr<PointStore>(std::move(ours));
}

Result<std::vector<RunResult>> RunSystem(const Args& a, const std::string& system, const Dataset& d,
                                         size_t n) {
  std::vector<RunResult> rows;
  for (unsigned threads : a.threads) {
    // Opened per run: ours starts with an empty PageCache each time; the
    // drop comes after the open, which reads index blocks (and, for ours,
    // verifies every layer's summary).
    ASSIGN_OR_RETURN(auto store, OpenSystem(a, system));
    if (a.drop_caches) {
      const Status st = DropFromPageCache(store->Files());
      if (!st.ok()) std::fprintf(stderr, "peer_bench: drop caches: %s\n", st.ToString().c_str());
    }
    RunOptions options;
    options.threads = threads;
    options.warmup_seconds = a.warmup;
    options.seconds = a.duration;
    options.seed = a.seed;
    rows.push_back(
        RunPointReads(*store, std::span(d.keys).first(n), std::span(d.hashes).first(n), options));
    PrintTableRow(rows.back());
  }
  return rows;
}

int Run(Args& a) {
  if (const Status st = CheckArgs(a); !st.ok()) {
    std::fprintf(stderr, "peer_bench: %s\n", st.ToString().c_str());
    return kExitSetup;
  }
  std::printf("peer_bench: %s\n", MachineDescription().c_str());
  Result<Dataset> d = PrepareDataset(a);
  if (!d.has_value()) {
    std::fprintf(stderr, "peer_bench: %s\n", d.error().ToString().c_str());
    return kExitSetup;
  }
  if (a.prepare_only) return kExitOk;
  size_t n = d->keys.size();
  if (a.working_set > 0) n = std::min<size_t>(n, (a.working_set + kPageBytes - 1) / kPageBytes);
  std::printf("keys: %zu of %zu (working set %.1f MiB)\n", n, d->keys.size(),
              n * kPageBytes / 1048576.0);
  PrintTableHeader();
  std::vector<RunResult> all;
  for (const std::string& system : a.systems) {
    Result<std::vector<RunResult>> rows = RunSystem(a, system, *d, n);
    if (!rows.has_value()) {
      std::fprintf(stderr, "peer_bench: %s: %s\n", system.c_str(), rows.error().ToString().c_str());
      return kExitSetup;
    }
    all.insert(all.end(), rows->begin(), rows->end());
  }
  if (!a.csv.empty()) {
    if (const Status st = AppendCsv(a.csv, all); !st.ok()) {
      std::fprintf(stderr, "peer_bench: %s\n", st.ToString().c_str());
      return kExitSetup;
    }
  }
  uint64_t errors = 0;
  for (const RunResult& r : all) errors += r.errors;
  return errors == 0 ? kExitOk : kExitWrongReads;
}

}  // namespace
}  // namespace pageserver::bench

int main(int argc, char** argv) {
  pageserver::bench::Args args;
  CLI::App app{"peer_bench: point reads, ours vs RocksDB vs LMDB on the same pages"};
  pageserver::bench::AddOptions(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return pageserver::bench::kExitSetup;
  }
  return pageserver::bench::Run(args);
}
