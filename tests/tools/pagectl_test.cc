// Runs the real pagectl binary (PAGECTL_PATH, set by CMake) on small layers
// written in a temp dir, and checks exit codes and output.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "io_engine/io_engine.h"
#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "virtual_file/virtual_file.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn's envp

namespace pageserver::layers {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint32_t kImagePages = 64;
constexpr uint32_t kDeltaKeys = 4;
const RelTag kRel{1663, 5, 16384, 0};

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Even blocks: a page header, a little data, zeros (compresses well); odd
// blocks: pseudo-random bytes (does not compress).
std::vector<std::byte> PageValue(uint32_t blk) {
  std::vector<std::byte> page(8192);
  std::mt19937 rng(blk + 1);
  const size_t random_bytes = blk % 2 == 0 ? 200 : page.size();
  for (size_t i = 0; i < random_bytes; ++i) page[i] = static_cast<std::byte>(rng());
  return page;
}

std::vector<std::byte> RecordValue(uint32_t blk, uint64_t lsn) {
  std::vector<std::byte> record(40);
  for (size_t i = 0; i < record.size(); ++i) {
    record[i] = static_cast<std::byte>(uint64_t{blk} * 31 + lsn + i);
  }
  return record;
}

std::string Crc32cText(std::span<const std::byte> bytes) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08" PRIx32, common::crc32c::Value(bytes));
  return buf;
}

class PagectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = io_engine::CreateIoEngine({.kind = io_engine::IoEngineKind::kStdFs});
    ASSERT_OK(engine);
    engine_ = std::move(engine).value();
    ctx_.engine = engine_.get();
    WriteImageLayer();
    WriteDeltaLayer();
  }

  void WriteImageLayer() {
    const KeyRange keys{Key::RelBlock(kRel, 0), Key::RelBlock(kRel, kImagePages)};
    ASSERT_OK_AND_ASSIGN(auto writer, ImageLayerWriter::Create(
                                          ctx_, dir_.path(), tenant_, timeline_, keys, Lsn{0x40},
                                          {.image_compression = Compression::kZstd}));
    for (uint32_t blk = 0; blk < kImagePages; ++blk) {
      ASSERT_OK(writer->Put(Key::RelBlock(kRel, blk), PageValue(blk)));
    }
    ASSERT_OK_AND_ASSIGN(const WrittenLayer layer, writer->Finish());
    image_path_ = layer.path;
  }

  // Keys 0..3 with values at LSNs 0x10 (an 8 KiB image, will_init), 0x20 and
  // 0x30 (40-byte records).
  void WriteDeltaLayer() {
    const KeyRange keys{Key::RelBlock(kRel, 0), Key::RelBlock(kRel, kDeltaKeys)};
    ASSERT_OK_AND_ASSIGN(auto writer,
                         DeltaLayerWriter::Create(ctx_, dir_.path(), tenant_, timeline_, keys,
                                                  LsnRange{Lsn{0x10}, Lsn{0x40}}));
    for (uint32_t blk = 0; blk < kDeltaKeys; ++blk) {
      const Key key = Key::RelBlock(kRel, blk);
      ASSERT_OK(writer->Put(key, Lsn{0x10}, PageValue(blk), true));
      ASSERT_OK(writer->Put(key, Lsn{0x20}, RecordValue(blk, 0x20), false));
      ASSERT_OK(writer->Put(key, Lsn{0x30}, RecordValue(blk, 0x30), false));
    }
    ASSERT_OK_AND_ASSIGN(const WrittenLayer layer, writer->Finish());
    delta_path_ = layer.path;
  }

  RunResult Run(const std::vector<std::string>& args) const {
    const std::string out_path = dir_.File("stdout.txt");
    const std::string err_path = dir_.File("stderr.txt");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<std::string> argv_strings = {PAGECTL_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(argv_strings.size() + 1);
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, PAGECTL_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    RunResult result;
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << PAGECTL_PATH << ": " << rc;
      return result;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.out = ReadWhole(out_path);
    result.err = ReadWhole(err_path);
    return result;
  }

  // Adds 1 to the byte at `offset` of `path`.
  static void FlipByte(const std::string& path, off_t offset) {
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, offset), 1);
    b = static_cast<unsigned char>(b + 1);
    ASSERT_EQ(::pwrite(fd, &b, 1, offset), 1);
    ::close(fd);
  }

  static json ParseJson(const RunResult& r) {
    json parsed = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON:\n" << r.out;
    return parsed;
  }

  testing::TempDir dir_;
  std::unique_ptr<io_engine::IoEngine> engine_;
  virtual_file::IoContext ctx_;
  TenantId tenant_ = TenantId::Generate();
  TimelineId timeline_ = TimelineId::Generate();
  std::string image_path_;
  std::string delta_path_;
};

TEST_F(PagectlTest, DumpPrintsSummaryAndIndexFields) {
  const RunResult r = Run({"layer", "dump", image_path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("image"));
  EXPECT_THAT(r.out, HasSubstr(tenant_.ToHex()));
  EXPECT_THAT(r.out, HasSubstr(timeline_.ToHex()));
  EXPECT_THAT(r.out, HasSubstr(Key::RelBlock(kRel, 0).ToHex()));
  EXPECT_THAT(r.out, HasSubstr("zstd"));
  EXPECT_THAT(r.out, HasSubstr("0/40"));
  for (const char* label : {"entries", "value bytes", "file length", "index depth", "index nodes",
                            "leaf fan-out", "compression ratio"}) {
    EXPECT_THAT(r.out, HasSubstr(label));
  }
  EXPECT_THAT(r.out, Not(HasSubstr("DESCRIPTION")));  // no key list without --keys
}

TEST_F(PagectlTest, DumpJsonHasEntryCountAndEveryKey) {
  const RunResult r = Run({"layer", "dump", image_path_, "--json", "--keys"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = ParseJson(r);
  EXPECT_EQ(j["kind"], "image");
  EXPECT_EQ(j["entry_count"], kImagePages);
  EXPECT_EQ(j["compression"], "zstd");
  EXPECT_EQ(j["value_bytes"], kImagePages * 8192);
  EXPECT_GE(j["index"]["depth"].get<int>(), 1);
  EXPECT_GT(j["compression_ratio"].get<double>(), 1.0);  // the even pages compress
  ASSERT_EQ(j["keys"].size(), kImagePages);
  EXPECT_EQ(j["keys"][0]["key"], Key::RelBlock(kRel, 0).ToHex());
  EXPECT_EQ(j["keys"][0]["description"], Key::RelBlock(kRel, 0).Describe());
  EXPECT_EQ(j["keys"][kImagePages - 1]["key"], Key::RelBlock(kRel, kImagePages - 1).ToHex());
  EXPECT_EQ(j["keys"][5]["length"], 8192);
}

TEST_F(PagectlTest, DumpKeysListsDeltaEntriesWithLsns) {
  const RunResult r = Run({"layer", "dump", delta_path_, "--keys"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("delta"));
  EXPECT_THAT(r.out, HasSubstr("[0/10, 0/40)"));
  const std::string key1 = Key::RelBlock(kRel, 1).ToHex();
  size_t lines_with_key1 = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key1, 0) == 0) ++lines_with_key1;
  }
  EXPECT_EQ(lines_with_key1, 3u);
  EXPECT_THAT(r.out, HasSubstr("0/20"));
  EXPECT_THAT(r.out, HasSubstr(Key::RelBlock(kRel, 1).Describe()));
}

TEST_F(PagectlTest, VerifySoundFileExitsZero) {
  for (const std::string& path : {image_path_, delta_path_}) {
    const RunResult r = Run({"layer", "verify", path});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("OK"));
  }
}

TEST_F(PagectlTest, VerifyFlippedBlobByteExitsOneNamingTheBlob) {
  FlipByte(image_path_, kLayerBlockSize + kBlobHeaderSize + 10);  // first blob's payload
  const RunResult r = Run({"layer", "verify", image_path_});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("CORRUPT"));
  EXPECT_THAT(r.out, HasSubstr("8192"));  // the blob's offset

  const RunResult j = Run({"layer", "verify", image_path_, "--json"});
  EXPECT_EQ(j.exit_code, 1);
  const json parsed = ParseJson(j);
  EXPECT_EQ(parsed["ok"], false);
  EXPECT_GE(parsed["problems"].size(), 1u);
}

TEST_F(PagectlTest, VerifyFlippedIndexByteExitsOne) {
  FlipByte(delta_path_, static_cast<off_t>(ReadWhole(delta_path_).size()) - 100);  // root node
  const RunResult r = Run({"layer", "verify", delta_path_});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("CORRUPT"));
  EXPECT_THAT(r.out, HasSubstr("block"));
}

TEST_F(PagectlTest, VerifyMissingFileExitsTwo) {
  const RunResult r = Run({"layer", "verify", dir_.File("no-such-layer")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no-such-layer"));
}

TEST_F(PagectlTest, GetImagePrintsCrc32cAndWritesOut) {
  const uint32_t blk = 7;
  const std::vector<std::byte> expected = PageValue(blk);
  const std::string out_file = dir_.File("value.bin");
  const RunResult r =
      Run({"layer", "get", image_path_, Key::RelBlock(kRel, blk).ToHex(), "--out", out_file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(Crc32cText(expected)));
  EXPECT_THAT(r.out, HasSubstr("8192 bytes"));
  const std::string written = ReadWhole(out_file);
  ASSERT_EQ(written.size(), expected.size());
  EXPECT_EQ(std::memcmp(written.data(), expected.data(), expected.size()), 0);
}

TEST_F(PagectlTest, GetImageJson) {
  const uint32_t blk = 4;  // an even, compressible page
  const RunResult r =
      Run({"layer", "get", image_path_, Key::RelBlock(kRel, blk).ToHex(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = ParseJson(r);
  EXPECT_EQ(j["crc32c"], Crc32cText(PageValue(blk)));
  EXPECT_EQ(j["length"], 8192);
  EXPECT_EQ(j["compressed"], true);
  EXPECT_EQ(j["will_init"], true);
}

TEST_F(PagectlTest, GetUnknownKeyExitsOne) {
  const Key absent = Key::RelBlock(RelTag{1663, 5, 99999, 0}, 3);
  const RunResult r = Run({"layer", "get", image_path_, absent.ToHex()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not found"));
  EXPECT_THAT(r.err, HasSubstr(absent.ToHex()));
}

TEST_F(PagectlTest, GetImageBelowItsLsnExitsOne) {
  const RunResult r = Run({"layer", "get", image_path_, Key::RelBlock(kRel, 1).ToHex(), "0/3F"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not found"));
}

TEST_F(PagectlTest, GetDeltaHistoryNewestFirstAtOrBelowLsn) {
  const std::string key = Key::RelBlock(kRel, 2).ToHex();
  const RunResult latest = Run({"layer", "get", delta_path_, key, "--json"});
  ASSERT_EQ(latest.exit_code, 0) << latest.err;
  const json all = ParseJson(latest);
  ASSERT_EQ(all["values"].size(), 3u);
  EXPECT_EQ(all["values"][0]["lsn"], "0/30");
  EXPECT_EQ(all["values"][2]["lsn"], "0/10");
  EXPECT_EQ(all["values"][2]["will_init"], true);
  EXPECT_EQ(all["complete"], true);
  EXPECT_EQ(all["values"][0]["crc32c"], Crc32cText(RecordValue(2, 0x30)));

  const RunResult at = Run({"layer", "get", delta_path_, key, "0/20"});
  ASSERT_EQ(at.exit_code, 0) << at.err;
  EXPECT_THAT(at.out, HasSubstr("0/20"));
  EXPECT_THAT(at.out, Not(HasSubstr("0/30")));
  EXPECT_THAT(at.out, HasSubstr(Crc32cText(PageValue(2))));
}

TEST_F(PagectlTest, GetDeltaBelowItsLsnRangeExitsOne) {
  const RunResult r = Run({"layer", "get", delta_path_, Key::RelBlock(kRel, 0).ToHex(), "0/F"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not found"));
}

TEST_F(PagectlTest, BadArgumentsExitTwo) {
  EXPECT_EQ(Run({"layer", "get", image_path_, "XYZ"}).exit_code, 2);  // not a key
  EXPECT_EQ(
      Run({"layer", "get", image_path_, Key::RelBlock(kRel, 0).ToHex(), "nonsense"}).exit_code, 2);
  EXPECT_EQ(Run({"layer", "frobnicate", image_path_}).exit_code, 2);
  EXPECT_EQ(Run({"--io-mode", "sideways", "layer", "dump", image_path_}).exit_code, 2);
  EXPECT_EQ(
      Run({"layer", "get", delta_path_, Key::RelBlock(kRel, 0).ToHex(), "--out", dir_.File("x")})
          .exit_code,
      2);
}

TEST_F(PagectlTest, GlobalOptionsAreAccepted) {
  const RunResult r = Run({"--io-engine", "std-fs", "--io-mode", "direct", "--page-cache-pages",
                           "64", "layer", "dump", image_path_, "--keys"});
  // A filesystem refusing O_DIRECT (tmpfs before Linux 6.6) is a reason, not a bug.
  if (r.exit_code == 2 && r.err.find("O_DIRECT") != std::string::npos) {
    GTEST_SKIP() << r.err;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(Key::RelBlock(kRel, kImagePages - 1).ToHex()));
}

}  // namespace
}  // namespace pageserver::layers
