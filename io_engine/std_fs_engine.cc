// The std-fs engine: blocking syscalls on the calling thread. A batch is a
// serial loop; async requests run on a small worker pool so a BufferedWriter
// can fill its next buffer while the previous one is written.

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io_engine/backends.h"
#include "io_engine/completion.h"
#include "io_engine/fault_injector.h"

namespace pageserver::io_engine::internal {
namespace {

// Raw syscall result for one attempt of `request` with `state.done` bytes
// already transferred: a byte count or -errno.
int64_t RawAttempt(const IoRequest& request, const TransferState& state) {
  const auto offset = static_cast<off_t>(request.offset + state.done);
  std::byte* data = request.data + state.done;
  const size_t rest = request.length - state.done;
  ssize_t n = 0;
  switch (request.opcode) {
    case IoOpcode::kRead:
      n = ::pread(request.fd, data, rest, offset);
      break;
    case IoOpcode::kWrite:
      n = ::pwrite(request.fd, data, rest, offset);
      break;
    case IoOpcode::kFsync:
      n = ::fsync(request.fd);
      break;
    case IoOpcode::kFdatasync:
      n = ::fdatasync(request.fd);
      break;
  }
  return n < 0 ? -static_cast<int64_t>(errno) : static_cast<int64_t>(n);
}

bool IsTransfer(IoOpcode op) { return op == IoOpcode::kRead || op == IoOpcode::kWrite; }

IoResult RunToCompletion(const IoRequest& request, FaultInjector& faults) {
  TransferState state{request.opcode, request.length};
  if (IsTransfer(request.opcode) && request.length == 0) return size_t{0};
  for (;;) {
    int64_t res = faults.BeforeSubmit(request.opcode);
    if (res == 0) {
      res = faults.Apply(request.opcode, request.length - state.done, RawAttempt(request, state));
    }
    const CompletionStep step = OnCompletion(state, res);
    state = step.next;
    if (step.action == CompletionAction::kDone) return state.done;
    if (step.action == CompletionAction::kFailed) {
      return Status::FromErrno(step.error, DescribeRequest(request));
    }
  }
}

// Runs async requests for the std-fs engine. Workers start on first use.
class AsyncPool {
 public:
  explicit AsyncPool(FaultInjector& faults) : faults_(faults) {}
  ~AsyncPool() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  uint64_t Submit(const IoRequest& request) {
    std::lock_guard lock(mu_);
    if (threads_.empty()) StartWorkers();
    const uint64_t id = next_id_++;
    queue_.push_back({id, request});
    pending_.insert(id);
    cv_.notify_all();
    return id;
  }

  IoResult Wait(uint64_t id) {
    std::unique_lock lock(mu_);
    // An unknown or already-waited ticket would otherwise block forever.
    if (pending_.erase(id) == 0) {
      return Status::InvalidArgument("WaitWrite: ticket " + std::to_string(id) +
                                     " is not pending (waited twice, or from another engine)");
    }
    done_cv_.wait(lock, [&] { return done_.count(id) != 0; });
    auto node = done_.extract(id);
    return std::move(node.mapped());
  }

 private:
  struct Job {
    uint64_t id;
    IoRequest request;
  };
  // Two workers: enough to overlap a flush with filling the next buffer for a
  // couple of concurrent writers; more would only add seek contention.
  static constexpr int kWorkers = 2;

  void StartWorkers() {
    for (int i = 0; i < kWorkers; ++i) threads_.emplace_back([this] { Work(); });
  }

  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Job job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      IoResult result = RunToCompletion(job.request, faults_);
      lock.lock();
      done_.emplace(job.id, std::move(result));
      done_cv_.notify_all();
    }
  }

  FaultInjector& faults_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<Job> queue_;
  std::unordered_map<uint64_t, IoResult> done_;
  std::unordered_set<uint64_t> pending_;  // submitted and not yet waited for
  std::vector<std::thread> threads_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
};

class StdFsEngine final : public IoEngine {
 public:
  explicit StdFsEngine(const IoEngineOptions& options) : faults_(options.faults), async_(faults_) {}

  std::string_view name() const override { return "std-fs"; }

  Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return OpenFile(path, flags, mode, faults_);
  }

  Status Close(int fd) override { return CloseFile(fd); }

  void SubmitBatch(std::span<const IoRequest> requests, std::span<IoResult> results) override {
    for (size_t i = 0; i < requests.size(); ++i) results[i] = RunToCompletion(requests[i], faults_);
  }

  Result<AsyncIo> SubmitAsync(const IoRequest& request) override {
    return AsyncIo(async_.Submit(request));
  }

  IoResult WaitAsync(AsyncIo ticket) override {
    if (!ticket.valid()) return Status::InvalidArgument("WaitAsync on an empty ticket");
    return async_.Wait(ticket.id());
  }

 private:
  FaultInjector faults_;
  AsyncPool async_;
};

}  // namespace

std::unique_ptr<IoEngine> NewStdFsEngine(const IoEngineOptions& options) {
  return std::make_unique<StdFsEngine>(options);
}

}  // namespace pageserver::io_engine::internal
