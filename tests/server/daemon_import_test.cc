// Real data end to end: a PostgreSQL 15 cluster filled by pgbench is
// imported into the pageserver both ways -- offline from its data directory
// (`pagectl import --pgdata`) and over the page service from the tar stream
// `pg_basebackup -Ft -D -` writes (`import basebackup` over COPY IN) -- and
// every block of every relation file is read back through the real daemon
// with libpq and compared with the file's bytes; Nblocks, Exists and DbSize
// are compared with the files too.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/page_client.h"
#include "layers/ids.h"
#include "layers/key.h"
#include "pg_import/import.h"
#include "pg_import/pg_path.h"
#include "server/pagestream.h"
#include "tests/server/daemon_harness.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::testing {
namespace {

using client::PageClient;
using client::ReadPoint;
using layers::Lsn;
using layers::RelTag;
using server::PagestreamResponseTag;
using server::PagestreamVersion;

constexpr char kPgdataTenant[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
constexpr char kTarTenant[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2";
constexpr char kTimeline[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1";

// What a cluster's files say: every relation fork's bytes, by block.
struct ClusterFiles {
  std::map<RelTag, std::string> relations;  // all segments concatenated
  Lsn lsn;                                  // the import LSN (control file)
};

void AddRelationSegment(ClusterFiles& files, const std::string& path, std::string bytes) {
  const pg_import::PgFile f = pg_import::ClassifyFile(path);
  if (f.kind != pg_import::PgFileKind::kRelation) return;
  std::string& rel = files.relations[f.rel];
  const size_t offset = size_t{f.segno} * pg_import::kRelSegmentBlocks * 8192;
  if (rel.size() < offset + bytes.size()) rel.resize(offset + bytes.size());
  rel.replace(offset, bytes.size(), bytes);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Lsn ImportLsn(const std::string& control_bytes) {
  const auto* p = reinterpret_cast<const std::byte*>(control_bytes.data());
  auto info = pg_import::ParseControlFile({p, control_bytes.size()});
  EXPECT_TRUE(info.has_value()) << info.error().ToString();
  return info.has_value() ? info->ImportLsn() : Lsn{};
}

ClusterFiles ReadDataDirectory(const std::string& pgdata) {
  ClusterFiles files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(pgdata)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(entry.path(), pgdata).string();
    AddRelationSegment(files, rel, ReadAll(entry.path().string()));
  }
  files.lsn = ImportLsn(ReadAll(pgdata + "/global/pg_control"));
  return files;
}

// The members of a ustar archive, read independently of pg_import's reader
// (pg_basebackup writes plain ustar headers; names here are short).
ClusterFiles ReadTar(const std::string& path) {
  ClusterFiles files;
  const std::string tar = ReadAll(path);
  size_t pos = 0;
  while (pos + 512 <= tar.size() && tar[pos] != '\0') {
    const std::string name(tar.c_str() + pos);
    const size_t size = std::stoull(std::string(tar, pos + 124, 12), nullptr, 8);
    const char type = tar[pos + 156];
    std::string prefix(tar.c_str() + pos + 345);
    const std::string full = prefix.empty() ? name : prefix + "/" + name;
    std::string bytes = tar.substr(pos + 512, size);
    if (type == '0' || type == '\0') {
      if (full == "global/pg_control") files.lsn = ImportLsn(bytes);
      AddRelationSegment(files, full, std::move(bytes));
    }
    pos += 512 + (size + 511) / 512 * 512;
  }
  return files;
}

// Reads every block of every relation through the page service (pipelined,
// 32 requests in flight) and compares; also Exists, Nblocks and DbSize.
void CompareWithServer(const Daemon& d, const char* tenant, const ClusterFiles& files) {
  ASSERT_FALSE(files.relations.empty());
  ASSERT_OK_AND_ASSIGN(auto client, PageClient::Connect(d.UnixConninfo()));
  ASSERT_OK(client->StartPagestream(PagestreamVersion::kV3, *layers::TenantId::ParseHex(tenant),
                                    *layers::TimelineId::ParseHex(kTimeline)));
  const ReadPoint at = ReadPoint::AtLsn(files.lsn);
  std::map<uint32_t, int64_t> db_bytes;
  uint64_t blocks = 0;
  for (const auto& [rel, bytes] : files.relations) {
    SCOPED_TRACE(rel.ToString());
    ASSERT_EQ(bytes.size() % 8192, 0u);
    const auto nblocks = static_cast<uint32_t>(bytes.size() / 8192);
    if (rel.spcnode == pg_import::kDefaultTablespaceOid) db_bytes[rel.dbnode] += bytes.size();
    ASSERT_OK_AND_ASSIGN(const bool exists, client->Exists(rel, at));
    EXPECT_TRUE(exists);
    ASSERT_OK_AND_ASSIGN(const uint32_t served_nblocks, client->Nblocks(rel, at));
    EXPECT_EQ(served_nblocks, nblocks);
    for (uint32_t first = 0; first < nblocks; first += 32) {
      const uint32_t end = std::min(nblocks, first + 32);
      for (uint32_t blk = first; blk < end; ++blk) {
        ASSERT_OK(client->Send(
            server::GetPageRequest{{client->NextRequestId(), files.lsn, files.lsn}, rel, blk}));
      }
      ASSERT_OK(client->Flush());
      for (uint32_t blk = first; blk < end; ++blk) {
        ASSERT_OK_AND_ASSIGN(auto r, client->Receive());
        ASSERT_EQ(r.tag, PagestreamResponseTag::kGetPage) << r.error;
        ASSERT_EQ(r.blkno, blk);
        ASSERT_EQ(0, std::memcmp(r.data.data(), bytes.data() + size_t{blk} * 8192, 8192))
            << "block " << blk << " differs from the file";
        ++blocks;
      }
    }
  }
  for (const auto& [db, size] : db_bytes) {
    ASSERT_OK_AND_ASSIGN(const int64_t served, client->DbSize(db, at));
    EXPECT_EQ(served, size) << "database " << db;
  }
  ASSERT_OK_AND_ASSIGN(const bool absent, client->Exists({1663, 1, 4000000000u, 0}, at));
  EXPECT_FALSE(absent);
  std::cerr << "compared " << blocks << " blocks of " << files.relations.size()
            << " relation forks with the files\n";
  ASSERT_OK(client->Close());
}

// COPY IN of the tar file to `import basebackup` with real libpq.
void ImportBasebackup(const Daemon& d, const std::string& tar_path, Lsn lsn) {
  PGconn* conn = PQconnectdb(d.TcpConninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  const std::string query = std::string("import basebackup ") + kTarTenant + " " + kTimeline + " " +
                            lsn.ToString() + " 15";
  PGresult* res = PQexec(conn, query.c_str());
  ASSERT_EQ(PQresultStatus(res), PGRES_COPY_IN) << PQerrorMessage(conn);
  PQclear(res);
  const std::string tar = ReadAll(tar_path);
  for (size_t pos = 0; pos < tar.size(); pos += 65536) {
    const size_t n = std::min<size_t>(65536, tar.size() - pos);
    ASSERT_EQ(PQputCopyData(conn, tar.data() + pos, static_cast<int>(n)), 1)
        << PQerrorMessage(conn);
  }
  ASSERT_EQ(PQputCopyEnd(conn, nullptr), 1) << PQerrorMessage(conn);
  res = PQgetResult(conn);
  EXPECT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQerrorMessage(conn);
  PQclear(res);
  while ((res = PQgetResult(conn)) != nullptr) PQclear(res);
  PQfinish(conn);
}

int RunPagectl(const std::vector<std::string>& args, std::string& output) {
  std::string cmd = PS_PAGECTL_BINARY;
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(DaemonImportTest, PgbenchClusterImportedBothWaysServesEveryBlockOfEveryRelation) {
  if (auto why = PgCluster::Unavailable()) GTEST_SKIP() << *why;
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto pg, PgCluster::Create());
  ASSERT_OK(pg->Start());
  ASSERT_OK(pg->Pgbench(1));
  const std::string tar_path = dir.File("base.tar");
  ASSERT_OK(pg->BaseBackupTar(tar_path));
  ASSERT_OK(pg->Stop());

  // 1. Offline, from the data directory.
  const std::string data_dir = dir.path() + "/data";
  std::string output;
  ASSERT_EQ(RunPagectl({"import", "--pgdata", pg->pgdata(), "--data-dir", data_dir, "--tenant",
                        kPgdataTenant, "--timeline", kTimeline},
                       output),
            0)
      << output;
  DaemonOptions options;
  options.data_dir = data_dir;
  options.work_dir = dir.path();
  options.extra_config = "virtual_file_io_mode = \"direct\"\n";
  ASSERT_OK_AND_ASSIGN(auto daemon, Daemon::Start(options));
  CompareWithServer(*daemon, kPgdataTenant, ReadDataDirectory(pg->pgdata()));

  // 2. Over the protocol, from pg_basebackup's tar stream.
  httplib::Client http("127.0.0.1", daemon->http_port());
  auto created = http.Post("/v1/tenant", nlohmann::json{{"new_tenant_id", kTarTenant}}.dump(),
                           "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const ClusterFiles tar_files = ReadTar(tar_path);
  ImportBasebackup(*daemon, tar_path, tar_files.lsn);
  CompareWithServer(*daemon, kTarTenant, tar_files);

  // Both survive a restart.
  ASSERT_OK_AND_ASSIGN(const int code, daemon->Stop(SIGTERM));
  EXPECT_EQ(code, 0) << daemon->Log();
  ASSERT_OK(daemon->Restart());
  CompareWithServer(*daemon, kTarTenant, tar_files);
  if (HasFailure()) std::cerr << daemon->Log();
}

}  // namespace
}  // namespace pageserver::testing
