#pragma once

// PageServiceMetrics: the page service's Prometheus series, registered once
// when the service is built and updated on the connection threads.
//
//   ps_page_service_requests_total{request_type,outcome}   counter
//       pagestream requests answered; request_type is PagestreamTagName
//       ("exists", "nblocks", "get_page", "db_size", "get_slru_segment"),
//       outcome "ok" or "error" (a pagestream Error response)
//   ps_page_service_request_seconds{request_type}          histogram
//       from the request's arrival in the read buffer to its response being
//       ready (a batch's GetPages all observe the batch's time)
//   ps_page_service_lsn_wait_seconds                       histogram
//       time a request waited for its not_modified_since to be ingested
//       (only requests that had to wait)
//   ps_page_service_lsn_waiting                            gauge
//       requests waiting for their LSN right now
//   ps_page_service_batch_size                             histogram
//       GetPage requests served by one read-path call
//   ps_page_service_batch_break_total{reason}              counter
//       why a batch ended: "size_cap" (max_batch_size reached),
//       "non_get_page" (the next request is another type), "drained" (no
//       whole request buffered), "lsn_wait" (the next request must wait for
//       its LSN), "other_message" (the next message is not a CopyData:
//       CopyDone, Terminate, or a malformed one), "shutdown"
//   ps_page_service_pipelined_batches_total                counter
//       batches handed to a connection's pipeline worker while another
//       batch could be in flight (pipeline_depth > 1); the rest ran on the
//       connection thread
//   ps_page_service_connections_active                     gauge
//   ps_page_service_connections_total                      counter (accepted)
//   ps_page_service_commands_total{command,outcome}        counter
//       simple queries: command "pagestream_v2", "pagestream_v3", "ingest",
//       "import_basebackup", "other"; outcome "ok" or "error"
//   ps_page_service_protocol_errors_total                  counter
//       connections closed for a framing or protocol error
//   ps_page_service_ingest_records_total                   counter (puts applied)
//   ps_page_service_ingest_commits_total                   counter (commits applied)
//   ps_page_service_ingest_rejected_total                  counter (streams failed on a bad record)
//   ps_tenant_requests_total{tenant,request_type}          counter
//   ps_tenant_page_bytes_sent_total{tenant}                counter
//       bytes of pagestream responses (CopyData payloads) sent for the tenant
// (Per-tenant device IO bytes, ps_tenant_io_bytes_total, are counted by
// IoSettings.)
//
// Thread-safety: as common/metrics.h. The constructor and ForTenant() take
// the registry lock (call them at service / command start, not per request);
// updating a series is a few relaxed atomics.

#include <array>
#include <cstddef>
#include <string_view>

#include "common/metrics.h"
#include "layers/ids.h"

namespace pageserver::server {

// The pagestream request types, indexed by PagestreamTag's value.
inline constexpr size_t kPagestreamRequestTypes = 5;

enum class BatchBreakReason : uint8_t {
  kSizeCap = 0,
  kNonGetPage,
  kDrained,
  kLsnWait,
  kOtherMessage,
  kShutdown,
};
inline constexpr size_t kBatchBreakReasons = 6;
// "size_cap", "non_get_page", "drained", "lsn_wait", "other_message", "shutdown".
std::string_view BatchBreakReasonName(BatchBreakReason reason);

enum class PageServiceCommand : uint8_t {
  kPagestreamV2 = 0,
  kPagestreamV3,
  kIngest,
  kImportBasebackup,
  kOther,
};
inline constexpr size_t kPageServiceCommands = 5;
// "pagestream_v2", "pagestream_v3", "ingest", "import_basebackup", "other".
std::string_view PageServiceCommandName(PageServiceCommand command);

// The per-tenant series of one tenant, looked up once per command.
struct TenantRequestMetrics {
  std::array<common::Counter*, kPagestreamRequestTypes> requests{};  // by tag
  common::Counter* page_bytes_sent = nullptr;
};

class PageServiceMetrics {
 public:
  explicit PageServiceMetrics(common::Registry& registry);
  PageServiceMetrics(const PageServiceMetrics&) = delete;
  PageServiceMetrics& operator=(const PageServiceMetrics&) = delete;

  // REQUIRES: type < kPagestreamRequestTypes.
  common::Counter& requests(size_t type, bool ok) { return *requests_[type][ok ? 0 : 1]; }
  common::Histogram& request_seconds(size_t type) { return *request_seconds_[type]; }
  common::Counter& batch_breaks(BatchBreakReason reason) {
    return *batch_breaks_[static_cast<size_t>(reason)];
  }
  common::Counter& commands(PageServiceCommand command, bool ok) {
    return *commands_[static_cast<size_t>(command)][ok ? 0 : 1];
  }
  common::Histogram& lsn_wait_seconds() { return lsn_wait_seconds_; }
  common::Gauge& lsn_waiting() { return lsn_waiting_; }
  common::Histogram& batch_size() { return batch_size_; }
  common::Counter& pipelined_batches() { return pipelined_batches_; }
  common::Gauge& connections_active() { return connections_active_; }
  common::Counter& connections_total() { return connections_total_; }
  common::Counter& protocol_errors() { return protocol_errors_; }
  common::Counter& ingest_records() { return ingest_records_; }
  common::Counter& ingest_commits() { return ingest_commits_; }
  common::Counter& ingest_rejected() { return ingest_rejected_; }

  // The series of `tenant` (registered on first use).
  TenantRequestMetrics ForTenant(layers::TenantId tenant);

 private:
  common::Registry& registry_;
  std::array<std::array<common::Counter*, 2>, kPagestreamRequestTypes> requests_{};
  std::array<common::Histogram*, kPagestreamRequestTypes> request_seconds_{};
  std::array<common::Counter*, kBatchBreakReasons> batch_breaks_{};
  std::array<std::array<common::Counter*, 2>, kPageServiceCommands> commands_{};
  common::Histogram& lsn_wait_seconds_;
  common::Gauge& lsn_waiting_;
  common::Histogram& batch_size_;
  common::Counter& pipelined_batches_;
  common::Gauge& connections_active_;
  common::Counter& connections_total_;
  common::Counter& protocol_errors_;
  common::Counter& ingest_records_;
  common::Counter& ingest_commits_;
  common::Counter& ingest_rejected_;
};

}  // namespace pageserver::server
