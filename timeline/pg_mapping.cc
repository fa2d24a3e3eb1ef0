#include "timeline/pg_mapping.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "timeline/timeline.h"
#include "timeline/value.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using layers::RelTag;

namespace {

using Page = std::vector<std::byte>;
using ValueResult = Result<std::vector<std::byte>>;

constexpr size_t kCountSize = 4;
constexpr size_t kRelDirEntrySize = 5;  // relnode u32 + forknum u8
constexpr size_t kDbDirEntrySize = 8;   // spcnode u32 + dbnode u32

uint32_t GetU32(std::span<const std::byte> b, size_t off) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= std::to_integer<uint32_t>(b[off + i]) << (8 * i);
  return v;
}

void PutU32(std::vector<std::byte>& out, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xFF));
}

std::string EntryText(const RelDirEntry& e) {
  return "relnode " + std::to_string(e.relnode) + " fork " + std::to_string(e.forknum);
}

std::string EntryText(const DbDirEntry& e) {
  return std::to_string(e.spcnode) + "/" + std::to_string(e.dbnode);
}

std::string DbText(uint32_t spcnode, uint32_t dbnode) {
  return "database " + std::to_string(spcnode) + "/" + std::to_string(dbnode);
}

// The entry count of a directory value, once its length matches it.
Result<size_t> DecodeCount(std::span<const std::byte> bytes, const std::string& what,
                           size_t entry_size) {
  if (bytes.size() < kCountSize) {
    return Status::Corruption(what + " value of " + std::to_string(bytes.size()) +
                              " bytes is shorter than its 4-byte count");
  }
  const uint64_t count = GetU32(bytes, 0);
  const uint64_t expected = kCountSize + count * entry_size;
  if (bytes.size() < expected) {
    return Status::Corruption(what + " of " + std::to_string(count) +
                              " entries is truncated: " + std::to_string(bytes.size()) +
                              " bytes, expected " + std::to_string(expected));
  }
  if (bytes.size() > expected) {
    return Status::Corruption(what + " of " + std::to_string(count) + " entries has " +
                              std::to_string(bytes.size() - expected) + " trailing bytes");
  }
  return static_cast<size_t>(count);
}

// Corruption unless entries[i] is strictly above entries[i - 1].
template <typename Entry>
Status CheckAscending(const std::vector<Entry>& entries, const std::string& what) {
  const size_t i = entries.size() - 1;
  if (i == 0 || entries[i - 1] < entries[i]) return Status::Ok();
  const std::string problem = entries[i - 1] == entries[i] ? "duplicates" : "is out of order after";
  return Status::Corruption(what + " entry " + std::to_string(i) + " (" + EntryText(entries[i]) +
                            ") " + problem + " entry " + std::to_string(i - 1) + " (" +
                            EntryText(entries[i - 1]) + ")");
}

Status CheckRelDirEntry(const RelDirEntry& e) {
  if (e.forknum > kMaxForkNum) return Status::InvalidArgument("fork number above 3");
  if (e.relnode == 0) return Status::InvalidArgument("relnode 0 (InvalidOid)");
  return Status::Ok();
}

template <typename Entry>
std::vector<Entry> SortedUnique(std::span<const Entry> entries) {
  std::vector<Entry> sorted(entries.begin(), entries.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return sorted;
}

// Timeline::GetVectored over any number of requests, in calls of at most
// max_get_vectored_keys.
std::vector<ValueResult> ReadBatched(const Timeline& tl, std::span<const KeyRequest> requests) {
  const size_t batch = std::max<size_t>(1, tl.config().max_get_vectored_keys);
  std::vector<ValueResult> out;
  out.reserve(requests.size());
  for (size_t start = 0; start < requests.size(); start += batch) {
    auto part = tl.GetVectored(requests.subspan(start, std::min(batch, requests.size() - start)));
    for (auto& r : part) out.push_back(std::move(r));
  }
  return out;
}

ValueResult ReadOne(const Timeline& tl, const Key& key, Lsn lsn) {
  const KeyRequest request{key, lsn};
  return std::move(ReadBatched(tl, std::span(&request, 1)).front());
}

// The cache may answer only LSNs the timeline would read: an entry says
// nothing about LSNs above last_record_lsn (a size change there may still be
// ingested), and the timeline's error for an invalid or GC'd LSN must not
// depend on whether an entry exists.
bool CacheMayAnswer(const Timeline& tl, Lsn lsn) {
  return lsn.valid() && lsn >= tl.gc_cutoff() && lsn <= tl.last_record_lsn();
}

struct SizeRead {
  RelTag rel;
  Lsn lsn;
};

Status RelNotFound(const RelTag& rel, Lsn lsn) {
  return Status::NotFound("relation " + rel.ToString() + " does not exist at " + lsn.ToString());
}

// The sizes of `reads` (one result each): cache hits, then every miss in
// batched reads; fills the cache per the rule of rel_size_cache.h.
std::vector<Result<uint32_t>> ReadRelSizes(const Timeline& tl, std::span<const SizeRead> reads) {
  std::vector<Result<uint32_t>> sizes(reads.size(), Status::Internal("size not read"));
  std::vector<KeyRequest> requests;
  std::vector<size_t> missed;
  for (size_t i = 0; i < reads.size(); ++i) {
    const SizeRead& r = reads[i];
    if (CacheMayAnswer(tl, r.lsn)) {
      if (auto n = tl.rel_size_cache().Get(r.rel, r.lsn)) {
        sizes[i] = *n;
        continue;
      }
    }
    requests.push_back({Key::RelSize(r.rel), r.lsn});
    missed.push_back(i);
  }
  if (requests.empty()) return sizes;
  auto values = ReadBatched(tl, requests);
  // After the read: see OnRead's REQUIRES.
  const Lsn last_record_lsn = tl.last_record_lsn();
  for (size_t j = 0; j < missed.size(); ++j) {
    const SizeRead& r = reads[missed[j]];
    if (!values[j].has_value()) {
      sizes[missed[j]] =
          values[j].error().IsNotFound() ? RelNotFound(r.rel, r.lsn) : std::move(values[j]).error();
      continue;
    }
    auto n = DecodeRelSize(*values[j]);
    if (!n.has_value()) {
      sizes[missed[j]] =
          n.error().WithContext("relation " + r.rel.ToString() + " at " + r.lsn.ToString());
      continue;
    }
    if (r.lsn >= last_record_lsn) tl.rel_size_cache().OnRead(r.rel, r.lsn, *n);
    sizes[missed[j]] = *n;
  }
  return sizes;
}

// The distinct (rel, lsn) pairs of `requests` and, per request, the index
// of its pair.
std::pair<std::vector<SizeRead>, std::vector<size_t>> DistinctSizeReads(
    std::span<const RelPageRequest> requests) {
  std::map<std::pair<RelTag, Lsn>, size_t> index;
  std::vector<SizeRead> reads;
  std::vector<size_t> of_request;
  of_request.reserve(requests.size());
  for (const RelPageRequest& r : requests) {
    auto [it, added] = index.try_emplace({r.rel, r.lsn}, reads.size());
    if (added) reads.push_back({r.rel, r.lsn});
    of_request.push_back(it->second);
  }
  return {std::move(reads), std::move(of_request)};
}

std::string RequestText(const RelPageRequest& r) {
  return "rel " + r.rel.ToString() + " blk " + std::to_string(r.blkno) + " at " + r.lsn.ToString();
}

}  // namespace

// --- Encodings ---

std::vector<std::byte> EncodeRelSize(uint32_t nblocks) {
  std::vector<std::byte> out;
  out.reserve(kRelSizeValueSize);
  PutU32(out, nblocks);
  return out;
}

Result<uint32_t> DecodeRelSize(std::span<const std::byte> bytes) {
  if (bytes.size() != kRelSizeValueSize) {
    return Status::Corruption("relation size value of " + std::to_string(bytes.size()) +
                              " bytes, expected 4");
  }
  return GetU32(bytes, 0);
}

Result<std::vector<std::byte>> EncodeRelDir(std::span<const RelDirEntry> entries) {
  for (const RelDirEntry& e : entries) {
    Status s = CheckRelDirEntry(e);
    if (!s.ok()) return s.WithContext("relation directory entry " + EntryText(e));
  }
  const auto sorted = SortedUnique(entries);
  std::vector<std::byte> out;
  out.reserve(kCountSize + sorted.size() * kRelDirEntrySize);
  PutU32(out, static_cast<uint32_t>(sorted.size()));
  for (const RelDirEntry& e : sorted) {
    PutU32(out, e.relnode);
    out.push_back(std::byte(e.forknum));
  }
  return out;
}

Result<std::vector<RelDirEntry>> DecodeRelDir(std::span<const std::byte> bytes) {
  const std::string what = "relation directory";
  ASSIGN_OR_RETURN(const size_t count, DecodeCount(bytes, what, kRelDirEntrySize));
  std::vector<RelDirEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t off = kCountSize + i * kRelDirEntrySize;
    entries.push_back({GetU32(bytes, off), std::to_integer<uint8_t>(bytes[off + 4])});
    const Status bad = CheckRelDirEntry(entries.back());
    if (!bad.ok()) {
      return Status::Corruption(what + " entry " + std::to_string(i) + " (" +
                                EntryText(entries.back()) + "): " + std::string(bad.message()));
    }
    RETURN_IF_ERROR(CheckAscending(entries, what));
  }
  return entries;
}

std::vector<std::byte> EncodeDbDir(std::span<const DbDirEntry> entries) {
  const auto sorted = SortedUnique(entries);
  std::vector<std::byte> out;
  out.reserve(kCountSize + sorted.size() * kDbDirEntrySize);
  PutU32(out, static_cast<uint32_t>(sorted.size()));
  for (const DbDirEntry& e : sorted) {
    PutU32(out, e.spcnode);
    PutU32(out, e.dbnode);
  }
  return out;
}

Result<std::vector<DbDirEntry>> DecodeDbDir(std::span<const std::byte> bytes) {
  const std::string what = "database directory";
  ASSIGN_OR_RETURN(const size_t count, DecodeCount(bytes, what, kDbDirEntrySize));
  std::vector<DbDirEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t off = kCountSize + i * kDbDirEntrySize;
    entries.push_back({GetU32(bytes, off), GetU32(bytes, off + 4)});
    RETURN_IF_ERROR(CheckAscending(entries, what));
  }
  return entries;
}

// --- Reads ---

Result<bool> RelExists(const Timeline& tl, const RelTag& rel, Lsn lsn) {
  const SizeRead read{rel, lsn};
  auto size = std::move(ReadRelSizes(tl, std::span(&read, 1)).front());
  if (size.has_value()) return true;
  if (size.error().IsNotFound()) return false;
  return std::move(size).error();
}

Result<uint32_t> GetRelSize(const Timeline& tl, const RelTag& rel, Lsn lsn) {
  const SizeRead read{rel, lsn};
  return std::move(ReadRelSizes(tl, std::span(&read, 1)).front());
}

Result<std::vector<RelDirEntry>> GetRelDir(const Timeline& tl, uint32_t spcnode, uint32_t dbnode,
                                           Lsn lsn) {
  auto value = ReadOne(tl, Key::RelDir(spcnode, dbnode), lsn);
  if (!value.has_value()) {
    if (!value.error().IsNotFound()) return std::move(value).error();
    return Status::NotFound(DbText(spcnode, dbnode) + " does not exist at " + lsn.ToString());
  }
  auto entries = DecodeRelDir(*value);
  if (!entries.has_value()) {
    return entries.error().WithContext(DbText(spcnode, dbnode) + " at " + lsn.ToString());
  }
  return entries;
}

Result<std::vector<DbDirEntry>> GetDbDir(const Timeline& tl, Lsn lsn) {
  auto value = ReadOne(tl, Key::DbDir(), lsn);
  if (!value.has_value()) {
    if (!value.error().IsNotFound()) return std::move(value).error();
    return Status::NotFound("database directory does not exist at " + lsn.ToString());
  }
  auto entries = DecodeDbDir(*value);
  if (!entries.has_value()) return entries.error().WithContext("at " + lsn.ToString());
  return entries;
}

Result<uint64_t> GetDbSize(const Timeline& tl, uint32_t spcnode, uint32_t dbnode, Lsn lsn) {
  ASSIGN_OR_RETURN(const auto entries, GetRelDir(tl, spcnode, dbnode, lsn));
  std::vector<SizeRead> reads;
  reads.reserve(entries.size());
  for (const RelDirEntry& e : entries) {
    reads.push_back({RelTag{spcnode, dbnode, e.relnode, e.forknum}, lsn});
  }
  uint64_t blocks = 0;
  for (auto& size : ReadRelSizes(tl, reads)) {
    if (!size.has_value()) return size.error().WithContext(DbText(spcnode, dbnode));
    blocks += *size;
  }
  return blocks * kPageSize;
}

std::vector<Result<Page>> GetRelPages(const Timeline& tl,
                                      std::span<const RelPageRequest> requests) {
  const auto [size_reads, size_of] = DistinctSizeReads(requests);
  const auto sizes = ReadRelSizes(tl, size_reads);

  std::vector<Result<Page>> out(requests.size(), Status::Internal("page not read"));
  std::map<std::pair<Key, Lsn>, size_t> page_index;
  std::vector<KeyRequest> page_reads;
  std::vector<std::optional<size_t>> page_of(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const RelPageRequest& r = requests[i];
    const auto& size = sizes[size_of[i]];
    if (!size.has_value()) {
      out[i] = size.error();
    } else if (r.blkno >= *size) {
      out[i] = Page(kPageSize);
    } else {
      const Key key = Key::RelBlock(r.rel, r.blkno);
      auto [it, added] = page_index.try_emplace({key, r.lsn}, page_reads.size());
      if (added) page_reads.push_back({key, r.lsn});
      page_of[i] = it->second;
    }
  }

  auto pages = ReadBatched(tl, page_reads);
  // A page asked for twice is moved into its first request and copied from there.
  std::vector<std::optional<size_t>> holder(pages.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!page_of[i]) continue;
    const size_t p = *page_of[i];
    if (holder[p]) {
      out[i] = out[*holder[p]];
      continue;
    }
    holder[p] = i;
    out[i] = pages[p].has_value()
                 ? std::move(pages[p])
                 : Result<Page>(pages[p].error().WithContext(RequestText(requests[i])));
  }
  return out;
}

}  // namespace pageserver::timeline
