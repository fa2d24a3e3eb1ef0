#pragma once

// `pagectl layer ...`: inspection of one layer file.
//
//   dump FILE [--keys] [--json]      summary, index shape, value statistics;
//                                    --keys adds every (key, LSN, will_init, length)
//   verify FILE [--json]             VerifyLayerFile: every problem found
//   get FILE KEY [LSN] [--json] [--out PATH]
//                                    image: the value of KEY; delta: KEY's
//                                    history at or below LSN (default latest)
//
// Each command returns the process exit code (kExit*). Results go to stdout,
// errors to stderr as "pagectl: <Status>".
//
// Thread-safety: run from main's thread.

#include <optional>
#include <string>

#include "tools/pagectl/tool_io.h"

namespace pageserver::pagectl {

inline constexpr int kExitOk = 0;
// The command ran and the answer is negative: verify found problems, get did
// not find the key.
inline constexpr int kExitNegative = 1;
// The command could not run: bad arguments, a file that cannot be opened or
// read (including corruption met by dump or get).
inline constexpr int kExitFailure = 2;

struct DumpArgs {
  std::string file;
  bool keys = false;
  bool json = false;
};

struct VerifyArgs {
  std::string file;
  bool json = false;
};

struct GetArgs {
  std::string file;
  std::string key;                 // 36 hex digits
  std::optional<std::string> lsn;  // "X/X" or 16 hex digits; unset = latest
  bool json = false;
  std::optional<std::string> out;  // image: write the value here
};

int RunLayerDump(const ToolIo& io, const DumpArgs& args);
int RunLayerVerify(const ToolIo& io, const VerifyArgs& args);
int RunLayerGet(const ToolIo& io, const GetArgs& args);

// Prints "pagectl: <status>" to stderr and returns kExitFailure.
int Fail(const common::Status& status);

}  // namespace pageserver::pagectl
