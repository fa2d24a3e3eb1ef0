#pragma once

// The load loop: pipelined GetPage requests over many page-service
// connections (client::PageClient, pagestream v3), driven by poll() from a
// few threads, every response checked (response_check.h) and its latency
// recorded (histogram.h).
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
// End: after `duration`, or once `max_requests` requests were sent in
// total; the requests then in flight are still awaited and counted. A
// connection whose transport fails stops; its requests in flight count as
// kConnectionLost errors; the others go on.
//
// Progress: once a second `progress` (when set) is called from the calling
// thread with the requests completed in the last second and the p99 of all
// latencies so far.
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

#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "tools/pagebench/histogram.h"
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
};

struct ProgressTick {
  double elapsed_seconds = 0;
  double requests_per_second = 0;  // completed in the last interval
  uint64_t p99_ns = 0;             // of every latency recorded so far
  uint64_t errors = 0;             // so far
};

struct LoadResult {
  LatencyHistogram latency_ns;  // successful (kOk) requests only
  VerdictCounts verdicts;
  double elapsed_seconds = 0;  // first send to last response
  // The first few error messages (server Error text, transport failures).
  std::vector<std::string> sample_errors;
};

// InvalidArgument for a config that breaks a REQUIRES, or no targets, or a
// target without blocks.
common::Status ValidateLoadConfig(const LoadConfig& config, const std::vector<Target>& targets);

common::Result<LoadResult> RunLoad(const LoadConfig& config, const std::vector<Target>& targets,
                                   const std::function<void(const ProgressTick&)>& progress);

}  // namespace pageserver::pagebench
