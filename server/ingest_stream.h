#pragma once

// The ingest stream: how a WAL-decoding source (our stand-in for Neon's
// safekeeper -> pageserver WAL receiver) feeds (LSN, key, value) records to
// a timeline. `ingest <tenant> <timeline>` switches the connection to COPY
// BOTH; the client then sends CopyData messages, each holding one or more
// whole records (a record never spans two messages). Integers big-endian,
// as in pagestream.h. RFC.md "Ingest stream" has the tables.
//
//   'P' put      lsn u64 | key 18 bytes (layers::Key::Encode) |
//                value_len u32 | value (timeline::Value encoding)
//   'C' commit   lsn u64: every put at or below lsn becomes visible
//                (Timeline::FinishLsn); the server answers with a status.
//   'F' flush    (no body): checkpoint everything committed so far
//                (Timeline::Checkpoint); the server answers with a status.
//
// Server -> client, one CopyData message per commit or flush answered (a
// CopyData message with several commits gets one status, after the last):
//   'S' status   last_record_lsn u64 | disk_consistent_lsn u64
//
// Atomicity: the server applies the puts of a commit only after it has
// received and validated the whole commit; a bad record fails the stream
// with an ErrorResponse naming the record (its index in the stream, its
// LSN and key) and nothing past the last accepted commit is applied.
//
// Thread-safety: plain values and pure functions.

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "common/status.h"
#include "layers/key.h"
#include "layers/lsn.h"
#include "timeline/value.h"

namespace pageserver::server {

inline constexpr std::byte kIngestPut{'P'};
inline constexpr std::byte kIngestCommit{'C'};
inline constexpr std::byte kIngestFlush{'F'};
inline constexpr std::byte kIngestStatus{'S'};

struct IngestPut {
  layers::Lsn lsn;
  layers::Key key;
  timeline::Value value;
};
struct IngestCommit {
  layers::Lsn lsn;
};
struct IngestFlush {};
using IngestRecord = std::variant<IngestPut, IngestCommit, IngestFlush>;

// Decodes every record of one CopyData payload, in order. InvalidArgument
// naming the record's position in the message (index and byte offset) for
// an unknown tag, a truncated record or a value that does not decode.
// `first_index` numbers the records (the stream-wide index of the first).
common::Result<std::vector<IngestRecord>> DecodeIngestMessage(std::span<const std::byte> message,
                                                              uint64_t first_index);

// Client side: append one record to a message being built.
void AppendIngestPut(layers::Lsn lsn, const layers::Key& key, const timeline::Value& value,
                     std::vector<std::byte>& out);
void AppendIngestCommit(layers::Lsn lsn, std::vector<std::byte>& out);
void AppendIngestFlush(std::vector<std::byte>& out);

struct IngestStatus {
  layers::Lsn last_record_lsn;
  layers::Lsn disk_consistent_lsn;
  bool operator==(const IngestStatus&) const = default;
};
std::vector<std::byte> EncodeIngestStatus(const IngestStatus& status);
common::Result<IngestStatus> DecodeIngestStatus(std::span<const std::byte> message);

}  // namespace pageserver::server
