// pageserver: the daemon.
//
//   pageserver [--config FILE] [-c key=value]... [--print-default-config]
//
// Without --config the built-in defaults apply (server/pageserver.toml).
// Logs go to stderr; stdout carries only --print-default-config's text.
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT) whose checkpoint
// succeeded; 1 when the server could not start or the shutdown checkpoint
// failed; 2 for bad arguments or a bad configuration (nothing was bound).

#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "server/config.h"
#include "server/server.h"

namespace {

namespace server = pageserver::server;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Run(const server::ServerConfig& config) {
  server::SetUpLogging(config.log_level);
  server::BlockTerminationSignals();  // before any thread exists
  auto started = server::Server::Start(config, pageserver::common::DefaultRegistry());
  if (!started.has_value()) {
    spdlog::error("pageserver failed to start: {}", started.error().ToString());
    return kExitFailure;
  }
  std::unique_ptr<server::Server> daemon = std::move(*started);
  const int sig = server::WaitForTerminationSignal();
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  const pageserver::common::Status status = daemon->Shutdown();
  const int code = status.ok() ? kExitOk : kExitFailure;
  if (daemon->leaked_threads()) {
    spdlog::default_logger()->flush();
    std::_Exit(code);  // a handler thread still runs: no destructors under it
  }
  return code;
}

}  // namespace

// CLI11 reports bad arguments by exception (caught below).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  std::optional<std::string> config_path;
  std::vector<std::string> overrides;
  bool print_default = false;
  CLI::App app{"pageserver: serves pages of Postgres relations at LSNs (Neon-compatible)"};
  app.add_option("--config", config_path, "TOML config file (default: built-in defaults)");
  app.add_option("-c", overrides, "override one config key: -c key=value (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--print-default-config", print_default,
               "print the documented default config and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (print_default) {
    std::fwrite(server::DefaultConfigToml().data(), 1, server::DefaultConfigToml().size(), stdout);
    return kExitOk;
  }
  auto config = server::LoadServerConfig(config_path, overrides);
  if (!config.has_value()) {
    std::fprintf(stderr, "pageserver: config error: %s\n",
                 std::string(config.error().message()).c_str());
    return kExitUsage;
  }
  return Run(*config);
}
