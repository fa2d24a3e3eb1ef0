#include "client/management_client.h"

#include <httplib.h>

#include <exception>
#include <string>
#include <utility>

namespace pageserver::client {
namespace {

using common::Result;
using common::StatusCode;
using Json = nlohmann::json;
using StatusT = common::Status;

StatusT StatusForHttp(int http_status, const std::string& message) {
  switch (http_status) {
    case 400:
      return StatusT::InvalidArgument(message);
    case 404:
      return StatusT::NotFound(message);
    case 409:
      return StatusT::AlreadyExists(message);
    case 412:
      return StatusT::Aborted(message);
    case 503:
      return StatusT::ResourceExhausted(message);
    case 504:
      return StatusT::TimedOut(message);
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return StatusT::InvalidArgument(message);
  return StatusT::Internal(message);
}

// The "error" field of a JSON error body, else the body itself.
std::string ErrorText(std::string_view body) {
  const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    const auto it = parsed.find("error");
    if (it != parsed.end() && it->is_string()) return it->get<std::string>();
  }
  return std::string(body);
}

Result<Json> ParseJson(std::string_view what, const std::string& body) {
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return StatusT::Corruption(std::string(what) +
                               ": the answer is not JSON: " + body.substr(0, 200));
  }
  return parsed;
}

std::string TransportErrorText(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "could not connect (is the pageserver's HTTP API listening there?)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "reading the answer failed (timed out or connection closed)";
    case httplib::Error::Write:
      return "sending the request failed";
    default:
      return "request failed: " + httplib::to_string(error);
  }
}

httplib::Result Perform(httplib::Client& http, std::string_view method, const std::string& path,
                        const std::string& body) {
  const char* type = "application/json";
  if (method == "GET") return http.Get(path);
  if (method == "POST") return http.Post(path, body, type);
  if (method == "PUT") return http.Put(path, body, type);
  return http.Delete(path);
}

std::string TenantPath(const layers::TenantId& tenant) { return "/v1/tenant/" + tenant.ToHex(); }

std::string TimelinePath(const layers::TenantId& tenant, const layers::TimelineId& timeline) {
  return TenantPath(tenant) + "/timeline/" + timeline.ToHex();
}

}  // namespace

Json TimelineCreateBody(const TimelineCreateRequest& request) {
  Json body = Json::object();
  if (request.new_timeline_id) body["new_timeline_id"] = request.new_timeline_id->ToHex();
  if (request.ancestor_timeline_id) {
    body["ancestor_timeline_id"] = request.ancestor_timeline_id->ToHex();
  }
  if (request.ancestor_start_lsn) {
    body["ancestor_start_lsn"] = request.ancestor_start_lsn->ToString();
  }
  if (request.start_lsn) body["start_lsn"] = request.start_lsn->ToString();
  if (request.pg_version) body["pg_version"] = *request.pg_version;
  return body;
}

Json TenantCreateBody(const std::optional<layers::TenantId>& tenant) {
  Json body = Json::object();
  if (tenant) body["new_tenant_id"] = tenant->ToHex();
  return body;
}

StatusT HttpErrorStatus(int http_status, std::string_view method, std::string_view path,
                        std::string_view body) {
  return StatusForHttp(http_status, std::string(method) + " " + std::string(path) + ": HTTP " +
                                        std::to_string(http_status) + ": " + ErrorText(body));
}

Result<layers::Lsn> LsnField(const Json& object, std::string_view field) {
  const std::string name(field);
  if (!object.is_object() || !object.contains(name)) {
    return StatusT::Corruption("the answer has no '" + name + "' field");
  }
  const Json& value = object[name];
  if (value.is_string()) {
    Result<layers::Lsn> lsn = layers::Lsn::Parse(value.get<std::string>());
    if (lsn.has_value()) return lsn;
    return StatusT::Corruption("field '" + name + "': " + std::string(lsn.error().message()));
  }
  if (value.is_number_unsigned()) return layers::Lsn{value.get<uint64_t>()};
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return layers::Lsn{uint64_t(value.get<int64_t>())};
  }
  return StatusT::Corruption("field '" + name +
                             "' is neither \"X/X\" nor a number: " + value.dump());
}

Result<std::unique_ptr<ManagementClient>> ManagementClient::Create(const std::string& base_url,
                                                                   Options options) {
  std::unique_ptr<httplib::Client> http;
  try {
    http = std::make_unique<httplib::Client>(base_url);
  } catch (const std::exception& e) {
    return StatusT::InvalidArgument("HTTP API URL '" + base_url + "': " + e.what());
  }
  if (!http->is_valid()) {
    return StatusT::InvalidArgument("HTTP API URL '" + base_url + "' is not usable");
  }
  http->set_connection_timeout(options.connect_timeout);
  http->set_read_timeout(options.read_timeout);
  http->set_write_timeout(options.read_timeout);
  return std::unique_ptr<ManagementClient>(new ManagementClient(base_url, std::move(http)));
}

ManagementClient::ManagementClient(std::string base_url, std::unique_ptr<httplib::Client> http)
    : base_url_(std::move(base_url)), http_(std::move(http)) {}

ManagementClient::~ManagementClient() = default;

Result<std::string> ManagementClient::Request(std::string_view method, const std::string& path,
                                              const std::optional<Json>& body) {
  const std::string text = body ? body->dump() : "";
  std::optional<httplib::Result> res;
  try {
    res.emplace(Perform(*http_, method, path, text));
  } catch (const std::exception& e) {
    return StatusT::IoError(std::string(method) + " " + base_url_ + path + ": " + e.what());
  }
  if (!*res) {
    return StatusT::IoError(std::string(method) + " " + base_url_ + path + ": " +
                            TransportErrorText(res->error()));
  }
  const httplib::Response& response = res->value();
  if (response.status < 200 || response.status >= 300) {
    return HttpErrorStatus(response.status, method, path, response.body);
  }
  return response.body;
}

Result<Json> ManagementClient::RequestJson(std::string_view method, const std::string& path,
                                           const std::optional<Json>& body) {
  ASSIGN_OR_RETURN(std::string text, Request(method, path, body));
  return ParseJson(std::string(method) + " " + path, text);
}

Result<Json> ManagementClient::ListTenants() { return RequestJson("GET", "/v1/tenant", {}); }

Result<layers::TenantId> ManagementClient::CreateTenant(std::optional<layers::TenantId> tenant) {
  ASSIGN_OR_RETURN(Json answer, RequestJson("POST", "/v1/tenant", TenantCreateBody(tenant)));
  if (!answer.is_object() || !answer.contains("id") || !answer["id"].is_string()) {
    return StatusT::Corruption("POST /v1/tenant: the answer has no \"id\": " + answer.dump());
  }
  Result<layers::TenantId> id = layers::TenantId::ParseHex(answer["id"].get<std::string>());
  if (!id.has_value()) {
    return StatusT::Corruption("POST /v1/tenant: " + std::string(id.error().message()));
  }
  return id;
}

Result<Json> ManagementClient::GetTenant(const layers::TenantId& tenant) {
  return RequestJson("GET", TenantPath(tenant), {});
}

StatusT ManagementClient::DeleteTenant(const layers::TenantId& tenant) {
  return Request("DELETE", TenantPath(tenant), {}).status();
}

Result<Json> ManagementClient::ListTimelines(const layers::TenantId& tenant) {
  return RequestJson("GET", TenantPath(tenant) + "/timeline", {});
}

Result<Json> ManagementClient::CreateTimeline(const layers::TenantId& tenant,
                                              const TimelineCreateRequest& request) {
  return RequestJson("POST", TenantPath(tenant) + "/timeline", TimelineCreateBody(request));
}

Result<Json> ManagementClient::GetTimeline(const layers::TenantId& tenant,
                                           const layers::TimelineId& timeline) {
  return RequestJson("GET", TimelinePath(tenant, timeline), {});
}

StatusT ManagementClient::DeleteTimeline(const layers::TenantId& tenant,
                                         const layers::TimelineId& timeline) {
  return Request("DELETE", TimelinePath(tenant, timeline), {}).status();
}

Result<layers::Lsn> ManagementClient::LastRecordLsn(const layers::TenantId& tenant,
                                                    const layers::TimelineId& timeline) {
  ASSIGN_OR_RETURN(Json detail, GetTimeline(tenant, timeline));
  Result<layers::Lsn> lsn = LsnField(detail, "last_record_lsn");
  if (lsn.has_value()) return lsn;
  return lsn.error().WithContext("GET " + TimelinePath(tenant, timeline));
}

Result<Json> ManagementClient::ListRelations(const layers::TenantId& tenant,
                                             const layers::TimelineId& timeline,
                                             std::optional<layers::Lsn> lsn) {
  std::string path = TimelinePath(tenant, timeline) + "/relations";
  if (lsn.has_value()) path += "?lsn=" + lsn->ToString();
  return RequestJson("GET", path, {});
}

StatusT ManagementClient::Checkpoint(const layers::TenantId& tenant,
                                     const layers::TimelineId& timeline) {
  return Request("PUT", TimelinePath(tenant, timeline) + "/checkpoint", {}).status();
}

StatusT ManagementClient::Compact(const layers::TenantId& tenant,
                                  const layers::TimelineId& timeline) {
  return Request("PUT", TimelinePath(tenant, timeline) + "/compact", {}).status();
}

StatusT ManagementClient::SetIoEngine(std::string_view engine) {
  return Request("PUT", "/v1/io_engine", Json(std::string(engine))).status();
}

StatusT ManagementClient::SetIoMode(std::string_view mode) {
  return Request("PUT", "/v1/io_mode", Json(std::string(mode))).status();
}

Result<Json> ManagementClient::GetStatus() { return RequestJson("GET", "/v1/status", {}); }

Result<std::string> ManagementClient::Metrics() { return Request("GET", "/metrics", {}); }

}  // namespace pageserver::client
