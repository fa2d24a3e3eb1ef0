#pragma once

// Helpers for tests that run one suite over every IO engine and io mode:
//
//   class MyTest : public IoParamTest {};
//   TEST_P(MyTest, ...) { ... ctx() ... dir().File("x") ... }
//   INSTANTIATE_TEST_SUITE_P(All, MyTest, ::testing::ValuesIn(AllIoParams()), IoParamName);
//
// IoParamTest::SetUp builds the engine of the parameter and skips (with the
// probe's reason) when io_uring is unusable here or left out of the build.
//
// Plus deterministic file contents derived from (seed, file offset), so any
// range of a file can be checked without keeping a copy of what was written.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "io_engine/io_engine.h"
#include "tests/support/seed.h"
#include "tests/support/temp_dir.h"
#include "virtual_file/io_mode.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::testing {

struct IoParam {
  io_engine::IoEngineKind engine = io_engine::IoEngineKind::kStdFs;
  virtual_file::IoMode mode = virtual_file::IoMode::kBuffered;
};

// "io-uring/direct-rw", for gtest's parameter printing.
void PrintTo(const IoParam& param, std::ostream* os);

// {std-fs, io-uring} x {buffered, direct, direct-rw}.
std::vector<IoParam> AllIoParams();
// {std-fs, io-uring} with buffered mode, for tests about engines only.
std::vector<IoParam> AllEngines();
// "StdFs_DirectRw", for INSTANTIATE_TEST_SUITE_P.
std::string IoParamName(const ::testing::TestParamInfo<IoParam>& info);

// Builds an engine of `kind`; Unsupported (with the probe's reason) when
// io_uring cannot be used.
common::Result<std::unique_ptr<io_engine::IoEngine>> CreateTestEngine(
    io_engine::IoEngineKind kind, const io_engine::FaultPlan& faults = {});

// Fixture: a temp dir, an engine per the parameter, an IoContext using them.
class IoParamTest : public ::testing::TestWithParam<IoParam> {
 protected:
  void SetUp() override;

  // Replaces the engine by one with `faults` (same kind); returns false and
  // records a failure when that cannot be built.
  bool UseFaults(const io_engine::FaultPlan& faults);

  const virtual_file::IoContext& ctx() const { return ctx_; }
  virtual_file::IoContext& mutable_ctx() { return ctx_; }
  io_engine::IoEngine& engine() { return *engine_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<io_engine::IoEngine> engine_;
  virtual_file::IoContext ctx_;
};

// The byte a test file holds at `offset` for `seed`: a hash of the 8-byte
// word containing it, so neighbouring blocks differ and misplaced data shows.
std::byte PatternByte(uint64_t seed, uint64_t offset);
void FillPattern(uint64_t seed, uint64_t offset, std::span<std::byte> dst);
std::vector<std::byte> PatternBytes(uint64_t seed, uint64_t offset, size_t length);
// The first offset in [offset, offset + data.size()) whose byte differs from
// the pattern, or -1 when all match.
int64_t FirstPatternMismatch(uint64_t seed, uint64_t offset, std::span<const std::byte> data);

// The value of one Prometheus series in rendered text, e.g.
// MetricValue(text, "ps_x_total{op=\"read\"}"); -1 when the series is absent.
double MetricValue(const std::string& text, const std::string& series);

// Reads a whole file with plain stdio, independent of the code under test.
std::vector<std::byte> ReadWholeFile(const std::string& path);
void WriteWholeFile(const std::string& path, std::span<const std::byte> data);

}  // namespace pageserver::testing
