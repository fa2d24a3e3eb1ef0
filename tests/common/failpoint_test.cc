#include "common/failpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tests/support/status_matchers.h"

namespace pageserver::common {
namespace {

using ::pageserver::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Exit code of a child that got past every failpoint.
constexpr int kSurvived = 42;

// Runs `body` in a forked child that then _exits with kSurvived; returns
// the child's wait status. The child arms its own failpoints, so the
// parent's stay as they are.
template <typename Body>
int RunInChild(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(kSurvived);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

bool KilledBySigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
bool Survived(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == kSurvived; }

void Arm(std::string_view spec) {
  if (!SetFailPointsForTest(spec).ok()) ::_exit(1);
}

class FailPointTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_OK(SetFailPointsForTest("")); }
};

TEST_F(FailPointTest, ParsesKillAndPauseWithOptionalHit) {
  ASSERT_OK_AND_ASSIGN(auto specs, ParseFailPoints("a=kill, b-c = kill@3 ,,d=pause,e=pause@2"));
  EXPECT_THAT(specs, ElementsAre(FailPointSpec{"a", FailPointAction::kKill, 1},
                                 FailPointSpec{"b-c", FailPointAction::kKill, 3},
                                 FailPointSpec{"d", FailPointAction::kPause, 1},
                                 FailPointSpec{"e", FailPointAction::kPause, 2}));
  ASSERT_OK_AND_ASSIGN(auto none, ParseFailPoints(""));
  EXPECT_TRUE(none.empty());
}

TEST_F(FailPointTest, RejectsMalformedSpecsNamingTheEntry) {
  for (const char* bad :
       {"a", "=kill", "a=abort", "a=kill@0", "a=kill@", "a=kill@x", "a=kill@3x", "a=killer",
        "a=kill@-1", "a=kill@99999999999999999999999", "a=pause@0", "a=@2", "a="}) {
    EXPECT_THAT(ParseFailPoints(bad).status(),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("failpoint")))
        << bad;
  }
  EXPECT_THAT(ParseFailPoints("a=kill,a=kill@2").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("twice")));
}

TEST_F(FailPointTest, BadSpecForTestChangesNothing) {
  EXPECT_THAT(SetFailPointsForTest("p=explode"), StatusIs(StatusCode::kInvalidArgument));
  const int status = RunInChild([] {
    Arm("p=kill");
    if (!SetFailPointsForTest("p=kill@0").ok()) FailPoint("p");  // still armed: dies
  });
  EXPECT_TRUE(KilledBySigkill(status)) << status;
}

TEST_F(FailPointTest, DisarmedFailPointReturns) {
  ASSERT_OK(SetFailPointsForTest(""));
  for (int i = 0; i < 3; ++i) FailPoint("anything");
  ASSERT_OK(SetFailPointsForTest("other=kill"));
  FailPoint("anything");  // armed, but not this name
}

TEST_F(FailPointTest, KillActionKillsTheProcessWithSigkill) {
  const int status = RunInChild([] {
    Arm("p=kill");
    FailPoint("p");
  });
  EXPECT_TRUE(KilledBySigkill(status)) << status;
}

TEST_F(FailPointTest, KillAtNCountsEarlierHitsOfThatNameOnly) {
  const int two_hits = RunInChild([] {
    Arm("p=kill@3,q=kill@100");
    for (int i = 0; i < 5; ++i) FailPoint("q");
    FailPoint("p");
    FailPoint("p");
  });
  EXPECT_TRUE(Survived(two_hits)) << two_hits;
  const int three_hits = RunInChild([] {
    Arm("p=kill@3");
    for (int i = 0; i < 3; ++i) FailPoint("p");
  });
  EXPECT_TRUE(KilledBySigkill(three_hits)) << three_hits;
}

TEST_F(FailPointTest, ArmingAgainResetsHitCounts) {
  const int status = RunInChild([] {
    Arm("p=kill@2");
    FailPoint("p");
    Arm("p=kill@2");
    FailPoint("p");
  });
  EXPECT_TRUE(Survived(status)) << status;
}

TEST_F(FailPointTest, PauseHoldsTheThreadAtTheNthHit) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    Arm("p=pause@2");
    FailPoint("p");
    if (::write(fds[1], "1", 1) != 1) ::_exit(1);  // past the first hit
    FailPoint("p");
    if (::write(fds[1], "2", 1) != 1) ::_exit(1);  // never reached
    ::_exit(kSurvived);
  }
  ::close(fds[1]);
  char got[2] = {};
  ASSERT_EQ(::read(fds[0], got, 1), 1);
  EXPECT_EQ(got[0], '1');
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the paused child ended: " << status;
  ::kill(pid, SIGKILL);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(KilledBySigkill(status)) << status;
  EXPECT_EQ(::read(fds[0], got, 1), 0) << "the child went past the paused hit";
  ::close(fds[0]);
}

// The environment variable is read on the first FailPoint() of a process:
// a threadsafe death test re-executes the binary, so the child starts with
// nothing read yet and inherits the variable.
TEST(FailPointDeathTest, EnvironmentVariableArmsOnFirstUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ASSERT_EQ(::setenv("PS_FAILPOINTS", "env-point=kill@2", 1), 0);
  EXPECT_EXIT(
      {
        FailPoint("env-point");
        FailPoint("env-point");
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EXIT(
      {
        FailPoint("env-point");
        std::_Exit(kSurvived);
      },
      ::testing::ExitedWithCode(kSurvived), "");
  ASSERT_EQ(::setenv("PS_FAILPOINTS", "env-point=explode", 1), 0);
  EXPECT_EXIT(
      {
        FailPoint("env-point");
        std::_Exit(0);
      },
      [](int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }, "");
  ASSERT_EQ(::unsetenv("PS_FAILPOINTS"), 0);
}

}  // namespace
}  // namespace pageserver::common
