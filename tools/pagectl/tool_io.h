#pragma once

// The IO stack pagectl builds from its global options: one engine, the
// IoContext every file is opened with, and a PageCache for the readers'
// index nodes.
//
//   pagectl --io-engine io-uring --io-mode direct --page-cache-pages 64MiB layer dump F
//
// Thread-safety: built once by main and used by one thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::pagectl {

// The options every command accepts, in their config spelling.
struct GlobalOptions {
  std::string io_engine = "std-fs";       // std-fs | io-uring | auto
  std::string io_mode = "buffered";       // buffered | direct | direct-rw
  std::string page_cache_pages = "1024";  // a page count or a size ("64MiB")
};

// Owns the engine and cache; `ctx` points at the engine, so the object is
// handed out by unique_ptr and never moved.
struct ToolIo {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
  std::unique_ptr<page_cache::PageCache> cache;
};

// InvalidArgument for an unknown engine, mode or cache size; Unsupported
// when io-uring is asked for and cannot be used here (with the reason).
common::Result<std::unique_ptr<ToolIo>> CreateToolIo(const GlobalOptions& options);

// Writes `bytes` to `path` (created or truncated, mode 0644): the `--out`
// option of the commands that print a value. Errors name "--out" and the path.
common::Status WriteOutputFile(const std::string& path, std::span<const std::byte> bytes);

}  // namespace pageserver::pagectl
