// Layer file names: formatting, parsing (round trips and rejections) and the
// removal of temporary files left by a crashed writer. Randomized tests print
// their seed; replay with PS_TEST_SEED=<seed>.

#include "layers/layer_name.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using ::pageserver::testing::StatusIs;
using ::pageserver::testing::TempDir;

constexpr char kMinHex[] = "000000000000000000000000000000000000";
constexpr char kMaxHex[] = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";
constexpr char kRelStart[] = "000000067F00000005000040000000000000";  // rel 1663/5/16384 blk 0
constexpr char kRelEnd[] = "000000067F00000005000040000000000100";    // blk 0x100

KeyRange RelRange() {
  const RelTag rel{1663, 5, 16384, 0};
  return {Key::RelBlock(rel, 0), Key::RelBlock(rel, 0x100)};
}

TEST(LayerNameTest, ImageFormat) {
  const LayerName name = LayerName::Image(RelRange(), Lsn{0x16B374D848});
  EXPECT_EQ(name.kind, LayerKind::kImage);
  EXPECT_EQ(name.lsn_range, (LsnRange{Lsn{0x16B374D848}, Lsn{0x16B374D849}}));
  EXPECT_EQ(name.ToString(), std::string(kRelStart) + "-" + kRelEnd + "__00000016B374D848");
}

TEST(LayerNameTest, DeltaFormat) {
  const LayerName name =
      LayerName::Delta(KeyRange{Key::Min(), Key::Max()}, LsnRange{Lsn{0x1696070}, Lsn{0x16960E9}});
  EXPECT_EQ(name.kind, LayerKind::kDelta);
  // An L0 delta layer name as Neon writes it.
  EXPECT_EQ(name.ToString(),
            std::string(kMinHex) + "-" + kMaxHex + "__0000000001696070-00000000016960E9");
}

TEST(LayerNameTest, ParsesNeonNames) {
  ASSERT_OK_AND_ASSIGN(LayerName delta, LayerName::Parse(std::string(kMinHex) + "-" + kMaxHex +
                                                         "__0000000001696070-00000000016960E9"));
  EXPECT_EQ(delta.kind, LayerKind::kDelta);
  EXPECT_EQ(delta.key_range, (KeyRange{Key::Min(), Key::Max()}));
  EXPECT_EQ(delta.lsn_range, (LsnRange{Lsn{0x1696070}, Lsn{0x16960E9}}));

  ASSERT_OK_AND_ASSIGN(LayerName image, LayerName::Parse(std::string(kRelStart) + "-" + kRelEnd +
                                                         "__00000016B374D848"));
  EXPECT_EQ(image, LayerName::Image(RelRange(), Lsn{0x16B374D848}));
}

TEST(LayerNameTest, ParseAcceptsLowerCaseAndFormatsUpper) {
  std::string text = std::string(kRelStart) + "-" + kRelEnd + "__0000000001696070-00000000016960e9";
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  ASSERT_OK_AND_ASSIGN(LayerName name, LayerName::Parse(text));
  EXPECT_EQ(name.lsn_range.end, Lsn{0x16960E9});
  EXPECT_EQ(name.ToString(),
            std::string(kRelStart) + "-" + kRelEnd + "__0000000001696070-00000000016960E9");
}

TEST(LayerNameTest, RandomRoundTrips) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  auto random_key = [&rng] {
    return Key{static_cast<uint8_t>(rng()),  static_cast<uint32_t>(rng()),
               static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
               static_cast<uint8_t>(rng()),  static_cast<uint32_t>(rng())};
  };
  for (int i = 0; i < 2000; ++i) {
    Key a = random_key();
    Key b = random_key();
    if (a == b) continue;
    if (b < a) std::swap(a, b);
    uint64_t l1 = rng() >> (rng() % 64);
    uint64_t l2 = rng() >> (rng() % 64);
    if (l1 == l2) continue;
    if (l2 < l1) std::swap(l1, l2);
    const LayerName delta = LayerName::Delta({a, b}, {Lsn{l1}, Lsn{l2}});
    ASSERT_OK_AND_ASSIGN(LayerName parsed_delta, LayerName::Parse(delta.ToString()));
    ASSERT_EQ(parsed_delta, delta) << delta.ToString();
    const LayerName image = LayerName::Image({a, b}, Lsn{l1});
    ASSERT_OK_AND_ASSIGN(LayerName parsed_image, LayerName::Parse(image.ToString()));
    ASSERT_EQ(parsed_image, image) << image.ToString();
    ASSERT_EQ(image.ToString().size(), 36u + 1 + 36 + 2 + 16);
    ASSERT_EQ(delta.ToString().size(), 36u + 1 + 36 + 2 + 16 + 1 + 16);
  }
}

TEST(LayerNameTest, ParseRejectsEverythingElse) {
  const std::string keys = std::string(kRelStart) + "-" + kRelEnd;
  const std::string lsn = "0000000001696070";
  const std::string lsn2 = "00000000016960E9";
  const std::vector<std::string> bad = {
      "",
      "foo",
      "__",
      keys,                                                           // no LSN
      keys + "__",                                                    // empty LSN
      keys + "_" + lsn,                                               // single underscore
      keys + "___" + lsn,                                             // three underscores
      keys + "__" + lsn + "__" + lsn2,                                // two separators
      keys + "__" + lsn.substr(1),                                    // 15-digit LSN
      keys + "__" + lsn + "0",                                        // 17-digit LSN
      keys + "__" + lsn + "-" + lsn2.substr(1),                       // 15-digit end LSN
      keys + "__" + lsn + "_" + lsn2,                                 // wrong LSN separator
      keys + "__" + lsn + "-" + lsn2 + "-v1-00000001",                // generation suffix
      keys + "__" + lsn + "-" + lsn2 + ".___temp",                    // a temporary file
      keys + "__" + lsn + ".___temp",                                 //
      keys + "__" + "000000000169607G",                               // non-hex LSN
      keys + "__" + lsn + "-" + "00000000016960EX",                   //
      keys + "__" + lsn + "-" + lsn,                                  // empty LSN range
      keys + "__" + lsn2 + "-" + lsn,                                 // inverted LSN range
      keys + "__FFFFFFFFFFFFFFFF",                                    // image LSN without successor
      std::string(kRelStart) + "__" + lsn,                            // one key
      std::string(kRelStart) + "-" + kRelStart + "__" + lsn,          // empty key range
      std::string(kRelEnd) + "-" + kRelStart + "__" + lsn,            // inverted key range
      std::string(kRelStart).substr(1) + "-" + kRelEnd + "__" + lsn,  // 35-digit key
      std::string(kRelStart) + "0-" + kRelEnd + "__" + lsn,           // 37-digit key
      std::string(kRelStart) + "_" + kRelEnd + "__" + lsn,            // wrong key separator
      std::string(kRelStart) + "-" + std::string(kRelEnd).substr(0, 35) + "Z__" + lsn,
      " " + keys + "__" + lsn,
      keys + "__" + lsn + " ",
      "/" + keys + "__" + lsn,  // a path, not a file name
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE(text);
    EXPECT_THAT(LayerName::Parse(text), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(LayerName::Parse("foo"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("\"foo\"")));
}

TEST(LayerNameTest, OrderAndEquality) {
  const LayerName a = LayerName::Image(RelRange(), Lsn{10});
  const LayerName b = LayerName::Image(RelRange(), Lsn{11});
  const LayerName d = LayerName::Delta(RelRange(), {Lsn{10}, Lsn{11}});
  EXPECT_LT(a, b);
  EXPECT_NE(a, d);  // same ranges, different kind
  EXPECT_EQ(a.lsn_range, d.lsn_range);
}

TEST(LayerNameTest, TemporaryNames) {
  const std::string layer = LayerName::Image(RelRange(), Lsn{10}).ToString();
  EXPECT_TRUE(IsTemporaryLayerFileName(layer + ".___temp"));
  EXPECT_TRUE(IsTemporaryLayerFileName(layer + ".index.___temp"));
  EXPECT_TRUE(IsTemporaryLayerFileName(std::string(kTemporarySuffix)));
  EXPECT_FALSE(IsTemporaryLayerFileName(layer));
  EXPECT_FALSE(IsTemporaryLayerFileName(layer + ".___temp.old"));
  EXPECT_FALSE(IsTemporaryLayerFileName("___temp"));
  EXPECT_FALSE(IsTemporaryLayerFileName(""));
}

void Touch(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fputs("x", f);
  std::fclose(f);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RemoveTemporaryLayerFilesTest, RemovesOnlyTemporaryFiles) {
  TempDir dir;
  const std::string image = LayerName::Image(RelRange(), Lsn{10}).ToString();
  const std::string delta = LayerName::Delta(RelRange(), {Lsn{10}, Lsn{20}}).ToString();
  const std::vector<std::string> keep = {image, delta, "metadata", "notes.___temp.txt",
                                         "dir.___temp"};
  const std::vector<std::string> temps = {delta + ".___temp", image + ".___temp",
                                          image + ".index.___temp"};
  for (const std::string& name : keep) {
    if (name == "dir.___temp") {
      ASSERT_EQ(::mkdir(dir.File(name).c_str(), 0755), 0);  // directories are left alone
    } else {
      Touch(dir.File(name));
    }
  }
  for (const std::string& name : temps) Touch(dir.File(name));

  ASSERT_OK_AND_ASSIGN(std::vector<std::string> removed, RemoveTemporaryLayerFiles(dir.path()));
  std::vector<std::string> expected_removed = temps;
  std::sort(expected_removed.begin(), expected_removed.end());
  EXPECT_EQ(removed, expected_removed);
  std::vector<std::string> expected_left = keep;
  std::sort(expected_left.begin(), expected_left.end());
  EXPECT_EQ(ListDir(dir.path()), expected_left);

  // Nothing left to remove: a second pass is a no-op.
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> again, RemoveTemporaryLayerFiles(dir.path()));
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(ListDir(dir.path()), expected_left);
}

TEST(RemoveTemporaryLayerFilesTest, EmptyDirectory) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> removed, RemoveTemporaryLayerFiles(dir.path()));
  EXPECT_TRUE(removed.empty());
}

TEST(RemoveTemporaryLayerFilesTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  EXPECT_THAT(RemoveTemporaryLayerFiles(dir.File("absent")),
              StatusIs(StatusCode::kNotFound, ::testing::HasSubstr("absent")));
}

}  // namespace
}  // namespace pageserver::layers
