// `pagectl tenant ...` and `pagectl timeline ...`: the HTTP management API
// through client::ManagementClient. Human output prints the server's JSON
// fields as aligned "label value" lines, so fields the server adds show up
// without a change here; --json prints the server's JSON as is.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "client/management_client.h"
#include "tools/pagectl/client_commands.h"
#include "tools/pagectl/layer_commands.h"
#include "tools/pagectl/layer_format.h"

namespace pageserver::pagectl {
namespace {

using client::ManagementClient;
using common::Result;
using common::Status;
using layers::Lsn;
using nlohmann::json;

std::string ScalarText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

// One "label value" line per field of an object; anything else as JSON.
void PrintDetail(const json& detail) {
  if (!detail.is_object()) {
    std::printf("%s\n", ScalarText(detail).c_str());
    return;
  }
  for (const auto& [key, value] : detail.items()) PrintField(key, ScalarText(value));
}

// A list answer: one block per element, separated by blank lines.
void PrintList(const json& list, std::string_view empty_text) {
  if (!list.is_array()) return PrintDetail(list);
  if (list.empty()) std::printf("%.*s\n", static_cast<int>(empty_text.size()), empty_text.data());
  bool first = true;
  for (const json& element : list) {
    if (!first && element.is_object()) std::printf("\n");
    first = false;
    PrintDetail(element);
  }
}

void PrintJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

int PrintAnswer(const Result<json>& answer, bool as_json, bool is_list, std::string_view empty) {
  if (!answer.has_value()) return Fail(answer.error());
  if (as_json) {
    PrintJson(*answer);
  } else if (is_list) {
    PrintList(*answer, empty);
  } else {
    PrintDetail(*answer);
  }
  return kExitOk;
}

Result<std::unique_ptr<ManagementClient>> Connect(const ManagementArgs& args) {
  return ManagementClient::Create(args.http);
}

Result<layers::TenantId> TenantArg(const ManagementArgs& args) {
  if (!args.tenant.has_value()) return Status::InvalidArgument("--tenant is required");
  return layers::TenantId::ParseHex(*args.tenant);
}

Result<layers::TimelineId> TimelineArg(const std::optional<std::string>& text,
                                       std::string_view option) {
  if (!text.has_value()) {
    return Status::InvalidArgument(std::string(option) + " is required");
  }
  return layers::TimelineId::ParseHex(*text);
}

Result<std::optional<Lsn>> OptionalLsn(const std::optional<std::string>& text) {
  if (!text.has_value()) return std::optional<Lsn>();
  ASSIGN_OR_RETURN(const Lsn lsn, Lsn::Parse(*text));
  return std::optional<Lsn>(lsn);
}

// The create/branch request from the options; `branch` requires --ancestor.
Result<client::TimelineCreateRequest> CreateRequest(const ManagementArgs& args, bool branch) {
  client::TimelineCreateRequest request;
  if (args.timeline.has_value()) {
    ASSIGN_OR_RETURN(request.new_timeline_id, TimelineArg(args.timeline, "--timeline"));
  }
  if (branch) {
    ASSIGN_OR_RETURN(request.ancestor_timeline_id, TimelineArg(args.ancestor, "--ancestor"));
    ASSIGN_OR_RETURN(request.ancestor_start_lsn, OptionalLsn(args.ancestor_lsn));
  }
  ASSIGN_OR_RETURN(request.start_lsn, OptionalLsn(args.start_lsn));
  request.pg_version = args.pg_version;
  return request;
}

int RunTimelineCreateOrBranch(const ManagementArgs& args, bool branch) {
  auto tenant = TenantArg(args);
  if (!tenant.has_value()) return Fail(tenant.error());
  auto request = CreateRequest(args, branch);
  if (!request.has_value()) return Fail(request.error());
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  return PrintAnswer((*http)->CreateTimeline(*tenant, *request), args.json, false, "");
}

}  // namespace

int RunTenantCreate(const ManagementArgs& args) {
  std::optional<layers::TenantId> wanted;
  if (args.tenant.has_value()) {
    auto id = layers::TenantId::ParseHex(*args.tenant);
    if (!id.has_value()) return Fail(id.error());
    wanted = *id;
  }
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  auto id = (*http)->CreateTenant(wanted);
  if (!id.has_value()) return Fail(id.error());
  if (args.json) {
    PrintJson(json{{"id", id->ToHex()}});
  } else {
    std::printf("%s\n", id->ToHex().c_str());
  }
  return kExitOk;
}

int RunTenantList(const ManagementArgs& args) {
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  return PrintAnswer((*http)->ListTenants(), args.json, true, "no tenants");
}

int RunTenantDelete(const ManagementArgs& args) {
  auto tenant = TenantArg(args);
  if (!tenant.has_value()) return Fail(tenant.error());
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  const Status deleted = (*http)->DeleteTenant(*tenant);
  if (!deleted.ok()) return Fail(deleted);
  if (args.json) {
    PrintJson(json{{"deleted", tenant->ToHex()}});
  } else {
    std::printf("deleted tenant %s\n", tenant->ToHex().c_str());
  }
  return kExitOk;
}

int RunTimelineCreate(const ManagementArgs& args) { return RunTimelineCreateOrBranch(args, false); }

int RunTimelineBranch(const ManagementArgs& args) { return RunTimelineCreateOrBranch(args, true); }

int RunTimelineList(const ManagementArgs& args) {
  auto tenant = TenantArg(args);
  if (!tenant.has_value()) return Fail(tenant.error());
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  return PrintAnswer((*http)->ListTimelines(*tenant), args.json, true, "no timelines");
}

int RunTimelineDelete(const ManagementArgs& args) {
  auto tenant = TenantArg(args);
  if (!tenant.has_value()) return Fail(tenant.error());
  auto timeline = TimelineArg(args.timeline, "--timeline");
  if (!timeline.has_value()) return Fail(timeline.error());
  auto http = Connect(args);
  if (!http.has_value()) return Fail(http.error());
  const Status deleted = (*http)->DeleteTimeline(*tenant, *timeline);
  if (!deleted.ok()) return Fail(deleted);
  if (args.json) {
    PrintJson(json{{"deleted", timeline->ToHex()}});
  } else {
    std::printf("deleted timeline %s\n", timeline->ToHex().c_str());
  }
  return kExitOk;
}

// ------------------------------------------------------------ registration

namespace {

void AddHttpOptions(CLI::App& cmd, ManagementArgs& a) {
  cmd.add_option("--http", a.http, "HTTP API base URL")->capture_default_str();
  cmd.add_flag("--json", a.json, "print the server's JSON");
}

}  // namespace

void ClientCommands::AddTenantCommands(CLI::App& app) {
  ManagementArgs& a = mgmt_;
  CLI::App* tenant = app.add_subcommand("tenant", "create, list, delete tenants (HTTP API)");
  tenant->require_subcommand(1);
  tenant_create_ = tenant->add_subcommand("create", "create a tenant; prints its id");
  AddHttpOptions(*tenant_create_, a);
  tenant_create_->add_option("--tenant", a.tenant, "the new tenant's id (default: generated)");
  tenant_list_ = tenant->add_subcommand("list", "list tenants");
  AddHttpOptions(*tenant_list_, a);
  tenant_delete_ = tenant->add_subcommand("delete", "delete a tenant and its data");
  AddHttpOptions(*tenant_delete_, a);
  tenant_delete_->add_option("--tenant", a.tenant, "tenant id")->required();
}

void ClientCommands::AddTimelineCommands(CLI::App& app) {
  ManagementArgs& a = mgmt_;
  CLI::App* timeline = app.add_subcommand("timeline", "create, branch, list, delete timelines");
  timeline->require_subcommand(1);

  timeline_create_ = timeline->add_subcommand("create", "create an empty root timeline");
  AddHttpOptions(*timeline_create_, a);
  timeline_create_->add_option("--tenant", a.tenant, "tenant id")->required();
  timeline_create_->add_option("--timeline", a.timeline, "new timeline id (default: generated)");
  timeline_create_->add_option("--start-lsn", a.start_lsn, "first LSN of the timeline (X/X)");
  timeline_create_->add_option("--pg-version", a.pg_version, "Postgres major version");

  timeline_branch_ = timeline->add_subcommand("branch", "branch a timeline off an ancestor");
  AddHttpOptions(*timeline_branch_, a);
  timeline_branch_->add_option("--tenant", a.tenant, "tenant id")->required();
  timeline_branch_->add_option("--ancestor", a.ancestor, "ancestor timeline id")->required();
  timeline_branch_->add_option("--ancestor-lsn", a.ancestor_lsn,
                               "branch point (X/X; default: the ancestor's last_record_lsn)");
  timeline_branch_->add_option("--timeline", a.timeline, "new timeline id (default: generated)");
  timeline_branch_->add_option("--pg-version", a.pg_version, "Postgres major version");

  timeline_list_ = timeline->add_subcommand("list", "list a tenant's timelines");
  AddHttpOptions(*timeline_list_, a);
  timeline_list_->add_option("--tenant", a.tenant, "tenant id")->required();

  timeline_delete_ = timeline->add_subcommand("delete", "delete a timeline and its data");
  AddHttpOptions(*timeline_delete_, a);
  timeline_delete_->add_option("--tenant", a.tenant, "tenant id")->required();
  timeline_delete_->add_option("--timeline", a.timeline, "timeline id")->required();
}

}  // namespace pageserver::pagectl
