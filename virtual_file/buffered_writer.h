#pragma once

// BufferedWriter: appends of any size to a file, issued as direct-IO-legal
// writes.
//
// Protocol: appended bytes fill an aligned buffer of `capacity` bytes. Only
// full buffers are written, at start + N * capacity, so every write has an
// aligned offset, length and address. Two buffers alternate: when one is
// full, its write is submitted asynchronously (io_uring SQE, or the std-fs
// engine's write workers) and appends continue into the other; the writer
// waits for a flush only when it needs that buffer again. Finish() zero-pads
// the tail to the file's alignment, writes it, waits for everything, and
// truncates the file to its exact logical length.
//
// Durability: Finish() does not fsync; the caller syncs (VirtualFile::Sync)
// when it needs durability.
//
// Read-back: ReadAt() returns any already-appended range, wherever it lives:
// on disk, in a buffer being written, or in the buffer being filled.
//
// Thread-safety: Append(), Finish(), Drain() and the destructor must run on
// one thread (the one that submits and waits for the async writes: io_uring
// completions are reaped from the submitting thread's ring). After Drain()
// or Finish() returned, nothing is in flight and another thread may take
// over (or destroy the writer). ReadAt() and size() may be
// called concurrently from any thread, also while that thread appends.
//
// Errors: a failed write poisons the writer: that Status is returned by this
// and every later Append/Finish. ReadAt of a range whose write failed returns
// that Status too (never stale bytes); data still in memory (not yet written,
// or written but not yet waited for) stays readable.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/status.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::virtual_file {

class BufferedWriter {
 public:
  // Default buffer size: 256 KiB, large enough that a sequential layer write
  // approaches device bandwidth, small enough to keep two per writer cheap.
  static constexpr size_t kDefaultCapacity = 256 * 1024;

  // `file` must be open with write intent (kReadWrite for ReadAt of flushed
  // data) and outlive the writer. Writing starts at `start_offset`.
  // InvalidArgument when start_offset or capacity is not a multiple of the
  // file's alignment, or capacity is 0.
  static Result<std::unique_ptr<BufferedWriter>> Create(const VirtualFile* file,
                                                        uint64_t start_offset,
                                                        size_t capacity = kDefaultCapacity);
  ~BufferedWriter();  // waits for in-flight writes; does not Finish()

  Status Append(std::span<const std::byte> data);
  // Logical end: start_offset + bytes appended.
  uint64_t size() const;
  // Pads, writes and waits for all data, then SetLen(size()). Idempotent;
  // Append after Finish is an error.
  Status Finish();
  // Waits for every write in flight (not the buffer being filled), so that
  // another thread may become the appending thread: afterwards no
  // completion is pending on this thread's ring. Returns the writer's
  // poison, if any. Appending may continue afterwards.
  Status Drain();
  // Copies [offset, offset + dst.size()) into dst. REQUIRES (checked):
  // start_offset <= offset and offset + dst.size() <= size().
  Status ReadAt(uint64_t offset, std::span<std::byte> dst) const;

  BufferedWriter(const BufferedWriter&) = delete;
  BufferedWriter& operator=(const BufferedWriter&) = delete;

 private:
  struct State;
  explicit BufferedWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pageserver::virtual_file
