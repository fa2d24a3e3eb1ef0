// Vectored reads (layers/vectored_read.h): the planner's exact reads for
// crafted layouts, its invariants on random layouts, and batches executed
// against real files over every engine and io mode, with failed and short
// reads failing only the blobs that needed them.

#include "layers/vectored_read.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <string>
#include <vector>

#include "common/align.h"
#include "tests/support/counting_engine.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::AlignDown;
using common::AlignUp;
using common::StatusCode;
using ::pageserver::testing::AllIoParams;
using ::pageserver::testing::IoParamName;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using virtual_file::IoBufferMut;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

using Bytes = std::vector<std::byte>;

BlobRef Blob(uint64_t offset, uint32_t length) { return BlobRef{offset, length, false}; }

PlannerOptions Options(size_t alignment, size_t cap) { return PlannerOptions{alignment, cap}; }

VectoredReadPlan Plan(const std::vector<BlobRef>& blobs, PlannerOptions options = {}) {
  return VectoredReadPlan::Build(blobs, options);
}

std::vector<BlobPiece> Pieces(const VectoredReadPlan& plan, size_t i) {
  auto p = plan.pieces(i);
  return {p.begin(), p.end()};
}

// ---- BlobRef ----

TEST(BlobRefTest, PackedLayoutAndRoundTrip) {
  EXPECT_EQ(Blob(1, 2).Pack(), (uint64_t{1} << 24) | (uint64_t{2} << 1));
  EXPECT_EQ((BlobRef{1, 2, true}.Pack()), (uint64_t{1} << 24) | (uint64_t{2} << 1) | 1);
  for (const BlobRef& r :
       {BlobRef{0, 0, false}, BlobRef{BlobRef::kMaxOffset, 0, true},
        BlobRef{0, BlobRef::kMaxLength, false},
        BlobRef{BlobRef::kMaxOffset, BlobRef::kMaxLength, true}, BlobRef{123456789, 8208, true}}) {
    EXPECT_EQ(BlobRef::Unpack(r.Pack()), r);
  }
  EXPECT_EQ(BlobRef::Unpack(~uint64_t{0}),
            (BlobRef{BlobRef::kMaxOffset, BlobRef::kMaxLength, true}));
}

// ---- planner: crafted layouts (512-byte chunks unless stated) ----

TEST(PlannerTest, EmptyInputPlansNothing) {
  const VectoredReadPlan plan = Plan({});
  EXPECT_TRUE(plan.reads().empty());
  EXPECT_EQ(plan.blob_count(), 0u);
  EXPECT_EQ(plan.total_read_bytes(), 0u);
}

TEST(PlannerTest, AdjacentBlobsShareOneRead) {
  const VectoredReadPlan plan = Plan({Blob(0, 8208), Blob(8208, 8208)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 16896}));
  EXPECT_THAT(Pieces(plan, 0), ElementsAre(BlobPiece{0, 0, 8208}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 8208, 8208}));
  EXPECT_EQ(plan.total_read_bytes(), 16896u);
}

TEST(PlannerTest, BlobsInTheSameChunkShareOneRead) {
  const VectoredReadPlan plan = Plan({Blob(0, 100), Blob(150, 100), Blob(300, 50)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}));
  EXPECT_THAT(Pieces(plan, 2), ElementsAre(BlobPiece{0, 300, 50}));
}

TEST(PlannerTest, BlobInTheNextChunkJoins) {
  const VectoredReadPlan plan = Plan({Blob(0, 100), Blob(600, 100)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 1024}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 600, 100}));
}

TEST(PlannerTest, GapOfOneChunkStartsANewRead) {
  const VectoredReadPlan plan = Plan({Blob(0, 100), Blob(1100, 100)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{1024, 512}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{1, 76, 100}));
}

TEST(PlannerTest, FarApartBlobsGetTheirOwnReads) {
  const VectoredReadPlan plan = Plan({Blob(0, 100), Blob(5000, 100)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{4608, 512}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{1, 392, 100}));
}

TEST(PlannerTest, OversizedBlobAtTheStartIsReadAlone) {
  const VectoredReadPlan plan = Plan({Blob(0, 10000), Blob(11000, 100)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 10240}, PhysicalRead{10752, 512}));
}

TEST(PlannerTest, OversizedBlobInTheMiddleIsReadAlone) {
  // Each neighbour is in the chunk right after the previous read, but
  // merging would pass the cap.
  const VectoredReadPlan plan =
      Plan({Blob(0, 100), Blob(512, 10000), Blob(10752, 100)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{512, 10240},
                                        PhysicalRead{10752, 512}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{1, 0, 10000}));
}

TEST(PlannerTest, OversizedBlobAtTheEndIsReadAlone) {
  const VectoredReadPlan plan =
      Plan({Blob(0, 100), Blob(200, 100), Blob(1024, 10000)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{1024, 10240}));
}

TEST(PlannerTest, BlobEndingInsideAnOversizedReadJoinsIt) {
  const VectoredReadPlan plan = Plan({Blob(0, 10000), Blob(10000, 100)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 10240}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 10000, 100}));
}

TEST(PlannerTest, ReadExactlyAtTheCapStaysOneRead) {
  const VectoredReadPlan shared = Plan({Blob(0, 2000), Blob(2000, 2096)}, Options(512, 4096));
  EXPECT_THAT(shared.reads(), ElementsAre(PhysicalRead{0, 4096}));
  const VectoredReadPlan next = Plan({Blob(0, 2048), Blob(2048, 2048)}, Options(512, 4096));
  EXPECT_THAT(next.reads(), ElementsAre(PhysicalRead{0, 4096}));
}

TEST(PlannerTest, OneChunkOverTheCapSplitsWithoutReadingAChunkTwice) {
  // The second blob starts in the first read's last chunk [1536, 2048): the
  // new read starts after it and the blob straddles both.
  const VectoredReadPlan plan = Plan({Blob(0, 2000), Blob(2000, 2097)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 2048}, PhysicalRead{2048, 2560}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 2000, 48}, BlobPiece{1, 0, 2049}));
  // Starting in the next chunk instead: no straddle.
  const VectoredReadPlan next = Plan({Blob(0, 2048), Blob(2048, 2049)}, Options(512, 4096));
  EXPECT_THAT(next.reads(), ElementsAre(PhysicalRead{0, 2048}, PhysicalRead{2048, 2560}));
  EXPECT_THAT(Pieces(next, 1), ElementsAre(BlobPiece{1, 0, 2049}));
}

TEST(PlannerTest, StraddlingBlobLargerThanTheCap) {
  const VectoredReadPlan plan =
      Plan({Blob(0, 100), Blob(100, 10000), Blob(10100, 50)}, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{512, 9728}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 100, 412}, BlobPiece{1, 0, 9588}));
  EXPECT_THAT(Pieces(plan, 2), ElementsAre(BlobPiece{1, 9588, 50}));
}

TEST(PlannerTest, CapSplitAfterSeveralBlobsStraddlesThenContinues) {
  // Blobs of 1000 bytes back to back, cap 4096: reads end where the next
  // blob would push past the cap; the blob in the shared chunk straddles.
  std::vector<BlobRef> blobs;
  for (uint64_t i = 0; i < 6; ++i) blobs.push_back(Blob(i * 1000, 1000));
  const VectoredReadPlan plan = Plan(blobs, Options(512, 4096));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 4096}, PhysicalRead{4096, 2048}));
  EXPECT_THAT(Pieces(plan, 4), ElementsAre(BlobPiece{0, 4000, 96}, BlobPiece{1, 0, 904}));
  EXPECT_THAT(Pieces(plan, 5), ElementsAre(BlobPiece{1, 904, 1000}));
}

TEST(PlannerTest, DuplicatesMapToTheSamePieces) {
  const VectoredReadPlan plan =
      Plan({Blob(100, 50), Blob(0, 100), Blob(100, 50), BlobRef{100, 50, true}});
  EXPECT_EQ(plan.blob_count(), 4u);
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}));
  EXPECT_EQ(Pieces(plan, 0), Pieces(plan, 2));
  EXPECT_EQ(Pieces(plan, 0), Pieces(plan, 3));
  EXPECT_TRUE(plan.blob(3).will_init);
}

TEST(PlannerTest, UnsortedInputPlansAsSorted) {
  const std::vector<BlobRef> sorted{Blob(0, 100), Blob(600, 100), Blob(5000, 300),
                                    Blob(5300, 20000)};
  std::vector<BlobRef> reversed(sorted.rbegin(), sorted.rend());
  const VectoredReadPlan a = Plan(sorted, Options(512, 8192));
  const VectoredReadPlan b = Plan(reversed, Options(512, 8192));
  EXPECT_EQ(a.reads(), b.reads());
  for (size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(Pieces(a, i), Pieces(b, sorted.size() - 1 - i));
    EXPECT_EQ(b.blob(sorted.size() - 1 - i), sorted[i]);
  }
}

TEST(PlannerTest, Alignment4096) {
  const VectoredReadPlan merged = Plan({Blob(0, 100), Blob(5000, 100), Blob(9000, 100)},
                                       Options(4096, kDefaultMaxVectoredReadBytes));
  EXPECT_THAT(merged.reads(), ElementsAre(PhysicalRead{0, 12288}));
  EXPECT_THAT(Pieces(merged, 2), ElementsAre(BlobPiece{0, 9000, 100}));
  const VectoredReadPlan gap =
      Plan({Blob(0, 100), Blob(9000, 100)}, Options(4096, kDefaultMaxVectoredReadBytes));
  EXPECT_THAT(gap.reads(), ElementsAre(PhysicalRead{0, 4096}, PhysicalRead{8192, 4096}));
}

TEST(PlannerTest, CapIsRoundedDownToWholeChunks) {
  const VectoredReadPlan plan = Plan({Blob(0, 100), Blob(600, 100)}, Options(512, 1000));
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}, PhysicalRead{512, 512}));
}

TEST(PlannerTest, OverlappingBlobsFromACorruptIndexShareOneExtent) {
  const VectoredReadPlan plan =
      Plan({Blob(0, 1000), Blob(500, 1000), Blob(600, 100)}, Options(512, 1024));
  // One extent [0, 1500), longer than the cap: a read of its own.
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 1536}));
  EXPECT_THAT(Pieces(plan, 0), ElementsAre(BlobPiece{0, 0, 1000}));
  EXPECT_THAT(Pieces(plan, 1), ElementsAre(BlobPiece{0, 500, 1000}));
  EXPECT_THAT(Pieces(plan, 2), ElementsAre(BlobPiece{0, 600, 100}));
  // Same offset, different lengths.
  const VectoredReadPlan same = Plan({Blob(0, 100), Blob(0, 700), Blob(700, 10)});
  EXPECT_THAT(same.reads(), ElementsAre(PhysicalRead{0, 1024}));
  EXPECT_THAT(Pieces(same, 1), ElementsAre(BlobPiece{0, 0, 700}));
}

TEST(PlannerTest, ZeroLengthBlobGetsNoPieces) {
  const VectoredReadPlan plan = Plan({Blob(5000, 0), Blob(0, 100)});
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{0, 512}));
  EXPECT_TRUE(plan.pieces(0).empty());
}

TEST(PlannerTest, OverlapChainLongerThanAnyReadIsLeftUnread) {
  std::vector<BlobRef> blobs;
  const uint64_t step = BlobRef::kMaxLength / 2;
  for (uint64_t i = 0; i * step <= kMaxPlannedReadBytes; ++i) {
    blobs.push_back(Blob(i * step, BlobRef::kMaxLength));
  }
  blobs.push_back(Blob(uint64_t{1} << 32, 100));
  const VectoredReadPlan plan = Plan(blobs);
  EXPECT_THAT(plan.reads(), ElementsAre(PhysicalRead{uint64_t{1} << 32, 512}));
  EXPECT_TRUE(plan.pieces(0).empty());
  EXPECT_EQ(plan.pieces(blobs.size() - 1).size(), 1u);
}

// ---- planner: invariants on random layouts ----

struct Layout {
  std::vector<BlobRef> blobs;  // the request: a subset, shuffled, with duplicates
  PlannerOptions options;
  bool valid = true;  // no overlaps, no zero lengths
};

Layout RandomLayout(std::mt19937_64& rng, bool valid) {
  Layout layout;
  layout.valid = valid;
  const size_t alignment = rng() % 3 == 0 ? 4096 : 512;
  const size_t caps[] = {alignment, 4096, 5000, 16384, kDefaultMaxVectoredReadBytes};
  layout.options = Options(alignment, std::max(alignment, caps[rng() % 5]));
  std::vector<BlobRef> file;
  uint64_t pos = rng() % 5000;
  const size_t n = 1 + rng() % 60;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t lens[] = {16, uint32_t(17 + rng() % 600), uint32_t(16 + rng() % 9000),
                             uint32_t(16 + rng() % 200000)};
    const uint32_t len = lens[rng() % 4 == 3 ? 3 : rng() % 3];
    file.push_back(Blob(pos, len));
    const uint64_t gaps[] = {0, 0, 0, rng() % 100, rng() % 2000, rng() % 20000};
    pos += len + gaps[rng() % 6];
    if (!valid && rng() % 4 == 0) pos -= std::min<uint64_t>(pos, rng() % (2 * uint64_t{len}));
  }
  for (const BlobRef& b : file) {
    if (rng() % 3 != 0) layout.blobs.push_back(b);
    if (rng() % 8 == 0) layout.blobs.push_back(b);
    if (!valid && rng() % 10 == 0) layout.blobs.push_back(Blob(b.offset, uint32_t(rng() % 50)));
  }
  std::shuffle(layout.blobs.begin(), layout.blobs.end(), rng);
  return layout;
}

uint64_t EffectiveCap(const PlannerOptions& o) {
  return std::max<uint64_t>(AlignDown(o.max_read_bytes, o.alignment), o.alignment);
}

uint64_t End(const PhysicalRead& r) { return r.offset + r.length; }

void CheckReadsSortedDisjointAligned(const VectoredReadPlan& plan, uint64_t a) {
  for (size_t i = 0; i < plan.reads().size(); ++i) {
    const PhysicalRead& r = plan.reads()[i];
    ASSERT_GT(r.length, 0u);
    ASSERT_EQ(r.offset % a, 0u);
    ASSERT_EQ(r.length % a, 0u);
    // Sorted and disjoint: no chunk is read twice.
    if (i > 0) {
      ASSERT_LE(End(plan.reads()[i - 1]), r.offset) << "read " << i;
    }
  }
}

// The pieces are in file order, inside their reads, contiguous, and cover
// exactly the blob; a second piece starts the read right after the first.
void CheckPiecesCoverEachBlobExactly(const VectoredReadPlan& plan) {
  for (size_t b = 0; b < plan.blob_count(); ++b) {
    const BlobRef& blob = plan.blob(b);
    const auto pieces = plan.pieces(b);
    if (blob.length == 0) {
      ASSERT_TRUE(pieces.empty());
      continue;
    }
    ASSERT_GE(pieces.size(), 1u);
    ASSERT_LE(pieces.size(), VectoredReadPlan::kMaxPieces);
    uint64_t pos = blob.offset;
    for (size_t k = 0; k < pieces.size(); ++k) {
      const BlobPiece& p = pieces[k];
      ASSERT_LT(p.read, plan.reads().size());
      const PhysicalRead& r = plan.reads()[p.read];
      ASSERT_EQ(r.offset + p.offset_in_read, pos) << "blob " << b << " piece " << k;
      ASSERT_LE(uint64_t{p.offset_in_read} + p.length, r.length);
      ASSERT_GT(p.length, 0u);
      if (k > 0) {
        ASSERT_EQ(p.read, pieces[k - 1].read + 1);
        ASSERT_EQ(p.offset_in_read, 0u);
      }
      if (k + 1 < pieces.size()) {
        ASSERT_EQ(pos + p.length, End(r));
      }
      pos += p.length;
    }
    ASSERT_EQ(pos, blob.end()) << "blob " << b;
  }
}

// No wasted chunk: every chunk of every read holds a byte of some blob.
void CheckEveryChunkHoldsABlobByte(const VectoredReadPlan& plan, uint64_t a) {
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // union of the blobs, sorted
  for (size_t b = 0; b < plan.blob_count(); ++b) {
    if (plan.blob(b).length != 0) spans.emplace_back(plan.blob(b).offset, plan.blob(b).end());
  }
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && s.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, s.second);
    } else {
      merged.push_back(s);
    }
  }
  for (const PhysicalRead& r : plan.reads()) {
    for (uint64_t c = r.offset; c < End(r); c += a) {
      // The first span ending after the chunk starts must start before it ends.
      auto it = std::upper_bound(merged.begin(), merged.end(), c,
                                 [](uint64_t x, const auto& s) { return x < s.second; });
      ASSERT_TRUE(it != merged.end() && it->first < c + a) << "chunk at " << c;
    }
  }
}

// For a valid layout (no overlaps): a read longer than the cap is one blob's
// read: a blob starting in its first chunk (or straddling into it) ends in
// its last chunk. Two reads that touch could not have been one: the blob that
// opened the second would have pushed the first past the cap.
void CheckCapAndGreed(const VectoredReadPlan& plan, uint64_t a, uint64_t cap) {
  std::vector<size_t> first_blob(plan.reads().size(), SIZE_MAX);
  for (size_t b = 0; b < plan.blob_count(); ++b) {
    for (const BlobPiece& p : plan.pieces(b)) {
      size_t& f = first_blob[p.read];
      if (f == SIZE_MAX || plan.blob(b).offset < plan.blob(f).offset) f = b;
    }
  }
  for (size_t i = 0; i < plan.reads().size(); ++i) {
    const PhysicalRead& r = plan.reads()[i];
    ASSERT_NE(first_blob[i], SIZE_MAX);
    if (r.length > cap) {
      const BlobRef& f = plan.blob(first_blob[i]);
      ASSERT_LT(f.offset, r.offset + a) << "read " << i;
      ASSERT_EQ(AlignUp(f.end(), a), End(r)) << "read " << i;
    }
    if (i > 0 && plan.reads()[i - 1].offset + plan.reads()[i - 1].length == r.offset) {
      const BlobRef& f = plan.blob(first_blob[i]);
      ASSERT_GT(AlignUp(f.end(), a) - plan.reads()[i - 1].offset, cap) << "read " << i;
    }
  }
}

TEST(PlannerTest, RandomLayoutsKeepEveryInvariant) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    const Layout layout = RandomLayout(rng, /*valid=*/round % 3 != 0);
    SCOPED_TRACE("round " + std::to_string(round));
    const VectoredReadPlan plan = VectoredReadPlan::Build(layout.blobs, layout.options);
    const uint64_t a = layout.options.alignment;
    ASSERT_EQ(plan.blob_count(), layout.blobs.size());
    for (size_t b = 0; b < layout.blobs.size(); ++b) ASSERT_EQ(plan.blob(b), layout.blobs[b]);
    ASSERT_NO_FATAL_FAILURE(CheckReadsSortedDisjointAligned(plan, a));
    ASSERT_NO_FATAL_FAILURE(CheckPiecesCoverEachBlobExactly(plan));
    ASSERT_NO_FATAL_FAILURE(CheckEveryChunkHoldsABlobByte(plan, a));
    if (layout.valid) {
      ASSERT_NO_FATAL_FAILURE(CheckCapAndGreed(plan, a, EffectiveCap(layout.options)));
    }
  }
}

// ---- batches against real files ----

struct StoredBlob {
  BlobRef ref;
  Bytes value;
};

Bytes RandomValue(std::mt19937_64& rng, size_t n) {
  Bytes v(n);
  const bool compressible = rng() % 2 == 0;
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(compressible ? (i / 7) % 13 : rng());
  return v;
}

// Blobs back to back with occasional garbage gaps; values of random sizes
// and compressibility, zstd for half.
struct BlobFileContents {
  std::vector<StoredBlob> blobs;
  Bytes bytes;
};

BlobFileContents MakeBlobFile(std::mt19937_64& rng, size_t count, size_t max_value) {
  BlobFileContents file;
  BlobEncoder encoder;
  for (size_t i = 0; i < count; ++i) {
    if (rng() % 5 == 0) {
      const size_t gap = rng() % 3000;
      for (size_t g = 0; g < gap; ++g) file.bytes.push_back(std::byte(rng()));
    }
    const Bytes value = RandomValue(rng, rng() % (max_value + 1));
    const bool will_init = rng() % 2 == 0;
    const auto c = rng() % 2 == 0 ? Compression::kZstd : Compression::kNone;
    auto encoded = encoder.Encode(value, will_init, c);
    EXPECT_TRUE(encoded.has_value());
    const BlobRef ref{file.bytes.size(), uint32_t(encoded->size()), will_init};
    file.bytes.insert(file.bytes.end(), encoded->begin(), encoded->end());
    file.blobs.push_back({ref, value});
  }
  return file;
}

class VectoredReadBatchTest : public ::pageserver::testing::IoParamTest {
 protected:
  // Writes `bytes` through a VirtualFile (aligned buffer, then trimmed to the
  // exact length, so the last chunk is partial) and opens it for reading.
  common::Result<VirtualFile> WriteAndOpen(const std::string& name, const Bytes& bytes) {
    const std::string path = dir().File(name);
    {
      ASSIGN_OR_RETURN(VirtualFile w,
                       VirtualFile::Open(ctx(), path, OpenOptions::CreateTruncate()));
      const size_t a = w.alignment();
      IoBufferMut buf = IoBufferMut::Allocate(AlignUp(std::max<size_t>(bytes.size(), 1), a), a);
      if (buf.Append(bytes) != bytes.size()) return common::Status::Internal("append");
      buf.ZeroPadTo(buf.capacity());
      RETURN_IF_ERROR(w.WriteAllAt(0, buf.Valid()));
      RETURN_IF_ERROR(w.SetLen(bytes.size()));
    }
    return VirtualFile::Open(ctx(), path, OpenOptions::Read());
  }

  static std::vector<size_t> RandomSubset(std::mt19937_64& rng, size_t n) {
    std::vector<size_t> picked;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 3 == 0) picked.push_back(i);
      if (rng() % 20 == 0) picked.push_back(i);
    }
    std::shuffle(picked.begin(), picked.end(), rng);
    return picked;
  }

  static VectoredReadPlan PlanFor(const BlobFileContents& file, const std::vector<size_t>& picked,
                                  const VirtualFile& vf, size_t cap) {
    std::vector<BlobRef> refs;
    refs.reserve(picked.size());
    for (size_t i : picked) refs.push_back(file.blobs[i].ref);
    return VectoredReadPlan::Build(refs, Options(vf.alignment(), std::max(cap, vf.alignment())));
  }

  // Every blob of `plan` decodes to its value by all three calls.
  static void ExpectAllDecode(const VectoredReadBatch& batch, size_t plan,
                              const BlobFileContents& file, const std::vector<size_t>& picked) {
    for (size_t b = 0; b < picked.size(); ++b) {
      const StoredBlob& want = file.blobs[picked[b]];
      SCOPED_TRACE("plan " + std::to_string(plan) + " blob " + std::to_string(b));
      ASSERT_OK_AND_ASSIGN(const BlobHeader header, batch.Header(plan, b));
      EXPECT_EQ(header.decoded_len, want.value.size());
      ASSERT_OK_AND_ASSIGN(const DecodedBlob decoded, batch.Decode(plan, b));
      EXPECT_EQ(decoded.value, want.value);
      EXPECT_EQ(decoded.will_init, want.ref.will_init);
      Bytes into(header.decoded_len);
      ASSERT_OK(batch.DecodeInto(plan, b, into));
      EXPECT_EQ(into, want.value);
    }
  }
};

TEST_P(VectoredReadBatchTest, RandomSubsetsDecodeToTheirValues) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  const BlobFileContents file = MakeBlobFile(rng, 150, 12000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, WriteAndOpen("layer", file.bytes));
  for (size_t cap : {size_t{512}, size_t{4096}, size_t{20000}, kDefaultMaxVectoredReadBytes}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    const std::vector<size_t> picked = RandomSubset(rng, file.blobs.size());
    VectoredReadBatch batch;
    VectoredReadPlan plan = PlanFor(file, picked, vf, cap);
    const size_t reads = plan.reads().size();
    const uint64_t bytes = plan.total_read_bytes();
    ASSERT_EQ(batch.Add(&vf, std::move(plan)), 0u);
    batch.Execute();
    EXPECT_EQ(batch.read_count(), reads);
    EXPECT_EQ(batch.bytes_read(), bytes);
    ExpectAllDecode(batch, 0, file, picked);
  }
}

TEST_P(VectoredReadBatchTest, TwoFilesInOneBatchAreOneEngineSubmit) {
  std::mt19937_64 rng(11);
  const BlobFileContents a = MakeBlobFile(rng, 60, 9000);
  const BlobFileContents b = MakeBlobFile(rng, 40, 3000);
  ::pageserver::testing::CountingEngine counting(engine());
  virtual_file::IoContext counted = ctx();
  counted.engine = &counting;
  ASSERT_OK_AND_ASSIGN(const VirtualFile fa, WriteAndOpen("a", a.bytes));
  ASSERT_OK_AND_ASSIGN(const VirtualFile fb, WriteAndOpen("b", b.bytes));
  ASSERT_OK_AND_ASSIGN(const VirtualFile ra,
                       VirtualFile::Open(counted, fa.path(), OpenOptions::Read()));
  ASSERT_OK_AND_ASSIGN(const VirtualFile rb,
                       VirtualFile::Open(counted, fb.path(), OpenOptions::Read()));
  const std::vector<size_t> pa = RandomSubset(rng, a.blobs.size());
  const std::vector<size_t> pb = RandomSubset(rng, b.blobs.size());
  VectoredReadBatch batch;
  ASSERT_EQ(batch.Add(&ra, PlanFor(a, pa, ra, 4096)), 0u);
  ASSERT_EQ(batch.Add(&rb, PlanFor(b, pb, rb, 4096)), 1u);
  ASSERT_EQ(batch.plan_count(), 2u);
  batch.Execute();
  EXPECT_EQ(counting.batches(), 1u);
  EXPECT_EQ(counting.reads(), batch.read_count());
  EXPECT_EQ(batch.read_count(), batch.plan(0).reads().size() + batch.plan(1).reads().size());
  ExpectAllDecode(batch, 0, a, pa);
  ExpectAllDecode(batch, 1, b, pb);
}

// Groups of three adjacent blobs, far apart: one read per group. With EIO on
// about half the reads, each group fails or succeeds as a whole.
TEST_P(VectoredReadBatchTest, FailedReadFailsOnlyItsBlobs) {
  std::mt19937_64 rng(5);
  BlobFileContents file;
  BlobEncoder encoder;
  const size_t kGroups = 24;
  for (size_t g = 0; g < kGroups; ++g) {
    file.bytes.resize(g * 16384);
    for (int k = 0; k < 3; ++k) {
      const Bytes value = RandomValue(rng, 100 + rng() % 900);
      ASSERT_OK_AND_ASSIGN(const auto encoded, encoder.Encode(value, false, Compression::kZstd));
      file.blobs.push_back({BlobRef{file.bytes.size(), uint32_t(encoded.size()), false}, value});
      file.bytes.insert(file.bytes.end(), encoded.begin(), encoded.end());
    }
  }
  std::string path;
  {  // closed before its engine is replaced
    ASSERT_OK_AND_ASSIGN(const VirtualFile written, WriteAndOpen("groups", file.bytes));
    path = written.path();
  }
  io_engine::FaultPlan faults;
  faults.seed = 77;
  faults.error_one_in = 2;
  faults.error_errno = EIO;
  ASSERT_TRUE(UseFaults(faults));
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, VirtualFile::Open(ctx(), path, OpenOptions::Read()));
  std::vector<size_t> all(file.blobs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  VectoredReadBatch batch;
  batch.Add(&vf, PlanFor(file, all, vf, kDefaultMaxVectoredReadBytes));
  ASSERT_EQ(batch.plan(0).reads().size(), kGroups);
  batch.Execute();
  size_t failed_groups = 0;
  for (size_t g = 0; g < kGroups; ++g) {
    const bool failed = !batch.Decode(0, 3 * g).has_value();
    failed_groups += failed;
    for (size_t b = 3 * g; b < 3 * g + 3; ++b) {
      auto decoded = batch.Decode(0, b);
      if (failed) {
        const BlobRef& ref = file.blobs[b].ref;
        EXPECT_THAT(decoded,
                    StatusIs(StatusCode::kIoError,
                             AllOf(HasSubstr("layer " + vf.path()),
                                   HasSubstr("blob at offset " + std::to_string(ref.offset)),
                                   HasSubstr("(length " + std::to_string(ref.length) + ")"))));
        EXPECT_EQ(decoded.error().error_number(), EIO);
      } else {
        ASSERT_OK(decoded);
        EXPECT_EQ(decoded->value, file.blobs[b].value);
      }
    }
  }
  EXPECT_GT(failed_groups, 0u);
  EXPECT_LT(failed_groups, kGroups);
}

// The plan is made for the whole file; the file is then cut inside a blob.
// Blobs before the cut decode (even from the read that came back short);
// blobs past it are Corruption naming the short read.
TEST_P(VectoredReadBatchTest, FileTruncatedUnderThePlanFailsOnlyBlobsPastTheEnd) {
  std::mt19937_64 rng(9);
  const BlobFileContents file = MakeBlobFile(rng, 80, 4000);
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, WriteAndOpen("cut", file.bytes));
  const StoredBlob& victim = file.blobs[50];
  const uint64_t cut = victim.ref.offset + victim.ref.length / 2;
  std::vector<size_t> all(file.blobs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  VectoredReadBatch batch;
  batch.Add(&vf, PlanFor(file, all, vf, 8192));
  {
    ASSERT_OK_AND_ASSIGN(const VirtualFile w,
                         VirtualFile::Open(ctx(), vf.path(), OpenOptions::CreateReadWrite()));
    ASSERT_OK(w.SetLen(cut));
  }
  batch.Execute();
  for (size_t b = 0; b < file.blobs.size(); ++b) {
    const BlobRef& ref = file.blobs[b].ref;
    auto decoded = batch.Decode(0, b);
    if (ref.end() <= cut) {
      ASSERT_OK(decoded);
      EXPECT_EQ(decoded->value, file.blobs[b].value);
    } else {
      EXPECT_THAT(decoded, StatusIs(StatusCode::kCorruption,
                                    AllOf(HasSubstr("layer " + vf.path()),
                                          HasSubstr("blob at offset " + std::to_string(ref.offset)),
                                          HasSubstr("short read"), HasSubstr("expected"),
                                          HasSubstr("got"))));
    }
  }
}

TEST_P(VectoredReadBatchTest, CorruptBlobOnDiskNamesPathOffsetAndLength) {
  std::mt19937_64 rng(3);
  BlobFileContents file = MakeBlobFile(rng, 30, 2000);
  const BlobRef bad = file.blobs[17].ref;
  file.bytes[bad.offset + bad.length - 1] ^= std::byte{0x40};
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, WriteAndOpen("flip", file.bytes));
  std::vector<size_t> all(file.blobs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  VectoredReadBatch batch;
  batch.Add(&vf, PlanFor(file, all, vf, 4096));
  batch.Execute();
  for (size_t b = 0; b < file.blobs.size(); ++b) {
    auto decoded = batch.Decode(0, b);
    if (b != 17) {
      ASSERT_OK(decoded);
      EXPECT_EQ(decoded->value, file.blobs[b].value);
      continue;
    }
    const std::string want = "layer " + vf.path() + ": blob at offset " +
                             std::to_string(bad.offset) + " (length " + std::to_string(bad.length) +
                             "): checksum mismatch";
    EXPECT_THAT(decoded, StatusIs(StatusCode::kCorruption, HasSubstr(want)));
    Bytes into(file.blobs[b].value.size());
    EXPECT_THAT(batch.DecodeInto(0, b, into), StatusIs(StatusCode::kCorruption, HasSubstr(want)));
  }
}

TEST_P(VectoredReadBatchTest, BadRefsAndMisuseAreErrorsNotCrashes) {
  std::mt19937_64 rng(4);
  const BlobFileContents file = MakeBlobFile(rng, 5, 500);
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, WriteAndOpen("misuse", file.bytes));
  const std::vector<BlobRef> refs{file.blobs[0].ref, Blob(file.blobs[1].ref.offset, 0),
                                  Blob(1, file.blobs[2].ref.length)};
  VectoredReadBatch batch;
  batch.Add(&vf, VectoredReadPlan::Build(refs, Options(vf.alignment(), 4096)));
  EXPECT_THAT(batch.Decode(0, 0), StatusIs(StatusCode::kInternal));
  batch.Execute();
  ASSERT_OK(batch.Decode(0, 0));
  EXPECT_THAT(batch.Decode(0, 1),
              StatusIs(StatusCode::kCorruption, HasSubstr("layer " + vf.path())));
  EXPECT_THAT(batch.Header(0, 2), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(batch.Decode(0, 2), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(batch.Decode(0, 3), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(batch.Decode(1, 0), StatusIs(StatusCode::kInvalidArgument));
  Bytes wrong(3);
  EXPECT_THAT(batch.DecodeInto(0, 0, wrong), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(VectoredReadBatchTest, EmptyBatchAndEmptyPlanExecute) {
  VectoredReadBatch empty;
  empty.Execute();
  EXPECT_EQ(empty.read_count(), 0u);
  ASSERT_OK_AND_ASSIGN(const VirtualFile vf, WriteAndOpen("empty", Bytes(100)));
  VectoredReadBatch batch;
  batch.Add(&vf, VectoredReadPlan::Build({}, Options(vf.alignment(), 4096)));
  batch.Execute();
  EXPECT_EQ(batch.bytes_read(), 0u);
}

INSTANTIATE_TEST_SUITE_P(All, VectoredReadBatchTest, ::testing::ValuesIn(AllIoParams()),
                         IoParamName);

}  // namespace
}  // namespace pageserver::layers
