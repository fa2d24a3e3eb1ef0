#include "timeline/rel_size_cache.h"

namespace pageserver::timeline {

using layers::Lsn;
using layers::RelTag;

size_t RelSizeCache::RelTagHash::operator()(const RelTag& rel) const {
  // splitmix64-style mixing of the four fields; relnodes of one database
  // differ mostly in low bits, which this spreads over the whole word.
  uint64_t h = (uint64_t{rel.spcnode} << 32) ^ rel.dbnode;
  h = (h ^ (uint64_t{rel.relnode} << 8) ^ rel.forknum) * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 31;
  return static_cast<size_t>(h * 0xBF58476D1CE4E5B9ULL ^ (h >> 29));
}

std::optional<uint32_t> RelSizeCache::Get(const RelTag& rel, Lsn lsn) const {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(rel);
  if (it == entries_.end() || lsn < it->second.lsn) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return it->second.nblocks;
}

void RelSizeCache::OnIngest(const RelTag& rel, Lsn lsn, uint32_t nblocks) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[rel];
  if (lsn >= entry.lsn) entry = Entry{lsn, nblocks};
}

void RelSizeCache::OnRead(const RelTag& rel, Lsn lsn, uint32_t nblocks) {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(rel);
  if (it == entries_.end()) {
    if (entries_.size() < max_entries_) entries_.emplace(rel, Entry{lsn, nblocks});
    return;
  }
  if (lsn > it->second.lsn) it->second = Entry{lsn, nblocks};
}

size_t RelSizeCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

uint64_t RelSizeCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

uint64_t RelSizeCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

}  // namespace pageserver::timeline
