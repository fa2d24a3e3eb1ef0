#pragma once

// PgCluster: a throwaway Postgres 15 cluster for tests, made with the
// installed binaries (/usr/lib/postgresql/15/bin, or $PS_PG_BINDIR).
//
//   if (auto why = PgCluster::Unavailable()) GTEST_SKIP() << *why;
//   ASSERT_OK_AND_ASSIGN(auto pg, PgCluster::Create());   // initdb
//   ASSERT_OK(pg->Start());                                // free port, Unix socket only
//   ASSERT_OK(pg->Pgbench(1));                             // pgbench -i -s 1
//   ASSERT_OK(pg->BaseBackupTar(dir.File("base.tar")));    // pg_basebackup -Ft -D - -X none
//   ASSERT_OK(pg->Stop());                                 // clean shutdown
//   ImportPgdata(tl, lsn, pg->pgdata());
//
// Layout: everything lives in one fresh directory (removed by the
// destructor): <dir>/pgdata, <dir>/sock (the Unix socket directory),
// <dir>/postgres.log (the server log) and <dir>/commands.log (each command
// line and its stderr).
//
// Root: initdb refuses to run as root, so when the process is root every
// Postgres binary runs as the `postgres` user (`runuser -u postgres --`;
// `nobody` when there is no such user) and the directory is chowned to
// it. As any other user the binaries run directly.
//
// The server listens only on its Unix socket (listen_addresses = ''), so
// the port only names the socket file (<sock>/.s.PGSQL.<port>); it is still
// picked among free TCP ports. Settings for speed: fsync off, small
// shared_buffers; superuser `postgres`, trust authentication.
//
// Errors: a failed command is Internal with its command line, exit status
// and the tail of its stderr.
//
// Thread-safety: one thread at a time per cluster; separate clusters are
// independent.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pageserver::testing {

class PgCluster {
 public:
  // Why clusters cannot be made here (binaries missing), or nullopt.
  static std::optional<std::string> Unavailable();
  // initdb (-U postgres -A trust --no-sync) into a fresh directory.
  static common::Result<std::unique_ptr<PgCluster>> Create();

  // Stops a running server (immediate mode) and removes the directory.
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // pg_ctl start -w on a free port. REQUIRES: stopped.
  common::Status Start();
  // pg_ctl stop -m fast -w: a clean shutdown (control file state
  // "shut down"). REQUIRES: running.
  common::Status Stop();
  bool running() const { return running_; }

  // pgbench -i -s <scale> on database postgres. REQUIRES: running.
  common::Status Pgbench(int scale);
  // psql -c <sql> on database postgres; returns its stdout (unaligned,
  // tuples only). REQUIRES: running.
  common::Result<std::string> Sql(const std::string& sql);
  // pg_basebackup -Ft -D - -X none -c fast, stdout to `out_path`: the tar
  // stream the page service's `import basebackup` takes (-X stream cannot
  // write to stdout; -X fetch would add pg_wal files). REQUIRES: running.
  common::Status BaseBackupTar(const std::string& out_path);
  // GNU tar of the data directory (`tar -cf out -C pgdata .`, plus
  // --format=<format> when given: "gnu", "pax", "ustar").
  // REQUIRES: stopped (a running cluster's files change under tar).
  common::Status TarDataDir(const std::string& out_path, const std::string& format = "");

  const std::string& dir() const { return dir_; }
  std::string pgdata() const { return dir_ + "/pgdata"; }
  std::string socket_dir() const { return dir_ + "/sock"; }
  int port() const { return port_; }
  // "host=<socket_dir> port=<port> user=postgres dbname=postgres".
  std::string ConnectionString() const;

  // Runs `argv` (a Postgres binary name is resolved in the bin directory),
  // as the cluster's OS user when root; stdout to `stdout_path` (empty:
  // commands.log). The generic form of the commands above.
  common::Status Run(std::vector<std::string> argv, const std::string& stdout_path = "");

 private:
  explicit PgCluster(std::string dir) : dir_(std::move(dir)) {}

  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace pageserver::testing
