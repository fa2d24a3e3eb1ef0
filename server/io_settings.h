#pragma once

// IoSettings: the daemon's IO configuration, changeable at runtime.
//
// It owns the io engines (created on first use and kept until the daemon
// exits, since files opened with an engine keep using it) and the live
// engine/mode choice that `PUT /v1/io_engine` and `PUT /v1/io_mode` flip.
// As in Neon, a flip applies to files opened afterwards; files already open
// keep the engine and mode they were opened with.
//
// Each tenant gets its own virtual_file::IoContext from ContextFor(): same
// live engine and mode, but its IO is also counted per tenant
// (ps_tenant_io_bytes_total{tenant,op}), the per-tenant resource accounting
// the page service's metrics expose.
//
// Thread-safety: every method is thread-safe; a flip racing with opens is
// safe (each open sees the old or the new setting, never a mix).

#include <cstddef>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"
#include "io_engine/io_engine.h"
#include "layers/ids.h"
#include "virtual_file/io_mode.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::server {

struct IoSettingsOptions {
  io_engine::IoEngineKind engine = io_engine::IoEngineKind::kAuto;
  virtual_file::IoMode mode = virtual_file::IoMode::kDirect;
  size_t io_alignment = 512;
  // Open buffered (with a warning) where the filesystem refuses O_DIRECT.
  bool direct_fallback = false;
  unsigned ring_entries = 128;
  // Config io_latency_padding: "" none, else a latency profile
  // (io_engine::ParseLatencyProfile: "80us" fixed or "80us/250us" p50/p99)
  // every engine is wrapped with, so the daemon models a slower device.
  std::string latency_padding;
};

class IoSettings {
 public:
  // Unsupported when the engine asked for cannot be used (io-uring
  // unavailable: the probe's reason); InvalidArgument for a bad alignment
  // or latency profile.
  static common::Result<std::unique_ptr<IoSettings>> Create(const IoSettingsOptions& options,
                                                            common::Registry& registry);
  ~IoSettings();
  IoSettings(const IoSettings&) = delete;
  IoSettings& operator=(const IoSettings&) = delete;

  // The context for files that belong to no tenant (and for tools).
  // The pointer stays valid for the life of *this.
  const virtual_file::IoContext* DefaultContext();
  // The context for `tenant`'s files; the same pointer for the same tenant.
  const virtual_file::IoContext* ContextFor(layers::TenantId tenant);

  // Flip the live setting for files opened from now on. SetEngine:
  // Unsupported as Create (the setting is unchanged then).
  common::Status SetEngine(io_engine::IoEngineKind kind);
  void SetMode(virtual_file::IoMode mode);

  // The live setting: "std-fs" or "io-uring" (auto resolved), the mode.
  std::string engine_name() const;
  virtual_file::IoMode mode() const;
  size_t io_alignment() const;

 private:
  struct Impl;
  explicit IoSettings(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pageserver::server
