#pragma once

// ReadCountingEngine: an IoEngine decorator that counts the read requests
// reaching the engine (the idea of tests/support/counting_engine.h, kept
// local so the bench does not link test support). With the index warm in the
// PageCache every read a GetVectored issues is a data read, so reads / pages
// is the "device reads per page" of the target.
//
// Thread-safety: as the wrapped engine; the counter is an atomic.

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "io_engine/io_engine.h"

namespace pageserver::bench {

class ReadCountingEngine final : public io_engine::IoEngine {
 public:
  // `inner` must outlive this engine.
  explicit ReadCountingEngine(io_engine::IoEngine& inner) : inner_(inner) {}

  std::string_view name() const override { return inner_.name(); }
  common::Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    return inner_.Open(path, flags, mode);
  }
  common::Status Close(int fd) override { return inner_.Close(fd); }
  void SubmitBatch(std::span<const io_engine::IoRequest> requests,
                   std::span<io_engine::IoResult> results) override {
    for (const auto& r : requests) Count(r);
    inner_.SubmitBatch(requests, results);
  }
  common::Result<io_engine::AsyncIo> SubmitAsync(const io_engine::IoRequest& request) override {
    Count(request);
    return inner_.SubmitAsync(request);
  }
  io_engine::IoResult WaitAsync(io_engine::AsyncIo ticket) override {
    return inner_.WaitAsync(std::move(ticket));
  }

  uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

 private:
  void Count(const io_engine::IoRequest& r) {
    if (r.opcode == io_engine::IoOpcode::kRead) reads_.fetch_add(1, std::memory_order_relaxed);
  }

  io_engine::IoEngine& inner_;
  std::atomic<uint64_t> reads_{0};
};

}  // namespace pageserver::bench
