#pragma once

// `pagectl import`: imports a stopped Postgres cluster's data directory
// offline into a pageserver data directory (no server running on it).
//
//   pagectl import --pgdata DIR --data-dir D --tenant HEX --timeline HEX
//                  [--lsn X/X] [--pg-version N]
//
// Steps: reads DIR/global/pg_control (refused unless the cluster was shut
// down cleanly: state "shut down") and DIR/PG_VERSION; the import LSN is
// --lsn or the control file's checkPoint aligned up to 8, the Postgres
// version --pg-version or PG_VERSION; opens the tenant (Tenant::Load when
// D/tenants/<tenant> exists, else Tenant::Create); creates the timeline
// with start_lsn = LSN - 1; ImportPgdata (pg_import/import.h); shuts the
// tenant down with a checkpoint. A failed import deletes the timeline it
// created, so a retry starts clean. On success prints, one per line:
//   imported <DIR> into tenant <hex> timeline <hex> at <LSN> (pg <N>)
//   <stat> <value>   for relation_files, relation_blocks, relations,
//                    databases, slru_segments, aux_files, bytes
//
// Exit codes as tools/pagectl/layer_commands.h: 0 imported; 2 it could not
// (bad arguments, a cluster not shut down, an existing timeline, corrupt
// files, IO errors), with "pagectl: <Status>" on stderr.
//
// Thread-safety: run from main's thread (it is the timeline's ingest
// thread).

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "tools/pagectl/tool_io.h"

namespace pageserver::pagectl {

struct ImportArgs {
  std::string pgdata;
  std::string data_dir;
  std::string tenant;              // 32 hex digits
  std::string timeline;            // 32 hex digits
  std::optional<std::string> lsn;  // "X/X"
  std::optional<uint32_t> pg_version;
};

// Registers the `import` subcommand writing into `args` (which must outlive
// parsing); returns it so main can test parsed().
CLI::App* AddImportCommand(CLI::App& app, ImportArgs& args);

// Runs the import; returns the exit code.
int RunImport(const GlobalOptions& g, const ImportArgs& a);

}  // namespace pageserver::pagectl
