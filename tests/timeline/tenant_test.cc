#include "timeline/tenant.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/status_matchers.h"
#include "tests/timeline/timeline_test_util.h"
#include "timeline/metadata.h"
#include "timeline/timeline_dir.h"

namespace pageserver::timeline {
namespace {

using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::TimelineId;
using test_util::Bytes;
using test_util::ImageValue;
using test_util::Page;
using test_util::RelKey;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testing::StatusIs;
using ::testing::UnorderedElementsAre;

namespace fs = std::filesystem;

class TenantTest : public test_util::TimelineTestBase {
 protected:
  std::unique_ptr<Tenant> NewTenant() {
    auto tenant = Tenant::Create(resources(), data_dir(), tenant_, config_);
    if (!tenant.has_value()) common::DieWithStatus("create tenant", tenant.error());
    return std::move(tenant).value();
  }
  std::unique_ptr<Tenant> LoadTenant() {
    auto tenant = Tenant::Load(resources(), data_dir(), tenant_, config_);
    if (!tenant.has_value()) common::DieWithStatus("load tenant", tenant.error());
    return std::move(tenant).value();
  }
  std::shared_ptr<Timeline> Root(Tenant& tenant, TimelineId id) {
    auto tl = tenant.CreateTimeline(id, Lsn{0x10}, 16);
    if (!tl.has_value()) common::DieWithStatus("create timeline", tl.error());
    return std::move(tl).value();
  }
  std::shared_ptr<Timeline> Branch(Tenant& tenant, TimelineId id, TimelineId ancestor, Lsn lsn) {
    auto tl = tenant.CreateBranch(id, ancestor, lsn);
    if (!tl.has_value()) common::DieWithStatus("create branch", tl.error());
    return std::move(tl).value();
  }
  // Images of blocks [0, n) at `lsn`, values Page(seed_base + blk).
  static void PutImages(Timeline& tl, uint32_t n, Lsn lsn, uint64_t seed_base) {
    for (uint32_t blk = 0; blk < n; ++blk) {
      ASSERT_OK(tl.Put(RelKey(blk), lsn, ImageValue(Page(seed_base + blk))));
    }
    ASSERT_OK(tl.FinishLsn(lsn));
  }
  static void ExpectPage(const Timeline& tl, const Key& key, Lsn lsn, const Bytes& expected) {
    auto got = tl.Get(key, lsn);
    ASSERT_TRUE(got.has_value()) << key.Describe() << " at " << lsn.ToString() << ": "
                                 << got.error().ToString();
    EXPECT_TRUE(*got == expected) << key.Describe() << " at " << lsn.ToString();
  }
  std::string TimelinePath(TimelineId id) const { return TimelineDir(data_dir(), tenant_, id); }
  std::string TimelinesPath() const { return TenantDir(data_dir(), tenant_) + "/timelines"; }
  // Writes metadata for a timeline that never existed through the API.
  void WriteFakeTimeline(TimelineId id, std::optional<TimelineId> ancestor) {
    TimelineMetadata md;
    md.disk_consistent_lsn = Lsn{0x20};
    md.initdb_lsn = Lsn{0x10};
    md.latest_gc_cutoff_lsn = Lsn{0x20};
    md.pg_version = 16;
    md.ancestor_timeline = ancestor;
    if (ancestor) md.ancestor_lsn = Lsn{0x20};
    fs::create_directories(TimelinePath(id));
    ASSERT_OK(WriteMetadata(ctx(), TimelinePath(id), md));
  }
  static std::vector<TimelineId> Ids(const std::vector<std::shared_ptr<Timeline>>& timelines) {
    std::vector<TimelineId> ids;
    for (const auto& tl : timelines) ids.push_back(tl->timeline_id());
    return ids;
  }
};

TEST_P(TenantTest, CreateRefusesAnExistingTenantAndLoadAMissingOne) {
  auto tenant = NewTenant();
  EXPECT_TRUE(fs::is_directory(TimelinesPath()));
  EXPECT_THAT(Tenant::Create(resources(), data_dir(), tenant_, config_).status(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(tenant_.ToHex())));
  EXPECT_THAT(Tenant::Load(resources(), data_dir(), layers::TenantId::Generate(), config_).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr("timelines")));
  auto loaded = Tenant::Load(resources(), data_dir(), tenant_, config_);
  ASSERT_OK(loaded);
  EXPECT_THAT((*loaded)->Timelines(), IsEmpty());
  EXPECT_THAT((*loaded)->problems(), IsEmpty());
}

TEST_P(TenantTest, CreateErrorsNameTheProblem) {
  auto tenant = NewTenant();
  const TimelineId a = TimelineId::Generate();
  auto root = Root(*tenant, a);
  PutImages(*root, 2, Lsn{0x20}, 1);
  EXPECT_THAT(tenant->CreateTimeline(a, Lsn{0x10}, 16).status(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(a.ToHex())));
  EXPECT_THAT(tenant->CreateBranch(a, a, Lsn{0x20}).status(), StatusIs(StatusCode::kAlreadyExists));
  const TimelineId nobody = TimelineId::Generate();
  EXPECT_THAT(tenant->CreateBranch(TimelineId::Generate(), nobody, Lsn{0x20}).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr(nobody.ToHex())));
  EXPECT_THAT(tenant->CreateBranch(TimelineId::Generate(), a, Lsn{0x21}).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("last_record_lsn")));
  EXPECT_THAT(tenant->GetTimeline(nobody).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr(nobody.ToHex())));
  EXPECT_EQ(tenant->Timelines().size(), 1u);
}

TEST_P(TenantTest, LoadRestoresTimelinesWithAncestorsWired) {
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate(),
                   c = TimelineId::Generate();
  {
    auto tenant = NewTenant();
    auto ta = Root(*tenant, a);
    PutImages(*ta, 4, Lsn{0x20}, 100);
    ASSERT_OK(ta->Checkpoint());
    auto tb = Branch(*tenant, b, a, Lsn{0x20});
    ASSERT_OK(tb->Put(RelKey(1), Lsn{0x30}, ImageValue(Page(500))));
    ASSERT_OK(tb->FinishLsn(Lsn{0x30}));
    PutImages(*ta, 4, Lsn{0x30}, 200);  // the root moves on
    auto tc = Branch(*tenant, c, b, Lsn{0x30});
    ASSERT_OK(tc->Put(RelKey(2), Lsn{0x40}, ImageValue(Page(600))));
    ASSERT_OK(tc->FinishLsn(Lsn{0x40}));
    // Nothing of b and c was checkpointed: Shutdown(true) must flush it.
    ASSERT_OK(tenant->Shutdown(true));
    EXPECT_THAT(tenant->CreateTimeline(TimelineId::Generate(), Lsn{0x10}, 16).status(),
                StatusIs(StatusCode::kAborted, HasSubstr("shut down")));
  }
  auto tenant = LoadTenant();
  EXPECT_THAT(tenant->problems(), IsEmpty());
  std::vector<TimelineId> expected = {a, b, c};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Ids(tenant->Timelines()), expected);
  ASSERT_OK_AND_ASSIGN(auto ta, tenant->GetTimeline(a));
  ASSERT_OK_AND_ASSIGN(auto tb, tenant->GetTimeline(b));
  ASSERT_OK_AND_ASSIGN(auto tc, tenant->GetTimeline(c));
  EXPECT_EQ(ta->ancestor(), nullptr);
  EXPECT_EQ(tb->ancestor(), ta);
  EXPECT_EQ(tc->ancestor(), tb);
  EXPECT_EQ(tc->ancestor_lsn(), Lsn{0x30});
  EXPECT_EQ(tc->last_record_lsn(), Lsn{0x40});
  ExpectPage(*tc, RelKey(0), Lsn{0x40}, Page(100));  // from a, through b
  ExpectPage(*tc, RelKey(1), Lsn{0x40}, Page(500));  // from b
  ExpectPage(*tc, RelKey(2), Lsn{0x40}, Page(600));  // its own
  ExpectPage(*ta, RelKey(0), Lsn{0x30}, Page(200));
}

TEST_P(TenantTest, CorruptMetadataSkipsTheTimelineAndItsDescendants) {
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate(),
                   c = TimelineId::Generate(), d = TimelineId::Generate(),
                   e = TimelineId::Generate();
  {
    auto tenant = NewTenant();
    auto ta = Root(*tenant, a);
    PutImages(*ta, 2, Lsn{0x20}, 1);
    Branch(*tenant, b, a, Lsn{0x20});
    Branch(*tenant, c, b, Lsn{0x20});
    Branch(*tenant, e, a, Lsn{0x20});  // b's sibling
    Root(*tenant, d);
    ASSERT_OK(tenant->Shutdown(true));
  }
  const std::string md_path = MetadataPath(TimelinePath(b));
  std::vector<std::byte> md = testing::ReadWholeFile(md_path);
  md[100] ^= std::byte{1};
  testing::WriteWholeFile(md_path, md);

  auto tenant = LoadTenant();
  std::vector<TimelineId> expected = {a, d, e};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Ids(tenant->Timelines()), expected);
  EXPECT_THAT(tenant->problems(),
              ElementsAre(AllOf(StartsWith(b.ToHex() + ": Corruption"), HasSubstr("metadata")),
                          AllOf(StartsWith(c.ToHex() + ": Aborted"),
                                HasSubstr("ancestor timeline " + b.ToHex() + " was not loaded"))));
  EXPECT_THAT(tenant->GetTimeline(b).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(tenant->GetTimeline(c).status(), StatusIs(StatusCode::kNotFound));
  // The unloaded timeline's directory is kept, and its id stays taken.
  EXPECT_TRUE(fs::exists(TimelinePath(b)));
  EXPECT_THAT(tenant->CreateTimeline(b, Lsn{0x10}, 16).status(),
              StatusIs(StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(auto te, tenant->GetTimeline(e));
  ExpectPage(*te, RelKey(1), Lsn{0x20}, Page(2));
}

TEST_P(TenantTest, MissingAncestorsAndCyclesAreProblemsNotCrashes) {
  const TimelineId root = TimelineId::Generate(), orphan = TimelineId::Generate(),
                   p = TimelineId::Generate(), q = TimelineId::Generate(),
                   below_cycle = TimelineId::Generate(), self = TimelineId::Generate();
  {
    auto tenant = NewTenant();
    Root(*tenant, root);
  }
  WriteFakeTimeline(orphan, TimelineId::Generate());
  WriteFakeTimeline(p, q);
  WriteFakeTimeline(q, p);
  WriteFakeTimeline(below_cycle, p);
  WriteFakeTimeline(self, self);
  auto tenant = LoadTenant();
  EXPECT_EQ(Ids(tenant->Timelines()), std::vector<TimelineId>{root});
  EXPECT_THAT(tenant->problems(),
              UnorderedElementsAre(
                  AllOf(StartsWith(orphan.ToHex() + ": NotFound"), HasSubstr("does not exist")),
                  AllOf(StartsWith(p.ToHex() + ": Corruption"), HasSubstr("ancestor cycle")),
                  AllOf(StartsWith(q.ToHex() + ": Corruption"), HasSubstr("ancestor cycle")),
                  AllOf(StartsWith(self.ToHex() + ": Corruption"), HasSubstr("ancestor cycle")),
                  AllOf(StartsWith(below_cycle.ToHex() + ": Aborted"),
                        HasSubstr(p.ToHex() + " was not loaded"))));
  // Timelines that did not load are not the tenant's to delete.
  EXPECT_THAT(tenant->DeleteTimeline(p), StatusIs(StatusCode::kNotFound));
}

TEST_P(TenantTest, UnknownEntriesAreReportedAndLeftAlone) {
  const TimelineId a = TimelineId::Generate(), uninit = TimelineId::Generate();
  const std::string file_with_id = TimelineId::Generate().ToHex();
  {
    auto tenant = NewTenant();
    Root(*tenant, a);
  }
  fs::create_directories(TimelinesPath() + "/lost+found");
  std::ofstream(TimelinesPath() + "/" + file_with_id) << "not a directory";
  fs::create_directories(TimelinePath(uninit));  // crashed before its metadata
  auto tenant = LoadTenant();
  EXPECT_EQ(Ids(tenant->Timelines()), std::vector<TimelineId>{a});
  std::vector<std::string> unknown = {file_with_id, "lost+found"};
  std::sort(unknown.begin(), unknown.end());
  EXPECT_EQ(tenant->unknown_entries(), unknown);
  EXPECT_TRUE(fs::exists(TimelinesPath() + "/lost+found"));
  EXPECT_TRUE(fs::exists(TimelinesPath() + "/" + file_with_id));
  EXPECT_THAT(tenant->problems(), ElementsAre(StartsWith(uninit.ToHex() + ": NotFound")));
}

TEST_P(TenantTest, BrokenTimelineIsKeptWithItsReason) {
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate();
  std::string layer_path;
  {
    auto tenant = NewTenant();
    auto ta = Root(*tenant, a);
    PutImages(*ta, 2, Lsn{0x20}, 1);
    ASSERT_OK(ta->Checkpoint());
    layer_path = LoadedLayerOf(*ta->layer_map()->L0Deltas().at(0))->path;
    Branch(*tenant, b, a, Lsn{0x20});
  }
  std::vector<std::byte> file = testing::ReadWholeFile(layer_path);
  file[40] ^= std::byte{1};
  testing::WriteWholeFile(layer_path, file);
  auto tenant = LoadTenant();
  ASSERT_EQ(tenant->Timelines().size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto ta, tenant->GetTimeline(a));
  ASSERT_TRUE(ta->broken());
  EXPECT_THAT(tenant->problems(), ElementsAre(AllOf(StartsWith(a.ToHex() + ": Aborted"),
                                                    HasSubstr(*ta->broken_reason()))));
  EXPECT_THAT(tenant->CreateBranch(TimelineId::Generate(), a, Lsn{0x20}).status(),
              StatusIs(StatusCode::kAborted, HasSubstr("broken")));
  ASSERT_OK_AND_ASSIGN(auto tb, tenant->GetTimeline(b));
  EXPECT_EQ(tb->ancestor(), ta);
  EXPECT_THAT(tb->Get(RelKey(0), Lsn{0x20}).status(), StatusIs(StatusCode::kAborted));
}

TEST_P(TenantTest, DeleteRefusesAnAncestorThenRemovesLeafAndDirectory) {
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate();
  {
    auto tenant = NewTenant();
    auto ta = Root(*tenant, a);
    PutImages(*ta, 2, Lsn{0x20}, 1);
    auto tb = Branch(*tenant, b, a, Lsn{0x20});
    EXPECT_THAT(tenant->DeleteTimeline(a),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(b.ToHex())));
    EXPECT_THAT(tenant->DeleteTimeline(TimelineId::Generate()), StatusIs(StatusCode::kNotFound));
    ASSERT_OK(tenant->DeleteTimeline(b));
    EXPECT_FALSE(fs::exists(TimelinePath(b)));
    EXPECT_FALSE(fs::exists(TimelinePath(b) + std::string(kDeletedDirSuffix)));
    EXPECT_THAT(tenant->GetTimeline(b).status(), StatusIs(StatusCode::kNotFound));
    EXPECT_EQ(Ids(tenant->Timelines()), std::vector<TimelineId>{a});
    ASSERT_OK(tenant->Shutdown(true));
  }
  auto tenant = LoadTenant();
  EXPECT_EQ(Ids(tenant->Timelines()), std::vector<TimelineId>{a});
  EXPECT_THAT(tenant->problems(), IsEmpty());
  ASSERT_OK(tenant->DeleteTimeline(a));
  EXPECT_THAT(LoadTenant()->Timelines(), IsEmpty());
}

TEST_P(TenantTest, DeletingABranchLetsTheAncestorsGcRemoveWhatItKept) {
  config_.gc_horizon = 0x10;
  auto tenant = NewTenant();
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate();
  auto ta = Root(*tenant, a);
  PutImages(*ta, 8, Lsn{0x100}, 1);
  ASSERT_OK(ta->Checkpoint());  // L0 at 0x100, needed by the branch
  auto tb = Branch(*tenant, b, a, Lsn{0x100});
  PutImages(*ta, 8, Lsn{0x200}, 2);
  ASSERT_OK(ta->Checkpoint());
  ASSERT_OK(ta->CreateImages(true));  // images at 0x200 hide both L0s
  PutImages(*ta, 8, Lsn{0x300}, 3);
  ASSERT_OK(ta->Checkpoint());
  ASSERT_OK_AND_ASSIGN(const GcResult kept, ta->Gc());
  ExpectPage(*tb, RelKey(3), Lsn{0x100}, Page(4));
  tb.reset();
  ASSERT_OK(tenant->DeleteTimeline(b));
  ASSERT_OK_AND_ASSIGN(const GcResult freed, ta->Gc());
  EXPECT_EQ(freed.cutoff, kept.cutoff);
  EXPECT_GE(freed.removed, 1u) << "the branch's layer at 0x100 should be collectable now";
  ExpectPage(*ta, RelKey(3), Lsn{0x300}, Page(3 + 3));
}

TEST_P(TenantTest, LoadRemovesAnInterruptedDeletion) {
  const TimelineId a = TimelineId::Generate(), b = TimelineId::Generate();
  {
    auto tenant = NewTenant();
    auto ta = Root(*tenant, a);
    PutImages(*ta, 2, Lsn{0x20}, 1);
    auto tb = Root(*tenant, b);
    PutImages(*tb, 2, Lsn{0x20}, 1);
    ASSERT_OK(tenant->Shutdown(true));
  }
  // A crash right after DeleteTimeline's rename.
  const std::string deleted = TimelinePath(b) + std::string(kDeletedDirSuffix);
  fs::rename(TimelinePath(b), deleted);
  auto tenant = LoadTenant();
  EXPECT_EQ(Ids(tenant->Timelines()), std::vector<TimelineId>{a});
  EXPECT_EQ(tenant->removed_leftovers(), std::vector<std::string>{b.ToHex() + ".___deleted"});
  EXPECT_FALSE(fs::exists(deleted));
  EXPECT_THAT(tenant->problems(), IsEmpty());
  EXPECT_THAT(tenant->unknown_entries(), IsEmpty());
  // The id is free again.
  ASSERT_OK(tenant->CreateTimeline(b, Lsn{0x10}, 16));
}

TEST_P(TenantTest, LookupsRunWhileTimelinesComeAndGo) {
  auto tenant = NewTenant();
  const TimelineId a = TimelineId::Generate();
  Root(*tenant, a);
  std::atomic<bool> stop{false};
  std::atomic<int> misses{0};
  std::thread reader([&] {
    while (!stop.load()) {
      if (!tenant->GetTimeline(a).has_value()) misses.fetch_add(1);
      for (const auto& tl : tenant->Timelines()) (void)tl->last_record_lsn();
    }
  });
  for (int i = 0; i < 10; ++i) {
    const TimelineId id = TimelineId::Generate();
    ASSERT_OK(tenant->CreateBranch(id, a, Lsn{0x10}));
    ASSERT_OK(tenant->DeleteTimeline(id));
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(tenant->Timelines().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(All, TenantTest, ::testing::ValuesIn(testing::AllIoParams()),
                         testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
