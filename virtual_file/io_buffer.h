#pragma once

// Aligned IO memory. VirtualFile's read and write calls accept only the view
// types below, so the memory-alignment requirement of O_DIRECT is carried by
// the type (as Neon's IoBufAligned): a view can only be made from an aligned
// owning buffer, from a checked wrapper around foreign aligned memory (the
// PageCache arena), or by slicing another view (which keeps track of the
// alignment that remains).
//
//   IoBufferMut buf = IoBufferMut::Allocate(8192, 512);   // capacity 8192, size 0
//   ASSIGN_OR_RETURN(size_t n, file.ReadAt(0, buf.WholeCapacity()));
//   buf.set_size(n);
//
// Ownership: AlignedBuffer and IoBufferMut own their memory and are
// move-only. Views (AlignedSpan/AlignedSpanMut) borrow; the owner must outlive
// every IO that uses a view.
//
// Fork safety: buffers of at least one memory page are marked MADV_DONTFORK
// so a forked child never shares pages the kernel may be DMA-ing into.
//
// Thread-safety: none; these are plain values.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "common/status.h"

namespace pageserver::virtual_file {

using common::Result;
using common::Status;

// Non-owning view of `size` bytes at an address aligned to `alignment`.
template <typename Byte>
class BasicAlignedSpan {
 public:
  BasicAlignedSpan() = default;

  // Checked wrapper for memory the caller guarantees lives long enough.
  // InvalidArgument when `data` is not aligned to `alignment` or alignment is
  // not a power of two.
  static Result<BasicAlignedSpan> Wrap(Byte* data, size_t size, size_t alignment);

  Byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The largest power of two this view's address is known to be aligned to.
  size_t alignment() const { return alignment_; }
  std::span<Byte> span() const { return {data_, size_}; }

  // Sub-view [offset, offset + length). The alignment shrinks to what
  // `offset` preserves: Subspan(512, ..) of a 4096-aligned view is
  // 512-aligned. REQUIRES: offset + length <= size().
  BasicAlignedSpan Subspan(size_t offset, size_t length) const;
  BasicAlignedSpan First(size_t length) const { return Subspan(0, length); }

  // A mutable view converts to a read-only one.
  operator BasicAlignedSpan<const std::byte>() const {  // NOLINT(google-explicit-constructor)
    return BasicAlignedSpan<const std::byte>(data_, size_, alignment_);
  }

 private:
  template <typename>
  friend class BasicAlignedSpan;
  friend class AlignedBuffer;
  friend class IoBufferMut;
  BasicAlignedSpan(Byte* data, size_t size, size_t alignment)
      : data_(data), size_(size), alignment_(alignment) {}

  Byte* data_ = nullptr;
  size_t size_ = 0;
  size_t alignment_ = 1;
};

using AlignedSpan = BasicAlignedSpan<const std::byte>;
using AlignedSpanMut = BasicAlignedSpan<std::byte>;

// Owning, move-only, zero-initialized aligned allocation of fixed capacity.
//
// Buffers of at least one memory page are page-aligned whatever alignment was
// asked for (so MADV_DONTFORK covers only their own pages), and alignment()
// reports the alignment actually provided:
//   AlignedBuffer(8192, 512).alignment() == 4096   (4 KiB pages)
//   AlignedBuffer(1024, 512).alignment() == 512
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // REQUIRES: alignment is a power of two. Aborts on allocation failure (as
  // operator new does); capacity 0 yields an empty buffer.
  AlignedBuffer(size_t capacity, size_t alignment);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t capacity() const { return capacity_; }
  size_t alignment() const { return alignment_; }
  AlignedSpanMut AsSpanMut() { return AlignedSpanMut(data_, capacity_, alignment_); }
  AlignedSpan AsSpan() const { return AlignedSpan(data_, capacity_, alignment_); }

 private:
  void Release();

  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  size_t alignment_ = 1;
};

// A growable-in-place buffer: fixed aligned capacity plus a size (the bytes
// that are valid), like Neon's IoBufferMut.
class IoBufferMut {
 public:
  IoBufferMut() = default;
  static IoBufferMut Allocate(size_t capacity, size_t alignment) {
    return IoBufferMut(AlignedBuffer(capacity, alignment));
  }
  explicit IoBufferMut(AlignedBuffer buffer) : buffer_(std::move(buffer)) {}
  // A moved-from buffer is empty (capacity and size 0).
  IoBufferMut(IoBufferMut&& other) noexcept;
  IoBufferMut& operator=(IoBufferMut&& other) noexcept;
  IoBufferMut(const IoBufferMut&) = delete;
  IoBufferMut& operator=(const IoBufferMut&) = delete;

  size_t capacity() const { return buffer_.capacity(); }
  size_t size() const { return size_; }
  size_t remaining() const { return capacity() - size_; }
  size_t alignment() const { return buffer_.alignment(); }
  std::byte* data() { return buffer_.data(); }
  const std::byte* data() const { return buffer_.data(); }
  std::span<const std::byte> bytes() const { return {buffer_.data(), size_}; }

  // REQUIRES: n <= capacity(). Bytes past the old size keep their contents.
  void set_size(size_t n);
  void clear() { size_ = 0; }
  // Copies as much of `src` as fits; returns the number of bytes taken.
  size_t Append(std::span<const std::byte> src);
  // Zero-fills from size() up to `n`. REQUIRES: size() <= n <= capacity().
  void ZeroPadTo(size_t n);

  // Views: the valid bytes, or the whole capacity (as a read target).
  AlignedSpan Valid() const;
  AlignedSpanMut WholeCapacity() { return buffer_.AsSpanMut(); }

 private:
  AlignedBuffer buffer_;
  size_t size_ = 0;
};

// Per-thread recycling of read buffers. Allocating an AlignedBuffer of a page
// or more costs two madvise syscalls (MADV_DONTFORK when made, MADV_DOFORK
// when freed), which perf showed as a quarter of a cached layer Get; callers
// that allocate a buffer per request (vectored reads) take and give back
// buffers here instead.
//
//   AlignedBuffer buf = TakeRecycledBuffer(64 * 1024, 512);  // capacity >= 64 KiB
//   ...
//   RecycleBuffer(std::move(buf));
//
// TakeRecycledBuffer returns a pooled buffer of this thread with at least
// `min_capacity` bytes and at least `alignment`, or a new one (capacity
// rounded up to kRecycleGranule so later requests of similar size fit). A
// recycled buffer's contents are whatever its last user left: callers read
// into it, they do not rely on zeros. RecycleBuffer keeps up to
// kMaxRecycledBuffers buffers of at most kMaxRecycledBytes each per thread
// and frees the rest. Thread-safety: each thread has its own pool; a buffer
// may be given back on another thread than the one that took it.
inline constexpr size_t kRecycleGranule = 64 * 1024;
inline constexpr size_t kMaxRecycledBuffers = 4;
inline constexpr size_t kMaxRecycledBytes = 4 * 1024 * 1024;
// fork(): a child starts with an empty pool (a fork handler forgets the
// parent's buffers, whose pages are MADV_DONTFORK and absent in the child).
AlignedBuffer TakeRecycledBuffer(size_t min_capacity, size_t alignment);
void RecycleBuffer(AlignedBuffer buffer);

}  // namespace pageserver::virtual_file
