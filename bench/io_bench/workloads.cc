#include "bench/io_bench/workloads.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "common/align.h"
#include "virtual_file/buffered_writer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using virtual_file::AlignedSpanMut;
using virtual_file::BufferedWriter;
using virtual_file::IoBufferMut;
using virtual_file::IoContext;
using virtual_file::IoMode;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

uint64_t ScratchWord(uint64_t offset) { return (offset * 0x9e3779b97f4a7c15ull) ^ 0x5eed; }

namespace {

constexpr size_t kAlign = 4096;

bool WordMatches(const std::byte* block, uint64_t offset) {
  uint64_t word = 0;
  std::memcpy(&word, block, sizeof(word));
  return word == ScratchWord(offset);
}

Result<bool> LooksLikeScratch(io_engine::IoEngine& engine, const std::string& path, uint64_t size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) return false;
  IoContext ctx{&engine, IoMode::kBuffered, kAlign};
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::Read()));
  IoBufferMut buf = IoBufferMut::Allocate(kAlign, kAlign);
  for (uint64_t offset : {uint64_t{0}, common::AlignDown(size / 2, kAlign), size - kAlign}) {
    RETURN_IF_ERROR(file.ReadExactAt(offset, buf.WholeCapacity()));
    if (!WordMatches(buf.data(), offset)) return false;
  }
  return true;
}

}  // namespace

Status PrepareScratchFile(io_engine::IoEngine& engine, const std::string& path, uint64_t size) {
  if (size < kAlign || !common::IsAligned(size, kAlign)) {
    return Status::InvalidArgument("scratch file size must be a multiple of 4096");
  }
  ASSIGN_OR_RETURN(bool reusable, LooksLikeScratch(engine, path, size));
  if (reusable) return Status::Ok();
  IoContext ctx{&engine, IoMode::kBuffered, kAlign};
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::CreateTruncate()));
  ASSIGN_OR_RETURN(auto writer, BufferedWriter::Create(&file, 0, 1 << 20));
  std::vector<uint64_t> chunk(1 << 17);  // 1 MiB of words
  for (uint64_t base = 0; base < size; base += chunk.size() * 8) {
    const size_t words = std::min<uint64_t>(chunk.size(), (size - base) / 8);
    for (size_t i = 0; i < words; ++i) chunk[i] = ScratchWord(base + i * 8);
    RETURN_IF_ERROR(writer->Append(std::as_bytes(std::span(chunk.data(), words))));
  }
  RETURN_IF_ERROR(writer->Finish());
  return file.Sync();
}

namespace {

struct ThreadResult {
  Status status;
  uint64_t ios = 0;
  uint64_t errors = 0;
  std::vector<uint64_t> latencies_ns;
};

// Offsets for one batch: random blocks, or the next `n` sequential blocks.
class OffsetSource {
 public:
  OffsetSource(const ReadSpec& spec, int thread)
      : spec_(spec),
        blocks_(spec.file_size / spec.block_size),
        rng_(spec.seed * 7919 + static_cast<uint64_t>(thread)),
        next_(blocks_ * static_cast<uint64_t>(thread) / static_cast<uint64_t>(spec.threads)) {}

  uint64_t Next() {
    const uint64_t block = spec_.random ? rng_() % blocks_ : next_++ % blocks_;
    return block * spec_.block_size;
  }

 private:
  const ReadSpec& spec_;
  uint64_t blocks_;
  std::mt19937_64 rng_;
  uint64_t next_;
};

bool ReadOk(const Result<size_t>& result, const std::byte* block, uint64_t offset,
            const ReadSpec& spec) {
  return result.has_value() && *result == spec.block_size && WordMatches(block, offset);
}

uint64_t RunBatch(std::vector<VirtualFile::BatchRead>& reads, OffsetSource& offsets,
                  const ReadSpec& spec) {
  for (auto& r : reads) {
    r.offset = offsets.Next();
    r.result = Status::Internal("not run");
  }
  VirtualFile::ReadBatch(reads);
  uint64_t errors = 0;
  for (const auto& r : reads) errors += ReadOk(r.result, r.dst.data(), r.offset, spec) ? 0 : 1;
  return errors;
}

// Keeps queue_depth async reads in flight; collects them oldest first, so a
// read's latency is from its submit until it was collected.
void PipelinedLoop(const VirtualFile& file, const ReadSpec& spec, IoBufferMut& arena,
                   OffsetSource& offsets, uint64_t deadline, ThreadResult& out) {
  const auto depth = static_cast<size_t>(spec.queue_depth);
  struct Slot {
    io_engine::AsyncIo ticket;
    uint64_t offset = 0;
    uint64_t submitted = 0;
    AlignedSpanMut dst;
  };
  std::vector<Slot> slots(depth);
  auto submit = [&](Slot& s) {
    s.offset = offsets.Next();
    s.submitted = NowNanos();
    auto ticket = file.SubmitRead(s.offset, s.dst);
    if (!ticket.has_value()) return false;
    s.ticket = std::move(ticket).value();
    return true;
  };
  for (size_t i = 0; i < depth; ++i) {
    slots[i].dst = arena.WholeCapacity().Subspan(i * spec.block_size, spec.block_size);
    if (!submit(slots[i])) ++out.errors;
  }
  for (size_t i = 0;; i = (i + 1) % depth) {
    Slot& s = slots[i];
    if (!s.ticket.valid()) break;
    Result<size_t> n = file.WaitRead(std::move(s.ticket), s.offset, spec.block_size);
    const uint64_t now = NowNanos();
    out.latencies_ns.push_back(now - s.submitted);
    ++out.ios;
    if (!ReadOk(n, s.dst.data(), s.offset, spec)) ++out.errors;
    if (now < deadline && !submit(s)) ++out.errors;
  }
}

void BatchLoop(const VirtualFile& file, const ReadSpec& spec, IoBufferMut& arena,
               OffsetSource& offsets, uint64_t deadline, ThreadResult& out) {
  const auto depth = static_cast<size_t>(spec.queue_depth);
  std::vector<VirtualFile::BatchRead> reads(depth);
  for (size_t i = 0; i < depth; ++i) {
    reads[i].file = &file;
    reads[i].dst = arena.WholeCapacity().Subspan(i * spec.block_size, spec.block_size);
  }
  for (uint64_t now = NowNanos(); now < deadline;) {
    out.errors += RunBatch(reads, offsets, spec);
    const uint64_t end = NowNanos();
    out.latencies_ns.push_back(end - now);
    out.ios += depth;
    now = end;
  }
}

void ReadThread(const IoContext& ctx, const ReadSpec& spec, int thread, uint64_t deadline,
                ThreadResult& out) {
  auto file = VirtualFile::Open(ctx, spec.path, OpenOptions::Read());
  if (!file.has_value()) {
    out.status = file.error();
    return;
  }
  const auto depth = static_cast<size_t>(spec.queue_depth);
  IoBufferMut arena = IoBufferMut::Allocate(depth * spec.block_size, kAlign);
  OffsetSource offsets(spec, thread);
  out.latencies_ns.reserve(1 << 20);
  if (spec.pipelined) {
    PipelinedLoop(*file, spec, arena, offsets, deadline, out);
  } else {
    BatchLoop(*file, spec, arena, offsets, deadline, out);
  }
}

RunStats Merge(std::vector<ThreadResult>& results, double seconds, double cpu, size_t io_size) {
  RunStats stats;
  std::vector<uint64_t> all;
  for (auto& r : results) {
    stats.ios += r.ios;
    stats.errors += r.errors;
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
  }
  stats.bytes = stats.ios * io_size;
  stats.seconds = seconds;
  stats.cpu_seconds = cpu;
  stats.latency = ComputePercentiles(all);
  return stats;
}

}  // namespace

Result<RunStats> RunReads(io_engine::IoEngine& engine, IoMode mode, const ReadSpec& spec) {
  if (spec.queue_depth < 1 || spec.threads < 1 || spec.file_size < spec.block_size) {
    return Status::InvalidArgument("read spec needs queue_depth >= 1, threads >= 1, a file");
  }
  const IoContext ctx{&engine, mode, kAlign};
  std::vector<ThreadResult> results(static_cast<size_t>(spec.threads));
  const double cpu_start = ProcessCpuSeconds();
  const uint64_t start = NowNanos();
  const uint64_t deadline = start + static_cast<uint64_t>(spec.seconds * 1e9);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(spec.threads));
  for (int t = 0; t < spec.threads; ++t) {
    threads.emplace_back(
        [&, t] { ReadThread(ctx, spec, t, deadline, results[static_cast<size_t>(t)]); });
  }
  for (auto& t : threads) t.join();
  const double seconds = static_cast<double>(NowNanos() - start) / 1e9;
  const double cpu = ProcessCpuSeconds() - cpu_start;
  for (const auto& r : results) RETURN_IF_ERROR(r.status);
  return Merge(results, seconds, cpu, spec.block_size);
}

Result<RunStats> RunBufferedWrites(io_engine::IoEngine& engine, IoMode mode,
                                   const WriteSpec& spec) {
  const IoContext ctx{&engine, mode, kAlign};
  ASSIGN_OR_RETURN(VirtualFile file,
                   VirtualFile::Open(ctx, spec.path, OpenOptions::CreateTruncate()));
  ASSIGN_OR_RETURN(auto writer, BufferedWriter::Create(&file, 0, spec.buffer_capacity));
  std::vector<std::byte> chunk(spec.append_size);
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<std::byte>(i * 31);
  std::vector<uint64_t> latencies;
  latencies.reserve(spec.total_bytes / spec.append_size + 1);
  const double cpu_start = ProcessCpuSeconds();
  const uint64_t start = NowNanos();
  for (uint64_t done = 0; done < spec.total_bytes; done += chunk.size()) {
    const uint64_t t0 = NowNanos();
    RETURN_IF_ERROR(writer->Append(chunk));
    latencies.push_back(NowNanos() - t0);
  }
  RETURN_IF_ERROR(writer->Finish());
  RETURN_IF_ERROR(file.Sync());
  RunStats stats;
  stats.seconds = static_cast<double>(NowNanos() - start) / 1e9;
  stats.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  stats.bytes = writer->size();
  stats.ios = stats.bytes / spec.buffer_capacity;  // device writes issued
  stats.latency = ComputePercentiles(latencies);
  return stats;
}

}  // namespace pageserver::bench
