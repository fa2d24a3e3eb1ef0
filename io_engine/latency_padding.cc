#include "io_engine/latency_padding.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <mutex>
#include <numbers>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pageserver::io_engine {

namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC in libstdc++
using std::chrono::nanoseconds;

// --- Parsing ---

constexpr std::string_view kExpectedForm =
    "expected <number><unit> with unit ns, us, ms or s (e.g. 80us, 1.5ms) or p50/p99 "
    "(e.g. 60us/250us)";

Status BadProfile(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("latency profile '" + std::string(text) +
                                 "': " + std::string(why) + "; " + std::string(kExpectedForm));
}

// Nanoseconds per unit, or 0 for an unknown unit.
double UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  return 0;
}

// One duration such as "1.5ms". `whole` is the full profile text, for errors.
Result<nanoseconds> ParseDuration(std::string_view text, std::string_view whole) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || rest == text.data()) return BadProfile(whole, "missing number");
  const std::string_view unit(rest, static_cast<size_t>(end - rest));
  if (unit.empty()) return BadProfile(whole, "missing unit");
  const double scale = UnitNanos(unit);
  if (scale == 0) return BadProfile(whole, "unknown unit '" + std::string(unit) + "'");
  // One hour bounds the value so the conversion cannot overflow.
  const double nanos = value * scale;
  if (!std::isfinite(nanos) || nanos < 0 || nanos > 3600e9) {
    return BadProfile(whole, "value out of range [0, 1h]");
  }
  return nanoseconds(static_cast<int64_t>(std::llround(nanos)));
}

// --- Sampling ---

// z such that P(Z <= z) = 0.99 for a standard normal.
constexpr double kZ99 = 2.3263478740408408;

// Deterministic in (seed, call index); lock-free for concurrent callers.
class LatencySampler {
 public:
  explicit LatencySampler(const LatencyProfile& p)
      : fixed_(p.fixed()),
        p50_(p.p50),
        mu_(fixed_ ? 0 : std::log(static_cast<double>(p.p50.count()))),
        sigma_(fixed_ ? 0
                      : std::log(static_cast<double>(p.p99.count()) /
                                 static_cast<double>(p.p50.count())) /
                            kZ99),
        seed_(p.seed) {}

  nanoseconds Sample() {
    if (fixed_) return p50_;
    const double z = StandardNormal();
    return nanoseconds(static_cast<int64_t>(std::exp(mu_ + sigma_ * z)));
  }

 private:
  uint64_t Next() {
    // splitmix64 over (seed, index), as FaultInjector.
    uint64_t z = seed_ + 0x9e3779b97f4a7c15ULL * (counter_.fetch_add(1) + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1]: 53 random bits, never 0 so log() is finite.
  double Uniform() { return (static_cast<double>(Next() >> 11) + 1.0) * 0x1.0p-53; }
  // Box-Muller.
  double StandardNormal() {
    const double u1 = Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  const bool fixed_;
  const nanoseconds p50_;
  const double mu_;
  const double sigma_;
  const uint64_t seed_;
  std::atomic<uint64_t> counter_{0};
};

// --- Decorator ---

class LatencyPaddedEngine final : public IoEngine {
 public:
  LatencyPaddedEngine(std::unique_ptr<IoEngine> inner, const LatencyProfile& profile)
      : inner_(std::move(inner)), sampler_(profile) {}

  std::string_view name() const override { return inner_->name(); }

  Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return inner_->Open(path, flags, mode);
  }
  Status Close(int fd) override { return inner_->Close(fd); }

  void SubmitBatch(std::span<const IoRequest> requests, std::span<IoResult> results) override {
    const Clock::time_point start = Clock::now();
    nanoseconds slowest{0};
    for (size_t i = 0; i < requests.size(); ++i) slowest = std::max(slowest, sampler_.Sample());
    inner_->SubmitBatch(requests, results);
    if (!requests.empty()) WaitUntilMonotonic(start + slowest);
  }

  Result<AsyncIo> SubmitAsync(const IoRequest& request) override {
    const Clock::time_point deadline = Clock::now() + sampler_.Sample();
    Result<AsyncIo> ticket = inner_->SubmitAsync(request);
    if (ticket.has_value()) {
      std::lock_guard lock(mu_);
      deadlines_[ticket->id()] = deadline;
    }
    return ticket;
  }

  IoResult WaitAsync(AsyncIo ticket) override {
    const uint64_t id = ticket.id();
    IoResult result = inner_->WaitAsync(std::move(ticket));
    if (auto deadline = TakeDeadline(id)) WaitUntilMonotonic(*deadline);
    return result;
  }

 private:
  std::optional<Clock::time_point> TakeDeadline(uint64_t id) {
    std::lock_guard lock(mu_);
    auto node = deadlines_.extract(id);
    if (node.empty()) return std::nullopt;
    return node.mapped();
  }

  std::unique_ptr<IoEngine> inner_;
  LatencySampler sampler_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Clock::time_point> deadlines_;  // async-write ticket -> deadline
};

// Sleeping closer than this to the deadline oversleeps past it: the timer
// slack (50 us default) plus wake-up latency measured 55-95 us here (see the
// header for the measurement).
constexpr nanoseconds kSpinWindow = std::chrono::microseconds(100);

timespec ToTimespec(Clock::time_point t) {
  const auto ns = std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

Result<LatencyProfile> ParseLatencyProfile(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    ASSIGN_OR_RETURN(const nanoseconds fixed, ParseDuration(text, text));
    return LatencyProfile::Fixed(fixed);
  }
  ASSIGN_OR_RETURN(const nanoseconds p50, ParseDuration(text.substr(0, slash), text));
  ASSIGN_OR_RETURN(const nanoseconds p99, ParseDuration(text.substr(slash + 1), text));
  if (p50 > p99) return BadProfile(text, "p50 is greater than p99");
  if (p50.count() == 0 && p99.count() != 0) return BadProfile(text, "p50 must be positive");
  return LatencyProfile::Quantiles(p50, p99);
}

std::unique_ptr<IoEngine> WithLatencyPadding(std::unique_ptr<IoEngine> inner,
                                             const LatencyProfile& profile) {
  return std::make_unique<LatencyPaddedEngine>(std::move(inner), profile);
}

void WaitUntilMonotonic(Clock::time_point deadline) {
  const Clock::time_point wake = deadline - kSpinWindow;
  if (Clock::now() < wake) {
    const timespec ts = ToTimespec(wake);
    // Absolute time: an EINTR restart does not stretch the wait.
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  }
  while (Clock::now() < deadline) {
  }
}

}  // namespace pageserver::io_engine
