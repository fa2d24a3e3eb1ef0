#pragma once

// CopyBothConnection: one libpq connection to the page service that a simple
// query ("pagestream_v3 <tenant> <timeline>", "ingest ...") switched to COPY
// BOTH, carrying one protocol message per CopyData in each direction. The
// common transport of PageClient and IngestClient.
//
//   ASSIGN_OR_RETURN(auto conn, CopyBothConnection::Connect("host=127.0.0.1 port=64000"));
//   RETURN_IF_ERROR(conn->StartCopyBoth("pagestream_v3 <tenant hex> <timeline hex>"));
//   RETURN_IF_ERROR(conn->Send(bytes));        // queued in libpq's buffer
//   RETURN_IF_ERROR(conn->Flush());            // written to the socket
//   ASSIGN_OR_RETURN(auto reply, conn->Receive(timeout));
//   RETURN_IF_ERROR(conn->Close());            // CopyDone, drain, Terminate
//
// The connection stays in libpq's blocking mode for writes (Send may block
// while the socket is full); reads wait with poll() so that Receive honours a
// timeout and TryReceive never blocks.
//
// Deadlock rule for pipelining: the server answers while it reads, so a
// client that sends without reading must keep the bytes it has outstanding
// below what the socket buffers hold (a queue depth of a few hundred small
// requests is fine; unbounded sending is not).
//
// Errors: every failure is a Status carrying libpq's message.
//   IoError     connection failure, lost connection, server closed the copy
//               (the server's ErrorResponse message is included), a timeout
//               while flushing.
//   TimedOut    Receive waited longer than its timeout.
//   InvalidArgument  the query did not switch to COPY BOTH (its error text).
// After an error the connection is broken: only Close and the destructor are
// meaningful.
//
// Thread-safety: none; one thread uses a connection at a time. Distinct
// connections are independent.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;

namespace pageserver::client {

class CopyBothConnection {
 public:
  // PQconnectdb(conninfo): "host=127.0.0.1 port=P", "host=/dir port=P" (the
  // Unix socket /dir/.s.PGSQL.P), plus any libpq keyword (connect_timeout,
  // application_name, ...). IoError with libpq's message on failure.
  static common::Result<std::unique_ptr<CopyBothConnection>> Connect(const std::string& conninfo);

  ~CopyBothConnection();
  CopyBothConnection(const CopyBothConnection&) = delete;
  CopyBothConnection& operator=(const CopyBothConnection&) = delete;

  // PQexec(query); OK when the server answers PGRES_COPY_BOTH.
  // REQUIRES: not yet in COPY BOTH.
  common::Status StartCopyBoth(const std::string& query);

  // Queues one CopyData message (PQputCopyData). REQUIRES: in COPY BOTH.
  common::Status Send(std::span<const std::byte> message);
  // Writes everything queued (PQflush), waiting up to `timeout`.
  common::Status Flush(std::chrono::milliseconds timeout = std::chrono::minutes(2));

  // The next CopyData message from the server, waiting up to `timeout`.
  common::Result<std::vector<std::byte>> Receive(std::chrono::milliseconds timeout);
  // The next message if one has already arrived, else nullopt; never blocks.
  common::Result<std::optional<std::vector<std::byte>>> TryReceive();

  // Ends the copy (CopyDone), waits up to `timeout` for the server to finish
  // the command, then closes the connection. Idempotent; the destructor
  // closes without the wait.
  common::Status Close(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The socket, for callers that multiplex many connections with poll/epoll
  // and then call TryReceive. -1 once closed.
  int socket() const;
  bool in_copy() const { return in_copy_; }

 private:
  explicit CopyBothConnection(pg_conn* conn) : conn_(conn) {}
  // One attempt to take a message out of libpq's input buffer.
  common::Result<std::optional<std::vector<std::byte>>> TakeMessage();
  // The server ended the copy: collect its error (or completion) message.
  common::Status CopyEndedByServer();
  common::Status WaitSocket(bool for_write, std::chrono::milliseconds timeout);
  common::Status DrainAfterCopyEnd(std::chrono::steady_clock::time_point deadline);
  common::Status Broken(std::string_view what);

  pg_conn* conn_ = nullptr;
  bool in_copy_ = false;
};

}  // namespace pageserver::client
