#include "page_cache/mapping.h"

#include <algorithm>
#include <bit>
#include <functional>

namespace pageserver::page_cache::internal {

Shard::Shard(size_t buckets)
    : buckets(new SlotSet::bucket_type[buckets]),
      set(SlotSet::bucket_traits(this->buckets.get(), buckets)) {}

// The set unlinks its slots (safe-mode hooks) before the buckets go.
Shard::~Shard() { set.clear(); }

Slot* Shard::Find(const PageKey& key, uint64_t hash) {
  auto it = set.find(
      key, [hash](const PageKey&) { return hash; }, std::equal_to<PageKey>());
  return it == set.end() ? nullptr : &*it;
}

Mapping::Mapping(uint64_t pages) {
  const size_t buckets = std::bit_ceil(std::max<uint64_t>(1, (pages + kShards - 1) / kShards));
  for (auto& shard : shards_) shard.emplace(buckets);
}

}  // namespace pageserver::page_cache::internal
