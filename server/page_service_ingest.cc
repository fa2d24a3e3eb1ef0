// The ingest session: records arrive in CopyData messages; the puts of a
// commit are held, validated as a whole, and applied only when the commit
// arrives, so a bad record never leaves part of a commit behind.

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "server/ingest_stream.h"
#include "server/page_service_session.h"
#include "timeline/pg_mapping.h"

namespace pageserver::server {
namespace {

using common::Status;
using layers::Lsn;

// The puts of one commit held in memory until the commit arrives (value
// bytes plus key and LSN); a larger commit fails the stream.
constexpr size_t kMaxPendingCommitBytes = size_t{256} << 20;
constexpr size_t kPutOverheadBytes = 64;

bool IsPageKey(const layers::Key& key) { return key.IsRelBlock() || key.IsSlruBlock(); }

std::string DescribePut(uint64_t index, const IngestPut& put) {
  return "ingest record " + std::to_string(index) + " (put at " + put.lsn.ToString() + ", key " +
         put.key.ToHex() + " " + put.key.Describe() + ")";
}

std::string DescribeCommit(uint64_t index, Lsn lsn) {
  return "ingest record " + std::to_string(index) + " (commit at " + lsn.ToString() + ")";
}

// Makes the connection thread the timeline's ingest thread for the session
// and always hands it back.
class IngestAttachment {
 public:
  explicit IngestAttachment(timeline::Timeline& tl) : tl_(tl) {}
  ~IngestAttachment() {
    if (Status s = tl_.DetachIngest(); !s.ok()) {
      spdlog::warn("ingest: detaching from timeline {}: {}", tl_.timeline_id().ToHex(),
                   s.ToString());
    }
  }
  IngestAttachment(const IngestAttachment&) = delete;
  IngestAttachment& operator=(const IngestAttachment&) = delete;

 private:
  timeline::Timeline& tl_;
};

class IngestSession {
 public:
  IngestSession(ConnectionContext& ctx, timeline::Timeline& tl) : ctx_(ctx), tl_(tl) {}

  common::Result<IngestEnd> Run();

 private:
  struct PendingPut {
    uint64_t index;
    IngestPut put;
  };

  Status HandleMessage(std::span<const std::byte> body);
  Status HandleRecord(IngestRecord& record, uint64_t index);
  Status CheckPut(const IngestPut& put) const;
  Status Commit(uint64_t index, Lsn lsn);
  Status Flush(uint64_t index);
  Status Reject(const Status& reason);
  Status SendStatus();

  ConnectionContext& ctx_;
  timeline::Timeline& tl_;
  std::vector<PendingPut> pending_;
  size_t pending_bytes_ = 0;
  uint64_t next_index_ = 0;  // stream-wide index of the next record
  bool status_due_ = false;
  Status rejected_;  // the bad record's error, once rejected
};

common::Result<IngestEnd> IngestSession::Run() {
  IngestAttachment attachment(tl_);
  std::vector<std::byte> out;
  pgwire::AppendCopyBothResponse(out);
  RETURN_IF_ERROR(ctx_.channel.Send(out));
  while (true) {
    ASSIGN_OR_RETURN(auto message, ctx_.channel.Read());
    if (!message.has_value()) return ctx_.ClientGone("client closed the ingest stream");
    switch (message->tag) {
      case pgwire::FrontendTag::kCopyData:
        if (Status s = HandleMessage(message->body); !s.ok()) {
          if (!rejected_.ok()) return IngestEnd{IngestEnd::Kind::kRejected, rejected_};
          return s;
        }
        break;
      case pgwire::FrontendTag::kCopyDone:
        // Puts without a commit are dropped: nothing past the last commit applies.
        return IngestEnd{IngestEnd::Kind::kCopyDone, Status::Ok()};
      case pgwire::FrontendTag::kCopyFail:
        return IngestEnd{
            IngestEnd::Kind::kCopyFail,
            Status::Aborted("ingest stream failed by the client: " + std::string(message->text()))};
      case pgwire::FrontendTag::kTerminate:
        return ctx_.ClientGone("client terminated the ingest stream");
      default:
        return ctx_.Unexpected(message->tag, "in an ingest stream");
    }
  }
}

Status IngestSession::HandleMessage(std::span<const std::byte> body) {
  auto records = DecodeIngestMessage(body, next_index_);
  if (!records.has_value()) return Reject(records.error());
  for (auto& record : *records) {
    RETURN_IF_ERROR(HandleRecord(record, next_index_));
    ++next_index_;
  }
  return status_due_ ? SendStatus() : Status::Ok();
}

Status IngestSession::HandleRecord(IngestRecord& record, uint64_t index) {
  if (auto* put = std::get_if<IngestPut>(&record)) {
    if (Status s = CheckPut(*put); !s.ok()) {
      return Reject(
          Status::InvalidArgument(DescribePut(index, *put) + ": " + std::string(s.message())));
    }
    pending_bytes_ += put->value.encoded_size() + kPutOverheadBytes;
    if (pending_bytes_ > kMaxPendingCommitBytes) {
      return Reject(Status::ResourceExhausted(
          DescribePut(index, *put) + ": the puts since the last commit exceed " +
          std::to_string(kMaxPendingCommitBytes) + " bytes; commit more often"));
    }
    pending_.push_back({index, std::move(*put)});
    return Status::Ok();
  }
  if (const auto* commit = std::get_if<IngestCommit>(&record)) return Commit(index, commit->lsn);
  return Flush(index);
}

// The checks Timeline::Put makes, done before anything of the commit is applied.
Status IngestSession::CheckPut(const IngestPut& put) const {
  if (!put.lsn.valid() || put.lsn == Lsn::Max()) return Status::InvalidArgument("invalid LSN");
  const Lsn last_record = tl_.last_record_lsn();
  if (put.lsn <= last_record) {
    return Status::InvalidArgument("LSN not above last_record_lsn " + last_record.ToString());
  }
  if (!pending_.empty() && put.lsn < pending_.back().put.lsn) {
    return Status::InvalidArgument("LSN below the previous put's " +
                                   pending_.back().put.lsn.ToString());
  }
  if (!tl_.config().keyspace.Contains(put.key)) {
    return Status::InvalidArgument("key outside the timeline's keyspace");
  }
  const auto& value = put.value;
  if (IsPageKey(put.key) && value.is_image() && value.bytes().size() != timeline::kPageSize) {
    return Status::InvalidArgument("page image of " + std::to_string(value.bytes().size()) +
                                   " bytes, expected 8192");
  }
  if (!IsPageKey(put.key) && !value.is_image()) {
    return Status::InvalidArgument(value.ToString() + " record for a key that is not a page");
  }
  if (put.key.IsRelSize() && value.bytes().size() != timeline::kRelSizeValueSize) {
    return Status::InvalidArgument("relation size value of " +
                                   std::to_string(value.bytes().size()) + " bytes, expected 4");
  }
  return Status::Ok();
}

Status IngestSession::Commit(uint64_t index, Lsn lsn) {
  const Lsn last_record = tl_.last_record_lsn();
  const Lsn last_put = pending_.empty() ? Lsn::Invalid() : pending_.back().put.lsn;
  if (!lsn.valid() || lsn == Lsn::Max() || lsn < last_record || lsn < last_put) {
    return Reject(Status::InvalidArgument(
        DescribeCommit(index, lsn) + ": LSN invalid or below last_record_lsn " +
        last_record.ToString() + " or the last put's LSN " + last_put.ToString()));
  }
  for (PendingPut& p : pending_) {
    if (Status s = tl_.Put(p.put.key, p.put.lsn, p.put.value); !s.ok()) {
      return Reject(s.WithContext(DescribePut(p.index, p.put)));
    }
  }
  if (Status s = tl_.FinishLsn(lsn); !s.ok()) {
    return Reject(s.WithContext(DescribeCommit(index, lsn)));
  }
  ctx_.metrics.ingest_records().IncrementBy(pending_.size());
  ctx_.metrics.ingest_commits().Increment();
  pending_.clear();
  pending_bytes_ = 0;
  status_due_ = true;
  return Status::Ok();
}

Status IngestSession::Flush(uint64_t index) {
  if (Status s = tl_.Checkpoint(); !s.ok()) {
    return Reject(s.WithContext("ingest record " + std::to_string(index) + " (flush)"));
  }
  status_due_ = true;
  return Status::Ok();
}

Status IngestSession::SendStatus() {
  status_due_ = false;
  std::vector<std::byte> out;
  pgwire::AppendCopyData(EncodeIngestStatus({tl_.last_record_lsn(), tl_.disk_consistent_lsn()}),
                         out);
  return ctx_.channel.Send(out);
}

// Ends the stream on a bad record: the commits before it (already applied)
// get their status now; the caller sends the error naming the record.
Status IngestSession::Reject(const Status& reason) {
  ctx_.metrics.ingest_rejected().Increment();
  if (status_due_) RETURN_IF_ERROR(SendStatus());
  pending_.clear();
  rejected_ = reason;
  return reason;
}

}  // namespace

common::Result<IngestEnd> ServeIngest(ConnectionContext& ctx, timeline::Timeline& timeline) {
  IngestSession session(ctx, timeline);
  return session.Run();
}

}  // namespace pageserver::server
