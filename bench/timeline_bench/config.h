#pragma once

// timeline_bench's settings (one per command-line option, see main.cc) and
// the case filter.
//
// Case names (what --cases matches):
//   read/<single|batch32>/d<depth>/<engine>/<direct|buffered-cold|buffered-warm>
//   ingest/<image8k|record<N>>/<engine>/<buffered|direct-rw>
// e.g. "read/batch32/d3/io-uring/direct", "ingest/record100/std-fs/direct-rw".

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "timeline/timeline.h"

namespace pageserver::bench {

struct TimelineBenchConfig {
  // Where datasets and ingest timelines live: --dir, else $PS_BENCH_DIR,
  // else /var/tmp/ps-timeline-bench (on disk: /tmp may be tmpfs).
  std::string dir;
  // Pages of the read dataset: dataset_mib * 128 pages of 8 KiB.
  uint64_t dataset_mib = 1024;
  // Blocks per relation; a multiple of kBatchKeys (batches never cross a
  // relation). 16384 blocks = 128 MiB, so the default dataset has 8 relations.
  uint32_t rel_blocks = 16384;
  // Delta depths read (each depth d reads at the LSN right after delta round
  // d, so one dataset with max(depths) rounds serves every depth).
  std::vector<size_t> depths = {0, 3, 10};
  // Share of the pages each delta round writes, and of those the share
  // written as new 8 KiB images (the rest: write records of record_bytes).
  double delta_fraction = 0.05;
  double delta_image_share = 0.1;
  size_t record_bytes = 100;
  // Image compression of the bottom image layer: none | zstd.
  std::string compression = "none";
  // The timeline's max_vectored_read_bytes (default: TimelineConfig's).
  size_t max_read_kib = timeline::TimelineConfig{}.max_vectored_read_bytes / 1024;
  double seconds = 5.0;  // per read case
  std::vector<std::string> engines = {"std-fs", "io-uring"};
  // Read io modes; "buffered" runs both a cold and a warm case.
  std::vector<std::string> modes = {"buffered", "direct"};
  // Ingest io modes (ephemeral file and L0 writes).
  std::vector<std::string> ingest_modes = {"buffered", "direct-rw"};
  uint64_t ingest_mib = 512;        // of 8 KiB images per image ingest case
  uint64_t ingest_record_mib = 64;  // of encoded small records per record ingest case
  uint64_t checkpoint_distance_mib = 256;
  // Patterns selecting cases; empty: all. A pattern with '*' or '?' is an
  // fnmatch glob over the whole name, else a substring.
  std::vector<std::string> cases;
  bool run_fio = true;
  // Keep the read dataset (and reuse a kept one built with the same
  // parameters) instead of deleting it at exit.
  bool keep = false;
  std::string json_path;
  uint64_t seed = 1;
  bool smoke = false;
};

// Keys of one GetVectored batch case: 32 adjacent blocks of one relation
// (Neon's max_get_vectored_keys).
inline constexpr size_t kBatchKeys = 32;

// Whether `name` is selected by config.cases (all when empty).
bool CaseSelected(const TimelineBenchConfig& config, const std::string& name);

}  // namespace pageserver::bench
