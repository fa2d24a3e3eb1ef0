// PageCache behaviour: exact hit/miss/eviction counts on deterministic
// traces (fills injected, no disk), pins and usage counts under pressure,
// failed and concurrent fills, file-id isolation, the all-pinned bound, the
// real VirtualFile read path over both engines in direct mode (short blocks
// are Corruption, read errors name the block), and multi-threaded stress
// tests whose every access checks the page's contents (run them under TSan:
// the tsan preset). Randomized tests print their seed; replay with
// PS_TEST_SEED=<seed>.

#include "page_cache/page_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/align.h"
#include "common/metrics.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"

namespace pageserver::page_cache {
namespace {

using common::StatusCode;
using ::pageserver::testing::MetricValue;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using virtual_file::AlignedSpanMut;

constexpr BlockKind kNode = BlockKind::kImageBtreeNode;
constexpr size_t kWords = kPageSize / sizeof(uint64_t);

// The contents of (file, block): word i is Base + i, Base a mix of both, so
// every page differs and a misplaced or torn page shows in any word.
uint64_t ContentBase(FileId file, uint64_t block_no) {
  return HashPageKey(PageKey{file, block_no}) | 1;
}

void FillContent(FileId file, uint64_t block_no, std::span<std::byte> dst) {
  const uint64_t base = ContentBase(file, block_no);
  for (size_t i = 0; i < kWords; ++i) {
    const uint64_t word = base + i;
    std::memcpy(dst.data() + i * sizeof(word), &word, sizeof(word));
  }
}

// True when `page` holds exactly the contents of (file, block).
bool HasContent(const PageGuard& page, FileId file, uint64_t block_no) {
  const uint64_t base = ContentBase(file, block_no);
  for (size_t i = 0; i < kWords; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, page.data().data() + i * sizeof(word), sizeof(word));
    if (word != base + i) return false;
  }
  return true;
}

// Counts fills and writes the (file, block) contents.
struct ContentFill {
  FileId file;
  uint64_t block_no;
  std::atomic<int>* fills;
  Status operator()(AlignedSpanMut dst) const {
    fills->fetch_add(1);
    FillContent(file, block_no, dst.span());
    return Status::Ok();
  }
};

class PageCacheTest : public ::testing::Test {
 protected:
  // A cache of `pages` slots with its own registry; a short all-pinned wait.
  void MakeCache(uint64_t pages = kMinPages, double victim_wait_seconds = 0.05,
                 std::optional<EstimatorOptions> estimator = std::nullopt) {
    cache_.reset();
    registry_ = std::make_unique<common::Registry>();
    PageCacheOptions options;
    options.pages = pages;
    options.estimator = estimator;
    options.registry = registry_.get();
    options.clock = &clock_;
    options.victim_wait_seconds = victim_wait_seconds;
    auto cache = PageCache::Create(options);
    ASSERT_TRUE(cache.has_value()) << cache.error().ToString();
    cache_ = std::move(cache).value();
    file_ = cache_->NewFileId();
  }
  void SetUp() override { MakeCache(); }

  Result<PageGuard> Read(uint64_t block_no, FileId file, BlockKind kind = kNode) {
    return cache_->Read(file, block_no, kind, ContentFill{file, block_no, &fills_});
  }
  Result<PageGuard> Read(uint64_t block_no) { return Read(block_no, file_); }

  // Reads `block_no` and drops the pin at once; fails the test on error or
  // wrong contents.
  void Touch(uint64_t block_no) {
    auto page = Read(block_no);
    ASSERT_TRUE(page.has_value()) << page.error().ToString();
    EXPECT_TRUE(HasContent(*page, file_, block_no)) << block_no;
  }
  void TouchAll(uint64_t first, uint64_t last) {
    for (uint64_t b = first; b <= last; ++b) Touch(b);
  }
  bool Cached(uint64_t block_no) {
    const uint64_t hits = cache_->Stats().total_hits();
    Touch(block_no);
    return cache_->Stats().total_hits() == hits + 1;
  }

  common::ManualClock clock_;
  std::unique_ptr<common::Registry> registry_;
  std::unique_ptr<PageCache> cache_;
  FileId file_;
  std::atomic<int> fills_{0};
};

TEST(ParsePageCacheSizeTest, AcceptsPageCountsAndBinaryByteSizes) {
  EXPECT_EQ(ParsePageCacheSize("65536").value(), 65536u);
  EXPECT_EQ(ParsePageCacheSize("16").value(), 16u);
  EXPECT_EQ(ParsePageCacheSize("512MiB").value(), 65536u);
  EXPECT_EQ(ParsePageCacheSize("2GiB").value(), 262144u);
  EXPECT_EQ(ParsePageCacheSize("128KiB").value(), 16u);
  EXPECT_EQ(ParsePageCacheSize("1TiB").value(), 134217728u);
}

TEST(ParsePageCacheSizeTest, RejectsMalformedAndOutOfRangeSizes) {
  const auto invalid = [](std::string_view text, std::string_view why) {
    // Built with append: g++ 12 -O3 warns (-Wrestrict) on "'" + std::string.
    std::string quoted(1, '\'');
    quoted.append(text).push_back('\'');
    EXPECT_THAT(ParsePageCacheSize(text),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(quoted), HasSubstr(std::string(why)))))
        << text;
  };
  invalid("", "expected a page count");
  invalid("MiB", "expected a page count");
  invalid("-5", "expected a page count");
  invalid("12MB", "unknown unit 'MB'");
  invalid("64 MiB", "unknown unit ' MiB'");
  invalid("100KiB", "not a multiple of the 8192-byte page");
  invalid("64KiB", "8 pages, outside [16,");
  invalid("15", "15 pages, outside [16,");
  invalid("0", "0 pages");
  invalid("17179869184TiB", "size out of range");
  invalid("99999999999999999999999", "number out of range");
  invalid("4294967296", "outside [16, 2147483648]");
}

TEST(PageCacheCreateTest, RejectsSizesOutsideTheLimitsAndNegativeWaits) {
  EXPECT_THAT(PageCache::Create({.pages = kMinPages - 1}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("15 pages")));
  EXPECT_THAT(PageCache::Create({.pages = kMinPages, .victim_wait_seconds = -1}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("victim_wait_seconds")));
  EXPECT_THAT(PageCache::Create({.pages = kMinPages, .victim_wait_seconds = 1e300}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("victim_wait_seconds")));
}

TEST(PageCacheCreateTest, SlotsAreDirectIoTargets) {
  ASSERT_OK_AND_ASSIGN(auto cache, PageCache::Create({.pages = kMinPages}));
  const FileId file = cache->NewFileId();
  for (uint64_t b = 0; b < kMinPages; ++b) {
    auto check = [](AlignedSpanMut dst) {
      EXPECT_EQ(dst.size(), kPageSize);
      EXPECT_GE(dst.alignment(), kSlotAlignment);
      EXPECT_TRUE(common::IsAlignedPtr(dst.data(), kSlotAlignment));
      return Status::Ok();
    };
    ASSERT_OK(cache->Read(file, b, kNode, check));
  }
}

TEST_F(PageCacheTest, FileIdsAreFreshAndNonZero) {
  const FileId a = cache_->NewFileId();
  const FileId b = cache_->NewFileId();
  EXPECT_NE(a.value, 0u);
  EXPECT_NE(a, b);
  EXPECT_NE(a, file_);
}

TEST_F(PageCacheTest, GuardExposesThePageAndUnpinsOnceWhenMovedOrReleased) {
  ASSERT_OK_AND_ASSIGN(PageGuard page, Read(7));
  EXPECT_TRUE(page.valid());
  EXPECT_EQ(page.block_no(), 7u);
  EXPECT_EQ(page.file_id(), file_);
  EXPECT_EQ(page.data().size(), kPageSize);
  EXPECT_TRUE(HasContent(page, file_, 7));
  EXPECT_EQ(cache_->Stats().pinned, 1u);

  PageGuard moved = std::move(page);
  EXPECT_FALSE(page.valid());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(cache_->Stats().pinned, 1u);
  PageGuard assigned;
  assigned = std::move(moved);
  EXPECT_EQ(cache_->Stats().pinned, 1u);
  assigned.Release();
  EXPECT_FALSE(assigned.valid());
  EXPECT_EQ(cache_->Stats().pinned, 0u);
}

TEST_F(PageCacheTest, SecondReadOfABlockIsAHitWithoutAFill) {
  Touch(3);
  Touch(3);
  const PageCacheStats s = cache_->Stats();
  EXPECT_EQ(fills_.load(), 1);
  EXPECT_EQ(s.total_accesses(), 2u);
  EXPECT_EQ(s.total_hits(), 1u);
  EXPECT_EQ(s.total_misses(), 1u);
  EXPECT_EQ(s.fills_ok, 1u);
  EXPECT_EQ(s.victim_found_empty, 1u);
  EXPECT_EQ(s.free, kMinPages - 1);
}

// A 16-slot cache; slot i takes the i-th block filled (the free list hands
// slots out in order) and the clock hand starts at slot 0.
TEST_F(PageCacheTest, DeterministicTraceHasExactHitsMissesAndEvictions) {
  TouchAll(0, 15);  // 16 misses into free slots, usage 1 each
  TouchAll(0, 15);  // 16 hits, usage 2 each
  PageCacheStats s = cache_->Stats();
  EXPECT_EQ(s.total_hits(), 16u);
  EXPECT_EQ(s.total_misses(), 16u);
  EXPECT_EQ(s.victim_found_empty, 16u);
  EXPECT_EQ(s.free, 0u);

  // Block 16: the hand ages all 16 pages 2 -> 1 and 1 -> 0 (32 slots), then
  // evicts slot 0 (block 0) at the 33rd.
  Touch(16);
  s = cache_->Stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.victim_iterations, 33u);

  // Block 0 again: a miss; the hand is at slot 1, whose usage is 0: block 1
  // goes. Block 1 again evicts block 2 the same way.
  Touch(0);
  Touch(1);
  s = cache_->Stats();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.victim_iterations, 35u);

  Touch(16);  // still in slot 0: a hit
  Touch(2);   // evicted above: a miss, evicting block 3 (slot 3)
  s = cache_->Stats();
  EXPECT_EQ(s.total_accesses(), 37u);
  EXPECT_EQ(s.total_hits(), 17u);
  EXPECT_EQ(s.total_misses(), 20u);
  EXPECT_EQ(s.fills_ok, 20u);
  EXPECT_EQ(s.victim_found_empty, 16u);
  EXPECT_EQ(s.victim_found_evicted, 4u);
  EXPECT_EQ(s.evictions, 4u);
  EXPECT_EQ(s.victim_iterations, 36u);
  EXPECT_EQ(s.victim_errors, 0u);
  EXPECT_EQ(fills_.load(), 20);
  // What the trace left in the cache: 0, 1, 2, 4..15 and 16, but not 3.
  EXPECT_FALSE(Cached(3));
}

TEST_F(PageCacheTest, AccessesAreCountedByBlockKind) {
  ASSERT_OK(Read(0, file_, BlockKind::kLayerSummary));
  ASSERT_OK(Read(0, file_, BlockKind::kLayerSummary));
  ASSERT_OK(Read(1, file_, BlockKind::kDeltaBtreeNode));
  const PageCacheStats s = cache_->Stats();
  const size_t summary = BlockKindIndex(BlockKind::kLayerSummary);
  const size_t delta = BlockKindIndex(BlockKind::kDeltaBtreeNode);
  const size_t image = BlockKindIndex(BlockKind::kImageBtreeNode);
  EXPECT_EQ(s.accesses[summary], 2u);
  EXPECT_EQ(s.hits[summary], 1u);
  EXPECT_EQ(s.misses[summary], 1u);
  EXPECT_EQ(s.accesses[delta], 1u);
  EXPECT_EQ(s.misses[delta], 1u);
  EXPECT_EQ(s.accesses[image], 0u);
}

TEST_F(PageCacheTest, PinnedSlotsSurviveEvictionPressure) {
  std::vector<PageGuard> pinned;
  for (uint64_t b = 0; b < 4; ++b) {
    ASSERT_OK_AND_ASSIGN(PageGuard page, Read(b));
    pinned.push_back(std::move(page));
  }
  TouchAll(100, 199);  // 100 cold blocks through the 12 other slots
  for (uint64_t b = 0; b < 4; ++b) EXPECT_TRUE(HasContent(pinned[b], file_, b)) << b;
  EXPECT_EQ(cache_->Stats().evictions, 100u - 12u);
  for (uint64_t b = 0; b < 4; ++b) EXPECT_TRUE(Cached(b)) << b;
  pinned.clear();
  // Unpinned and last used long ago by the hand's standards: they go now.
  TouchAll(200, 300);
  for (uint64_t b = 0; b < 4; ++b) EXPECT_FALSE(Cached(b)) << b;
}

TEST_F(PageCacheTest, HotBlocksSurviveAOnePassScanOfColdBlocks) {
  for (int round = 0; round < 5; ++round) TouchAll(0, 3);  // usage 5
  TouchAll(1000, 1031);                                    // one pass over twice the cache
  const uint64_t evictions = cache_->Stats().evictions;
  EXPECT_EQ(evictions, 32u - 12u);  // all of them cold pages
  for (uint64_t b = 0; b < 4; ++b) EXPECT_TRUE(Cached(b)) << b;
}

TEST_F(PageCacheTest, BlocksUsedOnceDoNotSurviveTheSameScan) {
  TouchAll(0, 3);  // usage 1: no better than the scan's own pages
  TouchAll(1000, 1031);
  for (uint64_t b = 0; b < 4; ++b) EXPECT_FALSE(Cached(b)) << b;
}

TEST_F(PageCacheTest, FileIdsIsolateFiles) {
  const FileId other = cache_->NewFileId();
  ASSERT_OK_AND_ASSIGN(PageGuard a, Read(0, file_));
  ASSERT_OK_AND_ASSIGN(PageGuard b, Read(0, other));
  EXPECT_TRUE(HasContent(a, file_, 0));
  EXPECT_TRUE(HasContent(b, other, 0));
  EXPECT_EQ(b.file_id(), other);
  EXPECT_EQ(cache_->Stats().total_misses(), 2u);
  // A reopened file gets a new id: nothing of the old one is served.
  const FileId reopened = cache_->NewFileId();
  ASSERT_OK_AND_ASSIGN(PageGuard c, Read(0, reopened));
  EXPECT_TRUE(HasContent(c, reopened, 0));
  EXPECT_EQ(cache_->Stats().total_misses(), 3u);
}

TEST_F(PageCacheTest, FailedFillIsNotCached) {
  auto failing = [](AlignedSpanMut) { return Status::IoError("injected: read block 5"); };
  EXPECT_THAT(cache_->Read(file_, 5, kNode, failing),
              StatusIs(StatusCode::kIoError, HasSubstr("injected")));
  PageCacheStats s = cache_->Stats();
  EXPECT_EQ(s.fills_failed, 1u);
  EXPECT_EQ(s.free, kMinPages);  // the slot went back
  EXPECT_EQ(s.pinned, 0u);
  Touch(5);  // tried again, and succeeds
  EXPECT_EQ(fills_.load(), 1);
  s = cache_->Stats();
  EXPECT_EQ(s.fills_ok, 1u);
  EXPECT_EQ(s.total_misses(), 2u);
}

// Starts `n` readers of one block whose first fill blocks until `release`,
// and returns once all of them are inside the cache (counted as accesses).
class BlockedFill {
 public:
  BlockedFill(PageCache& cache, FileId file, int readers, Status outcome)
      : cache_(cache), file_(file), outcome_(std::move(outcome)) {
    results_.reserve(readers);
    for (int i = 0; i < readers; ++i) results_.emplace_back(Status::Internal("not run"));
    for (int i = 0; i < readers; ++i) {
      threads_.emplace_back([this, i] { results_[i] = cache_.Read(file_, 9, kNode, *this); });
    }
    while (cache_.Stats().total_accesses() < static_cast<uint64_t>(readers)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  Status operator()(AlignedSpanMut dst) {
    fills_.fetch_add(1);
    release_.get_future().wait();
    if (outcome_.ok()) FillContent(file_, 9, dst.span());
    return outcome_;
  }
  // Lets the fill finish; returns every reader's result.
  std::vector<Result<PageGuard>>& Finish() {
    release_.set_value();
    for (auto& t : threads_) t.join();
    return results_;
  }
  int fills() const { return fills_.load(); }

 private:
  PageCache& cache_;
  FileId file_;
  Status outcome_;
  std::promise<void> release_;
  std::atomic<int> fills_{0};
  std::vector<Result<PageGuard>> results_;
  std::vector<std::thread> threads_;
};

TEST_F(PageCacheTest, ConcurrentMissesOfOneBlockDoOneFill) {
  BlockedFill fill(*cache_, file_, 4, Status::Ok());
  auto& results = fill.Finish();
  EXPECT_EQ(fill.fills(), 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(results[i].has_value()) << results[i].error().ToString();
    EXPECT_TRUE(HasContent(*results[i], file_, 9));
  }
  EXPECT_EQ(results[0]->data().data(), results[3]->data().data());  // one slot
  const PageCacheStats s = cache_->Stats();
  EXPECT_EQ(s.fills_ok, 1u);
  EXPECT_EQ(s.total_misses(), 4u);
  EXPECT_EQ(s.free, kMinPages - 1);
}

TEST_F(PageCacheTest, EveryWaiterOfAFailedFillGetsTheSameError) {
  const Status error = Status::FromErrno(EIO, "injected: pread block 9");
  BlockedFill fill(*cache_, file_, 4, error);
  auto& results = fill.Finish();
  EXPECT_EQ(fill.fills(), 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(results[i].has_value());
    EXPECT_EQ(results[i].error(), error) << results[i].error().ToString();
  }
  const PageCacheStats s = cache_->Stats();
  EXPECT_EQ(s.fills_failed, 1u);
  EXPECT_EQ(s.free, kMinPages);  // returned by the last waiter
  EXPECT_EQ(s.pinned, 0u);
  Touch(9);  // not cached: read again
  EXPECT_EQ(cache_->Stats().fills_ok, 1u);
}

TEST_F(PageCacheTest, AllSlotsPinnedIsResourceExhaustedAfterABoundedWait) {
  std::vector<PageGuard> pinned;
  for (uint64_t b = 0; b < kMinPages; ++b) {
    ASSERT_OK_AND_ASSIGN(PageGuard page, Read(b));
    pinned.push_back(std::move(page));
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Read(100), StatusIs(StatusCode::kResourceExhausted,
                                  HasSubstr("page cache: all 16 slots pinned")));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.05);
  EXPECT_LT(waited, 5.0);
  const PageCacheStats s = cache_->Stats();
  EXPECT_EQ(s.victim_errors, 1u);
  EXPECT_EQ(s.pinned, kMinPages);
  pinned.pop_back();
  Touch(100);  // one slot free to evict: fine again
}

TEST_F(PageCacheTest, MissWaitsForAPinToBeReleased) {
  MakeCache(kMinPages, /*victim_wait_seconds=*/10);
  std::vector<PageGuard> pinned;
  for (uint64_t b = 0; b < kMinPages; ++b) {
    ASSERT_OK_AND_ASSIGN(PageGuard page, Read(b));
    pinned.push_back(std::move(page));
  }
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pinned[5].Release();
  });
  ASSERT_OK_AND_ASSIGN(PageGuard page, Read(100));
  releaser.join();
  EXPECT_TRUE(HasContent(page, file_, 100));
  EXPECT_EQ(cache_->Stats().victim_errors, 0u);
}

TEST_F(PageCacheTest, TickPublishesTheCountersToTheRegistry) {
  TouchAll(0, 15);
  TouchAll(0, 15);
  Touch(16);
  ASSERT_OK(Read(0, file_, BlockKind::kLayerSummary));  // evicted by 16: a miss
  cache_->Tick();
  const std::string text = registry_->RenderPrometheusText();
  EXPECT_EQ(MetricValue(text, "ps_page_cache_accesses_total{kind=\"image_btree\"}"), 33);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_hits_total{kind=\"image_btree\"}"), 16);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_misses_total{kind=\"image_btree\"}"), 17);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_accesses_total{kind=\"layer_summary\"}"), 1);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_misses_total{kind=\"layer_summary\"}"), 1);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_accesses_total{kind=\"delta_btree\"}"), 0);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_fills_total{result=\"ok\"}"), 18);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_victim_searches_total{outcome=\"found_empty\"}"), 16);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_victim_searches_total{outcome=\"found_evicted\"}"), 2);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_victim_searches_total{outcome=\"error\"}"), 0);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_victim_search_iterations_total"), 34);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_evictions_total"), 2);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_size_pages"), 16);
  EXPECT_EQ(MetricValue(text, "ps_page_cache_pinned_pages"), 0);
  EXPECT_THAT(text, HasSubstr("# HELP ps_page_cache_hits_total"));
  // A second tick adds only what changed.
  Touch(0);
  cache_->Tick();
  EXPECT_EQ(MetricValue(registry_->RenderPrometheusText(),
                        "ps_page_cache_hits_total{kind=\"image_btree\"}"),
            17);
}

TEST_F(PageCacheTest, EstimatorAndOverloadDetectorSeeTheCache) {
  TouchAll(0, 15);
  TouchAll(100, 131);  // 32 evictions
  EXPECT_EQ(cache_->estimator().accesses(), 48u);
  EXPECT_EQ(cache_->overload().total_evictions(), 32u);
  clock_.AdvanceSeconds(10);
  cache_->Tick();
  EXPECT_GT(cache_->overload().Rate1m(), 0.0);
  EXPECT_EQ(cache_->overload().pending_evictions(), 0u);
}

// A loop over 100 blocks thrashes a 64-page cache (every access misses), and
// the estimate says so: LRU would hit ~never below 100 pages and always from
// 100 on, so 100 pages reach a 99% hit rate once the cold misses are diluted.
TEST_F(PageCacheTest, WorkingSetReportFindsTheLoopSize) {
  MakeCache(64, 0.05, EstimatorOptions{.sampling_rate = 1.0, .max_tracked_keys = 4096});
  for (int pass = 0; pass < 200; ++pass) TouchAll(0, 99);
  EXPECT_EQ(cache_->Stats().total_hits(), 0u);
  const PageCache::WorkingSetReport report = cache_->WorkingSet(0.99);
  EXPECT_EQ(report.target_hit_rate, 0.99);
  EXPECT_NEAR(static_cast<double>(report.pages_for_target), 100.0, 10.0);
  ASSERT_EQ(report.curve.size(), 6u);  // 16, 32, 64, 128, 256, 512 pages
  EXPECT_EQ(report.curve.front().cache_pages, 16u);
  EXPECT_EQ(report.curve.back().cache_pages, 512u);
  EXPECT_LT(report.curve[2].hit_rate, 0.05);  // this cache's own size: thrashing
  EXPECT_GT(report.curve[3].hit_rate, 0.98);  // 128 pages would hold the loop
}

TEST_F(PageCacheTest, DefaultEstimatorOptionsFollowTheCacheSize) {
  MakeCache(8192);
  const double expected = EstimatorOptionsForCache(8192).sampling_rate;
  EXPECT_NEAR(cache_->estimator().sampling_rate(), expected, expected * 1e-6);
}

// ---- The real read path: VirtualFile in direct mode, both engines ----

class PageCacheFileTest : public ::pageserver::testing::IoParamTest {};

TEST_P(PageCacheFileTest, ReadsBlocksStraightFromTheFileAndReportsAShortBlockAsCorruption) {
  constexpr uint64_t kBlocks = 40;
  constexpr uint64_t kSeed = 77;
  const std::string path = dir().File("layer");
  // 40 whole blocks and a 4 KiB tail: block 40 exists but is cut short.
  ::pageserver::testing::WriteWholeFile(
      path, ::pageserver::testing::PatternBytes(kSeed, 0, kBlocks * kPageSize + 4096));
  ASSERT_OK_AND_ASSIGN(
      auto file, virtual_file::VirtualFile::Open(ctx(), path, virtual_file::OpenOptions::Read()));
  EXPECT_EQ(file.is_direct(), GetParam().mode != virtual_file::IoMode::kBuffered);
  common::Registry registry;
  ASSERT_OK_AND_ASSIGN(auto cache, PageCache::Create({.pages = 16, .registry = &registry}));
  const FileId id = cache->NewFileId();

  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 300; ++i) {
    const uint64_t block = rng() % kBlocks;
    ASSERT_OK_AND_ASSIGN(PageGuard page, cache->Read(id, block, kNode, file));
    ASSERT_EQ(::pageserver::testing::FirstPatternMismatch(kSeed, block * kPageSize, page.data()),
              -1)
        << "block " << block;
  }
  const PageCacheStats s = cache->Stats();
  EXPECT_EQ(s.total_accesses(), 300u);
  EXPECT_GT(s.evictions, 0u);

  for (int attempt = 0; attempt < 2; ++attempt) {  // the failure is not cached
    EXPECT_THAT(cache->Read(id, kBlocks, kNode, file),
                StatusIs(StatusCode::kCorruption,
                         AllOf(HasSubstr("page cache: block 40 of " + path + " at offset 327680"),
                               HasSubstr("short block, 4096 of 8192 bytes"))));
  }
  EXPECT_EQ(cache->Stats().fills_failed, 2u);
  EXPECT_THAT(cache->Read(id, kBlocks + 5, kNode, file),
              StatusIs(StatusCode::kCorruption,
                       AllOf(HasSubstr("block 45"), HasSubstr("0 of 8192 bytes"))));
  EXPECT_THAT(cache->Read(id, UINT64_MAX / 4096, kNode, file),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("beyond any file offset")));
}

TEST_P(PageCacheFileTest, ReadErrorsNameTheBlockAndAreNotCached) {
  const std::string path = dir().File("layer");
  ::pageserver::testing::WriteWholeFile(path,
                                        ::pageserver::testing::PatternBytes(1, 0, 4 * kPageSize));
  io_engine::FaultPlan faults;
  faults.seed = 1;
  faults.error_one_in = 1;  // every read fails with EIO
  ASSERT_TRUE(UseFaults(faults));
  ASSERT_OK_AND_ASSIGN(
      auto file, virtual_file::VirtualFile::Open(ctx(), path, virtual_file::OpenOptions::Read()));
  ASSERT_OK_AND_ASSIGN(auto cache, PageCache::Create({.pages = kMinPages}));
  const FileId id = cache->NewFileId();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto page = cache->Read(id, 2, kNode, file);
    ASSERT_THAT(page, StatusIs(StatusCode::kIoError,
                               HasSubstr("page cache: block 2 of " + path + " at offset 16384")));
    EXPECT_EQ(page.error().error_number(), EIO);
    EXPECT_TRUE(page.error().IsFatal());
  }
  const PageCacheStats s = cache->Stats();
  EXPECT_EQ(s.fills_failed, 2u);
  EXPECT_EQ(s.free, kMinPages);
}

INSTANTIATE_TEST_SUITE_P(
    Engines, PageCacheFileTest,
    ::testing::Values(::pageserver::testing::IoParam{io_engine::IoEngineKind::kStdFs,
                                                     virtual_file::IoMode::kDirect},
                      ::pageserver::testing::IoParam{io_engine::IoEngineKind::kIoUring,
                                                     virtual_file::IoMode::kDirect},
                      ::pageserver::testing::IoParam{io_engine::IoEngineKind::kStdFs,
                                                     virtual_file::IoMode::kBuffered}),
    ::pageserver::testing::IoParamName);

// ---- Stress ----

struct StressConfig {
  int threads = 4;
  int accesses_per_thread = 20000;
  uint64_t pages = 64;
  uint64_t blocks_per_file = 128;  // two files
  uint32_t fail_one_in = 32;       // injected fill failures
};

// Threads read random blocks of two files, holding up to two pins at a time
// as a B-tree descent does, with some fills failing. Every page read is
// checked word by word, and the pinned parent again after each read.
void RunStress(const StressConfig& config) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay with PS_TEST_SEED)");
  common::Registry registry;
  ASSERT_OK_AND_ASSIGN(
      auto cache,
      PageCache::Create({.pages = config.pages, .registry = &registry, .victim_wait_seconds = 10}));
  const FileId files[2] = {cache->NewFileId(), cache->NewFileId()};
  std::atomic<uint64_t> bad_pages{0}, errors{0}, unexpected_errors{0};

  auto reader = [&](int thread) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(thread));
    PageGuard parent;
    for (int i = 0; i < config.accesses_per_thread; ++i) {
      const FileId file = files[rng() % 2];
      const uint64_t block = rng() % config.blocks_per_file;
      const bool fail = rng() % config.fail_one_in == 0;
      auto fill = [&](AlignedSpanMut dst) {
        if (fail) return Status::IoError("injected failure");
        FillContent(file, block, dst.span());
        return Status::Ok();
      };
      auto page = cache->Read(file, block, static_cast<BlockKind>(i % kNumBlockKinds), fill);
      if (!page.has_value()) {
        errors.fetch_add(1);
        if (page.error().message() != "injected failure") unexpected_errors.fetch_add(1);
        continue;
      }
      if (!HasContent(*page, file, block) || page->block_no() != block || page->file_id() != file) {
        bad_pages.fetch_add(1);
      }
      if (parent.valid() && !HasContent(parent, parent.file_id(), parent.block_no())) {
        bad_pages.fetch_add(1);
      }
      parent = rng() % 2 ? std::move(*page) : PageGuard();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(config.threads);
  for (int t = 0; t < config.threads; ++t) threads.emplace_back(reader, t);
  for (auto& t : threads) t.join();

  EXPECT_EQ(bad_pages.load(), 0u);
  EXPECT_EQ(unexpected_errors.load(), 0u);
  const PageCacheStats s = cache->Stats();
  EXPECT_EQ(s.total_accesses(), uint64_t(config.threads) * config.accesses_per_thread);
  EXPECT_EQ(s.total_hits() + s.total_misses(), s.total_accesses());
  EXPECT_GE(errors.load(), s.fills_failed);  // each failed fill fails >= 1 read
  EXPECT_GT(s.fills_failed, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.victim_errors, 0u);
  EXPECT_EQ(s.pinned, 0u);
  // Every fill had a slot of its own; a slot reserved by a reader that then
  // lost the race to map the block went back unfilled.
  EXPECT_LE(s.fills_ok + s.fills_failed, s.victim_found_empty + s.victim_found_evicted);
  EXPECT_LE(s.fills_ok + s.fills_failed, s.total_misses());
  EXPECT_EQ(cache->estimator().accesses(), s.total_accesses());
}

// 4x more blocks than slots: mostly misses and evictions.
TEST(PageCacheStressTest, RandomTracesOverFourTimesTheCacheSeeTheRightContents) { RunStress({}); }

// Few blocks, the smallest cache: threads keep meeting on the same blocks,
// so concurrent misses, waits on fills and lost insert races are common.
TEST(PageCacheStressTest, ContendedBlocksSeeTheRightContents) {
  RunStress({.pages = kMinPages, .blocks_per_file = 12, .fail_one_in = 16});
}

}  // namespace
}  // namespace pageserver::page_cache
