#pragma once

// PageService: one Postgres-protocol (v3) connection of the page service,
// served on the calling thread. What a connection can do (RFC.md "Page
// service protocol"):
//
//   startup       SSLRequest / GSSENCRequest answered 'N'; StartupMessage
//                 v3.0; trust authentication (AuthenticationOk);
//                 ParameterStatus; BackendKeyData; ReadyForQuery.
//   simple query  pagestream_v2 <tenant> <timeline>   COPY BOTH, pagestream.h
//                 pagestream_v3 <tenant> <timeline>   COPY BOTH, pagestream.h
//                 ingest <tenant> <timeline>          COPY BOTH, ingest_stream.h
//                 import basebackup <tenant> <timeline> <lsn> [<pg_version>]
//                                                     COPY IN of a tar stream
//   Terminate     closes.
//
// Server-side batching: GetPage requests already received on the connection
// (up to `max_batch_size`, different LSNs allowed) are served by one
// Timeline::GetVectored call and their responses written with one send.
// A batch ends at a non-GetPage request, at a request for another
// timeline-relative LSN wait, when no more bytes are buffered, or at the
// size cap; the reason is a metric (ps_page_service_batch_break_total).
// With pipeline_depth > 1 up to that many batches of a connection are in
// execution at once on worker threads, answered in request order
// (page_service_pipeline.h).
//
// Errors: a pagestream request that fails (unknown relation, LSN errors,
// IO) gets a pagestream Error response and the connection goes on. A
// malformed, truncated, oversized or unknown message gets an ErrorResponse
// and the connection closes. Nothing a client sends crashes the process.
//
// Thread-safety: Serve() may run on many threads at once (one connection
// each); RequestStop() from any thread.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "layers/ids.h"
#include "server/page_service_metrics.h"
#include "server/tenant_manager.h"

namespace pageserver::server {

struct PageServiceOptions {
  // GetPage requests served by one read-path call (Neon: 32).
  size_t max_batch_size = 32;
  // GetPage batches of one connection in execution at once (worker threads
  // per connection, started on demand; page_service_pipeline.h). 1: the
  // connection thread serves one batch at a time.
  size_t pipeline_depth = 1;
  // How long a request waits for its LSN to be ingested (Neon's
  // wait_lsn_timeout: 60 s).
  std::chrono::milliseconds wait_lsn_timeout = std::chrono::seconds(60);
  // The largest protocol message accepted (an ingest CopyData holds many
  // records; pagestream requests are tiny).
  size_t max_message_bytes = size_t{16} << 20;
  // A connection idle this long in the startup phase is closed.
  std::chrono::milliseconds startup_timeout = std::chrono::seconds(30);
};

class PageService {
 public:
  // `tenants` and `registry` must outlive the service.
  PageService(TenantManager& tenants, common::Registry& registry, PageServiceOptions options);
  ~PageService();
  PageService(const PageService&) = delete;
  PageService& operator=(const PageService&) = delete;

  // Serves one accepted connection until the client leaves, a protocol
  // error, or a stop; closes `fd`. Blocks the calling thread (one of the
  // server's connection-handler threads). On stop: finishes the batches in
  // flight, answers them, sends an ErrorResponse ("pageserver is shutting
  // down") and closes. An ingest connection detaches from its timeline
  // before returning, so the timeline can be checkpointed from another
  // thread.
  void Serve(int fd);

  // Asks every Serve() to return soon (they poll their socket with a short
  // timeout to notice). Idempotent.
  void RequestStop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  PageServiceMetrics& metrics() { return *metrics_; }

 private:
  class Connection;
  using TimelineKey = std::pair<layers::TenantId, layers::TimelineId>;
  // Claims `key` for one ingest or import connection; false when another
  // holds it. ReleaseIngest undoes a successful claim.
  bool ClaimIngest(const TimelineKey& key);
  void ReleaseIngest(const TimelineKey& key);

  TenantManager& tenants_;
  const PageServiceOptions options_;
  std::unique_ptr<PageServiceMetrics> metrics_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> next_backend_pid_{1};
  std::mutex ingest_mu_;
  std::vector<TimelineKey> ingesting_;  // guarded by ingest_mu_
};

}  // namespace pageserver::server
