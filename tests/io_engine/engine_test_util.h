#pragma once

// Helpers shared by the io_engine tests: files whose content is a function of
// the offset (so any read can be verified without keeping a copy), engine
// construction that skips io-uring with the probe's reason, seeds that are
// printed and replayable, and a count of this process's io_uring fds.

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "io_engine/io_engine.h"
#include "tests/support/io_test_env.h"

namespace pageserver::io_engine::testutil {

// The 8-byte word at aligned offset `word_offset` of a pattern file:
// the offset mixed with the seed (splitmix64 finalizer), so a read from the
// wrong offset or a stale buffer never looks right by accident.
inline uint64_t PatternWord(uint64_t word_offset, uint64_t seed) {
  uint64_t z = word_offset ^ (seed * 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline std::byte PatternByte(uint64_t offset, uint64_t seed) {
  const uint64_t word = PatternWord(offset & ~uint64_t{7}, seed);
  return static_cast<std::byte>(word >> (8 * (offset & 7)));
}

inline std::vector<std::byte> PatternBytes(uint64_t offset, size_t length, uint64_t seed) {
  std::vector<std::byte> out(length);
  for (size_t i = 0; i < length; ++i) out[i] = PatternByte(offset + i, seed);
  return out;
}

// Index of the first byte of `got` that differs from the pattern at `offset`,
// or -1 when all match. (A count beats a 1 MiB EXPECT_EQ dump on failure.)
inline int64_t FirstPatternMismatch(std::span<const std::byte> got, uint64_t offset,
                                    uint64_t seed) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != PatternByte(offset + i, seed)) return static_cast<int64_t>(i);
  }
  return -1;
}

// Writes a pattern file of `size` bytes with plain POSIX calls (independent
// of the engines under test). Returns false on failure.
inline bool WritePatternFile(const std::string& path, uint64_t size, uint64_t seed) {
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::vector<std::byte> data = PatternBytes(0, size, seed);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 && done == data.size();
}

// Whole-file reads and replayable seeds are the shared test support's.
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::TestSeed;

inline std::string SeedTrace(uint64_t seed) {
  return "seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED=" + std::to_string(seed) +
         ")";
}

// Number of io_uring instances (anon_inode:[io_uring] fds) this process holds.
inline int CountIoUringFds() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string() == "anon_inode:[io_uring]") ++count;
  }
  return count;
}

inline std::string KindParamName(IoEngineKind kind) {
  return kind == IoEngineKind::kIoUring ? "IoUring"
         : kind == IoEngineKind::kStdFs ? "StdFs"
                                        : "Auto";
}

// `n` reads of random lengths in [1, max_length] at random offsets below
// `limit`, owning the buffers its requests point into. With
// `end_within_limit` every read also ends at or before `limit` (a file size).
struct RandomReads {
  std::vector<std::vector<std::byte>> bufs;
  std::vector<IoRequest> requests;
  std::vector<IoResult> results;

  RandomReads(int fd, std::mt19937_64& rng, size_t n, size_t max_length, uint64_t limit,
              bool end_within_limit)
      : bufs(n), results(n, common::Status::Internal("unset")) {
    for (size_t i = 0; i < n; ++i) {
      bufs[i].resize(1 + rng() % max_length);
      const uint64_t span = end_within_limit ? limit - bufs[i].size() : limit;
      requests.push_back(IoRequest::Read(fd, rng() % span, bufs[i]));
    }
  }
  void Run(IoEngine& engine) { engine.SubmitBatch(requests, results); }
};

}  // namespace pageserver::io_engine::testutil

// In a test body or SetUp: skips the test when `kind` is io-uring and the
// probe says it is unusable here, printing the probe's reason.
#define PS_SKIP_IF_NO_URING(kind)                                                             \
  do {                                                                                        \
    if ((kind) == ::pageserver::io_engine::IoEngineKind::kIoUring) {                          \
      const ::pageserver::common::Status ps_probe_ = ::pageserver::io_engine::ProbeIoUring(); \
      if (!ps_probe_.ok()) GTEST_SKIP() << "io_uring unusable: " << ps_probe_.ToString();     \
    }                                                                                         \
  } while (0)
