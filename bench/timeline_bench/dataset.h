#pragma once

// The read dataset: a timeline whose reads have an exact delta depth.
//
// Shape (built through the Timeline API only, no compaction):
//   pages = dataset_mib * 128 keys RelBlock(rel r, blk b), r = page / rel_blocks,
//   b = page % rel_blocks, each first Put as an 8 KiB image at its own LSN,
//   then Checkpoint (L0 deltas of the images) and CreateImages(force): one
//   image layer of every page at LSN round_lsns[0]. The L0s stay below it and
//   are never read (LayerMap: an image at or above a delta's last LSN wins).
//   Then max(depths) delta rounds; round d Puts, for each page with
//   probability delta_fraction (in key order), a new image (probability
//   delta_image_share) or a write record of record_bytes at a random offset,
//   and ends with Checkpoint: one L0 delta per round, ending at round_lsns[d].
// A read at round_lsns[d] therefore sees the image and exactly d deltas above
// it (later rounds start above the read LSN); CheckDepths verifies that with
// LayerMap::CountDeltasAbove.
//
// Page contents: 64 sample pages shaped like Postgres heap pages (24-byte
// header, zero free space, 71% of the page random alphanumeric tuples), each
// stamped in bytes [0, 16) with its page number and "PSTLBNCH" so a read can
// check it got the right page. Records write at offsets >= kStampBytes, so
// the stamp survives redo.
//
// Thread-safety: plain values and functions; building writes only its own
// directory.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/timeline_bench/config.h"
#include "common/status.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "layers/layer_summary.h"
#include "layers/lsn.h"
#include "timeline/layer_map.h"

namespace pageserver::bench {

inline constexpr size_t kStampBytes = 16;

layers::Key PageKey(uint64_t page, uint32_t rel_blocks);
// Whether `value` is an 8 KiB page stamped with `page`.
bool PageMatches(std::span<const std::byte> value, uint64_t page);
// An 8 KiB Postgres-like page stamped with `page` (sample `page + variant`).
std::vector<std::byte> StampedPage(uint64_t page, uint64_t variant);

// One layer file of the dataset's timeline, as its summary block says.
struct LayerFile {
  std::string path;
  layers::LayerSummary summary;
};

struct Dataset {
  std::string data_dir;      // Timeline::CreateEmpty's data_dir
  std::string timeline_dir;  // TimelineDir(data_dir, tenant, timeline)
  layers::TenantId tenant;
  layers::TimelineId timeline;
  uint64_t pages = 0;
  uint32_t rel_blocks = 0;
  // [0]: the bottom image's LSN; [d]: last_record_lsn after delta round d.
  std::vector<layers::Lsn> round_lsns;
  std::vector<LayerFile> layers;
  double build_seconds = 0;  // 0 when reused
  bool reused = false;
  bool remove_at_exit = true;

  // PageCache pages that hold every layer's index and summary block.
  uint64_t IndexBlocks() const;
  // The layer files reads consult: the bottom image and the deltas above it.
  std::vector<std::string> ReadLayerPaths() const;
  // The bottom image layer (fio's reference file).
  const LayerFile* BottomImage() const;
};

// Builds the dataset under config.dir, or with config.keep reuses a kept one
// whose manifest matches the configuration. Prints progress to stderr.
common::Result<Dataset> PrepareDataset(const TimelineBenchConfig& config);

// Removes a dataset that is not kept.
void CleanUp(const Dataset& dataset);

// InvalidArgument unless `map` gives depth d at round_lsns[d] for every d.
common::Status CheckDepths(const timeline::LayerMap& map, const Dataset& dataset);

}  // namespace pageserver::bench
