#include "tools/pagebench/report.h"

#include <algorithm>
#include <cstdio>

namespace pageserver::pagebench {
namespace {

using common::LatencyHistogram;
using json = nlohmann::json;

struct Quantile {
  const char* name;
  double q;
};
constexpr Quantile kQuantiles[] = {
    {"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}, {"p99_9", 0.999}, {"p99_99", 0.9999}};

double Micros(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

json LatencyJson(const LatencyHistogram& h) {
  json out = {{"mean", h.Mean() / 1000.0}, {"min", Micros(h.min())}};
  for (const Quantile& q : kQuantiles) out[q.name] = Micros(h.Percentile(q.q));
  out["max"] = Micros(h.max());
  return out;
}

json TargetJson(const Target& t, uint64_t working_set_blocks) {
  return json{{"tenant", t.tenant.ToHex()},
              {"timeline", t.timeline.ToHex()},
              {"request_lsn", t.request_lsn.ToString()},
              {"not_modified_since", t.not_modified_since.ToString()},
              {"relations", t.blocks.relations().size()},
              {"blocks", t.blocks.total_blocks()},
              {"working_set_blocks", working_set_blocks}};
}

// The blocks target i's keys came from (all of them when the load did not say).
uint64_t WorkingSetOf(const std::vector<Target>& targets, const LoadResult& result, size_t i) {
  return i < result.working_set_blocks.size() ? result.working_set_blocks[i]
                                              : targets[i].blocks.total_blocks();
}

// The summary CSV's columns as JSON pointers; errors_by_kind follows the
// verdict order of response_check.h.
std::vector<std::string> SummaryCsvColumns() {
  std::vector<std::string> columns;
  for (const char* c :
       {"page_service", "http", "targets", "relations_source", "clients_per_timeline",
        "queue_depth", "threads", "sequential_runs", "lsn", "duration_seconds", "max_requests",
        "rate_per_client", "seed", "warmup_seconds", "working_set_bytes", "workload"}) {
    columns.push_back(std::string("/config/") + c);
  }
  for (const char* c : {"requests", "ok", "errors"}) columns.push_back(std::string("/") + c);
  for (size_t i = 1; i < kVerdictCount; ++i) {
    columns.push_back("/errors_by_kind/" +
                      std::string(VerdictName(static_cast<ResponseVerdict>(i))));
  }
  for (const char* c : {"warmup_requests", "warmup_errors", "working_set_blocks",
                        "distinct_blocks_touched", "elapsed_seconds", "requests_per_second"}) {
    columns.push_back(std::string("/") + c);
  }
  for (const char* c : {"mean", "min", "p50", "p95", "p99", "p99_9", "p99_99", "max"}) {
    columns.push_back(std::string("/latency_us/") + c);
  }
  return columns;
}

std::string CsvQuote(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string CsvCell(const json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return CsvQuote(value.get<std::string>());
  if (value.is_array()) {
    std::string joined;
    for (const json& v : value) {
      joined += (joined.empty() ? "" : " ") + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    return CsvQuote(joined);
  }
  return value.dump();
}

double PerSecond(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

std::string Format(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

}  // namespace

json ResultJson(const json& config, const std::vector<Target>& targets, const LoadResult& result) {
  json errors = json::object();
  for (size_t i = 1; i < kVerdictCount; ++i) {
    errors[std::string(VerdictName(static_cast<ResponseVerdict>(i)))] = result.verdicts.counts[i];
  }
  json target_list = json::array();
  uint64_t working_set = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    target_list.push_back(TargetJson(targets[i], WorkingSetOf(targets, result, i)));
    working_set += WorkingSetOf(targets, result, i);
  }
  const uint64_t ok = result.verdicts.ok();
  return json{{"config", config},
              {"targets", target_list},
              {"histogram",
               {{"sub_bucket_bits", LatencyHistogram::kSubBucketBits},
                {"max_relative_error", 0.5 / static_cast<double>(LatencyHistogram::kSubBuckets)}}},
              {"requests", ok + result.verdicts.errors()},
              {"ok", ok},
              {"errors", result.verdicts.errors()},
              {"errors_by_kind", errors},
              {"warmup_requests", result.warmup_verdicts.ok() + result.warmup_verdicts.errors()},
              {"warmup_errors", result.warmup_verdicts.errors()},
              {"working_set_blocks", working_set},
              {"distinct_blocks_touched", result.distinct_blocks_touched},
              {"elapsed_seconds", result.elapsed_seconds},
              {"requests_per_second", PerSecond(ok, result.elapsed_seconds)},
              {"latency_us", LatencyJson(result.latency_ns)},
              {"sample_errors", result.sample_errors}};
}

std::string ResultText(const json& config, const std::vector<Target>& targets,
                       const LoadResult& result) {
  const json j = ResultJson(config, targets, result);
  std::string out = "pagebench: " + std::to_string(targets.size()) + " timeline(s), " +
                    (config.is_object() ? config.value("workload", std::string()) : "") + "\n";
  for (const json& t : j["targets"]) {
    out += "  target " + t["tenant"].get<std::string>() + "/" + t["timeline"].get<std::string>() +
           ": " + std::to_string(t["relations"].get<uint64_t>()) + " relation forks, " +
           std::to_string(t["blocks"].get<uint64_t>()) + " blocks (working set " +
           std::to_string(t["working_set_blocks"].get<uint64_t>()) + "), request_lsn " +
           t["request_lsn"].get<std::string>() + ", not_modified_since " +
           t["not_modified_since"].get<std::string>() + "\n";
  }
  out += "requests     " + std::to_string(j["requests"].get<uint64_t>()) + " (ok " +
         std::to_string(j["ok"].get<uint64_t>()) + ", errors " +
         std::to_string(j["errors"].get<uint64_t>()) + ")\n";
  if (result.warmup_seconds > 0) {
    out += "warm-up      " + std::to_string(j["warmup_requests"].get<uint64_t>()) +
           " requests in " + Format("%.3f s", result.warmup_seconds) + " (errors " +
           std::to_string(j["warmup_errors"].get<uint64_t>()) + "), not in the figures below\n";
  }
  out += "working set  " + std::to_string(j["working_set_blocks"].get<uint64_t>()) + " blocks, " +
         std::to_string(j["distinct_blocks_touched"].get<uint64_t>()) + " of them read\n";
  out += "elapsed      " + Format("%.3f s", result.elapsed_seconds) + "\n";
  out += "throughput   " + Format("%.1f", j["requests_per_second"].get<double>()) +
         " requests/s (checked responses only)\n";
  out += "latency us   (HDR-style histogram, relative error <= 0.2%)\n";
  for (const char* name : {"mean", "min", "p50", "p95", "p99", "p99_9", "p99_99", "max"}) {
    out += "  " + std::string(name) + std::string(8 - std::string_view(name).size(), ' ') +
           Format("%.1f", j["latency_us"][name].get<double>()) + "\n";
  }
  for (const auto& [kind, count] : j["errors_by_kind"].items()) {
    if (count.get<uint64_t>() > 0) {
      out += "errors " + kind + ": " + std::to_string(count.get<uint64_t>()) + "\n";
    }
  }
  for (const std::string& e : result.sample_errors) out += "  e.g. " + e + "\n";
  return out;
}

std::string ProgressLine(const ProgressTick& tick) {
  return "pagebench: " + Format("%.1f s", tick.elapsed_seconds) +
         (tick.warmup ? " (warm-up)" : "") + "  " + Format("%.0f req/s", tick.requests_per_second) +
         "  p99 so far " + Format("%.1f us", Micros(tick.p99_ns)) + "  errors " +
         std::to_string(tick.errors);
}

}  // namespace pageserver::pagebench

namespace pageserver::pagebench {

std::string SummaryCsvHeader() {
  std::string header;
  for (const std::string& pointer : SummaryCsvColumns()) {
    std::string name = pointer.substr(1);
    std::replace(name.begin(), name.end(), '/', '.');
    header += (header.empty() ? "" : ",") + name;
  }
  return header;
}

std::string SummaryCsvRow(const json& summary) {
  std::string row;
  bool first = true;
  for (const std::string& pointer : SummaryCsvColumns()) {
    const json::json_pointer at(pointer);
    if (!first) row += ",";
    first = false;
    if (summary.contains(at)) row += CsvCell(summary.at(at));
  }
  return row;
}

std::string SeriesCsv(const std::vector<SeriesRow>& rows) {
  std::string out = "second,requests,errors,p50_us,p99_us,max_us\n";
  for (const SeriesRow& r : rows) {
    out += std::to_string(r.second) + "," + std::to_string(r.requests) + "," +
           std::to_string(r.errors) + "," + json(Micros(r.p50_ns)).dump() + "," +
           json(Micros(r.p99_ns)).dump() + "," + json(Micros(r.max_ns)).dump() + "\n";
  }
  return out;
}

}  // namespace pageserver::pagebench
