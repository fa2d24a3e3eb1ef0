#pragma once

// Status and Result<T>: the error currency of every IO path.
//
// An OK Status is a null pointer and costs nothing to create, copy or test. An
// error carries a code, the errno that caused it (0 when none) and a context
// message naming the operation and its arguments (path, offset, length).
//
// Policy (see RFC.md "Error policy"):
//   - FromErrno() is the single place that maps errno values to codes.
//   - EIO, EROFS and EACCES are fatal: the device or the mount is no longer
//     trusted (Neon aborts on these). ENOSPC and EAGAIN are retryable.
//   - A missing key or file is NotFound: a normal answer, never logged as an
//     error by libraries.
//   - A checksum mismatch or a short read where the format fixes a length is
//     Corruption.
//
// Thread-safety: a Status is a value; distinct objects may be used from
// different threads. Copies are deep and independent.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace pageserver::common {

enum class StatusCode : unsigned char {
  kOk = 0,
  kNotFound,
  kCorruption,
  kInvalidArgument,
  kIoError,
  kUnsupported,
  kResourceExhausted,
  kTimedOut,
  kAlreadyExists,
  kAborted,
  kInternal,
};

// "NotFound", "Corruption", ... for logs and Status::ToString().
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(StatusCode::kNotFound, 0, msg); }
  static Status Corruption(std::string_view msg) { return Status(StatusCode::kCorruption, 0, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(StatusCode::kInvalidArgument, 0, msg);
  }
  static Status IoError(std::string_view msg) { return Status(StatusCode::kIoError, 0, msg); }
  static Status Unsupported(std::string_view msg) {
    return Status(StatusCode::kUnsupported, 0, msg);
  }
  static Status ResourceExhausted(std::string_view msg) {
    return Status(StatusCode::kResourceExhausted, 0, msg);
  }
  static Status TimedOut(std::string_view msg) { return Status(StatusCode::kTimedOut, 0, msg); }
  static Status AlreadyExists(std::string_view msg) {
    return Status(StatusCode::kAlreadyExists, 0, msg);
  }
  static Status Aborted(std::string_view msg) { return Status(StatusCode::kAborted, 0, msg); }
  static Status Internal(std::string_view msg) { return Status(StatusCode::kInternal, 0, msg); }

  // Maps an errno value to a Status; `context` names the operation and its
  // arguments, e.g. FromErrno(ENOENT, "open /data/x") is NotFound with
  // errno 2 and ToString() "NotFound: open /data/x: No such file or directory".
  // REQUIRES: err > 0.
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The errno behind this error, 0 when it did not come from a syscall.
  int error_number() const { return rep_ ? rep_->error_number : 0; }
  // The context message without the code name; empty when OK.
  std::string_view message() const;

  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  // EIO, EROFS, EACCES: the storage can no longer be trusted.
  bool IsFatal() const;
  // ENOSPC, EAGAIN, EINTR, ResourceExhausted, TimedOut: may succeed later.
  bool IsRetryable() const;

  // Returns a copy whose message is "<context>: <message>". OK stays OK.
  Status WithContext(std::string_view context) const;

  // "OK" or "<Code>: <message>" (plus " (errno N)" when an errno is set).
  std::string ToString() const;

 private:
  struct Rep {
    StatusCode code;
    int error_number;
    std::string message;
  };
  Status(StatusCode code, int error_number, std::string_view msg);

  std::unique_ptr<Rep> rep_;
};

inline bool operator==(const Status& a, const Status& b) {
  return a.code() == b.code() && a.error_number() == b.error_number() &&
         a.message() == b.message();
}

// Result<T>: a T or an error Status. The surface follows std::expected
// (has_value, operator*, operator->, value, error) so moving to it later is a
// rename. Accessing the value of an error Result is a programming error and
// aborts with the Status printed.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is meaningless");

 public:
  // NOLINTNEXTLINE(google-explicit-constructor): implicit by design, as expected<T>.
  Result(T value) : value_(std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK Status");
  }

  bool has_value() const { return value_.has_value(); }
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { CheckValue(); return *value_; }
  const T& value() const& { CheckValue(); return *value_; }
  T&& value() && { CheckValue(); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; OK when has_value().
  const Status& error() const& { return status_; }
  Status&& error() && { return std::move(status_); }
  const Status& status() const& { return status_; }
  Status&& status() && { return std::move(status_); }

 private:
  void CheckValue() const;

  Status status_;
  std::optional<T> value_;
};

// Aborts the process printing `what` and the status; used for broken
// invariants, never for IO results.
[[noreturn]] void DieWithStatus(std::string_view what, const Status& status);

template <typename T>
void Result<T>::CheckValue() const {
  if (!value_.has_value()) DieWithStatus("Result::value() on an error", status_);
}

}  // namespace pageserver::common

#define PS_STATUS_CONCAT_INNER(a, b) a##b
#define PS_STATUS_CONCAT(a, b) PS_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (a Status); returns it from the calling function if not OK.
#define RETURN_IF_ERROR(expr)                                      \
  do {                                                             \
    ::pageserver::common::Status ps_status_tmp_ = (expr);          \
    if (!ps_status_tmp_.ok()) return ps_status_tmp_;               \
  } while (0)

// Evaluates `rexpr` (a Result<T>); on error returns its Status, otherwise
// moves the value into `lhs` (a declaration such as `auto fd` or an lvalue).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  PS_ASSIGN_OR_RETURN_IMPL(PS_STATUS_CONCAT(ps_result_, __LINE__), lhs, rexpr)

#define PS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                             \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
