#include "server/page_service_metrics.h"

#include <string>

#include "server/pagestream.h"

namespace pageserver::server {
namespace {

std::string TypeName(size_t type) {
  return std::string(PagestreamTagName(static_cast<PagestreamTag>(type)));
}

// GetPage requests per batch: 1, 2, 4, ... 256 (max_batch_size is 32 by default).
std::vector<double> BatchSizeBuckets() { return common::ExponentialBuckets(1, 2, 9); }

}  // namespace

std::string_view BatchBreakReasonName(BatchBreakReason reason) {
  switch (reason) {
    case BatchBreakReason::kSizeCap:
      return "size_cap";
    case BatchBreakReason::kNonGetPage:
      return "non_get_page";
    case BatchBreakReason::kDrained:
      return "drained";
    case BatchBreakReason::kLsnWait:
      return "lsn_wait";
    case BatchBreakReason::kOtherMessage:
      return "other_message";
    case BatchBreakReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

std::string_view PageServiceCommandName(PageServiceCommand command) {
  switch (command) {
    case PageServiceCommand::kPagestreamV2:
      return "pagestream_v2";
    case PageServiceCommand::kPagestreamV3:
      return "pagestream_v3";
    case PageServiceCommand::kIngest:
      return "ingest";
    case PageServiceCommand::kImportBasebackup:
      return "import_basebackup";
    case PageServiceCommand::kOther:
      return "other";
  }
  return "unknown";
}

PageServiceMetrics::PageServiceMetrics(common::Registry& registry)
    : registry_(registry),
      lsn_wait_seconds_(
          registry.GetHistogram("ps_page_service_lsn_wait_seconds",
                                "Time a pagestream request waited for its LSN to be ingested.",
                                common::LatencyBucketsSeconds())),
      lsn_waiting_(registry.GetGauge("ps_page_service_lsn_waiting",
                                     "Pagestream requests waiting for their LSN now.")),
      batch_size_(registry.GetHistogram("ps_page_service_batch_size",
                                        "GetPage requests served by one read-path call.",
                                        BatchSizeBuckets())),
      pipelined_batches_(
          registry.GetCounter("ps_page_service_pipelined_batches_total",
                              "GetPage batches run on a connection's pipeline worker.")),
      connections_active_(registry.GetGauge("ps_page_service_connections_active",
                                            "Page service connections being served.")),
      connections_total_(registry.GetCounter("ps_page_service_connections_total",
                                             "Page service connections accepted.")),
      protocol_errors_(
          registry.GetCounter("ps_page_service_protocol_errors_total",
                              "Page service connections closed for a framing or protocol error.")),
      ingest_records_(registry.GetCounter("ps_page_service_ingest_records_total",
                                          "Ingest puts applied to timelines.")),
      ingest_commits_(registry.GetCounter("ps_page_service_ingest_commits_total",
                                          "Ingest commits applied to timelines.")),
      ingest_rejected_(registry.GetCounter("ps_page_service_ingest_rejected_total",
                                           "Ingest streams failed on a bad record.")) {
  for (size_t type = 0; type < kPagestreamRequestTypes; ++type) {
    const std::string name = TypeName(type);
    for (int ok = 0; ok < 2; ++ok) {
      requests_[type][ok] = &registry.GetCounter(
          "ps_page_service_requests_total", "Pagestream requests answered, by type and outcome.",
          {{"request_type", name}, {"outcome", ok == 0 ? "ok" : "error"}});
    }
    request_seconds_[type] =
        &registry.GetHistogram("ps_page_service_request_seconds",
                               "Pagestream request latency from arrival to response, by type.",
                               common::LatencyBucketsSeconds(), {{"request_type", name}});
  }
  for (size_t r = 0; r < kBatchBreakReasons; ++r) {
    batch_breaks_[r] = &registry.GetCounter(
        "ps_page_service_batch_break_total", "Why a GetPage batch ended.",
        {{"reason", std::string(BatchBreakReasonName(static_cast<BatchBreakReason>(r)))}});
  }
  for (size_t c = 0; c < kPageServiceCommands; ++c) {
    const std::string name(PageServiceCommandName(static_cast<PageServiceCommand>(c)));
    for (int ok = 0; ok < 2; ++ok) {
      commands_[c][ok] = &registry.GetCounter(
          "ps_page_service_commands_total", "Page service simple-query commands, by outcome.",
          {{"command", name}, {"outcome", ok == 0 ? "ok" : "error"}});
    }
  }
}

TenantRequestMetrics PageServiceMetrics::ForTenant(layers::TenantId tenant) {
  const std::string id = tenant.ToHex();
  TenantRequestMetrics out;
  for (size_t type = 0; type < kPagestreamRequestTypes; ++type) {
    out.requests[type] = &registry_.GetCounter("ps_tenant_requests_total",
                                               "Pagestream requests, by tenant and type.",
                                               {{"tenant", id}, {"request_type", TypeName(type)}});
  }
  out.page_bytes_sent =
      &registry_.GetCounter("ps_tenant_page_bytes_sent_total",
                            "Bytes of pagestream responses sent, by tenant.", {{"tenant", id}});
  return out;
}

}  // namespace pageserver::server
