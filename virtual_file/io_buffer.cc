#include "virtual_file/io_buffer.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/align.h"

namespace pageserver::virtual_file {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// Precondition violations are our own bugs, not IO results: abort with the
// reason rather than hand the kernel an out-of-bounds buffer.
void CheckPrecondition(bool ok, const char* what) {
  if (!ok) common::DieWithStatus(what, Status::Internal("precondition violated"));
}

// The lowest set bit of `offset`, or `alignment` when offset is 0: the
// alignment a sub-view starting `offset` bytes in keeps.
// RemainingAlignment(4096, 512) == 512, RemainingAlignment(4096, 0) == 4096,
// RemainingAlignment(512, 8192) == 512.
size_t RemainingAlignment(size_t alignment, size_t offset) {
  if (offset == 0) return alignment;
  return std::min(alignment, offset & (~offset + 1));
}

}  // namespace

template <typename Byte>
Result<BasicAlignedSpan<Byte>> BasicAlignedSpan<Byte>::Wrap(Byte* data, size_t size,
                                                            size_t alignment) {
  if (!common::IsPowerOfTwo(alignment)) {
    return Status::InvalidArgument("wrap: alignment " + std::to_string(alignment) +
                                   " is not a power of two");
  }
  if (data == nullptr && size != 0) {
    return Status::InvalidArgument("wrap: null address with length " + std::to_string(size));
  }
  if (!common::IsAlignedPtr(data, alignment)) {
    char address[32];
    std::snprintf(address, sizeof(address), "%p", static_cast<const void*>(data));
    return Status::InvalidArgument(std::string("wrap: address ") + address + " not aligned to " +
                                   std::to_string(alignment));
  }
  return BasicAlignedSpan(data, size, alignment);
}

template <typename Byte>
BasicAlignedSpan<Byte> BasicAlignedSpan<Byte>::Subspan(size_t offset, size_t length) const {
  CheckPrecondition(offset <= size_ && length <= size_ - offset,
                    "AlignedSpan::Subspan out of range");
  return BasicAlignedSpan(data_ + offset, length, RemainingAlignment(alignment_, offset));
}

template class BasicAlignedSpan<std::byte>;
template class BasicAlignedSpan<const std::byte>;

AlignedBuffer::AlignedBuffer(size_t capacity, size_t alignment) : alignment_(alignment) {
  CheckPrecondition(common::IsPowerOfTwo(alignment), "AlignedBuffer alignment not a power of two");
  if (capacity == 0) return;
  const size_t page = PageSize();
  const bool whole_pages = capacity >= page;
  // Page-sized buffers own whole pages so madvise() below affects no
  // neighbouring allocation; posix_memalign also needs >= sizeof(void*).
  alignment_ = std::max({alignment, whole_pages ? page : size_t{1}, sizeof(void*)});
  const size_t bytes = whole_pages ? common::AlignUp(capacity, page) : capacity;
  void* p = nullptr;
  if (::posix_memalign(&p, alignment_, bytes) != 0) {
    common::DieWithStatus(
        "AlignedBuffer",
        Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes"));
  }
  std::memset(p, 0, bytes);
  data_ = static_cast<std::byte*>(p);
  capacity_ = capacity;
  // Best effort: a failure only loses fork-safety for this buffer, and we
  // never fork while IO is in flight today.
  if (whole_pages) (void)::madvise(p, bytes, MADV_DONTFORK);
}

AlignedBuffer::~AlignedBuffer() { Release(); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      alignment_(std::exchange(other.alignment_, 1)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    alignment_ = std::exchange(other.alignment_, 1);
  }
  return *this;
}

void AlignedBuffer::Release() {
  if (data_ == nullptr) return;
  const size_t page = PageSize();
  // malloc reuses these pages after free(); undo DONTFORK so a later
  // unrelated allocation is not silently missing in a forked child.
  if (capacity_ >= page) (void)::madvise(data_, common::AlignUp(capacity_, page), MADV_DOFORK);
  std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
}

IoBufferMut::IoBufferMut(IoBufferMut&& other) noexcept
    : buffer_(std::move(other.buffer_)), size_(std::exchange(other.size_, 0)) {}

IoBufferMut& IoBufferMut::operator=(IoBufferMut&& other) noexcept {
  if (this != &other) {
    buffer_ = std::move(other.buffer_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void IoBufferMut::set_size(size_t n) {
  CheckPrecondition(n <= capacity(), "IoBufferMut::set_size beyond capacity");
  size_ = n;
}

size_t IoBufferMut::Append(std::span<const std::byte> src) {
  const size_t n = std::min(src.size(), remaining());
  if (n != 0) std::memcpy(data() + size_, src.data(), n);
  size_ += n;
  return n;
}

void IoBufferMut::ZeroPadTo(size_t n) {
  CheckPrecondition(size_ <= n && n <= capacity(), "IoBufferMut::ZeroPadTo out of range");
  if (n != size_) std::memset(data() + size_, 0, n - size_);
  size_ = n;
}

AlignedSpan IoBufferMut::Valid() const {
  return AlignedSpan(buffer_.data(), size_, buffer_.alignment());
}

namespace {

// The pool outlives every use on its thread except from other thread_local
// destructors that run after it; `alive` (trivially destructible, so still
// readable then) makes those fall back to plain allocation and free.
struct RecyclePool {
  std::vector<AlignedBuffer> free;
  bool alive = true;
  ~RecyclePool() { alive = false; }
};
thread_local RecyclePool recycle_pool;

// In a forked child the pool of the forking thread (the only thread left)
// still lists buffers whose pages were not copied (MADV_DONTFORK). Forget
// them without touching their memory; the vector is kept reachable so leak
// checkers stay quiet.
void ForgetPoolInForkChild() {
  [[maybe_unused]] static std::vector<AlignedBuffer>* forgotten = nullptr;
  if (!recycle_pool.alive || recycle_pool.free.empty()) return;
  forgotten = new std::vector<AlignedBuffer>(std::move(recycle_pool.free));
  recycle_pool.free.clear();
}

[[maybe_unused]] const int kForkHandlerRegistered =
    pthread_atfork(nullptr, nullptr, &ForgetPoolInForkChild);

}  // namespace

AlignedBuffer TakeRecycledBuffer(size_t min_capacity, size_t alignment) {
  if (recycle_pool.alive) {
    std::vector<AlignedBuffer>& free = recycle_pool.free;
    for (size_t i = 0; i < free.size(); ++i) {
      if (free[i].capacity() >= min_capacity && free[i].alignment() >= alignment) {
        AlignedBuffer found = std::move(free[i]);
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(i));
        return found;
      }
    }
  }
  return AlignedBuffer(common::AlignUp(min_capacity, kRecycleGranule), alignment);
}

void RecycleBuffer(AlignedBuffer buffer) {
  if (!recycle_pool.alive || buffer.capacity() == 0 || buffer.capacity() > kMaxRecycledBytes)
    return;
  std::vector<AlignedBuffer>& free = recycle_pool.free;
  if (free.size() == kMaxRecycledBuffers) free.erase(free.begin());  // drop the oldest
  free.push_back(std::move(buffer));
}

}  // namespace pageserver::virtual_file
