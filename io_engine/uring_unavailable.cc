// Built instead of uring_engine.cc when liburing was not found at configure
// time: the factory reports io_uring as unsupported, with the reason.

#include "io_engine/backends.h"

namespace pageserver::io_engine::internal {

Status ProbeUring() {
  RETURN_IF_ERROR(UringDisabledByEnv());
  return Status::Unsupported("this build has no io_uring support (liburing-dev was not found)");
}

int UringKernelProbeRuns() { return 0; }

Result<std::unique_ptr<IoEngine>> NewUringEngine(const IoEngineOptions&) { return ProbeUring(); }

}  // namespace pageserver::io_engine::internal
