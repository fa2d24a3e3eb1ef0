#pragma once

// pagectl commands that talk to a running pageserver: the page service over
// libpq (client/page_client.h) and the HTTP API (client/management_client.h).
//
//   getpage REL BLKNO [--out FILE]   the page: a hex dump, or raw to FILE
//   exists REL                       "true"/"false" (exit 1 for false)
//   nblocks REL                      the block count
//   dbsize DBNODE                    the database size in bytes
//     common: --server CONNINFO (default "host=127.0.0.1 port=64000")
//             --tenant HEX --timeline HEX (required)
//             --lsn X/X  read at exactly that LSN (request_lsn =
//                        not_modified_since = X/X); without it, read the
//                        latest: request_lsn FFFFFFFF/FFFFFFFF and
//                        not_modified_since = the timeline's last_record_lsn
//                        fetched from --http
//             --protocol v2|v3 (default v3)   --json
//   tenant create [--tenant HEX] | list | delete --tenant HEX
//   timeline create --tenant HEX [--timeline HEX] [--start-lsn X/X] [--pg-version N]
//   timeline branch --tenant HEX --ancestor HEX [--ancestor-lsn X/X] [--timeline HEX]
//   timeline list --tenant HEX | delete --tenant HEX --timeline HEX
//     common: --http URL (default http://127.0.0.1:9898), --json
//
// REL is spc/db/rel with an optional fork suffix: 1663/5/16384, 1663/5/16384_fsm.
// Exit codes as tools/pagectl/layer_commands.h: 0 ok, 1 negative answer,
// 2 the command failed (unreachable server, server error, bad arguments);
// errors go to stderr as "pagectl: <Status>".
//
// Thread-safety: run from main's thread.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace pageserver::pagectl {

inline constexpr char kDefaultServer[] = "host=127.0.0.1 port=64000";
inline constexpr char kDefaultHttp[] = "http://127.0.0.1:9898";

// Options of getpage/exists/nblocks/dbsize.
struct PageRequestArgs {
  std::string server = kDefaultServer;
  std::string http = kDefaultHttp;
  std::string tenant;
  std::string timeline;
  std::optional<std::string> lsn;
  std::string protocol = "v3";
  bool json = false;
  std::string rel;                 // getpage, exists, nblocks
  uint32_t blkno = 0;              // getpage
  uint32_t dbnode = 0;             // dbsize
  std::optional<std::string> out;  // getpage
};

// Options of the tenant and timeline commands.
struct ManagementArgs {
  std::string http = kDefaultHttp;
  std::optional<std::string> tenant;
  std::optional<std::string> timeline;
  std::optional<std::string> ancestor;
  std::optional<std::string> ancestor_lsn;
  std::optional<std::string> start_lsn;
  std::optional<int> pg_version;
  bool json = false;
};

// Registers the commands on `app`; after app.parse(), Run() executes the one
// that was parsed. Owns the argument storage CLI11 writes into, so it must
// outlive parsing.
class ClientCommands {
 public:
  static std::unique_ptr<ClientCommands> Add(CLI::App& app);
  // The exit code of the parsed client command, or nullopt when none of them
  // was parsed.
  std::optional<int> Run() const;

 private:
  ClientCommands() = default;
  void AddPageCommands(CLI::App& app);
  void AddTenantCommands(CLI::App& app);
  void AddTimelineCommands(CLI::App& app);

  PageRequestArgs page_;
  ManagementArgs mgmt_;
  CLI::App* getpage_ = nullptr;
  CLI::App* exists_ = nullptr;
  CLI::App* nblocks_ = nullptr;
  CLI::App* dbsize_ = nullptr;
  CLI::App* tenant_create_ = nullptr;
  CLI::App* tenant_list_ = nullptr;
  CLI::App* tenant_delete_ = nullptr;
  CLI::App* timeline_create_ = nullptr;
  CLI::App* timeline_branch_ = nullptr;
  CLI::App* timeline_list_ = nullptr;
  CLI::App* timeline_delete_ = nullptr;
};

int RunGetPage(const PageRequestArgs& args);
int RunExists(const PageRequestArgs& args);
int RunNblocks(const PageRequestArgs& args);
int RunDbSize(const PageRequestArgs& args);

int RunTenantCreate(const ManagementArgs& args);
int RunTenantList(const ManagementArgs& args);
int RunTenantDelete(const ManagementArgs& args);
int RunTimelineCreate(const ManagementArgs& args);
int RunTimelineBranch(const ManagementArgs& args);
int RunTimelineList(const ManagementArgs& args);
int RunTimelineDelete(const ManagementArgs& args);

}  // namespace pageserver::pagectl
