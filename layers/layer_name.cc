#include "layers/layer_name.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "virtual_file/virtual_file.h"

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;

constexpr std::string_view kLsnSeparator = "__";
constexpr size_t kKeyHexDigits = 2 * kKeySize;  // Key::ToHex
constexpr size_t kLsnHexDigits = 16;            // Lsn::ToFileHex
constexpr size_t kKeyPartLength = 2 * kKeyHexDigits + 1;
constexpr size_t kImageLsnPartLength = kLsnHexDigits;
constexpr size_t kDeltaLsnPartLength = 2 * kLsnHexDigits + 1;

Status BadName(std::string_view why, std::string_view name) {
  return Status::InvalidArgument("not a layer file name (" + std::string(why) + "): \"" +
                                 std::string(name) + "\"");
}

// "<start hex>-<end hex>", a non-empty range.
Result<KeyRange> ParseKeyPart(std::string_view part, std::string_view name) {
  if (part.size() != kKeyPartLength || part[kKeyHexDigits] != '-') {
    return BadName("key range is not <36 hex>-<36 hex>", name);
  }
  auto start = Key::ParseHex(part.substr(0, kKeyHexDigits));
  auto end = Key::ParseHex(part.substr(kKeyHexDigits + 1));
  if (!start || !end) return BadName("key range is not hex", name);
  const KeyRange range{*start, *end};
  if (range.empty()) return BadName("empty key range", name);
  return range;
}

Result<LsnRange> ParseImageLsn(std::string_view part, std::string_view name) {
  auto lsn = Lsn::ParseFileHex(part);
  if (!lsn) return BadName("LSN is not 16 hex digits", name);
  // lsn + 1 must not wrap: the range [Max, Max + 1) is not representable.
  if (*lsn == Lsn::Max()) return BadName("image LSN has no successor", name);
  return LsnRange{*lsn, Lsn{lsn->value + 1}};
}

Result<LsnRange> ParseDeltaLsns(std::string_view part, std::string_view name) {
  if (part[kLsnHexDigits] != '-') return BadName("LSN range is not <16 hex>-<16 hex>", name);
  auto start = Lsn::ParseFileHex(part.substr(0, kLsnHexDigits));
  auto end = Lsn::ParseFileHex(part.substr(kLsnHexDigits + 1));
  if (!start || !end) return BadName("LSN range is not hex", name);
  const LsnRange range{*start, *end};
  if (range.empty()) return BadName("empty LSN range", name);
  return range;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  std::string path = dir;
  path += '/';
  path += name;
  return path;
}

// Names of the temporary, non-directory entries of `dir`, sorted.
Result<std::vector<std::string>> ListTemporaryFiles(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, virtual_file::ListFileNames(dir));
  std::erase_if(names, [](const std::string& name) { return !IsTemporaryLayerFileName(name); });
  return names;
}

}  // namespace

LayerName LayerName::Image(const KeyRange& keys, Lsn lsn) {
  return LayerName{LayerKind::kImage, keys, LsnRange{lsn, Lsn{lsn.value + 1}}};
}

LayerName LayerName::Delta(const KeyRange& keys, const LsnRange& lsns) {
  return LayerName{LayerKind::kDelta, keys, lsns};
}

std::string LayerName::ToString() const {
  std::string out = key_range.start.ToHex() + "-" + key_range.end.ToHex();
  out += kLsnSeparator;
  out += lsn_range.start.ToFileHex();
  if (kind == LayerKind::kDelta) out += "-" + lsn_range.end.ToFileHex();
  return out;
}

Result<LayerName> LayerName::Parse(std::string_view file_name) {
  const size_t sep = file_name.find(kLsnSeparator);
  if (sep == std::string_view::npos) return BadName("no \"__\"", file_name);
  const std::string_view key_part = file_name.substr(0, sep);
  const std::string_view lsn_part = file_name.substr(sep + kLsnSeparator.size());
  ASSIGN_OR_RETURN(const KeyRange keys, ParseKeyPart(key_part, file_name));
  if (lsn_part.size() == kImageLsnPartLength) {
    ASSIGN_OR_RETURN(const LsnRange lsns, ParseImageLsn(lsn_part, file_name));
    return LayerName{LayerKind::kImage, keys, lsns};
  }
  if (lsn_part.size() == kDeltaLsnPartLength) {
    ASSIGN_OR_RETURN(const LsnRange lsns, ParseDeltaLsns(lsn_part, file_name));
    return LayerName{LayerKind::kDelta, keys, lsns};
  }
  return BadName("LSN part is neither <16 hex> nor <16 hex>-<16 hex>", file_name);
}

bool IsTemporaryLayerFileName(std::string_view file_name) {
  return file_name.ends_with(kTemporarySuffix);
}

Result<std::vector<std::string>> RemoveTemporaryLayerFiles(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListTemporaryFiles(dir));
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    // ENOENT: someone else removed it meanwhile; the goal is reached.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "remove temporary layer file " + path);
    }
  }
  if (!names.empty()) RETURN_IF_ERROR(virtual_file::SyncDirectory(dir));
  return names;
}

}  // namespace pageserver::layers
