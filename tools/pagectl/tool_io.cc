#include "tools/pagectl/tool_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "page_cache/cache_size.h"
#include "virtual_file/io_mode.h"

namespace pageserver::pagectl {

common::Result<std::unique_ptr<ToolIo>> CreateToolIo(const GlobalOptions& options) {
  ASSIGN_OR_RETURN(const io_engine::IoEngineKind kind,
                   io_engine::ParseIoEngineKind(options.io_engine));
  ASSIGN_OR_RETURN(const virtual_file::IoMode mode, virtual_file::ParseIoMode(options.io_mode));
  ASSIGN_OR_RETURN(const uint64_t pages, page_cache::ParsePageCacheSize(options.page_cache_pages));

  auto io = std::make_unique<ToolIo>();
  io_engine::IoEngineOptions engine_options;
  engine_options.kind = kind;
  ASSIGN_OR_RETURN(io->engine, io_engine::CreateIoEngine(engine_options));
  io->ctx.engine = io->engine.get();
  io->ctx.mode = mode;
  page_cache::PageCacheOptions cache_options;
  cache_options.pages = pages;
  ASSIGN_OR_RETURN(io->cache, page_cache::PageCache::Create(cache_options));
  return io;
}

common::Status WriteOutputFile(const std::string& path, std::span<const std::byte> bytes) {
  using common::Status;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "--out: open " + path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "--out: write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Status::FromErrno(errno, "--out: close " + path);
  return Status::Ok();
}

}  // namespace pageserver::pagectl
