#include "tools/pagebench/bench.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "client/management_client.h"
#include "client/page_client.h"
#include "tools/pagebench/discovery.h"
#include "tools/pagebench/report.h"
#include "tools/pagebench/runner.h"

namespace pageserver::pagebench {
namespace {

using client::ReadPoint;
using common::Result;
using common::Status;
using layers::Lsn;

void Warn(const std::string& message) { std::cerr << "pagebench: " << message << "\n"; }

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open relations file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The relations of one timeline at `at`: from the file, the HTTP relations
// route, or by probing (with --probe, or when the route cannot be reached).
Result<std::vector<RelationSize>> FindRelations(const BenchOptions& o, const TimelineRef& ref,
                                                ReadPoint at,
                                                const std::optional<std::string>& file_text,
                                                client::ManagementClient* http) {
  if (!file_text.has_value() && !o.probe && http != nullptr) {
    const Lsn lsn = at.request_lsn == Lsn::Max() ? at.not_modified_since : at.request_lsn;
    Result<std::vector<RelationSize>> listed = RelationsFromHttp(*http, ref, lsn);
    if (listed.has_value()) return listed;
    if (listed.error().code() != common::StatusCode::kIoError) return listed.error();
    Warn("relations route unreachable (" + listed.error().ToString() + "); probing instead");
  }
  ASSIGN_OR_RETURN(auto client, client::PageClient::Connect(o.page_service));
  RETURN_IF_ERROR(
      client->StartPagestream(server::PagestreamVersion::kV3, ref.tenant, ref.timeline));
  std::vector<RelationSize> relations;
  if (file_text.has_value()) {
    ASSIGN_OR_RETURN(relations, ParseRelationsFile(*file_text));
    ASSIGN_OR_RETURN(relations, SizeRelations(*client, at, std::move(relations)));
  } else {
    ASSIGN_OR_RETURN(ProbeResult probe,
                     ProbeRelations(*client, at, ProbeOptions{o.databases, o.probe_oid_gap}));
    for (const std::string& w : probe.warnings) Warn(ref.timeline.ToHex() + ": " + w);
    relations = std::move(probe.relations);
  }
  RETURN_IF_ERROR(client->Close());
  return relations;
}

Result<std::vector<Target>> PrepareTargets(const BenchOptions& o) {
  std::optional<Lsn> fixed;
  if (!o.lsn.empty()) {
    ASSIGN_OR_RETURN(fixed, Lsn::Parse(o.lsn));
  }
  // The HTTP API is needed for the timeline list and the latest LSN, and
  // used for the relations unless a file or --probe replaces it.
  std::unique_ptr<client::ManagementClient> http;
  if (o.targets.empty() || !fixed.has_value() || (o.relations_file.empty() && !o.probe)) {
    ASSIGN_OR_RETURN(http, client::ManagementClient::Create(o.http));
  }
  std::vector<TimelineRef> refs;
  if (o.targets.empty()) {
    ASSIGN_OR_RETURN(refs, ListAllTimelines(*http));
  }
  for (const std::string& t : o.targets) {
    ASSIGN_OR_RETURN(const TimelineRef ref, ParseTimelineRef(t));
    refs.push_back(ref);
  }
  std::optional<std::string> file_text;
  if (!o.relations_file.empty()) {
    ASSIGN_OR_RETURN(file_text, ReadFile(o.relations_file));
  }

  std::vector<Target> targets;
  for (const TimelineRef& ref : refs) {
    ReadPoint at = fixed.has_value() ? ReadPoint::AtLsn(*fixed) : ReadPoint{};
    if (!fixed.has_value()) {
      ASSIGN_OR_RETURN(const Lsn last_record_lsn, http->LastRecordLsn(ref.tenant, ref.timeline));
      at = ReadPoint::Latest(last_record_lsn);
    }
    ASSIGN_OR_RETURN(auto relations, FindRelations(o, ref, at, file_text, http.get()));
    targets.push_back(Target{ref.tenant, ref.timeline, at.request_lsn, at.not_modified_since,
                             BlockSpace(std::move(relations))});
  }
  return targets;
}

std::string WorkloadName(const BenchOptions& o) {
  std::string w = std::to_string(o.clients) + " client(s) per timeline x queue depth " +
                  std::to_string(o.queue_depth) + ", ";
  w += o.scan                  ? std::string("one scan of every block in key order")
       : o.sequential_runs > 1 ? "sequential runs of " + std::to_string(o.sequential_runs)
                               : std::string("uniform random blocks");
  if (!o.working_set.empty()) w += ", working set " + o.working_set;
  w += ", request LSN " + (o.lsn.empty() ? std::string("latest") : o.lsn);
  if (o.rate > 0) {
    char rate[32];
    std::snprintf(rate, sizeof(rate), "%g", o.rate);
    w += std::string(", ") + rate + " requests/s per client (open loop)";
  }
  return w;
}

nlohmann::json ConfigJson(const BenchOptions& o, uint64_t seed,
                          std::optional<uint64_t> working_set_bytes) {
  return nlohmann::json{
      {"page_service", o.page_service},
      {"http", o.http},
      {"targets", o.targets},
      {"relations_source", !o.relations_file.empty() ? o.relations_file
                           : o.probe                 ? "probe"
                                                     : "http"},
      {"clients_per_timeline", o.clients},
      {"queue_depth", o.queue_depth},
      {"threads", o.threads},
      {"sequential_runs", o.sequential_runs},
      {"lsn", o.lsn.empty() ? "latest" : o.lsn},
      {"duration_seconds", o.duration_seconds},
      {"max_requests", o.requests.has_value() ? nlohmann::json(*o.requests) : nlohmann::json()},
      {"rate_per_client", o.rate},
      {"seed", seed},
      {"warmup_seconds", o.warmup_seconds},
      {"working_set_bytes",
       working_set_bytes.has_value() ? nlohmann::json(*working_set_bytes) : nlohmann::json()},
      {"workload", WorkloadName(o)}};
}

LoadConfig MakeLoadConfig(const BenchOptions& o, uint64_t seed,
                          std::optional<uint64_t> working_set_bytes) {
  LoadConfig c;
  c.conninfo = o.page_service;
  c.clients_per_target = o.clients;
  c.queue_depth = o.queue_depth;
  c.threads = o.threads;
  c.run_length = std::max<uint32_t>(1, o.sequential_runs);
  c.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.requests.has_value() ? 1e9 : o.duration_seconds));
  c.max_requests = o.requests;
  c.rate_per_client = o.rate;
  c.seed = seed;
  c.warmup = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.warmup_seconds));
  if (working_set_bytes.has_value()) c.working_set_blocks = WorkingSetBlocks(*working_set_bytes);
  c.record_series = !o.series_file.empty();
  c.scan = o.scan;
  return c;
}

// The first line of `path`; empty when it does not exist or is empty.
std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

// Fails now, before the load, what would fail when the results are written.
Status CheckOutputFiles(const BenchOptions& o) {
  if (!o.series_file.empty() && !std::ofstream(o.series_file, std::ios::trunc)) {
    return Status::InvalidArgument("cannot write the series file " + o.series_file);
  }
  if (o.csv_file.empty()) return Status::Ok();
  const std::string header = FirstLine(o.csv_file);
  if (!header.empty() && header != SummaryCsvHeader()) {
    return Status::InvalidArgument("csv file " + o.csv_file +
                                   " has other columns than this pagebench writes; "
                                   "use a new file");
  }
  if (!std::ofstream(o.csv_file, std::ios::app)) {
    return Status::InvalidArgument("cannot append to the csv file " + o.csv_file);
  }
  return Status::Ok();
}

Status WriteOutputFiles(const BenchOptions& o, const nlohmann::json& summary,
                        const LoadResult& result) {
  if (!o.series_file.empty()) {
    std::ofstream series(o.series_file, std::ios::trunc);
    series << SeriesCsv(result.series);
    if (!series.flush()) return Status::IoError("writing the series file " + o.series_file);
  }
  if (!o.csv_file.empty()) {
    const bool fresh = FirstLine(o.csv_file).empty();
    std::ofstream csv(o.csv_file, std::ios::app);
    if (fresh) csv << SummaryCsvHeader() << "\n";
    csv << SummaryCsvRow(summary) << "\n";
    if (!csv.flush()) return Status::IoError("appending to the csv file " + o.csv_file);
  }
  return Status::Ok();
}

}  // namespace

int RunBenchmark(const BenchOptions& options) {
  const uint64_t seed = options.seed.value_or(
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::optional<uint64_t> working_set_bytes;
  if (!options.working_set.empty()) {
    Result<uint64_t> bytes = ParseByteSize(options.working_set);
    if (!bytes.has_value()) {
      Warn("--working-set: " + bytes.error().ToString());
      return kExitCannotRun;
    }
    working_set_bytes = *bytes;
  }
  if (Status st = CheckOutputFiles(options); !st.ok()) {
    Warn(st.ToString());
    return kExitCannotRun;
  }
  Result<std::vector<Target>> targets = PrepareTargets(options);
  if (!targets.has_value()) {
    Warn(targets.error().ToString());
    return kExitCannotRun;
  }
  const LoadConfig config = MakeLoadConfig(options, seed, working_set_bytes);
  if (Status st = ValidateLoadConfig(config, *targets); !st.ok()) {
    Warn(st.ToString());
    return kExitCannotRun;
  }
  Warn("seed " + std::to_string(seed) + "; " + WorkloadName(options));
  auto progress = [&](const ProgressTick& tick) {
    if (options.progress) std::cerr << ProgressLine(tick) << "\n";
  };
  Result<LoadResult> result = RunLoad(config, *targets, progress);
  if (!result.has_value()) {
    Warn(result.error().ToString());
    return kExitCannotRun;
  }
  const nlohmann::json config_json = ConfigJson(options, seed, working_set_bytes);
  const nlohmann::json summary = ResultJson(config_json, *targets, *result);
  if (options.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    std::cout << ResultText(config_json, *targets, *result);
  }
  std::cout.flush();
  if (Status st = WriteOutputFiles(options, summary, *result); !st.ok()) {
    Warn(st.ToString());
    return kExitCannotRun;
  }
  const uint64_t errors = result->verdicts.errors() + result->warmup_verdicts.errors();
  if (options.fail_on_error && errors > 0) return kExitRequestErrors;
  return kExitOk;
}

}  // namespace pageserver::pagebench
