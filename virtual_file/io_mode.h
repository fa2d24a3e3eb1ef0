#pragma once

// IoMode: which files VirtualFile opens with O_DIRECT. Neon's table:
//
//   mode        | opened for reading | opened for writing (or read-write)
//   ------------+--------------------+-----------------------------------
//   buffered    | buffered           | buffered
//   direct      | O_DIRECT           | buffered
//   direct-rw   | O_DIRECT           | O_DIRECT
//
// Alignment of address, offset and length is validated in every mode, so a
// buffered run catches the bugs a direct run would hit.

#include <string_view>

#include "common/status.h"

namespace pageserver::virtual_file {

enum class IoMode : unsigned char { kBuffered, kDirect, kDirectRw };

enum class OpenIntent : unsigned char { kRead, kWrite, kReadWrite };

// "buffered" | "direct" | "direct-rw" (the config spelling).
common::Result<IoMode> ParseIoMode(std::string_view text);
std::string_view IoModeName(IoMode mode);

// The table above.
constexpr bool UsesODirect(IoMode mode, OpenIntent intent) {
  if (mode == IoMode::kBuffered) return false;
  if (intent == OpenIntent::kRead) return true;
  return mode == IoMode::kDirectRw;
}

}  // namespace pageserver::virtual_file
