#include "timeline/metadata.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/align.h"
#include "common/crc32c.h"
#include "virtual_file/io_buffer.h"

namespace pageserver::timeline {

using common::Result;
using common::Status;
using layers::Lsn;
using layers::TimelineId;

namespace {

// Field offsets (the table in metadata.h).
constexpr size_t kVersionOff = 4;
constexpr size_t kFieldsSizeOff = 6;
constexpr size_t kDiskConsistentOff = 8;
constexpr size_t kPrevRecordOff = 16;
constexpr size_t kAncestorOff = 24;
constexpr size_t kAncestorLsnOff = 40;
constexpr size_t kGcCutoffOff = 48;
constexpr size_t kInitdbOff = 56;
constexpr size_t kPgVersionOff = 64;
constexpr size_t kReservedOff = 68;
constexpr size_t kCrcOff = kMetadataSize - 4;
static_assert(kReservedOff + 4 == kMetadataFieldsSizeV1);

template <typename T>
void PutLe(MetadataBlock& b, size_t off, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = std::byte((uint64_t{v} >> (8 * i)) & 0xFF);
}

template <typename T>
T GetLe(std::span<const std::byte> b, size_t off) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= uint64_t{std::to_integer<uint8_t>(b[off + i])} << (8 * i);
  }
  return static_cast<T>(v);
}

Status Bad(const std::string& what) { return Status::Corruption("timeline metadata: " + what); }

// Length, magic, version and checksum: checked before any field is read.
Status CheckEnvelope(std::span<const std::byte> b) {
  if (b.size() != kMetadataSize) {
    return Bad(std::to_string(b.size()) + " bytes, not " + std::to_string(kMetadataSize));
  }
  if (std::memcmp(b.data(), kMetadataMagic.data(), kMetadataMagic.size()) != 0) {
    return Bad("bad magic (not a timeline metadata file)");
  }
  const uint16_t version = GetLe<uint16_t>(b, kVersionOff);
  if (version > kMetadataFormatVersion) {
    return Status::Unsupported("timeline metadata format version " + std::to_string(version) +
                               " written by a newer pageserver (this one reads " +
                               std::to_string(kMetadataFormatVersion) + ")");
  }
  if (version == 0) return Bad("format version 0");
  if (GetLe<uint32_t>(b, kCrcOff) != common::crc32c::Value(b.first(kCrcOff))) {
    return Bad("checksum mismatch");
  }
  return Status::Ok();
}

Status CheckLayoutFields(std::span<const std::byte> b) {
  const uint16_t fields_size = GetLe<uint16_t>(b, kFieldsSizeOff);
  if (fields_size != kMetadataFieldsSizeV1) {
    return Bad("fields_size " + std::to_string(fields_size) + ", version 1 defines " +
               std::to_string(kMetadataFieldsSizeV1));
  }
  std::span<const std::byte> zeros = b.subspan(kReservedOff, kCrcOff - kReservedOff);
  if (std::any_of(zeros.begin(), zeros.end(), [](std::byte x) { return x != std::byte{0}; })) {
    return Bad("nonzero reserved bytes");
  }
  return Status::Ok();
}

TimelineMetadata ParseFields(std::span<const std::byte> b) {
  TimelineMetadata m;
  m.disk_consistent_lsn = Lsn{GetLe<uint64_t>(b, kDiskConsistentOff)};
  const Lsn prev{GetLe<uint64_t>(b, kPrevRecordOff)};
  if (prev.valid()) m.prev_record_lsn = prev;
  TimelineId ancestor;
  std::memcpy(ancestor.bytes.data(), b.data() + kAncestorOff, ancestor.bytes.size());
  if (!ancestor.IsZero()) m.ancestor_timeline = ancestor;
  m.ancestor_lsn = Lsn{GetLe<uint64_t>(b, kAncestorLsnOff)};
  m.latest_gc_cutoff_lsn = Lsn{GetLe<uint64_t>(b, kGcCutoffOff)};
  m.initdb_lsn = Lsn{GetLe<uint64_t>(b, kInitdbOff)};
  m.pg_version = GetLe<uint32_t>(b, kPgVersionOff);
  return m;
}

}  // namespace

Status TimelineMetadata::CheckConsistent() const {
  if (prev_record_lsn && !prev_record_lsn->valid()) {
    return Status::InvalidArgument("prev_record_lsn is set but invalid (0/0)");
  }
  if (prev_record_lsn && *prev_record_lsn >= disk_consistent_lsn) {
    return Status::InvalidArgument("prev_record_lsn " + prev_record_lsn->ToString() +
                                   " is not below disk_consistent_lsn " +
                                   disk_consistent_lsn.ToString());
  }
  if (ancestor_timeline && ancestor_timeline->IsZero()) {
    return Status::InvalidArgument("ancestor timeline is set but all zero");
  }
  if (ancestor_timeline.has_value() != ancestor_lsn.valid()) {
    return Status::InvalidArgument(
        "ancestor_lsn " + ancestor_lsn.ToString() +
        (ancestor_timeline ? " is invalid for a branch" : " is set without an ancestor timeline"));
  }
  return Status::Ok();
}

Result<MetadataBlock> TimelineMetadata::Encode() const {
  RETURN_IF_ERROR(CheckConsistent().WithContext("encode timeline metadata"));
  MetadataBlock b{};
  std::memcpy(b.data(), kMetadataMagic.data(), kMetadataMagic.size());
  PutLe<uint16_t>(b, kVersionOff, kMetadataFormatVersion);
  PutLe<uint16_t>(b, kFieldsSizeOff, kMetadataFieldsSizeV1);
  PutLe<uint64_t>(b, kDiskConsistentOff, disk_consistent_lsn.value);
  PutLe<uint64_t>(b, kPrevRecordOff, prev_record_lsn.value_or(Lsn::Invalid()).value);
  if (ancestor_timeline) {
    std::memcpy(b.data() + kAncestorOff, ancestor_timeline->bytes.data(),
                ancestor_timeline->bytes.size());
  }
  PutLe<uint64_t>(b, kAncestorLsnOff, ancestor_lsn.value);
  PutLe<uint64_t>(b, kGcCutoffOff, latest_gc_cutoff_lsn.value);
  PutLe<uint64_t>(b, kInitdbOff, initdb_lsn.value);
  PutLe<uint32_t>(b, kPgVersionOff, pg_version);
  PutLe<uint32_t>(b, kCrcOff, common::crc32c::Value(std::span(b).first(kCrcOff)));
  return b;
}

Result<TimelineMetadata> TimelineMetadata::Decode(std::span<const std::byte> block) {
  RETURN_IF_ERROR(CheckEnvelope(block));
  RETURN_IF_ERROR(CheckLayoutFields(block));
  TimelineMetadata m = ParseFields(block);
  const Status consistent = m.CheckConsistent();
  if (!consistent.ok()) return Bad(std::string(consistent.message()));
  return m;
}

std::string MetadataPath(const std::string& dir) {
  return dir + "/" + std::string(kMetadataFileName);
}

Status WriteMetadata(const virtual_file::IoContext& ctx, const std::string& dir,
                     const TimelineMetadata& metadata) {
  ASSIGN_OR_RETURN(MetadataBlock block, metadata.Encode());
  return virtual_file::ReplaceFileAtomically(ctx, MetadataPath(dir), block);
}

namespace {

// The whole file, read with one aligned read one chunk longer than a valid
// file, so trailing bytes show up as a longer result.
Result<std::vector<std::byte>> ReadSmallFile(const virtual_file::IoContext& ctx,
                                             const std::string& path) {
  ASSIGN_OR_RETURN(virtual_file::VirtualFile file,
                   virtual_file::VirtualFile::Open(ctx, path, virtual_file::OpenOptions::Read()));
  const size_t alignment = file.alignment();
  virtual_file::AlignedBuffer buffer(common::AlignUp(kMetadataSize + 1, alignment), alignment);
  ASSIGN_OR_RETURN(size_t n, file.ReadAt(0, buffer.AsSpanMut()));
  return std::vector<std::byte>(buffer.data(), buffer.data() + n);
}

}  // namespace

Result<TimelineMetadata> ReadMetadata(const virtual_file::IoContext& ctx, const std::string& dir) {
  const std::string path = MetadataPath(dir);
  ASSIGN_OR_RETURN(std::vector<std::byte> bytes, ReadSmallFile(ctx, path));
  Result<TimelineMetadata> metadata = TimelineMetadata::Decode(bytes);
  if (!metadata.has_value()) return metadata.error().WithContext(path);
  return metadata;
}

}  // namespace pageserver::timeline
