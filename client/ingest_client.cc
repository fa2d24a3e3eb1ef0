#include "client/ingest_client.h"

namespace pageserver::client {

using common::Result;
using common::Status;
using server::IngestStatus;

std::string IngestCommand(const layers::TenantId& tenant, const layers::TimelineId& timeline) {
  return "ingest " + tenant.ToHex() + " " + timeline.ToHex();
}

Result<std::unique_ptr<IngestClient>> IngestClient::Connect(const std::string& conninfo,
                                                            const layers::TenantId& tenant,
                                                            const layers::TimelineId& timeline,
                                                            Options options) {
  ASSIGN_OR_RETURN(std::unique_ptr<CopyBothConnection> conn, CopyBothConnection::Connect(conninfo));
  RETURN_IF_ERROR(conn->StartCopyBoth(IngestCommand(tenant, timeline)));
  return std::unique_ptr<IngestClient>(new IngestClient(std::move(conn), options));
}

Status IngestClient::Put(layers::Lsn lsn, const layers::Key& key, const timeline::Value& value) {
  server::AppendIngestPut(lsn, key, value, buffer_);
  if (buffer_.size() < kSendThreshold) return Status::Ok();
  return SendBuffer();
}

Status IngestClient::SendBuffer() {
  if (buffer_.empty()) return Status::Ok();
  Status sent = conn_->Send(buffer_);
  buffer_.clear();
  return sent;
}

Result<IngestStatus> IngestClient::SendAndAwaitStatus() {
  RETURN_IF_ERROR(SendBuffer());
  RETURN_IF_ERROR(conn_->Flush());
  ASSIGN_OR_RETURN(std::vector<std::byte> reply, conn_->Receive(options_.reply_timeout));
  Result<IngestStatus> status = server::DecodeIngestStatus(reply);
  if (!status.has_value()) {
    return Status::Corruption("malformed ingest reply from the server: " +
                              std::string(status.error().message()));
  }
  return status;
}

Result<IngestStatus> IngestClient::Commit(layers::Lsn lsn) {
  server::AppendIngestCommit(lsn, buffer_);
  return SendAndAwaitStatus();
}

Result<IngestStatus> IngestClient::Flush() {
  server::AppendIngestFlush(buffer_);
  return SendAndAwaitStatus();
}

Status IngestClient::Close() {
  buffer_.clear();
  return conn_->Close();
}

}  // namespace pageserver::client
