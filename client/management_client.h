#pragma once

// ManagementClient: a client of the pageserver's HTTP management API
// (cpp-httplib). Routes, as the server implements them (RFC.md "HTTP API"):
//
//   GET    /v1/tenant                              -> [ tenant, ... ]
//   POST   /v1/tenant {"new_tenant_id": hex?}      -> 201 {"id": hex}
//   GET    /v1/tenant/{t}                          -> tenant detail
//   DELETE /v1/tenant/{t}
//   GET    /v1/tenant/{t}/timeline                 -> [ timeline detail, ... ]
//   POST   /v1/tenant/{t}/timeline {"new_timeline_id": hex?,
//          "ancestor_timeline_id": hex?, "ancestor_start_lsn": "X/X"?,
//          "start_lsn": "X/X"?, "pg_version": 15?}  -> 201 timeline detail
//   GET    /v1/tenant/{t}/timeline/{tl}            -> timeline detail
//   DELETE /v1/tenant/{t}/timeline/{tl}
//   PUT    /v1/tenant/{t}/timeline/{tl}/checkpoint
//   PUT    /v1/tenant/{t}/timeline/{tl}/compact
//   PUT    /v1/io_engine "std-fs"                  (a JSON string body)
//   PUT    /v1/io_mode "direct"
//   GET    /v1/status                              -> status JSON
//   GET    /metrics                                -> Prometheus text
//
// Errors: the server answers {"error": "..."} with a fitting HTTP status;
// that becomes a Status carrying the message, by HTTP status:
//   400 InvalidArgument, 404 NotFound, 409 AlreadyExists, 412 Aborted,
//   503 ResourceExhausted, 504 TimedOut, other 4xx InvalidArgument, 5xx
//   Internal. A request that does not reach the server (refused, timed out)
//   is IoError naming the URL; a 2xx body that is not the JSON expected is
//   Corruption. Never throws.
//
// Thread-safety: none; one thread per client (httplib::Client is not shared).

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"

namespace httplib {
class Client;
}

namespace pageserver::client {

// POST /v1/tenant/{t}/timeline's request. A branch sets ancestor_timeline_id
// (and optionally ancestor_start_lsn); a new root timeline may set start_lsn.
struct TimelineCreateRequest {
  std::optional<layers::TimelineId> new_timeline_id;  // server generates one when unset
  std::optional<layers::TimelineId> ancestor_timeline_id;
  std::optional<layers::Lsn> ancestor_start_lsn;
  std::optional<layers::Lsn> start_lsn;
  std::optional<int> pg_version;
};

// The JSON body for a create request: only the fields that are set, ids as
// lower-case hex, LSNs as "X/X".
nlohmann::json TimelineCreateBody(const TimelineCreateRequest& request);
nlohmann::json TenantCreateBody(const std::optional<layers::TenantId>& tenant);

// The Status for a non-2xx answer: the code from the HTTP status (table
// above) and the message "<METHOD> <path>: HTTP <status>: <error>", where
// <error> is the body's "error" field, or the raw body when it is not JSON.
common::Status HttpErrorStatus(int http_status, std::string_view method, std::string_view path,
                               std::string_view body);

// An LSN field of a detail: "X/X" text (Neon's form) or a number.
common::Result<layers::Lsn> LsnField(const nlohmann::json& object, std::string_view field);

class ManagementClient {
 public:
  struct Options {
    std::chrono::seconds connect_timeout{5};
    // Checkpoint and compaction answer when done; they may take a while.
    std::chrono::seconds read_timeout{300};
  };

  // `base_url` like "http://127.0.0.1:9898". InvalidArgument for a URL
  // httplib cannot use.
  static common::Result<std::unique_ptr<ManagementClient>> Create(const std::string& base_url,
                                                                  Options options);
  static common::Result<std::unique_ptr<ManagementClient>> Create(const std::string& base_url) {
    return Create(base_url, Options());
  }
  ~ManagementClient();
  ManagementClient(const ManagementClient&) = delete;
  ManagementClient& operator=(const ManagementClient&) = delete;

  common::Result<nlohmann::json> ListTenants();
  // The new tenant's id (the given one, or the server's choice).
  common::Result<layers::TenantId> CreateTenant(std::optional<layers::TenantId> tenant);
  common::Result<nlohmann::json> GetTenant(const layers::TenantId& tenant);
  common::Status DeleteTenant(const layers::TenantId& tenant);

  common::Result<nlohmann::json> ListTimelines(const layers::TenantId& tenant);
  // The new timeline's detail.
  common::Result<nlohmann::json> CreateTimeline(const layers::TenantId& tenant,
                                                const TimelineCreateRequest& request);
  common::Result<nlohmann::json> GetTimeline(const layers::TenantId& tenant,
                                             const layers::TimelineId& timeline);
  common::Status DeleteTimeline(const layers::TenantId& tenant, const layers::TimelineId& timeline);
  // The detail's "last_record_lsn".
  common::Result<layers::Lsn> LastRecordLsn(const layers::TenantId& tenant,
                                            const layers::TimelineId& timeline);
  // GET .../relations[?lsn=X/X]: {"lsn": "X/X", "relations": [{"spcnode",
  // "dbnode", "relnode", "forknum", "nblocks"}, ...]}, every relation fork
  // at `lsn` (absent: the timeline's last_record_lsn).
  common::Result<nlohmann::json> ListRelations(const layers::TenantId& tenant,
                                               const layers::TimelineId& timeline,
                                               std::optional<layers::Lsn> lsn);
  common::Status Checkpoint(const layers::TenantId& tenant, const layers::TimelineId& timeline);
  common::Status Compact(const layers::TenantId& tenant, const layers::TimelineId& timeline);

  // "std-fs", "io-uring", "auto" / "buffered", "direct", "direct-rw".
  common::Status SetIoEngine(std::string_view engine);
  common::Status SetIoMode(std::string_view mode);
  common::Result<nlohmann::json> GetStatus();
  common::Result<std::string> Metrics();

  const std::string& base_url() const { return base_url_; }

 private:
  ManagementClient(std::string base_url, std::unique_ptr<httplib::Client> http);
  // Performs one request; the 2xx body, or the mapped error.
  common::Result<std::string> Request(std::string_view method, const std::string& path,
                                      const std::optional<nlohmann::json>& body);
  common::Result<nlohmann::json> RequestJson(std::string_view method, const std::string& path,
                                             const std::optional<nlohmann::json>& body);

  std::string base_url_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace pageserver::client
