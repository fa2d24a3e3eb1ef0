#pragma once

// Pagestream: Neon's page-service messages, carried one per CopyData message
// after `pagestream_v2 <tenant> <timeline>` or `pagestream_v3 ...` switched
// the connection to COPY BOTH. Byte-compatible with Neon's
// libs/pageserver_api/src/models.rs and pgxn/neon/pagestore_client.h.
// Every integer is big-endian. RFC.md "Page service protocol" has the tables.
//
// Requests (compute -> pageserver):
//   v2: tag u8 | request_lsn u64 | not_modified_since u64 | body
//   v3: tag u8 | reqid u64 | request_lsn u64 | not_modified_since u64 | body
//   tag 0 Exists          body: rel (spcnode u32, dbnode u32, relnode u32, forknum u8)
//   tag 1 Nblocks         body: rel
//   tag 2 GetPage         body: rel | blkno u32
//   tag 3 DbSize          body: dbnode u32
//   tag 4 GetSlruSegment  body: kind u8 | segno u32
//
// Responses (pageserver -> compute):
//   v2: tag u8 | payload
//   v3: tag u8 | reqid u64 | request_lsn u64 | not_modified_since u64 |
//       the request's body (rel, blkno, dbnode, kind/segno) | payload
//   tag 100 Exists          payload: exists u8 (0 or 1)
//   tag 101 Nblocks         payload: n_blocks u32
//   tag 102 GetPage         payload: 8192 page bytes
//   tag 103 Error           payload: message, NUL-terminated (v3: after the
//                           three header fields only, no body)
//   tag 104 DbSize          payload: db_size i64 (bytes)
//   tag 105 GetSlruSegment  payload: n_blocks u32 | n_blocks * 8192 bytes
//
// Decoding is strict: a request shorter than its layout, longer than it
// (trailing bytes), or with an unknown tag is InvalidArgument naming the
// tag, the expected and the actual length. Decoding never reads outside
// the given span (fuzz/pagestream_fuzz.cc).
//
// Thread-safety: plain values and pure functions.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"

namespace pageserver::server {

enum class PagestreamVersion : uint8_t { kV2 = 2, kV3 = 3 };

enum class PagestreamTag : uint8_t {
  kExists = 0,
  kNblocks = 1,
  kGetPage = 2,
  kDbSize = 3,
  kGetSlruSegment = 4,
};

enum class PagestreamResponseTag : uint8_t {
  kExists = 100,
  kNblocks = 101,
  kGetPage = 102,
  kError = 103,
  kDbSize = 104,
  kGetSlruSegment = 105,
};

// "exists", "nblocks", "get_page", "db_size", "get_slru_segment": the
// request_type label of the page-service metrics.
std::string_view PagestreamTagName(PagestreamTag tag);

// The fields every request carries. reqid is 0 in v2.
struct RequestHeader {
  uint64_t reqid = 0;
  layers::Lsn request_lsn;
  layers::Lsn not_modified_since;
  bool operator==(const RequestHeader&) const = default;
};

struct ExistsRequest {
  RequestHeader hdr;
  layers::RelTag rel;
  bool operator==(const ExistsRequest&) const = default;
};
struct NblocksRequest {
  RequestHeader hdr;
  layers::RelTag rel;
  bool operator==(const NblocksRequest&) const = default;
};
struct GetPageRequest {
  RequestHeader hdr;
  layers::RelTag rel;
  uint32_t blkno = 0;
  bool operator==(const GetPageRequest&) const = default;
};
struct DbSizeRequest {
  RequestHeader hdr;
  uint32_t dbnode = 0;
  bool operator==(const DbSizeRequest&) const = default;
};
struct GetSlruSegmentRequest {
  RequestHeader hdr;
  uint8_t kind = 0;  // layers::SlruKind
  uint32_t segno = 0;
  bool operator==(const GetSlruSegmentRequest&) const = default;
};

using PagestreamRequest = std::variant<ExistsRequest, NblocksRequest, GetPageRequest, DbSizeRequest,
                                       GetSlruSegmentRequest>;

const RequestHeader& HeaderOf(const PagestreamRequest& request);
PagestreamTag TagOf(const PagestreamRequest& request);

// Parses one request (the payload of one CopyData message).
common::Result<PagestreamRequest> DecodeRequest(PagestreamVersion version,
                                                std::span<const std::byte> message);
// The request's bytes: DecodeRequest(version, EncodeRequest(version, r)) == r
// (v2 drops reqid). For clients and tests.
std::vector<std::byte> EncodeRequest(PagestreamVersion version, const PagestreamRequest& request);

// --- Responses. Each Append* appends one whole response message to `out`
// (the server batches several into one write). `request` supplies the v3
// echo fields. ---
void AppendExistsResponse(PagestreamVersion version, const ExistsRequest& request, bool exists,
                          std::vector<std::byte>& out);
void AppendNblocksResponse(PagestreamVersion version, const NblocksRequest& request,
                           uint32_t n_blocks, std::vector<std::byte>& out);
// REQUIRES: page.size() == 8192.
void AppendGetPageResponse(PagestreamVersion version, const GetPageRequest& request,
                           std::span<const std::byte> page, std::vector<std::byte>& out);
void AppendDbSizeResponse(PagestreamVersion version, const DbSizeRequest& request, int64_t db_size,
                          std::vector<std::byte>& out);
// REQUIRES: segment.size() is a multiple of 8192.
void AppendSlruSegmentResponse(PagestreamVersion version, const GetSlruSegmentRequest& request,
                               std::span<const std::byte> segment, std::vector<std::byte>& out);
// `message` must not contain NUL (NULs are replaced by spaces).
void AppendErrorResponse(PagestreamVersion version, const RequestHeader& hdr,
                         std::string_view message, std::vector<std::byte>& out);

// A decoded response, for clients (tools/pagebench, pagectl, tests), which
// check that the echoed fields match what they asked.
struct PagestreamResponse {
  PagestreamResponseTag tag = PagestreamResponseTag::kError;
  // v3 only: the echoed header and body fields (zero in v2).
  RequestHeader hdr;
  layers::RelTag rel;       // Exists, Nblocks, GetPage
  uint32_t blkno = 0;       // GetPage
  uint32_t dbnode = 0;      // DbSize
  uint8_t slru_kind = 0;    // GetSlruSegment
  uint32_t slru_segno = 0;  // GetSlruSegment
  // Payload.
  bool exists = false;
  uint32_t n_blocks = 0;  // Nblocks; GetSlruSegment's block count
  int64_t db_size = 0;
  std::vector<std::byte> data;  // GetPage: the page; GetSlruSegment: the blocks
  std::string error;            // Error: the message
};
// Parses one response; InvalidArgument as DecodeRequest for malformed bytes.
common::Result<PagestreamResponse> DecodeResponse(PagestreamVersion version,
                                                  std::span<const std::byte> message);

}  // namespace pageserver::server
