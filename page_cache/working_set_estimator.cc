#include "page_cache/working_set_estimator.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <utility>

namespace pageserver::page_cache {
namespace {

// splitmix64 (Steele, Lea, Flood, OOPSLA '14): key i hashes to the i-th output
// of the generator started at seed_mix. Both steps are bijections, and the
// output stream passes BigCrush, so sequential or strided keys (block numbers,
// byte offsets) sample as well as random ones.
constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15;

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

uint64_t HashKey(uint64_t key, uint64_t seed_mix) { return Mix64(seed_mix + key * kGoldenGamma); }

// R = (limit + 1) / 2^64; never 0.
double RateOfLimit(uint64_t limit) { return std::ldexp(static_cast<double>(limit) + 1.0, -64); }

uint64_t LimitOfRate(double rate) {
  if (!(rate < 1.0)) return UINT64_MAX;
  const double scaled = std::ldexp(rate, 64);  // < 2^64 exactly representable
  return scaled < 1.0 ? 0 : static_cast<uint64_t>(scaled) - 1;
}

// Threads take shards round-robin on first use, so up to `shards` recording
// threads never share a counter's cache line.
size_t ThisThreadShard(size_t shards) {
  static std::atomic<size_t> next_shard{0};
  thread_local const size_t shard = next_shard.fetch_add(1, std::memory_order_relaxed);
  return shard % shards;
}

// A set of timestamps in [0, capacity) that counts its members <= s in
// O(log capacity): a Fenwick tree of 0/1 counts.
class StampSet {
 public:
  explicit StampSet(size_t capacity) : tree_(capacity + 1, 0) {}

  size_t capacity() const { return tree_.size() - 1; }
  void Insert(uint32_t s) { Add(s, 1); }
  void Erase(uint32_t s) { Add(s, -1); }

  uint64_t CountUpTo(uint32_t s) const {
    uint64_t n = 0;
    for (size_t i = size_t{s} + 1; i > 0; i &= i - 1) n += static_cast<uint64_t>(tree_[i]);
    return n;
  }

  // Makes the set exactly {0, ..., n - 1}, in O(capacity).
  void ResetToPrefix(size_t n) {
    std::fill(tree_.begin(), tree_.end(), 0);
    std::fill(tree_.begin() + 1, tree_.begin() + 1 + static_cast<ptrdiff_t>(n), 1);
    for (size_t i = 1; i < tree_.size(); ++i) {
      const size_t parent = i + (i & (~i + 1));
      if (parent < tree_.size()) tree_[parent] += tree_[i];
    }
  }

 private:
  void Add(uint32_t s, int32_t delta) {
    for (size_t i = size_t{s} + 1; i < tree_.size(); i += i & (~i + 1)) tree_[i] += delta;
  }

  std::vector<int32_t> tree_;  // 1-based
};

// Hash -> timestamp of the last access: open addressing with linear probing
// and backward-shift deletion, sized at construction for `max_keys` at a load
// of at most 2/3, so it never allocates afterwards (a node-based map would
// allocate on every newly sampled key). Hashes are well mixed and distinct,
// so their low bits are the home slot.
class LastStampTable {
 public:
  explicit LastStampTable(size_t max_keys)
      : slots_(std::bit_ceil(max_keys + max_keys / 2 + 1)), mask_(slots_.size() - 1) {}

  size_t size() const { return size_; }

  // The stamp of `hash`, inserting it with `stamp` if absent (inserted: true).
  // REQUIRES: size() < max_keys or `hash` present.
  std::pair<uint32_t*, bool> FindOrInsert(uint64_t hash, uint32_t stamp) {
    size_t i = hash & mask_;
    for (; slots_[i].stamp != kEmpty; i = (i + 1) & mask_) {
      if (slots_[i].hash == hash) return {&slots_[i].stamp, false};
    }
    slots_[i] = {hash, stamp};
    ++size_;
    return {&slots_[i].stamp, true};
  }

  // Removes `hash` and returns its stamp. REQUIRES: present.
  uint32_t Erase(uint64_t hash) {
    size_t hole = hash & mask_;
    while (slots_[hole].hash != hash || slots_[hole].stamp == kEmpty) hole = (hole + 1) & mask_;
    const uint32_t stamp = slots_[hole].stamp;
    // Pull back every later entry of the run that may live in the hole.
    for (size_t j = (hole + 1) & mask_; slots_[j].stamp != kEmpty; j = (j + 1) & mask_) {
      const size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].stamp = kEmpty;
    --size_;
    return stamp;
  }

  template <typename Fn>
  void ForEachStamp(Fn fn) {
    for (Slot& slot : slots_) {
      if (slot.stamp != kEmpty) fn(slot.stamp);
    }
  }

 private:
  // Stamps are below 2^31 (StampSet capacity), so this one marks a free slot.
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint64_t hash = 0;
    uint32_t stamp = kEmpty;
  };

  std::vector<Slot> slots_;
  size_t mask_;
  size_t size_ = 0;
};

// The sampled keys, each with the timestamp of its last access. Every tracked
// key holds exactly one live timestamp, so the keys touched since a key's last
// access are the live timestamps after its own: a rank query.
class ReuseTracker {
 public:
  // Twice the keys in timestamps: a compaction (O(n log n)) then comes at most
  // once per max_keys accesses, O(log n) amortized.
  explicit ReuseTracker(size_t max_keys)
      : last_stamp_(max_keys + 1),
        hashes_(std::less<uint64_t>(), Reserved(max_keys + 1)),
        stamps_(2 * max_keys) {}

  size_t size() const { return last_stamp_.size(); }

  // Returns the number of distinct tracked keys accessed since the previous
  // access to `hash`, or nullopt on its first access (now tracked).
  std::optional<uint64_t> Access(uint64_t hash) {
    if (next_stamp_ == stamps_.capacity()) Compact();
    const uint32_t now = next_stamp_++;
    auto [stamp, inserted] = last_stamp_.FindOrInsert(hash, now);
    std::optional<uint64_t> distance;
    if (inserted) {
      hashes_.push(hash);
    } else {
      distance = last_stamp_.size() - stamps_.CountUpTo(*stamp);
      stamps_.Erase(*stamp);
      *stamp = now;
    }
    stamps_.Insert(now);
    return distance;
  }

  // Forgets the tracked key with the largest hash and returns that hash.
  // REQUIRES: size() > 0.
  uint64_t EvictLargest() {
    const uint64_t hash = hashes_.top();
    hashes_.pop();
    stamps_.Erase(last_stamp_.Erase(hash));
    return hash;
  }

 private:
  static std::vector<uint64_t> Reserved(size_t n) {
    std::vector<uint64_t> v;
    v.reserve(n);
    return v;
  }

  // Renumbers the live timestamps 0..n-1 keeping their order.
  void Compact() {
    last_stamp_.ForEachStamp(
        [&](uint32_t& stamp) { stamp = static_cast<uint32_t>(stamps_.CountUpTo(stamp) - 1); });
    stamps_.ResetToPrefix(last_stamp_.size());
    next_stamp_ = static_cast<uint32_t>(last_stamp_.size());
  }

  LastStampTable last_stamp_;
  std::priority_queue<uint64_t> hashes_;  // the same keys, largest on top
  StampSet stamps_;
  uint32_t next_stamp_ = 0;
};

// Weights of sampled accesses by scaled reuse distance, in log-linear buckets:
// one per distance below 64, then 64 equal buckets per power of two, e.g.
// distance 1000 falls in [1000, 1008). Distances cap at 2^48 pages.
class DistanceHistogram {
 public:
  void AddReuse(double scaled_distance, double weight) {
    const double capped = std::min(scaled_distance, kMaxDistance);
    weights_[BucketOf(static_cast<uint64_t>(capped))] += weight;
    total_ += weight;
  }
  void AddCold(double weight) { total_ += weight; }

  // All weight recorded, cold misses included.
  double total() const { return total_; }

  // Weight of reuses at distance < pages: the hits of an LRU cache that size,
  // spreading each bucket's weight evenly over its distances.
  double HitWeight(uint64_t pages) const {
    double hits = 0;
    for (size_t b = 0; b < kBuckets && BucketStart(b) < pages; ++b) {
      const uint64_t start = BucketStart(b);
      const uint64_t end = BucketStart(b + 1);
      if (end <= pages) {
        hits += weights_[b];
      } else {
        hits += weights_[b] * static_cast<double>(pages - start) / static_cast<double>(end - start);
      }
    }
    return hits;
  }

  // Smallest pages >= 1 with HitWeight(pages) >= need, or 0 if none.
  uint64_t PagesForHitWeight(double need) const {
    double cumulative = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      const double w = weights_[b];
      if (w > 0 && cumulative + w >= need) {
        const uint64_t start = BucketStart(b);
        const uint64_t width = BucketStart(b + 1) - start;
        const double fraction = std::max(0.0, need - cumulative) / w;
        const auto inside = static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(width)));
        return start + std::clamp<uint64_t>(inside, 1, width);
      }
      cumulative += w;
    }
    return 0;
  }

 private:
  static constexpr int kSubBits = 6;  // 64 buckets per power of two: <= 1.6% wide
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kMaxExponent = 48;
  static constexpr size_t kBuckets = (kMaxExponent - kSubBits + 1) * kSub;
  static constexpr double kMaxDistance = static_cast<double>((uint64_t{1} << kMaxExponent) - 1);

  static size_t BucketOf(uint64_t distance) {
    if (distance < kSub) return static_cast<size_t>(distance);
    const int exponent = std::bit_width(distance) - 1;
    const int shift = exponent - kSubBits;
    return static_cast<size_t>((exponent - kSubBits + 1) * kSub + (distance >> shift) - kSub);
  }

  // BucketStart(b + 1) is b's end; BucketStart(kBuckets) == 2^48.
  static uint64_t BucketStart(size_t bucket) {
    if (bucket < kSub) return bucket;
    const int exponent = static_cast<int>(bucket / kSub) + kSubBits - 1;
    return (kSub + bucket % kSub) << (exponent - kSubBits);
  }

  std::vector<double> weights_ = std::vector<double>(kBuckets, 0.0);
  double total_ = 0;
};

}  // namespace

struct WorkingSetEstimator::SampledStream {
  explicit SampledStream(uint64_t max_keys) : max_keys(max_keys), tracker(max_keys) {}

  // SHARDS_adj: the unsampled remainder of the stream counts as hits, so the
  // estimate is 1 - sampled misses / all accesses.
  double HitRate(uint64_t pages, uint64_t all_accesses) const {
    if (pages == 0 || accesses == 0 || all_accesses == 0) return 0;
    const double misses = histogram.total() - histogram.HitWeight(pages);
    return std::clamp(1.0 - misses / static_cast<double>(all_accesses), 0.0, 1.0);
  }

  uint64_t PagesFor(double target, uint64_t all_accesses) const {
    if (accesses == 0 || all_accesses == 0) return 0;
    const double allowed_misses = (1.0 - target) * static_cast<double>(all_accesses);
    const double need = histogram.total() - allowed_misses;
    return need <= 0 ? 1 : histogram.PagesForHitWeight(need);
  }

  const uint64_t max_keys;
  mutable std::mutex mu;
  ReuseTracker tracker;
  DistanceHistogram histogram;
  uint64_t accesses = 0;
};

std::vector<uint64_t> CurveSizesAround(uint64_t pages) {
  std::vector<uint64_t> sizes;
  for (uint64_t s : {pages / 4, pages / 2, pages, 2 * pages, 4 * pages, 8 * pages}) {
    sizes.push_back(std::max<uint64_t>(s, 1));
  }
  return sizes;
}

EstimatorOptions EstimatorOptionsForCache(uint64_t cache_pages) {
  constexpr double kMaxRate = 0.125;
  const double pages = static_cast<double>(std::max<uint64_t>(cache_pages, 1));
  EstimatorOptions options;
  options.sampling_rate = std::min(kMaxRate, 4.0 * kResolvedSampledKeys / pages);
  const auto keys_in_8x = static_cast<uint64_t>(std::ceil(options.sampling_rate * 8 * pages));
  options.max_tracked_keys = std::max(options.max_tracked_keys, keys_in_8x);
  return options;
}

WorkingSetEstimator::WorkingSetEstimator(const EstimatorOptions& options)
    : seed_mix_(Mix64(options.seed)),
      sample_limit_(LimitOfRate(options.sampling_rate)),
      sampled_(std::make_unique<SampledStream>(
          std::clamp<uint64_t>(options.max_tracked_keys, 1, uint64_t{1} << 30))) {
  assert(options.sampling_rate > 0 && options.sampling_rate <= 1);
  assert(options.max_tracked_keys >= 1 && options.max_tracked_keys <= (uint64_t{1} << 30));
}

WorkingSetEstimator::~WorkingSetEstimator() = default;

void WorkingSetEstimator::Record(uint64_t key) {
  access_shards_[ThisThreadShard(kAccessShards)].count.fetch_add(1, std::memory_order_relaxed);
  const uint64_t hash = HashKey(key, seed_mix_);
  if (hash <= sample_limit_.load(std::memory_order_relaxed)) RecordSampled(hash);
}

void WorkingSetEstimator::RecordSampled(uint64_t hash) {
  SampledStream& s = *sampled_;
  std::lock_guard lock(s.mu);
  const uint64_t limit = sample_limit_.load(std::memory_order_relaxed);
  if (hash > limit) return;  // the limit fell since the unlocked check
  const double weight = 1.0 / RateOfLimit(limit);
  ++s.accesses;
  if (std::optional<uint64_t> distance = s.tracker.Access(hash)) {
    s.histogram.AddReuse(static_cast<double>(*distance) * weight, weight);
  } else {
    s.histogram.AddCold(weight);
  }
  // Distinct hashes: the largest of >= 2 is >= 1, so the new limit is valid.
  if (s.tracker.size() > s.max_keys) {
    sample_limit_.store(s.tracker.EvictLargest() - 1, std::memory_order_relaxed);
  }
}

double WorkingSetEstimator::HitRateAt(uint64_t pages) const {
  std::lock_guard lock(sampled_->mu);
  return sampled_->HitRate(pages, accesses());
}

std::vector<CurvePoint> WorkingSetEstimator::Curve(const std::vector<uint64_t>& sizes) const {
  std::lock_guard lock(sampled_->mu);
  const uint64_t all = accesses();
  std::vector<CurvePoint> curve;
  curve.reserve(sizes.size());
  for (uint64_t pages : sizes) curve.push_back({pages, sampled_->HitRate(pages, all)});
  return curve;
}

uint64_t WorkingSetEstimator::PagesForHitRate(double target) const {
  assert(target > 0 && target <= 1);
  std::lock_guard lock(sampled_->mu);
  return sampled_->PagesFor(target, accesses());
}

uint64_t WorkingSetEstimator::accesses() const {
  uint64_t total = 0;
  for (const AccessShard& shard : access_shards_) {
    total += shard.count.load(std::memory_order_relaxed);
  }
  return total;
}

double WorkingSetEstimator::sampling_rate() const {
  return RateOfLimit(sample_limit_.load(std::memory_order_relaxed));
}

uint64_t WorkingSetEstimator::tracked_keys() const {
  std::lock_guard lock(sampled_->mu);
  return sampled_->tracker.size();
}

uint64_t WorkingSetEstimator::sampled_accesses() const {
  std::lock_guard lock(sampled_->mu);
  return sampled_->accesses;
}

uint64_t WorkingSetEstimator::min_resolved_pages() const {
  return static_cast<uint64_t>(std::ceil(kResolvedSampledKeys / sampling_rate()));
}

}  // namespace pageserver::page_cache
