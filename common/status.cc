#include "common/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pageserver::common {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kIoError: return "IoError";
    case StatusCode::kUnsupported: return "Unsupported";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kTimedOut: return "TimedOut";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kAborted: return "Aborted";
    case StatusCode::kInternal: return "Internal";
  }
  return "Unknown";
}

Status::Status(StatusCode code, int error_number, std::string_view msg)
    : rep_(std::make_unique<Rep>(Rep{code, error_number, std::string(msg)})) {}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

namespace {

StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return StatusCode::kNotFound;
    case EEXIST:
      return StatusCode::kAlreadyExists;
    case EINVAL:
    case EBADF:
    case EISDIR:
    case ENAMETOOLONG:
    case EFAULT:
      return StatusCode::kInvalidArgument;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EAGAIN:
      return StatusCode::kResourceExhausted;
    case ETIMEDOUT:
      return StatusCode::kTimedOut;
    case ENOSYS:
    case EOPNOTSUPP:
      return StatusCode::kUnsupported;
    case ECANCELED:
    case EINTR:
      return StatusCode::kAborted;
    default:
      return StatusCode::kIoError;
  }
}

}  // namespace

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Status(CodeForErrno(err), err, msg);
}

std::string_view Status::message() const {
  return rep_ ? std::string_view(rep_->message) : std::string_view();
}

bool Status::IsFatal() const {
  const int err = error_number();
  return err == EIO || err == EROFS || err == EACCES;
}

bool Status::IsRetryable() const {
  const int err = error_number();
  if (err == ENOSPC || err == EDQUOT || err == EAGAIN || err == EINTR) return true;
  return code() == StatusCode::kResourceExhausted || code() == StatusCode::kTimedOut;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  std::string msg(context);
  msg += ": ";
  msg += rep_->message;
  return Status(rep_->code, rep_->error_number, msg);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(rep_->code));
  out += ": ";
  out += rep_->message;
  if (rep_->error_number != 0) {
    out += " (errno ";
    out += std::to_string(rep_->error_number);
    out += ")";
  }
  return out;
}

void DieWithStatus(std::string_view what, const Status& status) {
  std::fprintf(stderr, "FATAL: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

}  // namespace pageserver::common
