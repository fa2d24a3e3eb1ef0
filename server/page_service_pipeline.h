#pragma once

// BatchPipeline: keeps up to `depth` GetPage batches of one pagestream in
// execution at once, so the device queue does not drain at the end of every
// batch. Private to the page service (page_service_pagestream.cc).
//
// The connection thread reads requests and cuts batches; each batch becomes
// a Job run on one of up to `depth` worker threads (started on demand,
// joined by Drain-at-destruction). A job renders its batch's responses; the
// rendered bytes are handed to `send` strictly in submission order, one
// sender at a time, whatever order the jobs finish in. So a client sees the
// same byte stream as without the pipeline.
//
// Errors: the first failed send is sticky. Later jobs still run (their
// reads are already cheap to finish) but nothing more is sent, and Submit()
// and Drain() return that status.
//
// Thread-safety: Submit(), Drain(), idle() and the destructor are called by
// one thread (the connection's). Jobs and `send` run on worker threads; the
// owner must not send on the connection itself unless idle() (no job is in
// flight, so no worker is sending).

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace pageserver::server {

class BatchPipeline {
 public:
  // One batch's responses, ready to send.
  struct Rendered {
    std::vector<std::byte> bytes;
    size_t payload_bytes = 0;  // page-bytes metric: bytes minus framing
  };
  using Job = std::function<Rendered()>;
  using Sender = std::function<common::Status(const Rendered&)>;

  // REQUIRES: depth >= 1.
  BatchPipeline(size_t depth, Sender send);
  // Waits for every submitted job to run and be sent (or dropped after a
  // send error), then joins the workers.
  ~BatchPipeline();
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // Queues `job`; blocks while `depth` jobs are submitted and unsent.
  // Error: an earlier send failed (the job is not queued).
  common::Status Submit(Job job);
  // Waits until every submitted job is sent. Error: a send failed.
  common::Status Drain();
  // True when no submitted job is unsent.
  bool idle() const;

 private:
  struct Task {
    uint64_t seq;
    Job job;
  };
  void WorkerLoop();
  // Sends `rendered` once every earlier job was sent (or the pipeline
  // failed), then lets the next one go.
  void SendInOrder(uint64_t seq, const Rendered& rendered);

  const size_t depth_;
  const Sender send_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // workers: a task or shutdown
  std::condition_variable turn_cv_;  // workers: next_send_ moved
  std::condition_variable done_cv_;  // owner: a job was sent
  std::deque<Task> queue_;           // guarded by mu_
  uint64_t next_seq_ = 0;            // guarded by mu_: seq of the next Submit
  uint64_t next_send_ = 0;           // guarded by mu_: seq allowed to send
  size_t idle_workers_ = 0;          // guarded by mu_
  bool shutdown_ = false;            // guarded by mu_
  common::Status error_;             // guarded by mu_: first send failure
  std::vector<std::thread> workers_;
};

}  // namespace pageserver::server
