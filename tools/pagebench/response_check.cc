#include "tools/pagebench/response_check.h"

#include "timeline/value.h"

namespace pageserver::pagebench {

using server::PagestreamResponseTag;

std::string_view VerdictName(ResponseVerdict verdict) {
  static constexpr std::array<std::string_view, kVerdictCount> kNames = {
      "ok",           "server_error",   "wrong_tag", "reqid_mismatch", "lsn_mismatch",
      "rel_mismatch", "blkno_mismatch", "page_size", "malformed",      "connection_lost"};
  return kNames[static_cast<size_t>(verdict)];
}

ResponseVerdict CheckGetPageResponse(const server::GetPageRequest& request,
                                     const server::PagestreamResponse& response) {
  if (response.tag == PagestreamResponseTag::kError) return ResponseVerdict::kServerError;
  if (response.tag != PagestreamResponseTag::kGetPage) return ResponseVerdict::kWrongTag;
  if (response.hdr.reqid != request.hdr.reqid) return ResponseVerdict::kReqidMismatch;
  if (response.hdr.request_lsn != request.hdr.request_lsn ||
      response.hdr.not_modified_since != request.hdr.not_modified_since) {
    return ResponseVerdict::kLsnMismatch;
  }
  if (response.rel != request.rel) return ResponseVerdict::kRelMismatch;
  if (response.blkno != request.blkno) return ResponseVerdict::kBlknoMismatch;
  if (response.data.size() != timeline::kPageSize) return ResponseVerdict::kPageSize;
  return ResponseVerdict::kOk;
}

void VerdictCounts::Add(const VerdictCounts& other) {
  for (size_t i = 0; i < kVerdictCount; ++i) counts[i] += other.counts[i];
}

uint64_t VerdictCounts::errors() const {
  uint64_t n = 0;
  for (size_t i = 1; i < kVerdictCount; ++i) n += counts[i];
  return n;
}

}  // namespace pageserver::pagebench
