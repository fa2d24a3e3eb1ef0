// The io-uring engine: one io_uring per (engine, thread), created lazily.
//
// Ring lifetime. A ring is owned by its engine's RingRegistry (shared_ptr
// held by the engine). Each thread keeps a thread_local ThreadRings list of
// (engine id, Ring*, weak_ptr<RingRegistry>) for the fast path. Whichever
// comes first tears the ring down:
//   - the engine dies: ~UringEngine closes the registry, destroying every
//     ring; a thread's stale entry is never matched again because engine ids
//     are never reused, and its weak_ptr has expired;
//   - the thread exits: ~ThreadRings locks each weak_ptr and, if the engine
//     is alive, asks the registry to destroy that thread's ring.
// Destruction happens under the registry mutex, so the two paths serialize.
// A ring reaps every in-flight completion before io_uring_queue_exit, so the
// kernel never writes into a buffer after its owner got control back.
//
// Request flow on one ring: every request becomes an Op; ops wait in
// `ready_` for an SQE, sit in `prepared_` until io_uring_submit accepts them,
// then are in flight until their CQE is reaped. Each CQE result goes through
// FaultInjector::Apply and OnCompletion(): done, failed, or back to `ready_`
// for the rest of the transfer. Any call on the ring drives every op of that
// thread, so async-write completions reaped by a SubmitBatch are kept in
// their Op until WaitAsync collects them.
//
// Ring failure. io_uring_submit answering -EAGAIN/-EBUSY (or -EINTR/-ENOMEM)
// means "reap some completions, then retry". Any other error, those persisting
// with nothing in flight, or io_uring_wait_cqe failing, poisons the ring: ops
// the kernel has not accepted fail with that error, in-flight ops are still
// reaped (a finished one keeps its real result, one needing a resubmission
// fails), and the thread's next call rebuilds the ring, discarding the
// unsubmitted SQEs with the old one. FaultPlan::submit_busy_one_in and
// ring_failure_one_in inject both cases in tests.

#include <liburing.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "io_engine/backends.h"
#include "io_engine/completion.h"
#include "io_engine/fault_injector.h"

namespace pageserver::io_engine::internal {
namespace {

using common::Histogram;

// One SQE moves at most this much: the SQE length field is 32 bits and the
// kernel caps a single read/write at MAX_RW_COUNT (INT_MAX rounded down to a
// page) anyway. Longer requests complete through short-transfer resubmission.
constexpr size_t kMaxSqeBytes = size_t{1} << 30;

// io_uring_submit answering -EAGAIN/-EBUSY with nothing in flight to reap:
// retry after a short sleep this many times before declaring the ring broken.
constexpr int kMaxIdleSubmitRetries = 1000;
constexpr auto kIdleSubmitBackoff = std::chrono::microseconds(100);

bool IsTransfer(IoOpcode op) { return op == IoOpcode::kRead || op == IoOpcode::kWrite; }

bool IsTransientRingError(int err) {
  return err == EAGAIN || err == EBUSY || err == EINTR || err == ENOMEM;
}

enum class OpStage : unsigned char { kQueued, kPrepared, kInFlight, kFinished };

// One request's progress. user_data of its SQE is the Op's address.
struct Op {
  IoRequest request;
  TransferState state;
  OpStage stage = OpStage::kQueued;
  IoResult result = Status::Internal("io_uring op did not complete");
  size_t* batch_unfinished = nullptr;  // decremented on finish; null for async requests
};

// Requests the kernel would misread (an offset of 2^64-1 means "current file
// position" to io_uring) fail like pread would: EINVAL.
bool OffsetInRange(const IoRequest& r) {
  if (!IsTransfer(r.opcode)) return true;
  return r.offset <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - r.length;
}

// Fills `sqe` for the untransferred rest of `op`.
void PrepSqe(io_uring_sqe* sqe, const Op& op) {
  const IoRequest& r = op.request;
  const size_t done = op.state.done;
  const auto len = static_cast<unsigned>(std::min(r.length - done, kMaxSqeBytes));
  switch (r.opcode) {
    case IoOpcode::kRead:
      io_uring_prep_read(sqe, r.fd, r.data + done, len, r.offset + done);
      break;
    case IoOpcode::kWrite:
      io_uring_prep_write(sqe, r.fd, r.data + done, len, r.offset + done);
      break;
    case IoOpcode::kFsync:
      io_uring_prep_fsync(sqe, r.fd, 0);
      break;
    case IoOpcode::kFdatasync:
      io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC);
      break;
  }
}

// One io_uring and the ops of the thread that owns it. Not thread-safe: only
// the owning thread calls it; the destructor may run on another thread (the
// one destroying the engine), never concurrently with the owner's calls.
class Ring {
 public:
  Ring(FaultInjector& faults, Histogram& depth) : faults_(faults), depth_(depth) {}
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  Status Init(unsigned entries);

  void RunBatch(std::span<const IoRequest> requests, std::span<IoResult> results);
  void StartAsync(uint64_t ticket, const IoRequest& request);
  bool HasTicket(uint64_t ticket) const { return async_.count(ticket) != 0; }
  IoResult WaitAsync(uint64_t ticket);

 private:
  // Ops of this ring are driven until `done()`; then queued resubmissions
  // (of async requests) are flushed without waiting.
  template <typename Pred>
  void Pump(Pred done);
  bool Start(Op& op);
  void Finish(Op& op, IoResult result);
  void Advance(Op& op, int64_t res);
  void FillSqes();
  void Prepare(Op& op);
  // wait_one: the same io_uring_enter also waits for one completion.
  void SubmitPrepared(bool wait_one = false);
  void MarkSubmitted(unsigned n);
  void ReapAtLeastOne();
  unsigned ReapReady();
  void OnCqe(Op& op, int32_t res);
  void Poison(const Status& why);
  void DrainInFlight();
  Status EnsureUsable();

  io_uring ring_{};
  bool initialized_ = false;
  unsigned entries_ = 0;
  unsigned capacity_ = 0;  // SQ size: in flight + prepared never exceed it
  unsigned in_flight_ = 0;
  std::deque<Op*> ready_;
  std::deque<Op*> prepared_;  // SQEs io_uring_submit has not accepted yet
  // Set when the ring failed (io_uring_enter error): every op was failed and
  // the ring is rebuilt on next use once nothing is in flight.
  Status broken_;
  std::unordered_map<uint64_t, std::unique_ptr<Op>> async_;
  FaultInjector& faults_;
  Histogram& depth_;
};

// ThreadSanitizer does not see liburing's raw mmap/munmap syscalls, so when a
// new ring is mapped at the address of a ring another thread tore down, the
// new owner's SQE writes look like races with the old owner's. Every ring
// setup and teardown goes through this read-modify-write, which orders each
// teardown before any later setup (one atomic op per ring lifetime).
std::atomic<uint64_t> g_ring_handoffs{0};
void RingMemoryHandoff() { g_ring_handoffs.fetch_add(1, std::memory_order_acq_rel); }

// io_uring_queue_exit after the handoff (see RingMemoryHandoff).
void ExitRing(io_uring* ring) {
  RingMemoryHandoff();
  io_uring_queue_exit(ring);
}

// Rings are single-issuer with deferred task work where the kernel has it
// (6.1+): completions are processed when the owning thread waits instead of
// interrupting it, which took the in-process QD1 random read (peer_bench,
// 1 thread, direct) from p50 67.9 us to 60.9 us on the BENCHMARKS.md machine.
// The price: only the thread that created a ring may submit or reap on it,
// which the per-thread ownership above already guarantees; a ring torn down
// by ~UringEngine from another thread cannot drain ops still in flight (the
// engine's contract says every async op is waited for before the engine
// dies). Older kernels answer EINVAL and get a plain ring.
Status InitRing(unsigned entries, io_uring* ring) {
  int rc =
      io_uring_queue_init(entries, ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  if (rc == -EINVAL) rc = io_uring_queue_init(entries, ring, 0);
  RingMemoryHandoff();
  if (rc < 0)
    return Status::FromErrno(-rc, "io_uring_queue_init entries=" + std::to_string(entries));
  // A forked child must not inherit the ring's mappings (and with them
  // in-flight buffers of the parent).
  const int dontfork = io_uring_ring_dontfork(ring);
  if (dontfork < 0) {
    ExitRing(ring);
    return Status::FromErrno(-dontfork, "io_uring_ring_dontfork");
  }
  return Status::Ok();
}

Status Ring::Init(unsigned entries) {
  entries_ = entries;
  RETURN_IF_ERROR(InitRing(entries, &ring_));
  initialized_ = true;
  capacity_ = ring_.sq.ring_entries;
  return Status::Ok();
}

Ring::~Ring() {
  if (!initialized_) return;
  DrainInFlight();
  ExitRing(&ring_);
}

// Teardown: reaps every in-flight completion without acting on it (no
// resubmission), so no buffer is written after the ring is gone. Gives up
// only if io_uring_wait_cqe itself keeps failing.
void Ring::DrainInFlight() {
  int failures = 0;
  while (in_flight_ > 0 && failures < kMaxIdleSubmitRetries) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc < 0) {
      ++failures;
      continue;
    }
    auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    if (op != nullptr && op->stage != OpStage::kFinished) {
      Finish(*op, broken_.ok() ? Status::Aborted("io_uring ring torn down") : broken_);
    }
  }
}

Status Ring::EnsureUsable() {
  if (broken_.ok()) return Status::Ok();
  if (in_flight_ != 0) return broken_;  // could not reap: never reuse this ring
  if (initialized_) ExitRing(&ring_);
  initialized_ = false;
  RETURN_IF_ERROR(InitRing(entries_, &ring_));
  initialized_ = true;
  broken_ = Status::Ok();
  return Status::Ok();
}

void Ring::Finish(Op& op, IoResult result) {
  op.result = std::move(result);
  op.stage = OpStage::kFinished;
  if (op.batch_unfinished != nullptr) --*op.batch_unfinished;
}

// Feeds one (possibly injected) result to the completion state machine.
void Ring::Advance(Op& op, int64_t res) {
  const CompletionStep step = OnCompletion(op.state, res);
  op.state = step.next;
  switch (step.action) {
    case CompletionAction::kDone:
      Finish(op, op.state.done);
      return;
    case CompletionAction::kFailed:
      Finish(op, Status::FromErrno(step.error, DescribeRequest(op.request)));
      return;
    case CompletionAction::kResubmit:
      if (!broken_.ok()) {
        Finish(op, broken_.WithContext(DescribeRequest(op.request)));
        return;
      }
      op.stage = OpStage::kQueued;
      ready_.push_back(&op);
      return;
  }
}

// Queues `op`, or finishes it at once when the kernel must not see it.
// Returns whether it was queued.
bool Ring::Start(Op& op) {
  op.state = TransferState{op.request.opcode, op.request.length};
  if (!broken_.ok()) {
    Finish(op, broken_.WithContext(DescribeRequest(op.request)));
    return false;
  }
  if (IsTransfer(op.request.opcode) && op.request.length == 0) {
    Finish(op, size_t{0});
    return false;
  }
  if (!OffsetInRange(op.request)) {
    Finish(op, Status::FromErrno(EINVAL, DescribeRequest(op.request)));
    return false;
  }
  op.stage = OpStage::kQueued;
  ready_.push_back(&op);
  return true;
}

void Ring::FillSqes() {
  while (!ready_.empty() && broken_.ok() && in_flight_ + prepared_.size() < capacity_) {
    Op* op = ready_.front();
    ready_.pop_front();
    Prepare(*op);
  }
}

void Ring::Prepare(Op& op) {
  // Injected failures replace the submission, as in the std-fs engine.
  const int64_t injected = faults_.BeforeSubmit(op.request.opcode);
  if (injected != 0) {
    Advance(op, injected);
    return;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // Cannot happen while prepared + in flight <= SQ size; if our accounting
    // is wrong, fail loudly rather than spin.
    ready_.push_front(&op);
    Poison(Status::Internal("io_uring_get_sqe: submission queue unexpectedly full"));
    return;
  }
  PrepSqe(sqe, op);
  io_uring_sqe_set_data(sqe, &op);
  op.stage = OpStage::kPrepared;
  prepared_.push_back(&op);
}

// The kernel consumes SQEs in order, so the first `n` prepared ops are now in
// flight.
void Ring::MarkSubmitted(unsigned n) {
  for (unsigned i = 0; i < n && !prepared_.empty(); ++i) {
    prepared_.front()->stage = OpStage::kInFlight;
    prepared_.pop_front();
  }
  in_flight_ += n;
  depth_.Observe(static_cast<double>(in_flight_));
}

// Hands every prepared SQE to the kernel. -EAGAIN/-EBUSY mean "reap some
// completions first"; any other error breaks the ring (Poison). With
// wait_one the submitting syscall also waits for a completion (one
// io_uring_enter instead of a submit and then a wait).
void Ring::SubmitPrepared(bool wait_one) {
  int idle_retries = 0;
  while (!prepared_.empty()) {
    int rc = faults_.BeforeRingSubmit();
    if (rc == 0) rc = io_uring_submit_and_wait(&ring_, wait_one ? 1 : 0);
    if (rc > 0) {
      MarkSubmitted(static_cast<unsigned>(rc));
      continue;
    }
    const int err = rc == 0 ? EAGAIN : -rc;
    if (!IsTransientRingError(err) || idle_retries >= kMaxIdleSubmitRetries) {
      Poison(Status::FromErrno(err, "io_uring_submit"));
      return;
    }
    if (in_flight_ > 0) {
      ReapAtLeastOne();
    } else {
      ++idle_retries;
      std::this_thread::sleep_for(kIdleSubmitBackoff);
    }
  }
}

// Fails every op that has not reached the kernel, then reaps those that did.
// The unsubmitted SQEs die with the ring, which EnsureUsable() rebuilds.
void Ring::Poison(const Status& why) {
  broken_ = why;
  for (std::deque<Op*>* q : {&prepared_, &ready_}) {
    for (Op* op : *q) Finish(*op, why.WithContext(DescribeRequest(op->request)));
    q->clear();
  }
  while (in_flight_ > 0) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR || rc == -EAGAIN) continue;
    if (rc < 0) break;  // unreapable: EnsureUsable() will never reuse this ring
    ReapReady();
  }
}

void Ring::OnCqe(Op& op, int32_t res) {
  --in_flight_;
  const size_t asked = op.request.length - op.state.done;
  Advance(op, faults_.Apply(op.request.opcode, asked, res));
}

// Processes every CQE already posted; returns how many. OnCqe never touches
// the CQ, so the entries can be consumed in place and released together.
unsigned Ring::ReapReady() {
  unsigned head = 0;
  unsigned count = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    OnCqe(*static_cast<Op*>(io_uring_cqe_get_data(cqe)), cqe->res);
    ++count;
  }
  io_uring_cq_advance(&ring_, count);
  return count;
}

void Ring::ReapAtLeastOne() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == 0) {
      ReapReady();
      return;
    }
    if (!IsTransientRingError(-rc)) {
      Poison(Status::FromErrno(-rc, "io_uring_wait_cqe"));
      return;
    }
  }
}

template <typename Pred>
void Ring::Pump(Pred done) {
  for (;;) {
    FillSqes();
    // The caller waits for a completion anyway: submit and wait in one call.
    SubmitPrepared(/*wait_one=*/!done());
    if (done()) break;
    if (in_flight_ == 0 && ready_.empty()) {
      // Nothing can complete the remaining ops: only possible if the ring
      // broke while they were not yet queued.
      Poison(Status::Internal("io_uring: ops pending with nothing in flight"));
      break;
    }
    if (in_flight_ > 0) ReapAtLeastOne();
  }
  FillSqes();
  SubmitPrepared();
}

void Ring::RunBatch(std::span<const IoRequest> requests, std::span<IoResult> results) {
  const Status usable = EnsureUsable();
  std::vector<Op> ops(requests.size());
  size_t unfinished = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ops[i].request = requests[i];
    if (!usable.ok()) {
      Finish(ops[i], usable.WithContext(DescribeRequest(requests[i])));
    } else if (Start(ops[i])) {
      // Counted only once queued: ops Start() finishes at once never were.
      ops[i].batch_unfinished = &unfinished;
      ++unfinished;
    }
  }
  Pump([&] { return unfinished == 0; });
  for (size_t i = 0; i < requests.size(); ++i) results[i] = std::move(ops[i].result);
}

void Ring::StartAsync(uint64_t ticket, const IoRequest& request) {
  auto op = std::make_unique<Op>();
  op->request = request;
  Op& ref = *op;
  async_.emplace(ticket, std::move(op));
  const Status usable = EnsureUsable();
  if (!usable.ok()) {
    Finish(ref, usable.WithContext(DescribeRequest(request)));
    return;
  }
  if (!Start(ref)) return;
  // "Returns at once" means once the SQE is with the kernel: if the ring is
  // full, reap until it fits.
  Pump([&] { return ref.stage != OpStage::kQueued; });
}

IoResult Ring::WaitAsync(uint64_t ticket) {
  auto it = async_.find(ticket);
  Op& op = *it->second;
  Pump([&] { return op.stage == OpStage::kFinished; });
  IoResult result = std::move(op.result);
  async_.erase(it);
  return result;
}

// Owns the rings of one engine, across threads. The mutex guards only ring
// creation and destruction; a ring is used only by its own thread.
class RingRegistry {
 public:
  // Returns false when the engine is already shutting down.
  bool Add(std::unique_ptr<Ring> ring) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    rings_.push_back(std::move(ring));
    return true;
  }

  // Thread exit: destroys that thread's ring (reaping it) if still here.
  void Release(Ring* ring) {
    std::lock_guard lock(mu_);
    std::erase_if(rings_, [ring](const std::unique_ptr<Ring>& r) { return r.get() == ring; });
  }

  // Engine destruction: destroys every ring.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    rings_.clear();
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::vector<std::unique_ptr<Ring>> rings_;
};

// This thread's rings, one per engine it used.
class ThreadRings {
 public:
  ThreadRings() = default;
  ThreadRings(const ThreadRings&) = delete;
  ThreadRings& operator=(const ThreadRings&) = delete;
  ~ThreadRings() {
    for (Entry& e : entries_) {
      if (auto registry = e.registry.lock()) registry->Release(e.ring);
    }
  }

  Ring* Find(uint64_t engine_id) const {
    for (const Entry& e : entries_) {
      if (e.engine_id == engine_id) return e.ring;
    }
    return nullptr;
  }

  void Add(uint64_t engine_id, Ring* ring, const std::shared_ptr<RingRegistry>& registry) {
    // Forget rings of engines that died meanwhile, so a long-lived thread
    // does not accumulate entries.
    std::erase_if(entries_, [](const Entry& e) { return e.registry.expired(); });
    entries_.push_back({engine_id, ring, registry});
  }

 private:
  struct Entry {
    uint64_t engine_id;
    Ring* ring;  // owned by *registry; valid while the engine lives
    std::weak_ptr<RingRegistry> registry;
  };
  std::vector<Entry> entries_;
};

ThreadRings& LocalRings() {
  thread_local ThreadRings rings;
  return rings;
}

std::atomic<uint64_t> g_next_engine_id{1};

Histogram& QueueDepthHistogram(common::Registry* registry) {
  common::Registry& r = registry != nullptr ? *registry : common::DefaultRegistry();
  // 1..256: the default ring holds 128 entries; larger rings land in +Inf.
  return r.GetHistogram("ps_io_uring_queue_depth",
                        "Number of requests in flight in one io_uring ring at each submit.",
                        common::ExponentialBuckets(1, 2, 9));
}

class UringEngine final : public IoEngine {
 public:
  explicit UringEngine(const IoEngineOptions& options)
      : id_(g_next_engine_id.fetch_add(1)),
        entries_(options.ring_entries == 0 ? 1 : options.ring_entries),
        faults_(options.faults),
        depth_(QueueDepthHistogram(options.registry)),
        registry_(std::make_shared<RingRegistry>()) {}

  ~UringEngine() override { registry_->Close(); }

  std::string_view name() const override { return "io-uring"; }

  Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return OpenFile(path, flags, mode, faults_);
  }

  Status Close(int fd) override { return CloseFile(fd); }

  void SubmitBatch(std::span<const IoRequest> requests, std::span<IoResult> results) override {
    Result<Ring*> ring = ThisThreadRing();
    if (!ring.has_value()) {
      for (size_t i = 0; i < requests.size(); ++i) {
        results[i] = ring.error().WithContext(DescribeRequest(requests[i]));
      }
      return;
    }
    (*ring)->RunBatch(requests, results);
  }

  Result<AsyncIo> SubmitAsync(const IoRequest& request) override {
    ASSIGN_OR_RETURN(Ring * ring, ThisThreadRing());
    const uint64_t ticket = next_ticket_.fetch_add(1);
    ring->StartAsync(ticket, request);
    return AsyncIo(ticket);
  }

  IoResult WaitAsync(AsyncIo ticket) override {
    if (!ticket.valid()) return Status::InvalidArgument("WaitAsync on an empty ticket");
    Ring* ring = LocalRings().Find(id_);
    if (ring == nullptr || !ring->HasTicket(ticket.id())) {
      return Status::InvalidArgument(
          "WaitAsync: ticket " + std::to_string(ticket.id()) +
          " is not pending on this thread's ring (an async request must be waited for on the "
          "thread that submitted it, exactly once)");
    }
    return ring->WaitAsync(ticket.id());
  }

 private:
  Result<Ring*> ThisThreadRing() {
    if (Ring* ring = LocalRings().Find(id_)) return ring;
    auto ring = std::make_unique<Ring>(faults_, depth_);
    RETURN_IF_ERROR(ring->Init(entries_));
    Ring* raw = ring.get();
    if (!registry_->Add(std::move(ring)))
      return Status::Aborted("io-uring engine is shutting down");
    LocalRings().Add(id_, raw, registry_);
    return raw;
  }

  const uint64_t id_;  // never reused, so stale thread-local entries never match
  const unsigned entries_;
  FaultInjector faults_;
  Histogram& depth_;
  std::shared_ptr<RingRegistry> registry_;
  std::atomic<uint64_t> next_ticket_{1};
};

// --- Probe ---

std::atomic<int> g_kernel_probe_runs{0};

// kernel.io_uring_disabled (Linux 6.6+): 0 allowed, 1 only for members of
// kernel.io_uring_group, 2 nobody. -1 when the sysctl does not exist.
int ReadIoUringDisabledSysctl() {
  std::ifstream in("/proc/sys/kernel/io_uring_disabled");
  int value = -1;
  if (!(in >> value)) return -1;
  return value;
}

Status ExplainInitFailure(int err, int sysctl) {
  std::string why;
  switch (err) {
    case EPERM:
      why = "io_uring_setup: EPERM (blocked by seccomp or io_uring_disabled";
      if (sysctl >= 0) why += ", kernel.io_uring_disabled=" + std::to_string(sysctl);
      why += ")";
      break;
    case ENOMEM:
      why = "io_uring_setup: ENOMEM (RLIMIT_MEMLOCK too low (ulimit -l))";
      break;
    case ENOSYS:
      why = "io_uring_setup: ENOSYS (the kernel lacks io_uring)";
      break;
    default:
      why = std::string("io_uring_setup: ") + std::strerror(err);
      break;
  }
  return Status::Unsupported(why);
}

Status CheckOpcodes(io_uring* ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) {
    return Status::Unsupported("io_uring_get_probe failed (kernel older than 5.6)");
  }
  struct Needed {
    int opcode;
    const char* name;
  };
  Status status;
  for (const Needed& n :
       {Needed{IORING_OP_READ, "IORING_OP_READ"}, Needed{IORING_OP_WRITE, "IORING_OP_WRITE"},
        Needed{IORING_OP_FSYNC, "IORING_OP_FSYNC"}}) {
    if (!io_uring_opcode_supported(probe, n.opcode)) {
      status = Status::Unsupported(std::string("missing opcode ") + n.name);
      break;
    }
  }
  io_uring_free_probe(probe);
  return status;
}

Status ProbeKernel() {
  g_kernel_probe_runs.fetch_add(1);
  const int sysctl = ReadIoUringDisabledSysctl();
  if (sysctl == 2) return Status::Unsupported("disabled by sysctl kernel.io_uring_disabled=2");
  io_uring ring{};
  const int rc = io_uring_queue_init(4, &ring, 0);
  RingMemoryHandoff();
  if (rc < 0) return ExplainInitFailure(-rc, sysctl);
  Status status = CheckOpcodes(&ring);
  ExitRing(&ring);
  return status;
}

}  // namespace

Status ProbeUring() {
  // The test seam is read on every call (cheap); the kernel probe runs once.
  RETURN_IF_ERROR(UringDisabledByEnv());
  static const Status kProbe = ProbeKernel();
  return kProbe;
}

int UringKernelProbeRuns() { return g_kernel_probe_runs.load(); }

Result<std::unique_ptr<IoEngine>> NewUringEngine(const IoEngineOptions& options) {
  RETURN_IF_ERROR(ProbeUring());
  return std::unique_ptr<IoEngine>(std::make_unique<UringEngine>(options));
}

}  // namespace pageserver::io_engine::internal
