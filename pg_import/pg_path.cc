#include "pg_import/pg_path.h"

#include <array>
#include <string>
#include <vector>

namespace pageserver::pg_import {

namespace {

using layers::RelTag;
using layers::SlruKind;

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

bool IsDecimal(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "PG_15_202209061": the version directory inside a tablespace.
bool IsTablespaceVersionDir(std::string_view name) {
  if (!name.starts_with("PG_")) return false;
  name.remove_prefix(3);
  const size_t underscore = name.find('_');
  if (underscore == std::string_view::npos) return false;
  return IsDecimal(name.substr(0, underscore)) && IsDecimal(name.substr(underscore + 1));
}

struct RelFileName {
  uint32_t relnode = 0;
  uint8_t forknum = 0;
  uint32_t segno = 0;
};

std::optional<uint8_t> ParseForkSuffix(std::string_view suffix) {
  static constexpr std::array<std::string_view, 4> kForks = {"", "_fsm", "_vm", "_init"};
  for (size_t i = 0; i < kForks.size(); ++i) {
    if (suffix == kForks[i]) return static_cast<uint8_t>(i);
  }
  return std::nullopt;
}

// <relnode>[_fsm|_vm|_init][.<segno>]
std::optional<RelFileName> ParseRelFileName(std::string_view name) {
  RelFileName out;
  const size_t dot = name.find('.');
  if (dot != std::string_view::npos) {
    const std::optional<uint32_t> segno = ParseOid(name.substr(dot + 1));
    if (!segno || *segno == 0) return std::nullopt;
    out.segno = *segno;
    name = name.substr(0, dot);
  }
  const size_t digits = name.find_first_not_of("0123456789");
  const std::optional<uint32_t> relnode = ParseOid(name.substr(0, digits));
  if (!relnode || *relnode == 0) return std::nullopt;
  const std::optional<uint8_t> fork =
      ParseForkSuffix(digits == std::string_view::npos ? std::string_view() : name.substr(digits));
  if (!fork) return std::nullopt;
  out.relnode = *relnode;
  out.forknum = *fork;
  return out;
}

std::optional<uint32_t> ParseSlruSegment(std::string_view name) {
  if (name.size() < 4 || name.size() > 15) return std::nullopt;
  uint64_t value = 0;
  for (const char c : name) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + static_cast<uint64_t>(digit);
    if (value > UINT32_MAX) return std::nullopt;
  }
  return static_cast<uint32_t>(value);
}

PgFile Relation(const timeline::DbDirEntry& db, const RelFileName& f) {
  PgFile out;
  out.kind = PgFileKind::kRelation;
  out.rel = RelTag{db.spcnode, db.dbnode, f.relnode, f.forknum};
  out.segno = f.segno;
  return out;
}

PgFile Slru(SlruKind kind, uint32_t segno) {
  PgFile out;
  out.kind = PgFileKind::kSlru;
  out.slru = kind;
  out.segno = segno;
  return out;
}

std::optional<PgFile> ClassifySlru(const std::vector<std::string_view>& parts) {
  std::optional<SlruKind> kind;
  if (parts.size() == 2 && parts[0] == "pg_xact") kind = SlruKind::kClog;
  if (parts.size() == 3 && parts[0] == "pg_multixact") {
    if (parts[1] == "members") kind = SlruKind::kMultiXactMembers;
    if (parts[1] == "offsets") kind = SlruKind::kMultiXactOffsets;
  }
  if (!kind) return std::nullopt;
  const std::optional<uint32_t> segno = ParseSlruSegment(parts.back());
  if (!segno) return std::nullopt;
  return Slru(*kind, *segno);
}

}  // namespace

std::optional<uint32_t> ParseOid(std::string_view text) {
  if (!IsDecimal(text) || text.size() > 10) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) value = value * 10 + static_cast<uint64_t>(c - '0');
  if (value > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(value);
}

std::optional<timeline::DbDirEntry> ClassifyDirectory(std::string_view path) {
  const std::vector<std::string_view> parts = SplitPath(path);
  if (parts.size() == 1 && parts[0] == "global") {
    return timeline::DbDirEntry{kGlobalTablespaceOid, 0};
  }
  if (parts.size() == 2 && parts[0] == "base") {
    const std::optional<uint32_t> db = ParseOid(parts[1]);
    if (db && *db != 0) return timeline::DbDirEntry{kDefaultTablespaceOid, *db};
  }
  if (parts.size() == 4 && parts[0] == "pg_tblspc" && IsTablespaceVersionDir(parts[2])) {
    const std::optional<uint32_t> spc = ParseOid(parts[1]);
    const std::optional<uint32_t> db = ParseOid(parts[3]);
    if (spc && db && *spc != 0 && *db != 0) return timeline::DbDirEntry{*spc, *db};
  }
  return std::nullopt;
}

PgFile ClassifyFile(std::string_view path) {
  const std::vector<std::string_view> parts = SplitPath(path);
  if (parts[0] == "pg_wal") {
    PgFile wal;
    wal.kind = PgFileKind::kWal;
    return wal;
  }
  if (path == "global/pg_control") {
    PgFile control;
    control.kind = PgFileKind::kControlFile;
    return control;
  }
  if (const std::optional<PgFile> slru = ClassifySlru(parts)) return *slru;
  const size_t last_slash = path.rfind('/');
  if (last_slash != std::string_view::npos) {
    const std::optional<timeline::DbDirEntry> db = ClassifyDirectory(path.substr(0, last_slash));
    const std::optional<RelFileName> rel = ParseRelFileName(parts.back());
    if (db && rel) return Relation(*db, *rel);
  }
  return PgFile{};
}

}  // namespace pageserver::pg_import
