#pragma once

// Failpoints: named places in crash-relevant code paths (between a layer
// file's fsync and its rename, between a flush and the metadata update, ...)
// where a crash test can kill the process, to check that what is on disk
// after any crash reloads to a consistent state (tests/timeline/
// timeline_crash_test.cc), or hold a thread to widen a race window.
//
//   common::FailPoint("layer-before-rename");  // in the writer
//
// A failpoint does nothing unless armed. Arming is by the environment
// variable PS_FAILPOINTS, read once, on the first FailPoint() call, as a
// comma-separated list of `<name>=<action>`:
//   name=kill     SIGKILL the whole process at the first hit of `name`
//   name=kill@N   ... at the N-th hit (N >= 1); earlier hits only count
//   name=pause    block the thread that hits it forever (until the process
//   name=pause@N  is killed), so other threads run on while it sits in the
//                 window, e.g. between a flush and its metadata update
// e.g. PS_FAILPOINTS="layer-before-rename=kill@3,gc-before-remove=kill".
// Production never sets the variable. SIGKILL (not abort or exit) is the
// point: no destructor, atexit handler or buffered write runs, as in a real
// crash. Every thread of the process dies with it.
//
// A malformed PS_FAILPOINTS is a broken test setup, not something to ignore
// (a crash test would pass without crashing): FailPoint() logs it and aborts.
//
// The failpoints in the code (grep "FailPoint(" for the current list):
//   layer-append-blob          every value a layer writer appends
//   layer-before-rename        layer file fsynced, before its rename
//   layer-after-rename         renamed, before the directory fsync
//   replace-before-rename      ReplaceFileAtomically (metadata), before rename
//   flush-before-metadata      L0 in the map, before disk_consistent_lsn moves
//   compaction-before-publish  L1s written, before the map swap
//   compaction-after-publish   map swapped, L0 files not yet deleted
//   image-before-publish       image layer written, before the map swap
//   gc-before-remove           GC cutoff persisted, before layers leave the map
//
// Cost when disarmed (the normal case): one relaxed atomic load, inlined at
// the call site, so failpoints may sit on IO paths.
//
// Thread-safety: FailPoint() may be called from any thread; hit counting of
// an armed name is serialized by a mutex. SetFailPointsForTest() must not run
// concurrently with FailPoint() calls that are expected to see the new
// spec (a test arms before it starts the work, e.g. in a forked child).

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pageserver::common {

enum class FailPointAction : uint8_t { kKill, kPause };

// One armed failpoint: `action` at its `at_hit`-th hit.
struct FailPointSpec {
  std::string name;
  FailPointAction action = FailPointAction::kKill;
  uint64_t at_hit = 1;

  bool operator==(const FailPointSpec&) const = default;
};

// Parses the PS_FAILPOINTS syntax above; "" (or only separators) is an empty
// list. InvalidArgument naming the bad entry for a missing name, an unknown
// action, an N that is not a positive integer, or a name given twice.
// Example: ParseFailPoints("a=kill,b=pause@2") == {{"a", kKill, 1}, {"b", kPause, 2}}.
Result<std::vector<FailPointSpec>> ParseFailPoints(std::string_view spec);

// Replaces whatever is armed (by PS_FAILPOINTS or an earlier call) by
// `spec` and resets every hit count; "" disarms all. After this call the
// environment variable is no longer consulted. For tests, e.g. a forked
// child arming the crash point it is about to run into. InvalidArgument
// (nothing changed) for a malformed spec.
Status SetFailPointsForTest(std::string_view spec);

namespace internal {
enum class FailPointState : uint8_t { kUnread = 0, kDisarmed = 1, kArmed = 2 };
extern std::atomic<FailPointState> g_failpoint_state;
void FailPointSlow(std::string_view name);
}  // namespace internal

// Counts a hit of `name` and SIGKILLs the process or blocks forever when an
// armed action says so; otherwise returns. See the file comment.
inline void FailPoint(std::string_view name) {
  if (internal::g_failpoint_state.load(std::memory_order_relaxed) ==
      internal::FailPointState::kDisarmed) {
    return;
  }
  internal::FailPointSlow(name);
}

}  // namespace pageserver::common
