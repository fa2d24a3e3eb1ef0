#pragma once

// The ingest cases: a fresh timeline (CreateEmpty, background flusher on,
// compaction, image creation and GC off) takes Put + FinishLsn of one value
// per LSN on this thread, then Checkpoint; the time from the first Put to
// Checkpoint's return (everything durable in L0 layers) is measured.
//   image8k     8 KiB page images (config.ingest_mib of them);
//   record<N>   write records of N = config.record_bytes bytes
//               (config.ingest_record_mib of encoded values);
// in io mode buffered or direct-rw (the ephemeral file and the L0 writes),
// checkpoint_distance = config.checkpoint_distance_mib. Values come from a
// pool built before the clock starts, keys cycle over 128 Ki pages.

#include <string>
#include <vector>

#include "bench/timeline_bench/config.h"
#include "common/status.h"

namespace pageserver::bench {

struct IngestRow {
  std::string name;  // ingest/<kind>/<engine>/<mode>
  std::string kind;  // image8k | record<N>
  std::string engine;
  std::string mode;
  uint64_t records = 0;
  uint64_t value_bytes = 0;       // sum of encoded value sizes
  double seconds = 0;             // first Put to Checkpoint's return
  double checkpoint_seconds = 0;  // of which the final Checkpoint
  size_t l0_layers = 0;
  uint64_t layer_bytes = 0;

  double MiBps() const { return seconds > 0 ? value_bytes / seconds / (1 << 20) : 0; }
  double RecordsPerSecond() const { return seconds > 0 ? records / seconds : 0; }
};

std::vector<std::string> PlannedIngestCases(const TimelineBenchConfig& config);

// Skipped engines are reported in `notes`.
common::Result<std::vector<IngestRow>> RunIngestCases(const TimelineBenchConfig& config,
                                                      std::vector<std::string>& notes);

}  // namespace pageserver::bench
