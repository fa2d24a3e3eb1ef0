// TenantManager and IoSettings: the daemon's tenants on disk, and the live
// io engine / io mode switch with per-tenant IO accounting.

#include "server/tenant_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/metrics.h"
#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "server/io_settings.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/value.h"
#include "virtual_file/io_buffer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::server {
namespace {

using common::StatusCode;
using layers::Lsn;
using layers::TenantId;
using layers::TimelineId;
using ::pageserver::testing::StatusIs;
using ::testing::HasSubstr;

TenantId Tenant(uint8_t n) {
  return *TenantId::ParseHex(std::string(30, '0') + (n < 16 ? "0" : "") + [&] {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%x", n);
    return std::string(hex);
  }());
}
TimelineId Timeline(uint8_t n) { return *TimelineId::ParseHex(Tenant(n).ToHex()); }

class TenantManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IoSettingsOptions io_options;
    io_options.engine = io_engine::IoEngineKind::kStdFs;
    io_options.mode = virtual_file::IoMode::kBuffered;
    ASSERT_OK_AND_ASSIGN(io_, IoSettings::Create(io_options, registry_));
    page_cache::PageCacheOptions cache_options;
    cache_options.pages = 64;
    ASSERT_OK_AND_ASSIGN(cache_, page_cache::PageCache::Create(cache_options));
    options_.data_dir = dir_.path();
    options_.timeline.background_threads = false;
  }

  common::Result<std::unique_ptr<TenantManager>> OpenManager() {
    return TenantManager::Open(*io_, *cache_, registry_, options_);
  }

  testing::TempDir dir_;
  common::Registry registry_;
  std::unique_ptr<IoSettings> io_;
  std::unique_ptr<page_cache::PageCache> cache_;
  TenantManagerOptions options_;
};

TEST_F(TenantManagerTest, CreatedTenantsAndTimelinesLoadAfterReopen) {
  {
    ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
    ASSERT_OK(manager->CreateTenant(Tenant(1)));
    ASSERT_OK(manager->CreateTenant(Tenant(2)));
    ASSERT_OK_AND_ASSIGN(auto tl, manager->CreateTimeline(Tenant(1), Timeline(7), Lsn{0x100}, 15));
    std::vector<std::byte> page(timeline::kPageSize, std::byte{0x5A});
    ASSERT_OK(tl->Put(layers::Key::RelBlock({1663, 5, 16384, 0}, 0), Lsn{0x108},
                      *timeline::Value::Image(page)));
    ASSERT_OK(tl->FinishLsn(Lsn{0x108}));
    tl.reset();
    ASSERT_OK(manager->Shutdown(/*checkpoint=*/true));
  }
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  EXPECT_TRUE(manager->problems().empty());
  ASSERT_EQ(manager->Tenants().size(), 2u);
  EXPECT_EQ(manager->Tenants()[0]->tenant_id(), Tenant(1));
  ASSERT_OK_AND_ASSIGN(auto tl, manager->GetTimeline(Tenant(1), Timeline(7)));
  EXPECT_EQ(tl->last_record_lsn(), Lsn{0x108});
  ASSERT_OK_AND_ASSIGN(auto page,
                       tl->Get(layers::Key::RelBlock({1663, 5, 16384, 0}, 0), Lsn{0x108}));
  EXPECT_EQ(page[100], std::byte{0x5A});
}

TEST_F(TenantManagerTest, DuplicateAndUnknownIdsAreNamedErrors) {
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  ASSERT_OK(manager->CreateTenant(Tenant(1)));
  EXPECT_THAT(manager->CreateTenant(Tenant(1)), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(manager->GetTenant(Tenant(3)),
              StatusIs(StatusCode::kNotFound, HasSubstr(Tenant(3).ToHex())));
  EXPECT_THAT(manager->GetTimeline(Tenant(1), Timeline(9)),
              StatusIs(StatusCode::kNotFound, HasSubstr(Timeline(9).ToHex())));
  EXPECT_THAT(manager->CreateTimeline(Tenant(3), Timeline(9), Lsn{0x10}, 15),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(manager->DeleteTenant(Tenant(3)), StatusIs(StatusCode::kNotFound));
}

TEST_F(TenantManagerTest, BranchReadsItsAncestor) {
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  ASSERT_OK(manager->CreateTenant(Tenant(1)));
  ASSERT_OK_AND_ASSIGN(auto root, manager->CreateTimeline(Tenant(1), Timeline(1), Lsn{0x100}, 15));
  const auto key = layers::Key::RelBlock({1663, 5, 16384, 0}, 3);
  std::vector<std::byte> page(timeline::kPageSize, std::byte{0x11});
  ASSERT_OK(root->Put(key, Lsn{0x200}, *timeline::Value::Image(page)));
  ASSERT_OK(root->FinishLsn(Lsn{0x200}));
  ASSERT_OK_AND_ASSIGN(auto branch,
                       manager->CreateBranch(Tenant(1), Timeline(2), {Timeline(1), Lsn{0x200}}));
  EXPECT_EQ(branch->ancestor_lsn(), Lsn{0x200});
  ASSERT_OK_AND_ASSIGN(auto got, branch->Get(key, Lsn{0x200}));
  EXPECT_EQ(got, page);
  EXPECT_THAT(manager->CreateBranch(Tenant(1), Timeline(3), {Timeline(8), Lsn{0x200}}),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(TenantManagerTest, DeletedTenantIsGoneFromDiskAndList) {
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  ASSERT_OK_AND_ASSIGN(auto tenant, manager->CreateTenant(Tenant(1)));
  const std::string tenant_dir = tenant->dir();
  ASSERT_TRUE(std::filesystem::exists(tenant_dir));
  ASSERT_OK(manager->DeleteTenant(Tenant(1)));
  EXPECT_FALSE(std::filesystem::exists(tenant_dir));
  EXPECT_FALSE(std::filesystem::exists(tenant_dir + ".___deleted"));
  EXPECT_TRUE(manager->Tenants().empty());
  EXPECT_THAT(manager->GetTenant(Tenant(1)), StatusIs(StatusCode::kNotFound));
}

TEST_F(TenantManagerTest, OpenRemovesInterruptedDeletesAndReportsBrokenTenants) {
  const std::string tenants = dir_.path() + "/tenants";
  std::filesystem::create_directories(tenants + "/" + Tenant(5).ToHex() + ".___deleted/timelines");
  std::filesystem::create_directories(tenants + "/" + Tenant(6).ToHex());  // no timelines dir
  std::filesystem::create_directories(tenants + "/not-a-tenant");
  {
    ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
    ASSERT_OK(manager->CreateTenant(Tenant(1)));
  }
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  EXPECT_FALSE(std::filesystem::exists(tenants + "/" + Tenant(5).ToHex() + ".___deleted"));
  EXPECT_TRUE(std::filesystem::exists(tenants + "/not-a-tenant"));
  ASSERT_EQ(manager->Tenants().size(), 1u);
  ASSERT_EQ(manager->problems().size(), 1u);
  EXPECT_THAT(manager->problems()[0], HasSubstr(Tenant(6).ToHex()));
}

TEST_F(TenantManagerTest, ShutdownRefusesNewTenants) {
  ASSERT_OK_AND_ASSIGN(auto manager, OpenManager());
  ASSERT_OK(manager->Shutdown(false));
  EXPECT_THAT(manager->CreateTenant(Tenant(1)), StatusIs(StatusCode::kAborted));
}

// --- IoSettings ---

class IoSettingsTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, size_t bytes) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << std::string(bytes, 'x');
    return path;
  }
  testing::TempDir dir_;
  common::Registry registry_;
};

TEST_F(IoSettingsTest, ModeFlipAppliesToFilesOpenedAfterwards) {
  IoSettingsOptions options;
  options.engine = io_engine::IoEngineKind::kStdFs;
  options.mode = virtual_file::IoMode::kBuffered;
  ASSERT_OK_AND_ASSIGN(auto io, IoSettings::Create(options, registry_));
  const std::string path = WriteFile("f", 8192);
  const virtual_file::IoContext* ctx = io->ContextFor(Tenant(1));
  ASSERT_OK_AND_ASSIGN(
      auto before, virtual_file::VirtualFile::Open(*ctx, path, virtual_file::OpenOptions::Read()));
  io->SetMode(virtual_file::IoMode::kDirect);
  EXPECT_EQ(io->mode(), virtual_file::IoMode::kDirect);
  ASSERT_OK_AND_ASSIGN(
      auto after, virtual_file::VirtualFile::Open(*ctx, path, virtual_file::OpenOptions::Read()));
  EXPECT_FALSE(before.is_direct());
  if (!after.is_direct()) GTEST_SKIP() << "this filesystem does not do O_DIRECT";
  EXPECT_EQ(after.context().mode, virtual_file::IoMode::kDirect);
}

TEST_F(IoSettingsTest, EngineFlipKeepsOldFilesWorkingAndBatchesMixedEngines) {
  if (!io_engine::ProbeIoUring().ok()) GTEST_SKIP() << io_engine::ProbeIoUring().ToString();
  IoSettingsOptions options;
  options.engine = io_engine::IoEngineKind::kStdFs;
  options.mode = virtual_file::IoMode::kBuffered;
  ASSERT_OK_AND_ASSIGN(auto io, IoSettings::Create(options, registry_));
  const std::string path = WriteFile("f", 16384);
  const virtual_file::IoContext* ctx = io->ContextFor(Tenant(1));
  ASSERT_OK_AND_ASSIGN(auto old_file, virtual_file::VirtualFile::Open(
                                          *ctx, path, virtual_file::OpenOptions::Read()));
  ASSERT_OK(io->SetEngine(io_engine::IoEngineKind::kIoUring));
  EXPECT_EQ(io->engine_name(), "io-uring");
  ASSERT_OK_AND_ASSIGN(auto new_file, virtual_file::VirtualFile::Open(
                                          *ctx, path, virtual_file::OpenOptions::Read()));
  EXPECT_EQ(old_file.context().engine->name(), "std-fs");
  EXPECT_EQ(new_file.context().engine->name(), "io-uring");

  virtual_file::AlignedBuffer a(8192, 4096);
  virtual_file::AlignedBuffer b(8192, 4096);
  std::vector<virtual_file::VirtualFile::BatchRead> reads(2);
  reads[0].file = &old_file;
  reads[0].dst = a.AsSpanMut();
  reads[1].file = &new_file;
  reads[1].offset = 8192;
  reads[1].dst = b.AsSpanMut();
  virtual_file::VirtualFile::ReadBatch(reads);
  ASSERT_OK(reads[0].result);
  ASSERT_OK(reads[1].result);
  EXPECT_EQ(*reads[0].result, 8192u);
  EXPECT_EQ(*reads[1].result, 8192u);
  EXPECT_EQ(a.data()[0], std::byte{'x'});
  EXPECT_EQ(b.data()[8191], std::byte{'x'});
}

TEST_F(IoSettingsTest, TenantIoBytesAreCountedPerTenant) {
  IoSettingsOptions options;
  options.engine = io_engine::IoEngineKind::kStdFs;
  options.mode = virtual_file::IoMode::kBuffered;
  ASSERT_OK_AND_ASSIGN(auto io, IoSettings::Create(options, registry_));
  EXPECT_EQ(io->ContextFor(Tenant(1)), io->ContextFor(Tenant(1)));
  const std::string path = WriteFile("f", 8192);
  ASSERT_OK_AND_ASSIGN(auto file,
                       virtual_file::VirtualFile::Open(*io->ContextFor(Tenant(1)), path,
                                                       virtual_file::OpenOptions::Read()));
  virtual_file::AlignedBuffer buf(8192, 4096);
  ASSERT_OK(file.ReadExactAt(0, buf.AsSpanMut()));
  common::Counter& t1 = registry_.GetCounter("ps_tenant_io_bytes_total", "",
                                             {{"tenant", Tenant(1).ToHex()}, {"op", "read"}});
  common::Counter& t2 = registry_.GetCounter("ps_tenant_io_bytes_total", "",
                                             {{"tenant", Tenant(2).ToHex()}, {"op", "read"}});
  EXPECT_EQ(t1.Value(), 8192);
  EXPECT_EQ(t2.Value(), 0);
}

TEST_F(IoSettingsTest, LatencyPaddingIsAFloorUnderEveryRead) {
  IoSettingsOptions options;
  options.engine = io_engine::IoEngineKind::kStdFs;
  options.mode = virtual_file::IoMode::kBuffered;
  options.latency_padding = "20ms";  // far above a page-cache read of this file
  ASSERT_OK_AND_ASSIGN(auto io, IoSettings::Create(options, registry_));
  const std::string path = WriteFile("f", 8192);
  ASSERT_OK_AND_ASSIGN(auto file,
                       virtual_file::VirtualFile::Open(*io->ContextFor(Tenant(1)), path,
                                                       virtual_file::OpenOptions::Read()));
  virtual_file::AlignedBuffer buf(8192, 4096);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK(file.ReadExactAt(0, buf.AsSpanMut()));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
  EXPECT_EQ(buf.data()[0], std::byte{'x'});
}

TEST_F(IoSettingsTest, BadLatencyProfileIsRejected) {
  IoSettingsOptions options;
  options.latency_padding = "250us/80us";
  EXPECT_THAT(IoSettings::Create(options, registry_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("250us/80us")));
}

TEST_F(IoSettingsTest, BadAlignmentIsRejected) {
  IoSettingsOptions options;
  options.io_alignment = 1000;
  EXPECT_THAT(IoSettings::Create(options, registry_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("io_alignment")));
}

}  // namespace
}  // namespace pageserver::server
