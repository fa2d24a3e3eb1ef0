#pragma once

// FileByteSource: a ByteSource over a file or pipe read with plain read(2)
// (the files of a stopped Postgres cluster or a tar on disk; the pageserver's
// own files go through VirtualFile instead). ReadWholeSmallFile: a small
// file's bytes, for control and version files.
//
// Errors: open and read errors mapped by Status::FromErrno, naming the
// path. Thread-safety: one thread at a time per object.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg_import/import.h"

namespace pageserver::pg_import {

class FileByteSource : public ByteSource {
 public:
  // Opens `path` read-only (O_CLOEXEC).
  static common::Result<std::unique_ptr<FileByteSource>> Open(const std::string& path);
  // Adopts `fd` (closed by the destructor); `name` is used in messages.
  FileByteSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~FileByteSource() override;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;

  // read(2), retried on EINTR; 0 at the end of the file.
  common::Result<size_t> Read(std::span<std::byte> dst) override;

 private:
  int fd_;
  std::string name_;
};

// The whole file; InvalidArgument when it is larger than `max_bytes`.
common::Result<std::vector<std::byte>> ReadWholeSmallFile(const std::string& path,
                                                          size_t max_bytes);

}  // namespace pageserver::pg_import
