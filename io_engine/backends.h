#pragma once

// Private to io_engine/: the backend constructors behind CreateIoEngine().

#include <memory>
#include <string>

#include "io_engine/io_engine.h"

namespace pageserver::io_engine {
class FaultInjector;
}  // namespace pageserver::io_engine

namespace pageserver::io_engine::internal {

std::unique_ptr<IoEngine> NewStdFsEngine(const IoEngineOptions& options);

// Defined in uring_engine.cc when liburing is available, otherwise in
// uring_unavailable.cc (Unsupported with the reason).
Result<std::unique_ptr<IoEngine>> NewUringEngine(const IoEngineOptions& options);
Status ProbeUring();

// Test seam: when this environment variable is set to anything but "" or "0",
// ProbeUring() reports io_uring unusable ("disabled by PS_IO_URING_DISABLE=1")
// without asking the kernel, so tests and operators can exercise the auto
// fallback. Read on every ProbeUring() call; the kernel probe itself runs at
// most once per process.
inline constexpr const char* kUringDisableEnv = "PS_IO_URING_DISABLE";
// Unsupported("disabled by PS_IO_URING_DISABLE=<value>") when the seam is
// set, OK otherwise. Both ProbeUring() implementations check it first.
Status UringDisabledByEnv();

// How many times the kernel probe has run in this process (0 or 1), for
// tests asserting that the probe result is cached.
int UringKernelProbeRuns();

// Shared by the engines: "read fd=7 offset=8192 length=4096".
std::string DescribeRequest(const IoRequest& request);

// open(2) with O_CLOEXEC, retried on EINTR. With faults.refuse_o_direct()
// an O_DIRECT open fails with EINVAL, as filesystems without direct IO do.
Result<int> OpenFile(const std::string& path, int flags, unsigned mode,
                     const FaultInjector& faults);
// close(2), never retried: the fd is released even when close fails.
Status CloseFile(int fd);

}  // namespace pageserver::io_engine::internal
