// The pagestream session: requests in CopyData messages, answered in order;
// consecutive GetPages already received are served as one batch, and with
// pipeline_depth > 1 several batches are in execution at once
// (page_service_pipeline.h).

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "pg_import/import_values.h"
#include "server/page_service_pipeline.h"
#include "server/page_service_session.h"
#include "timeline/pg_mapping.h"

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;
using layers::Lsn;
using Clock = std::chrono::steady_clock;

// Postgres' DEFAULTTABLESPACE_OID: DbSize requests name only the database.
constexpr uint32_t kDefaultTablespace = 1663;
// Postgres' SLRU_PAGES_PER_SEGMENT: a larger size value is corrupt.
// Largest SLRU kind (layers::SlruKind::kMultiXactOffsets).
constexpr uint8_t kMaxSlruKind = 2;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Status LsnWaitTimedOut(const timeline::Timeline& tl, Lsn lsn, std::chrono::milliseconds timeout) {
  return Status::TimedOut("timed out waiting for LSN " + lsn.ToString() + " to be ingested after " +
                          std::to_string(timeout.count()) + " ms (last_record_lsn " +
                          tl.last_record_lsn().ToString() + ")");
}

Status CheckRequestLsn(const timeline::Timeline& tl, const RequestHeader& hdr) {
  if (!hdr.request_lsn.valid()) {
    return Status::InvalidArgument("invalid request LSN 0/0");
  }
  if (hdr.request_lsn < hdr.not_modified_since) {
    return Status::InvalidArgument("invalid request: request_lsn " + hdr.request_lsn.ToString() +
                                   " is below not_modified_since " +
                                   hdr.not_modified_since.ToString());
  }
  if (const Lsn cutoff = tl.gc_cutoff(); hdr.request_lsn < cutoff) {
    return Status::InvalidArgument(
        "tried to request a page version that was garbage collected: "
        "request_lsn " +
        hdr.request_lsn.ToString() + " is below the GC cutoff " + cutoff.ToString());
  }
  return Status::Ok();
}

// The session of one pagestream command.
class PagestreamSession {
 public:
  PagestreamSession(ConnectionContext& ctx, PagestreamVersion version, const timeline::Timeline& tl)
      : ctx_(ctx), version_(version), tl_(tl), tenant_(ctx.metrics.ForTenant(tl.tenant_id())) {}

  // Serves until the copy ends; every batch handed to the pipeline is
  // answered (or its send failed) before this returns.
  Status Run();

 private:
  struct Item {
    GetPageRequest request;
    Clock::time_point arrival;
  };

  Status ServeLoop();
  Status ServeOne(const PagestreamRequest& request, Clock::time_point arrival);
  Status ServeGetPageBatch(const GetPageRequest& first, Clock::time_point arrival);
  BatchBreakReason CollectBatch(std::vector<Item>& batch);
  BatchPipeline::Rendered RenderBatch(std::span<const Item> batch);
  // The pipeline when pipeline_depth > 1 (created at the first batch).
  BatchPipeline* Pipeline();
  void AppendPageResponses(std::span<const Item> batch, std::vector<std::byte>& out);
  Status AnswerSingle(const PagestreamRequest& request, Lsn lsn, std::vector<std::byte>& out);
  Result<std::vector<std::byte>> ReadSlruSegment(const GetSlruSegmentRequest& request, Lsn lsn);
  void Count(PagestreamTag tag, bool ok, Clock::time_point arrival);
  Status SendResponses(const std::vector<std::byte>& out, size_t payload_bytes);
  Status EndCopy();

  ConnectionContext& ctx_;
  const PagestreamVersion version_;
  const timeline::Timeline& tl_;
  TenantRequestMetrics tenant_;
  std::optional<BatchPipeline> pipeline_;
};

Status PagestreamSession::Run() {
  Status status = ServeLoop();
  // Joins the workers: no send of ours may follow the caller's.
  if (pipeline_.has_value()) {
    const Status drained = pipeline_->Drain();
    pipeline_.reset();
    if (status.ok() && !drained.ok()) status = drained;
  }
  return status;
}

BatchPipeline* PagestreamSession::Pipeline() {
  if (ctx_.options.pipeline_depth <= 1) return nullptr;
  if (!pipeline_.has_value()) {
    pipeline_.emplace(ctx_.options.pipeline_depth, [this](const BatchPipeline::Rendered& r) {
      return SendResponses(r.bytes, r.payload_bytes);
    });
  }
  return &*pipeline_;
}

Status PagestreamSession::ServeLoop() {
  std::vector<std::byte> out;
  pgwire::AppendCopyBothResponse(out);
  RETURN_IF_ERROR(ctx_.channel.Send(out));
  while (true) {
    ASSIGN_OR_RETURN(auto message, ctx_.channel.Read());
    const auto arrival = Clock::now();
    if (!message.has_value()) return ctx_.ClientGone("client closed the pagestream");
    switch (message->tag) {
      case pgwire::FrontendTag::kCopyData:
        break;
      case pgwire::FrontendTag::kCopyDone:
        if (pipeline_.has_value()) RETURN_IF_ERROR(pipeline_->Drain());
        return EndCopy();
      case pgwire::FrontendTag::kTerminate:
        return ctx_.ClientGone("client terminated the pagestream");
      default:
        return ctx_.Unexpected(message->tag, "in a pagestream");
    }
    auto request = DecodeRequest(version_, message->body);
    if (!request.has_value()) {
      // The stream is no longer trustworthy: the client and we disagree on its format.
      return ctx_.ProtocolViolation(request.error().ToString());
    }
    if (const auto* get_page = std::get_if<GetPageRequest>(&*request)) {
      RETURN_IF_ERROR(ServeGetPageBatch(*get_page, arrival));
    } else {
      // Answers go out in request order: earlier batches first.
      if (pipeline_.has_value()) RETURN_IF_ERROR(pipeline_->Drain());
      RETURN_IF_ERROR(ServeOne(*request, arrival));
    }
  }
}

Status PagestreamSession::EndCopy() {
  std::vector<std::byte> out;
  pgwire::AppendCopyDone(out);
  pgwire::AppendCommandComplete("COPY 0", out);
  return ctx_.channel.Send(out);
}

void PagestreamSession::Count(PagestreamTag tag, bool ok, Clock::time_point arrival) {
  const auto type = static_cast<size_t>(tag);
  ctx_.metrics.requests(type, ok).Increment();
  ctx_.metrics.request_seconds(type).Observe(SecondsSince(arrival));
  tenant_.requests[type]->Increment();
}

Status PagestreamSession::SendResponses(const std::vector<std::byte>& out, size_t payload_bytes) {
  tenant_.page_bytes_sent->IncrementBy(payload_bytes);
  return ctx_.channel.Send(out);
}

Status PagestreamSession::ServeOne(const PagestreamRequest& request, Clock::time_point arrival) {
  std::vector<std::byte> out;
  const size_t start = pgwire::BeginCopyData(out);
  auto lsn = ResolveReadLsn(ctx_, tl_, HeaderOf(request));
  Status status = lsn.has_value() ? AnswerSingle(request, *lsn, out) : lsn.error();
  if (!status.ok()) {
    out.resize(start + 5);  // drop a partial answer, keep the CopyData header
    AppendErrorResponse(version_, HeaderOf(request), status.ToString(), out);
  }
  pgwire::EndCopyData(start, out);
  Count(TagOf(request), status.ok(), arrival);
  return SendResponses(out, out.size() - start - 5);
}

Status PagestreamSession::AnswerSingle(const PagestreamRequest& request, Lsn lsn,
                                       std::vector<std::byte>& out) {
  if (const auto* r = std::get_if<ExistsRequest>(&request)) {
    ASSIGN_OR_RETURN(const bool exists, timeline::RelExists(tl_, r->rel, lsn));
    AppendExistsResponse(version_, *r, exists, out);
  } else if (const auto* r = std::get_if<NblocksRequest>(&request)) {
    ASSIGN_OR_RETURN(const uint32_t n, timeline::GetRelSize(tl_, r->rel, lsn));
    AppendNblocksResponse(version_, *r, n, out);
  } else if (const auto* r = std::get_if<DbSizeRequest>(&request)) {
    ASSIGN_OR_RETURN(const uint64_t bytes,
                     timeline::GetDbSize(tl_, kDefaultTablespace, r->dbnode, lsn));
    AppendDbSizeResponse(version_, *r, static_cast<int64_t>(bytes), out);
  } else if (const auto* r = std::get_if<GetSlruSegmentRequest>(&request)) {
    ASSIGN_OR_RETURN(const auto segment, ReadSlruSegment(*r, lsn));
    AppendSlruSegmentResponse(version_, *r, segment, out);
  } else {
    return Status::Internal("GetPage requests are served in batches");
  }
  return Status::Ok();
}

// The segment's blocks (pg_import::ReadSlruSegment: the size key, then
// every block).
Result<std::vector<std::byte>> PagestreamSession::ReadSlruSegment(
    const GetSlruSegmentRequest& request, Lsn lsn) {
  if (request.kind > kMaxSlruKind) {
    return Status::InvalidArgument("unknown SLRU kind " + std::to_string(request.kind));
  }
  return pg_import::ReadSlruSegment(tl_, static_cast<layers::SlruKind>(request.kind), request.segno,
                                    lsn);
}

Status PagestreamSession::ServeGetPageBatch(const GetPageRequest& first,
                                            Clock::time_point arrival) {
  std::vector<Item> batch;
  batch.reserve(ctx_.options.max_batch_size);
  batch.push_back({first, arrival});
  const BatchBreakReason reason = CollectBatch(batch);
  ctx_.metrics.batch_breaks(reason).Increment();
  ctx_.metrics.batch_size().Observe(static_cast<double>(batch.size()));
  BatchPipeline* pipeline = Pipeline();
  // A lone request with nothing in flight is the queue-depth-1 shape:
  // served here, a hand-off would only add a thread wake-up to its latency.
  if (pipeline == nullptr || (batch.size() == 1 && pipeline->idle())) {
    const BatchPipeline::Rendered rendered = RenderBatch(batch);
    return SendResponses(rendered.bytes, rendered.payload_bytes);
  }
  ctx_.metrics.pipelined_batches().Increment();
  return pipeline->Submit([this, batch = std::move(batch)]() { return RenderBatch(batch); });
}

BatchPipeline::Rendered PagestreamSession::RenderBatch(std::span<const Item> batch) {
  BatchPipeline::Rendered rendered;
  rendered.bytes.reserve(batch.size() * (timeline::kPageSize + 64));
  AppendPageResponses(batch, rendered.bytes);
  // Payload bytes: everything but the 5-byte CopyData headers.
  rendered.payload_bytes = rendered.bytes.size() - 5 * batch.size();
  return rendered;
}

// Adds the GetPages already received behind the first, up to the size cap.
BatchBreakReason PagestreamSession::CollectBatch(std::vector<Item>& batch) {
  while (true) {
    if (batch.size() >= std::max<size_t>(1, ctx_.options.max_batch_size)) {
      return BatchBreakReason::kSizeCap;
    }
    if (ctx_.stopping.load(std::memory_order_acquire)) return BatchBreakReason::kShutdown;
    auto peeked = ctx_.channel.PeekBuffered();
    // A malformed message is reported by the next Read().
    if (!peeked.has_value()) return BatchBreakReason::kOtherMessage;
    if (!peeked->has_value()) return BatchBreakReason::kDrained;
    if ((*peeked)->tag != pgwire::FrontendTag::kCopyData) return BatchBreakReason::kOtherMessage;
    auto request = DecodeRequest(version_, (*peeked)->body);
    if (!request.has_value()) return BatchBreakReason::kOtherMessage;
    const auto* get_page = std::get_if<GetPageRequest>(&*request);
    if (get_page == nullptr) return BatchBreakReason::kNonGetPage;
    if (NeedsLsnWait(tl_, get_page->hdr)) return BatchBreakReason::kLsnWait;
    ctx_.channel.ConsumePeeked();
    batch.push_back({*get_page, Clock::now()});
  }
}

// Resolves every item's LSN (only the first may wait), reads the pages of
// the good ones in one GetRelPages call and appends one response per item,
// in order.
void PagestreamSession::AppendPageResponses(std::span<const Item> batch,
                                            std::vector<std::byte>& out) {
  std::vector<Status> errors(batch.size());
  std::vector<timeline::RelPageRequest> reads;
  std::vector<size_t> read_of(batch.size(), SIZE_MAX);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto lsn = ResolveReadLsn(ctx_, tl_, batch[i].request.hdr);
    if (!lsn.has_value()) {
      errors[i] = std::move(lsn).error();
      continue;
    }
    read_of[i] = reads.size();
    reads.push_back({batch[i].request.rel, batch[i].request.blkno, *lsn});
  }
  auto pages = timeline::GetRelPages(tl_, reads);
  for (size_t i = 0; i < batch.size(); ++i) {
    const GetPageRequest& request = batch[i].request;
    if (errors[i].ok() && !pages[read_of[i]].has_value()) errors[i] = pages[read_of[i]].error();
    const size_t start = pgwire::BeginCopyData(out);
    if (errors[i].ok()) {
      AppendGetPageResponse(version_, request, *pages[read_of[i]], out);
    } else {
      AppendErrorResponse(version_, request.hdr, errors[i].ToString(), out);
    }
    pgwire::EndCopyData(start, out);
    Count(PagestreamTag::kGetPage, errors[i].ok(), batch[i].arrival);
  }
}

// Waits in slices so a stop request is noticed.
Status WaitForLsn(ConnectionContext& ctx, const timeline::Timeline& tl, Lsn wanted) {
  const auto deadline = Clock::now() + ctx.options.wait_lsn_timeout;
  while (true) {
    if (ctx.stopping.load(std::memory_order_acquire)) {
      return Status::Aborted("pageserver is shutting down");
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return LsnWaitTimedOut(tl, wanted, ctx.options.wait_lsn_timeout);
    const Status s = tl.WaitLsn(wanted, std::min(left, MessageChannel::kPollInterval));
    if (s.ok() || s.code() != common::StatusCode::kTimedOut) return s;
  }
}

}  // namespace

bool NeedsLsnWait(const timeline::Timeline& tl, const RequestHeader& hdr) {
  return CheckRequestLsn(tl, hdr).ok() && hdr.not_modified_since > tl.last_record_lsn();
}

Result<Lsn> ResolveReadLsn(ConnectionContext& ctx, const timeline::Timeline& tl,
                           const RequestHeader& hdr) {
  RETURN_IF_ERROR(CheckRequestLsn(tl, hdr));
  const Lsn wanted = hdr.not_modified_since;
  if (wanted > tl.last_record_lsn()) {
    const auto start = Clock::now();
    ctx.metrics.lsn_waiting().Add(1);
    Status waited = WaitForLsn(ctx, tl, wanted);
    ctx.metrics.lsn_waiting().Add(-1);
    RETURN_IF_ERROR(waited);
    ctx.metrics.lsn_wait_seconds().Observe(SecondsSince(start));
  }
  return std::min(hdr.request_lsn, tl.last_record_lsn());
}

Status ServePagestream(ConnectionContext& ctx, PagestreamVersion version,
                       const timeline::Timeline& timeline) {
  PagestreamSession session(ctx, version, timeline);
  return session.Run();
}

}  // namespace pageserver::server
