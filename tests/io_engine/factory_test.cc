// CreateIoEngine / ParseIoEngineKind / ProbeIoUring, including the auto
// fallback, exercised through the PS_IO_URING_DISABLE seam.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "io_engine/backends.h"
#include "io_engine/io_engine.h"
#include "tests/io_engine/engine_test_util.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::io_engine {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Writes and reads back a few bytes: the engine actually works.
void ExpectEngineWorks(IoEngine& engine) {
  pageserver::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(const int fd, engine.Open(dir.File("f"), O_RDWR | O_CREAT, 0644));
  const std::vector<std::byte> data = testutil::PatternBytes(0, 3000, 1);
  ASSERT_OK_AND_ASSIGN(const size_t w, engine.Write(fd, 0, data));
  EXPECT_EQ(w, data.size());
  std::vector<std::byte> back(4096);
  ASSERT_OK_AND_ASSIGN(const size_t r, engine.Read(fd, 0, back));
  ASSERT_EQ(r, data.size());
  back.resize(r);
  EXPECT_TRUE(back == data);
  EXPECT_OK(engine.Close(fd));
}

Result<std::unique_ptr<IoEngine>> Create(IoEngineKind kind, common::Registry& registry) {
  IoEngineOptions options;
  options.kind = kind;
  options.registry = &registry;
  return CreateIoEngine(options);
}

TEST(IoEngineFactoryTest, ParseIoEngineKindAcceptsConfigSpellings) {
  for (IoEngineKind kind : {IoEngineKind::kAuto, IoEngineKind::kStdFs, IoEngineKind::kIoUring}) {
    ASSERT_OK_AND_ASSIGN(const IoEngineKind parsed, ParseIoEngineKind(IoEngineKindName(kind)));
    EXPECT_EQ(parsed, kind);
  }
}

TEST(IoEngineFactoryTest, ParseIoEngineKindRejectsUnknownNamesListingChoices) {
  for (const char* bad : {"", "uring", "IO-URING", "std_fs", "auto ", "tokio-epoll-uring"}) {
    EXPECT_THAT(ParseIoEngineKind(bad), StatusIs(StatusCode::kInvalidArgument,
                                                 HasSubstr("expected auto, std-fs or io-uring")))
        << "'" << bad << "'";
  }
}

TEST(IoEngineFactoryTest, StdFsIsAlwaysAvailable) {
  common::Registry registry;
  ASSERT_OK_AND_ASSIGN(auto engine, Create(IoEngineKind::kStdFs, registry));
  EXPECT_EQ(engine->name(), "std-fs");
  ExpectEngineWorks(*engine);
}

TEST(IoEngineFactoryTest, AutoReturnsWorkingEngineMatchingProbe) {
  common::Registry registry;
  ASSERT_OK_AND_ASSIGN(auto engine, Create(IoEngineKind::kAuto, registry));
  EXPECT_EQ(engine->name(), ProbeIoUring().ok() ? "io-uring" : "std-fs");
  ExpectEngineWorks(*engine);
}

TEST(IoEngineFactoryTest, ExplicitIoUringFollowsProbe) {
  common::Registry registry;
  const Status probe = ProbeIoUring();
  auto engine = Create(IoEngineKind::kIoUring, registry);
  if (probe.ok()) {
    ASSERT_OK(engine);
    EXPECT_EQ((*engine)->name(), "io-uring");
    ExpectEngineWorks(**engine);
  } else {
    EXPECT_THAT(engine,
                StatusIs(StatusCode::kUnsupported, HasSubstr(std::string(probe.message()))));
  }
}

TEST(IoEngineFactoryTest, DisableSeamMakesProbeReportReason) {
  ScopedEnv env(internal::kUringDisableEnv, "1");
  EXPECT_THAT(ProbeIoUring(),
              StatusIs(StatusCode::kUnsupported, HasSubstr("disabled by PS_IO_URING_DISABLE=1")));
}

TEST(IoEngineFactoryTest, AutoFallsBackToStdFsWhenIoUringUnusable) {
  ScopedEnv env(internal::kUringDisableEnv, "1");
  common::Registry registry;
  ASSERT_OK_AND_ASSIGN(auto engine, Create(IoEngineKind::kAuto, registry));
  EXPECT_EQ(engine->name(), "std-fs");
  ExpectEngineWorks(*engine);
}

TEST(IoEngineFactoryTest, ExplicitIoUringWhenUnusableIsUnsupportedWithReason) {
  ScopedEnv env(internal::kUringDisableEnv, "1");
  common::Registry registry;
  EXPECT_THAT(
      Create(IoEngineKind::kIoUring, registry),
      StatusIs(StatusCode::kUnsupported,
               HasSubstr("io engine io-uring unusable: disabled by PS_IO_URING_DISABLE=1")));
}

TEST(IoEngineFactoryTest, DisableSeamSetToZeroOrEmptyDisablesNothing) {
  std::vector<Status> probes;
  for (const char* value : {"0", ""}) {
    ScopedEnv env(internal::kUringDisableEnv, value);
    probes.push_back(ProbeIoUring());
    EXPECT_THAT(std::string(probes.back().message()), Not(HasSubstr(internal::kUringDisableEnv)))
        << "PS_IO_URING_DISABLE='" << value << "'";
  }
  EXPECT_EQ(probes[0], probes[1]);
}

TEST(IoEngineFactoryTest, ProbeResultIsCached) {
  const Status first = ProbeIoUring();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ProbeIoUring(), first);
  common::Registry registry;
  ASSERT_OK(Create(IoEngineKind::kAuto, registry));  // the factory probes too
  ASSERT_OK(Create(IoEngineKind::kAuto, registry));
  EXPECT_LE(internal::UringKernelProbeRuns(), 1);
  // A usable answer can only have come from the kernel.
  if (first.ok()) {
    EXPECT_EQ(internal::UringKernelProbeRuns(), 1);
  }
}

TEST(IoEngineFactoryTest, UnusableProbeNamesAReason) {
  const Status probe = ProbeIoUring();
  if (probe.ok()) GTEST_SKIP() << "io_uring is usable here; nothing to explain";
  EXPECT_EQ(probe.code(), StatusCode::kUnsupported);
  EXPECT_FALSE(probe.message().empty());
}

}  // namespace
}  // namespace pageserver::io_engine
