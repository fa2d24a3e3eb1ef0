#pragma once

// The load loop: pipelined GetPage requests over many page-service
// connections (client::PageClient, pagestream v3), driven by poll() from a
// few threads, every response checked (response_check.h) and its latency
// recorded (common/latency_histogram.h).
//
// Shape: each target timeline gets `clients_per_target` connections; the
// connections are dealt round-robin to `threads` threads. Each connection
// keeps up to `queue_depth` requests in flight. It sends whole bursts
// (KeyGenerator::Next: 1 block, or a sequential run sent back to back in
// one flush, so the server can batch it) whenever the burst fits in the
// free slots, then flushes. A response is matched to the oldest request in
// flight on its connection (the server answers in order).
//
// Latency: closed loop (rate 0): from just before the request is queued
// to the moment its response is taken out of libpq. Open loop (rate R per
// connection): request i of a connection is due at start + i / R; the
// latency counts from the due time, so a server that falls behind shows in
// the percentiles instead of slowing the schedule down (no coordinated
// omission).
//
// Warm-up: for the first `warmup` the same load runs, but its requests (a
// request belongs to the window in which it started: its send time, or its
// due time in open loop) are counted apart, in LoadResult::warmup_*: they
// are checked like all others, their errors are kept (warmup_verdicts,
// sample_errors), and they neither take from `max_requests` nor enter
// `verdicts`, `latency_ns`, `series` or `elapsed_seconds`. The measured
// window starts when the warm-up ends.
//
// Working set: with `working_set_blocks` = n, each target's keys are
// BlockSpace::Prefix(n) of its blocks (workload.h); sequential runs stay
// inside it.
//
// End: after `duration` of measured window, or once `max_requests`
// measured requests were sent in total; the requests then in flight are
// still awaited and counted. A
// connection whose transport fails stops; its requests in flight count as
// kConnectionLost errors; the others go on.
//
// Progress: once a second `progress` (when set) is called from a reporter
// thread with the requests completed in the last second and the p99 of all
// latencies so far in the current window (warm-up, then measured).
//
// Series (record_series): one SeriesRow per second k of the measured window,
// for the measured requests that completed in [k, k + 1) s after it started
// (not cumulative); seconds without completions get a row of zeros. The
// last row may cover less than a second. Rows are final 5 s after their
// second ends (or at the end of the run); a worker stalled longer than that
// adds its late counts and max to the row, but not to its percentiles.
//
// Errors (the Result): only setup failures (a connection that cannot be
// made or switched to pagestream), as the client's Status naming the target.
// Failures during the run are counted, not returned.
//
// Thread-safety: Run blocks the calling thread and starts `threads` worker
// threads; everything it touches is its own.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/latency_histogram.h"
#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "tools/pagebench/response_check.h"
#include "tools/pagebench/workload.h"

namespace pageserver::pagebench {

// One timeline under load and what to read from it.
struct Target {
  layers::TenantId tenant;
  layers::TimelineId timeline;
  // Requests carry request_lsn and not_modified_since from here: a fixed
  // LSN (both = lsn) or latest (request_lsn FFFFFFFF/FFFFFFFF,
  // not_modified_since = the timeline's last_record_lsn when discovered).
  layers::Lsn request_lsn;
  layers::Lsn not_modified_since;
  BlockSpace blocks;
};

struct LoadConfig {
  std::string conninfo;  // libpq, e.g. "host=127.0.0.1 port=64000"
  uint32_t clients_per_target = 1;
  uint32_t queue_depth = 1;
  uint32_t threads = 1;
  // 1: uniform single blocks; K > 1: sequential runs of K adjacent blocks.
  // REQUIRES: 1 <= run_length <= queue_depth.
  uint32_t run_length = 1;
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  std::optional<uint64_t> max_requests;
  // Requests per second per connection; 0: closed loop.
  double rate_per_client = 0;
  uint64_t seed = 0;
  // Load run before the measured window, counted apart (see above).
  std::chrono::nanoseconds warmup{0};
  // Read only the first n blocks of each target. REQUIRES: n >= 1.
  std::optional<uint64_t> working_set_blocks;
  bool record_series = false;
  // Read every block of each target's working set exactly once, in key
  // order, split over its connections (KeyGenerator scan mode), then stop
  // (duration still caps it). REQUIRES: run_length 1, closed loop, no
  // warm-up, no max_requests.
  bool scan = false;
};

struct ProgressTick {
  bool warmup = false;             // the tick falls in the warm-up
  double elapsed_seconds = 0;      // since the start of the run (warm-up included)
  double requests_per_second = 0;  // completed in the last interval
  uint64_t p99_ns = 0;             // of every latency so far in this window
  uint64_t errors = 0;             // so far, warm-up included
};

// The measured requests that completed in second `second` (from 0) of the
// measured window. Percentiles and max are of the ok ones (0 when none).
struct SeriesRow {
  uint64_t second = 0;
  uint64_t requests = 0;  // ok + errors
  uint64_t errors = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
};

struct LoadResult {
  common::LatencyHistogram latency_ns;  // successful (kOk) measured requests only
  VerdictCounts verdicts;               // measured requests
  VerdictCounts warmup_verdicts;
  double elapsed_seconds = 0;  // end of warm-up (first send without one) to last response
  double warmup_seconds = 0;   // as configured
  // Per target (in the order given): the blocks its keys were drawn from.
  std::vector<uint64_t> working_set_blocks;
  // Distinct blocks (over every target) with at least one ok response,
  // warm-up included.
  uint64_t distinct_blocks_touched = 0;
  std::vector<SeriesRow> series;  // empty unless record_series
  // The first few error messages (server Error text, transport failures).
  std::vector<std::string> sample_errors;
};

// InvalidArgument for a config that breaks a REQUIRES, or no targets, or a
// target without blocks, or a negative warm-up.
common::Status ValidateLoadConfig(const LoadConfig& config, const std::vector<Target>& targets);

common::Result<LoadResult> RunLoad(const LoadConfig& config, const std::vector<Target>& targets,
                                   const std::function<void(const ProgressTick&)>& progress);

}  // namespace pageserver::pagebench
