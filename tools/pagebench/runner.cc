#include "tools/pagebench/runner.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "client/page_client.h"

namespace pageserver::pagebench {
namespace {

using client::PageClient;
using common::LatencyHistogram;
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

// Seconds of the series a worker may still be publishing: a row is final
// this long after its second ends (workers publish every kPublishInterval).
constexpr uint64_t kSeriesSlackSeconds = 5;

// The run's clock, fixed before the workers start.
struct Timing {
  Clock::time_point start;          // first send
  Clock::time_point measure_start;  // end of the warm-up
  bool record_series = false;

  bool InWarmup(Clock::time_point t) const { return t < measure_start; }
  // The second of the measured window holding `t` (0 before it).
  uint64_t SecondOf(Clock::time_point t) const {
    return t <= measure_start ? 0 : Nanos(t - measure_start) / 1'000'000'000;
  }
};

// The measured requests completed in one second of the series.
struct SecondCounts {
  LatencyHistogram latency_ns;  // ok ones
  uint64_t requests = 0;
  uint64_t errors = 0;

  void Add(const SecondCounts& other) {
    latency_ns.Add(other.latency_ns);
    requests += other.requests;
    errors += other.errors;
  }
  SeriesRow Row(uint64_t second) const {
    return SeriesRow{
        second,          requests, errors, latency_ns.Percentile(0.5), latency_ns.Percentile(0.99),
        latency_ns.max()};
  }
};

// What one worker counted since it last published.
struct Tally {
  explicit Tally(const Timing& t) : timing(&t) {}

  const Timing* timing;
  LatencyHistogram latency_ns;         // measured, ok
  LatencyHistogram warmup_latency_ns;  // warm-up, ok (progress only)
  VerdictCounts verdicts;
  VerdictCounts warmup_verdicts;
  std::map<uint64_t, SecondCounts> seconds;  // record_series only
  std::vector<std::string> errors;

  void Ok(bool warmup, uint64_t latency, Clock::time_point now) {
    (warmup ? warmup_latency_ns : latency_ns).Record(latency);
    Count(warmup, ResponseVerdict::kOk, 1, now);
    if (!warmup && timing->record_series) seconds[timing->SecondOf(now)].latency_ns.Record(latency);
  }
  void Count(bool warmup, ResponseVerdict verdict, uint64_t n, Clock::time_point now) {
    if (n == 0) return;
    (warmup ? warmup_verdicts : verdicts).Add(verdict, n);
    if (warmup || !timing->record_series) return;
    SecondCounts& second = seconds[timing->SecondOf(now)];
    second.requests += n;
    if (verdict != ResponseVerdict::kOk) second.errors += n;
  }
  void Error(bool warmup, ResponseVerdict verdict, uint64_t n, std::string message,
             Clock::time_point now) {
    Count(warmup, verdict, n, now);
    Sample(warmup, std::move(message));
  }
  void Sample(bool warmup, std::string message) {
    if (errors.size() < kMaxSampleErrors) {
      errors.push_back(warmup ? "warm-up: " + std::move(message) : std::move(message));
    }
  }
};

// Everything published so far; read by the reporter.
class SharedTally {
 public:
  explicit SharedTally(const Timing& timing) : timing_(timing), total_(timing) {}

  void Publish(Tally& local) {
    std::lock_guard lock(mu_);
    total_.latency_ns.Add(local.latency_ns);
    total_.warmup_latency_ns.Add(local.warmup_latency_ns);
    total_.verdicts.Add(local.verdicts);
    total_.warmup_verdicts.Add(local.warmup_verdicts);
    for (auto& [second, counts] : local.seconds) MergeSecond(second, counts);
    for (std::string& e : local.errors) {
      if (total_.errors.size() < kMaxSampleErrors) total_.errors.push_back(std::move(e));
    }
    local = Tally(timing_);
  }
  ProgressTick Snapshot(Clock::time_point now) {
    std::lock_guard lock(mu_);
    ProgressTick tick;
    tick.warmup = timing_.InWarmup(now);
    tick.p99_ns = (tick.warmup ? total_.warmup_latency_ns : total_.latency_ns).Percentile(0.99);
    tick.errors = total_.verdicts.errors() + total_.warmup_verdicts.errors();
    completed_ = total_.verdicts.ok() + total_.warmup_verdicts.ok() + tick.errors;
    const uint64_t second = timing_.SecondOf(now);
    if (!tick.warmup && second > kSeriesSlackSeconds) FinalizeBefore(second - kSeriesSlackSeconds);
    return tick;
  }
  uint64_t completed() const { return completed_; }
  // Everything, the series final. Call after every worker published.
  LoadResult Finish(double elapsed_seconds) {
    std::lock_guard lock(mu_);
    FinalizeBefore(UINT64_MAX);
    LoadResult result;
    result.latency_ns = std::move(total_.latency_ns);
    result.verdicts = total_.verdicts;
    result.warmup_verdicts = total_.warmup_verdicts;
    result.sample_errors = std::move(total_.errors);
    result.elapsed_seconds = elapsed_seconds;
    if (!timing_.record_series) return result;
    // Seconds without completions (the server stalled) still get a row.
    uint64_t rows = static_cast<uint64_t>(std::ceil(elapsed_seconds));
    if (!rows_.empty()) rows = std::max(rows, rows_.rbegin()->first + 1);
    for (uint64_t s = 0; s < rows; ++s) {
      const auto it = rows_.find(s);
      result.series.push_back(it != rows_.end() ? it->second : SeriesRow{s});
    }
    return result;
  }

 private:
  void MergeSecond(uint64_t second, const SecondCounts& counts) {
    const auto done = rows_.find(second);
    if (done == rows_.end()) {
      total_.seconds[second].Add(counts);
      return;
    }
    // Too late for the percentiles of a final row; the counts still add up.
    done->second.requests += counts.requests;
    done->second.errors += counts.errors;
    done->second.max_ns = std::max(done->second.max_ns, counts.latency_ns.max());
  }
  void FinalizeBefore(uint64_t second) {
    auto& open = total_.seconds;
    while (!open.empty() && open.begin()->first < second) {
      rows_[open.begin()->first] = open.begin()->second.Row(open.begin()->first);
      open.erase(open.begin());
    }
  }

  const Timing& timing_;
  std::mutex mu_;
  Tally total_;
  std::map<uint64_t, SeriesRow> rows_;  // final series rows
  uint64_t completed_ = 0;              // as of the last Snapshot; reporter thread only
};

// Blocks that got an ok response, by flat index; shared by the connections
// of one target. Insert is a load when the bit is set already, so hot
// blocks cost no contended writes.
class BlockSet {
 public:
  explicit BlockSet(uint64_t n) : words_((n + 63) / 64) {}
  void Insert(uint64_t index) {
    std::atomic<uint64_t>& word = words_[index / 64];
    const uint64_t bit = uint64_t{1} << (index % 64);
    if ((word.load(std::memory_order_relaxed) & bit) == 0) {
      word.fetch_or(bit, std::memory_order_relaxed);
    }
  }
  uint64_t Count() const {
    uint64_t n = 0;
    for (const auto& w : words_) n += std::popcount(w.load(std::memory_order_relaxed));
    return n;
  }

 private:
  std::vector<std::atomic<uint64_t>> words_;
};

// One target as the load sees it: its working set and what was touched.
struct TargetLoad {
  TargetLoad(const Target& t, std::optional<uint64_t> working_set)
      : target(t),
        space(working_set.has_value() ? t.blocks.Prefix(*working_set) : t.blocks),
        touched(space.total_blocks()) {}
  const Target& target;
  const BlockSpace space;
  BlockSet touched;
  std::atomic<uint64_t> scan_cursor{0};  // next block to hand out in scan mode
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
  Connection(std::unique_ptr<PageClient> client, TargetLoad& load, const LoadConfig& config,
             uint64_t seed)
      : client_(std::move(client)),
        target_(load.target),
        touched_(load.touched),
        generator_(config.scan ? KeyGenerator(load.space, &load.scan_cursor)
                               : KeyGenerator(load.space, config.run_length, seed)),
        queue_depth_(config.queue_depth),
        interval_(config.rate_per_client > 0
                      ? std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(1.0 / config.rate_per_client))
                      : Clock::duration::zero()) {}

  void Start(Clock::time_point start, Clock::time_point measure_start) {
    next_due_ = start;
    measure_start_ = measure_start;
  }
  bool alive() const { return client_ != nullptr; }
  bool idle() const { return in_flight_.empty(); }
  int socket() const { return alive() ? client_->socket() : -1; }
  bool open_loop() const { return interval_ > Clock::duration::zero(); }
  Clock::time_point next_due() const { return next_due_; }
  // The next burst would fit in the free slots.
  bool has_room() const {
    return in_flight_.size() + (pending_.has_value() ? pending_->length : 1) <= queue_depth_;
  }
  // Closed loop, with room for its next burst and a burst to send (a scan
  // that handed out every block has none): it should send now, not wait.
  bool ready_to_send() const {
    return !open_loop() && has_room() && !(pending_.has_value() && pending_->length == 0);
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
  void SendBurst(const Burst& burst, Clock::time_point start, bool warmup, Tally& tally);
  void Complete(const server::PagestreamResponse& response, Tally& tally);
  void Fail(const Status& status, Tally& tally);

  struct InFlight {
    server::GetPageRequest request;
    Clock::time_point start;
    uint64_t index;  // in the target's working set
    bool warmup;     // started before the measured window
  };

  std::unique_ptr<PageClient> client_;
  const Target& target_;
  BlockSet& touched_;
  KeyGenerator generator_;
  const uint32_t queue_depth_;
  const Clock::duration interval_;
  std::optional<Burst> pending_;
  std::deque<InFlight> in_flight_;
  Clock::time_point next_due_;
  Clock::time_point measure_start_;
};

bool Connection::Refill(Clock::time_point now, RequestBudget& budget, Tally& tally) {
  bool sent = false;
  while (alive()) {
    if (!pending_.has_value()) pending_ = generator_.Next();
    if (pending_->length == 0) break;  // a scan that has handed out every block
    if (in_flight_.size() + pending_->length > queue_depth_) break;
    if (open_loop() && now < next_due_) break;
    const Clock::time_point start = open_loop() ? next_due_ : Clock::now();
    // Warm-up requests do not take from the measured window's budget.
    const bool warmup = start < measure_start_;
    Burst burst = *pending_;
    if (!warmup) burst.length = budget.Claim(burst.length);
    if (burst.length == 0) break;
    pending_.reset();
    SendBurst(burst, start, warmup, tally);
    next_due_ += interval_ * burst.length;
    sent = true;
  }
  if (sent && alive()) {
    if (Status st = client_->Flush(); !st.ok()) Fail(st, tally);
  }
  return sent;
}

void Connection::SendBurst(const Burst& burst, Clock::time_point start, bool warmup, Tally& tally) {
  for (uint32_t i = 0; i < burst.length && alive(); ++i) {
    const PageKey key = burst.At(i);
    server::GetPageRequest request{
        {client_->NextRequestId(), target_.request_lsn, target_.not_modified_since},
        key.rel,
        key.blkno};
    in_flight_.push_back(InFlight{request, start, burst.first_index + i, warmup});
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
      const bool warmup = in_flight_.front().warmup;
      in_flight_.pop_front();
      tally.Error(warmup, ResponseVerdict::kMalformed, 1, response.error().ToString(),
                  Clock::now());
      continue;
    }
    if (!response->has_value()) return;
    Complete(**response, tally);
  }
}

void Connection::Complete(const server::PagestreamResponse& response, Tally& tally) {
  const Clock::time_point now = Clock::now();
  if (in_flight_.empty()) {
    tally.Error(now < measure_start_, ResponseVerdict::kReqidMismatch, 1,
                "response with reqid " + std::to_string(response.hdr.reqid) +
                    " while no request was in flight",
                now);
    return;
  }
  const InFlight done = in_flight_.front();
  in_flight_.pop_front();
  const ResponseVerdict verdict = CheckGetPageResponse(done.request, response);
  if (verdict == ResponseVerdict::kOk) {
    tally.Ok(done.warmup, Nanos(now - done.start), now);
    touched_.Insert(done.index);
    return;
  }
  std::string what = std::string(VerdictName(verdict)) + " for " +
                     client::DescribeRequest(server::PagestreamRequest(done.request));
  if (verdict == ResponseVerdict::kServerError) what += ": " + response.error;
  tally.Error(done.warmup, verdict, 1, std::move(what), now);
}

void Connection::Fail(const Status& status, Tally& tally) {
  const Clock::time_point now = Clock::now();
  const auto warmup = static_cast<uint64_t>(std::count_if(
      in_flight_.begin(), in_flight_.end(), [](const InFlight& r) { return r.warmup; }));
  tally.Count(true, ResponseVerdict::kConnectionLost, warmup, now);
  tally.Count(false, ResponseVerdict::kConnectionLost, in_flight_.size() - warmup, now);
  tally.Sample(now < measure_start_, "connection to " + target_.tenant.ToHex() + "/" +
                                         target_.timeline.ToHex() + " failed with " +
                                         std::to_string(in_flight_.size()) +
                                         " requests in flight: " + status.ToString());
  in_flight_.clear();
  client_.reset();
}

// One thread's connections and its loop.
class Worker {
 public:
  Worker(SharedTally& shared, RequestBudget& budget, const Timing& timing)
      : shared_(shared), budget_(budget), timing_(timing), tally_(timing) {}
  void Add(std::unique_ptr<Connection> c) { connections_.push_back(std::move(c)); }
  // Sends until `end` (or the budget is spent), then awaits what is in flight.
  void Run(Clock::time_point end);

 private:
  bool Finished(bool sending) const;
  void Wait(Clock::time_point now, Clock::time_point end, bool sending);

  SharedTally& shared_;
  RequestBudget& budget_;
  const Timing& timing_;
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
    // A response taken in the Drain right after a send frees a slot that no
    // socket event will announce: do not sleep on it.
    if (sending && c->ready_to_send()) wake = now;
  }
  if (!sending) wake = now + kMaxPollWait;
  const uint64_t ns = wake > now ? Nanos(wake - now) : 0;
  const timespec timeout{static_cast<time_t>(ns / 1'000'000'000),
                         static_cast<long>(ns % 1'000'000'000)};
  (void)ppoll(fds.data(), fds.size(), &timeout, nullptr);
}

void Worker::Run(Clock::time_point end) {
  for (auto& c : connections_) c->Start(timing_.start, timing_.measure_start);
  Clock::time_point last_publish = timing_.start;
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

Result<std::vector<std::unique_ptr<Connection>>> Connect(
    const LoadConfig& config, std::vector<std::unique_ptr<TargetLoad>>& loads) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (auto& load : loads) {
    const Target& target = load->target;
    for (uint32_t i = 0; i < config.clients_per_target; ++i) {
      const std::string name = target.tenant.ToHex() + "/" + target.timeline.ToHex();
      auto client = PageClient::Connect(config.conninfo);
      if (!client.has_value()) return client.error().WithContext("connect for " + name);
      RETURN_IF_ERROR(
          (*client)
              ->StartPagestream(server::PagestreamVersion::kV3, target.tenant, target.timeline)
              .WithContext("pagestream_v3 " + name));
      connections.push_back(std::make_unique<Connection>(
          std::move(*client), *load, config, ConnectionSeed(config.seed, connections.size())));
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
    ProgressTick tick = shared.Snapshot(now);
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
  if (config.warmup.count() < 0) return Status::InvalidArgument("negative warm-up");
  if (config.scan && (config.run_length != 1 || config.rate_per_client > 0 ||
                      config.warmup.count() > 0 || config.max_requests.has_value())) {
    return Status::InvalidArgument(
        "a scan reads each block once: no sequential runs, rate, warm-up or request count");
  }
  if (config.working_set_blocks == uint64_t{0}) {
    return Status::InvalidArgument("a working set must hold at least one block");
  }
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
  std::vector<std::unique_ptr<TargetLoad>> loads;
  for (const Target& t : targets) {
    loads.push_back(std::make_unique<TargetLoad>(t, config.working_set_blocks));
  }
  ASSIGN_OR_RETURN(auto connections, Connect(config, loads));
  Timing timing;
  timing.record_series = config.record_series;
  SharedTally shared(timing);
  std::optional<uint64_t> max_requests = config.max_requests;
  if (config.scan) {
    // The run ends when every block was requested once.
    max_requests = 0;
    for (const auto& load : loads) *max_requests += load->space.total_blocks();
  }
  RequestBudget budget(max_requests);
  std::vector<std::unique_ptr<Worker>> workers;
  const size_t n_workers = std::min<size_t>(config.threads, connections.size());
  for (size_t i = 0; i < n_workers; ++i) {
    workers.push_back(std::make_unique<Worker>(shared, budget, timing));
  }
  for (size_t i = 0; i < connections.size(); ++i) {
    workers[i % n_workers]->Add(std::move(connections[i]));
  }

  timing.start = Clock::now();
  timing.measure_start = timing.start + config.warmup;
  const Clock::time_point end = timing.measure_start + config.duration;
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, end] { w->Run(end); });
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread reporter([&] { ReportProgress(shared, timing.start, mu, cv, done, progress); });
  for (std::thread& t : threads) t.join();
  const Clock::time_point finish = Clock::now();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  reporter.join();

  const double elapsed = finish > timing.measure_start
                             ? std::chrono::duration<double>(finish - timing.measure_start).count()
                             : 0.0;
  LoadResult result = shared.Finish(elapsed);
  result.warmup_seconds = std::chrono::duration<double>(config.warmup).count();
  for (const auto& load : loads) {
    result.working_set_blocks.push_back(load->space.total_blocks());
    result.distinct_blocks_touched += load->touched.Count();
  }
  return result;
}

}  // namespace pageserver::pagebench
