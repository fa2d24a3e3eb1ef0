#include "server/io_settings.h"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/align.h"
#include "io_engine/latency_padding.h"
#include "virtual_file/io_metrics.h"

namespace pageserver::server {

using common::Result;
using common::Status;
using io_engine::IoEngine;
using io_engine::IoEngineKind;
using virtual_file::IoContext;
using virtual_file::IoMetrics;
using virtual_file::IoMode;

namespace {

constexpr char kTenantIoBytes[] = "ps_tenant_io_bytes_total";
constexpr char kTenantIoBytesHelp[] =
    "Bytes a tenant's files moved through VirtualFile (device IO in direct mode).";

// One tenant's context and the counters its accounting points at.
struct TenantIo {
  IoContext ctx;
  virtual_file::IoAccounting accounting;
};

}  // namespace

// The live choice is guarded by one mutex; Resolve() runs once per file
// open, far from the per-read hot path.
struct IoSettings::Impl : virtual_file::LiveIoSettings {
  Impl(const IoSettingsOptions& o, common::Registry& r) : options(o), registry(r) {}

  void Resolve(IoContext& ctx) const override {
    std::lock_guard lock(mu);
    ctx.engine = current;
    ctx.mode = mode;
    ctx.metrics = MetricsFor(current->name(), mode);
  }

  // A new engine of `engine_options`, padded when a profile is configured.
  Result<std::unique_ptr<IoEngine>> NewEngine(const io_engine::IoEngineOptions& engine_options) {
    ASSIGN_OR_RETURN(std::unique_ptr<IoEngine> engine, io_engine::CreateIoEngine(engine_options));
    if (!padding.has_value()) return engine;
    return io_engine::WithLatencyPadding(std::move(engine), *padding);
  }

  // REQUIRES: mu held. Engines are created once per kind and never freed
  // before *this: files opened with one keep using it after a flip.
  Result<IoEngine*> EngineFor(IoEngineKind kind) {
    io_engine::IoEngineOptions engine_options;
    engine_options.kind = kind;
    engine_options.ring_entries = options.ring_entries;
    engine_options.registry = &registry;
    if (kind == IoEngineKind::kAuto) {
      // Resolve auto once: the first engine it picks is the auto engine.
      if (auto_engine != nullptr) return auto_engine;
      ASSIGN_OR_RETURN(std::unique_ptr<IoEngine> engine, NewEngine(engine_options));
      auto_engine = Keep(std::move(engine));
      return auto_engine;
    }
    for (const auto& e : engines) {
      if (e->name() == io_engine::IoEngineKindName(kind)) return e.get();
    }
    ASSIGN_OR_RETURN(std::unique_ptr<IoEngine> engine, NewEngine(engine_options));
    return Keep(std::move(engine));
  }

  IoEngine* Keep(std::unique_ptr<IoEngine> engine) {
    for (const auto& e : engines) {
      if (e->name() == engine->name()) return e.get();
    }
    engines.push_back(std::move(engine));
    return engines.back().get();
  }

  // REQUIRES: mu held.
  IoMetrics* MetricsFor(std::string_view engine, IoMode m) const {
    const auto key = std::make_pair(std::string(engine), m);
    auto it = metrics.find(key);
    if (it == metrics.end()) {
      it = metrics.emplace(key, std::make_unique<IoMetrics>(registry, engine, m)).first;
    }
    return it->second.get();
  }

  IoContext BaseContext() const {
    IoContext ctx;
    ctx.io_alignment = options.io_alignment;
    ctx.direct_fallback = options.direct_fallback;
    ctx.live = this;
    Resolve(ctx);  // so a context read without Open still names an engine
    return ctx;
  }

  const IoSettingsOptions options;
  std::optional<io_engine::LatencyProfile> padding;  // from options.latency_padding
  common::Registry& registry;
  mutable std::mutex mu;
  std::vector<std::unique_ptr<IoEngine>> engines;  // guarded by mu
  IoEngine* auto_engine = nullptr;                 // guarded by mu
  IoEngine* current = nullptr;                     // guarded by mu
  IoMode mode = IoMode::kDirect;                   // guarded by mu
  mutable std::map<std::pair<std::string, IoMode>, std::unique_ptr<IoMetrics>>
      metrics;  // guarded by mu
  std::mutex contexts_mu;
  std::unique_ptr<IoContext> default_ctx;                         // guarded by contexts_mu
  std::map<layers::TenantId, std::unique_ptr<TenantIo>> tenants;  // guarded by contexts_mu
};

Result<std::unique_ptr<IoSettings>> IoSettings::Create(const IoSettingsOptions& options,
                                                       common::Registry& registry) {
  if (!common::IsPowerOfTwo(options.io_alignment) || options.io_alignment < 512) {
    return Status::InvalidArgument("io_alignment " + std::to_string(options.io_alignment) +
                                   " is not a power of two >= 512");
  }
  auto impl = std::make_unique<Impl>(options, registry);
  if (!options.latency_padding.empty()) {
    ASSIGN_OR_RETURN(impl->padding, io_engine::ParseLatencyProfile(options.latency_padding));
  }
  {
    std::lock_guard lock(impl->mu);
    ASSIGN_OR_RETURN(impl->current, impl->EngineFor(options.engine));
    impl->mode = options.mode;
  }
  return std::unique_ptr<IoSettings>(new IoSettings(std::move(impl)));
}

IoSettings::IoSettings(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IoSettings::~IoSettings() = default;

const IoContext* IoSettings::DefaultContext() {
  std::lock_guard lock(impl_->contexts_mu);
  if (impl_->default_ctx == nullptr) {
    impl_->default_ctx = std::make_unique<IoContext>(impl_->BaseContext());
  }
  return impl_->default_ctx.get();
}

const IoContext* IoSettings::ContextFor(layers::TenantId tenant) {
  std::lock_guard lock(impl_->contexts_mu);
  std::unique_ptr<TenantIo>& slot = impl_->tenants[tenant];
  if (slot == nullptr) {
    slot = std::make_unique<TenantIo>();
    const std::string id = tenant.ToHex();
    slot->accounting.read_bytes = &impl_->registry.GetCounter(kTenantIoBytes, kTenantIoBytesHelp,
                                                              {{"tenant", id}, {"op", "read"}});
    slot->accounting.write_bytes = &impl_->registry.GetCounter(kTenantIoBytes, kTenantIoBytesHelp,
                                                               {{"tenant", id}, {"op", "write"}});
    slot->ctx = impl_->BaseContext();
    slot->ctx.accounting = &slot->accounting;
  }
  return &slot->ctx;
}

Status IoSettings::SetEngine(IoEngineKind kind) {
  std::lock_guard lock(impl_->mu);
  ASSIGN_OR_RETURN(IoEngine * engine, impl_->EngineFor(kind));
  impl_->current = engine;
  return Status::Ok();
}

void IoSettings::SetMode(IoMode mode) {
  std::lock_guard lock(impl_->mu);
  impl_->mode = mode;
}

std::string IoSettings::engine_name() const {
  std::lock_guard lock(impl_->mu);
  return std::string(impl_->current->name());
}

IoMode IoSettings::mode() const {
  std::lock_guard lock(impl_->mu);
  return impl_->mode;
}

size_t IoSettings::io_alignment() const { return impl_->options.io_alignment; }

}  // namespace pageserver::server
