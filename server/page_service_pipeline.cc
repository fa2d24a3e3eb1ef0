#include "server/page_service_pipeline.h"

#include <utility>

namespace pageserver::server {

using common::Status;

BatchPipeline::BatchPipeline(size_t depth, Sender send)
    : depth_(depth == 0 ? 1 : depth), send_(std::move(send)) {}

BatchPipeline::~BatchPipeline() {
  {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return next_send_ == next_seq_; });
    shutdown_ = true;
  }
  work_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
}

bool BatchPipeline::idle() const {
  std::lock_guard lock(mu_);
  return next_send_ == next_seq_;
}

Status BatchPipeline::Submit(Job job) {
  {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return !error_.ok() || next_seq_ - next_send_ < depth_; });
    if (!error_.ok()) return error_;
    queue_.push_back({next_seq_++, std::move(job)});
    // A worker per job in flight, up to depth_: a job never waits for a
    // thread while another job's reads are outstanding.
    if (idle_workers_ < queue_.size() && workers_.size() < depth_) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
  }
  work_cv_.notify_one();
  return Status::Ok();
}

Status BatchPipeline::Drain() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return next_send_ == next_seq_; });
  return error_;
}

void BatchPipeline::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    ++idle_workers_;
    work_cv_.wait(lock, [&] { return shutdown_ || !queue_.empty(); });
    --idle_workers_;
    if (queue_.empty()) return;  // shutdown
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const Rendered rendered = task.job();
    SendInOrder(task.seq, rendered);
    lock.lock();
  }
}

void BatchPipeline::SendInOrder(uint64_t seq, const Rendered& rendered) {
  std::unique_lock lock(mu_);
  turn_cv_.wait(lock, [&] { return next_send_ == seq; });
  if (error_.ok()) {
    // Only the holder of the turn sends; the lock is not needed for that.
    lock.unlock();
    Status sent = send_(rendered);
    lock.lock();
    if (!sent.ok()) error_ = std::move(sent);
  }
  ++next_send_;
  lock.unlock();
  turn_cv_.notify_all();
  done_cv_.notify_all();
}

}  // namespace pageserver::server
