#pragma once

// Timeline: one branch of a tenant's history (Neon's Timeline): ingest of
// (key, LSN, value) records into an in-memory layer, the GetPage@LSN read
// path over in-memory and on-disk layers (and the ancestor below the branch
// point), and the background work that keeps reads cheap: flush, L0 -> L1
// compaction, image creation and GC. RFC.md section 8 is the design.
//
// LSN model (Neon's): a record at LSN x is visible to reads at any LSN >= x.
// last_record_lsn: every record at or below it has been ingested (FinishLsn).
// disk_consistent_lsn: every record at or below it is in durable layer files
// whose names the metadata vouches for; after a crash the timeline reopens
// with last_record_lsn == disk_consistent_lsn and the ingest source resends
// from there (the durability contract). latest_gc_cutoff_lsn: reads below it
// are refused; GC may have removed what they needed.
//
// Layers:
//   open in-memory layer   [start, +inf)      receives Puts
//   frozen in-memory       [start, end)       waiting for the flusher
//   historic (LayerMap)    L0 deltas, L1 deltas, images, on disk
// A reader snapshots all three under `mu_` (a few shared_ptr copies) and
// then works without locks; background work builds a new LayerMap and swaps
// it under the same mutex. So reads are never blocked by background work for
// longer than a pointer swap, and a layer stays alive (and its file on disk)
// until the last reader that saw it is done.
//
// Threads:
//   ingest     Put / FinishLsn / Checkpoint / DetachIngest run on one thread
//              at a time ("the ingest thread"): the open layer's appends are
//              asynchronous writes reaped on the submitting thread's ring.
//              Another thread may take over after the current one calls
//              DetachIngest(); a call from a second thread while one is
//              attached is InvalidArgument.
//   readers    GetVectored / Get / WaitLsn / accessors: any thread, any number.
//   background with config.background_threads, a flusher thread (frozen
//              layers -> L0 deltas) and a compactor thread (compaction, image
//              creation, GC). Without them (tests, tools) the same steps run
//              when the owner calls FlushFrozen / Compact / CreateImages / Gc.
//
// Errors: a timeline whose directory held a corrupt layer is "broken": every
// read and ingest call returns Aborted naming the reason.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "layers/ids.h"
#include "layers/image_layer.h"
#include "layers/key.h"
#include "layers/keyspace.h"
#include "layers/lsn.h"
#include "page_cache/page_cache.h"
#include "timeline/in_memory_layer.h"
#include "timeline/layer_map.h"
#include "timeline/metadata.h"
#include "timeline/rel_size_cache.h"
#include "timeline/timeline_dir.h"
#include "timeline/timeline_metrics.h"
#include "timeline/value.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::timeline {

// Per-timeline knobs (the daemon's config keys of the same names). Defaults
// are Neon's where Neon has the knob.
struct TimelineConfig {
  // Freeze the open layer when it holds this many bytes (Neon: 256 MiB).
  uint64_t checkpoint_distance = uint64_t{256} << 20;
  // ... or when it is this old (Neon: 10 min).
  std::chrono::milliseconds checkpoint_timeout = std::chrono::minutes(10);
  // Backpressure: FinishLsn waits while more frozen layers than this wait
  // for the flusher, so memory and ephemeral disk stay bounded.
  size_t max_frozen_layers = 2;
  // Compact when this many L0 deltas exist (Neon: 10). >= 2.
  size_t compaction_threshold = 10;
  uint64_t compaction_target_size = uint64_t{128} << 20;
  // Create images where the delta depth above the newest image reaches this (Neon: 3).
  size_t image_creation_threshold = 3;
  // GC keeps history for this many LSN bytes below last_record_lsn (Neon:
  // 64 MiB). 0 disables GC.
  uint64_t gc_horizon = uint64_t{64} << 20;
  // Keys per GetVectored call (Neon's max_get_vectored_keys: 32).
  size_t max_get_vectored_keys = 32;
  // Cap of one coalesced data read. 256 KiB, not the planner's 128 KiB
  // library default: 32 adjacent uncompressed pages span 32 x 8208 bytes
  // (page + blob header) = 262,656 bytes, which the planner cuts into three
  // reads at 128 KiB and two at 256 KiB, the 1/16 read per page a batch of
  // 32 adjacent GetPage requests is meant to cost (RFC.md 8.6).
  size_t max_vectored_read_bytes = 256 * 1024;
  // Image compression and the layer writers' buffer size.
  layers::LayerWriterOptions writer;
  // The open layer's ephemeral-file write buffer.
  size_t ephemeral_buffer_bytes = 256 * 1024;
  // Keys the timeline accepts; a Put outside is InvalidArgument.
  layers::KeySpace keyspace = layers::KeySpace(layers::KeyRange::All());
  // Start the flusher and compactor threads.
  bool background_threads = true;
  // How often the compactor looks for work when nothing wakes it.
  std::chrono::milliseconds compaction_period = std::chrono::seconds(20);

  // InvalidArgument naming the knob for an impossible value.
  common::Status Check() const;
};

// What the timeline needs from the process; must outlive it.
struct TimelineResources {
  const virtual_file::IoContext* ctx = nullptr;
  page_cache::PageCache* cache = nullptr;
  // Optional: where the timeline's metrics live (nullptr: none).
  common::Registry* registry = nullptr;

  // InvalidArgument unless ctx (with an engine) and cache are set.
  common::Status Check() const;
};

// A snapshot of the timeline's state, for the HTTP API and tests.
struct TimelineStats {
  layers::Lsn last_record_lsn;
  layers::Lsn disk_consistent_lsn;
  layers::Lsn gc_cutoff;
  uint64_t in_memory_bytes = 0;  // open + frozen ephemeral files
  size_t frozen_layers = 0;
  size_t l0_deltas = 0;
  size_t l1_deltas = 0;
  size_t images = 0;
  uint64_t layer_bytes = 0;  // sum of historic layer file sizes
};

// One key of a GetVectored call and the LSN to read it at.
struct KeyRequest {
  layers::Key key;
  layers::Lsn lsn;
};

struct CompactionResult {
  size_t inputs = 0;   // L0 deltas merged (0: nothing to do)
  size_t outputs = 0;  // L1 deltas written
};
struct GcResult {
  layers::Lsn cutoff;  // the cutoff in force after this GC
  size_t removed = 0;  // layers removed from the map
  uint64_t bytes = 0;  // their file sizes
};

class Timeline {
 public:
  // A new, empty timeline: creates its directory and metadata with
  // disk_consistent_lsn = last_record_lsn = start_lsn. The first Put must be
  // above start_lsn. AlreadyExists when the directory has a metadata file.
  static common::Result<std::shared_ptr<Timeline>> CreateEmpty(
      const TimelineResources& res, const std::string& data_dir, layers::TenantId tenant,
      layers::TimelineId id, layers::Lsn start_lsn, uint32_t pg_version,
      const TimelineConfig& config);

  // A branch of `ancestor` at `lsn` (metadata only: instant). The branch
  // reads the ancestor's history at `lsn` for everything it has not written
  // itself; its last_record_lsn and GC cutoff start at `lsn`. Errors:
  // InvalidArgument when lsn is above the ancestor's last_record_lsn or below
  // its GC cutoff (history there may be gone), or invalid.
  static common::Result<std::shared_ptr<Timeline>> CreateBranch(
      const TimelineResources& res, const std::string& data_dir, layers::TimelineId id,
      std::shared_ptr<Timeline> ancestor, layers::Lsn lsn, const TimelineConfig& config);

  // Opens an existing timeline directory (LoadTimelineDir: metadata, temp
  // and leftover cleanup, every layer opened and verified). `ancestor` must
  // be the loaded timeline the metadata names (InvalidArgument otherwise).
  // A corrupt layer makes the timeline broken, not the load fail.
  static common::Result<std::shared_ptr<Timeline>> Load(
      const TimelineResources& res, const std::string& data_dir, layers::TenantId tenant,
      layers::TimelineId id, std::shared_ptr<Timeline> ancestor, const TimelineConfig& config);

  // Stops the background threads (Shutdown(false)). REQUIRES: on the ingest
  // thread, or after DetachIngest (the open layer's writes in flight are
  // reaped on the thread that submitted them), with no call running.
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // --- Ingest (the ingest thread) ---

  // Stores `value` as the value of `key` at `lsn`, visible to reads once
  // FinishLsn(lsn' >= lsn) returns. An IO error writing the open layer stops
  // ingest: that Put returns it and every later Put, FinishLsn and
  // Checkpoint is Aborted naming it, so puts that may be half-applied are
  // never made visible; reopen the timeline to ingest again from
  // disk_consistent_lsn. InvalidArgument, nothing stored, when:
  // lsn <= last_record_lsn or below the previous Put's LSN; the key is
  // outside config.keyspace; a page key (relation or SLRU block) gets an
  // image that is not 8192 bytes; a non-page key gets a record (records
  // are page operations). A Put of a relation-size key updates the
  // relation-size cache.
  common::Status Put(const layers::Key& key, layers::Lsn lsn, const Value& value);
  // Advances last_record_lsn to `lsn` and wakes readers waiting for it.
  // InvalidArgument when lsn is below last_record_lsn or below a Put's LSN.
  // Freezes the open layer when it reached checkpoint_distance or
  // checkpoint_timeout, and then applies backpressure (see the config).
  common::Status FinishLsn(layers::Lsn lsn);
  // Freezes the open layer (if it holds anything), flushes every frozen
  // layer on this thread and advances disk_consistent_lsn to
  // last_record_lsn. On return everything ingested so far is durable.
  common::Status Checkpoint();
  // Waits for the open layer's in-flight writes so another thread may
  // become the ingest thread. Idempotent. Detaches even when a write
  // failed, and then returns that write's error.
  common::Status DetachIngest();

  // --- Reads (any thread) ---

  // The values of `keys` as of `lsn`: one result per key, in order.
  // NotFound for a key with no value at or below lsn. More keys than
  // max_get_vectored_keys is InvalidArgument for every key. Per key:
  // InvalidArgument for an invalid LSN or one above last_record_lsn (call
  // WaitLsn first) or one below the GC cutoff. An IO or corruption
  // error fails only the keys whose reads it touched. Every data read of
  // the call is issued as one engine batch.
  std::vector<common::Result<std::vector<std::byte>>> GetVectored(std::span<const layers::Key> keys,
                                                                  layers::Lsn lsn) const;
  // The same with an LSN per key (a server batch of requests at different
  // LSNs is still one call and one engine batch).
  std::vector<common::Result<std::vector<std::byte>>> GetVectored(
      std::span<const KeyRequest> requests) const;
  common::Result<std::vector<std::byte>> Get(const layers::Key& key, layers::Lsn lsn) const;
  // Returns once last_record_lsn >= lsn; TimedOut naming both LSNs after
  // `timeout`.
  common::Status WaitLsn(layers::Lsn lsn, std::chrono::milliseconds timeout) const;

  // --- Background steps (any thread; serialized internally) ---

  // Writes every frozen layer out as an L0 delta and advances
  // disk_consistent_lsn; returns how many were flushed.
  common::Result<size_t> FlushFrozen();
  // L0 -> L1 when at least compaction_threshold L0s exist (any number >= 2
  // with force).
  common::Result<CompactionResult> Compact(bool force = false);
  // Image layers at disk_consistent_lsn for the key partitions whose delta
  // depth reached image_creation_threshold (every partition with history
  // above its newest image with force); returns how many were written.
  common::Result<size_t> CreateImages(bool force = false);
  // Raises the GC cutoff to last_record_lsn - gc_horizon (persisted first)
  // and removes the layers no read at or above it, nor at any branch point,
  // can need.
  common::Result<GcResult> Gc();
  // Stops the background threads; with `checkpoint`, then Checkpoint()s
  // (REQUIRES: called on the ingest thread or with ingest detached).
  common::Status Shutdown(bool checkpoint);

  // --- Branch points (the children's ancestor_lsn), kept by GC ---
  void AddBranchPoint(layers::Lsn lsn);
  void RemoveBranchPoint(layers::Lsn lsn);

  // --- Accessors (any thread) ---
  layers::TenantId tenant_id() const { return tenant_; }
  layers::TimelineId timeline_id() const { return id_; }
  const std::string& dir() const { return dir_; }
  const std::shared_ptr<Timeline>& ancestor() const { return ancestor_; }
  layers::Lsn ancestor_lsn() const { return ancestor_lsn_; }
  layers::Lsn last_record_lsn() const;
  layers::Lsn disk_consistent_lsn() const;
  layers::Lsn gc_cutoff() const;
  TimelineMetadata metadata() const;
  TimelineStats Stats() const;
  bool broken() const { return broken_reason_.has_value(); }
  const std::optional<std::string>& broken_reason() const { return broken_reason_; }
  const TimelineConfig& config() const { return config_; }
  RelSizeCache& rel_size_cache() const { return rel_size_cache_; }
  // The historic layer snapshot (for tools and tests).
  std::shared_ptr<const LayerMap> layer_map() const;

 private:
  // What a reader works on: taken under mu_, used without it.
  struct Snapshot {
    std::shared_ptr<const LayerMap> map;
    // Newest first: the open layer, then the frozen ones, newest to oldest.
    std::vector<std::shared_ptr<InMemoryLayer>> in_memory;
  };
  struct KeyRead;
  class ReadCollector;

  Timeline(const TimelineResources& res, const std::string& data_dir, layers::TenantId tenant,
           layers::TimelineId id, const TimelineConfig& config);
  static common::Result<std::shared_ptr<Timeline>> Open(
      const TimelineResources& res, const std::string& data_dir, layers::TenantId tenant,
      layers::TimelineId id, std::shared_ptr<Timeline> ancestor, const TimelineConfig& config);
  void StartBackground();

  // Ingest.
  common::Status CheckIngestAllowed();
  common::Status CheckPut(const layers::Key& key, layers::Lsn lsn, const Value& value) const;
  common::Result<InMemoryLayer*> OpenLayerForWrite();
  bool OpenLayerFull() const;
  common::Status FreezeOpenLayer();
  common::Status ApplyBackpressure();

  // Reads (read_path.cc).
  Snapshot TakeSnapshot() const;
  common::Status CheckReadLsn(layers::Lsn lsn, layers::Lsn last_record, layers::Lsn cutoff) const;
  void Traverse(std::span<KeyRead* const> keys, ReadCollector& reads) const;
  void TraverseInMemory(const Snapshot& snap, std::span<KeyRead* const> keys) const;
  void TraverseHistoric(const Snapshot& snap, std::span<KeyRead* const> keys,
                        ReadCollector& reads) const;
  void Reconstruct(KeyRead& read, const ReadCollector& reads,
                   common::Result<std::vector<std::byte>>& out) const;

  // Background.
  common::Result<bool> FlushOldest();
  common::Status PublishFlushed(const std::shared_ptr<InMemoryLayer>& frozen,
                                std::optional<layers::WrittenLayer> written);
  common::Status AdvanceDiskConsistentLsn(layers::Lsn lsn);
  common::Status UpdateMetadata(const TimelineMetadata& metadata);
  common::Result<LayerHandlePtr> OpenWrittenLayer(const layers::WrittenLayer& written,
                                                  bool is_l0) const;
  common::Status ReplaceLayers(std::span<const LayerHandlePtr> removed,
                               std::span<const LayerHandlePtr> added);
  common::Result<bool> CreateImageLayer(const layers::KeyRange& range, layers::Lsn lsn);
  common::Result<std::vector<layers::Key>> CollectKeys(const layers::KeyRange& range,
                                                       layers::Lsn lsn) const;
  void FlusherLoop();
  void MaybeFreezeIdleLayer();
  void CompactorLoop();
  void UpdateGauges() const;

  const TimelineResources res_;
  const std::string dir_;
  const layers::TenantId tenant_;
  const layers::TimelineId id_;
  const TimelineConfig config_;
  std::shared_ptr<Timeline> ancestor_;
  layers::Lsn ancestor_lsn_;
  std::optional<std::string> broken_reason_;
  std::unique_ptr<TimelineMetrics> metrics_;
  mutable RelSizeCache rel_size_cache_;

  // Readers' snapshot state: the layer map and the in-memory layers.
  mutable std::mutex mu_;
  std::shared_ptr<const LayerMap> map_;                // guarded by mu_
  std::shared_ptr<InMemoryLayer> open_;                // guarded by mu_
  std::deque<std::shared_ptr<InMemoryLayer>> frozen_;  // guarded by mu_, oldest first
  std::vector<layers::Lsn> branch_points_;             // guarded by mu_
  TimelineMetadata metadata_;                          // guarded by mu_
  common::Status flush_error_;                         // guarded by mu_
  std::condition_variable flush_cv_;                   // frozen_ shrank or flush failed

  // LSN progress.
  std::atomic<uint64_t> last_record_lsn_{0};
  mutable std::mutex lsn_mu_;
  mutable std::condition_variable lsn_cv_;

  // Held by every ingest call (uncontended: one ingest thread) and by the
  // flusher's idle freeze, which only try-locks it.
  std::mutex ingest_mu_;
  // Ingest-thread state (ingest thread only, except ingest_thread_).
  std::atomic<std::thread::id> ingest_thread_{};
  layers::Lsn last_put_lsn_;
  // The IO error that failed a Put's append (the open layer is poisoned):
  // ingest stops for good, so a later FinishLsn cannot make the puts of a
  // half-applied commit visible. Reopening the timeline drops the open layer
  // and ingest resumes from disk_consistent_lsn (the durability contract).
  common::Status ingest_error_;
  std::chrono::steady_clock::time_point open_since_;
  uint64_t next_ephemeral_ = 0;

  // Serializes flushes (background flusher and Checkpoint), and the other
  // background steps among themselves; and metadata writes.
  std::mutex flush_mu_;
  std::mutex compact_mu_;
  std::mutex metadata_mu_;
  // Compaction inputs removed from the map whose files are not deleted yet
  // (a reader still holds them); GC waits for 0 (RFC 8.8).
  std::shared_ptr<std::atomic<int64_t>> pending_l0_deletions_;

  // Background threads.
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool stopping_ = false;        // guarded by bg_mu_
  bool flush_wanted_ = false;    // guarded by bg_mu_
  bool compact_wanted_ = false;  // guarded by bg_mu_
  std::atomic<bool> stopping_flag_{false};
  std::thread flusher_;
  std::thread compactor_;
};

}  // namespace pageserver::timeline
