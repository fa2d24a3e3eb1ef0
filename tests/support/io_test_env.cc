#include "tests/support/io_test_env.h"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace pageserver::testing {

using io_engine::IoEngineKind;
using virtual_file::IoMode;

void PrintTo(const IoParam& param, std::ostream* os) {
  *os << io_engine::IoEngineKindName(param.engine) << "/" << virtual_file::IoModeName(param.mode);
}

std::vector<IoParam> AllIoParams() {
  std::vector<IoParam> params;
  for (IoEngineKind engine : {IoEngineKind::kStdFs, IoEngineKind::kIoUring}) {
    for (IoMode mode : {IoMode::kBuffered, IoMode::kDirect, IoMode::kDirectRw}) {
      params.push_back({engine, mode});
    }
  }
  return params;
}

std::vector<IoParam> AllEngines() {
  return {{IoEngineKind::kStdFs, IoMode::kBuffered}, {IoEngineKind::kIoUring, IoMode::kBuffered}};
}

std::string IoParamName(const ::testing::TestParamInfo<IoParam>& info) {
  std::string engine = info.param.engine == IoEngineKind::kIoUring ? "IoUring" : "StdFs";
  switch (info.param.mode) {
    case IoMode::kBuffered:
      return engine + "_Buffered";
    case IoMode::kDirect:
      return engine + "_Direct";
    case IoMode::kDirectRw:
      return engine + "_DirectRw";
  }
  return engine;
}

common::Result<std::unique_ptr<io_engine::IoEngine>> CreateTestEngine(
    IoEngineKind kind, const io_engine::FaultPlan& faults) {
  if (kind == IoEngineKind::kIoUring) {
    const common::Status probe = io_engine::ProbeIoUring();
    if (!probe.ok()) return probe;
  }
  io_engine::IoEngineOptions options;
  options.kind = kind;
  options.faults = faults;
  return io_engine::CreateIoEngine(options);
}

void IoParamTest::SetUp() {
  if (GetParam().engine == IoEngineKind::kIoUring) {
    const common::Status probe = io_engine::ProbeIoUring();
    if (!probe.ok()) GTEST_SKIP() << "io_uring unusable: " << probe.ToString();
  }
  auto engine = CreateTestEngine(GetParam().engine);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  engine_ = std::move(engine).value();
  ctx_.engine = engine_.get();
  ctx_.mode = GetParam().mode;
}

bool IoParamTest::UseFaults(const io_engine::FaultPlan& faults) {
  auto engine = CreateTestEngine(GetParam().engine, faults);
  if (!engine.has_value()) {
    ADD_FAILURE() << engine.error().ToString();
    return false;
  }
  engine_ = std::move(engine).value();
  ctx_.engine = engine_.get();
  return true;
}

namespace {

// splitmix64: a cheap, well-mixed hash of the word index.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::byte PatternByte(uint64_t seed, uint64_t offset) {
  const uint64_t word = Mix(seed * 0x100000001b3ULL ^ (offset / 8));
  return static_cast<std::byte>(word >> (8 * (offset % 8)));
}

void FillPattern(uint64_t seed, uint64_t offset, std::span<std::byte> dst) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = PatternByte(seed, offset + i);
}

std::vector<std::byte> PatternBytes(uint64_t seed, uint64_t offset, size_t length) {
  std::vector<std::byte> out(length);
  FillPattern(seed, offset, out);
  return out;
}

int64_t FirstPatternMismatch(uint64_t seed, uint64_t offset, std::span<const std::byte> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != PatternByte(seed, offset + i)) return static_cast<int64_t>(offset + i);
  }
  return -1;
}

double MetricValue(const std::string& text, const std::string& series) {
  const std::string needle = series + " ";
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    if (at == 0 || text[at - 1] == '\n')
      return std::strtod(text.c_str() + at + needle.size(), nullptr);
  }
  return -1;
}

std::vector<std::byte> ReadWholeFile(const std::string& path) {
  std::vector<std::byte> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  std::byte chunk[65536];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) out.insert(out.end(), chunk, chunk + n);
  std::fclose(f);
  return out;
}

void WriteWholeFile(const std::string& path, std::span<const std::byte> data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  // fwrite's pointer must be non-null even for 0 bytes (UBSan checks it).
  if (!data.empty()) {
    ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size()) << path;
  }
  ASSERT_EQ(std::fclose(f), 0) << path;
}

}  // namespace pageserver::testing
