#pragma once

// Helpers of the pg_import tests: tar archives built byte by byte, an
// in-memory ByteSource that returns short reads, a real control file, and a
// timeline fixture (std-fs engine, buffered, no background threads).

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "io_engine/io_engine.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "page_cache/page_cache.h"
#include "pg_import/import.h"
#include "tests/support/temp_dir.h"
#include "timeline/timeline.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::pg_import::test_util {

using Bytes = std::vector<std::byte>;

Bytes ToBytes(std::string_view text);
// `n` bytes derived from `seed` (distinct per seed and offset).
Bytes PatternBytes(uint64_t seed, size_t n);

// Builds tar archives one header at a time, as GNU tar and pg_basebackup
// lay them out: 512-byte headers, content padded to 512.
class TarBuilder {
 public:
  enum class Magic { kPosix, kGnu };
  struct Header {
    std::string name;    // the 100-byte name field (truncated)
    std::string prefix;  // ustar prefix (POSIX magic only)
    uint64_t size = 0;
    char typeflag = '0';
    Magic magic = Magic::kPosix;
    bool base256_size = false;
  };

  // A raw header block (checksum computed) followed by `content`, padded.
  TarBuilder& Add(const Header& header, std::span<const std::byte> content);
  // A regular file / directory with a short (<= 100 bytes) name.
  TarBuilder& File(const std::string& path, std::span<const std::byte> content);
  TarBuilder& Dir(const std::string& path);
  // A GNU 'L' header carrying `path`, then the member with a truncated name.
  TarBuilder& GnuLongFile(const std::string& path, std::span<const std::byte> content);
  // A pax 'x' header with the records, then a member with `header_name`.
  TarBuilder& PaxFile(const std::map<std::string, std::string>& records,
                      const std::string& header_name, uint64_t header_size,
                      std::span<const std::byte> content);
  // A pax 'g' header.
  TarBuilder& PaxGlobal(const std::map<std::string, std::string>& records);
  // Two zero blocks (plus `extra` further zero bytes).
  Bytes Finish(size_t extra = 0) const;
  const Bytes& bytes() const { return bytes_; }
  // Offsets of every member's first header, in order.
  const std::vector<size_t>& member_offsets() const { return member_offsets_; }

  // "<len> key=value\n" records with the self-counting length.
  static std::string PaxRecords(const std::map<std::string, std::string>& records);
  // The header block alone (for corrupting tests).
  static Bytes HeaderBlock(const Header& header);

 private:
  Bytes bytes_;
  std::vector<size_t> member_offsets_;
};

// A ByteSource over bytes, returning reads of 1..max_chunk bytes (random
// sizes from `seed` when seed != 0, else always max_chunk).
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(Bytes data, size_t max_chunk = SIZE_MAX, uint64_t seed = 0)
      : data_(std::move(data)), max_chunk_(max_chunk), rng_(seed), random_(seed != 0) {}
  common::Result<size_t> Read(std::span<std::byte> dst) override;
  size_t consumed() const { return pos_; }

 private:
  Bytes data_;
  size_t pos_ = 0;
  size_t max_chunk_;
  std::mt19937_64 rng_;
  bool random_;
};

// A pg_control written by initdb 15 (state "shut down", checkPoint
// 0/6000060), zero-padded to 8192 bytes.
Bytes RealControlFile();
// Rewrites the CRC of a control file after a test changed its fields.
void FixControlFileCrc(Bytes& control);

// A cluster's files (path -> content) and directories, to lay out as a data
// directory or a tar.
struct SyntheticCluster {
  std::map<std::string, Bytes> files;
  std::vector<std::string> dirs;
  void WriteTo(const std::string& pgdata) const;
  Bytes ToTar() const;
};

// Engine, context, PageCache and a data directory; CreateTimeline gives an
// empty timeline starting at `start`.
class TimelineFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  std::shared_ptr<timeline::Timeline> CreateTimeline(layers::Lsn start);

  testing::TempDir dir_;
  std::unique_ptr<io_engine::IoEngine> engine_;
  virtual_file::IoContext ctx_;
  std::unique_ptr<page_cache::PageCache> cache_;
  common::Registry registry_;
};

// Background threads off, small buffers (tests drive every step).
timeline::TimelineConfig TestTimelineConfig();

}  // namespace pageserver::pg_import::test_util
