// ImportTar and ImportPgdata: the two front ends of Importer.

#include "pg_import/import.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "pg_import/file_source.h"
#include "pg_import/importer.h"
#include "pg_import/tar_reader.h"

namespace pageserver::pg_import {

namespace {

using common::Result;
using common::Status;

// The current tar member's content as a ByteSource.
class TarMemberSource : public ByteSource {
 public:
  explicit TarMemberSource(TarReader& reader) : reader_(reader) {}
  Result<size_t> Read(std::span<std::byte> dst) override { return reader_.ReadContent(dst); }

 private:
  TarReader& reader_;
};

Status ImportTarEntry(Importer& importer, TarReader& reader, const TarEntry& entry) {
  switch (entry.type) {
    case TarEntryType::kDirectory:
      importer.AddDirectory(entry.path);
      return Status::Ok();
    case TarEntryType::kFile: {
      TarMemberSource content(reader);
      return importer.AddFile(entry.path, entry.size, content);
    }
    case TarEntryType::kHardLink:
      return Status::Unsupported("tar: member '" + entry.path + "' at offset " +
                                 std::to_string(entry.header_offset) +
                                 " is a hard link (not supported by the import)");
    case TarEntryType::kSymlink:  // pg_tblspc links: -D - refuses extra tablespaces
    case TarEntryType::kOther:
      return Status::Ok();
  }
  return Status::Internal("unknown tar entry type");
}

Result<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Status::FromErrno(err, "readdir " + dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<struct stat> Stat(const std::string& path, bool follow) {
  struct stat st {};
  const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return Status::FromErrno(errno, (follow ? "stat " : "lstat ") + path);
  return st;
}

// Walks a data directory. Symbolic links are followed for tablespaces
// (pg_tblspc/<oid>) and for regular files; other links are skipped, so a
// link cycle cannot make the walk endless. pg_wal is not entered.
class PgdataWalker {
 public:
  PgdataWalker(Importer& importer, std::string root)
      : importer_(importer), root_(std::move(root)) {}

  Status Walk(const std::string& rel) {
    const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    ASSIGN_OR_RETURN(const std::vector<std::string> names, ListDirectory(dir));
    for (const std::string& name : names) {
      const std::string child = rel.empty() ? name : rel + "/" + name;
      RETURN_IF_ERROR(Visit(dir + "/" + name, child, rel == "pg_tblspc"));
    }
    return Status::Ok();
  }

 private:
  Status Visit(const std::string& full, const std::string& rel, bool in_tblspc) {
    if (rel == "pg_wal") return Status::Ok();
    ASSIGN_OR_RETURN(struct stat st, Stat(full, /*follow=*/false));
    if (S_ISLNK(st.st_mode)) {
      ASSIGN_OR_RETURN(st, Stat(full, /*follow=*/true));
      if (S_ISDIR(st.st_mode) && !in_tblspc) return Status::Ok();
    }
    if (S_ISDIR(st.st_mode)) {
      importer_.AddDirectory(rel);
      return Walk(rel);
    }
    if (!S_ISREG(st.st_mode)) return Status::Ok();
    ASSIGN_OR_RETURN(const std::unique_ptr<FileByteSource> file, FileByteSource::Open(full));
    return importer_.AddFile(rel, static_cast<uint64_t>(st.st_size), *file);
  }

  Importer& importer_;
  const std::string root_;
};

}  // namespace

Result<ImportStats> ImportTar(timeline::Timeline& timeline, layers::Lsn lsn, ByteSource& tar) {
  Importer importer(timeline, lsn);
  TarReader reader(tar);
  for (;;) {
    ASSIGN_OR_RETURN(const std::optional<TarEntry> entry, reader.Next());
    if (!entry) break;
    RETURN_IF_ERROR(ImportTarEntry(importer, reader, *entry));
  }
  return importer.Finish();
}

Result<ImportStats> ImportPgdata(timeline::Timeline& timeline, layers::Lsn lsn,
                                 const std::string& pgdata) {
  ASSIGN_OR_RETURN(const struct stat st, Stat(pgdata, /*follow=*/true));
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(pgdata + " is not a directory");
  Importer importer(timeline, lsn);
  PgdataWalker walker(importer, pgdata);
  RETURN_IF_ERROR(walker.Walk(""));
  return importer.Finish();
}

}  // namespace pageserver::pg_import
