#include "tools/pagebench/runner.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "client/page_client.h"

namespace pageserver::pagebench {
namespace {

using client::PageClient;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

// Error texts kept for the report; the rest are only counted.
constexpr size_t kMaxSampleErrors = 5;
// How often a worker hands its counts to the reporter.
constexpr auto kPublishInterval = std::chrono::milliseconds(100);
// The longest a worker sleeps in poll() before it looks at the clock.
constexpr auto kMaxPollWait = std::chrono::milliseconds(20);

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

// What one worker counted since it last published.
struct Tally {
  LatencyHistogram latency_ns;
  VerdictCounts verdicts;
  std::vector<std::string> errors;

  void Error(ResponseVerdict verdict, uint64_t n, std::string message) {
    verdicts.Add(verdict, n);
    if (errors.size() < kMaxSampleErrors) errors.push_back(std::move(message));
  }
};

// Everything published so far; read by the reporter.
class SharedTally {
 public:
  void Publish(Tally& local) {
    std::lock_guard lock(mu_);
    total_.latency_ns.Add(local.latency_ns);
    total_.verdicts.Add(local.verdicts);
    for (std::string& e : local.errors) {
      if (total_.errors.size() < kMaxSampleErrors) total_.errors.push_back(std::move(e));
    }
    local = Tally();
  }
  ProgressTick Snapshot() {
    std::lock_guard lock(mu_);
    ProgressTick tick;
    tick.p99_ns = total_.latency_ns.Percentile(0.99);
    tick.errors = total_.verdicts.errors();
    completed_ = total_.verdicts.ok() + tick.errors;
    return tick;
  }
  uint64_t completed() const { return completed_; }
  Tally Take() {
    std::lock_guard lock(mu_);
    return std::move(total_);
  }

 private:
  std::mutex mu_;
  Tally total_;
  uint64_t completed_ = 0;  // as of the last Snapshot; reporter thread only
};

// Requests that may still be sent, when the run is bounded by a count.
class RequestBudget {
 public:
  explicit RequestBudget(std::optional<uint64_t> limit)
      : limited_(limit.has_value()), left_(limit.value_or(0)) {}
  // Up to `n` requests granted.
  uint32_t Claim(uint32_t n) {
    if (!limited_) return n;
    uint64_t left = left_.load(std::memory_order_relaxed);
    uint64_t grant = 0;
    do {
      grant = std::min<uint64_t>(n, left);
    } while (grant > 0 && !left_.compare_exchange_weak(left, left - grant));
    return static_cast<uint32_t>(grant);
  }
  bool exhausted() const { return limited_ && left_.load(std::memory_order_relaxed) == 0; }

 private:
  const bool limited_;
  std::atomic<uint64_t> left_;
};

// One page-service connection under load.
class Connection {
 public:
  Connection(std::unique_ptr<PageClient> client, const Target& target, const LoadConfig& config,
             uint64_t seed)
      : client_(std::move(client)),
        target_(target),
        generator_(target.blocks, config.run_length, seed),
        queue_depth_(config.queue_depth),
        interval_(config.rate_per_client > 0
                      ? std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(1.0 / config.rate_per_client))
                      : Clock::duration::zero()) {}

  void Start(Clock::time_point start) { next_due_ = start; }
  bool alive() const { return client_ != nullptr; }
  bool idle() const { return in_flight_.empty(); }
  int socket() const { return alive() ? client_->socket() : -1; }
  bool open_loop() const { return interval_ > Clock::duration::zero(); }
  Clock::time_point next_due() const { return next_due_; }
  // The next burst would fit in the free slots.
  bool has_room() const {
    return in_flight_.size() + (pending_.has_value() ? pending_->length : 1) <= queue_depth_;
  }

  // Sends every burst that fits in the free slots (and is due, open loop),
  // then flushes. True when something was sent.
  bool Refill(Clock::time_point now, RequestBudget& budget, Tally& tally);
  // Takes every response that has arrived.
  void Drain(Tally& tally);
  void Close() {
    if (alive()) (void)client_->Close();
    client_.reset();
  }

 private:
  void SendBurst(const Burst& burst, Clock::time_point start, Tally& tally);
  void Complete(const server::PagestreamResponse& response, Tally& tally);
  void Fail(const Status& status, Tally& tally);

  struct InFlight {
    server::GetPageRequest request;
    Clock::time_point start;
  };

  std::unique_ptr<PageClient> client_;
  const Target& target_;
  KeyGenerator generator_;
  const uint32_t queue_depth_;
  const Clock::duration interval_;
  std::optional<Burst> pending_;
  std::deque<InFlight> in_flight_;
  Clock::time_point next_due_;
};

bool Connection::Refill(Clock::time_point now, RequestBudget& budget, Tally& tally) {
  bool sent = false;
  while (alive()) {
    if (!pending_.has_value()) pending_ = generator_.Next();
    if (in_flight_.size() + pending_->length > queue_depth_) break;
    if (open_loop() && now < next_due_) break;
    Burst burst = *pending_;
    burst.length = budget.Claim(burst.length);
    if (burst.length == 0) break;
    pending_.reset();
    SendBurst(burst, open_loop() ? next_due_ : Clock::now(), tally);
    next_due_ += interval_ * burst.length;
    sent = true;
  }
  if (sent && alive()) {
    if (Status st = client_->Flush(); !st.ok()) Fail(st, tally);
  }
  return sent;
}

void Connection::SendBurst(const Burst& burst, Clock::time_point start, Tally& tally) {
  for (uint32_t i = 0; i < burst.length && alive(); ++i) {
    const PageKey key = burst.At(i);
    server::GetPageRequest request{
        {client_->NextRequestId(), target_.request_lsn, target_.not_modified_since},
        key.rel,
        key.blkno};
    in_flight_.push_back(InFlight{request, start});
    if (Status st = client_->Send(request); !st.ok()) Fail(st, tally);
  }
}

void Connection::Drain(Tally& tally) {
  while (alive()) {
    Result<std::optional<server::PagestreamResponse>> response = client_->TryReceive();
    if (!response.has_value()) {
      if (response.error().code() != common::StatusCode::kCorruption || in_flight_.empty()) {
        Fail(response.error(), tally);
        return;
      }
      in_flight_.pop_front();
      tally.Error(ResponseVerdict::kMalformed, 1, response.error().ToString());
      continue;
    }
    if (!response->has_value()) return;
    Complete(**response, tally);
  }
}

void Connection::Complete(const server::PagestreamResponse& response, Tally& tally) {
  const Clock::time_point now = Clock::now();
  if (in_flight_.empty()) {
    tally.Error(ResponseVerdict::kReqidMismatch, 1,
                "response with reqid " + std::to_string(response.hdr.reqid) +
                    " while no request was in flight");
    return;
  }
  const InFlight done = in_flight_.front();
  in_flight_.pop_front();
  const ResponseVerdict verdict = CheckGetPageResponse(done.request, response);
  if (verdict == ResponseVerdict::kOk) {
    tally.latency_ns.Record(Nanos(now - done.start));
    tally.verdicts.Add(verdict);
    return;
  }
  std::string what = std::string(VerdictName(verdict)) + " for " +
                     client::DescribeRequest(server::PagestreamRequest(done.request));
  if (verdict == ResponseVerdict::kServerError) what += ": " + response.error;
  tally.Error(verdict, 1, std::move(what));
}

void Connection::Fail(const Status& status, Tally& tally) {
  tally.Error(ResponseVerdict::kConnectionLost, in_flight_.size(),
              "connection to " + target_.tenant.ToHex() + "/" + target_.timeline.ToHex() +
                  " failed with " + std::to_string(in_flight_.size()) +
                  " requests in flight: " + status.ToString());
  in_flight_.clear();
  client_.reset();
}

// One thread's connections and its loop.
class Worker {
 public:
  Worker(SharedTally& shared, RequestBudget& budget) : shared_(shared), budget_(budget) {}
  void Add(std::unique_ptr<Connection> c) { connections_.push_back(std::move(c)); }
  void Run(Clock::time_point start, Clock::time_point end);

 private:
  bool Finished(bool sending) const;
  void Wait(Clock::time_point now, Clock::time_point end, bool sending);

  SharedTally& shared_;
  RequestBudget& budget_;
  std::vector<std::unique_ptr<Connection>> connections_;
  Tally tally_;
};

bool Worker::Finished(bool sending) const {
  if (sending) {
    return std::none_of(connections_.begin(), connections_.end(),
                        [](const auto& c) { return c->alive(); });
  }
  return std::all_of(connections_.begin(), connections_.end(),
                     [](const auto& c) { return !c->alive() || c->idle(); });
}

void Worker::Wait(Clock::time_point now, Clock::time_point end, bool sending) {
  Clock::time_point wake = std::min(end, now + kMaxPollWait);
  std::vector<pollfd> fds;
  for (const auto& c : connections_) {
    if (!c->alive()) continue;
    fds.push_back(pollfd{c->socket(), POLLIN, 0});
    // A due request waiting for a free slot waits for a response instead.
    if (sending && c->open_loop() && c->has_room()) wake = std::min(wake, c->next_due());
  }
  if (!sending) wake = now + kMaxPollWait;
  const uint64_t ns = wake > now ? Nanos(wake - now) : 0;
  const timespec timeout{static_cast<time_t>(ns / 1'000'000'000),
                         static_cast<long>(ns % 1'000'000'000)};
  (void)ppoll(fds.data(), fds.size(), &timeout, nullptr);
}

void Worker::Run(Clock::time_point start, Clock::time_point end) {
  for (auto& c : connections_) c->Start(start);
  Clock::time_point last_publish = start;
  while (true) {
    const Clock::time_point now = Clock::now();
    const bool sending = now < end && !budget_.exhausted();
    for (auto& c : connections_) {
      if (sending && c->Refill(now, budget_, tally_)) c->Drain(tally_);
    }
    if (Finished(sending)) break;
    Wait(now, end, sending);
    // Responses may also sit in libpq's buffer (read while flushing), so
    // every connection is drained, not only the readable ones.
    for (auto& c : connections_) c->Drain(tally_);
    if (Clock::now() - last_publish >= kPublishInterval) {
      shared_.Publish(tally_);
      last_publish = Clock::now();
    }
  }
  for (auto& c : connections_) c->Close();
  shared_.Publish(tally_);
}

uint64_t ConnectionSeed(uint64_t seed, size_t index) {
  // SplitMix64's increment spreads the seeds of neighbouring connections.
  return seed + 0x9E3779B97F4A7C15ULL * (index + 1);
}

Result<std::vector<std::unique_ptr<Connection>>> Connect(const LoadConfig& config,
                                                         const std::vector<Target>& targets) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (const Target& target : targets) {
    for (uint32_t i = 0; i < config.clients_per_target; ++i) {
      const std::string name = target.tenant.ToHex() + "/" + target.timeline.ToHex();
      auto client = PageClient::Connect(config.conninfo);
      if (!client.has_value()) return client.error().WithContext("connect for " + name);
      RETURN_IF_ERROR(
          (*client)
              ->StartPagestream(server::PagestreamVersion::kV3, target.tenant, target.timeline)
              .WithContext("pagestream_v3 " + name));
      connections.push_back(std::make_unique<Connection>(
          std::move(*client), target, config, ConnectionSeed(config.seed, connections.size())));
    }
  }
  return connections;
}

// Calls `progress` once a second until `done` is set.
void ReportProgress(SharedTally& shared, Clock::time_point start, std::mutex& mu,
                    std::condition_variable& cv, const bool& done,
                    const std::function<void(const ProgressTick&)>& progress) {
  uint64_t last_completed = 0;
  Clock::time_point last = start;
  for (int second = 1;; ++second) {
    std::unique_lock lock(mu);
    if (cv.wait_until(lock, start + std::chrono::seconds(second), [&] { return done; })) return;
    lock.unlock();
    const Clock::time_point now = Clock::now();
    ProgressTick tick = shared.Snapshot();
    tick.elapsed_seconds = std::chrono::duration<double>(now - start).count();
    tick.requests_per_second = static_cast<double>(shared.completed() - last_completed) /
                               std::chrono::duration<double>(now - last).count();
    last_completed = shared.completed();
    last = now;
    if (progress) progress(tick);
  }
}

}  // namespace

Status ValidateLoadConfig(const LoadConfig& config, const std::vector<Target>& targets) {
  if (targets.empty()) return Status::InvalidArgument("no target timelines");
  if (config.clients_per_target == 0 || config.queue_depth == 0 || config.threads == 0) {
    return Status::InvalidArgument("clients, queue depth and threads must be at least 1");
  }
  if (config.run_length == 0 || config.run_length > config.queue_depth) {
    return Status::InvalidArgument("a sequential run of " + std::to_string(config.run_length) +
                                   " blocks must fit the queue depth " +
                                   std::to_string(config.queue_depth));
  }
  if (config.rate_per_client < 0) return Status::InvalidArgument("negative rate");
  for (const Target& t : targets) {
    if (t.blocks.total_blocks() == 0) {
      return Status::InvalidArgument("timeline " + t.tenant.ToHex() + "/" + t.timeline.ToHex() +
                                     " has no relation blocks to read");
    }
  }
  return Status::Ok();
}

Result<LoadResult> RunLoad(const LoadConfig& config, const std::vector<Target>& targets,
                           const std::function<void(const ProgressTick&)>& progress) {
  RETURN_IF_ERROR(ValidateLoadConfig(config, targets));
  ASSIGN_OR_RETURN(auto connections, Connect(config, targets));
  SharedTally shared;
  RequestBudget budget(config.max_requests);
  std::vector<std::unique_ptr<Worker>> workers;
  const size_t n_workers = std::min<size_t>(config.threads, connections.size());
  for (size_t i = 0; i < n_workers; ++i)
    workers.push_back(std::make_unique<Worker>(shared, budget));
  for (size_t i = 0; i < connections.size(); ++i) {
    workers[i % n_workers]->Add(std::move(connections[i]));
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + config.duration;
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, start, end] { w->Run(start, end); });
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread reporter([&] { ReportProgress(shared, start, mu, cv, done, progress); });
  for (std::thread& t : threads) t.join();
  const Clock::time_point finish = Clock::now();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  reporter.join();

  Tally total = shared.Take();
  LoadResult result;
  result.latency_ns = std::move(total.latency_ns);
  result.verdicts = total.verdicts;
  result.sample_errors = std::move(total.errors);
  result.elapsed_seconds = std::chrono::duration<double>(finish - start).count();
  return result;
}

}  // namespace pageserver::pagebench
