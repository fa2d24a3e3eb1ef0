#include "virtual_file/buffered_writer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>

#include "common/align.h"

namespace pageserver::virtual_file {

// Concurrency design (see also buffered_writer.h):
//
// The appending thread owns the buffers' contents; readers copy out of them.
// Two mechanisms keep readers safe without locking every Append:
//
//  - `size` is published with a release store after the bytes are copied in.
//    A reader only touches bytes below the size it acquired, and the writer
//    only writes bytes at or above the current size, so their byte ranges
//    never overlap (zero padding also lies above the size).
//  - Every change of a buffer's role (filling -> in flight, in flight ->
//    written to disk, empty -> filling at a new base) happens under the
//    exclusive lock; readers hold the shared lock while they look a range up
//    *and while they copy* from a buffer. So a buffer whose flush completed
//    cannot be reset and refilled while a reader is still copying from it:
//    the writer's exclusive lock waits for that reader, and readers arriving
//    later find the range below `disk_end` and read it from the file.
//
// Waiting for a write and disk reads happen outside the lock, so neither side
// blocks the other on IO.
namespace {

// A reader-writer lock that prefers the writer. std::shared_mutex is a
// default pthread_rwlock, which prefers readers: a steady stream of
// overlapping ReadAt calls could then stall the appending thread forever at
// a buffer switch.
class WriterPreferringLock {
 public:
  WriterPreferringLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    const int rc = pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) common::DieWithStatus("BufferedWriter lock", Status::FromErrno(rc, "rwlock init"));
  }
  ~WriterPreferringLock() { pthread_rwlock_destroy(&lock_); }
  WriterPreferringLock(const WriterPreferringLock&) = delete;
  WriterPreferringLock& operator=(const WriterPreferringLock&) = delete;

  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

enum class BufferState : unsigned char {
  kEmpty,     // holds no data
  kFilling,   // receives appends; valid bytes are [base, size)
  kInFlight,  // submitted; valid bytes are [base, base + length)
  kLost,      // its write failed: the data is gone (the writer is poisoned)
};

}  // namespace

struct BufferedWriter::State {
  struct Buffer {
    IoBufferMut memory;
    BufferState state = BufferState::kEmpty;
    uint64_t base = 0;          // file offset of memory.data()[0]
    size_t length = 0;          // logical bytes, set when the write is submitted
    io_engine::AsyncIo ticket;  // appending thread only
  };

  State(const VirtualFile* f, uint64_t start_offset, size_t cap);

  // Appending thread.
  Status EnsureFillingBuffer();
  size_t CopyIn(std::span<const std::byte> data);
  bool CurrentIsFull() const { return buffers[current].memory.remaining() == 0; }
  Status SubmitCurrent();
  Status WaitFor(Buffer& buffer);
  Status WaitAll();
  Status FlushAll();
  void Poison(const Status& status);

  // Any thread.
  Result<size_t> ReadPiece(uint64_t offset, std::span<std::byte> dst) const;
  size_t CopyFromMemory(uint64_t offset, std::span<std::byte> dst) const;
  Result<size_t> ReadFromDisk(uint64_t offset, std::span<std::byte> dst) const;
  Status LostRange(uint64_t offset, size_t length) const;

  const VirtualFile* const file;
  const uint64_t start;
  const size_t capacity;
  std::array<Buffer, 2> buffers;
  size_t current = 0;     // index of the buffer appends go to
  bool finished = false;  // appending thread only
  std::atomic<uint64_t> size;

  mutable WriterPreferringLock mu;
  // Guarded by mu (written by the appending thread only).
  uint64_t disk_end;  // [start, disk_end) is written and waited for
  Status poison;
};

BufferedWriter::State::State(const VirtualFile* f, uint64_t start_offset, size_t cap)
    : file(f), start(start_offset), capacity(cap), size(start_offset), disk_end(start_offset) {
  for (Buffer& b : buffers) b.memory = IoBufferMut::Allocate(capacity, file->alignment());
  buffers[0].state = BufferState::kFilling;
  buffers[0].base = start;
}

Status BufferedWriter::State::EnsureFillingBuffer() {
  const Buffer& full = buffers[current];
  if (full.state == BufferState::kFilling) return Status::Ok();
  // The current buffer is in flight: continue in the other one, which may
  // itself still be in flight from the round before.
  const size_t next = 1 - current;
  Buffer& b = buffers[next];
  RETURN_IF_ERROR(WaitFor(b));
  std::unique_lock lock(mu);
  b.memory.clear();
  b.base = full.base + capacity;
  b.state = BufferState::kFilling;
  current = next;
  return Status::Ok();
}

size_t BufferedWriter::State::CopyIn(std::span<const std::byte> data) {
  const size_t n = buffers[current].memory.Append(data);
  size.store(size.load(std::memory_order_relaxed) + n, std::memory_order_release);
  return n;
}

Status BufferedWriter::State::SubmitCurrent() {
  Buffer& b = buffers[current];
  const size_t length = b.memory.size();
  // Only Finish() submits a partial buffer; the zeros past the logical end
  // make the write direct-IO legal and are cut off by SetLen.
  b.memory.ZeroPadTo(common::AlignUp(length, file->alignment()));
  Result<io_engine::AsyncIo> ticket = file->SubmitWrite(b.base, b.memory.Valid());
  if (!ticket.has_value()) {
    Poison(ticket.error());
    return std::move(ticket).error();
  }
  std::unique_lock lock(mu);
  b.ticket = std::move(ticket).value();
  b.length = length;
  b.state = BufferState::kInFlight;
  return Status::Ok();
}

Status BufferedWriter::State::WaitFor(Buffer& b) {
  if (b.state != BufferState::kInFlight) return Status::Ok();
  Status status = file->WaitWrite(std::move(b.ticket), b.base, b.memory.size());
  std::unique_lock lock(mu);
  if (!status.ok()) {
    b.state = BufferState::kLost;
    if (poison.ok()) poison = status;
    return status;
  }
  // Writes are waited oldest first; after a lost write nothing later counts
  // as durable-readable, since the range below it has a hole.
  if (b.base == disk_end) disk_end = b.base + b.length;
  b.state = BufferState::kEmpty;
  return Status::Ok();
}

Status BufferedWriter::State::WaitAll() {
  Buffer* older = &buffers[0];
  Buffer* newer = &buffers[1];
  if (newer->base < older->base) std::swap(older, newer);
  // Wait for both even if the first failed: the kernel may still be reading
  // the second buffer.
  Status first = WaitFor(*older);
  Status second = WaitFor(*newer);
  return first.ok() ? second : first;
}

Status BufferedWriter::State::FlushAll() {
  if (buffers[current].state == BufferState::kFilling && buffers[current].memory.size() != 0) {
    RETURN_IF_ERROR(SubmitCurrent());
  }
  return WaitAll();
}

void BufferedWriter::State::Poison(const Status& status) {
  std::unique_lock lock(mu);
  if (poison.ok()) poison = status;
}

Result<size_t> BufferedWriter::State::ReadPiece(uint64_t offset, std::span<std::byte> dst) const {
  uint64_t on_disk_end = 0;
  {
    std::shared_lock lock(mu);
    const size_t copied = CopyFromMemory(offset, dst);
    if (copied != 0) return copied;
    if (offset >= disk_end) return LostRange(offset, dst.size());
    on_disk_end = disk_end;
  }
  return ReadFromDisk(offset, dst.first(std::min<uint64_t>(dst.size(), on_disk_end - offset)));
}

// REQUIRES: shared lock held; offset + dst.size() <= a size already acquired.
size_t BufferedWriter::State::CopyFromMemory(uint64_t offset, std::span<std::byte> dst) const {
  for (const Buffer& b : buffers) {
    uint64_t end = 0;
    if (b.state == BufferState::kFilling) end = b.base + capacity;  // caller bounds by size
    if (b.state == BufferState::kInFlight) end = b.base + b.length;
    if (offset < b.base || offset >= end) continue;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(dst.size(), end - offset));
    std::memcpy(dst.data(), b.memory.data() + (offset - b.base), n);
    return n;
  }
  return 0;
}

// Reads straight into `dst` when it happens to be aligned; otherwise through
// an aligned bounce buffer of at most `capacity` bytes. Returns bytes copied.
Result<size_t> BufferedWriter::State::ReadFromDisk(uint64_t offset,
                                                   std::span<std::byte> dst) const {
  const size_t align = file->alignment();
  if (common::IsAligned(offset, align) && common::IsAligned(dst.size(), align)) {
    Result<AlignedSpanMut> direct = AlignedSpanMut::Wrap(dst.data(), dst.size(), align);
    if (direct.has_value()) {
      RETURN_IF_ERROR(file->ReadExactAt(offset, *direct));
      return dst.size();
    }
  }
  const uint64_t lo = common::AlignDown(offset, align);
  const uint64_t hi =
      std::min<uint64_t>(common::AlignUp(offset + dst.size(), align), lo + capacity);
  IoBufferMut bounce = IoBufferMut::Allocate(static_cast<size_t>(hi - lo), align);
  // Plain ReadAt: after Finish the aligned-up range may pass end of file.
  ASSIGN_OR_RETURN(const size_t got, file->ReadAt(lo, bounce.WholeCapacity()));
  const size_t skip = static_cast<size_t>(offset - lo);
  const size_t n = std::min<size_t>(dst.size(), static_cast<size_t>(hi - offset));
  if (got < skip + n) {
    return Status::IoError("read " + file->path() + " offset=" + std::to_string(offset) +
                           " length=" + std::to_string(n) +
                           ": written data missing, file ends at " + std::to_string(lo + got));
  }
  std::memcpy(dst.data(), bounce.data() + skip, n);
  return n;
}

// REQUIRES: shared lock held.
Status BufferedWriter::State::LostRange(uint64_t offset, size_t length) const {
  const std::string what = "read " + file->path() + " offset=" + std::to_string(offset) +
                           " length=" + std::to_string(length) + ": data lost in a failed write";
  if (poison.ok()) return Status::Internal(what + " (but the writer is not poisoned)");
  return poison.WithContext(what);
}

Result<std::unique_ptr<BufferedWriter>> BufferedWriter::Create(const VirtualFile* file,
                                                               uint64_t start_offset,
                                                               size_t capacity) {
  if (file == nullptr) return Status::InvalidArgument("buffered writer: no file");
  const size_t align = file->alignment();
  if (capacity == 0 || !common::IsAligned(capacity, align) ||
      !common::IsAligned(start_offset, align)) {
    return Status::InvalidArgument("buffered writer for " + file->path() + ": start offset " +
                                   std::to_string(start_offset) + " capacity " +
                                   std::to_string(capacity) + " not aligned to " +
                                   std::to_string(align) + " (or capacity 0)");
  }
  auto state = std::make_unique<State>(file, start_offset, capacity);
  return std::unique_ptr<BufferedWriter>(new BufferedWriter(std::move(state)));
}

BufferedWriter::BufferedWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

BufferedWriter::~BufferedWriter() {
  // Buffers must outlive the kernel's use of them, finished or not.
  const Status status = state_->WaitAll();
  if (!status.ok()) {
    spdlog::warn("buffered writer for {} dropped without Finish: {}", state_->file->path(),
                 status.ToString());
  }
}

Status BufferedWriter::Append(std::span<const std::byte> data) {
  State& s = *state_;
  RETURN_IF_ERROR(s.poison);
  if (s.finished) {
    return Status::InvalidArgument("append to " + s.file->path() + " after Finish");
  }
  while (!data.empty()) {
    RETURN_IF_ERROR(s.EnsureFillingBuffer());
    data = data.subspan(s.CopyIn(data));
    // Submit as soon as a buffer is full so its write overlaps the next fill.
    if (s.CurrentIsFull()) RETURN_IF_ERROR(s.SubmitCurrent());
  }
  return Status::Ok();
}

uint64_t BufferedWriter::size() const { return state_->size.load(std::memory_order_acquire); }

Status BufferedWriter::Finish() {
  State& s = *state_;
  if (s.finished || !s.poison.ok()) {
    (void)s.WaitAll();  // a poisoned writer may still have a write in flight
    return s.poison;
  }
  s.finished = true;
  Status status = s.FlushAll();
  if (status.ok()) status = s.file->SetLen(size());
  if (!status.ok()) s.Poison(status);
  return status;
}

Status BufferedWriter::Drain() {
  State& s = *state_;
  const Status waited = s.WaitAll();
  if (!waited.ok()) s.Poison(waited);
  return s.poison;
}

Status BufferedWriter::ReadAt(uint64_t offset, std::span<std::byte> dst) const {
  const State& s = *state_;
  const uint64_t end = size();
  if (offset < s.start || offset > end || dst.size() > end - offset) {
    return Status::InvalidArgument("read " + s.file->path() + " offset=" + std::to_string(offset) +
                                   " length=" + std::to_string(dst.size()) +
                                   ": outside the written range [" + std::to_string(s.start) +
                                   ", " + std::to_string(end) + ")");
  }
  while (!dst.empty()) {
    ASSIGN_OR_RETURN(const size_t n, s.ReadPiece(offset, dst));
    offset += n;
    dst = dst.subspan(n);
  }
  return Status::Ok();
}

}  // namespace pageserver::virtual_file
