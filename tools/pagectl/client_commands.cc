// The page-service commands (getpage, exists, nblocks, dbsize) and the
// registration of every client command; management_commands.cc holds the
// tenant and timeline commands.

#include "tools/pagectl/client_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "client/management_client.h"
#include "client/page_client.h"
#include "tools/pagectl/layer_commands.h"
#include "tools/pagectl/tool_io.h"

namespace pageserver::pagectl {
namespace {

using client::PageClient;
using client::ReadPoint;
using common::Result;
using common::Status;
using layers::Lsn;
using nlohmann::json;
using server::PagestreamVersion;

constexpr size_t kDumpLine = 16;

Result<PagestreamVersion> ParseProtocol(const std::string& text) {
  if (text == "v2" || text == "2") return PagestreamVersion::kV2;
  if (text == "v3" || text == "3") return PagestreamVersion::kV3;
  return Status::InvalidArgument("--protocol '" + text + "': expected v2 or v3");
}

// --lsn X/X reads at exactly that LSN; without it, the latest, with
// not_modified_since from the timeline's last_record_lsn (an LSN of 0 would
// be rejected by the server).
Result<ReadPoint> ResolveReadPoint(const PageRequestArgs& args, const layers::TenantId& tenant,
                                   const layers::TimelineId& timeline) {
  if (args.lsn.has_value()) {
    ASSIGN_OR_RETURN(const Lsn lsn, Lsn::Parse(*args.lsn));
    return ReadPoint::AtLsn(lsn);
  }
  ASSIGN_OR_RETURN(auto http, client::ManagementClient::Create(args.http));
  Result<Lsn> last = http->LastRecordLsn(tenant, timeline);
  if (!last.has_value()) {
    return last.error().WithContext("no --lsn given; reading last_record_lsn from " + args.http);
  }
  return ReadPoint::Latest(*last);
}

// A connected client in pagestream mode and where to read.
struct Session {
  std::unique_ptr<PageClient> client;
  ReadPoint at;

  ~Session() {
    if (client == nullptr) return;
    const Status closed = client->Close();
    if (!closed.ok()) std::fprintf(stderr, "pagectl: warning: %s\n", closed.ToString().c_str());
  }
};

Result<std::unique_ptr<Session>> OpenSession(const PageRequestArgs& args) {
  ASSIGN_OR_RETURN(const auto tenant, layers::TenantId::ParseHex(args.tenant));
  ASSIGN_OR_RETURN(const auto timeline, layers::TimelineId::ParseHex(args.timeline));
  ASSIGN_OR_RETURN(const PagestreamVersion version, ParseProtocol(args.protocol));
  auto session = std::make_unique<Session>();
  ASSIGN_OR_RETURN(session->at, ResolveReadPoint(args, tenant, timeline));
  ASSIGN_OR_RETURN(session->client, PageClient::Connect(args.server));
  RETURN_IF_ERROR(session->client->StartPagestream(version, tenant, timeline));
  return session;
}

json ReadPointJson(const ReadPoint& at) {
  return json{{"request_lsn", at.request_lsn.ToString()},
              {"not_modified_since", at.not_modified_since.ToString()}};
}

char Printable(std::byte b) {
  const auto c = static_cast<unsigned char>(b);
  return c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.';
}

void PrintDumpLine(std::span<const std::byte> line, size_t offset) {
  std::printf("%04zx ", offset);
  for (size_t i = 0; i < kDumpLine; ++i) {
    if (i % 8 == 0) std::printf(" ");
    if (i < line.size()) {
      std::printf("%02x ", static_cast<unsigned>(line[i]));
    } else {
      std::printf("   ");
    }
  }
  std::printf(" |");
  for (std::byte b : line) std::putchar(Printable(b));
  std::printf("|\n");
}

// hexdump -C style; a run of lines equal to the one before prints as "*".
void PrintPageDump(std::span<const std::byte> page) {
  bool starred = false;
  for (size_t offset = 0; offset < page.size(); offset += kDumpLine) {
    const auto line = page.subspan(offset, std::min(kDumpLine, page.size() - offset));
    const bool repeat = offset > 0 && line.size() == kDumpLine &&
                        std::equal(line.begin(), line.end(), page.begin() + offset - kDumpLine);
    if (repeat) {
      if (!starred) std::printf("*\n");
      starred = true;
      continue;
    }
    starred = false;
    PrintDumpLine(line, offset);
  }
  std::printf("%04zx\n", page.size());
}

std::string HexString(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    out.push_back(kDigits[static_cast<unsigned>(b) >> 4]);
    out.push_back(kDigits[static_cast<unsigned>(b) & 15]);
  }
  return out;
}

void PrintJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

}  // namespace

int RunGetPage(const PageRequestArgs& args) {
  Result<layers::RelTag> rel = client::ParseRelTag(args.rel);
  if (!rel.has_value()) return Fail(rel.error());
  auto session = OpenSession(args);
  if (!session.has_value()) return Fail(session.error());
  auto page = (*session)->client->GetPage(*rel, args.blkno, (*session)->at);
  if (!page.has_value()) return Fail(page.error());
  if (args.out.has_value()) {
    const Status written = WriteOutputFile(*args.out, *page);
    if (!written.ok()) return Fail(written);
  }
  if (args.json) {
    json out = {{"rel", rel->ToString()}, {"blkno", args.blkno}, {"bytes", page->size()}};
    out.update(ReadPointJson((*session)->at));
    if (args.out.has_value()) {
      out["out"] = *args.out;
    } else {
      out["page_hex"] = HexString(*page);
    }
    PrintJson(out);
  } else if (args.out.has_value()) {
    std::printf("wrote %zu bytes of %s blk %u to %s\n", page->size(), rel->ToString().c_str(),
                args.blkno, args.out->c_str());
  } else {
    PrintPageDump(*page);
  }
  return kExitOk;
}

int RunExists(const PageRequestArgs& args) {
  Result<layers::RelTag> rel = client::ParseRelTag(args.rel);
  if (!rel.has_value()) return Fail(rel.error());
  auto session = OpenSession(args);
  if (!session.has_value()) return Fail(session.error());
  auto exists = (*session)->client->Exists(*rel, (*session)->at);
  if (!exists.has_value()) return Fail(exists.error());
  if (args.json) {
    json out = {{"rel", rel->ToString()}, {"exists", *exists}};
    out.update(ReadPointJson((*session)->at));
    PrintJson(out);
  } else {
    std::printf("%s\n", *exists ? "true" : "false");
  }
  return *exists ? kExitOk : kExitNegative;
}

int RunNblocks(const PageRequestArgs& args) {
  Result<layers::RelTag> rel = client::ParseRelTag(args.rel);
  if (!rel.has_value()) return Fail(rel.error());
  auto session = OpenSession(args);
  if (!session.has_value()) return Fail(session.error());
  auto n = (*session)->client->Nblocks(*rel, (*session)->at);
  if (!n.has_value()) return Fail(n.error());
  if (args.json) {
    json out = {{"rel", rel->ToString()}, {"nblocks", *n}};
    out.update(ReadPointJson((*session)->at));
    PrintJson(out);
  } else {
    std::printf("%u\n", *n);
  }
  return kExitOk;
}

int RunDbSize(const PageRequestArgs& args) {
  auto session = OpenSession(args);
  if (!session.has_value()) return Fail(session.error());
  auto size = (*session)->client->DbSize(args.dbnode, (*session)->at);
  if (!size.has_value()) return Fail(size.error());
  if (args.json) {
    json out = {{"dbnode", args.dbnode}, {"db_size", *size}};
    out.update(ReadPointJson((*session)->at));
    PrintJson(out);
  } else {
    std::printf("%lld\n", static_cast<long long>(*size));
  }
  return kExitOk;
}

// ------------------------------------------------------------ registration

namespace {

void AddConnectionOptions(CLI::App& cmd, PageRequestArgs& a) {
  cmd.add_option("--server", a.server, "libpq connection string of the page service")
      ->capture_default_str();
  cmd.add_option("--http", a.http, "HTTP API, for last_record_lsn when --lsn is not given")
      ->capture_default_str();
  cmd.add_option("--tenant", a.tenant, "tenant id (32 hex digits)")->required();
  cmd.add_option("--timeline", a.timeline, "timeline id (32 hex digits)")->required();
  cmd.add_option("--lsn", a.lsn, "read at this LSN (X/X); default: latest");
  cmd.add_option("--protocol", a.protocol, "pagestream protocol: v2 or v3")->capture_default_str();
  cmd.add_flag("--json", a.json, "print JSON");
}

}  // namespace

std::unique_ptr<ClientCommands> ClientCommands::Add(CLI::App& app) {
  std::unique_ptr<ClientCommands> c(new ClientCommands());
  c->AddPageCommands(app);
  c->AddTenantCommands(app);
  c->AddTimelineCommands(app);
  return c;
}

void ClientCommands::AddPageCommands(CLI::App& app) {
  PageRequestArgs& a = page_;
  getpage_ = app.add_subcommand("getpage", "read one page from a running pageserver");
  AddConnectionOptions(*getpage_, a);
  getpage_->add_option("REL", a.rel, "relation: spc/db/rel[_fsm|_vm|_init]")->required();
  getpage_->add_option("BLKNO", a.blkno, "block number")->required();
  getpage_->add_option("--out", a.out, "write the raw 8192 bytes to this file");

  exists_ = app.add_subcommand("exists", "does the relation fork exist (exit 1 when not)");
  AddConnectionOptions(*exists_, a);
  exists_->add_option("REL", a.rel, "relation: spc/db/rel[_fsm|_vm|_init]")->required();

  nblocks_ = app.add_subcommand("nblocks", "the relation fork's size in blocks");
  AddConnectionOptions(*nblocks_, a);
  nblocks_->add_option("REL", a.rel, "relation: spc/db/rel[_fsm|_vm|_init]")->required();

  dbsize_ = app.add_subcommand("dbsize", "a database's size in bytes");
  AddConnectionOptions(*dbsize_, a);
  dbsize_->add_option("DBNODE", a.dbnode, "database oid")->required();
}

std::optional<int> ClientCommands::Run() const {
  const std::pair<CLI::App*, int (*)(const PageRequestArgs&)> page_commands[] = {
      {getpage_, RunGetPage}, {exists_, RunExists}, {nblocks_, RunNblocks}, {dbsize_, RunDbSize}};
  for (const auto& [cmd, run] : page_commands) {
    if (cmd->parsed()) return run(page_);
  }
  const std::pair<CLI::App*, int (*)(const ManagementArgs&)> mgmt_commands[] = {
      {tenant_create_, RunTenantCreate},     {tenant_list_, RunTenantList},
      {tenant_delete_, RunTenantDelete},     {timeline_create_, RunTimelineCreate},
      {timeline_branch_, RunTimelineBranch}, {timeline_list_, RunTimelineList},
      {timeline_delete_, RunTimelineDelete}};
  for (const auto& [cmd, run] : mgmt_commands) {
    if (cmd->parsed()) return run(mgmt_);
  }
  return std::nullopt;
}

}  // namespace pageserver::pagectl
