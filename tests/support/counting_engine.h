#pragma once

// CountingEngine: an IoEngine decorator that counts what reaches the engine,
// so tests can prove a request was rejected *before* any IO (the counts stay
// 0) or that a batch went down as one SubmitBatch.
//
// Thread-safety: as the wrapped engine; counters are atomics.

#include <atomic>
#include <span>
#include <string>
#include <utility>

#include "io_engine/io_engine.h"

namespace pageserver::testing {

class CountingEngine final : public io_engine::IoEngine {
 public:
  explicit CountingEngine(io_engine::IoEngine& inner) : inner_(inner) {}

  std::string_view name() const override { return inner_.name(); }
  common::Result<int> Open(const std::string& path, int flags, unsigned mode) override {
    opens_.fetch_add(1);
    return inner_.Open(path, flags, mode);
  }
  common::Status Close(int fd) override { return inner_.Close(fd); }
  void SubmitBatch(std::span<const io_engine::IoRequest> requests,
                   std::span<io_engine::IoResult> results) override {
    batches_.fetch_add(1);
    requests_.fetch_add(requests.size());
    for (const auto& r : requests) {
      if (r.opcode == io_engine::IoOpcode::kRead) reads_.fetch_add(1);
    }
    inner_.SubmitBatch(requests, results);
  }
  common::Result<io_engine::AsyncIo> SubmitAsync(const io_engine::IoRequest& request) override {
    if (request.opcode == io_engine::IoOpcode::kWrite) async_writes_.fetch_add(1);
    return inner_.SubmitAsync(request);
  }
  io_engine::IoResult WaitAsync(io_engine::AsyncIo ticket) override {
    waits_.fetch_add(1);
    return inner_.WaitAsync(std::move(ticket));
  }

  // Every request that reached the engine: batched ones plus async writes.
  uint64_t requests() const { return requests_.load() + async_writes_.load(); }
  uint64_t batches() const { return batches_.load(); }
  uint64_t reads() const { return reads_.load(); }
  uint64_t async_writes() const { return async_writes_.load(); }
  uint64_t waits() const { return waits_.load(); }
  uint64_t opens() const { return opens_.load(); }

 private:
  io_engine::IoEngine& inner_;
  std::atomic<uint64_t> opens_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> async_writes_{0};
  std::atomic<uint64_t> waits_{0};
};

}  // namespace pageserver::testing
