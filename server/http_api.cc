#include "server/http_api.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "layers/ids.h"
#include "layers/lsn.h"
#include "timeline/pg_mapping.h"

namespace pageserver::server {

using common::Result;
using common::Status;
using common::StatusCode;
using json = nlohmann::json;
using layers::Lsn;
using layers::TenantId;
using layers::TimelineId;

namespace {

// A handler's answer: an HTTP status and a JSON body.
struct Reply {
  int status = 200;
  json body;
};

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kAborted:
      return 503;
    default:
      return 500;
  }
}

Reply ErrorReply(int http_status, std::string_view message) {
  return Reply{http_status, json{{"error", message}}};
}

Reply ErrorReply(const Status& status) {
  return ErrorReply(HttpStatusFor(status), status.ToString());
}

// Runs `body` and turns an error Status into its reply.
template <typename F>
Reply Guarded(F&& body) {
  Result<Reply> reply = body();
  if (!reply.has_value()) return ErrorReply(reply.error());
  return std::move(*reply);
}

// The request body as a JSON object; an empty body is {} when allowed.
Result<json> ObjectBody(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status::InvalidArgument("request body is not valid JSON");
  if (!body.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return body;
}

// The request body as one JSON string ("std-fs").
Result<std::string> StringBody(const httplib::Request& req) {
  const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_string()) {
    return Status::InvalidArgument("request body must be a JSON string, e.g. \"std-fs\"");
  }
  return body.get<std::string>();
}

// InvalidArgument naming the first field of `body` not in `known`.
Status CheckFields(const json& body, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Status::InvalidArgument("unknown field '" + key + "'");
    }
  }
  return Status::Ok();
}

// The string field `name`, absent -> nullopt.
Result<std::optional<std::string>> OptionalString(const json& body, const char* name) {
  if (!body.contains(name) || body[name].is_null()) return std::optional<std::string>();
  if (!body[name].is_string()) {
    return Status::InvalidArgument(std::string("field '") + name + "' must be a string");
  }
  return std::optional<std::string>(body[name].get<std::string>());
}

template <typename Id>
Result<std::optional<Id>> OptionalId(const json& body, const char* name) {
  ASSIGN_OR_RETURN(const std::optional<std::string> text, OptionalString(body, name));
  if (!text.has_value()) return std::optional<Id>();
  Result<Id> id = Id::ParseHex(*text);
  if (!id.has_value()) return id.error().WithContext(name);
  return std::optional<Id>(*id);
}

Result<std::optional<Lsn>> OptionalLsn(const json& body, const char* name) {
  ASSIGN_OR_RETURN(const std::optional<std::string> text, OptionalString(body, name));
  if (!text.has_value()) return std::optional<Lsn>();
  Result<Lsn> lsn = Lsn::Parse(*text);
  if (!lsn.has_value()) return lsn.error().WithContext(name);
  if (!lsn->valid()) return Status::InvalidArgument(std::string(name) + ": LSN 0/0 is invalid");
  return std::optional<Lsn>(*lsn);
}

template <typename Id>
Result<Id> PathId(const httplib::Request& req, size_t index, std::string_view what) {
  Result<Id> id = Id::ParseHex(req.matches[index].str());
  if (!id.has_value()) return id.error().WithContext(std::string(what) + " id in the path");
  return *id;
}

json LsnJson(Lsn lsn) { return lsn.ToString(); }

json TimelineJson(const timeline::Timeline& tl) {
  const timeline::TimelineStats s = tl.Stats();
  const bool branch = tl.ancestor() != nullptr;
  return json{
      {"tenant_id", tl.tenant_id().ToHex()},
      {"timeline_id", tl.timeline_id().ToHex()},
      {"ancestor_timeline_id", branch ? json(tl.ancestor()->timeline_id().ToHex()) : json()},
      {"ancestor_lsn", branch ? LsnJson(tl.ancestor_lsn()) : json()},
      {"pg_version", tl.metadata().pg_version},
      {"last_record_lsn", LsnJson(s.last_record_lsn)},
      {"disk_consistent_lsn", LsnJson(s.disk_consistent_lsn)},
      {"gc_cutoff_lsn", LsnJson(s.gc_cutoff)},
      {"broken", tl.broken()},
      {"broken_reason", tl.broken() ? json(*tl.broken_reason()) : json()},
      {"layers",
       {{"l0_deltas", s.l0_deltas},
        {"l1_deltas", s.l1_deltas},
        {"images", s.images},
        {"layer_bytes", s.layer_bytes},
        {"in_memory_bytes", s.in_memory_bytes},
        {"frozen_layers", s.frozen_layers}}},
  };
}

json TenantJson(const timeline::Tenant& tenant) {
  json timelines = json::array();
  for (const auto& tl : tenant.Timelines()) timelines.push_back(tl->timeline_id().ToHex());
  return json{{"id", tenant.tenant_id().ToHex()},
              {"timelines", std::move(timelines)},
              {"problems", tenant.problems()}};
}

// A valid page_cache_size for `bytes`: rounded up to a whole MiB.
uint64_t RoundUpToMiB(uint64_t bytes) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

}  // namespace

// The route handlers. Each returns a Reply; Register() writes it.
class HttpApi::Handlers {
 public:
  explicit Handlers(HttpApi& api) : api_(api) {}

  Reply GetStatus() const {
    json body = {{"engine", api_.io_.engine_name()},
                 {"mode", std::string(virtual_file::IoModeName(api_.io_.mode()))},
                 {"io_alignment", api_.io_.io_alignment()},
                 {"page_cache", CacheJson()},
                 {"tenants", api_.tenants_.Tenants().size()},
                 {"tenant_problems", api_.tenants_.problems()}};
    if (api_.daemon_ != nullptr) {
      const DaemonStatus d = api_.daemon_->GetDaemonStatus();
      body["listen_pg_addr"] = d.listen_pg_addr;
      body["listen_pg_socket"] = d.listen_pg_socket;
      body["listen_http_addr"] = d.listen_http_addr;
      body["uptime_seconds"] = d.uptime_seconds;
      body["connections"] = {{"active", d.connections_active}, {"queued", d.connections_queued}};
    }
    return Reply{200, std::move(body)};
  }

  Reply ListTenants() const {
    json list = json::array();
    for (const auto& t : api_.tenants_.Tenants()) list.push_back(TenantJson(*t));
    return Reply{200, std::move(list)};
  }

  Reply CreateTenant(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const json body, ObjectBody(req));
      RETURN_IF_ERROR(CheckFields(body, {"new_tenant_id"}));
      ASSIGN_OR_RETURN(const std::optional<TenantId> id,
                       OptionalId<TenantId>(body, "new_tenant_id"));
      const TenantId tenant = id.value_or(TenantId::Generate());
      RETURN_IF_ERROR(api_.tenants_.CreateTenant(tenant).error());
      spdlog::info("http: created tenant {}", tenant.ToHex());
      return Reply{201, json{{"id", tenant.ToHex()}}};
    });
  }

  Reply GetTenant(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const TenantId id, PathId<TenantId>(req, 1, "tenant"));
      ASSIGN_OR_RETURN(const auto tenant, api_.tenants_.GetTenant(id));
      return Reply{200, TenantJson(*tenant)};
    });
  }

  Reply DeleteTenant(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const TenantId id, PathId<TenantId>(req, 1, "tenant"));
      RETURN_IF_ERROR(api_.tenants_.DeleteTenant(id));
      spdlog::info("http: deleted tenant {}", id.ToHex());
      return Reply{200, json{{"id", id.ToHex()}}};
    });
  }

  Reply ListTimelines(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const TenantId id, PathId<TenantId>(req, 1, "tenant"));
      ASSIGN_OR_RETURN(const auto tenant, api_.tenants_.GetTenant(id));
      json list = json::array();
      for (const auto& tl : tenant->Timelines()) list.push_back(TimelineJson(*tl));
      return Reply{200, std::move(list)};
    });
  }

  Reply CreateTimeline(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const TenantId tenant, PathId<TenantId>(req, 1, "tenant"));
      ASSIGN_OR_RETURN(const json body, ObjectBody(req));
      ASSIGN_OR_RETURN(const auto tl, CreateTimelineFrom(tenant, body));
      spdlog::info("http: created timeline {}/{}", tenant.ToHex(), tl->timeline_id().ToHex());
      return Reply{201, TimelineJson(*tl)};
    });
  }

  Reply GetTimeline(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const auto tl, TimelineOf(req));
      return Reply{200, TimelineJson(*tl)};
    });
  }

  Reply DeleteTimeline(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const TenantId tenant, PathId<TenantId>(req, 1, "tenant"));
      ASSIGN_OR_RETURN(const TimelineId id, PathId<TimelineId>(req, 2, "timeline"));
      const common::Status st = api_.tenants_.DeleteTimeline(tenant, id);
      // InvalidArgument from a delete means the timeline has branches.
      if (st.IsInvalidArgument()) return ErrorReply(409, st.ToString());
      RETURN_IF_ERROR(st);
      spdlog::info("http: deleted timeline {}/{}", tenant.ToHex(), id.ToHex());
      return Reply{200, json{{"id", id.ToHex()}}};
    });
  }

  // Every relation fork of the timeline at ?lsn=X/X (default: its
  // last_record_lsn), from the database directory, each database's relation
  // directory and each fork's size: the keyspace a load generator or a
  // checker needs, which the page service protocol cannot list. A timeline
  // with nothing imported has no database directory: an empty list.
  Reply ListRelations(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const auto tl, TimelineOf(req));
      Lsn lsn = tl->last_record_lsn();
      if (req.has_param("lsn")) {
        ASSIGN_OR_RETURN(lsn, Lsn::Parse(req.get_param_value("lsn")));
      }
      json list = json::array();
      std::vector<timeline::DbDirEntry> dbs;
      if (auto dir = timeline::GetDbDir(*tl, lsn); dir.has_value()) {
        dbs = std::move(*dir);
      } else if (!dir.error().IsNotFound()) {
        return dir.error();
      }
      for (const auto& db : dbs) {
        ASSIGN_OR_RETURN(const auto rels, timeline::GetRelDir(*tl, db.spcnode, db.dbnode, lsn));
        for (const auto& r : rels) {
          const layers::RelTag rel{db.spcnode, db.dbnode, r.relnode, r.forknum};
          ASSIGN_OR_RETURN(const uint32_t nblocks, timeline::GetRelSize(*tl, rel, lsn));
          list.push_back({{"spcnode", rel.spcnode},
                          {"dbnode", rel.dbnode},
                          {"relnode", rel.relnode},
                          {"forknum", rel.forknum},
                          {"nblocks", nblocks}});
        }
      }
      return Reply{200, json{{"lsn", LsnJson(lsn)}, {"relations", std::move(list)}}};
    });
  }

  // Timeline::Checkpoint runs on the calling thread when no ingest thread
  // is attached; with one attached it refuses (InvalidArgument): the open
  // layer's writes can only be reaped on the ingest thread, so the answer is
  // 409 and the data is checkpointed by the ingest connection's own
  // checkpoint_distance/timeout, its end, or shutdown.
  Reply Checkpoint(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const auto tl, TimelineOf(req));
      const common::Status st = tl->Checkpoint();
      if (st.IsInvalidArgument()) {
        return ErrorReply(409, "timeline " + tl->timeline_id().ToHex() +
                                   " has an ingest connection attached; it is checkpointed "
                                   "when that connection ends (" +
                                   st.ToString() + ")");
      }
      RETURN_IF_ERROR(st);
      return Reply{200, json{{"last_record_lsn", LsnJson(tl->last_record_lsn())},
                             {"disk_consistent_lsn", LsnJson(tl->disk_consistent_lsn())}}};
    });
  }

  // Compact(force) merges every L0 (at least two); CreateImages is forced
  // with ?force_image_layer_creation=true, else it follows
  // image_creation_threshold.
  Reply Compact(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const auto tl, TimelineOf(req));
      const bool force_images = req.get_param_value("force_image_layer_creation") == "true";
      ASSIGN_OR_RETURN(const timeline::CompactionResult compacted, tl->Compact(/*force=*/true));
      ASSIGN_OR_RETURN(const size_t images, tl->CreateImages(force_images));
      return Reply{200, json{{"l0_compacted", compacted.inputs},
                             {"l1_written", compacted.outputs},
                             {"images_created", images}}};
    });
  }

  Reply SetEngine(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const std::string text, StringBody(req));
      ASSIGN_OR_RETURN(const io_engine::IoEngineKind kind, io_engine::ParseIoEngineKind(text));
      RETURN_IF_ERROR(api_.io_.SetEngine(kind));
      spdlog::info("http: io engine for files opened from now on: {}", api_.io_.engine_name());
      return Reply{200, json{{"engine", api_.io_.engine_name()}}};
    });
  }

  Reply SetMode(const httplib::Request& req) const {
    return Guarded([&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(const std::string text, StringBody(req));
      ASSIGN_OR_RETURN(const virtual_file::IoMode mode, virtual_file::ParseIoMode(text));
      api_.io_.SetMode(mode);
      spdlog::info("http: io mode for files opened from now on: {}",
                   virtual_file::IoModeName(mode));
      return Reply{200, json{{"mode", std::string(virtual_file::IoModeName(mode))}}};
    });
  }

  std::string Metrics() const {
    api_.cache_.Tick();  // publishes the cache counters and folds the overload rates
    return api_.registry_.RenderPrometheusText();
  }

 private:
  json CacheJson() const {
    page_cache::PageCache& cache = api_.cache_;
    const page_cache::PageCache::WorkingSetReport ws = cache.WorkingSet();
    const uint64_t estimate = ws.pages_for_target * page_cache::kPageSize;
    json curve = json::array();
    for (const page_cache::CurvePoint& p : ws.curve) {
      curve.push_back(
          {{"size_bytes", p.cache_pages * page_cache::kPageSize}, {"hit_rate", p.hit_rate}});
    }
    return json{
        {"size_bytes", cache.size_bytes()},
        {"pages", cache.pages()},
        {"hit_rate", cache.Stats().hit_rate()},
        {"replacement_rate_1m", cache.overload().Rate1m()},
        {"replacement_rate_5m", cache.overload().Rate5m()},
        {"overloaded", cache.overload().overloaded()},
        {"overload_threshold", cache.overload().options().threshold_per_second},
        {"target_hit_rate", ws.target_hit_rate},
        {"working_set_estimate_bytes", estimate},
        {"recommended_size_bytes", RoundUpToMiB(estimate)},
        {"estimate_min_resolved_bytes",
         cache.estimator().min_resolved_pages() * page_cache::kPageSize},
        {"hit_rate_curve", std::move(curve)},
    };
  }

  Result<std::shared_ptr<timeline::Timeline>> TimelineOf(const httplib::Request& req) const {
    ASSIGN_OR_RETURN(const TenantId tenant, PathId<TenantId>(req, 1, "tenant"));
    ASSIGN_OR_RETURN(const TimelineId id, PathId<TimelineId>(req, 2, "timeline"));
    return api_.tenants_.GetTimeline(tenant, id);
  }

  Result<std::shared_ptr<timeline::Timeline>> CreateTimelineFrom(TenantId tenant,
                                                                 const json& body) const {
    RETURN_IF_ERROR(CheckFields(body, {"new_timeline_id", "ancestor_timeline_id",
                                       "ancestor_start_lsn", "start_lsn", "pg_version"}));
    ASSIGN_OR_RETURN(const auto new_id, OptionalId<TimelineId>(body, "new_timeline_id"));
    ASSIGN_OR_RETURN(const auto ancestor, OptionalId<TimelineId>(body, "ancestor_timeline_id"));
    ASSIGN_OR_RETURN(const auto ancestor_lsn, OptionalLsn(body, "ancestor_start_lsn"));
    ASSIGN_OR_RETURN(const auto start_lsn, OptionalLsn(body, "start_lsn"));
    ASSIGN_OR_RETURN(const std::optional<uint32_t> pg_version, PgVersion(body));
    const TimelineId id = new_id.value_or(TimelineId::Generate());
    if (!ancestor.has_value()) {
      if (ancestor_lsn.has_value()) {
        return Status::InvalidArgument("ancestor_start_lsn needs ancestor_timeline_id");
      }
      return api_.tenants_.CreateTimeline(tenant, id, start_lsn.value_or(Lsn{kDefaultRootStartLsn}),
                                          pg_version.value_or(kDefaultPgVersion));
    }
    if (start_lsn.has_value()) {
      return Status::InvalidArgument(
          "start_lsn is for root timelines; a branch takes "
          "ancestor_start_lsn");
    }
    ASSIGN_OR_RETURN(const auto parent, api_.tenants_.GetTimeline(tenant, *ancestor));
    if (pg_version.has_value() && *pg_version != parent->metadata().pg_version) {
      return Status::InvalidArgument("pg_version " + std::to_string(*pg_version) +
                                     " differs from the ancestor's " +
                                     std::to_string(parent->metadata().pg_version));
    }
    // Neon's default branch point: the ancestor's last_record_lsn.
    const Lsn lsn = ancestor_lsn.value_or(parent->last_record_lsn());
    return api_.tenants_.CreateBranch(tenant, id, BranchSpec{*ancestor, lsn});
  }

  // pg_version: an integer 14..17 (the Postgres majors Neon supports).
  static Result<std::optional<uint32_t>> PgVersion(const json& body) {
    if (!body.contains("pg_version") || body["pg_version"].is_null()) {
      return std::optional<uint32_t>();
    }
    const json& v = body["pg_version"];
    if (!v.is_number_integer() || v.get<int64_t>() < 14 || v.get<int64_t>() > 17) {
      return Status::InvalidArgument("field 'pg_version' must be an integer in [14, 17]");
    }
    return std::optional<uint32_t>(v.get<uint32_t>());
  }

  HttpApi& api_;
};

HttpApi::HttpApi(TenantManager& tenants, IoSettings& io, page_cache::PageCache& cache,
                 common::Registry& registry, const DaemonStatusSource* daemon)
    : tenants_(tenants), io_(io), cache_(cache), registry_(registry), daemon_(daemon) {}

namespace {

void Write(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  // Messages may quote request bytes: replace invalid UTF-8 rather than throw.
  res.set_content(reply.body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

}  // namespace

void HttpApi::Register(httplib::Server& server) {
  // The handlers live as long as the lambdas that share them.
  auto h = std::make_shared<Handlers>(*this);
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  const std::string tenant = R"(/v1/tenant/([^/]+))";
  const std::string timeline = tenant + R"(/timeline/([^/]+))";

  server.Get("/metrics", [h](Req, Res res) {
    res.set_content(h->Metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/v1/status", [h](Req, Res res) { Write(res, h->GetStatus()); });
  server.Get("/v1/tenant", [h](Req, Res res) { Write(res, h->ListTenants()); });
  server.Post("/v1/tenant", [h](Req req, Res res) { Write(res, h->CreateTenant(req)); });
  server.Get(tenant, [h](Req req, Res res) { Write(res, h->GetTenant(req)); });
  server.Delete(tenant, [h](Req req, Res res) { Write(res, h->DeleteTenant(req)); });
  server.Get(tenant + "/timeline", [h](Req req, Res res) { Write(res, h->ListTimelines(req)); });
  server.Post(tenant + "/timeline", [h](Req req, Res res) { Write(res, h->CreateTimeline(req)); });
  server.Get(timeline, [h](Req req, Res res) { Write(res, h->GetTimeline(req)); });
  server.Delete(timeline, [h](Req req, Res res) { Write(res, h->DeleteTimeline(req)); });
  server.Get(timeline + "/relations", [h](Req req, Res res) { Write(res, h->ListRelations(req)); });
  server.Put(timeline + "/checkpoint", [h](Req req, Res res) { Write(res, h->Checkpoint(req)); });
  server.Put(timeline + "/compact", [h](Req req, Res res) { Write(res, h->Compact(req)); });
  server.Put("/v1/io_engine", [h](Req req, Res res) { Write(res, h->SetEngine(req)); });
  server.Put("/v1/io_mode", [h](Req req, Res res) { Write(res, h->SetMode(req)); });

  // Unknown routes (httplib's 404 has no body) and escaping exceptions.
  server.set_error_handler([](Req req, Res res) {
    if (!res.body.empty()) return;
    Write(res, ErrorReply(res.status, "no route for " + req.method + " " + req.path));
  });
  server.set_exception_handler([](Req req, Res res, std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http: {} {}: {}", req.method, req.path, what);
    Write(res, ErrorReply(500, "internal error: " + what));
  });
}

}  // namespace pageserver::server
