// Built instead of uring_engine.cc when liburing was not found at configure
// time: the factory reports io_uring as unsupported, with the reason.

#include "io_engine/backends.h"

namespace pageserver::io_engine::internal {

Status ProbeUring() {
  return Status::Unsupported("this build has no io_uring support (liburing-dev was not found)");
}

Result<std::unique_ptr<IoEngine>> NewUringEngine(const IoEngineOptions&) { return ProbeUring(); }

}  // namespace pageserver::io_engine::internal
