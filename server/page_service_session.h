#pragma once

// The page service's per-command sessions, private to page_service*.cc:
// what one connection runs after a simple query switched it to COPY BOTH
// or COPY IN. page_service.cc parses the command, resolves the timeline and
// calls one of these on the connection thread.
//
// Return contract: a value means the copy ended in a way the connection
// survives (each function says what the caller still sends); an error ends
// the connection: ctx.error_sent says whether an ErrorResponse naming it
// was already sent, ctx.client_gone whether the client left (nothing more
// to send).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "layers/ids.h"
#include "layers/lsn.h"
#include "server/page_service.h"
#include "server/page_service_channel.h"
#include "server/page_service_metrics.h"
#include "server/pagestream.h"
#include "server/pgwire.h"
#include "timeline/timeline.h"

namespace pageserver::server {

struct ConnectionContext {
  MessageChannel& channel;
  PageServiceMetrics& metrics;
  const PageServiceOptions& options;
  const std::atomic<bool>& stopping;
  bool client_gone = false;         // Terminate, EOF or a dead socket
  bool error_sent = false;          // an ErrorResponse for the ending error went out
  bool protocol_violation = false;  // a well-framed message that breaks the protocol

  // Sends an ErrorResponse (and nothing else).
  common::Status SendError(std::string_view sqlstate, std::string_view message);
  // Marks the client gone and returns the status to end the connection with.
  common::Status ClientGone(std::string_view why);
  // Marks a protocol violation and returns InvalidArgument(why).
  common::Status ProtocolViolation(std::string_view why);
  // "unexpected <message> message <where>" as a protocol violation.
  common::Status Unexpected(pgwire::FrontendTag tag, std::string_view where);
};

// `pagestream_v2|v3`: COPY BOTH of pagestream requests and responses. OK:
// the client ended the copy and CopyDone/CommandComplete were sent; the
// caller sends ReadyForQuery.
common::Status ServePagestream(ConnectionContext& ctx, PagestreamVersion version,
                               const timeline::Timeline& timeline);

// How an ingest stream ended when the connection goes on (or, for
// kRejected, ends after the caller sent the error). The caller sends the
// closing messages only after it released the timeline, so a client that
// reacts to them at once finds the timeline free.
struct IngestEnd {
  enum class Kind : uint8_t {
    kCopyDone,  // send CopyDone, CommandComplete, ReadyForQuery
    kCopyFail,  // the client failed the copy: send `error`, ReadyForQuery
    kRejected,  // a bad record: send `error` and close
  };
  Kind kind = Kind::kCopyDone;
  common::Status error;
};

// `ingest`: COPY BOTH of ingest records and statuses. REQUIRES: the caller
// claimed the timeline for this connection; the session makes this thread
// the timeline's ingest thread and detaches before returning (any path).
// An error (transport, protocol, stop) ends the connection.
common::Result<IngestEnd> ServeIngest(ConnectionContext& ctx, timeline::Timeline& timeline);

// `import basebackup`: CopyInResponse, then the tar from CopyData messages
// into `timeline` at `lsn`, detaching ingest before returning. The outcome
// is not sent: the caller deletes a failed timeline first, then answers
// (CommandComplete or an ErrorResponse, then ReadyForQuery). An error
// (transport, protocol, stop) ends the connection.
struct ImportOutcome {
  bool imported = false;
  common::Status failure;        // why, when !imported
  uint64_t relation_blocks = 0;  // when imported
};
common::Result<ImportOutcome> ServeImport(ConnectionContext& ctx, timeline::Timeline& timeline,
                                          layers::Lsn lsn);

// The LSN a pagestream request reads at (Neon's wait_or_get_last_lsn):
// InvalidArgument for request_lsn 0, request_lsn < not_modified_since, or
// request_lsn below the GC cutoff; then, if not_modified_since is above
// last_record_lsn, waits for it (up to wait_lsn_timeout: TimedOut; Aborted
// when stopping); then min(request_lsn, last_record_lsn).
common::Result<layers::Lsn> ResolveReadLsn(ConnectionContext& ctx,
                                           const timeline::Timeline& timeline,
                                           const RequestHeader& hdr);
// True when the request's LSN checks pass but it would have to wait.
bool NeedsLsnWait(const timeline::Timeline& timeline, const RequestHeader& hdr);

}  // namespace pageserver::server
