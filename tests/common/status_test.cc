#include "common/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

#include "tests/support/status_matchers.h"

namespace pageserver::common {
namespace {

using ::pageserver::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StatusTest, DefaultIsOkAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.error_number(), 0);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(s.message().empty());
}

TEST(StatusTest, FromErrnoMapsCodesInOnePlace) {
  EXPECT_EQ(Status::FromErrno(ENOENT, "open x").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromErrno(EEXIST, "open x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Status::FromErrno(EINVAL, "open x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Status::FromErrno(ENOSPC, "write x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::FromErrno(EIO, "read x").code(), StatusCode::kIoError);
  EXPECT_EQ(Status::FromErrno(ENOSYS, "x").code(), StatusCode::kUnsupported);
}

TEST(StatusTest, FatalClassificationIsEioErofsEacces) {
  EXPECT_TRUE(Status::FromErrno(EIO, "read").IsFatal());
  EXPECT_TRUE(Status::FromErrno(EROFS, "write").IsFatal());
  EXPECT_TRUE(Status::FromErrno(EACCES, "open").IsFatal());
  EXPECT_FALSE(Status::FromErrno(ENOENT, "open").IsFatal());
  EXPECT_FALSE(Status::FromErrno(ENOSPC, "write").IsFatal());
  EXPECT_FALSE(Status::Corruption("bad crc").IsFatal());
}

TEST(StatusTest, EnospcAndEagainAreRetryable) {
  EXPECT_TRUE(Status::FromErrno(ENOSPC, "write").IsRetryable());
  EXPECT_TRUE(Status::FromErrno(EAGAIN, "read").IsRetryable());
  EXPECT_TRUE(Status::TimedOut("wait lsn").IsRetryable());
  EXPECT_FALSE(Status::FromErrno(EIO, "read").IsRetryable());
  EXPECT_FALSE(Status::NotFound("key").IsRetryable());
}

TEST(StatusTest, ToStringCarriesCodeContextStrerrorAndErrno) {
  const Status s = Status::FromErrno(ENOENT, "open /data/layer");
  EXPECT_EQ(s.ToString(), "NotFound: open /data/layer: No such file or directory (errno 2)");
  EXPECT_EQ(s.error_number(), ENOENT);
}

TEST(StatusTest, WithContextPrependsAndKeepsCodeAndErrno) {
  const Status s = Status::FromErrno(EIO, "pread offset=8192").WithContext("read /f");
  EXPECT_THAT(s, StatusIs(StatusCode::kIoError, HasSubstr("read /f: pread offset=8192")));
  EXPECT_EQ(s.error_number(), EIO);
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, CopiesAreDeepAndEqual) {
  const Status a = Status::Corruption("crc mismatch in block 3");
  Status b = a;
  EXPECT_EQ(a, b);
  b = Status::NotFound("x");
  EXPECT_TRUE(a.IsCorruption());
  EXPECT_FALSE(a == b);
  Status moved = std::move(b);
  EXPECT_TRUE(moved.IsNotFound());
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> ok = Half(8);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 4);
  EXPECT_TRUE(ok.error().ok());
  Result<int> bad = Half(3);
  EXPECT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd: 3")));
}

TEST(ResultTest, MacrosPropagateTheFirstError) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_THAT(Quarter(6).error(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd: 3")));
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_TRUE(CheckEven(3).IsInvalidArgument());
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, OkStatusIsNotAValue) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInternal);
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> r = Status::NotFound("gone");
  EXPECT_DEATH((void)r.value(), "NotFound: gone");
}

}  // namespace
}  // namespace pageserver::common
