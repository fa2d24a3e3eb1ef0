#include "tools/pagebench/report.h"

#include <cstdio>

namespace pageserver::pagebench {
namespace {

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

json TargetJson(const Target& t) {
  return json{{"tenant", t.tenant.ToHex()},
              {"timeline", t.timeline.ToHex()},
              {"request_lsn", t.request_lsn.ToString()},
              {"not_modified_since", t.not_modified_since.ToString()},
              {"relations", t.blocks.relations().size()},
              {"blocks", t.blocks.total_blocks()}};
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
  for (const Target& t : targets) target_list.push_back(TargetJson(t));
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
           std::to_string(t["blocks"].get<uint64_t>()) + " blocks, request_lsn " +
           t["request_lsn"].get<std::string>() + ", not_modified_since " +
           t["not_modified_since"].get<std::string>() + "\n";
  }
  out += "requests     " + std::to_string(j["requests"].get<uint64_t>()) + " (ok " +
         std::to_string(j["ok"].get<uint64_t>()) + ", errors " +
         std::to_string(j["errors"].get<uint64_t>()) + ")\n";
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
  return "pagebench: " + Format("%.1f s", tick.elapsed_seconds) + "  " +
         Format("%.0f req/s", tick.requests_per_second) + "  p99 so far " +
         Format("%.1f us", Micros(tick.p99_ns)) + "  errors " + std::to_string(tick.errors);
}

}  // namespace pageserver::pagebench
