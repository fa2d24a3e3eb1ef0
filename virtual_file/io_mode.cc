#include "virtual_file/io_mode.h"

#include <string>

namespace pageserver::virtual_file {

common::Result<IoMode> ParseIoMode(std::string_view text) {
  if (text == "buffered") return IoMode::kBuffered;
  if (text == "direct") return IoMode::kDirect;
  if (text == "direct-rw") return IoMode::kDirectRw;
  return common::Status::InvalidArgument("unknown io mode '" + std::string(text) +
                                         "' (expected buffered, direct or direct-rw)");
}

std::string_view IoModeName(IoMode mode) {
  switch (mode) {
    case IoMode::kBuffered:
      return "buffered";
    case IoMode::kDirect:
      return "direct";
    case IoMode::kDirectRw:
      return "direct-rw";
  }
  return "unknown";
}

}  // namespace pageserver::virtual_file
