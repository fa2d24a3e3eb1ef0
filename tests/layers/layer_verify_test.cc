// Layer statistics and whole-file verification, on every engine x io mode:
// sound layers verify clean with the right figures; every kind of damage (a
// flipped byte anywhere, truncation, trailing garbage) becomes a problem
// naming the damaged part, and verification still returns a report.
// Randomized tests print their seed; replay with PS_TEST_SEED.

#include "layers/layer_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using ::pageserver::testing::AllIoParams;
using ::pageserver::testing::IoParamName;
using ::pageserver::testing::PatternBytes;
using ::pageserver::testing::ReadWholeFile;
using ::pageserver::testing::StatusIs;
using ::pageserver::testing::TestSeed;
using ::pageserver::testing::WriteWholeFile;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Bytes = std::vector<std::byte>;

const RelTag kRel{1663, 5, 16384, 0};
const KeyRange kLayerKeys{Key::RelBlock(kRel, 0), Key::RelBlock(kRel, 1'000'000)};
constexpr Lsn kImageLsn{0x5000};
const LsnRange kDeltaLsns{Lsn{0x100}, Lsn{0x100000}};

Key BlockKey(uint32_t blk) { return Key::RelBlock(kRel, blk); }

// A page that compresses well: a repeated 64-byte pattern.
Bytes CompressiblePage(uint32_t seed) {
  Bytes page(8192);
  for (size_t i = 0; i < page.size(); ++i) page[i] = std::byte((i % 64) * 3 + seed);
  return page;
}

// Matches a problem list containing one problem with all the given parts.
auto HasProblemWith(const std::vector<std::string>& parts) {
  std::vector<::testing::Matcher<std::string>> matchers;
  matchers.reserve(parts.size());
  for (const std::string& p : parts) matchers.push_back(HasSubstr(p));
  return Contains(::testing::AllOfArray(matchers));
}

class LayerVerifyTest : public ::pageserver::testing::IoParamTest {
 protected:
  void SetUp() override {
    IoParamTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto cache = page_cache::PageCache::Create({.pages = 64});
    ASSERT_OK(cache);
    cache_ = std::move(cache).value();
  }

  // `count` keys 0, 2, 4, ... with values from `value(i)`.
  template <typename ValueFn>
  std::string WriteImage(size_t count, Compression compression, ValueFn value) {
    LayerWriterOptions options;
    options.image_compression = compression;
    auto writer = ImageLayerWriter::Create(ctx(), dir().path(), TenantId::Generate(),
                                           TimelineId::Generate(), kLayerKeys, kImageLsn, options);
    EXPECT_OK(writer);
    if (!writer.has_value()) return "";
    for (size_t i = 0; i < count; ++i) {
      EXPECT_OK((*writer)->Put(BlockKey(uint32_t(2 * i)), value(i)));
    }
    auto layer = (*writer)->Finish();
    EXPECT_OK(layer);
    return layer.has_value() ? layer->path : "";
  }
  std::string WriteSmallImage(size_t count, Compression compression = Compression::kNone) {
    return WriteImage(count, compression,
                      [](size_t i) { return PatternBytes(i, 0, 100 + i % 900); });
  }

  // `keys` keys with `versions` LSNs each, the first of each will_init.
  std::string WriteDelta(size_t keys, size_t versions) {
    auto writer = DeltaLayerWriter::Create(ctx(), dir().path(), TenantId::Generate(),
                                           TimelineId::Generate(), kLayerKeys, kDeltaLsns);
    EXPECT_OK(writer);
    if (!writer.has_value()) return "";
    for (size_t k = 0; k < keys; ++k) {
      for (size_t v = 0; v < versions; ++v) {
        const Bytes value = PatternBytes(k * 1000 + v, 0, 50 + (k + v) % 400);
        EXPECT_OK((*writer)->Put(BlockKey(uint32_t(k)), Lsn{0x200 + 16 * v}, value, v == 0));
      }
    }
    auto layer = (*writer)->Finish();
    EXPECT_OK(layer);
    return layer.has_value() ? layer->path : "";
  }

  VerifyReport Verify(const std::string& path) {
    auto report = VerifyLayerFile(ctx(), path);
    EXPECT_OK(report);
    return report.has_value() ? *report : VerifyReport{};
  }

  LayerSummary SummaryOf(const std::string& path) {
    VerifyReport report = Verify(path);
    EXPECT_TRUE(report.summary.has_value());
    return report.summary.value_or(LayerSummary{});
  }

  static void FlipByte(const std::string& path, uint64_t offset) {
    Bytes file = ReadWholeFile(path);
    ASSERT_LT(offset, file.size());
    file[offset] ^= std::byte{0x10};
    WriteWholeFile(path, file);
  }

  std::unique_ptr<page_cache::PageCache> cache_;
};

TEST_P(LayerVerifyTest, SoundImageLayersHaveNoProblems) {
  for (Compression compression : {Compression::kNone, Compression::kZstd}) {
    SCOPED_TRACE(std::string(CompressionName(compression)));
    const std::string path =
        WriteImage(1500, compression, [](size_t i) { return CompressiblePage(uint32_t(i)); });
    const VerifyReport report = Verify(path);
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    ASSERT_TRUE(report.summary.has_value());
    EXPECT_EQ(report.summary->kind, LayerKind::kImage);
    EXPECT_EQ(report.nodes_checked, report.summary->index_node_count);
    EXPECT_EQ(report.entries_checked, 1500u);
    EXPECT_EQ(report.blobs_checked, 1500u);
    std::filesystem::remove(path);
  }
}

TEST_P(LayerVerifyTest, SoundDeltaLayerHasNoProblems) {
  const std::string path = WriteDelta(300, 12);
  const VerifyReport report = Verify(path);
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  ASSERT_TRUE(report.summary.has_value());
  EXPECT_EQ(report.summary->kind, LayerKind::kDelta);
  EXPECT_GT(report.summary->index_depth, 1u);
  EXPECT_EQ(report.nodes_checked, report.summary->index_node_count);
  EXPECT_EQ(report.entries_checked, 3600u);
  EXPECT_EQ(report.blobs_checked, 3600u);
}

TEST_P(LayerVerifyTest, EmptyLayersAreSound) {
  for (const std::string& path : {WriteSmallImage(0), WriteDelta(0, 0)}) {
    const VerifyReport report = Verify(path);
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    EXPECT_EQ(report.nodes_checked, 1u);
    EXPECT_EQ(report.entries_checked, 0u);
    ASSERT_OK_AND_ASSIGN(LayerStats stats, ComputeLayerStats(ctx(), path));
    EXPECT_EQ(stats.index_depth, 1u);
    EXPECT_EQ(stats.leaf_nodes, 1u);
    EXPECT_EQ(stats.mean_leaf_fanout, 0.0);
    EXPECT_EQ(stats.stored_value_bytes, 0u);
    EXPECT_EQ(stats.compression_ratio, 1.0);
  }
}

TEST_P(LayerVerifyTest, StatsOfAnUncompressedImageLayer) {
  const std::string path = WriteSmallImage(3000);
  ASSERT_OK_AND_ASSIGN(LayerStats stats, ComputeLayerStats(ctx(), path));
  const LayerSummary& s = stats.summary;
  EXPECT_EQ(s.entry_count, 3000u);
  EXPECT_EQ(stats.file_bytes, std::filesystem::file_size(path));
  EXPECT_EQ(stats.file_bytes, s.file_length);
  EXPECT_EQ(stats.index_depth, s.index_depth);
  EXPECT_EQ(stats.index_depth, 2u);  // 3000 keys, at most 680 per leaf
  EXPECT_EQ(stats.index_nodes, s.index_node_count);
  EXPECT_EQ(stats.index_nodes, stats.leaf_nodes + 1);
  EXPECT_DOUBLE_EQ(stats.mean_leaf_fanout, 3000.0 / double(stats.leaf_nodes));
  EXPECT_DOUBLE_EQ(stats.mean_inner_fanout, double(stats.leaf_nodes));
  EXPECT_EQ(stats.stored_value_bytes, s.value_region_end - 8192);
  EXPECT_EQ(stats.stored_value_bytes, s.value_bytes + 3000 * kBlobHeaderSize);
  EXPECT_EQ(stats.decoded_value_bytes, s.value_bytes);
  EXPECT_EQ(stats.compressed_values, 0u);
  EXPECT_EQ(stats.compression_ratio, 1.0);
}

TEST_P(LayerVerifyTest, StatsShowZstdCompressionOfCompressiblePages) {
  const std::string path =
      WriteImage(200, Compression::kZstd, [](size_t i) { return CompressiblePage(uint32_t(i)); });
  ASSERT_OK_AND_ASSIGN(LayerStats stats, ComputeLayerStats(ctx(), path));
  EXPECT_EQ(stats.summary.image_compression, Compression::kZstd);
  EXPECT_EQ(stats.compressed_values, 200u);
  EXPECT_EQ(stats.decoded_value_bytes, 200u * 8192);
  EXPECT_LT(stats.stored_value_bytes, stats.decoded_value_bytes / 4);
  EXPECT_GT(stats.compression_ratio, 4.0);
  EXPECT_EQ(stats.index_depth, 1u);
  EXPECT_EQ(stats.index_nodes, 1u);
  EXPECT_EQ(stats.mean_inner_fanout, 0.0);
}

TEST_P(LayerVerifyTest, StatsOfADeltaLayer) {
  const std::string path = WriteDelta(400, 10);
  ASSERT_OK_AND_ASSIGN(LayerStats stats, ComputeLayerStats(ctx(), path));
  EXPECT_EQ(stats.summary.kind, LayerKind::kDelta);
  EXPECT_EQ(stats.summary.entry_count, 4000u);
  EXPECT_EQ(stats.index_nodes, stats.summary.index_node_count);
  EXPECT_GT(stats.leaf_nodes, 1u);
  EXPECT_DOUBLE_EQ(stats.mean_leaf_fanout * double(stats.leaf_nodes), 4000.0);
  EXPECT_GT(stats.mean_inner_fanout, 1.0);
  EXPECT_EQ(stats.compressed_values, 0u);
}

TEST_P(LayerVerifyTest, StatsOfADamagedLayerIsCorruption) {
  const std::string path = WriteSmallImage(10);
  FlipByte(path, 100);
  EXPECT_THAT(ComputeLayerStats(ctx(), path), StatusIs(StatusCode::kCorruption));
}

TEST_P(LayerVerifyTest, VerifyReportsAFlippedBlobByteWithKeyAndOffset) {
  const std::string path = WriteSmallImage(500);
  ASSERT_OK_AND_ASSIGN(auto reader, ImageLayerReader::Open(ctx(), path, cache_.get()));
  ASSERT_OK_AND_ASSIGN(std::optional<BlobRef> ref, reader->Lookup(BlockKey(600)));
  ASSERT_TRUE(ref.has_value());
  reader.reset();
  FlipByte(path, ref->offset + ref->length / 2);
  const VerifyReport report = Verify(path);
  EXPECT_THAT(report.problems, SizeIs(1));
  EXPECT_THAT(report.problems,
              HasProblemWith({BlockKey(600).ToHex(), std::to_string(ref->offset), "Corruption"}));
  EXPECT_EQ(report.entries_checked, 500u);
}

TEST_P(LayerVerifyTest, VerifyReportsAFlippedIndexNodeByteWithItsBlock) {
  const std::string path = WriteDelta(300, 12);
  const LayerSummary summary = SummaryOf(path);
  ASSERT_GT(summary.index_node_count, 2u);
  const uint64_t leaf = summary.index_start_block + 1;  // the second leaf
  FlipByte(path, leaf * 8192 + 40);
  const VerifyReport report = Verify(path);
  ASSERT_TRUE(report.summary.has_value());
  EXPECT_THAT(report.problems, HasProblemWith({"index block " + std::to_string(leaf)}));
  EXPECT_EQ(report.nodes_checked, summary.index_node_count - 1);
  EXPECT_GT(report.entries_checked, 0u);  // the other leaves were still checked
  EXPECT_LT(report.entries_checked, 3600u);
}

TEST_P(LayerVerifyTest, VerifyReportsAFlippedSummaryByte) {
  const std::string path = WriteSmallImage(20);
  FlipByte(path, 60);
  const VerifyReport report = Verify(path);
  EXPECT_FALSE(report.summary.has_value());
  EXPECT_THAT(report.problems, HasProblemWith({"summary", "Corruption"}));
}

TEST_P(LayerVerifyTest, VerifyReportsTruncation) {
  const std::string path = WriteSmallImage(200);
  const uint64_t size = std::filesystem::file_size(path);
  for (uint64_t cut : {size - 1, size - 8192, uint64_t{8192} + 100, uint64_t{100}}) {
    SCOPED_TRACE("truncated to " + std::to_string(cut));
    std::filesystem::resize_file(path, cut);
    const VerifyReport report = Verify(path);
    EXPECT_FALSE(report.ok());
    if (cut >= 8192) {
      EXPECT_THAT(report.problems, HasProblemWith({"file length", std::to_string(cut)}));
    } else {
      EXPECT_THAT(report.problems, HasProblemWith({"summary", "100 bytes"}));
    }
  }
}

TEST_P(LayerVerifyTest, VerifyReportsTrailingGarbage) {
  const std::string path = WriteDelta(20, 3);
  Bytes file = ReadWholeFile(path);
  file.resize(file.size() + 100, std::byte{0xAB});
  WriteWholeFile(path, file);
  const VerifyReport report = Verify(path);
  EXPECT_THAT(report.problems, SizeIs(1));
  EXPECT_THAT(report.problems, HasProblemWith({"file length"}));
  EXPECT_EQ(report.entries_checked, 60u);
}

// Every byte of a layer is covered by a checksum or a rule (zero padding),
// so any single flipped byte is reported, never missed, never a failure.
TEST_P(LayerVerifyTest, VerifyReportsAnyFlippedByte) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::string path = WriteDelta(200, 5);
  const Bytes original = ReadWholeFile(path);
  for (int i = 0; i < 40; ++i) {
    const uint64_t offset = rng() % original.size();
    SCOPED_TRACE("flipped offset " + std::to_string(offset));
    Bytes damaged = original;
    damaged[offset] ^= std::byte(1 + rng() % 255);
    WriteWholeFile(path, damaged);
    auto report = VerifyLayerFile(ctx(), path);
    ASSERT_OK(report);
    EXPECT_FALSE(report->ok());
  }
}

TEST_P(LayerVerifyTest, VerifyOfAMissingFileIsNotFound) {
  EXPECT_THAT(VerifyLayerFile(ctx(), dir().File("absent")), StatusIs(StatusCode::kNotFound));
}

TEST_P(LayerVerifyTest, PeekLayerKindTellsImageFromDelta) {
  ASSERT_OK_AND_ASSIGN(LayerKind image, PeekLayerKind(ctx(), WriteSmallImage(3)));
  EXPECT_EQ(image, LayerKind::kImage);
  ASSERT_OK_AND_ASSIGN(LayerKind delta, PeekLayerKind(ctx(), WriteDelta(3, 2)));
  EXPECT_EQ(delta, LayerKind::kDelta);
}

TEST_P(LayerVerifyTest, PeekLayerKindRejectsOtherFiles) {
  const std::string other = dir().File("not-a-layer");
  WriteWholeFile(other, PatternBytes(1, 0, 3 * kLayerBlockSize));
  EXPECT_THAT(PeekLayerKind(ctx(), other), StatusIs(StatusCode::kCorruption));
  WriteWholeFile(other, PatternBytes(1, 0, 10));
  EXPECT_THAT(PeekLayerKind(ctx(), other), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(PeekLayerKind(ctx(), dir().File("absent")), StatusIs(StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(All, LayerVerifyTest, ::testing::ValuesIn(AllIoParams()), IoParamName);

}  // namespace
}  // namespace pageserver::layers
