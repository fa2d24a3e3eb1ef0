#pragma once

// Private to io_engine/: the backend constructors behind CreateIoEngine().

#include <memory>

#include "io_engine/io_engine.h"

namespace pageserver::io_engine::internal {

std::unique_ptr<IoEngine> NewStdFsEngine(const IoEngineOptions& options);

// Defined in uring_engine.cc when liburing is available, otherwise in
// uring_unavailable.cc (Unsupported with the reason).
Result<std::unique_ptr<IoEngine>> NewUringEngine(const IoEngineOptions& options);
Status ProbeUring();

// Shared by the engines: "read fd=7 offset=8192 length=4096".
std::string DescribeRequest(const IoRequest& request);

}  // namespace pageserver::io_engine::internal
