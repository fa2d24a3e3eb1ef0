#include "pg_import/control_file.h"

#include <string>

#include "common/crc32c.h"
#include "pg_import/file_source.h"
#include "pg_import/import.h"

namespace pageserver::pg_import {

namespace {

using common::Result;
using common::Status;
using layers::Lsn;
namespace cf = control_file;

template <typename T>
T LoadLe(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(std::to_integer<uint8_t>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

uint32_t MajorFromCatalogVersion(uint32_t catversion) {
  uint32_t major = 0;
  for (const cf::CatalogVersion& v : cf::kCatalogVersions) {
    if (catversion >= v.first_catversion) major = v.major;
  }
  return major;
}

Status CheckBlockGeometry(std::span<const std::byte> bytes) {
  const uint32_t blcksz = LoadLe<uint32_t>(bytes, cf::kBlckszOffset);
  const uint32_t relseg = LoadLe<uint32_t>(bytes, cf::kRelsegSizeOffset);
  if (blcksz != 8192 || relseg != 131072) {
    return Status::Unsupported("control file: blcksz " + std::to_string(blcksz) +
                               " and relseg_size " + std::to_string(relseg) +
                               " (only 8192 and 131072 are supported)");
  }
  return Status::Ok();
}

// "15\n" -> 15.
Result<uint32_t> ReadPgVersion(const std::string& pgdata) {
  const std::string path = pgdata + "/PG_VERSION";
  ASSIGN_OR_RETURN(const std::vector<std::byte> bytes, ReadWholeSmallFile(path, 64));
  uint32_t major = 0;
  size_t digits = 0;
  for (const std::byte b : bytes) {
    const char c = static_cast<char>(b);
    if (c < '0' || c > '9') break;
    major = major * 10 + static_cast<uint32_t>(c - '0');
    if (++digits > 4) break;
  }
  if (digits == 0 || digits > 4) return Status::Corruption(path + ": not a major version number");
  return major;
}

}  // namespace

namespace control_file {

const char* StateName(uint32_t state) {
  switch (state) {
    case 0:
      return "starting up";
    case 1:
      return "shut down";
    case 2:
      return "shut down in recovery";
    case 3:
      return "shutting down";
    case 4:
      return "in crash recovery";
    case 5:
      return "in archive recovery";
    case 6:
      return "in production";
    default:
      return "unknown";
  }
}

}  // namespace control_file

Lsn ControlFileInfo::ImportLsn() const { return Lsn{(checkpoint_lsn.value + 7) & ~uint64_t{7}}; }

Result<ControlFileInfo> ParseControlFile(std::span<const std::byte> bytes) {
  if (bytes.size() < cf::kControlDataSize) {
    return Status::Corruption("control file of " + std::to_string(bytes.size()) +
                              " bytes, expected at least " + std::to_string(cf::kControlDataSize));
  }
  ControlFileInfo info;
  info.pg_control_version = LoadLe<uint32_t>(bytes, cf::kVersionOffset);
  if (info.pg_control_version != cf::kSupportedVersion) {
    return Status::Unsupported("control file: pg_control_version " +
                               std::to_string(info.pg_control_version) +
                               " is not supported (1300: Postgres 13 to 16)");
  }
  const uint32_t stored = LoadLe<uint32_t>(bytes, cf::kCrcOffset);
  const uint32_t computed = common::crc32c::Value(bytes.first(cf::kCrcOffset));
  if (stored != computed) {
    return Status::Corruption("control file: CRC mismatch (stored " + std::to_string(stored) +
                              ", computed " + std::to_string(computed) + ")");
  }
  RETURN_IF_ERROR(CheckBlockGeometry(bytes));
  info.system_identifier = LoadLe<uint64_t>(bytes, cf::kSystemIdentifierOffset);
  info.state = LoadLe<uint32_t>(bytes, cf::kStateOffset);
  info.checkpoint_lsn = Lsn{LoadLe<uint64_t>(bytes, cf::kCheckPointOffset)};
  info.redo_lsn = Lsn{LoadLe<uint64_t>(bytes, cf::kRedoOffset)};
  info.pg_major_version =
      MajorFromCatalogVersion(LoadLe<uint32_t>(bytes, cf::kCatalogVersionOffset));
  return info;
}

Result<ControlFileInfo> ReadControlFile(const std::string& pgdata) {
  const std::string path = pgdata + "/global/pg_control";
  ASSIGN_OR_RETURN(const std::vector<std::byte> bytes,
                   ReadWholeSmallFile(path, cf::kControlFileSize));
  Result<ControlFileInfo> parsed = ParseControlFile(bytes);
  if (!parsed.has_value()) return parsed.error().WithContext(path);
  ControlFileInfo info = std::move(parsed).value();
  ASSIGN_OR_RETURN(info.pg_major_version, ReadPgVersion(pgdata));
  if (info.state != cf::kStateShutdowned) {
    return Status::InvalidArgument(
        "cluster " + pgdata + " was not shut down cleanly (control file state " +
        std::to_string(info.state) + ": " + cf::StateName(info.state) +
        "); its files are not consistent at one LSN: stop it with pg_ctl stop first");
  }
  return info;
}

}  // namespace pageserver::pg_import
