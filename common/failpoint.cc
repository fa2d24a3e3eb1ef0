#include "common/failpoint.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <utility>

namespace pageserver::common {

namespace internal {
std::atomic<FailPointState> g_failpoint_state{FailPointState::kUnread};
}  // namespace internal

namespace {

using internal::FailPointState;
using internal::g_failpoint_state;

constexpr const char* kEnvVar = "PS_FAILPOINTS";
constexpr std::string_view kKillAction = "kill";
constexpr std::string_view kPauseAction = "pause";

struct ArmedFailPoint {
  FailPointSpec spec;
  uint64_t hits = 0;
};

// Guards the armed list and the kUnread -> armed/disarmed transition.
std::mutex& Mutex() {
  static std::mutex mu;
  return mu;
}

std::vector<ArmedFailPoint>& Armed() {
  static std::vector<ArmedFailPoint> armed;
  return armed;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

Result<FailPointSpec> ParseEntry(std::string_view entry) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("failpoint spec '" + std::string(entry) +
                                   "': " + std::string(why));
  };
  const size_t eq = entry.find('=');
  if (eq == std::string_view::npos) return bad("expected <name>=<action>");
  FailPointSpec spec;
  spec.name = std::string(Trim(entry.substr(0, eq)));
  if (spec.name.empty()) return bad("empty name");
  const std::string_view action = Trim(entry.substr(eq + 1));
  const std::string_view word = action.substr(0, action.find('@'));
  if (word == kKillAction) {
    spec.action = FailPointAction::kKill;
  } else if (word == kPauseAction) {
    spec.action = FailPointAction::kPause;
  } else {
    return bad("unknown action (expected kill, kill@N, pause or pause@N)");
  }
  std::string_view rest = action.substr(word.size());
  if (rest.empty()) return spec;
  rest.remove_prefix(1);  // '@'
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), spec.at_hit);
  if (ec != std::errc() || end != rest.data() + rest.size() || spec.at_hit == 0) {
    return bad("N of <action>@N must be a positive integer");
  }
  return spec;
}

// REQUIRES: Mutex() held.
void InstallLocked(std::vector<FailPointSpec> specs) {
  std::vector<ArmedFailPoint>& armed = Armed();
  armed.clear();
  for (FailPointSpec& spec : specs) armed.push_back({std::move(spec), 0});
  g_failpoint_state.store(armed.empty() ? FailPointState::kDisarmed : FailPointState::kArmed,
                          std::memory_order_release);
}

// REQUIRES: Mutex() held.
void ReadEnvironmentLocked() {
  const char* text = std::getenv(kEnvVar);
  Result<std::vector<FailPointSpec>> specs = ParseFailPoints(text == nullptr ? "" : text);
  if (!specs.has_value()) {
    spdlog::critical("{}: {}", kEnvVar, specs.error().ToString());
    std::abort();
  }
  InstallLocked(std::move(specs).value());
}

[[noreturn]] void KillSelf(std::string_view name, uint64_t hit) {
  spdlog::warn("failpoint {}: killing the process at hit {}", name, hit);
  ::kill(::getpid(), SIGKILL);
  // SIGKILL cannot be blocked; wait for its delivery.
  while (true) ::pause();
}

[[noreturn]] void PauseForever(std::string_view name, uint64_t hit) {
  spdlog::warn("failpoint {}: pausing this thread at hit {}", name, hit);
  while (true) ::pause();
}

}  // namespace

Result<std::vector<FailPointSpec>> ParseFailPoints(std::string_view spec) {
  std::vector<FailPointSpec> out;
  while (!spec.empty()) {
    const size_t comma = std::min(spec.find(','), spec.size());
    const std::string_view entry = Trim(spec.substr(0, comma));
    spec.remove_prefix(std::min(comma + 1, spec.size()));
    if (entry.empty()) continue;
    ASSIGN_OR_RETURN(FailPointSpec parsed, ParseEntry(entry));
    for (const FailPointSpec& seen : out) {
      if (seen.name == parsed.name) {
        return Status::InvalidArgument("failpoint " + parsed.name + " is given twice");
      }
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

Status SetFailPointsForTest(std::string_view spec) {
  ASSIGN_OR_RETURN(std::vector<FailPointSpec> specs, ParseFailPoints(spec));
  std::lock_guard lock(Mutex());
  InstallLocked(std::move(specs));
  return Status::Ok();
}

namespace internal {

void FailPointSlow(std::string_view name) {
  std::optional<FailPointAction> fire;
  uint64_t hit = 0;
  {
    std::lock_guard lock(Mutex());
    if (g_failpoint_state.load(std::memory_order_acquire) == FailPointState::kUnread) {
      ReadEnvironmentLocked();
    }
    for (ArmedFailPoint& armed : Armed()) {
      if (armed.spec.name != name) continue;
      hit = ++armed.hits;
      if (hit == armed.spec.at_hit) fire = armed.spec.action;
      break;
    }
  }
  // Outside the lock: a paused thread must not block other failpoints.
  if (fire == FailPointAction::kKill) KillSelf(name, hit);
  if (fire == FailPointAction::kPause) PauseForever(name, hit);
}

}  // namespace internal
}  // namespace pageserver::common
