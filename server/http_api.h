#pragma once

// HttpApi: the pageserver's management API and /metrics, as routes on a
// cpp-httplib server (RFC.md "HTTP API" lists every route, body and error).
//
//   GET    /metrics                                   Prometheus text
//   GET    /v1/status                                 engine, mode, cache, tenants
//   GET    /v1/tenant                                 [tenant]
//   POST   /v1/tenant                                 {"new_tenant_id"?} -> 201 {"id"}
//   GET    /v1/tenant/<t>                             tenant
//   DELETE /v1/tenant/<t>                             {"id"}
//   GET    /v1/tenant/<t>/timeline                    [timeline]
//   POST   /v1/tenant/<t>/timeline                    {...} -> 201 timeline
//   GET    /v1/tenant/<t>/timeline/<tl>               timeline
//   DELETE /v1/tenant/<t>/timeline/<tl>               {"id"}
//   PUT    /v1/tenant/<t>/timeline/<tl>/checkpoint    {"last_record_lsn", "disk_consistent_lsn"}
//   PUT    /v1/tenant/<t>/timeline/<tl>/compact       {"l0_compacted", "l1_written",
//   "images_created"} PUT    /v1/io_engine  "std-fs" | "io-uring" | "auto"   {"engine"} PUT
//   /v1/io_mode    "buffered" | "direct" | "direct-rw"  {"mode"}
//
// Errors are JSON {"error": "<message>"} with the status of the Status code:
// InvalidArgument, Unsupported and malformed requests 400; NotFound 404
// (also an unknown route); AlreadyExists 409; Aborted 503 (shutting down,
// broken timeline); anything else 500. Two route-specific cases: a
// checkpoint of a timeline whose ingest connection is attached is 409, and
// deleting a timeline that has branches is 409.
//
// Thread-safety: httplib runs handlers on its worker threads; every handler
// only calls thread-safe methods (TenantManager, IoSettings, PageCache,
// Registry, the status source), so any number may run at once.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/metrics.h"
#include "page_cache/page_cache.h"
#include "server/io_settings.h"
#include "server/tenant_manager.h"

namespace httplib {
class Server;
}

namespace pageserver::server {

// What the daemon adds to /v1/status: things the API does not own.
struct DaemonStatus {
  std::string listen_pg_addr;    // "127.0.0.1:64000" (the bound port)
  std::string listen_pg_socket;  // "" without a Unix socket
  std::string listen_http_addr;
  double uptime_seconds = 0;
  uint64_t connections_active = 0;  // being served by a handler thread
  uint64_t connections_queued = 0;  // accepted, waiting for a handler
};

// Implemented by the daemon (Server); tests pass their own. Must be
// thread-safe.
class DaemonStatusSource {
 public:
  virtual ~DaemonStatusSource() = default;
  virtual DaemonStatus GetDaemonStatus() const = 0;
};

// The root timeline start LSN when POST /v1/tenant/<t>/timeline gives none:
// 0/1000000, the start of WAL segment 1 (16 MiB segments), which is where a
// fresh initdb's WAL begins, so any real cluster's LSNs (an import, ingest
// from a compute) are above it.
inline constexpr uint64_t kDefaultRootStartLsn = 0x1000000;
// Postgres major version of a root timeline when the request gives none.
inline constexpr uint32_t kDefaultPgVersion = 15;

class HttpApi {
 public:
  // Every reference must outlive the object and the server it registers
  // on. `daemon` may be nullptr (the status then has no daemon fields).
  HttpApi(TenantManager& tenants, IoSettings& io, page_cache::PageCache& cache,
          common::Registry& registry, const DaemonStatusSource* daemon);
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Registers every route, the 404 for unknown paths and the JSON 500 for
  // an escaping exception on `server`. Call before the server listens.
  void Register(httplib::Server& server);

 private:
  class Handlers;
  TenantManager& tenants_;
  IoSettings& io_;
  page_cache::PageCache& cache_;
  common::Registry& registry_;
  const DaemonStatusSource* daemon_;
};

}  // namespace pageserver::server
