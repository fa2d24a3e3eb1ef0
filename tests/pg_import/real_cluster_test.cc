// Real data: one Postgres 15 cluster (initdb, pgbench -i -s 1, an extra
// database and an unlogged table) is made once per test binary run, and
// imported from its data directory, from GNU tars of it and from a
// pg_basebackup tar. Every block of every relation file must be served
// back at the import LSN, and sizes, directories, SLRU segments, aux files
// and the control file must match the files. The expected side is read from
// the files with the standard library and a regex, not with pg_import code.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "pg_import/file_source.h"
#include "pg_import/import.h"
#include "pg_import/import_values.h"
#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/io_test_env.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/status_matchers.h"
#include "timeline/pg_mapping.h"
#include "timeline/tenant.h"
#include "tools/pagectl/import_command.h"

namespace pageserver::pg_import {
namespace {

namespace fs = std::filesystem;
using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using pageserver::testing::PgCluster;
using pageserver::testing::StatusIs;
using test_util::Bytes;
using ::testing::HasSubstr;

Bytes ReadFile(const std::string& path) { return pageserver::testing::ReadWholeFile(path); }

// What a data directory holds, classified independently of pg_import.
struct ClusterFiles {
  std::map<RelTag, std::map<uint32_t, std::string>> relations;  // fork -> segno -> file
  std::set<timeline::DbDirEntry> databases;
  std::map<std::pair<layers::SlruKind, uint32_t>, std::string> slru;
  std::vector<std::string> aux;  // relative paths
};

ClusterFiles Scan(const std::string& root) {
  static const std::regex kRel(R"((global|base/(\d+))/(\d+)(_fsm|_vm|_init)?(\.(\d+))?)");
  static const std::regex kSlru(
      R"((pg_xact|pg_multixact/members|pg_multixact/offsets)/([0-9A-F]{4,}))");
  static const std::regex kDb(R"(global|base/(\d+))");
  ClusterFiles out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    if (rel == "pg_wal") {
      it.disable_recursion_pending();
      continue;
    }
    std::smatch m;
    if (it->is_directory()) {
      if (std::regex_match(rel, m, kDb)) {
        out.databases.insert(m[1].matched ? timeline::DbDirEntry{1663, uint32_t(std::stoul(m[1]))}
                                          : timeline::DbDirEntry{1664, 0});
      }
      continue;
    }
    if (std::regex_match(rel, m, kRel)) {
      const uint32_t spc = m[2].matched ? 1663 : 1664;
      const uint32_t db = m[2].matched ? uint32_t(std::stoul(m[2])) : 0;
      const std::string fork = m[4].str();
      const uint8_t forknum = fork == "_fsm" ? 1 : fork == "_vm" ? 2 : fork == "_init" ? 3 : 0;
      const uint32_t segno = m[6].matched ? uint32_t(std::stoul(m[6])) : 0;
      out.relations[RelTag{spc, db, uint32_t(std::stoul(m[3])), forknum}][segno] = it->path();
      continue;
    }
    if (std::regex_match(rel, m, kSlru)) {
      const std::string dir = m[1].str();
      const auto kind = dir == "pg_xact"                ? layers::SlruKind::kClog
                        : dir == "pg_multixact/members" ? layers::SlruKind::kMultiXactMembers
                                                        : layers::SlruKind::kMultiXactOffsets;
      out.slru[{kind, uint32_t(std::stoul(m[2], nullptr, 16))}] = it->path();
      continue;
    }
    out.aux.push_back(rel);
  }
  return out;
}

// Checks every block of every relation fork, sizes, directories, database
// sizes, SLRU segments, aux files and the control file.
void ExpectTimelineMatches(const timeline::Timeline& tl, Lsn lsn, const std::string& root) {
  const ClusterFiles files = Scan(root);
  ASSERT_GT(files.relations.size(), 100u);  // catalogs of 4 databases + pgbench tables
  std::map<timeline::DbDirEntry, std::set<timeline::RelDirEntry>> reldirs;
  std::map<timeline::DbDirEntry, uint64_t> db_bytes;
  uint64_t blocks_checked = 0;
  for (const auto& [rel, segments] : files.relations) {
    SCOPED_TRACE(rel.ToString());
    Bytes content;
    for (const auto& [segno, path] : segments) {
      ASSERT_EQ(segno, 0u) << "pgbench -s 1 has no 1 GiB segments";
      content = ReadFile(path);
    }
    const uint32_t nblocks = static_cast<uint32_t>(content.size() / 8192);
    reldirs[{rel.spcnode, rel.dbnode}].insert({rel.relnode, rel.forknum});
    db_bytes[{rel.spcnode, rel.dbnode}] += content.size();
    ASSERT_OK_AND_ASSIGN(const bool exists, timeline::RelExists(tl, rel, lsn));
    EXPECT_TRUE(exists);
    ASSERT_OK_AND_ASSIGN(const uint32_t size, timeline::GetRelSize(tl, rel, lsn));
    ASSERT_EQ(size, nblocks);
    for (uint32_t first = 0; first < nblocks; first += 256) {
      std::vector<timeline::RelPageRequest> requests;
      for (uint32_t b = first; b < std::min(nblocks, first + 256); ++b) {
        requests.push_back({rel, b, lsn});
      }
      const auto pages = timeline::GetRelPages(tl, requests);
      for (size_t i = 0; i < pages.size(); ++i) {
        const uint32_t blk = requests[i].blkno;
        ASSERT_TRUE(pages[i].has_value()) << "blk " << blk << ": " << pages[i].error().ToString();
        ASSERT_TRUE(std::equal(pages[i]->begin(), pages[i]->end(), content.begin() + blk * 8192))
            << "blk " << blk << " differs";
        ++blocks_checked;
      }
    }
  }
  EXPECT_GT(blocks_checked, 3000u);
  ASSERT_OK_AND_ASSIGN(const bool phantom, timeline::RelExists(tl, {1663, 5, 999999, 0}, lsn));
  EXPECT_FALSE(phantom);

  ASSERT_OK_AND_ASSIGN(const auto dbs, timeline::GetDbDir(tl, lsn));
  EXPECT_EQ(std::set<timeline::DbDirEntry>(dbs.begin(), dbs.end()), files.databases);
  for (const timeline::DbDirEntry& db : files.databases) {
    SCOPED_TRACE("db " + std::to_string(db.spcnode) + "/" + std::to_string(db.dbnode));
    ASSERT_OK_AND_ASSIGN(const auto reldir, timeline::GetRelDir(tl, db.spcnode, db.dbnode, lsn));
    EXPECT_EQ(std::set<timeline::RelDirEntry>(reldir.begin(), reldir.end()), reldirs[db]);
    ASSERT_OK_AND_ASSIGN(const uint64_t size, timeline::GetDbSize(tl, db.spcnode, db.dbnode, lsn));
    EXPECT_EQ(size, db_bytes[db]);
  }

  ASSERT_FALSE(files.slru.empty());
  std::map<layers::SlruKind, std::vector<uint32_t>> slru_dirs;
  for (const auto& [id, path] : files.slru) {
    ASSERT_OK_AND_ASSIGN(const Bytes segment, ReadSlruSegment(tl, id.first, id.second, lsn));
    EXPECT_EQ(segment, ReadFile(path)) << path;
    slru_dirs[id.first].push_back(id.second);
  }
  for (const auto kind : {layers::SlruKind::kClog, layers::SlruKind::kMultiXactMembers,
                          layers::SlruKind::kMultiXactOffsets}) {
    ASSERT_OK_AND_ASSIGN(const Bytes dir, tl.Get(Key::SlruDir(kind), lsn));
    EXPECT_EQ(DecodeSlruDir(dir).value(), slru_dirs[kind]);
  }

  ASSERT_FALSE(files.aux.empty());
  for (const std::string& path : files.aux) {
    ASSERT_OK_AND_ASSIGN(const Bytes content, ReadAuxFile(tl, path, lsn));
    EXPECT_EQ(content, ReadFile(root + "/" + path)) << path;
  }
  ASSERT_OK_AND_ASSIGN(const Bytes control, tl.Get(Key::ControlFile(), lsn));
  EXPECT_EQ(control, ReadFile(root + "/global/pg_control"));
  EXPECT_GE(tl.Stats().images, 1u);
}

// The shared cluster and the archives made from it (the tars of the
// stopped data directory and the extracted backup only when a test asks).
struct SharedCluster {
  std::unique_ptr<PgCluster> pg;
  std::string error;
  std::string basebackup_tar;
};

common::Status MakeCluster(SharedCluster& s) {
  ASSIGN_OR_RETURN(s.pg, PgCluster::Create());
  RETURN_IF_ERROR(s.pg->Start());
  RETURN_IF_ERROR(s.pg->Pgbench(1));
  RETURN_IF_ERROR(s.pg->Sql("CREATE DATABASE extra").status());
  RETURN_IF_ERROR(
      s.pg->Sql("CREATE UNLOGGED TABLE u AS SELECT g FROM generate_series(1, 5000) g").status());
  s.basebackup_tar = s.pg->dir() + "/base.tar";
  RETURN_IF_ERROR(s.pg->BaseBackupTar(s.basebackup_tar));
  return s.pg->Stop();
}

class RealClusterTest : public test_util::TimelineFixture {
 protected:
  static void SetUpTestSuite() {
    if (PgCluster::Unavailable()) return;
    shared_ = new SharedCluster;
    const common::Status status = MakeCluster(*shared_);
    if (!status.ok()) shared_->error = status.ToString();
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override {
    if (const auto why = PgCluster::Unavailable()) GTEST_SKIP() << *why;
    ASSERT_TRUE(shared_->error.empty()) << shared_->error;
    TimelineFixture::SetUp();
  }
  static PgCluster& pg() { return *shared_->pg; }
  static const std::string& basebackup_tar() { return shared_->basebackup_tar; }

  void ImportAndCheckTar(const std::string& tar, const std::string& expected_root) {
    ASSERT_OK_AND_ASSIGN(const Bytes control_bytes,
                         ReadWholeSmallFile(expected_root + "/global/pg_control", 8192));
    ASSERT_OK_AND_ASSIGN(const ControlFileInfo control, ParseControlFile(control_bytes));
    const Lsn lsn = control.ImportLsn();
    auto tl = CreateTimeline(Lsn{lsn.value - 1});
    ASSERT_OK_AND_ASSIGN(auto source, FileByteSource::Open(tar));
    ASSERT_OK_AND_ASSIGN(const ImportStats stats, ImportTar(*tl, lsn, *source));
    EXPECT_EQ(stats.databases, 5u);  // global, template0, template1, postgres, extra
    ExpectTimelineMatches(*tl, lsn, expected_root);
  }

  static inline SharedCluster* shared_ = nullptr;
};

TEST_F(RealClusterTest, PgdataImportServesEveryBlockOfEveryRelation) {
  ASSERT_OK_AND_ASSIGN(const ControlFileInfo control, ReadControlFile(pg().pgdata()));
  EXPECT_EQ(control.pg_major_version, 15u);
  const Lsn lsn = control.ImportLsn();
  auto tl = CreateTimeline(Lsn{lsn.value - 1});
  ASSERT_OK_AND_ASSIGN(const ImportStats stats, ImportPgdata(*tl, lsn, pg().pgdata()));
  EXPECT_EQ(stats.lsn, lsn);
  EXPECT_EQ(stats.databases, 5u);
  EXPECT_GT(stats.relation_blocks, 3000u);
  EXPECT_GE(stats.slru_segments, 1u);
  ExpectTimelineMatches(*tl, lsn, pg().pgdata());
  // The unlogged table's init fork came along.
  bool init_fork = false;
  for (const auto& [rel, segs] : Scan(pg().pgdata()).relations) init_fork |= rel.forknum == 3;
  EXPECT_TRUE(init_fork);
}

TEST_F(RealClusterTest, GnuAndPaxTarImportsMatchTheDataDirectory) {
  for (const std::string format : {"gnu", "pax"}) {
    SCOPED_TRACE(format);
    const std::string tar = dir_.path() + "/" + format + ".tar";
    ASSERT_OK(pg().TarDataDir(tar, format));
    ImportAndCheckTar(tar, pg().pgdata());
  }
}

// Stops after `limit` bytes of the inner source.
class TruncatedSource : public ByteSource {
 public:
  TruncatedSource(ByteSource& inner, uint64_t limit) : inner_(inner), left_(limit) {}
  common::Result<size_t> Read(std::span<std::byte> dst) override {
    if (left_ == 0) return size_t{0};
    ASSIGN_OR_RETURN(const size_t n, inner_.Read(dst.first(std::min<uint64_t>(dst.size(), left_))));
    left_ -= n;
    return n;
  }

 private:
  ByteSource& inner_;
  uint64_t left_;
};

// The tar pg_basebackup wrote while the cluster ran, checked against its
// own contents as GNU tar extracts them; then the same tar cut short.
TEST_F(RealClusterTest, BaseBackupTarImportMatchesTheBackupAndTruncationIsCorruption) {
  const std::string extracted = dir_.path() + "/backup";
  fs::create_directories(extracted);
  ASSERT_OK(pg().Run({"tar", "-xf", basebackup_tar(), "-C", extracted}));
  ImportAndCheckTar(basebackup_tar(), extracted);

  const uint64_t size = fs::file_size(basebackup_tar());
  auto tl = CreateTimeline(Lsn{0x1000});
  ASSERT_OK_AND_ASSIGN(auto file, FileByteSource::Open(basebackup_tar()));
  TruncatedSource truncated(*file, size / 3 + 100);
  EXPECT_THAT(ImportTar(*tl, Lsn{0x2000}, truncated),
              StatusIs(StatusCode::kCorruption, HasSubstr("tar: member '")));
  EXPECT_EQ(tl->last_record_lsn(), Lsn{0x1000});
}

// `pagectl import` in process (RunImport), on the stopped shared cluster.
TEST_F(RealClusterTest, PagectlImportCreatesTheTenantAndAServableTimeline) {
  const std::string data_dir = dir_.path() + "/pageserver";
  const layers::TenantId tenant = layers::TenantId::Generate();
  const layers::TimelineId first = layers::TimelineId::Generate();
  const layers::TimelineId second = layers::TimelineId::Generate();
  pagectl::ImportArgs args;
  args.pgdata = pg().pgdata();
  args.data_dir = data_dir;
  args.tenant = tenant.ToHex();
  args.timeline = first.ToHex();
  ::testing::internal::CaptureStdout();
  const int rc = pagectl::RunImport(pagectl::GlobalOptions{}, args);
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0);
  ASSERT_OK_AND_ASSIGN(const ControlFileInfo control, ReadControlFile(pg().pgdata()));
  EXPECT_THAT(out, HasSubstr("at " + control.ImportLsn().ToString() + " (pg 15)"));
  EXPECT_THAT(out, HasSubstr("databases 5\n"));

  // Same timeline again: refused, exit 2. Another timeline at an explicit
  // LSN: the existing tenant is loaded.
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  args.timeline = second.ToHex();
  args.lsn = "0/9000000";
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 0);
  ::testing::internal::GetCapturedStdout();

  const timeline::TimelineResources res{&ctx_, cache_.get(), nullptr};
  ASSERT_OK_AND_ASSIGN(
      auto loaded, timeline::Tenant::Load(res, data_dir, tenant, test_util::TestTimelineConfig()));
  EXPECT_TRUE(loaded->problems().empty());
  ASSERT_OK_AND_ASSIGN(auto tl, loaded->GetTimeline(first));
  EXPECT_EQ(tl->last_record_lsn(), control.ImportLsn());
  EXPECT_EQ(tl->disk_consistent_lsn(), control.ImportLsn());
  ExpectTimelineMatches(*tl, control.ImportLsn(), pg().pgdata());
  ASSERT_OK_AND_ASSIGN(auto tl2, loaded->GetTimeline(second));
  EXPECT_EQ(tl2->last_record_lsn().ToString(), "0/9000000");
}

class PagectlImportTest : public test_util::TimelineFixture {};

TEST_F(PagectlImportTest, RefusesBadInputWithExitCode2) {
  pagectl::ImportArgs args;
  args.data_dir = dir_.path() + "/pageserver";
  args.tenant = layers::TenantId::Generate().ToHex();
  args.timeline = layers::TimelineId::Generate().ToHex();
  args.pgdata = dir_.path() + "/no-such-cluster";
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  // A cluster whose control file says it is running.
  test_util::SyntheticCluster running;
  running.files["global/pg_control"] = test_util::RealControlFile();
  running.files["global/pg_control"][16] = std::byte{6};
  test_util::FixControlFileCrc(running.files["global/pg_control"]);
  running.files["PG_VERSION"] = test_util::ToBytes("15\n");
  running.WriteTo(dir_.path() + "/running");
  args.pgdata = dir_.path() + "/running";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("not shut down cleanly"));
  // A relation file of odd size: the timeline is removed again.
  test_util::SyntheticCluster odd = running;
  odd.files["global/pg_control"] = test_util::RealControlFile();
  odd.files["base/1/1259"] = test_util::PatternBytes(1, 8193);
  odd.WriteTo(dir_.path() + "/odd");
  args.pgdata = dir_.path() + "/odd";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("base/1/1259 of 8193 bytes"));
  EXPECT_FALSE(fs::exists(
      timeline::TenantDir(args.data_dir, layers::TenantId::ParseHex(args.tenant).value()) +
      "/timelines/" + args.timeline));
  // Bad ids and LSNs.
  test_util::SyntheticCluster clean = running;
  clean.files["global/pg_control"] = test_util::RealControlFile();
  clean.WriteTo(dir_.path() + "/clean");
  args.pgdata = dir_.path() + "/clean";
  args.lsn = "0/0";
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  args.lsn = "garbage";
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
  args.lsn.reset();
  args.tenant = "xyz";
  EXPECT_EQ(pagectl::RunImport(pagectl::GlobalOptions{}, args), 2);
}

TEST(PagectlImportCommandTest, ParsesItsOptions) {
  CLI::App app;
  pagectl::ImportArgs args;
  CLI::App* cmd = pagectl::AddImportCommand(app, args);
  const char* argv[] = {"pagectl",      "import", "--pgdata",   "/p", "--data-dir", "/d",
                        "--tenant",     "t",      "--timeline", "l",  "--lsn",      "0/10",
                        "--pg-version", "15"};
  app.parse(static_cast<int>(std::size(argv)), argv);
  EXPECT_TRUE(cmd->parsed());
  EXPECT_EQ(args.pgdata, "/p");
  EXPECT_EQ(args.data_dir, "/d");
  EXPECT_EQ(args.tenant, "t");
  EXPECT_EQ(args.timeline, "l");
  EXPECT_EQ(args.lsn, "0/10");
  EXPECT_EQ(args.pg_version, 15u);
}

}  // namespace
}  // namespace pageserver::pg_import
