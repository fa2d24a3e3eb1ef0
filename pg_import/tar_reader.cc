#include "pg_import/tar_reader.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>
#include <utility>

namespace pageserver::pg_import {

namespace {

using common::Result;
using common::Status;

// Header field offsets and sizes (POSIX ustar).
constexpr size_t kNameOffset = 0;
constexpr size_t kNameSize = 100;
constexpr size_t kSizeOffset = 124;
constexpr size_t kSizeSize = 12;
constexpr size_t kChecksumOffset = 148;
constexpr size_t kChecksumSize = 8;
constexpr size_t kTypeflagOffset = 156;
constexpr size_t kMagicOffset = 257;
constexpr size_t kPrefixOffset = 345;
constexpr size_t kPrefixSize = 155;

constexpr size_t kSkipChunk = 64 * 1024;

using Block = std::array<std::byte, kTarBlockSize>;

// A NUL-terminated (or full-width) string field.
std::string FieldString(std::span<const std::byte> field) {
  std::string out;
  for (const std::byte b : field) {
    if (b == std::byte{0}) break;
    out.push_back(static_cast<char>(b));
  }
  return out;
}

bool IsZeroBlock(const Block& block) {
  return std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; });
}

bool IsPosixUstar(const Block& h) {
  static constexpr char kMagic[6] = {'u', 's', 't', 'a', 'r', '\0'};
  return std::equal(kMagic, kMagic + 6, h.begin() + kMagicOffset,
                    [](char c, std::byte b) { return std::byte(c) == b; });
}

std::string HeaderPath(const Block& h) {
  std::string name = FieldString(std::span(h).subspan(kNameOffset, kNameSize));
  if (!IsPosixUstar(h)) return name;
  const std::string prefix = FieldString(std::span(h).subspan(kPrefixOffset, kPrefixSize));
  return prefix.empty() ? name : prefix + "/" + name;
}

// Strips leading "/" and "./" components and trailing "/".
std::string NormalizePath(std::string path) {
  std::string_view p = path;
  for (;;) {
    if (p.starts_with("/")) {
      p.remove_prefix(1);
    } else if (p.starts_with("./")) {
      p.remove_prefix(2);
    } else if (p == ".") {
      p = {};
    } else {
      break;
    }
  }
  while (p.ends_with("/")) p.remove_suffix(1);
  return std::string(p);
}

std::pair<uint64_t, int64_t> HeaderSums(const Block& h) {
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    const bool in_checksum = i >= kChecksumOffset && i < kChecksumOffset + kChecksumSize;
    const uint8_t u = in_checksum ? uint8_t{' '} : std::to_integer<uint8_t>(h[i]);
    unsigned_sum += u;
    signed_sum += static_cast<int8_t>(u);
  }
  return {unsigned_sum, signed_sum};
}

TarEntryType EntryType(char typeflag) {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return TarEntryType::kFile;
    case '5':
      return TarEntryType::kDirectory;
    case '2':
      return TarEntryType::kSymlink;
    case '1':
      return TarEntryType::kHardLink;
    default:
      return TarEntryType::kOther;
  }
}

uint64_t PaddingOf(uint64_t size) { return (kTarBlockSize - size % kTarBlockSize) % kTarBlockSize; }

std::optional<uint64_t> ParseBase256(std::span<const std::byte> field) {
  const uint8_t first = std::to_integer<uint8_t>(field[0]);
  if (first != 0x80) return std::nullopt;  // 0xFF: negative; other bits: not ours
  uint64_t value = 0;
  for (size_t i = 1; i < field.size(); ++i) {
    if (value >> 56 != 0) return std::nullopt;
    value = (value << 8) | std::to_integer<uint8_t>(field[i]);
  }
  return value;
}

}  // namespace

std::optional<uint64_t> ParseTarNumber(std::span<const std::byte> field) {
  if (field.empty()) return std::nullopt;
  if ((std::to_integer<uint8_t>(field[0]) & 0x80) != 0) return ParseBase256(field);
  size_t i = 0;
  while (i < field.size() && field[i] == std::byte{' '}) ++i;
  uint64_t value = 0;
  size_t digits = 0;
  for (; i < field.size(); ++i, ++digits) {
    const char c = static_cast<char>(field[i]);
    if (c < '0' || c > '7') break;
    if (value >> 61 != 0) return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(c - '0');
  }
  if (digits == 0) return std::nullopt;
  for (; i < field.size(); ++i) {
    if (field[i] != std::byte{0} && field[i] != std::byte{' '}) return std::nullopt;
  }
  return value;
}

Status TarReader::Fail(const std::string& member, uint64_t at, const std::string& what) const {
  std::string msg = "tar: ";
  if (!member.empty()) msg += "member '" + member + "': ";
  return Status::Corruption(msg + what + " at offset " + std::to_string(at));
}

Result<size_t> TarReader::ReadFull(std::span<std::byte> dst) {
  size_t done = 0;
  while (done < dst.size()) {
    ASSIGN_OR_RETURN(const size_t n, source_.Read(dst.subspan(done)));
    if (n == 0) break;
    done += n;
    offset_ += n;
  }
  return done;
}

Status TarReader::ReadBlockExact(std::span<std::byte> block, const char* what) {
  const uint64_t at = offset_;
  ASSIGN_OR_RETURN(const size_t n, ReadFull(block));
  if (n != block.size()) {
    return Fail(member_, at + n, std::string("stream ends inside ") + what);
  }
  return Status::Ok();
}

Status TarReader::SkipPadding(uint64_t content_size) {
  std::array<std::byte, kTarBlockSize> pad;
  const uint64_t padding = PaddingOf(content_size);
  return ReadBlockExact(std::span(pad).first(padding), "the padding after the content");
}

Status TarReader::SkipRest() {
  if (!in_member_) return Status::Ok();
  std::vector<std::byte> scratch(std::min<uint64_t>(kSkipChunk, content_left_));
  while (content_left_ > 0) {
    const size_t n = std::min<uint64_t>(scratch.size(), content_left_);
    RETURN_IF_ERROR(ReadBlockExact(std::span(scratch).first(n), "the content"));
    content_left_ -= n;
  }
  in_member_ = false;
  return SkipPadding(content_size_);
}

Status TarReader::DrainTrailer() {
  std::vector<std::byte> scratch(kSkipChunk);
  for (;;) {
    ASSIGN_OR_RETURN(const size_t n, ReadFull(scratch));
    if (n < scratch.size()) return Status::Ok();
  }
}

Result<std::vector<std::byte>> TarReader::ReadMetadataContent(uint64_t size, char typeflag,
                                                              uint64_t header_offset) {
  if (size > kMaxTarMetadataBytes) {
    return Fail(member_, header_offset,
                std::string("metadata header '") + typeflag + "' of " + std::to_string(size) +
                    " bytes exceeds " + std::to_string(kMaxTarMetadataBytes));
  }
  std::vector<std::byte> content(size);
  RETURN_IF_ERROR(ReadBlockExact(content, "a metadata header's content"));
  RETURN_IF_ERROR(SkipPadding(size));
  return content;
}

// Records "<len> <key>=<value>\n", where len counts the whole record.
Status TarReader::ParsePax(std::span<const std::byte> content, uint64_t header_offset,
                           PaxOverrides& out) const {
  const std::string_view text(reinterpret_cast<const char*>(content.data()), content.size());
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == '\0') break;  // some writers pad with NULs
    const size_t space = text.find(' ', pos);
    uint64_t len = 0;
    const auto [end, ec] = std::from_chars(text.data() + pos, text.data() + space, len);
    if (space == std::string_view::npos || ec != std::errc() || end != text.data() + space ||
        len < 5 || len > text.size() - pos || text[pos + len - 1] != '\n') {
      return Fail(member_, header_offset,
                  "malformed pax record at byte " + std::to_string(pos) + " of the pax header");
    }
    const std::string_view record = text.substr(space + 1, pos + len - 1 - (space + 1));
    const size_t eq = record.find('=');
    if (eq == std::string_view::npos) {
      return Fail(member_, header_offset, "pax record without '=': " + std::string(record));
    }
    const std::string_view key = record.substr(0, eq);
    const std::string_view value = record.substr(eq + 1);
    if (key == "path") out.path = std::string(value);
    if (key == "size") {
      uint64_t size = 0;
      const auto [send, sec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (sec != std::errc() || send != value.data() + value.size()) {
        return Fail(member_, header_offset, "malformed pax size '" + std::string(value) + "'");
      }
      out.size = size;
    }
    pos += len;
  }
  return Status::Ok();
}

Result<std::optional<TarEntry>> TarReader::Next() {
  if (done_) return std::optional<TarEntry>();
  RETURN_IF_ERROR(SkipRest());
  const uint64_t first_header = offset_;
  PaxOverrides local;
  std::optional<std::string> long_name;
  for (;;) {
    Block h;
    const uint64_t header_offset = offset_;
    ASSIGN_OR_RETURN(const size_t n, ReadFull(h));
    if (n != h.size()) {
      const std::string after = member_.empty() ? "" : " (after member '" + member_ + "')";
      return Fail(
          "", offset_,
          (n == 0 ? "stream ends before the end-of-archive block" : "stream ends inside a header") +
              after);
    }
    if (IsZeroBlock(h)) {
      done_ = true;
      RETURN_IF_ERROR(DrainTrailer());
      return std::optional<TarEntry>();
    }
    const std::string header_name = HeaderPath(h);
    const std::optional<uint64_t> stored =
        ParseTarNumber(std::span(h).subspan(kChecksumOffset, kChecksumSize));
    const auto [unsigned_sum, signed_sum] = HeaderSums(h);
    if (!stored || (*stored != unsigned_sum && static_cast<int64_t>(*stored) != signed_sum)) {
      member_ = header_name;
      return Fail(header_name, header_offset,
                  "header checksum mismatch (stored " +
                      (stored ? std::to_string(*stored) : std::string("malformed")) +
                      ", computed " + std::to_string(unsigned_sum) + ")");
    }
    const char typeflag = static_cast<char>(h[kTypeflagOffset]);
    const std::optional<uint64_t> size =
        ParseTarNumber(std::span(h).subspan(kSizeOffset, kSizeSize));
    if (!size) return Fail(header_name, header_offset, "malformed size field");
    if (typeflag == 'L' || typeflag == 'K' || typeflag == 'x' || typeflag == 'g') {
      ASSIGN_OR_RETURN(const std::vector<std::byte> content,
                       ReadMetadataContent(*size, typeflag, header_offset));
      if (typeflag == 'L') long_name = FieldString(content);
      if (typeflag == 'x') RETURN_IF_ERROR(ParsePax(content, header_offset, local));
      if (typeflag == 'g') RETURN_IF_ERROR(ParsePax(content, header_offset, global_));
      continue;
    }
    TarEntry entry;
    std::string path = header_name;
    if (global_.path) path = *global_.path;
    if (long_name) path = *long_name;
    if (local.path) path = *local.path;
    entry.path = NormalizePath(std::move(path));
    entry.typeflag = typeflag;
    entry.type = EntryType(typeflag);
    entry.size = local.size.value_or(global_.size.value_or(*size));
    entry.header_offset = first_header;
    member_ = entry.path;
    member_header_ = first_header;
    content_left_ = entry.size;
    content_size_ = entry.size;
    in_member_ = true;
    return std::optional<TarEntry>(std::move(entry));
  }
}

Result<size_t> TarReader::ReadContent(std::span<std::byte> dst) {
  const size_t want = std::min<uint64_t>(dst.size(), content_left_);
  ASSIGN_OR_RETURN(const size_t n, ReadFull(dst.first(want)));
  if (n != want) {
    return Fail(member_, offset_,
                "stream ends inside the content (" + std::to_string(content_size_) +
                    " bytes, header at offset " + std::to_string(member_header_) + ")");
  }
  content_left_ -= n;
  return n;
}

}  // namespace pageserver::pg_import
