#pragma once

// DaemonHarness: runs the real `pageserver` binary for integration tests:
// free loopback ports, a config file in a temp dir, a Unix socket dir,
// stdout/stderr captured to a log file, readiness by polling the HTTP API,
// and stop by signal with the exit status.
//
// Thread-safety: one harness per test; not thread-safe.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pageserver::testing {

struct DaemonOptions {
  std::string data_dir;                // REQUIRED
  std::string work_dir;                // REQUIRED: config, log and socket dir go here
  std::vector<std::string> overrides;  // extra "-c key=value" arguments
  std::string extra_config;            // appended to the generated TOML
  std::vector<std::string> env;        // extra "NAME=value" for the child
};

class Daemon {
 public:
  // Starts the binary and waits until GET /v1/status answers (or it exits,
  // or `timeout`): the error then carries the log's tail.
  static common::Result<std::unique_ptr<Daemon>> Start(
      const DaemonOptions& options, std::chrono::seconds timeout = std::chrono::seconds(60));
  ~Daemon();  // SIGKILL if still running

  // Sends `sig` and waits for the exit (SIGKILL after `timeout`): the exit
  // code, or 128 + signal when killed. TimedOut if it had to be killed.
  common::Result<int> Stop(int sig, std::chrono::seconds timeout = std::chrono::seconds(60));
  // The same process, started again with the same options and ports.
  common::Status Restart();

  int pg_port() const { return pg_port_; }
  int http_port() const { return http_port_; }
  const std::string& socket_dir() const { return socket_dir_; }
  std::string TcpConninfo() const;
  std::string UnixConninfo() const;
  std::string HttpUrl() const;
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  Daemon() = default;
  common::Status Spawn(std::chrono::seconds timeout);

  DaemonOptions options_;
  std::string config_path_;
  std::string log_path_;
  std::string socket_dir_;
  int pg_port_ = 0;
  int http_port_ = 0;
  pid_t pid_ = -1;
};

// The pageserver binary's path (compiled in by CMake).
std::string PageserverBinary();
// Runs the binary with `args` to completion: exit code and combined output.
struct RunResult {
  int exit_code = -1;
  std::string output;
};
RunResult RunPageserver(const std::vector<std::string>& args, std::chrono::seconds timeout,
                        const std::vector<std::string>& env = {});

// A loopback TCP port nobody listens on right now.
int FreePort();

}  // namespace pageserver::testing
