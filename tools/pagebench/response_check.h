#pragma once

// Checks one GetPage response against the request it answers, so that a
// fast wrong answer counts as an error instead of as throughput.
//
// A response passes only when every one of these holds, checked in this
// order (the first failure is the verdict):
//   tag is GetPage (102)              else kServerError for an Error (103)
//                                     response, kWrongTag for any other tag
//   echoed reqid == request's         else kReqidMismatch
//   echoed request_lsn and not_modified_since == request's
//                                     else kLsnMismatch
//   echoed rel (spc, db, rel, fork) == request's
//                                     else kRelMismatch
//   echoed blkno == request's         else kBlknoMismatch
//   page is exactly 8192 bytes        else kPageSize
// The echo fields exist only in pagestream v3, which pagebench always uses.
//
// Thread-safety: pure functions.

#include <array>
#include <cstdint>
#include <string_view>

#include "server/pagestream.h"

namespace pageserver::pagebench {

enum class ResponseVerdict : uint8_t {
  kOk = 0,
  kServerError,
  kWrongTag,
  kReqidMismatch,
  kLsnMismatch,
  kRelMismatch,
  kBlknoMismatch,
  kPageSize,
  // The response did not decode (client::PageClient::TryReceive answered
  // Corruption); it is dropped and the stream goes on.
  kMalformed,
  // Not a response check: the connection failed; every request then in
  // flight on it is counted with this verdict.
  kConnectionLost,
};
inline constexpr size_t kVerdictCount = 10;

// "ok", "server_error", "wrong_tag", "reqid_mismatch", "lsn_mismatch",
// "rel_mismatch", "blkno_mismatch", "page_size", "malformed",
// "connection_lost".
std::string_view VerdictName(ResponseVerdict verdict);

ResponseVerdict CheckGetPageResponse(const server::GetPageRequest& request,
                                     const server::PagestreamResponse& response);

// Requests per verdict.
struct VerdictCounts {
  std::array<uint64_t, kVerdictCount> counts{};
  void Add(ResponseVerdict v, uint64_t n = 1) { counts[static_cast<size_t>(v)] += n; }
  void Add(const VerdictCounts& other);
  uint64_t ok() const { return counts[0]; }
  // Every count but kOk.
  uint64_t errors() const;
};

}  // namespace pageserver::pagebench
