#include "tools/pagectl/tool_io.h"

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

}  // namespace pageserver::pagectl
