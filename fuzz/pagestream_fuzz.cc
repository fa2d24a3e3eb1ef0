// libFuzzer target for the pagestream codecs (server/pagestream.h): arbitrary
// bytes decoded as a v2 and a v3 request and as a v2 and a v3 response.
//
// Properties checked (a violation traps): a message that decodes re-encodes
// to exactly the same bytes (requests through EncodeRequest, responses
// through the Append*Response functions the server uses), so decoding is
// strict and loses nothing. Errors are fine; crashes, leaks and UB are not.
//
// Built by the fuzz preset (fuzz/CMakeLists.txt), run by scripts/fuzz.sh.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "server/pagestream.h"

namespace {

namespace ps = pageserver::server;
using Bytes = std::vector<std::byte>;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool SameBytes(const Bytes& a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void CheckRequest(ps::PagestreamVersion version, std::span<const std::byte> message) {
  auto decoded = ps::DecodeRequest(version, message);
  if (!decoded.has_value()) return;
  Check(SameBytes(ps::EncodeRequest(version, *decoded), message));
  Check(ps::HeaderOf(*decoded) == ps::HeaderOf(*ps::DecodeRequest(version, message)));
}

// Rebuilds the response from its decoded fields, as a server would send it.
Bytes Reencode(ps::PagestreamVersion v, const ps::PagestreamResponse& r) {
  Bytes out;
  switch (r.tag) {
    case ps::PagestreamResponseTag::kExists:
      ps::AppendExistsResponse(v, ps::ExistsRequest{r.hdr, r.rel}, r.exists, out);
      break;
    case ps::PagestreamResponseTag::kNblocks:
      ps::AppendNblocksResponse(v, ps::NblocksRequest{r.hdr, r.rel}, r.n_blocks, out);
      break;
    case ps::PagestreamResponseTag::kGetPage:
      ps::AppendGetPageResponse(v, ps::GetPageRequest{r.hdr, r.rel, r.blkno}, r.data, out);
      break;
    case ps::PagestreamResponseTag::kDbSize:
      ps::AppendDbSizeResponse(v, ps::DbSizeRequest{r.hdr, r.dbnode}, r.db_size, out);
      break;
    case ps::PagestreamResponseTag::kGetSlruSegment:
      Check(r.data.size() == size_t{r.n_blocks} * 8192);
      ps::AppendSlruSegmentResponse(v, ps::GetSlruSegmentRequest{r.hdr, r.slru_kind, r.slru_segno},
                                    r.data, out);
      break;
    case ps::PagestreamResponseTag::kError:
      ps::AppendErrorResponse(v, r.hdr, r.error, out);
      break;
  }
  return out;
}

void CheckResponse(ps::PagestreamVersion version, std::span<const std::byte> message) {
  auto decoded = ps::DecodeResponse(version, message);
  if (!decoded.has_value()) return;
  Check(SameBytes(Reencode(version, *decoded), message));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copied so ASan sees the exact extent of the message.
  const Bytes message(reinterpret_cast<const std::byte*>(data),
                      reinterpret_cast<const std::byte*>(data) + size);
  for (ps::PagestreamVersion v : {ps::PagestreamVersion::kV2, ps::PagestreamVersion::kV3}) {
    CheckRequest(v, message);
    CheckResponse(v, message);
  }
  return 0;
}
