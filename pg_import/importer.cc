#include "pg_import/importer.h"

#include <algorithm>
#include <utility>

#include "pg_import/control_file.h"
#include "pg_import/import_values.h"
#include "timeline/value.h"

namespace pageserver::pg_import {

namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::RelTag;
using timeline::kPageSize;

// The largest block number a relation may use: MaxBlockNumber (0xFFFFFFFE);
// 0xFFFFFFFF is the size key.
constexpr uint64_t kMaxRelBlocks = uint64_t{layers::kSizeKeyBlock};

// Fills dst from `content`; Corruption naming the file when it ends first.
Status ReadExactly(ByteSource& content, std::span<std::byte> dst, const std::string& path,
                   uint64_t at, uint64_t size) {
  size_t done = 0;
  while (done < dst.size()) {
    ASSIGN_OR_RETURN(const size_t n, content.Read(dst.subspan(done)));
    if (n == 0) {
      return Status::Corruption(path + ": ends after " + std::to_string(at + done) + " of " +
                                std::to_string(size) + " bytes");
    }
    done += n;
  }
  return Status::Ok();
}

std::string SizeProblem(const std::string& path, uint64_t size, const char* what) {
  return std::string(what) + " file " + path + " of " + std::to_string(size) +
         " bytes is not a multiple of 8192";
}

}  // namespace

Importer::Importer(timeline::Timeline& tl, layers::Lsn lsn, ImporterOptions options)
    : tl_(tl), lsn_(lsn), options_(options) {
  stats_.lsn = lsn;
}

void Importer::AddDirectory(std::string_view path) {
  if (const auto db = ClassifyDirectory(path)) databases_[*db];
}

Status Importer::Put(const Key& key, std::span<const std::byte> image) {
  ASSIGN_OR_RETURN(const timeline::Value value, timeline::Value::Image(image));
  return tl_.Put(key, lsn_, value);
}

Status Importer::AddFile(const std::string& path, uint64_t size, ByteSource& content) {
  const PgFile file = ClassifyFile(path);
  switch (file.kind) {
    case PgFileKind::kWal:
      return Status::Ok();
    case PgFileKind::kRelation:
      return AddRelationFile(path, size, content, file);
    case PgFileKind::kSlru:
      return AddSlruFile(path, size, content, file);
    case PgFileKind::kControlFile:
      return AddControlFile(path, size, content);
    case PgFileKind::kAux:
      return AddAuxFile(path, size, content);
  }
  return Status::Internal("unknown file kind");
}

// Reads size / 8192 pages and Puts each at its key.
Status Importer::AddPages(const std::string& path, uint64_t size, ByteSource& content,
                          uint64_t max_pages, const PgFile& file) {
  const uint64_t pages = size / kPageSize;
  std::vector<std::byte> buf(kRelPagesPerRead * kPageSize);
  const uint64_t first_block =
      file.kind == PgFileKind::kRelation ? uint64_t{file.segno} * options_.relseg_blocks : 0;
  if (pages > max_pages) {
    return Status::Corruption(path + ": " + std::to_string(pages) +
                              " pages, more than a segment holds (" + std::to_string(max_pages) +
                              ")");
  }
  for (uint64_t done = 0; done < pages;) {
    const uint64_t n = std::min<uint64_t>(kRelPagesPerRead, pages - done);
    const std::span<std::byte> chunk(buf.data(), n * kPageSize);
    RETURN_IF_ERROR(ReadExactly(content, chunk, path, done * kPageSize, size));
    for (uint64_t i = 0; i < n; ++i) {
      const auto blk = static_cast<uint32_t>(first_block + done + i);
      const Key key = file.kind == PgFileKind::kRelation
                          ? Key::RelBlock(file.rel, blk)
                          : Key::SlruBlock(file.slru, file.segno, blk);
      RETURN_IF_ERROR(Put(key, chunk.subspan(i * kPageSize, kPageSize)));
    }
    done += n;
  }
  stats_.bytes += size;
  return Status::Ok();
}

Status Importer::AddRelationFile(const std::string& path, uint64_t size, ByteSource& content,
                                 const PgFile& file) {
  if (size % kPageSize != 0) return Status::Corruption(SizeProblem(path, size, "relation"));
  const uint64_t first_block = uint64_t{file.segno} * options_.relseg_blocks;
  if (first_block + size / kPageSize > kMaxRelBlocks) {
    return Status::Corruption(path + ": blocks beyond Postgres' largest block number");
  }
  auto& segments = relations_[file.rel];
  if (!segments.emplace(file.segno, static_cast<uint32_t>(size / kPageSize)).second) {
    return Status::Corruption(path + ": relation file seen twice");
  }
  databases_[{file.rel.spcnode, file.rel.dbnode}].insert({file.rel.relnode, file.rel.forknum});
  stats_.relation_files++;
  stats_.relation_blocks += size / kPageSize;
  return AddPages(path, size, content, options_.relseg_blocks, file);
}

Status Importer::AddSlruFile(const std::string& path, uint64_t size, ByteSource& content,
                             const PgFile& file) {
  if (size % kPageSize != 0) return Status::Corruption(SizeProblem(path, size, "SLRU"));
  if (!slru_[file.slru].emplace(file.segno, static_cast<uint32_t>(size / kPageSize)).second) {
    return Status::Corruption(path + ": SLRU segment seen twice");
  }
  stats_.slru_segments++;
  return AddPages(path, size, content, kSlruPagesPerSegment, file);
}

Status Importer::AddControlFile(const std::string& path, uint64_t size, ByteSource& content) {
  if (size > control_file::kControlFileSize) {
    return Status::Corruption(path + ": control file of " + std::to_string(size) +
                              " bytes, expected at most " +
                              std::to_string(control_file::kControlFileSize));
  }
  if (control_file_seen_) return Status::Corruption(path + ": control file seen twice");
  std::vector<std::byte> bytes(size);
  RETURN_IF_ERROR(ReadExactly(content, bytes, path, 0, size));
  const Result<ControlFileInfo> info = ParseControlFile(bytes);
  if (!info.has_value()) return info.error().WithContext(path);
  control_file_seen_ = true;
  RETURN_IF_ERROR(Put(Key::ControlFile(), bytes));
  RETURN_IF_ERROR(
      Put(Key::Checkpoint(), std::span(bytes).subspan(control_file::kCheckPointCopyOffset,
                                                      control_file::kCheckPointCopySize)));
  stats_.aux_files++;
  stats_.bytes += size;
  return PutAuxPart(path, 0, 1, size, std::move(bytes));
}

Status Importer::PutAuxPart(const std::string& path, uint32_t part, uint32_t parts, uint64_t size,
                            std::vector<std::byte> bytes) {
  const Key key = AuxFileKey(path, part);
  const auto [it, inserted] = aux_keys_.emplace(key, path);
  if (!inserted) {
    return Status::InvalidArgument("aux file key " + key.ToHex() + " of " + path +
                                   " collides with that of " + it->second +
                                   (it->second == path ? " (the file was seen twice)" : ""));
  }
  AuxFilePart value{path, part, parts, size, std::move(bytes)};
  return Put(key, EncodeAuxFilePart(value));
}

Status Importer::AddAuxFile(const std::string& path, uint64_t size, ByteSource& content) {
  if (path.empty() || path.size() > kMaxAuxPathBytes) {
    return Status::InvalidArgument("file path of " + std::to_string(path.size()) + " bytes (1 to " +
                                   std::to_string(kMaxAuxPathBytes) +
                                   " allowed): " + path.substr(0, 200));
  }
  const uint32_t parts = AuxPartCount(size);
  for (uint32_t part = 0; part < parts; ++part) {
    const uint64_t at = uint64_t{part} * kAuxPartBytes;
    std::vector<std::byte> bytes(std::min<uint64_t>(kAuxPartBytes, size - at));
    RETURN_IF_ERROR(ReadExactly(content, bytes, path, at, size));
    RETURN_IF_ERROR(PutAuxPart(path, part, parts, size, std::move(bytes)));
  }
  stats_.aux_files++;
  stats_.bytes += size;
  return Status::Ok();
}

Result<uint32_t> Importer::RelationSize(const RelTag& rel,
                                        const std::map<uint32_t, uint32_t>& segments) const {
  uint64_t nblocks = 0;
  uint32_t segno = 0;
  for (;; ++segno) {
    const auto it = segments.find(segno);
    if (it == segments.end()) break;
    nblocks += it->second;
    if (it->second < options_.relseg_blocks) break;
  }
  for (auto it = segments.upper_bound(segno); it != segments.end(); ++it) {
    if (it->second != 0) {
      return Status::Corruption("relation " + rel.ToString() + ": segment " +
                                std::to_string(it->first) + " holds " + std::to_string(it->second) +
                                " blocks after segment " + std::to_string(segno) +
                                " ended the relation");
    }
  }
  return static_cast<uint32_t>(nblocks);
}

Status Importer::PutRelationKeys() {
  for (const auto& [rel, segments] : relations_) {
    ASSIGN_OR_RETURN(const uint32_t nblocks, RelationSize(rel, segments));
    RETURN_IF_ERROR(Put(Key::RelSize(rel), timeline::EncodeRelSize(nblocks)));
  }
  std::vector<timeline::DbDirEntry> dbs;
  for (const auto& [db, forks] : databases_) {
    const std::vector<timeline::RelDirEntry> entries(forks.begin(), forks.end());
    ASSIGN_OR_RETURN(const std::vector<std::byte> reldir, timeline::EncodeRelDir(entries));
    RETURN_IF_ERROR(Put(Key::RelDir(db.spcnode, db.dbnode), reldir));
    dbs.push_back(db);
  }
  stats_.relations = relations_.size();
  stats_.databases = dbs.size();
  return Put(Key::DbDir(), timeline::EncodeDbDir(dbs));
}

Status Importer::PutSlruKeys() {
  for (const layers::SlruKind kind : {layers::SlruKind::kClog, layers::SlruKind::kMultiXactMembers,
                                      layers::SlruKind::kMultiXactOffsets}) {
    std::vector<uint32_t> segnos;
    for (const auto& [segno, nblocks] : slru_[kind]) {
      RETURN_IF_ERROR(Put(Key::SlruSegmentSize(kind, segno), EncodeSlruSegmentSize(nblocks)));
      segnos.push_back(segno);
    }
    RETURN_IF_ERROR(Put(Key::SlruDir(kind), EncodeSlruDir(segnos)));
  }
  return Status::Ok();
}

Result<ImportStats> Importer::Finish() {
  if (!control_file_seen_) {
    return Status::Corruption(
        "the cluster has no global/pg_control: not a Postgres data directory");
  }
  RETURN_IF_ERROR(PutRelationKeys());
  RETURN_IF_ERROR(PutSlruKeys());
  RETURN_IF_ERROR(tl_.FinishLsn(lsn_));
  RETURN_IF_ERROR(tl_.Checkpoint());
  RETURN_IF_ERROR(tl_.CreateImages(/*force=*/true).status());
  return stats_;
}

}  // namespace pageserver::pg_import
