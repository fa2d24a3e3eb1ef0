#include "tests/timeline/timeline_test_util.h"

#include <utility>

#include "common/status.h"

namespace pageserver::timeline::test_util {

using layers::Key;
using layers::Lsn;

std::optional<Bytes> Model::Get(const Key& key, Lsn lsn) const {
  const auto it = history_.find(key);
  if (it == history_.end()) return std::nullopt;
  const auto& versions = it->second;
  auto end = versions.upper_bound(lsn);
  if (end == versions.begin()) return std::nullopt;
  // Newest will_init at or below lsn starts the value.
  auto start = end;
  while (start != versions.begin()) {
    --start;
    if (start->second.will_init()) break;
  }
  if (!start->second.will_init()) return std::nullopt;  // callers do not create such histories
  Bytes value;
  for (auto v = start; v != end; ++v) {
    const Value& record = v->second;
    if (record.is_image()) {
      value.assign(record.bytes().begin(), record.bytes().end());
      continue;
    }
    if (record.kind() == ValueKind::kInit) value.assign(kPageSize, std::byte{0});
    std::copy(record.bytes().begin(), record.bytes().end(), value.begin() + record.offset());
  }
  return value;
}

Model Model::Below(Lsn lsn) const {
  Model out;
  for (const auto& [key, versions] : history_) {
    for (const auto& [at, value] : versions) {
      if (at <= lsn) out.history_[key].insert_or_assign(at, value);
    }
  }
  return out;
}

std::vector<Key> Model::Keys() const {
  std::vector<Key> keys;
  for (const auto& [key, versions] : history_) keys.push_back(key);
  return keys;
}

void TimelineTestBase::SetUp() {
  IoParamTest::SetUp();
  if (IsSkipped()) return;
  auto cache = page_cache::PageCache::Create({.pages = 512});
  ASSERT_TRUE(cache.has_value()) << cache.error().ToString();
  cache_ = std::move(cache).value();
  tenant_ = layers::TenantId::Generate();
  timeline_id_ = layers::TimelineId::Generate();
  config_ = ManualConfig();
}

TimelineConfig TimelineTestBase::ManualConfig() {
  TimelineConfig config;
  config.background_threads = false;
  config.ephemeral_buffer_bytes = 64 * 1024;
  config.writer.write_buffer_bytes = 64 * 1024;
  return config;
}

std::shared_ptr<Timeline> TimelineTestBase::CreateTimeline(Lsn start,
                                                           const TimelineConfig& config) {
  auto timeline =
      Timeline::CreateEmpty(resources(), data_dir(), tenant_, timeline_id_, start, 16, config);
  if (!timeline.has_value()) common::DieWithStatus("create timeline", timeline.error());
  return std::move(timeline).value();
}

std::shared_ptr<Timeline> TimelineTestBase::Reload(std::shared_ptr<Timeline>& timeline,
                                                   std::shared_ptr<Timeline> ancestor) {
  const layers::TimelineId id = timeline->timeline_id();
  const TimelineConfig config = timeline->config();
  timeline.reset();
  auto loaded = Timeline::Load(resources(), data_dir(), tenant_, id, std::move(ancestor), config);
  if (!loaded.has_value()) common::DieWithStatus("reload timeline", loaded.error());
  return std::move(loaded).value();
}

}  // namespace pageserver::timeline::test_util
