#pragma once

// TimelineMetrics: the Prometheus series of one timeline, looked up once at
// open and updated on the read, ingest and background paths. Every series
// carries the labels tenant_id and timeline_id (hex ids), so a host with
// many timelines can be broken down per tenant.
//
//   ps_timeline_get_vectored_seconds      histogram  latency of one GetVectored call
//   ps_timeline_get_vectored_keys         histogram  keys per call
//   ps_timeline_layers_visited            histogram  layers (in-memory and historic) whose
//                                                    index one key's read consulted
//   ps_timeline_data_reads_total          counter    physical data reads issued by reads
//   ps_timeline_data_read_bytes_total     counter    bytes of those reads
//   ps_timeline_keys_read_total           counter    keys served (found or not)
//   ps_timeline_read_errors_total         counter    keys that failed with an error
//   ps_timeline_redo_seconds              histogram  redo time per key
//   ps_timeline_in_memory_bytes           gauge      open + frozen ephemeral bytes
//   ps_timeline_frozen_layers             gauge
//   ps_timeline_l0_layers                 gauge
//   ps_timeline_layers                    gauge      historic layers in the map
//   ps_timeline_layer_bytes               gauge      their file sizes
//   ps_timeline_last_record_lsn           gauge
//   ps_timeline_disk_consistent_lsn       gauge
//   ps_timeline_disk_consistent_lsn_lag_bytes gauge  last_record_lsn - disk_consistent_lsn
//   ps_timeline_flush_seconds             histogram  one frozen layer -> L0
//   ps_timeline_compaction_seconds        histogram  one L0 -> L1 compaction
//   ps_timeline_image_creation_seconds    histogram  one image layer
//   ps_timeline_gc_removed_layers_total   counter
//   ps_timeline_background_errors_total   counter    failed flush/compaction/image/GC steps
//   ps_timeline_ingest_backpressure_seconds_total counter  time FinishLsn waited for flushes
//
// Thread-safety: as common/metrics.h (updates are relaxed atomics).

#include <string>

#include "common/metrics.h"
#include "layers/ids.h"

namespace pageserver::timeline {

struct TimelineMetrics {
  TimelineMetrics(common::Registry& registry, layers::TenantId tenant, layers::TimelineId timeline);

  common::Histogram& get_vectored_seconds;
  common::Histogram& get_vectored_keys;
  common::Histogram& layers_visited;
  common::Counter& data_reads;
  common::Counter& data_read_bytes;
  common::Counter& keys_read;
  common::Counter& read_errors;
  common::Histogram& redo_seconds;
  common::Gauge& in_memory_bytes;
  common::Gauge& frozen_layers;
  common::Gauge& l0_layers;
  common::Gauge& layers;
  common::Gauge& layer_bytes;
  common::Gauge& last_record_lsn;
  common::Gauge& disk_consistent_lsn;
  common::Gauge& disk_consistent_lsn_lag;
  common::Histogram& flush_seconds;
  common::Histogram& compaction_seconds;
  common::Histogram& image_creation_seconds;
  common::Counter& gc_removed_layers;
  common::Counter& background_errors;
  common::Counter& backpressure_seconds;

 private:
  TimelineMetrics(common::Registry& registry, const common::Labels& labels);
};

}  // namespace pageserver::timeline
