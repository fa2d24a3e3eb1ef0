#include "pg_import/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace pageserver::pg_import {

using common::Result;
using common::Status;

Result<std::unique_ptr<FileByteSource>> FileByteSource::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  return std::make_unique<FileByteSource>(fd, path);
}

FileByteSource::~FileByteSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<size_t> FileByteSource::Read(std::span<std::byte> dst) {
  for (;;) {
    const ssize_t n = ::read(fd_, dst.data(), dst.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Status::FromErrno(errno, "read " + name_);
  }
}

Result<std::vector<std::byte>> ReadWholeSmallFile(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(const std::unique_ptr<FileByteSource> file, FileByteSource::Open(path));
  std::vector<std::byte> out;
  std::byte buf[8192];
  for (;;) {
    ASSIGN_OR_RETURN(const size_t n, file->Read(buf));
    if (n == 0) return out;
    if (out.size() + n > max_bytes) {
      return Status::InvalidArgument(path + " is larger than " + std::to_string(max_bytes) +
                                     " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
}

}  // namespace pageserver::pg_import
