// libFuzzer target for the ingest stream codecs (server/ingest_stream.h):
// arbitrary bytes decoded as one ingest CopyData message and as a status
// reply.
//
// Properties checked (a violation traps): a message that decodes re-encodes
// record by record (AppendIngestPut/Commit/Flush) to exactly the same bytes;
// a status that decodes re-encodes to the same 17 bytes. Errors are fine;
// crashes, leaks and UB are not.
//
// Built by the fuzz preset (fuzz/CMakeLists.txt), run by scripts/fuzz.sh.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "server/ingest_stream.h"

namespace {

namespace ps = pageserver::server;
using Bytes = std::vector<std::byte>;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool SameBytes(const Bytes& a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void CheckMessage(std::span<const std::byte> message) {
  auto records = ps::DecodeIngestMessage(message, 0);
  if (!records.has_value()) return;
  Bytes again;
  for (const ps::IngestRecord& r : *records) {
    if (const auto* put = std::get_if<ps::IngestPut>(&r)) {
      ps::AppendIngestPut(put->lsn, put->key, put->value, again);
    } else if (const auto* commit = std::get_if<ps::IngestCommit>(&r)) {
      ps::AppendIngestCommit(commit->lsn, again);
    } else {
      ps::AppendIngestFlush(again);
    }
  }
  Check(SameBytes(again, message));
}

void CheckStatus(std::span<const std::byte> message) {
  auto status = ps::DecodeIngestStatus(message);
  if (!status.has_value()) return;
  Check(SameBytes(ps::EncodeIngestStatus(*status), message));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes message(reinterpret_cast<const std::byte*>(data),
                      reinterpret_cast<const std::byte*>(data) + size);
  CheckMessage(message);
  CheckStatus(message);
  return 0;
}
