#include "timeline/timeline_metrics.h"

#include <vector>

namespace pageserver::timeline {

namespace {

// Small counts: 1, 2, 4, ... 512.
std::vector<double> CountBuckets() { return common::ExponentialBuckets(1, 2, 10); }

}  // namespace

TimelineMetrics::TimelineMetrics(common::Registry& r, layers::TenantId tenant,
                                 layers::TimelineId timeline)
    : TimelineMetrics(
          r, common::Labels{{"tenant_id", tenant.ToHex()}, {"timeline_id", timeline.ToHex()}}) {}

TimelineMetrics::TimelineMetrics(common::Registry& r, const common::Labels& l)
    : get_vectored_seconds(r.GetHistogram("ps_timeline_get_vectored_seconds",
                                          "Latency of one GetVectored call.",
                                          common::LatencyBucketsSeconds(), l)),
      get_vectored_keys(r.GetHistogram("ps_timeline_get_vectored_keys",
                                       "Keys per GetVectored call.", CountBuckets(), l)),
      layers_visited(r.GetHistogram("ps_timeline_layers_visited",
                                    "Layers whose index one key's read consulted.", CountBuckets(),
                                    l)),
      data_reads(r.GetCounter("ps_timeline_data_reads_total",
                              "Physical data reads issued by GetVectored.", l)),
      data_read_bytes(r.GetCounter("ps_timeline_data_read_bytes_total",
                                   "Bytes of the data reads issued by GetVectored.", l)),
      keys_read(r.GetCounter("ps_timeline_keys_read_total", "Keys served by GetVectored.", l)),
      read_errors(r.GetCounter("ps_timeline_read_errors_total",
                               "Keys whose read failed with an error other than NotFound.", l)),
      redo_seconds(r.GetHistogram("ps_timeline_redo_seconds", "Redo time per key.",
                                  common::LatencyBucketsSeconds(), l)),
      in_memory_bytes(r.GetGauge("ps_timeline_in_memory_bytes",
                                 "Bytes in the open and frozen in-memory layers.", l)),
      frozen_layers(r.GetGauge("ps_timeline_frozen_layers",
                               "Frozen in-memory layers waiting for the flusher.", l)),
      l0_layers(r.GetGauge("ps_timeline_l0_layers", "L0 delta layers.", l)),
      layers(r.GetGauge("ps_timeline_layers", "Historic layers in the layer map.", l)),
      layer_bytes(r.GetGauge("ps_timeline_layer_bytes", "Bytes of the historic layer files.", l)),
      last_record_lsn(r.GetGauge("ps_timeline_last_record_lsn", "Last ingested LSN.", l)),
      disk_consistent_lsn(
          r.GetGauge("ps_timeline_disk_consistent_lsn", "LSN up to which layers are durable.", l)),
      disk_consistent_lsn_lag(r.GetGauge("ps_timeline_disk_consistent_lsn_lag_bytes",
                                         "last_record_lsn - disk_consistent_lsn.", l)),
      flush_seconds(r.GetHistogram("ps_timeline_flush_seconds",
                                   "Time to write one frozen layer as an L0 delta.",
                                   common::LatencyBucketsSeconds(), l)),
      compaction_seconds(r.GetHistogram("ps_timeline_compaction_seconds",
                                        "Time of one L0 -> L1 compaction.",
                                        common::LatencyBucketsSeconds(), l)),
      image_creation_seconds(r.GetHistogram("ps_timeline_image_creation_seconds",
                                            "Time to create one image layer.",
                                            common::LatencyBucketsSeconds(), l)),
      gc_removed_layers(
          r.GetCounter("ps_timeline_gc_removed_layers_total", "Layers removed by GC.", l)),
      background_errors(r.GetCounter("ps_timeline_background_errors_total",
                                     "Failed flush, compaction, image creation or GC steps.", l)),
      backpressure_seconds(r.GetCounter("ps_timeline_ingest_backpressure_seconds_total",
                                        "Time ingest waited for frozen layers to flush.", l)) {}

}  // namespace pageserver::timeline
