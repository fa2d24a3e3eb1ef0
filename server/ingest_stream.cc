#include "server/ingest_stream.h"

#include <string>

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;

// lsn u64 | key | value_len u32: the fixed part of a put after its tag.
constexpr size_t kPutFixedBytes = 8 + layers::kKeySize + 4;
constexpr size_t kCommitBytes = 8;
constexpr size_t kStatusBytes = 1 + 16;

void AppendBigEndian(uint64_t v, int bytes, std::vector<std::byte>& out) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(std::byte(v >> (8 * i)));
}

// REQUIRES: p has `bytes` readable bytes.
uint64_t LoadBigEndian(std::span<const std::byte> p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = v << 8 | uint64_t(p[i]);
  return v;
}

// Decodes the records of one message; `pos` is the offset of the record
// being decoded, `index` its stream-wide number.
class IngestDecoder {
 public:
  IngestDecoder(std::span<const std::byte> message, uint64_t first_index)
      : message_(message), index_(first_index) {}

  Result<std::vector<IngestRecord>> DecodeAll() {
    std::vector<IngestRecord> records;
    while (pos_ < message_.size()) {
      ASSIGN_OR_RETURN(IngestRecord record, DecodeOne());
      records.push_back(std::move(record));
      ++index_;
    }
    return records;
  }

 private:
  Result<IngestRecord> DecodeOne() {
    const std::byte tag = message_[pos_];
    const std::span<const std::byte> body = message_.subspan(pos_ + 1);
    if (tag == kIngestPut) return DecodePut(body);
    if (tag == kIngestCommit) {
      RETURN_IF_ERROR(Need(body, kCommitBytes, "commit"));
      pos_ += 1 + kCommitBytes;
      return IngestRecord(IngestCommit{Lsn{LoadBigEndian(body, 8)}});
    }
    if (tag == kIngestFlush) {
      pos_ += 1;
      return IngestRecord(IngestFlush{});
    }
    return Error("unknown record tag " + std::to_string(unsigned(tag)));
  }

  Result<IngestRecord> DecodePut(std::span<const std::byte> body) {
    RETURN_IF_ERROR(Need(body, kPutFixedBytes, "put header"));
    const Lsn lsn{LoadBigEndian(body, 8)};
    const Key key = Key::Decode(body.subspan<8, layers::kKeySize>());
    const uint64_t value_len = LoadBigEndian(body.subspan(8 + layers::kKeySize), 4);
    const std::span<const std::byte> rest = body.subspan(kPutFixedBytes);
    if (rest.size() < value_len) {
      return Error("truncated put at " + lsn.ToString() + " key " + key.ToHex() + ": value_len " +
                   std::to_string(value_len) + " but " + std::to_string(rest.size()) +
                   " bytes left");
    }
    Result<timeline::Value> value = timeline::Value::Decode(rest.first(value_len));
    if (!value.has_value()) {
      return Error("put at " + lsn.ToString() + " key " + key.ToHex() +
                   ": bad value: " + std::string(value.error().message()));
    }
    pos_ += 1 + kPutFixedBytes + value_len;
    return IngestRecord(IngestPut{lsn, key, std::move(value).value()});
  }

  Status Need(std::span<const std::byte> body, size_t bytes, std::string_view what) {
    if (body.size() >= bytes) return Status::Ok();
    return Error("truncated " + std::string(what) + ": needs " + std::to_string(bytes) +
                 " bytes after the tag, " + std::to_string(body.size()) + " left");
  }

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("ingest record " + std::to_string(index_) + " (message offset " +
                                   std::to_string(pos_) + "): " + what);
  }

  std::span<const std::byte> message_;
  uint64_t index_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<IngestRecord>> DecodeIngestMessage(std::span<const std::byte> message,
                                                      uint64_t first_index) {
  return IngestDecoder(message, first_index).DecodeAll();
}

void AppendIngestPut(Lsn lsn, const Key& key, const timeline::Value& value,
                     std::vector<std::byte>& out) {
  out.push_back(kIngestPut);
  AppendBigEndian(lsn.value, 8, out);
  const layers::EncodedKey encoded = key.Encode();
  out.insert(out.end(), encoded.begin(), encoded.end());
  const std::vector<std::byte> value_bytes = value.Encode();
  AppendBigEndian(value_bytes.size(), 4, out);
  out.insert(out.end(), value_bytes.begin(), value_bytes.end());
}

void AppendIngestCommit(Lsn lsn, std::vector<std::byte>& out) {
  out.push_back(kIngestCommit);
  AppendBigEndian(lsn.value, 8, out);
}

void AppendIngestFlush(std::vector<std::byte>& out) { out.push_back(kIngestFlush); }

std::vector<std::byte> EncodeIngestStatus(const IngestStatus& status) {
  std::vector<std::byte> out;
  out.reserve(kStatusBytes);
  out.push_back(kIngestStatus);
  AppendBigEndian(status.last_record_lsn.value, 8, out);
  AppendBigEndian(status.disk_consistent_lsn.value, 8, out);
  return out;
}

Result<IngestStatus> DecodeIngestStatus(std::span<const std::byte> message) {
  if (message.empty() || message[0] != kIngestStatus) {
    return Status::InvalidArgument(
        "ingest status: expected tag 'S' (83), got " +
        (message.empty() ? std::string("an empty message") : std::to_string(unsigned(message[0]))));
  }
  if (message.size() != kStatusBytes) {
    return Status::InvalidArgument("ingest status: expected 17 bytes, got " +
                                   std::to_string(message.size()));
  }
  return IngestStatus{Lsn{LoadBigEndian(message.subspan(1), 8)},
                      Lsn{LoadBigEndian(message.subspan(9), 8)}};
}

}  // namespace pageserver::server
