// The import session: `import basebackup` reads a tar stream from COPY IN
// and hands it to pg_import::ImportTar.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "pg_import/import.h"
#include "server/page_service_session.h"

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;

// The tar bytes of CopyData messages, until CopyDone. A transport problem
// (protocol error, client gone, stop) is kept in transport_error() so the
// session can tell it from an import error: it ends the connection.
class CopyInSource final : public pg_import::ByteSource {
 public:
  explicit CopyInSource(ConnectionContext& ctx) : ctx_(ctx) {}

  Result<size_t> Read(std::span<std::byte> dst) override {
    while (chunk_.empty() && !done_) RETURN_IF_ERROR(NextMessage());
    const size_t n = std::min(dst.size(), chunk_.size());
    std::memcpy(dst.data(), chunk_.data(), n);
    chunk_ = chunk_.subspan(n);
    bytes_ += n;
    return n;
  }

  // Reads and drops what the client still sends up to CopyDone (the tar's
  // zero padding after the end-of-archive blocks).
  Status DrainToEnd() {
    while (!done_) {
      chunk_ = {};
      RETURN_IF_ERROR(NextMessage());
    }
    return Status::Ok();
  }

  bool done() const { return done_; }
  uint64_t bytes() const { return bytes_; }
  const Status& transport_error() const { return transport_error_; }
  const Status& client_failure() const { return client_failure_; }

 private:
  Status NextMessage() {
    auto message = ctx_.channel.Read();
    if (!message.has_value()) return Transport(std::move(message).error());
    if (!message->has_value()) {
      return Transport(ctx_.ClientGone("client closed the connection during COPY IN"));
    }
    switch ((*message)->tag) {
      case pgwire::FrontendTag::kCopyData:
        chunk_ = (*message)->body;  // valid until the next Read()
        return Status::Ok();
      case pgwire::FrontendTag::kCopyDone:
        done_ = true;
        return Status::Ok();
      case pgwire::FrontendTag::kCopyFail:
        client_failure_ =
            Status::Aborted("COPY IN failed by the client: " + std::string((*message)->text()));
        done_ = true;
        return client_failure_;
      default:
        return Transport(ctx_.Unexpected((*message)->tag, "during COPY IN"));
    }
  }

  Status Transport(Status status) {
    transport_error_ = status;
    return status;
  }

  ConnectionContext& ctx_;
  std::span<const std::byte> chunk_;
  bool done_ = false;
  uint64_t bytes_ = 0;
  Status transport_error_;
  Status client_failure_;
};

// Hands the ingest thread back however the import ends.
struct DetachOnExit {
  timeline::Timeline& tl;
  ~DetachOnExit() {
    if (Status s = tl.DetachIngest(); !s.ok()) {
      spdlog::warn("import: detaching from timeline {}: {}", tl.timeline_id().ToHex(),
                   s.ToString());
    }
  }
};

}  // namespace

Result<ImportOutcome> ServeImport(ConnectionContext& ctx, timeline::Timeline& timeline,
                                  layers::Lsn lsn) {
  DetachOnExit detach{timeline};
  std::vector<std::byte> out;
  pgwire::AppendCopyInResponse(out);
  RETURN_IF_ERROR(ctx.channel.Send(out));
  CopyInSource source(ctx);
  auto stats = pg_import::ImportTar(timeline, lsn, source);
  if (!source.transport_error().ok()) return source.transport_error();
  ImportOutcome outcome;
  if (!stats.has_value()) {
    outcome.failure = std::move(stats).error();
  } else if (Status s = source.DrainToEnd(); !s.ok()) {
    if (!source.transport_error().ok()) return source.transport_error();
    outcome.failure = s;  // CopyFail after the archive ended
  } else {
    outcome.imported = true;
  }
  if (outcome.imported) {
    outcome.relation_blocks = stats->relation_blocks;
    spdlog::info("import basebackup into timeline {} at {}: {} relation blocks, {} bytes of tar",
                 timeline.timeline_id().ToHex(), lsn.ToString(), stats->relation_blocks,
                 source.bytes());
  }
  // After a failure, the rest of the COPY (CopyData up to CopyDone or
  // CopyFail) is dropped by the query loop, as Postgres does.
  return outcome;
}

}  // namespace pageserver::server
