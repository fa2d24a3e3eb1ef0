#pragma once

// WorkingSetEstimator: an online miss-ratio curve over the PageCache access
// stream, answering "what hit rate would a cache of N pages get?" and "how
// big must the cache be to reach a target hit rate?" (Neon exposes only the
// raw replacement counter; its issue to estimate the needed size was closed
// unbuilt).
//
// Method: SHARDS (Waldspurger et al., FAST '15) spatial sampling. Each key is
// mixed into a 64-bit hash h (a seeded splitmix64 step, a bijection, so two
// keys never share a hash); an access is sampled iff h <= L, the sampling
// limit, so a fraction R = (L + 1) / 2^64 of the *keys* is tracked, with
// every access to them. (The paper's hash mod P < T with P = 2^24 is the same
// test with a coarser P; the whole hash avoids ties when L is lowered.)
// For a sampled access the tracker knows d, the exact number of distinct
// sampled keys touched since the previous access to the same key (its LRU
// stack distance among sampled keys); d / R estimates the distance in the
// full stream, and the access would hit in an LRU cache of C pages iff
// d / R < C. A first access is a cold miss at every size.
//
// Fixed-size SHARDS: at most `max_tracked_keys` keys are tracked. When a new
// key would exceed that, L is lowered to just below the largest tracked hash
// and that key is forgotten, so R only falls (sampling_rate() reports it).
// Each sampled access is weighted 1/R at the rate in force when it was seen,
// so the weights estimate the full stream's access counts across changes of
// R (the paper's rescaling of the histogram, in another form).
//
// SHARDS_adj: the hit rate at C pages is 1 - (sampled misses at C, weighted)
// / accesses(), i.e. the difference between expected and actual sampled
// weight is counted as hits at distance 0. A hot key that happens to be
// (or not be) sampled moves the sampled total far from its expectation;
// hot keys hit at small sizes, so the correction removes most of that bias
// and the estimate rests on the misses, which the many cold keys sample well.
//
// Histogram: scaled distances go to log-linear buckets (exact below 64, then
// 64 buckets per power of two, so a bucket is at most 1/64 = 1.6% wide);
// queries assume distances spread uniformly within a bucket and interpolate.
//
// Resolution: the error of a size estimate C has a standard deviation of
// about 1/sqrt(R * C), the inverse root of the number of sampled keys within
// C pages (which keys are in the sample decides both where a cyclic working
// set's cliff lands and how much of a skewed stream's tail is seen; measured
// 0.5-1.2x that on the test traces). Sizes of at least
// kResolvedSampledKeys / R pages (min_resolved_pages()) are within 10%;
// below that the estimate is noise-dominated, e.g. for the few hottest keys
// of a Zipf stream. R = 0.01 thus resolves 150k pages and up;
// EstimatorOptionsForCache() picks R and the key bound for a cache size.
//
// Memory: 40-64 bytes per tracked key (open-addressing table at a load of
// 1/3-2/3, 24-48; max-heap of hashes, 8; two Fenwick-tree slots, 8) plus a
// 22 KiB histogram, all allocated at construction: Record() never allocates.
// The defaults (8192 keys) take 0.4 MiB.
//
// Cost: every Record() hashes the key and adds 1 to a per-thread-sharded
// relaxed counter; an unsampled access (a fraction 1 - R) stops there, with
// no lock. A sampled one takes a mutex and does O(log max_tracked_keys) work
// (table probe, Fenwick-tree rank, histogram add; amortized O(1) timestamp
// compaction and heap eviction). Measured (-O2, this 2-core VM, random keys):
// 7 ns per Record() at R = 0.01, 15 ns at R = 1/8, 72 ns per sampled access.
//
// The curve models LRU; the PageCache runs clock with usage counts. On the
// test traces clock needs 1.004x LRU's size for the same hit rate on cyclic
// and uniform streams and 0.90-0.99x on Zipf and scan-polluted ones, so the
// LRU answer over-provisions clock by up to ~10% there.
// Estimates cover every access since construction (no aging).
//
// Thread-safety: all methods are thread-safe. Record() may be called from
// many threads; unsampled accesses take no lock, sampled ones and queries
// take the estimator's mutex. accesses() is exact once the recording
// threads have been joined (or otherwise synchronized with the reader).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pageserver::page_cache {

// The default target of PagesForHitRate(): 99.95%.
inline constexpr double kDefaultTargetHitRate = 0.9995;

struct EstimatorOptions {
  // Initial R. REQUIRES: 0 < sampling_rate <= 1.
  double sampling_rate = 0.01;
  // Memory bound (fixed-size SHARDS). REQUIRES: 1 <= max_tracked_keys <= 2^30.
  uint64_t max_tracked_keys = 8192;
  // Seeds the key hash: different seeds sample different keys.
  uint64_t seed = 0x5eed;
};

// Sampled keys needed within a size for a 10% bound: the error's standard
// deviation is then about 2.6% (1/sqrt(1500)); over 160 seeds of the seven
// accuracy-test traces (120 at CI size, 40 at full size), all 5233 sizes at
// or above it were within 8.6%.
inline constexpr uint64_t kResolvedSampledKeys = 1500;

// Options resolving CurveSizesAround(cache_pages): R = 4 * 1500 /
// cache_pages, so a quarter of the cache holds kResolvedSampledKeys sampled
// keys, capped at 1/8 (a sampled access takes the estimator's one mutex;
// caches under 48k pages resolve from 12k pages up), and room for the keys
// of 8x the cache, at least the default 8192: at most 48000 keys (2.8 MiB).
// E.g. EstimatorOptionsForCache(1 << 20) has R = 0.0057, 48000 keys.
EstimatorOptions EstimatorOptionsForCache(uint64_t cache_pages);

struct CurvePoint {
  uint64_t cache_pages = 0;
  double hit_rate = 0;  // expected under LRU, 0..1
};

// The sizes the cache reports its curve at: 1/4x to 8x `pages`, each at
// least 1. E.g. CurveSizesAround(1000) == {250, 500, 1000, 2000, 4000, 8000}.
std::vector<uint64_t> CurveSizesAround(uint64_t pages);

class WorkingSetEstimator {
 public:
  explicit WorkingSetEstimator(const EstimatorOptions& options = {});
  ~WorkingSetEstimator();
  WorkingSetEstimator(const WorkingSetEstimator&) = delete;
  WorkingSetEstimator& operator=(const WorkingSetEstimator&) = delete;

  // One access to the block identified by `key` (any 64-bit identity, need
  // not be well mixed; the PageCache passes a hash of (file id, block)).
  void Record(uint64_t key);

  // Expected LRU hit rate for a cache of `pages` pages; 0 for 0 pages and
  // before any access has been sampled.
  double HitRateAt(uint64_t pages) const;
  // HitRateAt() at each of `sizes`, in order, from one consistent snapshot.
  std::vector<CurvePoint> Curve(const std::vector<uint64_t>& sizes) const;
  // Smallest cache size (pages, >= 1) whose expected hit rate reaches
  // `target`, or 0 if no size reaches it given the accesses seen so far
  // (cold misses bound the hit rate below 1) or nothing has been sampled.
  // REQUIRES: 0 < target <= 1.
  uint64_t PagesForHitRate(double target = kDefaultTargetHitRate) const;

  uint64_t accesses() const;          // all Record() calls
  double sampling_rate() const;       // current R (lowered by fixed-size mode)
  uint64_t tracked_keys() const;      // keys sampled and remembered, <= max
  uint64_t sampled_accesses() const;  // Record() calls that were sampled
  // kResolvedSampledKeys / R: sizes below this are not resolved.
  uint64_t min_resolved_pages() const;

 private:
  struct SampledStream;  // tracker + histogram + mutex, defined in the .cc

  // Per-thread shards of the access count: a single shared counter would
  // bounce its cache line between the cores on every access.
  static constexpr size_t kAccessShards = 16;
  struct alignas(64) AccessShard {
    std::atomic<uint64_t> count{0};
  };

  void RecordSampled(uint64_t hash);

  const uint64_t seed_mix_;
  // Sampled iff hash <= sample_limit_. Lowered only, under sampled_'s mutex;
  // read without it on the fast path (a stale read is re-checked there).
  std::atomic<uint64_t> sample_limit_;
  std::array<AccessShard, kAccessShards> access_shards_;
  const std::unique_ptr<SampledStream> sampled_;
};

}  // namespace pageserver::page_cache
