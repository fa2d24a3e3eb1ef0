#include "server/pagestream.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;
using layers::Lsn;
using layers::RelTag;

// Postgres' BLCKSZ; pagestream hard-codes 8 KiB pages (Neon's models.rs).
constexpr size_t kPageBytes = 8192;
// reqid, request_lsn, not_modified_since.
constexpr size_t kV3HeaderFields = 24;
constexpr size_t kV2HeaderFields = 16;
// spcnode, dbnode, relnode, forknum.
constexpr size_t kRelBytes = 13;

// Appends big-endian integers to a message.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(std::byte{v}); }
  void U32(uint32_t v) { BigEndian(v, 4); }
  void U64(uint64_t v) { BigEndian(v, 8); }
  void Bytes(std::span<const std::byte> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  void Rel(const RelTag& rel) {
    U32(rel.spcnode);
    U32(rel.dbnode);
    U32(rel.relnode);
    U8(rel.forknum);
  }

 private:
  void BigEndian(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(std::byte(v >> (8 * i)));
  }
  std::vector<std::byte>& out_;
};

// Reads big-endian integers from a message. Callers check the message length
// against the layout first; a read past the end still yields zeros and never
// touches memory outside the span.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  uint8_t U8() { return uint8_t(Take(1)); }
  uint32_t U32() { return uint32_t(Take(4)); }
  uint64_t U64() { return Take(8); }
  RelTag Rel() {
    RelTag rel;
    rel.spcnode = U32();
    rel.dbnode = U32();
    rel.relnode = U32();
    rel.forknum = U8();
    return rel;
  }
  std::span<const std::byte> Rest() const { return in_.subspan(pos_); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  uint64_t Take(size_t n) {
    if (remaining() < n) {
      pos_ = in_.size();
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | uint64_t(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::span<const std::byte> in_;
  size_t pos_ = 0;
};

bool IsV3(PagestreamVersion version) { return version == PagestreamVersion::kV3; }

std::string VersionName(PagestreamVersion version) {
  return "pagestream v" + std::to_string(int(version));
}

Status CheckVersion(PagestreamVersion version) {
  if (version == PagestreamVersion::kV2 || version == PagestreamVersion::kV3) return Status::Ok();
  return Status::InvalidArgument("unknown pagestream protocol version " +
                                 std::to_string(int(version)));
}

Status LengthError(PagestreamVersion version, std::string_view what, unsigned tag, size_t expected,
                   size_t actual) {
  return Status::InvalidArgument(VersionName(version) + " " + std::string(what) + " (tag " +
                                 std::to_string(tag) + "): expected " + std::to_string(expected) +
                                 " bytes, got " + std::to_string(actual) +
                                 (actual < expected ? " (truncated)" : " (trailing bytes)"));
}

Status UnknownTag(PagestreamVersion version, std::string_view kind, unsigned tag, size_t size) {
  return Status::InvalidArgument(VersionName(version) + " " + std::string(kind) + ": unknown tag " +
                                 std::to_string(tag) + " in a message of " + std::to_string(size) +
                                 " bytes");
}

// --- Requests ---

size_t RequestHeaderSize(PagestreamVersion version) {
  return 1 + (IsV3(version) ? kV3HeaderFields : kV2HeaderFields);
}

// Body bytes after the header, by request tag; 0 for an unknown tag.
size_t RequestBodySize(uint8_t tag) {
  switch (PagestreamTag(tag)) {
    case PagestreamTag::kExists:
    case PagestreamTag::kNblocks:
      return kRelBytes;
    case PagestreamTag::kGetPage:
      return kRelBytes + 4;
    case PagestreamTag::kDbSize:
      return 4;
    case PagestreamTag::kGetSlruSegment:
      return 5;
  }
  return 0;
}

bool IsKnownRequestTag(uint8_t tag) { return tag <= uint8_t(PagestreamTag::kGetSlruSegment); }

RequestHeader ReadRequestHeader(PagestreamVersion version, Reader& in) {
  RequestHeader hdr;
  if (IsV3(version)) hdr.reqid = in.U64();
  hdr.request_lsn = Lsn{in.U64()};
  hdr.not_modified_since = Lsn{in.U64()};
  return hdr;
}

void WriteRequestHeader(PagestreamVersion version, PagestreamTag tag, const RequestHeader& hdr,
                        Writer& out) {
  out.U8(uint8_t(tag));
  if (IsV3(version)) out.U64(hdr.reqid);
  out.U64(hdr.request_lsn.value);
  out.U64(hdr.not_modified_since.value);
}

PagestreamRequest ReadRequestBody(PagestreamTag tag, const RequestHeader& hdr, Reader& in) {
  switch (tag) {
    case PagestreamTag::kExists:
      return ExistsRequest{hdr, in.Rel()};
    case PagestreamTag::kNblocks:
      return NblocksRequest{hdr, in.Rel()};
    case PagestreamTag::kGetPage: {
      GetPageRequest r{hdr, in.Rel()};
      r.blkno = in.U32();
      return r;
    }
    case PagestreamTag::kDbSize:
      return DbSizeRequest{hdr, in.U32()};
    case PagestreamTag::kGetSlruSegment: {
      GetSlruSegmentRequest r{hdr};
      r.kind = in.U8();
      r.segno = in.U32();
      return r;
    }
  }
  return ExistsRequest{hdr, {}};  // unreachable: the tag was checked
}

struct RequestBodyWriter {
  Writer& out;
  void operator()(const ExistsRequest& r) { out.Rel(r.rel); }
  void operator()(const NblocksRequest& r) { out.Rel(r.rel); }
  void operator()(const GetPageRequest& r) {
    out.Rel(r.rel);
    out.U32(r.blkno);
  }
  void operator()(const DbSizeRequest& r) { out.U32(r.dbnode); }
  void operator()(const GetSlruSegmentRequest& r) {
    out.U8(r.kind);
    out.U32(r.segno);
  }
};

// --- Responses ---

// The v3 response prefix: tag and the echoed header fields.
void WriteResponseHeader(PagestreamVersion version, PagestreamResponseTag tag,
                         const RequestHeader& hdr, Writer& out) {
  out.U8(uint8_t(tag));
  if (!IsV3(version)) return;
  out.U64(hdr.reqid);
  out.U64(hdr.request_lsn.value);
  out.U64(hdr.not_modified_since.value);
}

// Bytes of the echoed request body in a v3 response (0 in v2) and of the
// fixed payload, by response tag. Error and GetSlruSegment have a variable
// tail handled by their decoders.
struct ResponseShape {
  size_t echo = 0;
  size_t payload = 0;
};

bool IsKnownResponseTag(uint8_t tag) {
  return tag >= uint8_t(PagestreamResponseTag::kExists) &&
         tag <= uint8_t(PagestreamResponseTag::kGetSlruSegment);
}

ResponseShape ShapeOf(PagestreamResponseTag tag) {
  switch (tag) {
    case PagestreamResponseTag::kExists:
      return {kRelBytes, 1};
    case PagestreamResponseTag::kNblocks:
      return {kRelBytes, 4};
    case PagestreamResponseTag::kGetPage:
      return {kRelBytes + 4, kPageBytes};
    case PagestreamResponseTag::kError:
      return {0, 1};  // at least the NUL terminator
    case PagestreamResponseTag::kDbSize:
      return {4, 8};
    case PagestreamResponseTag::kGetSlruSegment:
      return {5, 4};  // n_blocks, then n_blocks pages
  }
  return {};
}

std::string_view ResponseTagName(PagestreamResponseTag tag) {
  switch (tag) {
    case PagestreamResponseTag::kExists:
      return "exists response";
    case PagestreamResponseTag::kNblocks:
      return "nblocks response";
    case PagestreamResponseTag::kGetPage:
      return "get_page response";
    case PagestreamResponseTag::kError:
      return "error response";
    case PagestreamResponseTag::kDbSize:
      return "db_size response";
    case PagestreamResponseTag::kGetSlruSegment:
      return "get_slru_segment response";
  }
  return "response";
}

void ReadEcho(PagestreamResponseTag tag, Reader& in, PagestreamResponse& r) {
  switch (tag) {
    case PagestreamResponseTag::kExists:
    case PagestreamResponseTag::kNblocks:
      r.rel = in.Rel();
      break;
    case PagestreamResponseTag::kGetPage:
      r.rel = in.Rel();
      r.blkno = in.U32();
      break;
    case PagestreamResponseTag::kDbSize:
      r.dbnode = in.U32();
      break;
    case PagestreamResponseTag::kGetSlruSegment:
      r.slru_kind = in.U8();
      r.slru_segno = in.U32();
      break;
    case PagestreamResponseTag::kError:
      break;
  }
}

// The NUL-terminated message that must fill the rest of the response.
Status ReadErrorMessage(PagestreamVersion version, Reader& in, PagestreamResponse& r) {
  const std::span<const std::byte> rest = in.Rest();
  const auto nul = std::find(rest.begin(), rest.end(), std::byte{0});
  if (nul == rest.end()) {
    return Status::InvalidArgument(VersionName(version) + " error response (tag 103): message of " +
                                   std::to_string(rest.size()) +
                                   " bytes has no NUL terminator (truncated)");
  }
  const size_t length = size_t(nul - rest.begin());
  if (length + 1 != rest.size()) {
    return Status::InvalidArgument(VersionName(version) + " error response (tag 103): " +
                                   std::to_string(rest.size() - length - 1) +
                                   " bytes after the NUL terminator at offset " +
                                   std::to_string(length) + " of the message (trailing bytes)");
  }
  r.error.assign(reinterpret_cast<const char*>(rest.data()), length);
  return Status::Ok();
}

Status ReadPayload(PagestreamVersion version, PagestreamResponseTag tag, size_t message_size,
                   Reader& in, PagestreamResponse& r) {
  switch (tag) {
    case PagestreamResponseTag::kExists: {
      const uint8_t v = in.U8();
      if (v > 1) {
        return Status::InvalidArgument(VersionName(version) +
                                       " exists response (tag 100): exists byte is " +
                                       std::to_string(v) + ", not 0 or 1");
      }
      r.exists = v == 1;
      return Status::Ok();
    }
    case PagestreamResponseTag::kNblocks:
      r.n_blocks = in.U32();
      return Status::Ok();
    case PagestreamResponseTag::kGetPage:
      r.data.assign(in.Rest().begin(), in.Rest().end());
      return Status::Ok();
    case PagestreamResponseTag::kDbSize:
      r.db_size = int64_t(in.U64());
      return Status::Ok();
    case PagestreamResponseTag::kGetSlruSegment: {
      r.n_blocks = in.U32();
      const uint64_t expected = message_size - in.remaining() + uint64_t{r.n_blocks} * kPageBytes;
      if (expected != message_size) {
        return LengthError(
            version, "get_slru_segment response with " + std::to_string(r.n_blocks) + " blocks",
            uint8_t(tag), expected, message_size);
      }
      r.data.assign(in.Rest().begin(), in.Rest().end());
      return Status::Ok();
    }
    case PagestreamResponseTag::kError:
      return ReadErrorMessage(version, in, r);
  }
  return Status::Internal("unreachable response tag");
}

}  // namespace

std::string_view PagestreamTagName(PagestreamTag tag) {
  switch (tag) {
    case PagestreamTag::kExists:
      return "exists";
    case PagestreamTag::kNblocks:
      return "nblocks";
    case PagestreamTag::kGetPage:
      return "get_page";
    case PagestreamTag::kDbSize:
      return "db_size";
    case PagestreamTag::kGetSlruSegment:
      return "get_slru_segment";
  }
  return "unknown";
}

const RequestHeader& HeaderOf(const PagestreamRequest& request) {
  return std::visit([](const auto& r) -> const RequestHeader& { return r.hdr; }, request);
}

PagestreamTag TagOf(const PagestreamRequest& request) {
  // The variant's alternatives are in tag order.
  return PagestreamTag(request.index());
}

Result<PagestreamRequest> DecodeRequest(PagestreamVersion version,
                                        std::span<const std::byte> message) {
  RETURN_IF_ERROR(CheckVersion(version));
  if (message.empty()) {
    return Status::InvalidArgument(VersionName(version) + " request: empty message (no tag)");
  }
  const uint8_t tag = uint8_t(message[0]);
  if (!IsKnownRequestTag(tag)) return UnknownTag(version, "request", tag, message.size());
  const std::string what = std::string(PagestreamTagName(PagestreamTag(tag))) + " request";
  const size_t expected = RequestHeaderSize(version) + RequestBodySize(tag);
  if (message.size() != expected) {
    return LengthError(version, what, tag, expected, message.size());
  }
  Reader in(message.subspan(1));
  const RequestHeader hdr = ReadRequestHeader(version, in);
  return ReadRequestBody(PagestreamTag(tag), hdr, in);
}

std::vector<std::byte> EncodeRequest(PagestreamVersion version, const PagestreamRequest& request) {
  std::vector<std::byte> bytes;
  Writer out(bytes);
  WriteRequestHeader(version, TagOf(request), HeaderOf(request), out);
  std::visit(RequestBodyWriter{out}, request);
  return bytes;
}

void AppendExistsResponse(PagestreamVersion version, const ExistsRequest& request, bool exists,
                          std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kExists, request.hdr, w);
  if (IsV3(version)) w.Rel(request.rel);
  w.U8(exists ? 1 : 0);
}

void AppendNblocksResponse(PagestreamVersion version, const NblocksRequest& request,
                           uint32_t n_blocks, std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kNblocks, request.hdr, w);
  if (IsV3(version)) w.Rel(request.rel);
  w.U32(n_blocks);
}

void AppendGetPageResponse(PagestreamVersion version, const GetPageRequest& request,
                           std::span<const std::byte> page, std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kGetPage, request.hdr, w);
  if (IsV3(version)) {
    w.Rel(request.rel);
    w.U32(request.blkno);
  }
  w.Bytes(page);
}

void AppendDbSizeResponse(PagestreamVersion version, const DbSizeRequest& request, int64_t db_size,
                          std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kDbSize, request.hdr, w);
  if (IsV3(version)) w.U32(request.dbnode);
  w.U64(uint64_t(db_size));
}

void AppendSlruSegmentResponse(PagestreamVersion version, const GetSlruSegmentRequest& request,
                               std::span<const std::byte> segment, std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kGetSlruSegment, request.hdr, w);
  if (IsV3(version)) {
    w.U8(request.kind);
    w.U32(request.segno);
  }
  w.U32(uint32_t(segment.size() / kPageBytes));
  w.Bytes(segment);
}

void AppendErrorResponse(PagestreamVersion version, const RequestHeader& hdr,
                         std::string_view message, std::vector<std::byte>& out) {
  Writer w(out);
  WriteResponseHeader(version, PagestreamResponseTag::kError, hdr, w);
  for (char c : message) w.U8(c == '\0' ? uint8_t{' '} : uint8_t(c));
  w.U8(0);
}

Result<PagestreamResponse> DecodeResponse(PagestreamVersion version,
                                          std::span<const std::byte> message) {
  RETURN_IF_ERROR(CheckVersion(version));
  if (message.empty()) {
    return Status::InvalidArgument(VersionName(version) + " response: empty message (no tag)");
  }
  const uint8_t raw_tag = uint8_t(message[0]);
  if (!IsKnownResponseTag(raw_tag)) {
    return UnknownTag(version, "response", raw_tag, message.size());
  }
  const auto tag = PagestreamResponseTag(raw_tag);
  const ResponseShape shape = ShapeOf(tag);
  const size_t fixed = 1 + (IsV3(version) ? kV3HeaderFields + shape.echo : 0) + shape.payload;
  const bool variable =
      tag == PagestreamResponseTag::kError || tag == PagestreamResponseTag::kGetSlruSegment;
  if (message.size() < fixed || (!variable && message.size() != fixed)) {
    return LengthError(version, ResponseTagName(tag), raw_tag, fixed, message.size());
  }
  PagestreamResponse r;
  r.tag = tag;
  Reader in(message.subspan(1));
  if (IsV3(version)) {
    r.hdr = ReadRequestHeader(version, in);
    ReadEcho(tag, in, r);
  }
  RETURN_IF_ERROR(ReadPayload(version, tag, message.size(), in, r));
  return r;
}

}  // namespace pageserver::server
