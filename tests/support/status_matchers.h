#pragma once

// GoogleTest helpers for Status and Result<T>.
//   ASSERT_OK(status_or_result);  EXPECT_OK(...);
//   ASSERT_OK_AND_ASSIGN(auto fd, engine->Open(...));
//   EXPECT_THAT(status, StatusIs(StatusCode::kNotFound));
//   EXPECT_THAT(status, StatusIs(StatusCode::kIoError, HasSubstr("offset=8192")));

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status.h"

namespace pageserver::testing {

inline const common::Status& ToStatus(const common::Status& s) { return s; }
template <typename T>
const common::Status& ToStatus(const common::Result<T>& r) {
  return r.error();
}

MATCHER_P(StatusIs, code,
          std::string("status code is ") + std::string(common::StatusCodeName(code))) {
  const common::Status& s = ::pageserver::testing::ToStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const common::Status& s = ::pageserver::testing::ToStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

}  // namespace pageserver::testing

#define EXPECT_OK(expr)                                                          \
  do {                                                                           \
    const auto& ps_expect_ok_ = (expr);                                          \
    EXPECT_TRUE(::pageserver::testing::ToStatus(ps_expect_ok_).ok())             \
        << ::pageserver::testing::ToStatus(ps_expect_ok_).ToString();            \
  } while (0)

#define ASSERT_OK(expr)                                                          \
  do {                                                                           \
    const auto& ps_assert_ok_ = (expr);                                          \
    ASSERT_TRUE(::pageserver::testing::ToStatus(ps_assert_ok_).ok())             \
        << ::pageserver::testing::ToStatus(ps_assert_ok_).ToString();            \
  } while (0)

#define PS_TEST_CONCAT_INNER(a, b) a##b
#define PS_TEST_CONCAT(a, b) PS_TEST_CONCAT_INNER(a, b)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  PS_ASSERT_OK_AND_ASSIGN_IMPL(PS_TEST_CONCAT(ps_test_result_, __LINE__), lhs, rexpr)

#define PS_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, rexpr)             \
  auto tmp = (rexpr);                                             \
  ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString();         \
  lhs = std::move(tmp).value()
