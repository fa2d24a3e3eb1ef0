#pragma once

// A timeline's directory and loading it at startup (Neon's
// Timeline::load_layer_map).
//
// Layout: "<data_dir>/tenants/<tenant hex>/timelines/<timeline hex>/" holds
//   metadata                 the metadata file (metadata.h)
//   <layer name>             image and delta layer files (layer_name.h)
//   <anything>.___temp       a writer's output before its rename (crash leftover)
//   ephemeral-<anything>     an in-memory layer's ephemeral file (crash leftover)
// The in-memory layer's ephemeral files MUST be created inside the timeline
// directory with the kEphemeralFilePrefix prefix ("ephemeral-1", ...): they
// never survive a restart (their contents are re-ingested from the WAL), and
// LoadTimelineDir deletes every file with that prefix.
//
// LoadTimelineDir, in order:
//   1. the directory must exist (NotFound), then ReadMetadata: its errors
//      (NotFound for a missing file, Corruption, Unsupported) are returned,
//      since a timeline without valid metadata cannot be used at all;
//   2. removes temporary layer files (RemoveTemporaryLayerFiles) and stale
//      ephemeral files, fsyncing the directory when it removed any;
//   3. classifies every other non-directory entry, in sorted name order:
//        "metadata"                         skipped;
//        a name LayerName::Parse rejects    reported in unknown_files, kept;
//        a future layer (below)             deleted, in removed_future_layers;
//        otherwise                          a layer to consider in step 4;
//   4. among the remaining layers (future layers no longer take part),
//      deletes the leftovers of interrupted compactions
//      (PlanCompactionLeftovers), in removed_compaction_leftovers, without
//      opening them; then fsyncs the directory if steps 3 or 4 deleted
//      anything;
//   5. opens every remaining layer as its kind, verifies it (broken layers,
//      below) and builds the map.
//
// Future layers: layers written after the last metadata update, whose
// contents the metadata does not vouch for (Neon's is_future_layer): an
// image with LSN > disk_consistent_lsn, or a delta (L0 or L1) with
// lsn_range.end > disk_consistent_lsn + 1. They are deleted without being
// opened; the WAL above disk_consistent_lsn is re-ingested.
//
// Broken layers: a layer file that fails to open (corrupt or truncated
// summary, future format version), whose summary disagrees with its name
// (kind, key range, LSN range), or whose summary names another tenant or
// timeline is NOT inserted in the map, and the timeline is marked broken:
// broken_reason is "<file name>: <status message>" of the first such file (in
// name order) and `problems` lists one such line per broken file. A broken
// timeline must not serve reads: the map lacks layers it should have. A
// broken timeline is still an OK result; only steps 1 and 2 (and IO errors
// listing, unlinking or fsyncing in steps 3 and 4) fail the load.
//
// Thread-safety: LoadTimelineDir must not run concurrently with any writer
// in the same directory (call it before the timeline starts). Different
// directories may be loaded concurrently.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layers/delta_layer.h"
#include "layers/ids.h"
#include "layers/image_layer.h"
#include "layers/layer_name.h"
#include "page_cache/page_cache.h"
#include "timeline/layer_map.h"
#include "timeline/metadata.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::timeline {

// Prefix of in-memory layers' ephemeral file names (see the file comment).
inline constexpr std::string_view kEphemeralFilePrefix = "ephemeral-";

// "<data_dir>/tenants/<tenant hex>/timelines/<timeline hex>", e.g.
// TimelineDir("/data", t, l) == "/data/tenants/ad50...e418/timelines/11ab...".
std::string TimelineDir(const std::string& data_dir, layers::TenantId tenant,
                        layers::TimelineId timeline);

// True for "ephemeral-<anything>" (the prefix alone counts too).
bool IsEphemeralFileName(std::string_view file_name);

// An L0 delta: a delta layer whose key range is exactly KeyRange::All()
// ([Key::Min(), Key::Max())), as a flush of an in-memory layer writes it.
// Compaction's L1 outputs cover a part of the keyspace (they tile it), so a
// whole-keyspace L1 is misclassified as L0; the only effect is that the
// next compaction reconsiders it.
bool IsL0Delta(const layers::LayerName& name);

// A future layer as defined in the file comment.
bool IsFutureLayer(const layers::LayerName& name, layers::Lsn disk_consistent_lsn);

// Names of delta layers to delete because a compaction was interrupted by a
// crash. A compaction writes its outputs (one LSN range, the union of its
// inputs' ranges, with key ranges tiling [Key::Min(), Key::Max())) and then
// deletes its inputs (L0 deltas); a crash can leave the outputs partly
// written, or all written with the inputs still present. Since a compaction
// has >= 2 inputs, an output's LSN range strictly contains each input's.
//
// Rules (images are ignored; only delta names take part):
//   For each whole-keyspace delta X (IsL0Delta), let C be every other delta Y
//   whose LSN range contains X's (Y.start <= X.start && X.end <= Y.end) and
//   differs from it. Group C by LSN range.
//   - If some group's key ranges tile KeyRange::All() exactly (sorted by
//     start: the first starts at Key::Min(), each ends where the next
//     starts, the last ends at Key::Max(); one whole-keyspace layer tiles
//     too), that compaction finished: X is redundant and is deleted.
//   - Otherwise every group in C is the partial output of an interrupted
//     compaction: all of their layers are deleted (X stays, and will be
//     compacted again).
// Returns each name at most once, sorted (LayerName order).
//
// Worked example, keys written as "a".."z" with a = Key::Min(), z = Key::Max():
//   L0 [a,z)@[10,20), L0 [a,z)@[20,30),
//   L1 [a,m)@[10,30), L1 [m,z)@[10,30), L1 [a,m)@[0,5)
//     -> {L0 @[10,20), L0 @[20,30)}   (the [10,30) group tiles [a,z);
//                                      [0,5) contains no L0's range)
//   The same without L1 [m,z)@[10,30)
//     -> {L1 [a,m)@[10,30)}           (interrupted: the L0s stay)
// Cost: O(L0s * deltas * log deltas); meant for load time.
std::vector<layers::LayerName> PlanCompactionLeftovers(std::span<const layers::LayerName> names);

// One opened layer file: the payload of its LayerHandle in the map.
// Exactly one of `image` / `delta` is set, matching name.kind. Immutable
// except for remove_on_drop; the readers are safe for concurrent use
// (image_layer.h). Only ever held by std::shared_ptr (not copyable).
//
// Deferred deletion: when the timeline removes a layer from its map for good
// (a compaction input, a GC victim) it sets remove_on_drop instead of
// unlinking the file. The file is deleted only when the last holder (a map
// snapshot, a handle or a reader's copy of the shared_ptr) drops the layer,
// so a read that still uses the layer never loses its file. Protocol:
// MarkForRemoval(pending), then publish the map without the layer. The
// destructor then, in order:
// resets `image` and `delta` (closing the file), unlinks `path` (ENOENT is
// fine; any other failure is logged with spdlog::warn naming the path, never
// thrown or returned: the file is only garbage) and decrements
// *pending_counter if set, so "counter == 0" means every deletion asked for
// has been attempted. Without remove_on_drop the destructor leaves the file.
// Thread-safety: remove_on_drop may be set from any thread; the destructor
// runs on whichever thread drops the last reference.
struct LoadedLayer {
  LoadedLayer() = default;
  LoadedLayer(const LoadedLayer&) = delete;
  LoadedLayer& operator=(const LoadedLayer&) = delete;
  ~LoadedLayer();

  layers::LayerName name;
  std::string path;
  uint64_t file_size = 0;  // bytes, the summary's verified file_length
  std::shared_ptr<const layers::ImageLayerReader> image;
  std::shared_ptr<const layers::DeltaLayerReader> delta;
  // Asks for the file to be deleted with the last holder. `pending`, when
  // not null, is incremented now and decremented by the destructor after
  // the unlink. REQUIRES: called once, before the layer leaves the map.
  void MarkForRemoval(std::shared_ptr<std::atomic<int64_t>> pending) const;

  // Set (release) by MarkForRemoval.
  mutable std::atomic<bool> remove_on_drop{false};
  // The count MarkForRemoval was given, or null.
  mutable std::shared_ptr<std::atomic<int64_t>> pending_counter;
};

// The LoadedLayer stored in a handle built by LoadTimelineDir.
// REQUIRES: handle.payload was set by LoadTimelineDir (or holds a
// std::shared_ptr<const LoadedLayer> made the same way).
inline std::shared_ptr<const LoadedLayer> LoadedLayerOf(const LayerHandle& handle) {
  return handle.PayloadAs<const LoadedLayer>();
}

struct LoadedTimeline {
  TimelineMetadata metadata;
  // Every layer that opened and verified. Each handle's payload is a
  // std::shared_ptr<const LoadedLayer> (read it with LoadedLayerOf); is_l0
  // is IsL0Delta(name). The readers use the `cache` and `ctx` passed to
  // LoadTimelineDir, which must outlive the map and every handle.
  std::shared_ptr<const LayerMap> layers;
  // Names removed in step 2: temporary layer files, then ephemeral files,
  // each group sorted.
  std::vector<std::string> removed_temporaries;
  // Names of the future layers deleted, sorted.
  std::vector<std::string> removed_future_layers;
  // File names of the compaction leftovers deleted (PlanCompactionLeftovers),
  // sorted.
  std::vector<std::string> removed_compaction_leftovers;
  // Names left in the directory that are neither metadata nor layers, sorted.
  std::vector<std::string> unknown_files;
  // "<file name>: <status message>" per broken layer, in name order.
  std::vector<std::string> problems;
  // problems.front() when there is any: the timeline must not serve reads.
  std::optional<std::string> broken_reason;

  bool broken() const { return broken_reason.has_value(); }
};

// Loads the timeline at `dir` (normally TimelineDir(...)) as the file
// comment describes; `tenant` and `timeline` are the ids every layer summary
// must carry. Errors: NotFound when `dir` or its metadata file is missing;
// the metadata's Corruption / Unsupported; IO errors listing, unlinking or
// fsyncing, naming the path. A broken layer is not an error (see
// broken_reason). REQUIRES: `ctx` and `cache` outlive the returned layers.
common::Result<LoadedTimeline> LoadTimelineDir(const virtual_file::IoContext& ctx,
                                               const std::string& dir, page_cache::PageCache* cache,
                                               layers::TenantId tenant,
                                               layers::TimelineId timeline);

}  // namespace pageserver::timeline
