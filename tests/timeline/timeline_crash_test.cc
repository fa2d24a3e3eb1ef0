// Crash tests (issue 5): a forked child ingests a seeded stream into a
// timeline with background threads on and runs every background step
// itself too; it is SIGKILLed by the parent after a random delay or by an
// armed failpoint (common/failpoint.h) in the middle of a layer write, a
// rename, a metadata replace, a flush, a compaction, an image creation or a
// GC. The parent then reloads the timeline and checks the durability
// contract (timeline.h): it loads unbroken, no temporary or ephemeral file
// is left, every layer of the map has its file and every file is in the map,
// last_record_lsn == disk_consistent_lsn, and every key reads as the model
// says at LSNs in [gc cutoff, disk_consistent_lsn]. It then resends the
// stream from disk_consistent_lsn, checkpoints, reloads and checks again.
//
// Seeds: one per test, printed to stderr; replay with PS_TEST_SEED=<seed>.
//
// Fork rules: the parent holds no engine, cache or timeline (so no IO
// worker threads) while a child runs; the child does its work on a fresh
// thread, because the parent's main thread keeps recycled IO buffers in a
// thread_local pool whose pages are MADV_DONTFORK (io_buffer.h) and thus
// unmapped in the child.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/failpoint.h"
#include "io_engine/io_engine.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/timeline/timeline_test_util.h"
#include "timeline/timeline.h"

namespace pageserver::timeline {
namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using pageserver::testing::IoParam;
using test_util::Bytes;
using test_util::Model;

// ------------------------------------------------------------ the stream

constexpr uint32_t kKeys = 300;
constexpr Lsn kStartLsn{0x1000};

// Bytes derived from `seed` (splitmix64), for the payload of a record.
Bytes SmallBytes(uint64_t seed, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    out[i] = static_cast<std::byte>(x ^ (x >> 31));
  }
  return out;
}

// One record of the stream. The payload is kept as a seed, so skipping the
// stream up to a resume point costs no page generation.
struct Record {
  Key key;
  ValueKind kind = ValueKind::kImage;
  size_t offset = 0;
  size_t length = 0;
  uint64_t content = 0;

  Value ToValue() const {
    switch (kind) {
      case ValueKind::kImage:
        return test_util::ImageValue(test_util::Page(content));
      case ValueKind::kWrite:
        return test_util::WriteValue(offset, SmallBytes(content, length));
      case ValueKind::kInit:
        return test_util::InitValue(offset, SmallBytes(content, length));
    }
    return test_util::ImageValue(test_util::Page(content));
  }
};

// The records of one LSN (FinishLsn follows them).
struct Step {
  Lsn lsn;
  std::vector<Record> records;
};

// The deterministic WAL stand-in: images, writes and inits over kKeys
// blocks, 1-3 records per LSN, LSNs increasing by a record-sized gap. Each
// key starts with an image or an init, so every read has a base.
class IngestStream {
 public:
  explicit IngestStream(uint64_t seed) : rng_(seed), lsn_(kStartLsn.value), has_base_(kKeys) {}

  Step Next() {
    Step step;
    lsn_ += 8 + rng_() % 120;
    step.lsn = Lsn{lsn_};
    const size_t n = 1 + rng_() % 3;
    std::set<uint32_t> used;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t blk = static_cast<uint32_t>(rng_() % kKeys);
      const uint64_t r = rng_() % 100;
      Record record;
      record.key = test_util::RelKey(blk);
      if (!has_base_[blk]) {
        record.kind = r < 60 ? ValueKind::kImage : ValueKind::kInit;
      } else {
        record.kind = r < 10 ? ValueKind::kImage : r < 20 ? ValueKind::kInit : ValueKind::kWrite;
      }
      record.length = 1 + rng_() % 48;
      record.offset = rng_() % (kPageSize - record.length + 1);
      record.content = rng_();
      if (!used.insert(blk).second) continue;  // one record per key and LSN
      has_base_[blk] = true;
      step.records.push_back(record);
    }
    return step;
  }

  // The first step above `lsn`.
  Step NextAbove(Lsn lsn) {
    Step step = Next();
    while (step.lsn <= lsn) step = Next();
    return step;
  }

 private:
  std::mt19937_64 rng_;
  uint64_t lsn_;
  std::vector<bool> has_base_;
};

// The model of the stream, extended on demand.
class StreamModel {
 public:
  explicit StreamModel(uint64_t seed) : stream_(seed) {}

  const Model& UpTo(Lsn lsn) {
    while (true) {
      if (!pending_) pending_ = stream_.Next();
      if (pending_->lsn > lsn) return model_;
      for (const Record& r : pending_->records) model_.Put(r.key, pending_->lsn, r.ToValue());
      pending_.reset();
    }
  }

 private:
  IngestStream stream_;
  std::optional<Step> pending_;
  Model model_;
};

// ------------------------------------------------------------ processes

// Small layers and low thresholds, so flush, compaction (into several L1s),
// image creation and GC all run every few hundred records.
TimelineConfig CrashConfig(bool background_threads) {
  TimelineConfig config;
  config.background_threads = background_threads;
  config.checkpoint_distance = 64 * 1024;
  config.compaction_threshold = 3;
  config.compaction_target_size = 64 * 1024;
  config.image_creation_threshold = 2;
  config.gc_horizon = 16 * 1024;  // ~250 LSNs of the stream
  config.compaction_period = std::chrono::milliseconds(50);
  config.ephemeral_buffer_bytes = 64 * 1024;
  config.writer.write_buffer_bytes = 64 * 1024;
  return config;
}

// What one process needs to run a timeline. Declared so that the timeline
// (if a caller keeps one beside it) goes before the cache and the engine.
struct Resources {
  std::unique_ptr<io_engine::IoEngine> engine;
  virtual_file::IoContext ctx;
  std::unique_ptr<page_cache::PageCache> cache;

  TimelineResources get() { return TimelineResources{&ctx, cache.get(), nullptr}; }
};

Result<std::unique_ptr<Resources>> MakeResources(const IoParam& param) {
  auto res = std::make_unique<Resources>();
  ASSIGN_OR_RETURN(res->engine, pageserver::testing::CreateTestEngine(param.engine));
  res->ctx.engine = res->engine.get();
  res->ctx.mode = param.mode;
  ASSIGN_OR_RETURN(res->cache, page_cache::PageCache::Create({.pages = 512}));
  return res;
}

struct TimelineLocation {
  std::string data_dir;
  layers::TenantId tenant;
  layers::TimelineId id;
};

// Child exit codes (a child that crashed as planned has none: SIGKILL).
constexpr int kChildRanAllSteps = 0;
constexpr int kChildFailed = 3;

struct ChildPlan {
  std::string failpoints;  // PS_FAILPOINTS syntax; "" when the parent kills
  uint64_t max_steps = 0;  // then exit normally
  int ready_fd = -1;       // gets one byte when the timeline is loaded, then closed
};

#define CHILD_CHECK(expr)                                                                     \
  do {                                                                                        \
    const Status child_status_ = (expr);                                                      \
    if (!child_status_.ok()) {                                                                \
      std::fprintf(stderr, "crash child: %s: %s\n", #expr, child_status_.ToString().c_str()); \
      return kChildFailed;                                                                    \
    }                                                                                         \
  } while (false)

// The child's work: resume the stream at disk_consistent_lsn and ingest with
// background threads on, also running every background step at intervals.
int ChildIngest(const IoParam& param, const TimelineLocation& where, uint64_t seed,
                const ChildPlan& plan) {
  spdlog::set_level(spdlog::level::warn);
  CHILD_CHECK(common::SetFailPointsForTest(plan.failpoints));
  Result<std::unique_ptr<Resources>> res = MakeResources(param);
  CHILD_CHECK(res.status());
  Result<std::shared_ptr<Timeline>> loaded = Timeline::Load(
      (*res)->get(), where.data_dir, where.tenant, where.id, nullptr, CrashConfig(true));
  CHILD_CHECK(loaded.status());
  Timeline& tl = **loaded;
  IngestStream stream(seed);
  Step step = stream.NextAbove(tl.last_record_lsn());
  if (::write(plan.ready_fd, "r", 1) != 1) return kChildFailed;
  ::close(plan.ready_fd);
  for (uint64_t i = 1; i <= plan.max_steps; ++i, step = stream.Next()) {
    for (const Record& r : step.records) CHILD_CHECK(tl.Put(r.key, step.lsn, r.ToValue()));
    CHILD_CHECK(tl.FinishLsn(step.lsn));
    if (i % 97 == 0) CHILD_CHECK(tl.Checkpoint());
    if (i % 61 == 0) CHILD_CHECK(tl.Compact().status());
    if (i % 83 == 0) CHILD_CHECK(tl.CreateImages().status());
    if (i % 131 == 0) CHILD_CHECK(tl.Gc().status());
  }
  return kChildRanAllSteps;
}

#undef CHILD_CHECK

[[noreturn]] void ChildMain(const IoParam& param, const TimelineLocation& where, uint64_t seed,
                            const ChildPlan& plan) {
  int code = kChildFailed;
  // A fresh thread: see the file comment on recycled IO buffers.
  std::thread worker([&] { code = ChildIngest(param, where, seed, plan); });
  worker.join();
  std::fflush(stderr);
  ::_exit(code);
}

bool KilledBySigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

std::string DescribeWaitStatus(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "wait status " + std::to_string(status);
}

// ------------------------------------------------------------ the fixture

class TimelineCrashTest : public ::testing::TestWithParam<IoParam> {
 protected:
  void SetUp() override {
    if (GetParam().engine == io_engine::IoEngineKind::kIoUring) {
      const Status probe = io_engine::ProbeIoUring();
      if (!probe.ok()) GTEST_SKIP() << "io_uring unusable: " << probe.ToString();
    }
    ASSERT_OK(common::SetFailPointsForTest(""));
    seed_ = pageserver::testing::TestSeed();  // printed to stderr
    seed_trace_.emplace(__FILE__, __LINE__, "PS_TEST_SEED=" + std::to_string(seed_));
    rng_.seed(seed_);
    where_ = {dir_.path() + "/data", layers::TenantId::Generate(), layers::TimelineId::Generate()};
    model_ = std::make_unique<StreamModel>(seed_);
    ASSERT_OK_AND_ASSIGN(auto res, MakeResources(GetParam()));
    ASSERT_OK(Timeline::CreateEmpty(res->get(), where_.data_dir, where_.tenant, where_.id,
                                    kStartLsn, 16, CrashConfig(false)));
  }

  // Forks a child that runs `plan`. With `kill_after`, SIGKILLs it that long
  // after it loaded the timeline (so the kill lands in the ingest, not in
  // the startup); else waits for it to die (a failpoint) or end. Returns the
  // wait status. The parent holds no IO resources meanwhile.
  int RunChild(ChildPlan plan, std::optional<std::chrono::milliseconds> kill_after) {
    int ready[2];
    if (::pipe(ready) != 0) {
      ADD_FAILURE() << "pipe failed";
      return -1;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(ready[0]);
      plan.ready_fd = ready[1];
      ChildMain(GetParam(), where_, seed_, plan);
    }
    ::close(ready[1]);
    EXPECT_GT(pid, 0) << "fork failed";
    if (pid < 0) return -1;
    // The ready byte, or end of file when the child died before it.
    pollfd readable{ready[0], POLLIN, 0};
    EXPECT_EQ(::poll(&readable, 1, 30000), 1) << "the child did not load the timeline in 30 s";
    ::close(ready[0]);
    // A hung child must not hang the test.
    const auto deadline =
        std::chrono::steady_clock::now() + kill_after.value_or(std::chrono::milliseconds(30000));
    int status = 0;
    while (true) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) return status;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_TRUE(kill_after.has_value()) << "the child ran for 30 s without dying";
    ::kill(pid, SIGKILL);
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    return status;
  }

  // Reloads the timeline (background threads off) and checks everything the
  // file comment lists; records disk_consistent_lsn and the GC cutoff.
  void CheckReloaded(const std::string& when) {
    SCOPED_TRACE(when);
    ASSERT_OK_AND_ASSIGN(auto res, MakeResources(GetParam()));
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Timeline> tl,
                         Timeline::Load(res->get(), where_.data_dir, where_.tenant, where_.id,
                                        nullptr, CrashConfig(false)));
    ASSERT_FALSE(tl->broken()) << *tl->broken_reason();
    CheckDirectory(*tl);
    const Lsn durable = tl->disk_consistent_lsn();
    EXPECT_EQ(tl->last_record_lsn(), durable);
    EXPECT_GE(durable, durable_) << "disk_consistent_lsn went back";
    EXPECT_GE(tl->gc_cutoff(), cutoff_) << "the GC cutoff went back";
    EXPECT_LE(tl->gc_cutoff(), durable);
    durable_ = durable;
    cutoff_ = tl->gc_cutoff();
    CheckReads(*tl);
  }

  // No temporary or ephemeral file; every layer of the map is a file of
  // its size, and every file is the metadata or a layer of the map.
  static void CheckDirectory(const Timeline& tl) {
    std::set<std::string> in_map;
    for (const LayerHandlePtr& layer : tl.layer_map()->AllLayers()) {
      const std::string name = layer->desc.name.ToString();
      in_map.insert(name);
      std::error_code ec;
      const uintmax_t size = std::filesystem::file_size(tl.dir() + "/" + name, ec);
      EXPECT_FALSE(ec) << "the map references a missing file " << name;
      if (!ec) {
        EXPECT_EQ(size, layer->desc.file_size) << name;
      }
    }
    for (const auto& entry : std::filesystem::directory_iterator(tl.dir())) {
      const std::string name = entry.path().filename().string();
      EXPECT_FALSE(name.ends_with(".___temp")) << "temporary file left: " << name;
      EXPECT_FALSE(IsEphemeralFileName(name)) << "ephemeral file left: " << name;
      if (name != "metadata") {
        EXPECT_TRUE(in_map.count(name)) << "file not in the map: " << name;
      }
    }
  }

  // Every key at disk_consistent_lsn, at the GC cutoff and at a random LSN
  // between, against the model: the same bytes, NotFound exactly where the
  // model has no value.
  void CheckReads(const Timeline& tl) {
    const Lsn durable = tl.disk_consistent_lsn();
    const Lsn lowest = std::max(tl.gc_cutoff(), kStartLsn);
    const Model& model = model_->UpTo(durable);
    const std::vector<Lsn> lsns = {durable, lowest,
                                   Lsn{lowest.value + rng_() % (durable.value - lowest.value + 1)}};
    std::vector<Key> keys;
    for (uint32_t blk = 0; blk < kKeys; ++blk) keys.push_back(test_util::RelKey(blk));
    int failures = 0;
    for (const Lsn lsn : lsns) {
      for (size_t i = 0; i < keys.size(); i += tl.config().max_get_vectored_keys) {
        const std::span<const Key> chunk(
            keys.data() + i, std::min(tl.config().max_get_vectored_keys, keys.size() - i));
        const auto got = tl.GetVectored(chunk, lsn);
        for (size_t j = 0; j < chunk.size() && failures < 10; ++j) {
          const std::optional<Bytes> want = model.Get(chunk[j], lsn);
          const std::string what = chunk[j].Describe() + " at " + lsn.ToString() +
                                   " (disk_consistent_lsn " + durable.ToString() + ")";
          if (!want.has_value()) {
            if (got[j].has_value() || !got[j].error().IsNotFound()) {
              ++failures;
              ADD_FAILURE() << what << ": expected NotFound, got "
                            << (got[j].has_value() ? "a value" : got[j].error().ToString());
            }
          } else if (!got[j].has_value()) {
            ++failures;
            ADD_FAILURE() << what << ": " << got[j].error().ToString();
          } else if (*got[j] != *want) {
            ++failures;
            ADD_FAILURE() << what << ": wrong bytes";
          }
        }
      }
    }
  }

  // The ingest source resends from disk_consistent_lsn: `steps` LSNs of the
  // stream, a checkpoint, then every background step by hand.
  void ResumeIngest(size_t steps) {
    ASSERT_OK_AND_ASSIGN(auto res, MakeResources(GetParam()));
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Timeline> tl,
                         Timeline::Load(res->get(), where_.data_dir, where_.tenant, where_.id,
                                        nullptr, CrashConfig(false)));
    IngestStream stream(seed_);
    Step step = stream.NextAbove(tl->disk_consistent_lsn());
    for (size_t i = 1; i <= steps; ++i, step = stream.Next()) {
      for (const Record& r : step.records) ASSERT_OK(tl->Put(r.key, step.lsn, r.ToValue()));
      ASSERT_OK(tl->FinishLsn(step.lsn));
    }
    const Lsn last = tl->last_record_lsn();
    ASSERT_OK(tl->Checkpoint());
    EXPECT_EQ(tl->disk_consistent_lsn(), last);
    ASSERT_OK(tl->Compact());
    ASSERT_OK(tl->CreateImages());
    ASSERT_OK(tl->Gc());
  }

  // After a crash: reload and check, resend and checkpoint, reload and check.
  void RecoverAndCheck(const std::string& after, size_t resume_steps) {
    ASSERT_NO_FATAL_FAILURE(CheckReloaded("reload after " + after));
    ASSERT_NO_FATAL_FAILURE(ResumeIngest(resume_steps));
    ASSERT_NO_FATAL_FAILURE(CheckReloaded("reload after resuming from " + after));
  }

  // Runs children with `failpoint` armed at a random hit in [1, max_hit],
  // `rounds` times (each on what the previous recovery left); each child
  // must die at the failpoint.
  void CrashAt(const std::string& failpoint, uint64_t max_hit, int rounds = 2) {
    for (int round = 0; round < rounds; ++round) {
      const uint64_t hit = 1 + rng_() % max_hit;
      const std::string spec = failpoint + "=kill@" + std::to_string(hit);
      SCOPED_TRACE(spec);
      const int status = RunChild({spec, kMaxChildSteps}, std::nullopt);
      ASSERT_TRUE(KilledBySigkill(status))
          << "the child did not die at the failpoint: it " << DescribeWaitStatus(status);
      ASSERT_NO_FATAL_FAILURE(RecoverAndCheck(spec, 40));
    }
  }

  // Enough for every failpoint to fire at its max_hit.
  static constexpr uint64_t kMaxChildSteps = 20000;

  pageserver::testing::TempDir dir_;
  uint64_t seed_ = 0;
  std::optional<::testing::ScopedTrace> seed_trace_;
  std::mt19937_64 rng_;
  TimelineLocation where_;
  std::unique_ptr<StreamModel> model_;
  Lsn durable_ = kStartLsn;
  Lsn cutoff_ = kStartLsn;
};

TEST_P(TimelineCrashTest, KillMidLayerWrite) { CrashAt("layer-append-blob", 1500); }
TEST_P(TimelineCrashTest, KillBeforeLayerRename) { CrashAt("layer-before-rename", 6); }
TEST_P(TimelineCrashTest, KillAfterLayerRenameBeforeDirectorySync) {
  CrashAt("layer-after-rename", 6);
}
TEST_P(TimelineCrashTest, KillBeforeMetadataRename) { CrashAt("replace-before-rename", 6); }
TEST_P(TimelineCrashTest, KillAfterFlushBeforeMetadataUpdate) {
  CrashAt("flush-before-metadata", 4);
}
TEST_P(TimelineCrashTest, KillAfterCompactionWroteOutputs) {
  CrashAt("compaction-before-publish", 3);
}
TEST_P(TimelineCrashTest, KillAfterCompactionPublished) { CrashAt("compaction-after-publish", 3); }
TEST_P(TimelineCrashTest, KillAfterImageWrittenBeforePublish) {
  CrashAt("image-before-publish", 3);
}
TEST_P(TimelineCrashTest, KillAfterGcCutoffBeforeRemoval) { CrashAt("gc-before-remove", 3); }

// A flush publishes its L0 in the map before the metadata vouches for it;
// the flusher is held in that window (pause) while the compactor runs on,
// then the process is killed. Whatever the compactor did meanwhile must not
// lose records the metadata vouches for.
TEST_P(TimelineCrashTest, KillWhileAFlushAwaitsItsMetadataUpdate) {
  for (int round = 0; round < 2; ++round) {
    // Round 0 holds the 3rd flush of a fresh timeline: with compaction
    // threshold 3 the compactor then sees two vouched L0s and this one.
    const uint64_t hit = round == 0 ? 3 : 3 + rng_() % 3;
    const std::string spec = "flush-before-metadata=pause@" + std::to_string(hit);
    SCOPED_TRACE(spec);
    const int status = RunChild({spec, kMaxChildSteps}, std::chrono::milliseconds(700));
    ASSERT_TRUE(KilledBySigkill(status)) << "the child " << DescribeWaitStatus(status);
    ASSERT_NO_FATAL_FAILURE(RecoverAndCheck(spec, 40));
  }
}

TEST_P(TimelineCrashTest, RandomKillsRecoverEveryTime) {
  constexpr int kKills = 10;
  int killed = 0;
  for (int i = 0; i < kKills; ++i) {
    const auto delay = std::chrono::milliseconds(20 + rng_() % 200);
    const std::string what =
        "kill " + std::to_string(i) + " after " + std::to_string(delay.count()) + " ms";
    SCOPED_TRACE(what);
    const int status = RunChild({"", kMaxChildSteps}, delay);
    if (KilledBySigkill(status)) {
      ++killed;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kChildRanAllSteps)
          << "the child " << DescribeWaitStatus(status);
    }
    ASSERT_NO_FATAL_FAILURE(RecoverAndCheck(what, 30));
  }
  EXPECT_GT(killed, kKills / 2) << "most children should die mid-work";
  EXPECT_GT(durable_, kStartLsn) << "the children made no durable progress";
}

INSTANTIATE_TEST_SUITE_P(
    Engines, TimelineCrashTest,
    ::testing::Values(IoParam{io_engine::IoEngineKind::kStdFs, virtual_file::IoMode::kBuffered},
                      IoParam{io_engine::IoEngineKind::kIoUring, virtual_file::IoMode::kDirectRw}),
    pageserver::testing::IoParamName);

}  // namespace
}  // namespace pageserver::timeline
