// pagectl: inspect pageserver files and talk to a running pageserver.
//
//   pagectl [--io-engine E] [--io-mode M] [--page-cache-pages N] layer dump FILE [--keys] [--json]
//   pagectl ... layer verify FILE [--json]
//   pagectl ... layer get FILE KEY [LSN] [--json] [--out PATH]
//   pagectl getpage|exists|nblocks|dbsize ...     the page service (libpq)
//   pagectl tenant create|list|delete ...         the HTTP API
//   pagectl timeline create|branch|list|delete ...
//   pagectl import --pgdata DIR --data-dir D --tenant T --timeline TL [--lsn X/X]
//                                                 offline import of a stopped cluster
//
// Exit codes: 0 success; 1 the answer is negative (verify found problems,
// get found no value); 2 the command could not run (usage, unreadable file).
// See tools/pagectl/layer_commands.h and tools/pagectl/client_commands.h.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "tools/pagectl/client_commands.h"
#include "tools/pagectl/import_command.h"
#include "tools/pagectl/layer_commands.h"
#include "tools/pagectl/tool_io.h"

namespace {

using pageserver::pagectl::DumpArgs;
using pageserver::pagectl::Fail;
using pageserver::pagectl::GetArgs;
using pageserver::pagectl::GlobalOptions;
using pageserver::pagectl::kExitFailure;
using pageserver::pagectl::kExitOk;
using pageserver::pagectl::VerifyArgs;

void AddGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("--io-engine", g.io_engine, "IO engine: std-fs, io-uring, auto")
      ->capture_default_str();
  app.add_option("--io-mode", g.io_mode, "IO mode: buffered, direct, direct-rw")
      ->capture_default_str();
  app.add_option("--page-cache-pages", g.page_cache_pages,
                 "PageCache size for index nodes: pages, or bytes with KiB/MiB/GiB")
      ->capture_default_str();
}

CLI::App* AddDump(CLI::App& layer, DumpArgs& a) {
  CLI::App* cmd = layer.add_subcommand("dump", "summary, index shape and value statistics");
  cmd->add_option("FILE", a.file, "layer file")->required();
  cmd->add_flag("--keys", a.keys, "also list every (key, LSN, will_init, value length)");
  cmd->add_flag("--json", a.json, "print JSON");
  return cmd;
}

CLI::App* AddVerify(CLI::App& layer, VerifyArgs& a) {
  CLI::App* cmd = layer.add_subcommand(
      "verify", "check every checksum and invariant; exit 1 when a problem is found");
  cmd->add_option("FILE", a.file, "layer file")->required();
  cmd->add_flag("--json", a.json, "print JSON");
  return cmd;
}

CLI::App* AddGet(CLI::App& layer, GetArgs& a) {
  CLI::App* cmd = layer.add_subcommand(
      "get", "image: the value of KEY; delta: KEY's history at or below LSN, newest first");
  cmd->add_option("FILE", a.file, "layer file")->required();
  cmd->add_option("KEY", a.key, "key as 36 hex digits")->required();
  cmd->add_option("LSN", a.lsn, "read point, X/X or 16 hex digits (default: latest)");
  cmd->add_flag("--json", a.json, "print JSON");
  cmd->add_option("--out", a.out, "image: write the value to this file");
  return cmd;
}

}  // namespace

// CLI11 reports bad arguments by exception (caught below); any other
// exception escaping main is a crash we want to see.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  GlobalOptions global;
  DumpArgs dump;
  VerifyArgs verify;
  GetArgs get;
  CLI::App app{"pagectl: inspect pageserver layer files, talk to a running pageserver"};
  app.fallthrough();  // global options may follow the subcommands
  app.require_subcommand(1);
  AddGlobalOptions(app, global);
  CLI::App* layer = app.add_subcommand("layer", "inspect one layer file")->require_subcommand(1);
  CLI::App* dump_cmd = AddDump(*layer, dump);
  CLI::App* verify_cmd = AddVerify(*layer, verify);
  CLI::App* get_cmd = AddGet(*layer, get);
  const auto client_commands = pageserver::pagectl::ClientCommands::Add(app);
  pageserver::pagectl::ImportArgs import_args;
  CLI::App* import_cmd = pageserver::pagectl::AddImportCommand(app, import_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitFailure;
  }

  if (const auto exit_code = client_commands->Run()) return *exit_code;
  if (import_cmd->parsed()) return pageserver::pagectl::RunImport(global, import_args);
  const auto io = pageserver::pagectl::CreateToolIo(global);
  if (!io.has_value()) return Fail(io.error());
  if (dump_cmd->parsed()) return pageserver::pagectl::RunLayerDump(**io, dump);
  if (verify_cmd->parsed()) return pageserver::pagectl::RunLayerVerify(**io, verify);
  if (get_cmd->parsed()) return pageserver::pagectl::RunLayerGet(**io, get);
  return kExitFailure;  // unreachable: require_subcommand(1) above
}
