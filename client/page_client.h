#pragma once

// PageClient: a libpq client of the page service speaking Neon's pagestream
// (server/pagestream.h), v2 or v3.
//
//   ASSIGN_OR_RETURN(auto client, PageClient::Connect("host=127.0.0.1 port=64000"));
//   RETURN_IF_ERROR(client->StartPagestream(PagestreamVersion::kV3, tenant, timeline));
//   ASSIGN_OR_RETURN(auto page, client->GetPage(rel, blkno, ReadPoint::AtLsn(lsn)));
//   RETURN_IF_ERROR(client->Close());
//
// Two ways to talk:
//   - Blocking conveniences (GetPage, Exists, Nblocks, DbSize, GetSlruSegment):
//     one request, one response. They check the response: its tag must fit
//     the request and, in v3, the echoed reqid, request_lsn,
//     not_modified_since and body fields (rel, blkno, dbnode, kind/segno) must
//     equal what was sent. REQUIRES: no pipelined request outstanding.
//   - Pipelining (load generators): Send() any number of requests, Flush(),
//     then Receive() their responses in order. The server answers in request
//     order; CheckResponse() verifies one response against its request. The
//     connection keeps reading while it writes, so a deep queue cannot
//     deadlock, but responses accumulate in memory until received.
//
// Errors (Status codes):
//   Aborted      the server answered with a pagestream Error response; the
//                message is "server error for <request>: <server's message>".
//   Corruption   a response that does not decode or does not match its
//                request (wrong tag, echoed field differs): a protocol
//                violation, the connection should be dropped.
//   IoError      libpq: connection failure, lost connection, or the server
//                ended the stream with an ErrorResponse (its message
//                included). TimedOut: no response within receive_timeout.
//   InvalidArgument  the pagestream command was refused (unknown tenant,
//                    bad version...), with the server's message.
// Never throws.
//
// Thread-safety: none; one thread per client. Clients are independent.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/copy_both_connection.h"
#include "common/status.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "server/pagestream.h"

namespace pageserver::client {

// The LSN pair of a request (Neon's semantics): read the newest version at or
// below request_lsn, promising that the page did not change after
// not_modified_since.
struct ReadPoint {
  layers::Lsn request_lsn;
  layers::Lsn not_modified_since;
  // request_lsn = not_modified_since = lsn: a read at exactly that LSN.
  static ReadPoint AtLsn(layers::Lsn lsn) { return ReadPoint{lsn, lsn}; }
  // request_lsn = latest (Lsn::Max), not_modified_since = `last_record_lsn`
  // (e.g. from the timeline's detail): what a primary compute sends.
  static ReadPoint Latest(layers::Lsn last_record_lsn) {
    return ReadPoint{layers::Lsn::Max(), last_record_lsn};
  }
};

// Parses a relation fork as written by RelTag::ToString: "spc/db/rel" for the
// main fork, with "_fsm", "_vm" or "_init" appended for the others
// ("1663/5/16384_vm"). InvalidArgument naming the text otherwise.
common::Result<layers::RelTag> ParseRelTag(std::string_view text);

// "pagestream_v3 <tenant hex> <timeline hex>" (v2: "pagestream_v2 ...").
std::string PagestreamCommand(server::PagestreamVersion version, const layers::TenantId& tenant,
                              const layers::TimelineId& timeline);

// OK when `response` answers `request` (sent with `version`): the tag
// matches (an Error response is always a match; its text is the caller's),
// and in v3 every echoed field equals the request's. Corruption naming the
// first field that differs otherwise.
common::Status CheckResponse(server::PagestreamVersion version,
                             const server::PagestreamRequest& request,
                             const server::PagestreamResponse& response);

// Turns an Error response into Aborted naming the request; OK otherwise.
common::Status ErrorResponseStatus(const server::PagestreamRequest& request,
                                   const server::PagestreamResponse& response);

// "get_page 1663/5/16384 blk 7 at FFFFFFFF/FFFFFFFF (not modified since 0/16B5A50)".
std::string DescribeRequest(const server::PagestreamRequest& request);

class PageClient {
 public:
  struct Options {
    // How long Receive and the conveniences wait for a response.
    std::chrono::milliseconds receive_timeout = std::chrono::minutes(2);
  };

  // Connects (see CopyBothConnection::Connect for conninfo forms).
  static common::Result<std::unique_ptr<PageClient>> Connect(const std::string& conninfo,
                                                             Options options);
  static common::Result<std::unique_ptr<PageClient>> Connect(const std::string& conninfo) {
    return Connect(conninfo, Options());
  }

  // Switches the connection to pagestream `version` for one timeline.
  // REQUIRES: called once, before any request.
  common::Status StartPagestream(server::PagestreamVersion version, const layers::TenantId& tenant,
                                 const layers::TimelineId& timeline);

  // --- Pipelining ---
  // A fresh request id (1, 2, 3, ...) for a v3 request.
  uint64_t NextRequestId() { return next_reqid_++; }
  // Queues one request (its reqid is sent as given in v3, dropped in v2).
  common::Status Send(const server::PagestreamRequest& request);
  // Writes all queued requests to the socket.
  common::Status Flush();
  // The next response in order, decoded but not checked (see CheckResponse).
  common::Result<server::PagestreamResponse> Receive();
  // A response if one already arrived; never blocks.
  common::Result<std::optional<server::PagestreamResponse>> TryReceive();

  // --- One request at a time (each assigns a reqid and checks the echo) ---
  common::Result<std::vector<std::byte>> GetPage(const layers::RelTag& rel, uint32_t blkno,
                                                 ReadPoint at);
  common::Result<bool> Exists(const layers::RelTag& rel, ReadPoint at);
  common::Result<uint32_t> Nblocks(const layers::RelTag& rel, ReadPoint at);
  common::Result<int64_t> DbSize(uint32_t dbnode, ReadPoint at);
  // The segment's blocks, concatenated.
  common::Result<std::vector<std::byte>> GetSlruSegment(layers::SlruKind kind, uint32_t segno,
                                                        ReadPoint at);
  // Sends `request`, waits for its response, checks it; an Error response
  // becomes Aborted.
  common::Result<server::PagestreamResponse> Call(const server::PagestreamRequest& request);

  // Ends the stream with CopyDone and closes the connection (bounded wait).
  common::Status Close();

  server::PagestreamVersion version() const { return version_; }
  // The socket, for poll/epoll-driven load generators; -1 once closed.
  int socket() const { return conn_->socket(); }

 private:
  PageClient(std::unique_ptr<CopyBothConnection> conn, Options options)
      : conn_(std::move(conn)), options_(options) {}
  server::RequestHeader Header(ReadPoint at) {
    return server::RequestHeader{NextRequestId(), at.request_lsn, at.not_modified_since};
  }

  std::unique_ptr<CopyBothConnection> conn_;
  Options options_;
  server::PagestreamVersion version_ = server::PagestreamVersion::kV3;
  uint64_t next_reqid_ = 1;
};

}  // namespace pageserver::client
