#include "client/copy_both_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <string>

namespace pageserver::client {
namespace {

using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// libpq messages end with a newline; Status messages read better without.
std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1'000'000'000 ? 1'000'000'000 : int(left);
}

Clock::time_point DeadlineAfter(milliseconds timeout) {
  // Saturate: a caller may pass milliseconds::max() for "forever".
  const auto max_wait = std::chrono::duration_cast<milliseconds>(std::chrono::hours(24 * 365));
  return Clock::now() + (timeout > max_wait ? max_wait : timeout);
}

// How long Send waits for room in the socket before giving up.
constexpr milliseconds kWriteTimeout = std::chrono::minutes(2);

}  // namespace

Result<std::unique_ptr<CopyBothConnection>> CopyBothConnection::Connect(
    const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Status::ResourceExhausted("PQconnectdb: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Status::IoError("connect to '" + conninfo + "': " + message);
  }
  return std::unique_ptr<CopyBothConnection>(new CopyBothConnection(conn));
}

CopyBothConnection::~CopyBothConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

int CopyBothConnection::socket() const { return conn_ ? PQsocket(conn_) : -1; }

Status CopyBothConnection::Broken(std::string_view what) {
  std::string message = conn_ ? Trimmed(PQerrorMessage(conn_)) : "connection closed";
  if (message.empty()) message = "connection lost";
  return Status::IoError(std::string(what) + ": " + message);
}

Status CopyBothConnection::StartCopyBoth(const std::string& query) {
  if (conn_ == nullptr) return Status::IoError(query + ": connection closed");
  PGresult* result = PQexec(conn_, query.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::string message = Trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  PQclear(result);
  if (status == PGRES_COPY_BOTH) {
    in_copy_ = true;
    // Non-blocking writes let Send and Flush keep reading while the socket is
    // full, so a pipelining client never deadlocks against the server.
    if (PQsetnonblocking(conn_, 1) != 0) return Broken("PQsetnonblocking");
    return Status::Ok();
  }
  if (PQstatus(conn_) == CONNECTION_BAD) return Status::IoError(query + ": " + message);
  if (message.empty()) message = std::string("unexpected result ") + PQresStatus(status);
  return Status::InvalidArgument(query + ": " + message);
}

// Waits until the socket is readable (or writable when libpq still holds
// output), reading whatever arrived into libpq's buffer. OK after progress,
// TimedOut when the deadline passed first.
Status CopyBothConnection::WaitSocket(bool for_write, milliseconds timeout) {
  pollfd pfd{PQsocket(conn_), short(POLLIN | (for_write ? POLLOUT : 0)), 0};
  if (pfd.fd < 0) return Broken("poll");
  int rc;
  do {
    rc = ::poll(&pfd, 1, int(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return Status::FromErrno(errno, "poll on the page service connection");
  if (rc == 0)
    return Status::TimedOut("no progress within " + std::to_string(timeout.count()) + " ms");
  if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && PQconsumeInput(conn_) == 0) {
    return Broken("reading from the server");
  }
  return Status::Ok();
}

Status CopyBothConnection::Send(std::span<const std::byte> message) {
  if (!in_copy_) return Status::IoError("send: not in COPY BOTH");
  const auto* data = reinterpret_cast<const char*>(message.data());
  const Clock::time_point deadline = DeadlineAfter(kWriteTimeout);
  for (;;) {
    const int rc = PQputCopyData(conn_, data, int(message.size()));
    if (rc == 1) return Status::Ok();
    if (rc < 0) return Broken("PQputCopyData");
    // 0: libpq's buffer is full; make room, reading meanwhile.
    if (PQflush(conn_) < 0) return Broken("PQflush");
    const Status waited = WaitSocket(true, milliseconds(RemainingMs(deadline)));
    if (waited.code() == common::StatusCode::kTimedOut) {
      return Status::IoError("send to the server: " + std::string(waited.message()));
    }
    RETURN_IF_ERROR(waited);
  }
}

Status CopyBothConnection::Flush(milliseconds timeout) {
  if (conn_ == nullptr) return Status::IoError("flush: connection closed");
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    const int rc = PQflush(conn_);
    if (rc == 0) return Status::Ok();
    if (rc < 0) return Broken("PQflush");
    const Status waited = WaitSocket(true, milliseconds(RemainingMs(deadline)));
    if (waited.code() == common::StatusCode::kTimedOut) {
      return Status::IoError("flush to the server: " + std::string(waited.message()));
    }
    RETURN_IF_ERROR(waited);
  }
}

Result<std::optional<std::vector<std::byte>>> CopyBothConnection::TakeMessage() {
  char* buffer = nullptr;
  const int rc = PQgetCopyData(conn_, &buffer, /*async=*/1);
  if (rc > 0) {
    const auto* bytes = reinterpret_cast<const std::byte*>(buffer);
    std::vector<std::byte> message(bytes, bytes + rc);
    PQfreemem(buffer);
    return std::optional<std::vector<std::byte>>(std::move(message));
  }
  if (rc == 0) return std::optional<std::vector<std::byte>>();
  if (rc == -1) return CopyEndedByServer();
  return Broken("PQgetCopyData");
}

Status CopyBothConnection::CopyEndedByServer() {
  in_copy_ = false;
  std::string message;
  const Clock::time_point deadline = DeadlineAfter(std::chrono::seconds(5));
  // A bound on results: the server sends at most an error, a completion and
  // ReadyForQuery; a misbehaving one must not keep us here.
  for (int results = 0; results < 16;) {
    if (PQisBusy(conn_) != 0) {
      if (!WaitSocket(false, milliseconds(RemainingMs(deadline))).ok()) break;
      continue;
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    ++results;
    const ExecStatusType status = PQresultStatus(result);
    const std::string text = Trimmed(PQresultErrorMessage(result));
    PQclear(result);
    if (!text.empty() && message.empty()) message = text;
    // The server sent CopyDone while we may still send: end our side too,
    // or libpq keeps reporting the copy as open.
    if (status == PGRES_COPY_IN && (PQputCopyEnd(conn_, nullptr) < 0 || PQflush(conn_) < 0)) {
      break;
    }
    if (status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) break;
  }
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  if (message.empty()) message = "the server ended the copy stream";
  return Status::IoError("server ended the stream: " + message);
}

Result<std::optional<std::vector<std::byte>>> CopyBothConnection::TryReceive() {
  if (!in_copy_) return Status::IoError("receive: not in COPY BOTH");
  if (PQconsumeInput(conn_) == 0) return Broken("reading from the server");
  if (PQflush(conn_) < 0) return Broken("PQflush");
  return TakeMessage();
}

Result<std::vector<std::byte>> CopyBothConnection::Receive(milliseconds timeout) {
  if (!in_copy_) return Status::IoError("receive: not in COPY BOTH");
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<std::vector<std::byte>> message, TakeMessage());
    if (message.has_value()) return std::move(*message);
    // Requests the caller queued but did not flush still go out, so a
    // forgotten Flush costs latency, not a hang.
    const int pending = PQflush(conn_);
    if (pending < 0) return Broken("PQflush");
    const Status waited = WaitSocket(pending == 1, milliseconds(RemainingMs(deadline)));
    if (waited.code() == common::StatusCode::kTimedOut) {
      return Status::TimedOut("waiting for the server's reply: " + std::string(waited.message()));
    }
    RETURN_IF_ERROR(waited);
  }
}

Status CopyBothConnection::Close(milliseconds timeout) {
  if (conn_ == nullptr) return Status::Ok();
  Status status;
  if (in_copy_) {
    in_copy_ = false;
    if (PQputCopyEnd(conn_, nullptr) < 0) {
      status = Broken("PQputCopyEnd");
    } else {
      status = Flush(timeout);
    }
    if (status.ok()) status = DrainAfterCopyEnd(DeadlineAfter(timeout));
  }
  PQfinish(conn_);
  conn_ = nullptr;
  return status;
}

// After CopyDone: discards the server's remaining messages until it completes
// the command. A server that closes the connection instead is fine too; only
// a server that does neither before the deadline is an error.
Status CopyBothConnection::DrainAfterCopyEnd(Clock::time_point deadline) {
  for (;;) {
    char* buffer = nullptr;
    const int rc = PQgetCopyData(conn_, &buffer, /*async=*/1);
    if (rc > 0) {
      PQfreemem(buffer);
      continue;
    }
    if (rc == -2) return Status::Ok();
    if (rc == -1 && PQisBusy(conn_) == 0) {
      PGresult* result = PQgetResult(conn_);
      if (result == nullptr) return Status::Ok();
      const ExecStatusType status = PQresultStatus(result);
      PQclear(result);
      // Only a completion or an error may follow our CopyDone; anything else
      // (a copy state libpq cannot leave) ends the drain.
      if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
        return Status::Ok();
      }
      continue;
    }
    const Status waited = WaitSocket(false, milliseconds(RemainingMs(deadline)));
    if (waited.code() == common::StatusCode::kTimedOut) {
      return Status::TimedOut("closing the copy: the server did not finish the command");
    }
    if (!waited.ok()) return Status::Ok();  // the server closed the connection
  }
}

}  // namespace pageserver::client
