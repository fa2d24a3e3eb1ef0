#include "tools/pagebench/discovery.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <sstream>

#include "timeline/value.h"

namespace pageserver::pagebench {
namespace {

using client::PageClient;
using client::ReadPoint;
using common::Result;
using common::Status;
using layers::RelTag;
using server::PagestreamRequest;
using server::PagestreamResponse;
using server::PagestreamResponseTag;

// Requests in flight at once while probing: well below what the socket
// buffers hold (CopyBothConnection's deadlock rule).
constexpr size_t kProbeWindow = 1024;
constexpr uint8_t kForkCount = 4;  // main, fsm, vm, init

server::RequestHeader Header(PageClient& client, ReadPoint at) {
  return server::RequestHeader{client.NextRequestId(), at.request_lsn, at.not_modified_since};
}

// Sends every request (pipelined, kProbeWindow at a time) and returns the
// checked responses in order. Error responses are returned, not failed.
Result<std::vector<PagestreamResponse>> CallAll(PageClient& client,
                                                const std::vector<PagestreamRequest>& requests) {
  std::vector<PagestreamResponse> responses;
  responses.reserve(requests.size());
  for (size_t first = 0; first < requests.size(); first += kProbeWindow) {
    const size_t last = std::min(requests.size(), first + kProbeWindow);
    for (size_t i = first; i < last; ++i) RETURN_IF_ERROR(client.Send(requests[i]));
    RETURN_IF_ERROR(client.Flush());
    for (size_t i = first; i < last; ++i) {
      ASSIGN_OR_RETURN(PagestreamResponse response, client.Receive());
      RETURN_IF_ERROR(client::CheckResponse(client.version(), requests[i], response));
      responses.push_back(std::move(response));
    }
  }
  return responses;
}

bool IsError(const PagestreamResponse& r) { return r.tag == PagestreamResponseTag::kError; }

// DbSize of each candidate; nullopt where the database does not exist.
Result<std::vector<std::optional<int64_t>>> DbSizes(PageClient& client, ReadPoint at,
                                                    const std::vector<uint32_t>& dbnodes) {
  std::vector<PagestreamRequest> requests;
  for (uint32_t db : dbnodes) requests.push_back(server::DbSizeRequest{Header(client, at), db});
  ASSIGN_OR_RETURN(auto responses, CallAll(client, requests));
  std::vector<std::optional<int64_t>> sizes;
  for (const auto& r : responses) {
    sizes.push_back(IsError(r) ? std::nullopt : std::optional<int64_t>(r.db_size));
  }
  return sizes;
}

std::vector<uint32_t> Range(uint64_t first, uint64_t end) {
  std::vector<uint32_t> v;
  for (uint64_t i = first; i < end && i <= UINT32_MAX; ++i) v.push_back(static_cast<uint32_t>(i));
  return v;
}

// The scan of one OID range in windows; `visit` probes a window and says
// whether anything was found and whether the scan is complete.
struct WindowOutcome {
  bool hit = false;
  bool complete = false;
};
template <typename Visit>
Status ScanUpward(uint64_t first, std::optional<uint64_t> end, uint32_t gap, Visit&& visit) {
  uint64_t last_hit = first;  // the gap counts from the range start
  for (uint64_t lo = first; end.has_value() ? lo < *end : lo - last_hit < gap; lo += kProbeWindow) {
    const uint64_t hi = std::min<uint64_t>(end.value_or(UINT64_MAX), lo + kProbeWindow);
    if (lo > UINT32_MAX) break;
    ASSIGN_OR_RETURN(const WindowOutcome outcome, visit(Range(lo, hi)));
    if (outcome.hit) last_hit = hi;
    if (outcome.complete) break;
  }
  return Status::Ok();
}

// The databases of tablespace 1663 with their DbSize (step 1).
Result<std::map<uint32_t, int64_t>> FindDatabases(PageClient& client, ReadPoint at,
                                                  const ProbeOptions& options, uint64_t& requests) {
  std::map<uint32_t, int64_t> found;
  auto visit = [&](const std::vector<uint32_t>& dbs) -> Result<WindowOutcome> {
    ASSIGN_OR_RETURN(const auto sizes, DbSizes(client, at, dbs));
    requests += dbs.size();
    WindowOutcome outcome;
    for (size_t i = 0; i < dbs.size(); ++i) {
      if (!sizes[i].has_value()) continue;
      found[dbs[i]] = *sizes[i];
      outcome.hit = true;
    }
    return outcome;
  };
  if (!options.databases.empty()) {
    ASSIGN_OR_RETURN(const auto sizes, DbSizes(client, at, options.databases));
    requests += options.databases.size();
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (!sizes[i].has_value()) {
        return Status::NotFound("database " + std::to_string(options.databases[i]) +
                                " does not exist in tablespace 1663 at the read point");
      }
      found[options.databases[i]] = *sizes[i];
    }
    return found;
  }
  RETURN_IF_ERROR(ScanUpward(1, kFirstNormalObjectId, options.oid_gap, visit));
  RETURN_IF_ERROR(ScanUpward(kFirstNormalObjectId, std::nullopt, options.oid_gap, visit));
  return found;
}

// Every fork of the given relnodes of one database that exists, sized.
Result<std::vector<RelationSize>> ProbeWindow(PageClient& client, ReadPoint at, uint32_t db,
                                              const std::vector<uint32_t>& relnodes,
                                              uint64_t& requests) {
  std::vector<PagestreamRequest> exists;
  for (uint32_t rel : relnodes) {
    exists.push_back(
        server::ExistsRequest{Header(client, at), RelTag{kDefaultTablespace, db, rel, 0}});
  }
  ASSIGN_OR_RETURN(auto mains, CallAll(client, exists));
  std::vector<PagestreamRequest> forks;
  for (const auto& r : mains) {
    if (!r.exists) continue;
    for (uint8_t fork = 1; fork < kForkCount; ++fork) {
      forks.push_back(server::ExistsRequest{
          Header(client, at), RelTag{r.rel.spcnode, r.rel.dbnode, r.rel.relnode, fork}});
    }
  }
  ASSIGN_OR_RETURN(auto others, CallAll(client, forks));
  std::vector<PagestreamRequest> sizes;
  for (const auto* list : {&mains, &others}) {
    for (const auto& r : *list) {
      if (r.exists) sizes.push_back(server::NblocksRequest{Header(client, at), r.rel});
    }
  }
  ASSIGN_OR_RETURN(auto answers, CallAll(client, sizes));
  requests += exists.size() + forks.size() + sizes.size();
  std::vector<RelationSize> found;
  for (const auto& r : answers) {
    if (IsError(r))
      return Status::Internal("Nblocks of " + r.rel.ToString() + " failed: " + r.error);
    found.push_back(RelationSize{r.rel, r.n_blocks});
  }
  return found;
}

// Step 2 for one database: its forks until their bytes reach `db_size`.
Result<std::vector<RelationSize>> ProbeDatabase(PageClient& client, ReadPoint at, uint32_t db,
                                                int64_t db_size, uint32_t gap, uint64_t& requests,
                                                uint64_t& bytes) {
  std::vector<RelationSize> found;
  auto visit = [&](const std::vector<uint32_t>& relnodes) -> Result<WindowOutcome> {
    ASSIGN_OR_RETURN(auto forks, ProbeWindow(client, at, db, relnodes, requests));
    for (const auto& f : forks) bytes += uint64_t{f.nblocks} * timeline::kPageSize;
    found.insert(found.end(), forks.begin(), forks.end());
    return WindowOutcome{!forks.empty(), bytes >= static_cast<uint64_t>(db_size)};
  };
  if (bytes < static_cast<uint64_t>(db_size)) {
    RETURN_IF_ERROR(ScanUpward(kFirstNormalObjectId, std::nullopt, gap, visit));
  }
  if (bytes < static_cast<uint64_t>(db_size)) {
    RETURN_IF_ERROR(ScanUpward(1, kFirstNormalObjectId, gap, visit));
  }
  return found;
}

Result<uint32_t> ParseU32(std::string_view text, std::string_view what) {
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                   "' is not a 32-bit unsigned number");
  }
  return value;
}

}  // namespace

Result<TimelineRef> ParseTimelineRef(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument("target '" + std::string(text) +
                                   "' is not <tenant hex>/<timeline hex>");
  }
  TimelineRef ref;
  ASSIGN_OR_RETURN(ref.tenant, layers::TenantId::ParseHex(text.substr(0, slash)));
  ASSIGN_OR_RETURN(ref.timeline, layers::TimelineId::ParseHex(text.substr(slash + 1)));
  return ref;
}

Result<std::vector<TimelineRef>> ListAllTimelines(client::ManagementClient& http) {
  ASSIGN_OR_RETURN(const nlohmann::json tenants, http.ListTenants());
  std::vector<TimelineRef> refs;
  for (const auto& tenant : tenants) {
    if (!tenant.is_object() || !tenant.contains("id") || !tenant["id"].is_string()) {
      return Status::Corruption("GET /v1/tenant: an entry without a string \"id\"");
    }
    ASSIGN_OR_RETURN(const auto tenant_id,
                     layers::TenantId::ParseHex(tenant["id"].get<std::string>()));
    ASSIGN_OR_RETURN(const nlohmann::json timelines, http.ListTimelines(tenant_id));
    for (const auto& tl : timelines) {
      if (!tl.is_object() || !tl.contains("timeline_id") || !tl["timeline_id"].is_string()) {
        return Status::Corruption("GET /v1/tenant/<t>/timeline: an entry without \"timeline_id\"");
      }
      if (tl.value("broken", false)) continue;
      ASSIGN_OR_RETURN(const auto timeline_id,
                       layers::TimelineId::ParseHex(tl["timeline_id"].get<std::string>()));
      refs.push_back(TimelineRef{tenant_id, timeline_id});
    }
  }
  return refs;
}

Result<std::vector<RelationSize>> ParseRelationsFile(std::string_view text) {
  std::vector<RelationSize> relations;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::string rel_text, size_text, extra;
    if (!(fields >> rel_text) || rel_text[0] == '#') continue;
    const std::string where = "relations file line " + std::to_string(number);
    Result<RelTag> rel = client::ParseRelTag(rel_text);
    if (!rel.has_value()) return rel.error().WithContext(where);
    RelationSize r{*rel, kUnknownSize};
    if (fields >> size_text) {
      Result<uint32_t> n = ParseU32(size_text, "nblocks");
      if (!n.has_value()) return n.error().WithContext(where);
      r.nblocks = *n;
    }
    if (fields >> extra) return Status::InvalidArgument(where + ": unexpected '" + extra + "'");
    relations.push_back(r);
  }
  return relations;
}

Result<std::vector<RelationSize>> SizeRelations(PageClient& client, ReadPoint at,
                                                std::vector<RelationSize> relations) {
  std::vector<PagestreamRequest> requests;
  std::vector<size_t> index;
  for (size_t i = 0; i < relations.size(); ++i) {
    if (relations[i].nblocks != kUnknownSize) continue;
    requests.push_back(server::NblocksRequest{Header(client, at), relations[i].rel});
    index.push_back(i);
  }
  ASSIGN_OR_RETURN(const auto responses, CallAll(client, requests));
  for (size_t i = 0; i < responses.size(); ++i) {
    if (IsError(responses[i])) {
      return Status::NotFound("Nblocks of " + relations[index[i]].rel.ToString() + ": " +
                              responses[i].error);
    }
    relations[index[i]].nblocks = responses[i].n_blocks;
  }
  return relations;
}

Result<ProbeResult> ProbeRelations(PageClient& client, ReadPoint at, const ProbeOptions& options) {
  ProbeResult result;
  const uint32_t gap = std::max<uint32_t>(1, options.oid_gap);
  ASSIGN_OR_RETURN(const auto databases, FindDatabases(client, at, options, result.requests));
  for (const auto& [db, size] : databases) {
    uint64_t bytes = 0;
    ASSIGN_OR_RETURN(auto forks, ProbeDatabase(client, at, db, size, gap, result.requests, bytes));
    if (bytes != static_cast<uint64_t>(size)) {
      result.warnings.push_back("database " + std::to_string(db) + ": the forks found hold " +
                                std::to_string(bytes) + " bytes, DbSize says " +
                                std::to_string(size) + "; some relations were not found");
    }
    result.relations.insert(result.relations.end(), forks.begin(), forks.end());
  }
  std::sort(result.relations.begin(), result.relations.end(),
            [](const RelationSize& a, const RelationSize& b) { return a.rel < b.rel; });
  return result;
}

Result<std::vector<RelationSize>> RelationsFromHttp(client::ManagementClient& http,
                                                    const TimelineRef& ref, layers::Lsn lsn) {
  ASSIGN_OR_RETURN(const nlohmann::json body, http.ListRelations(ref.tenant, ref.timeline, lsn));
  const auto* list = body.is_object() ? &body["relations"] : nullptr;
  if (list == nullptr || !list->is_array()) {
    return Status::Corruption("relations route: no \"relations\" array in " + body.dump());
  }
  std::vector<RelationSize> relations;
  for (const nlohmann::json& r : *list) {
    const auto field = [&](const char* name) -> Result<uint32_t> {
      if (!r.contains(name) || !r[name].is_number_unsigned() ||
          r[name].get<uint64_t>() > UINT32_MAX) {
        return Status::Corruption(std::string("relations route: bad \"") + name + "\" in " +
                                  r.dump());
      }
      return r[name].get<uint32_t>();
    };
    ASSIGN_OR_RETURN(const uint32_t spc, field("spcnode"));
    ASSIGN_OR_RETURN(const uint32_t db, field("dbnode"));
    ASSIGN_OR_RETURN(const uint32_t rel, field("relnode"));
    ASSIGN_OR_RETURN(const uint32_t fork, field("forknum"));
    ASSIGN_OR_RETURN(const uint32_t nblocks, field("nblocks"));
    if (fork > 3) return Status::Corruption("relations route: fork " + std::to_string(fork));
    relations.push_back({layers::RelTag{spc, db, rel, static_cast<uint8_t>(fork)}, nblocks});
  }
  // Key order, as probing gives it: a --working-set prefix must not depend
  // on the order of the server's directories.
  std::sort(relations.begin(), relations.end(),
            [](const RelationSize& a, const RelationSize& b) { return a.rel < b.rel; });
  return relations;
}

}  // namespace pageserver::pagebench
