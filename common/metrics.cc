#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pageserver::common {

namespace {

enum FamilyType { kCounterType = 0, kGaugeType = 1, kHistogramType = 2 };

std::string_view TypeName(int type) {
  switch (type) {
    case kCounterType:
      return "counter";
    case kGaugeType:
      return "gauge";
    default:
      return "histogram";
  }
}

[[noreturn]] void DieMetric(std::string_view name, std::string_view why) {
  std::fprintf(stderr, "FATAL: metric %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(why.size()), why.data());
  std::abort();
}

bool IsNameChar(char c, bool first, bool allow_colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (allow_colon && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

Labels SortedLabels(std::string_view metric, const Labels& labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i].first;
    if (!IsValidName(name, false) || name.rfind("__", 0) == 0 || name == "le") {
      DieMetric(metric, "invalid label name '" + name + "'");
    }
    if (i > 0 && sorted[i - 1].first == name) DieMetric(metric, "duplicate label '" + name + "'");
  }
  return sorted;
}

// {a="1",b="2"} plus an optional extra label (used for `le`); "" when empty.
std::string RenderLabels(const Labels& labels, std::string_view extra_name = {},
                         std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  auto add = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out.append(name);
    out += "=\"";
    out += EscapeLabelValue(value);
    out += '"';
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  out += '}';
  return out;
}

void AddDouble(std::atomic<double>& target, double delta) {
  target.fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace

void Counter::Increment(double delta) { AddDouble(value_, delta); }
void Gauge::Add(double delta) { AddDouble(value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // Prometheus buckets are "less than or equal": value == bound lands in it.
  const size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                           bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  AddDouble(sum_, value);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

uint64_t Histogram::Count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) total += counts_[i].load(std::memory_order_relaxed);
  return total;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(count));
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) out.push_back(bound);
  return out;
}

std::vector<double> LatencyBucketsSeconds() {
  // 1 us .. ~4.2 s in 23 doubling steps: covers a page-cache hit (~1.4 us)
  // up to a stalled device.
  return ExponentialBuckets(1e-6, 2.0, 23);
}

struct Registry::Family {
  std::string name;
  std::string help;
  int type = kCounterType;
  std::vector<double> bounds;  // histograms only
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::GetFamily(std::string_view name, std::string_view help, int type) {
  if (!IsValidName(name, true)) DieMetric(name, "invalid metric name");
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
    it = families_.emplace(family->name, std::move(family)).first;
  }
  if (it->second->type != type) {
    DieMetric(name, "registered as " + std::string(TypeName(it->second->type)) + " and as " +
                        std::string(TypeName(type)));
  }
  return *it->second;
}

Counter& Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, kCounterType);
  auto& slot = family.counters[SortedLabels(name, labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, kGaugeType);
  auto& slot = family.gauges[SortedLabels(name, labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const std::vector<double>& bounds, const Labels& labels) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      DieMetric(name, "histogram bounds must be finite and strictly increasing");
    }
  }
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, kHistogramType);
  if (family.histograms.empty()) family.bounds = bounds;
  if (family.bounds != bounds) DieMetric(name, "histogram registered with different buckets");
  auto& slot = family.histograms[SortedLabels(name, labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

namespace {

void RenderHistogram(std::string& out, const std::string& name, const Labels& labels,
                     const Histogram& h) {
  const std::vector<uint64_t> counts = h.BucketCounts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < h.bounds().size() ? FormatMetricValue(h.bounds()[i]) : "+Inf";
    out +=
        name + "_bucket" + RenderLabels(labels, "le", le) + " " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum" + RenderLabels(labels) + " " + FormatMetricValue(h.Sum()) + "\n";
  out += name + "_count" + RenderLabels(labels) + " " + std::to_string(cumulative) + "\n";
}

}  // namespace

std::string Registry::RenderPrometheusText() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + EscapeHelp(family->help) + "\n";
    out += "# TYPE " + name + " " + std::string(TypeName(family->type)) + "\n";
    for (const auto& [labels, c] : family->counters) {
      out += name + RenderLabels(labels) + " " + FormatMetricValue(c->Value()) + "\n";
    }
    for (const auto& [labels, g] : family->gauges) {
      out += name + RenderLabels(labels) + " " + FormatMetricValue(g->Value()) + "\n";
    }
    for (const auto& [labels, h] : family->histograms) RenderHistogram(out, name, labels, *h);
  }
  return out;
}

Registry& DefaultRegistry() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, res.ptr);
}

}  // namespace pageserver::common
