#include "pg_import/import_values.h"

#include <algorithm>
#include <array>
#include <boost/uuid/detail/sha1.hpp>

#include "pg_import/pg_path.h"
#include "timeline/timeline.h"
#include "timeline/value.h"

namespace pageserver::pg_import {

namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;

constexpr size_t kAuxHeaderFixed = 2 + 4 + 4 + 8 + 4;  // without the path

void PutLe(std::vector<std::byte>& out, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) out.push_back(std::byte((value >> (8 * i)) & 0xFF));
}

uint64_t GetLe(std::span<const std::byte> bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= uint64_t{std::to_integer<uint8_t>(bytes[offset + i])} << (8 * i);
  }
  return value;
}

std::array<std::byte, 20> Sha1(std::span<const std::byte> data) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(data.data(), data.size());
  boost::uuids::detail::sha1::digest_type words;
  sha.get_digest(words);
  std::array<std::byte, 20> out;
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = 0; j < 4; ++j) out[4 * i + j] = std::byte((words[i] >> (24 - 8 * j)) & 0xFF);
  }
  return out;
}

// Reads `keys` at `lsn` in calls of at most max_get_vectored_keys.
std::vector<Result<std::vector<std::byte>>> ReadKeys(const timeline::Timeline& tl,
                                                     std::span<const Key> keys, Lsn lsn) {
  std::vector<Result<std::vector<std::byte>>> out;
  const size_t batch = std::max<size_t>(1, tl.config().max_get_vectored_keys);
  for (size_t i = 0; i < keys.size(); i += batch) {
    auto values = tl.GetVectored(keys.subspan(i, std::min(batch, keys.size() - i)), lsn);
    for (auto& v : values) out.push_back(std::move(v));
  }
  return out;
}

Status CheckAuxPart(const AuxFilePart& p) {
  if (p.parts == 0 || p.part >= p.parts) {
    return Status::Corruption("aux file part " + std::to_string(p.part) + " of " +
                              std::to_string(p.parts) + " parts");
  }
  if (p.parts != AuxPartCount(p.file_size)) {
    return Status::Corruption("aux file of " + std::to_string(p.file_size) + " bytes in " +
                              std::to_string(p.parts) + " parts");
  }
  const uint64_t start = uint64_t{p.part} * kAuxPartBytes;
  const uint64_t expected = std::min<uint64_t>(kAuxPartBytes, p.file_size - start);
  if (p.content.size() != expected) {
    return Status::Corruption("aux file part " + std::to_string(p.part) + " holds " +
                              std::to_string(p.content.size()) + " bytes, expected " +
                              std::to_string(expected));
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::byte> EncodeSlruSegmentSize(uint32_t nblocks) {
  std::vector<std::byte> out;
  PutLe(out, nblocks, 4);
  return out;
}

Result<uint32_t> DecodeSlruSegmentSize(std::span<const std::byte> bytes) {
  if (bytes.size() != 4) {
    return Status::Corruption("SLRU segment size value of " + std::to_string(bytes.size()) +
                              " bytes, expected 4");
  }
  return static_cast<uint32_t>(GetLe(bytes, 0, 4));
}

std::vector<std::byte> EncodeSlruDir(std::span<const uint32_t> segnos) {
  std::vector<uint32_t> sorted(segnos.begin(), segnos.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::byte> out;
  PutLe(out, sorted.size(), 4);
  for (const uint32_t s : sorted) PutLe(out, s, 4);
  return out;
}

Result<std::vector<uint32_t>> DecodeSlruDir(std::span<const std::byte> bytes) {
  if (bytes.size() < 4) return Status::Corruption("SLRU directory shorter than its count");
  const uint64_t count = GetLe(bytes, 0, 4);
  if (bytes.size() != 4 + 4 * count) {
    return Status::Corruption("SLRU directory of " + std::to_string(bytes.size()) + " bytes for " +
                              std::to_string(count) + " entries");
  }
  std::vector<uint32_t> out;
  for (uint64_t i = 0; i < count; ++i) {
    const auto segno = static_cast<uint32_t>(GetLe(bytes, 4 + 4 * i, 4));
    if (!out.empty() && segno <= out.back()) {
      return Status::Corruption("SLRU directory entry " + std::to_string(i) +
                                " out of order: " + std::to_string(segno));
    }
    out.push_back(segno);
  }
  return out;
}

uint32_t AuxPartCount(uint64_t file_size) {
  return static_cast<uint32_t>(
      std::max<uint64_t>(1, (file_size + kAuxPartBytes - 1) / kAuxPartBytes));
}

Key AuxFileKey(std::string_view path, uint32_t part) {
  std::vector<std::byte> input(reinterpret_cast<const std::byte*>(path.data()),
                               reinterpret_cast<const std::byte*>(path.data()) + path.size());
  if (part > 0) {
    input.push_back(std::byte{0});
    for (int shift = 24; shift >= 0; shift -= 8) input.push_back(std::byte((part >> shift) & 0xFF));
  }
  const std::array<std::byte, 20> digest = Sha1(input);
  return Key::AuxFile(std::span<const std::byte, 17>(digest.data(), 17));
}

std::vector<std::byte> EncodeAuxFilePart(const AuxFilePart& p) {
  std::vector<std::byte> out;
  out.reserve(kAuxHeaderFixed + p.path.size() + p.content.size());
  PutLe(out, p.path.size(), 2);
  for (const char c : p.path) out.push_back(static_cast<std::byte>(c));
  PutLe(out, p.part, 4);
  PutLe(out, p.parts, 4);
  PutLe(out, p.file_size, 8);
  PutLe(out, p.content.size(), 4);
  out.insert(out.end(), p.content.begin(), p.content.end());
  return out;
}

Result<AuxFilePart> DecodeAuxFilePart(std::span<const std::byte> bytes) {
  if (bytes.size() < 2) return Status::Corruption("aux file value shorter than its header");
  const size_t path_len = GetLe(bytes, 0, 2);
  if (path_len == 0 || path_len > kMaxAuxPathBytes || bytes.size() < kAuxHeaderFixed + path_len) {
    return Status::Corruption("aux file value of " + std::to_string(bytes.size()) +
                              " bytes with a path of " + std::to_string(path_len) + " bytes");
  }
  AuxFilePart p;
  p.path.assign(reinterpret_cast<const char*>(bytes.data()) + 2, path_len);
  size_t at = 2 + path_len;
  p.part = static_cast<uint32_t>(GetLe(bytes, at, 4));
  p.parts = static_cast<uint32_t>(GetLe(bytes, at + 4, 4));
  p.file_size = GetLe(bytes, at + 8, 8);
  const uint64_t content_len = GetLe(bytes, at + 16, 4);
  at += 20;
  if (bytes.size() - at != content_len) {
    return Status::Corruption("aux file value for " + p.path + ": content length " +
                              std::to_string(content_len) + ", " +
                              std::to_string(bytes.size() - at) + " bytes present");
  }
  p.content.assign(bytes.begin() + static_cast<ptrdiff_t>(at), bytes.end());
  const Status status = CheckAuxPart(p);
  if (!status.ok()) return status.WithContext("aux file value for " + p.path);
  return p;
}

Result<std::vector<std::byte>> ReadAuxFile(const timeline::Timeline& tl, std::string_view path,
                                           Lsn lsn) {
  const Key first_key = AuxFileKey(path, 0);
  ASSIGN_OR_RETURN(const std::vector<std::byte> first_value, tl.Get(first_key, lsn));
  ASSIGN_OR_RETURN(AuxFilePart first, DecodeAuxFilePart(first_value));
  if (first.path != path) {
    return Status::Corruption("aux file key of " + std::string(path) + " holds " + first.path);
  }
  std::vector<Key> keys;
  for (uint32_t i = 1; i < first.parts; ++i) keys.push_back(AuxFileKey(path, i));
  std::vector<std::byte> out = std::move(first.content);
  out.reserve(first.file_size);
  auto values = ReadKeys(tl, keys, lsn);
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string what = std::string(path) + " part " + std::to_string(i + 1);
    if (!values[i].has_value()) return values[i].error().WithContext("aux file " + what);
    ASSIGN_OR_RETURN(AuxFilePart part, DecodeAuxFilePart(*values[i]));
    if (part.path != path || part.part != i + 1 || part.file_size != first.file_size) {
      return Status::Corruption("aux file " + what + " holds part " + std::to_string(part.part) +
                                " of " + part.path);
    }
    out.insert(out.end(), part.content.begin(), part.content.end());
  }
  return out;
}

Result<std::vector<std::byte>> ReadSlruSegment(const timeline::Timeline& tl, layers::SlruKind kind,
                                               uint32_t segno, Lsn lsn) {
  ASSIGN_OR_RETURN(const std::vector<std::byte> size_value,
                   tl.Get(Key::SlruSegmentSize(kind, segno), lsn));
  ASSIGN_OR_RETURN(const uint32_t nblocks, DecodeSlruSegmentSize(size_value));
  if (nblocks > kSlruPagesPerSegment) {
    return Status::Corruption("SLRU segment " + std::to_string(segno) + " claims " +
                              std::to_string(nblocks) + " blocks, at most " +
                              std::to_string(kSlruPagesPerSegment));
  }
  std::vector<Key> keys;
  for (uint32_t b = 0; b < nblocks; ++b) keys.push_back(Key::SlruBlock(kind, segno, b));
  std::vector<std::byte> out;
  out.reserve(size_t{nblocks} * timeline::kPageSize);
  auto values = ReadKeys(tl, keys, lsn);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].has_value()) return values[i].error();
    if (values[i]->size() != timeline::kPageSize) {
      return Status::Corruption("SLRU segment " + std::to_string(segno) + " block " +
                                std::to_string(i) + " holds " + std::to_string(values[i]->size()) +
                                " bytes");
    }
    out.insert(out.end(), values[i]->begin(), values[i]->end());
  }
  return out;
}

}  // namespace pageserver::pg_import
