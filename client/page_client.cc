#include "client/page_client.h"

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace pageserver::client {
namespace {

using common::Result;
using common::Status;
using layers::Lsn;
using layers::RelTag;
using server::PagestreamRequest;
using server::PagestreamResponse;
using server::PagestreamResponseTag;
using server::PagestreamVersion;

PagestreamResponseTag ExpectedTag(const PagestreamRequest& request) {
  switch (server::TagOf(request)) {
    case server::PagestreamTag::kExists:
      return PagestreamResponseTag::kExists;
    case server::PagestreamTag::kNblocks:
      return PagestreamResponseTag::kNblocks;
    case server::PagestreamTag::kGetPage:
      return PagestreamResponseTag::kGetPage;
    case server::PagestreamTag::kDbSize:
      return PagestreamResponseTag::kDbSize;
    case server::PagestreamTag::kGetSlruSegment:
      return PagestreamResponseTag::kGetSlruSegment;
  }
  return PagestreamResponseTag::kError;
}

Status Mismatch(const PagestreamRequest& request, const std::string& field, const std::string& sent,
                const std::string& got) {
  return Status::Corruption("response to " + DescribeRequest(request) + ": echoed " + field +
                            " is " + got + ", sent " + sent);
}

template <typename T>
Status CheckField(const PagestreamRequest& request, const std::string& field, const T& sent,
                  const T& got) {
  if (sent == got) return Status::Ok();
  if constexpr (std::is_same_v<T, RelTag> || std::is_same_v<T, Lsn>) {
    return Mismatch(request, field, sent.ToString(), got.ToString());
  } else {
    return Mismatch(request, field, std::to_string(sent), std::to_string(got));
  }
}

Status CheckHeader(const PagestreamRequest& request, const PagestreamResponse& response) {
  const server::RequestHeader& hdr = server::HeaderOf(request);
  RETURN_IF_ERROR(CheckField(request, "reqid", hdr.reqid, response.hdr.reqid));
  RETURN_IF_ERROR(CheckField(request, "request_lsn", hdr.request_lsn, response.hdr.request_lsn));
  return CheckField(request, "not_modified_since", hdr.not_modified_since,
                    response.hdr.not_modified_since);
}

// The v3 echo of the request body.
struct BodyEcho {
  const PagestreamRequest& request;
  const PagestreamResponse& response;
  Status operator()(const server::ExistsRequest& r) const { return Rel(r.rel); }
  Status operator()(const server::NblocksRequest& r) const { return Rel(r.rel); }
  Status operator()(const server::GetPageRequest& r) const {
    RETURN_IF_ERROR(Rel(r.rel));
    return CheckField(request, "blkno", r.blkno, response.blkno);
  }
  Status operator()(const server::DbSizeRequest& r) const {
    return CheckField(request, "dbnode", r.dbnode, response.dbnode);
  }
  Status operator()(const server::GetSlruSegmentRequest& r) const {
    RETURN_IF_ERROR(CheckField(request, "kind", unsigned{r.kind}, unsigned{response.slru_kind}));
    return CheckField(request, "segno", r.segno, response.slru_segno);
  }
  Status Rel(const RelTag& rel) const { return CheckField(request, "rel", rel, response.rel); }
};

std::string ReadPointText(const server::RequestHeader& hdr) {
  return "at " + hdr.request_lsn.ToString() + " (not modified since " +
         hdr.not_modified_since.ToString() + ")";
}

struct Describer {
  std::string operator()(const server::ExistsRequest& r) const {
    return "exists " + r.rel.ToString();
  }
  std::string operator()(const server::NblocksRequest& r) const {
    return "nblocks " + r.rel.ToString();
  }
  std::string operator()(const server::GetPageRequest& r) const {
    return "get_page " + r.rel.ToString() + " blk " + std::to_string(r.blkno);
  }
  std::string operator()(const server::DbSizeRequest& r) const {
    return "db_size db " + std::to_string(r.dbnode);
  }
  std::string operator()(const server::GetSlruSegmentRequest& r) const {
    return "get_slru_segment kind " + std::to_string(r.kind) + " seg " + std::to_string(r.segno);
  }
};

// A decimal u32 without sign or spaces.
std::optional<uint32_t> ParseU32(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > 0xFFFFFFFFu) return std::nullopt;
  return uint32_t(v);
}

// Fork suffixes as Postgres names the files (forkNames[] in relpath.c).
constexpr std::pair<std::string_view, uint8_t> kForkSuffixes[] = {
    {"_fsm", 1}, {"_vm", 2}, {"_init", 3}};

}  // namespace

Result<RelTag> ParseRelTag(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("relation '" + std::string(text) +
                                   "': expected spc/db/rel with an optional _fsm, _vm or _init");
  };
  std::string_view rest = text;
  uint8_t fork = 0;
  for (const auto& [suffix, number] : kForkSuffixes) {
    if (rest.ends_with(suffix)) {
      rest.remove_suffix(suffix.size());
      fork = number;
      break;
    }
  }
  const size_t first = rest.find('/');
  const size_t second = first == std::string_view::npos ? first : rest.find('/', first + 1);
  if (second == std::string_view::npos) return bad();
  const auto spc = ParseU32(rest.substr(0, first));
  const auto db = ParseU32(rest.substr(first + 1, second - first - 1));
  const auto rel = ParseU32(rest.substr(second + 1));
  if (!spc || !db || !rel) return bad();
  return RelTag{*spc, *db, *rel, fork};
}

std::string PagestreamCommand(PagestreamVersion version, const layers::TenantId& tenant,
                              const layers::TimelineId& timeline) {
  const char* command = version == PagestreamVersion::kV2 ? "pagestream_v2 " : "pagestream_v3 ";
  return command + tenant.ToHex() + " " + timeline.ToHex();
}

std::string DescribeRequest(const PagestreamRequest& request) {
  return std::visit(Describer{}, request) + " " + ReadPointText(server::HeaderOf(request));
}

Status CheckResponse(PagestreamVersion version, const PagestreamRequest& request,
                     const PagestreamResponse& response) {
  const bool is_error = response.tag == PagestreamResponseTag::kError;
  if (!is_error && response.tag != ExpectedTag(request)) {
    return Status::Corruption("response to " + DescribeRequest(request) + " has tag " +
                              std::to_string(int(response.tag)) + ", expected " +
                              std::to_string(int(ExpectedTag(request))));
  }
  if (version != PagestreamVersion::kV3) return Status::Ok();
  RETURN_IF_ERROR(CheckHeader(request, response));
  if (is_error) return Status::Ok();
  return std::visit(BodyEcho{request, response}, request);
}

Status ErrorResponseStatus(const PagestreamRequest& request, const PagestreamResponse& response) {
  if (response.tag != PagestreamResponseTag::kError) return Status::Ok();
  return Status::Aborted("server error for " + DescribeRequest(request) + ": " + response.error);
}

Result<std::unique_ptr<PageClient>> PageClient::Connect(const std::string& conninfo,
                                                        Options options) {
  ASSIGN_OR_RETURN(std::unique_ptr<CopyBothConnection> conn, CopyBothConnection::Connect(conninfo));
  return std::unique_ptr<PageClient>(new PageClient(std::move(conn), options));
}

Status PageClient::StartPagestream(PagestreamVersion version, const layers::TenantId& tenant,
                                   const layers::TimelineId& timeline) {
  version_ = version;
  return conn_->StartCopyBoth(PagestreamCommand(version, tenant, timeline));
}

Status PageClient::Send(const PagestreamRequest& request) {
  return conn_->Send(server::EncodeRequest(version_, request));
}

Status PageClient::Flush() { return conn_->Flush(); }

Result<PagestreamResponse> PageClient::Receive() {
  ASSIGN_OR_RETURN(std::vector<std::byte> message, conn_->Receive(options_.receive_timeout));
  Result<PagestreamResponse> response = server::DecodeResponse(version_, message);
  if (!response.has_value()) {
    return Status::Corruption("malformed response from the server: " +
                              std::string(response.error().message()));
  }
  return response;
}

Result<std::optional<PagestreamResponse>> PageClient::TryReceive() {
  ASSIGN_OR_RETURN(std::optional<std::vector<std::byte>> message, conn_->TryReceive());
  if (!message.has_value()) return std::optional<PagestreamResponse>();
  Result<PagestreamResponse> response = server::DecodeResponse(version_, *message);
  if (!response.has_value()) {
    return Status::Corruption("malformed response from the server: " +
                              std::string(response.error().message()));
  }
  return std::optional<PagestreamResponse>(std::move(response).value());
}

Result<PagestreamResponse> PageClient::Call(const PagestreamRequest& request) {
  RETURN_IF_ERROR(Send(request));
  RETURN_IF_ERROR(Flush());
  ASSIGN_OR_RETURN(PagestreamResponse response, Receive());
  RETURN_IF_ERROR(CheckResponse(version_, request, response));
  RETURN_IF_ERROR(ErrorResponseStatus(request, response));
  return response;
}

Result<std::vector<std::byte>> PageClient::GetPage(const RelTag& rel, uint32_t blkno,
                                                   ReadPoint at) {
  ASSIGN_OR_RETURN(PagestreamResponse r, Call(server::GetPageRequest{Header(at), rel, blkno}));
  return std::move(r.data);
}

Result<bool> PageClient::Exists(const RelTag& rel, ReadPoint at) {
  ASSIGN_OR_RETURN(PagestreamResponse r, Call(server::ExistsRequest{Header(at), rel}));
  return r.exists;
}

Result<uint32_t> PageClient::Nblocks(const RelTag& rel, ReadPoint at) {
  ASSIGN_OR_RETURN(PagestreamResponse r, Call(server::NblocksRequest{Header(at), rel}));
  return r.n_blocks;
}

Result<int64_t> PageClient::DbSize(uint32_t dbnode, ReadPoint at) {
  ASSIGN_OR_RETURN(PagestreamResponse r, Call(server::DbSizeRequest{Header(at), dbnode}));
  return r.db_size;
}

Result<std::vector<std::byte>> PageClient::GetSlruSegment(layers::SlruKind kind, uint32_t segno,
                                                          ReadPoint at) {
  ASSIGN_OR_RETURN(PagestreamResponse r,
                   Call(server::GetSlruSegmentRequest{Header(at), uint8_t(kind), segno}));
  return std::move(r.data);
}

Status PageClient::Close() { return conn_->Close(); }

}  // namespace pageserver::client
