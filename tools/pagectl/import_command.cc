#include "tools/pagectl/import_command.h"

#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "layers/ids.h"
#include "pg_import/import.h"
#include "timeline/tenant.h"
#include "tools/pagectl/layer_commands.h"

namespace pageserver::pagectl {

namespace {

using common::Result;
using common::Status;
using layers::Lsn;

struct ImportPlan {
  layers::TenantId tenant;
  layers::TimelineId timeline;
  Lsn lsn;
  uint32_t pg_version = 0;
};

Result<ImportPlan> Plan(const ImportArgs& a) {
  ImportPlan plan;
  ASSIGN_OR_RETURN(plan.tenant, layers::TenantId::ParseHex(a.tenant));
  ASSIGN_OR_RETURN(plan.timeline, layers::TimelineId::ParseHex(a.timeline));
  ASSIGN_OR_RETURN(const pg_import::ControlFileInfo control, pg_import::ReadControlFile(a.pgdata));
  plan.lsn = control.ImportLsn();
  if (a.lsn) {
    ASSIGN_OR_RETURN(plan.lsn, Lsn::Parse(*a.lsn));
  }
  if (!plan.lsn.valid() || plan.lsn == Lsn::Max()) {
    return Status::InvalidArgument("import LSN " + plan.lsn.ToString() + " is not usable");
  }
  plan.pg_version = a.pg_version.value_or(control.pg_major_version);
  return plan;
}

bool DirectoryExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::unique_ptr<timeline::Tenant>> OpenTenant(const timeline::TimelineResources& res,
                                                     const std::string& data_dir,
                                                     layers::TenantId id,
                                                     const timeline::TimelineConfig& config) {
  if (DirectoryExists(timeline::TenantDir(data_dir, id))) {
    return timeline::Tenant::Load(res, data_dir, id, config);
  }
  return timeline::Tenant::Create(res, data_dir, id, config);
}

void PrintStats(const ImportArgs& a, const ImportPlan& plan, const pg_import::ImportStats& s) {
  std::printf("imported %s into tenant %s timeline %s at %s (pg %u)\n", a.pgdata.c_str(),
              plan.tenant.ToHex().c_str(), plan.timeline.ToHex().c_str(), s.lsn.ToString().c_str(),
              plan.pg_version);
  const std::pair<const char*, uint64_t> rows[] = {{"relation_files", s.relation_files},
                                                   {"relation_blocks", s.relation_blocks},
                                                   {"relations", s.relations},
                                                   {"databases", s.databases},
                                                   {"slru_segments", s.slru_segments},
                                                   {"aux_files", s.aux_files},
                                                   {"bytes", s.bytes}};
  for (const auto& [name, value] : rows) {
    std::printf("%s %llu\n", name, static_cast<unsigned long long>(value));
  }
  std::fflush(stdout);
}

// Creates the timeline, imports, and shuts the tenant down with a
// checkpoint; deletes the timeline again when the import fails.
Result<pg_import::ImportStats> Import(timeline::Tenant& tenant, const ImportArgs& a,
                                      const ImportPlan& plan) {
  ASSIGN_OR_RETURN(const std::shared_ptr<timeline::Timeline> tl,
                   tenant.CreateTimeline(plan.timeline, Lsn{plan.lsn.value - 1}, plan.pg_version));
  Result<pg_import::ImportStats> stats = pg_import::ImportPgdata(*tl, plan.lsn, a.pgdata);
  if (!stats.has_value()) {
    const Status removed = tenant.DeleteTimeline(plan.timeline);
    if (!removed.ok()) {
      std::fprintf(stderr, "pagectl: removing the failed timeline: %s\n",
                   removed.ToString().c_str());
    }
    return std::move(stats).error().WithContext("import " + a.pgdata);
  }
  RETURN_IF_ERROR(tenant.Shutdown(/*checkpoint=*/true));
  return stats;
}

int Report(const Status& status) {
  std::fprintf(stderr, "pagectl: %s\n", status.ToString().c_str());
  return kExitFailure;
}

}  // namespace

CLI::App* AddImportCommand(CLI::App& app, ImportArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "import", "import a stopped Postgres cluster's data directory into a new timeline");
  cmd->add_option("--pgdata", args.pgdata, "the cluster's data directory (shut down cleanly)")
      ->required();
  cmd->add_option("--data-dir", args.data_dir, "the pageserver data directory")->required();
  cmd->add_option("--tenant", args.tenant, "tenant id, 32 hex digits (created when missing)")
      ->required();
  cmd->add_option("--timeline", args.timeline, "new timeline id, 32 hex digits")->required();
  cmd->add_option("--lsn", args.lsn,
                  "import LSN X/X (default: the control file's checkpoint, aligned to 8)");
  cmd->add_option("--pg-version", args.pg_version, "Postgres major version (default: PG_VERSION)");
  return cmd;
}

int RunImport(const GlobalOptions& g, const ImportArgs& a) {
  const Result<ImportPlan> plan = Plan(a);
  if (!plan.has_value()) return Report(plan.error());
  const Result<std::unique_ptr<ToolIo>> io = CreateToolIo(g);
  if (!io.has_value()) return Report(io.error());
  timeline::TimelineConfig config;
  config.background_threads = false;  // the import drives flush and image creation
  const timeline::TimelineResources res{&(*io)->ctx, (*io)->cache.get(), nullptr};
  const Result<std::unique_ptr<timeline::Tenant>> tenant =
      OpenTenant(res, a.data_dir, plan->tenant, config);
  if (!tenant.has_value()) return Report(tenant.error());
  const Result<pg_import::ImportStats> stats = Import(**tenant, a, *plan);
  if (!stats.has_value()) return Report(stats.error());
  PrintStats(a, *plan, *stats);
  return kExitOk;
}

}  // namespace pageserver::pagectl
