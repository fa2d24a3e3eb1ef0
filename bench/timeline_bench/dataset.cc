#include "bench/timeline_bench/dataset.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/io_bench/stats.h"
#include "io_engine/io_engine.h"
#include "layers/layer_name.h"
#include "page_cache/page_cache.h"
#include "timeline/timeline.h"
#include "timeline/timeline_dir.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::bench {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using timeline::Timeline;
using timeline::Value;

namespace {

constexpr size_t kPage = timeline::kPageSize;
constexpr size_t kSamplePages = 64;
constexpr char kStampMagic[8] = {'P', 'S', 'T', 'L', 'B', 'N', 'C', 'H'};
constexpr Lsn kStartLsn{0x1000000};
constexpr uint32_t kPgVersion = 16;
constexpr int kManifestFormat = 1;

// A heap page 71% full: header, zero free space, tuples of random
// alphanumerics at the end (zstd stores it in roughly 3/4 of its size).
std::vector<std::byte> SamplePage(std::mt19937_64& rng) {
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::vector<std::byte> page(kPage);
  const size_t upper = kPage - kPage * 71 / 100;
  for (size_t i = upper; i < kPage; ++i) page[i] = static_cast<std::byte>(kAlnum[rng() % 62]);
  page[18] = std::byte{0x04};  // pd_pagesize_version 0x2004
  page[19] = std::byte{0x20};
  return page;
}

const std::vector<std::vector<std::byte>>& SamplePages() {
  static const auto* pages = [] {
    auto* p = new std::vector<std::vector<std::byte>>();
    std::mt19937_64 rng(42);
    for (size_t i = 0; i < kSamplePages; ++i) p->push_back(SamplePage(rng));
    return p;
  }();
  return *pages;
}

Lsn NextLsn(Lsn lsn, const Value& value) {
  return Lsn{lsn.value + ((value.encoded_size() + 7) & ~uint64_t{7})};
}

// ---- building ----

struct BuildIo {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
  std::unique_ptr<page_cache::PageCache> cache;
};

Result<std::unique_ptr<BuildIo>> MakeBuildIo() {
  auto io = std::make_unique<BuildIo>();
  ASSIGN_OR_RETURN(io->engine,
                   io_engine::CreateIoEngine({.kind = io_engine::IoEngineKind::kStdFs}));
  io->ctx.engine = io->engine.get();
  io->ctx.mode = virtual_file::IoMode::kBuffered;
  ASSIGN_OR_RETURN(io->cache, page_cache::PageCache::Create({.pages = 8192}));
  return io;
}

Result<timeline::TimelineConfig> BuildConfig(const TimelineBenchConfig& config) {
  timeline::TimelineConfig tc;
  tc.background_threads = false;
  tc.gc_horizon = 0;
  tc.checkpoint_distance = uint64_t{256} << 20;
  tc.checkpoint_timeout = std::chrono::hours(24);
  if (config.compression == "zstd") {
    tc.writer.image_compression = layers::Compression::kZstd;
  } else if (config.compression != "none") {
    return Status::InvalidArgument("--compression must be none or zstd, not " + config.compression);
  }
  return tc;
}

Status PutAndFinish(Timeline& tl, const Key& key, const Value& value, Lsn& lsn) {
  lsn = NextLsn(lsn, value);
  RETURN_IF_ERROR(tl.Put(key, lsn, value));
  return tl.FinishLsn(lsn);
}

Status IngestBaseImages(Timeline& tl, const Dataset& ds, Lsn& lsn) {
  for (uint64_t page = 0; page < ds.pages; ++page) {
    ASSIGN_OR_RETURN(const Value value, Value::Image(StampedPage(page, page)));
    RETURN_IF_ERROR(PutAndFinish(tl, PageKey(page, ds.rel_blocks), value, lsn));
  }
  RETURN_IF_ERROR(tl.Checkpoint());
  ASSIGN_OR_RETURN(const size_t images, tl.CreateImages(/*force=*/true));
  if (images != 1) {
    return Status::Internal("CreateImages(force) wrote " + std::to_string(images) +
                            " image layers, expected 1");
  }
  return Status::Ok();
}

Result<Value> DeltaValue(const TimelineBenchConfig& config, uint64_t page, uint32_t round,
                         std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0, 1);
  if (unit(rng) < config.delta_image_share) return Value::Image(StampedPage(page, page + round));
  std::vector<std::byte> bytes(config.record_bytes);
  for (auto& b : bytes) b = static_cast<std::byte>(rng());
  const size_t offset = kStampBytes + rng() % (kPage - kStampBytes - bytes.size() + 1);
  return Value::Write(offset, bytes);
}

Status IngestDeltaRound(Timeline& tl, const TimelineBenchConfig& config, const Dataset& ds,
                        uint32_t round, std::mt19937_64& rng, Lsn& lsn) {
  std::uniform_real_distribution<double> unit(0, 1);
  uint64_t written = 0;
  for (uint64_t page = 0; page < ds.pages; ++page) {
    if (unit(rng) >= config.delta_fraction) continue;
    ASSIGN_OR_RETURN(const Value value, DeltaValue(config, page, round, rng));
    RETURN_IF_ERROR(PutAndFinish(tl, PageKey(page, ds.rel_blocks), value, lsn));
    ++written;
  }
  if (written == 0) {
    // An empty round would leave no delta layer and so no depth: write one record.
    ASSIGN_OR_RETURN(const Value value, DeltaValue(config, 0, round, rng));
    RETURN_IF_ERROR(PutAndFinish(tl, PageKey(0, ds.rel_blocks), value, lsn));
  }
  return tl.Checkpoint();
}

Status BuildTimeline(const TimelineBenchConfig& config, Dataset& ds) {
  ASSIGN_OR_RETURN(auto io, MakeBuildIo());
  ASSIGN_OR_RETURN(const timeline::TimelineConfig tc, BuildConfig(config));
  const timeline::TimelineResources res{.ctx = &io->ctx, .cache = io->cache.get()};
  ASSIGN_OR_RETURN(
      std::shared_ptr<Timeline> tl,
      Timeline::CreateEmpty(res, ds.data_dir, ds.tenant, ds.timeline, kStartLsn, kPgVersion, tc));
  Lsn lsn = kStartLsn;
  RETURN_IF_ERROR(IngestBaseImages(*tl, ds, lsn));
  ds.round_lsns = {tl->disk_consistent_lsn()};
  const size_t max_depth = *std::max_element(config.depths.begin(), config.depths.end());
  std::mt19937_64 rng(config.seed);
  for (uint32_t round = 1; round <= max_depth; ++round) {
    RETURN_IF_ERROR(IngestDeltaRound(*tl, config, ds, round, rng, lsn));
    ds.round_lsns.push_back(tl->last_record_lsn());
    std::fprintf(stderr, "timeline_bench: delta round %u done\n", round);
  }
  RETURN_IF_ERROR(CheckDepths(*tl->layer_map(), ds));
  return tl->Shutdown(/*checkpoint=*/false);
}

// ---- manifest (reuse of a kept dataset) ----

nlohmann::json ManifestParams(const TimelineBenchConfig& config) {
  return {{"format", kManifestFormat},
          {"dataset_mib", config.dataset_mib},
          {"rel_blocks", config.rel_blocks},
          {"max_depth", *std::max_element(config.depths.begin(), config.depths.end())},
          {"delta_fraction", config.delta_fraction},
          {"delta_image_share", config.delta_image_share},
          {"record_bytes", config.record_bytes},
          {"compression", config.compression},
          {"seed", config.seed}};
}

Status WriteManifest(const TimelineBenchConfig& config, const Dataset& ds) {
  nlohmann::json m = {{"params", ManifestParams(config)},
                      {"tenant", ds.tenant.ToHex()},
                      {"timeline", ds.timeline.ToHex()},
                      {"round_lsns", nlohmann::json::array()}};
  for (Lsn lsn : ds.round_lsns) m["round_lsns"].push_back(lsn.value);
  std::ofstream out(ds.data_dir + "/manifest.json");
  out << m.dump(2) << "\n";
  return out.good() ? Status::Ok() : Status::IoError("writing " + ds.data_dir + "/manifest.json");
}

// Fills `ds` from a kept dataset's manifest when its parameters match.
bool ReadManifest(const TimelineBenchConfig& config, Dataset& ds) {
  std::ifstream in(ds.data_dir + "/manifest.json");
  if (!in) return false;
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.contains("params") || m["params"] != ManifestParams(config)) {
    return false;
  }
  auto tenant = layers::TenantId::ParseHex(m.value("tenant", ""));
  auto id = layers::TimelineId::ParseHex(m.value("timeline", ""));
  if (!tenant.has_value() || !id.has_value() || !m["round_lsns"].is_array()) return false;
  ds.tenant = *tenant;
  ds.timeline = *id;
  ds.round_lsns.clear();
  for (const auto& v : m["round_lsns"]) ds.round_lsns.push_back(Lsn{v.get<uint64_t>()});
  return true;
}

// ---- layer files ----

Result<LayerFile> InspectLayerFile(const std::string& path) {
  std::vector<std::byte> block(layers::kLayerBlockSize);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  const ssize_t n = ::pread(fd, block.data(), block.size(), 0);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Status::FromErrno(err, "pread " + path);
  block.resize(static_cast<size_t>(n));
  ASSIGN_OR_RETURN(layers::LayerSummary summary, layers::DecodeSummary(block, path));
  return LayerFile{path, summary};
}

Result<std::vector<LayerFile>> InspectLayerFiles(const std::string& dir) {
  std::vector<LayerFile> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !layers::LayerName::Parse(name).has_value()) continue;
    ASSIGN_OR_RETURN(LayerFile file, InspectLayerFile(entry.path().string()));
    files.push_back(std::move(file));
  }
  if (ec) return Status::FromErrno(ec.value(), "listing " + dir);
  std::sort(files.begin(), files.end(),
            [](const LayerFile& a, const LayerFile& b) { return a.path < b.path; });
  return files;
}

Status CheckConfig(const TimelineBenchConfig& config) {
  if (config.depths.empty()) return Status::InvalidArgument("--depths is empty");
  if (config.rel_blocks == 0 || config.rel_blocks % kBatchKeys != 0) {
    return Status::InvalidArgument("--rel-blocks must be a positive multiple of 32");
  }
  if (config.dataset_mib == 0) return Status::InvalidArgument("--dataset-mib must be > 0");
  if (config.record_bytes == 0 || config.record_bytes > kPage - kStampBytes) {
    return Status::InvalidArgument("--record-bytes must be in [1, 8176]");
  }
  return Status::Ok();
}

}  // namespace

Key PageKey(uint64_t page, uint32_t rel_blocks) {
  const auto rel = static_cast<uint32_t>(page / rel_blocks);
  return Key::RelBlock(layers::RelTag{1663, 5, 16384 + rel, 0},
                       static_cast<uint32_t>(page % rel_blocks));
}

std::vector<std::byte> StampedPage(uint64_t page, uint64_t variant) {
  std::vector<std::byte> bytes = SamplePages()[variant % kSamplePages];
  std::memcpy(bytes.data(), &page, sizeof(page));
  std::memcpy(bytes.data() + sizeof(page), kStampMagic, sizeof(kStampMagic));
  return bytes;
}

bool PageMatches(std::span<const std::byte> value, uint64_t page) {
  return value.size() == kPage && std::memcmp(value.data(), &page, sizeof(page)) == 0 &&
         std::memcmp(value.data() + sizeof(page), kStampMagic, sizeof(kStampMagic)) == 0;
}

uint64_t Dataset::IndexBlocks() const {
  uint64_t blocks = 0;
  for (const LayerFile& f : layers) blocks += f.summary.index_node_count + 1;
  return blocks;
}

std::vector<std::string> Dataset::ReadLayerPaths() const {
  std::vector<std::string> paths;
  const Lsn image = round_lsns.front();
  for (const LayerFile& f : layers) {
    const bool bottom_image =
        f.summary.kind == layers::LayerKind::kImage && f.summary.lsn_range.start == image;
    const bool above = f.summary.kind == layers::LayerKind::kDelta &&
                       f.summary.lsn_range.end.value > image.value + 1;
    if (bottom_image || above) paths.push_back(f.path);
  }
  return paths;
}

const LayerFile* Dataset::BottomImage() const {
  for (const LayerFile& f : layers) {
    if (f.summary.kind == layers::LayerKind::kImage &&
        f.summary.lsn_range.start == round_lsns.front()) {
      return &f;
    }
  }
  return nullptr;
}

Status CheckDepths(const timeline::LayerMap& map, const Dataset& ds) {
  for (size_t d = 0; d < ds.round_lsns.size(); ++d) {
    const size_t depth =
        map.CountDeltasAbove(layers::KeyRange::All(), Lsn{ds.round_lsns[d].value + 1});
    if (depth != d) {
      return Status::Internal("dataset depth at " + ds.round_lsns[d].ToString() + " is " +
                              std::to_string(depth) + ", expected " + std::to_string(d));
    }
  }
  return Status::Ok();
}

Result<Dataset> PrepareDataset(const TimelineBenchConfig& config) {
  RETURN_IF_ERROR(CheckConfig(config));
  Dataset ds;
  ds.pages = config.dataset_mib * (uint64_t{1} << 20) / kPage;
  ds.rel_blocks = config.rel_blocks;
  ds.remove_at_exit = !config.keep;
  ds.data_dir =
      config.dir + (config.keep ? "/read-dataset" : "/read-dataset." + std::to_string(::getpid()));
  ds.reused = config.keep && ReadManifest(config, ds);
  if (ds.reused) {
    std::fprintf(stderr, "timeline_bench: reusing the kept dataset in %s\n", ds.data_dir.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(ds.data_dir, ignored);
    std::filesystem::create_directories(ds.data_dir, ignored);
    ds.tenant = layers::TenantId::Generate();
    ds.timeline = layers::TimelineId::Generate();
    std::fprintf(stderr, "timeline_bench: building %llu pages in %s\n",
                 static_cast<unsigned long long>(ds.pages), ds.data_dir.c_str());
    const uint64_t start = NowNanos();
    RETURN_IF_ERROR(BuildTimeline(config, ds));
    ds.build_seconds = static_cast<double>(NowNanos() - start) * 1e-9;
    if (config.keep) RETURN_IF_ERROR(WriteManifest(config, ds));
  }
  ds.timeline_dir = timeline::TimelineDir(ds.data_dir, ds.tenant, ds.timeline);
  ASSIGN_OR_RETURN(ds.layers, InspectLayerFiles(ds.timeline_dir));
  if (ds.BottomImage() == nullptr) return Status::Internal("the dataset has no bottom image");
  return ds;
}

void CleanUp(const Dataset& dataset) {
  if (!dataset.remove_at_exit || dataset.data_dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dataset.data_dir, ignored);
}

}  // namespace pageserver::bench
