#pragma once

// IngestClient: feeds (LSN, key, value) records to a timeline over the ingest
// stream (server/ingest_stream.h) of a running pageserver.
//
//   ASSIGN_OR_RETURN(auto ingest, IngestClient::Connect(conninfo, tenant, timeline));
//   RETURN_IF_ERROR(ingest->Put(Lsn{0x10}, key, value));   // buffered
//   ASSIGN_OR_RETURN(IngestStatus s, ingest->Commit(Lsn{0x10}));
//   ASSIGN_OR_RETURN(s, ingest->Flush());                  // checkpoint
//   RETURN_IF_ERROR(ingest->Close());
//
// Put appends to a message buffer and sends a CopyData message once the
// buffer holds kSendThreshold bytes (records never span messages; the
// server applies nothing of a commit before it has the whole commit, so
// splitting puts across messages is invisible). Commit and Flush append
// their record, send the buffer and wait for the server's status reply.
//
// Errors: the server rejects a bad record by ending the stream with an
// ErrorResponse naming the record; that surfaces as IoError carrying the
// server's message from the Put that sent it, or from Commit/Flush. After
// any error the client is unusable. Never throws.
//
// Thread-safety: none; one thread per client.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "client/copy_both_connection.h"
#include "common/status.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "server/ingest_stream.h"
#include "timeline/value.h"

namespace pageserver::client {

// "ingest <tenant hex> <timeline hex>".
std::string IngestCommand(const layers::TenantId& tenant, const layers::TimelineId& timeline);

class IngestClient {
 public:
  // Buffered put bytes that trigger a send: large enough to amortize a
  // CopyData message per record, small enough not to hold much memory.
  static constexpr size_t kSendThreshold = 256 * 1024;

  struct Options {
    // How long Commit and Flush wait for the status reply (a Flush writes
    // layer files, so this is generous).
    std::chrono::milliseconds reply_timeout = std::chrono::minutes(5);
  };

  // Connects and switches to the ingest stream of one timeline.
  static common::Result<std::unique_ptr<IngestClient>> Connect(const std::string& conninfo,
                                                               const layers::TenantId& tenant,
                                                               const layers::TimelineId& timeline,
                                                               Options options);
  static common::Result<std::unique_ptr<IngestClient>> Connect(const std::string& conninfo,
                                                               const layers::TenantId& tenant,
                                                               const layers::TimelineId& timeline) {
    return Connect(conninfo, tenant, timeline, Options());
  }

  common::Status Put(layers::Lsn lsn, const layers::Key& key, const timeline::Value& value);
  // Makes every put at or below `lsn` visible; returns the server's status.
  common::Result<server::IngestStatus> Commit(layers::Lsn lsn);
  // Checkpoints everything committed so far; returns the server's status.
  common::Result<server::IngestStatus> Flush();
  // Ends the stream (uncommitted puts are dropped by the server) and closes.
  common::Status Close();

  // Bytes buffered and not yet sent.
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  IngestClient(std::unique_ptr<CopyBothConnection> conn, Options options)
      : conn_(std::move(conn)), options_(options) {}
  common::Status SendBuffer();
  common::Result<server::IngestStatus> SendAndAwaitStatus();

  std::unique_ptr<CopyBothConnection> conn_;
  Options options_;
  std::vector<std::byte> buffer_;
};

}  // namespace pageserver::client
