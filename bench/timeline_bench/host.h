#pragma once

// What timeline_bench asks of the host: where to put files, the kernel page
// cache state of those files, device bytes read, and a description of the
// machine for the report. Linux only.
//
// Thread-safety: every function may be called from any thread.

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace pageserver::bench {

// $PS_BENCH_DIR, else /var/tmp/ps-timeline-bench (on disk: /tmp may be tmpfs).
std::string DefaultBenchDir();

// Drops each file's pages from the kernel page cache
// (posix_fadvise(POSIX_FADV_DONTNEED)). The files must be clean (layer files
// are fsynced by their writers), else dirty pages stay.
common::Status DropFromPageCache(std::span<const std::string> paths);

// Reads each file start to end through the kernel page cache, so later
// buffered reads of it are page-cache hits.
common::Status WarmKernelCache(std::span<const std::string> paths);

// Bytes this process caused to be read from the block layer
// (/proc/self/io read_bytes: buffered and O_DIRECT reads, io_uring workers
// included); 0 when unreadable.
uint64_t DeviceReadBytes();

// The filesystem type holding `path`: "tmpfs", "ext4", "xfs", "btrfs", or
// "0x<magic>" for others.
std::string FilesystemType(const std::string& path);

// The kernel readahead (KiB) of the block device holding `path`
// (/sys/dev/block/<major>:<minor>/queue/read_ahead_kb, or its parent's for a
// partition); -1 when unknown. Large values make "cold" buffered random
// reads partly warm: a miss pulls in its neighbours.
int64_t ReadAheadKib(const std::string& path);

// "Linux 6.1.0 x86_64, 2 CPUs, 23.4 GiB RAM, <cpu model>".
std::string MachineDescription();

// The current UTC time as "2026-11-21T10:00:00Z".
std::string UtcNow();

}  // namespace pageserver::bench
