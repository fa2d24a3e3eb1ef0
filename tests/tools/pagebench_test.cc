// pagebench: the latency histogram against a sorted-vector oracle, the key
// generator, response checking, option and file parsing, and a short run of
// the real binary against the real pageserver.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "client/ingest_client.h"
#include "client/management_client.h"
#include "tests/server/daemon_harness.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "timeline/pg_mapping.h"
#include "timeline/value.h"
#include "tools/pagebench/discovery.h"
#include "tools/pagebench/histogram.h"
#include "tools/pagebench/report.h"
#include "tools/pagebench/response_check.h"
#include "tools/pagebench/runner.h"
#include "tools/pagebench/workload.h"

extern char** environ;

namespace pageserver::pagebench {
namespace {

using layers::Lsn;
using layers::RelTag;
using server::GetPageRequest;
using server::PagestreamResponse;
using server::PagestreamResponseTag;
using testing::AnnounceSeed;
using testing::TestSeed;

// --- LatencyHistogram ---

// The exact nearest-rank percentile of `sorted`.
uint64_t OraclePercentile(const std::vector<uint64_t>& sorted, double q) {
  return sorted[LatencyHistogram::NearestRank(q, sorted.size()) - 1];
}

TEST(LatencyHistogramTest, PercentilesMatchASortedOracleWithinTheStatedError) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20; ++round) {
    // Log-uniform values from 1 ns to ~100 s, plus exact small values.
    std::uniform_real_distribution<double> exponent(0, 11);
    const size_t n = 1 + rng() % 20000;
    std::vector<uint64_t> values;
    LatencyHistogram h;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v =
          rng() % 4 == 0 ? rng() % 300 : static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
      values.push_back(v);
      h.Record(v);
    }
    std::sort(values.begin(), values.end());
    ASSERT_EQ(h.count(), n);
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    long double sum = 0;
    for (uint64_t v : values) sum += static_cast<long double>(v);
    EXPECT_NEAR(h.Mean(), static_cast<double>(sum / n), 1e-9 * h.Mean());
    for (double q : {0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0}) {
      const uint64_t exact = OraclePercentile(values, q);
      const uint64_t got = h.Percentile(q);
      const double bound = static_cast<double>(exact) / 512.0;
      EXPECT_LE(std::abs(static_cast<double>(got) - static_cast<double>(exact)), bound)
          << "q=" << q << " n=" << n << " exact=" << exact << " got=" << got;
    }
  }
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  for (size_t b = 0; b + 1 < LatencyHistogram::kBucketCount; ++b) {
    const uint64_t low = LatencyHistogram::BucketLow(b);
    const uint64_t width = LatencyHistogram::BucketWidth(b);
    ASSERT_EQ(LatencyHistogram::BucketLow(b + 1), low + width) << "bucket " << b;
    ASSERT_EQ(LatencyHistogram::BucketOf(low), b);
    ASSERT_EQ(LatencyHistogram::BucketOf(low + width - 1), b);
    if (width > 1) {
      ASSERT_LE(width * LatencyHistogram::kSubBuckets, low) << "bucket " << b;
    }
  }
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX), LatencyHistogram::kBucketCount - 1);
}

TEST(LatencyHistogramTest, AddEqualsRecordingIntoOneAndEmptyIsZero) {
  LatencyHistogram a, b, both;
  for (uint64_t v : {5, 700, 123456}) {
    a.Record(v);
    both.Record(v);
  }
  for (uint64_t v : {1, 99999999}) {
    b.Record(v);
    both.Record(v);
  }
  a.Add(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), 1u);
  EXPECT_EQ(a.max(), 99999999u);
  for (double q : {0.2, 0.5, 0.8, 1.0}) EXPECT_EQ(a.Percentile(q), both.Percentile(q));
  const LatencyHistogram empty;
  EXPECT_EQ(empty.Percentile(0.99), 0u);
  EXPECT_EQ(empty.Mean(), 0.0);
  EXPECT_EQ(empty.min(), 0u);
}

TEST(LatencyHistogramTest, DocumentedExampleHolds) {
  LatencyHistogram h;
  h.Record(100);
  h.Record(1001);
  EXPECT_EQ(h.Percentile(0.5), 100u);
  EXPECT_EQ(h.Percentile(1.0), 1000u);
  EXPECT_EQ(h.max(), 1001u);
  EXPECT_EQ(LatencyHistogram::NearestRank(0.99, 1000), 990u);
}

// --- Workload ---

constexpr RelTag kRelA{1663, 5, 16384, 0};
constexpr RelTag kRelB{1663, 5, 16384, 1};
constexpr RelTag kRelC{1663, 5, 16390, 0};

BlockSpace SmallSpace() { return BlockSpace({{kRelA, 5}, {kRelB, 0}, {kRelC, 3}}); }

TEST(WorkloadTest, BlockSpaceFlattensRelationsAndDropsEmptyOnes) {
  const BlockSpace space = SmallSpace();
  EXPECT_EQ(space.total_blocks(), 8u);
  ASSERT_EQ(space.relations().size(), 2u);
  EXPECT_EQ(space.At(0), (PageKey{kRelA, 0}));
  EXPECT_EQ(space.At(4), (PageKey{kRelA, 4}));
  EXPECT_EQ(space.At(5), (PageKey{kRelC, 0}));
  EXPECT_EQ(space.At(7), (PageKey{kRelC, 2}));
}

TEST(WorkloadTest, UniformBurstsAreSingleBlocksCoveringEveryBlock) {
  const uint64_t seed = TestSeed();
  const BlockSpace space = SmallSpace();
  KeyGenerator gen(space, 1, seed);
  std::map<std::pair<RelTag, uint32_t>, int> hits;
  for (int i = 0; i < 8000; ++i) {
    const Burst b = gen.Next();
    ASSERT_EQ(b.length, 1u);
    ASSERT_TRUE(b.rel == kRelA ? b.first < 5 : b.rel == kRelC && b.first < 3);
    ++hits[{b.rel, b.first}];
  }
  EXPECT_EQ(hits.size(), 8u);  // every block, and nothing else
  for (const auto& [key, n] : hits) EXPECT_GT(n, 700) << key.first.ToString() << " " << key.second;
}

TEST(WorkloadTest, SequentialRunsAreAdjacentAndStayInsideTheirRelation) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  std::vector<RelationSize> rels;
  for (uint32_t i = 0; i < 20; ++i)
    rels.push_back({RelTag{1663, 5, 20000 + i, 0}, uint32_t(rng() % 40)});
  const BlockSpace space(rels);
  std::map<RelTag, uint32_t> size;
  for (const auto& r : space.relations()) size[r.rel] = r.nblocks;
  std::set<std::pair<RelTag, uint32_t>> covered;
  KeyGenerator gen(space, 8, seed);
  for (int i = 0; i < 20000; ++i) {
    const Burst b = gen.Next();
    ASSERT_TRUE(size.count(b.rel));
    ASSERT_EQ(b.length, std::min<uint32_t>(8, size[b.rel]));
    ASSERT_LE(b.first + b.length, size[b.rel]);
    for (uint32_t k = 0; k < b.length; ++k) {
      EXPECT_EQ(b.At(k), (PageKey{b.rel, b.first + k}));
      covered.insert({b.rel, b.first + k});
    }
  }
  EXPECT_EQ(covered.size(), space.total_blocks());
}

TEST(WorkloadTest, SameSeedSameKeys) {
  const BlockSpace space = SmallSpace();
  KeyGenerator a(space, 2, 42), b(space, 2, 42);
  for (int i = 0; i < 100; ++i) {
    const Burst x = a.Next(), y = b.Next();
    ASSERT_EQ(x.At(0), y.At(0));
  }
}

// --- Response checks ---

GetPageRequest Request() { return GetPageRequest{{7, Lsn::Max(), Lsn{0x1000100}}, kRelC, 2}; }

PagestreamResponse GoodResponse() {
  const GetPageRequest r = Request();
  PagestreamResponse response;
  response.tag = PagestreamResponseTag::kGetPage;
  response.hdr = r.hdr;
  response.rel = r.rel;
  response.blkno = r.blkno;
  response.data.assign(timeline::kPageSize, std::byte{0});
  return response;
}

TEST(ResponseCheckTest, AMatchingPageIsOk) {
  EXPECT_EQ(CheckGetPageResponse(Request(), GoodResponse()), ResponseVerdict::kOk);
}

TEST(ResponseCheckTest, EveryKindOfMismatchIsRejected) {
  struct Case {
    const char* name;
    void (*mutate)(PagestreamResponse&);
    ResponseVerdict verdict;
  };
  const Case cases[] = {
      {"error", [](PagestreamResponse& r) { r.tag = PagestreamResponseTag::kError; },
       ResponseVerdict::kServerError},
      {"nblocks tag", [](PagestreamResponse& r) { r.tag = PagestreamResponseTag::kNblocks; },
       ResponseVerdict::kWrongTag},
      {"exists tag", [](PagestreamResponse& r) { r.tag = PagestreamResponseTag::kExists; },
       ResponseVerdict::kWrongTag},
      {"reqid", [](PagestreamResponse& r) { r.hdr.reqid = 8; }, ResponseVerdict::kReqidMismatch},
      {"request_lsn", [](PagestreamResponse& r) { r.hdr.request_lsn = Lsn{0x1000100}; },
       ResponseVerdict::kLsnMismatch},
      {"not_modified_since", [](PagestreamResponse& r) { r.hdr.not_modified_since = Lsn{1}; },
       ResponseVerdict::kLsnMismatch},
      {"spcnode", [](PagestreamResponse& r) { r.rel.spcnode = 1664; },
       ResponseVerdict::kRelMismatch},
      {"dbnode", [](PagestreamResponse& r) { r.rel.dbnode = 4; }, ResponseVerdict::kRelMismatch},
      {"relnode", [](PagestreamResponse& r) { r.rel.relnode = 16384; },
       ResponseVerdict::kRelMismatch},
      {"fork", [](PagestreamResponse& r) { r.rel.forknum = 2; }, ResponseVerdict::kRelMismatch},
      {"blkno", [](PagestreamResponse& r) { r.blkno = 3; }, ResponseVerdict::kBlknoMismatch},
      {"short page", [](PagestreamResponse& r) { r.data.resize(8191); },
       ResponseVerdict::kPageSize},
      {"long page", [](PagestreamResponse& r) { r.data.resize(8193); }, ResponseVerdict::kPageSize},
      {"no page", [](PagestreamResponse& r) { r.data.clear(); }, ResponseVerdict::kPageSize},
  };
  for (const Case& c : cases) {
    PagestreamResponse response = GoodResponse();
    c.mutate(response);
    EXPECT_EQ(CheckGetPageResponse(Request(), response), c.verdict) << c.name;
  }
}

TEST(ResponseCheckTest, VerdictCountsSeparateOkFromErrors) {
  VerdictCounts counts;
  counts.Add(ResponseVerdict::kOk, 5);
  counts.Add(ResponseVerdict::kBlknoMismatch);
  counts.Add(ResponseVerdict::kConnectionLost, 3);
  EXPECT_EQ(counts.ok(), 5u);
  EXPECT_EQ(counts.errors(), 4u);
  EXPECT_EQ(VerdictName(ResponseVerdict::kConnectionLost), "connection_lost");
}

// --- Options and files ---

TEST(DiscoveryTest, RelationsFileParsesForksSizesAndComments) {
  ASSERT_OK_AND_ASSIGN(auto rels, ParseRelationsFile("# comment\n\n1663/5/16384 64\n"
                                                     "  1663/5/16384_vm\n1663/5/16390_fsm 3\n"));
  ASSERT_EQ(rels.size(), 3u);
  EXPECT_EQ(rels[0], (RelationSize{kRelA, 64}));
  EXPECT_EQ(rels[1], (RelationSize{RelTag{1663, 5, 16384, 2}, kUnknownSize}));
  EXPECT_EQ(rels[2], (RelationSize{RelTag{1663, 5, 16390, 1}, 3}));
}

TEST(DiscoveryTest, MalformedRelationsFileLinesAreRejectedWithTheirLineNumber) {
  for (const char* text : {"1663/5\n", "1663/5/16384 -1\n", "1663/5/16384 12x\n", "ok/5/1 1\n",
                           "1663/5/16384 1 2\n"}) {
    auto rels = ParseRelationsFile(std::string("1663/5/1 1\n") + text);
    ASSERT_FALSE(rels.has_value()) << text;
    EXPECT_NE(rels.error().ToString().find("line 2"), std::string::npos) << rels.error().ToString();
  }
}

TEST(DiscoveryTest, TimelineRefNeedsTenantSlashTimelineHex) {
  ASSERT_OK_AND_ASSIGN(auto ref, ParseTimelineRef("0123456789abcdef0123456789abcdef/"
                                                  "fedcba9876543210fedcba9876543210"));
  EXPECT_EQ(ref.timeline.ToHex(), "fedcba9876543210fedcba9876543210");
  EXPECT_FALSE(ParseTimelineRef("0123456789abcdef0123456789abcdef").has_value());
  EXPECT_FALSE(ParseTimelineRef("xyz/fedcba9876543210fedcba9876543210").has_value());
}

TEST(RunnerTest, ConfigsThatCannotRunAreRejected) {
  std::vector<Target> targets;
  targets.push_back(Target{{}, {}, Lsn::Max(), Lsn{1}, SmallSpace()});
  LoadConfig ok;
  ok.queue_depth = 8;
  ok.run_length = 8;
  EXPECT_OK(ValidateLoadConfig(ok, targets));
  LoadConfig run_too_long = ok;
  run_too_long.run_length = 9;
  EXPECT_FALSE(ValidateLoadConfig(run_too_long, targets).ok());
  LoadConfig no_clients = ok;
  no_clients.clients_per_target = 0;
  EXPECT_FALSE(ValidateLoadConfig(no_clients, targets).ok());
  EXPECT_FALSE(ValidateLoadConfig(ok, {}).ok());
  std::vector<Target> empty;
  empty.push_back(Target{{}, {}, Lsn::Max(), Lsn{1}, BlockSpace({{kRelA, 0}})});
  EXPECT_FALSE(ValidateLoadConfig(ok, empty).ok());
}

TEST(ReportTest, JsonCountsOnlyCheckedResponsesAsThroughput) {
  LoadResult result;
  result.latency_ns.Record(1000);
  result.latency_ns.Record(3000);
  result.verdicts.Add(ResponseVerdict::kOk, 2);
  result.verdicts.Add(ResponseVerdict::kRelMismatch, 2);
  result.elapsed_seconds = 2;
  std::vector<Target> targets;
  targets.push_back(Target{{}, {}, Lsn::Max(), Lsn{1}, SmallSpace()});
  const nlohmann::json j = ResultJson({{"seed", 1}}, targets, result);
  EXPECT_EQ(j["requests"], 4);
  EXPECT_EQ(j["ok"], 2);
  EXPECT_EQ(j["errors"], 2);
  EXPECT_EQ(j["errors_by_kind"]["rel_mismatch"], 2);
  EXPECT_DOUBLE_EQ(j["requests_per_second"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["latency_us"]["p50"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["latency_us"]["max"].get<double>(), 3.0);
  EXPECT_EQ(j["targets"][0]["blocks"], 8);
  EXPECT_EQ(j["config"]["seed"], 1);
  EXPECT_NE(ResultText({}, targets, result).find("rel_mismatch: 2"), std::string::npos);
}

// --- The real binary against the real pageserver ---

constexpr char kTenant[] = "0123456789abcdef0123456789abcdef";
constexpr char kTimeline[] = "fedcba9876543210fedcba9876543210";
constexpr Lsn kStart{0x1000000};
constexpr Lsn kCommit{0x1000100};
// Two relations in database 5: kRelA 40 blocks with a 3-block fsm (kRelB), kRelC 24 blocks.
const std::vector<RelationSize> kData = {{kRelA, 40}, {kRelB, 3}, {kRelC, 24}};
constexpr uint64_t kDataBlocks = 67;

std::vector<std::byte> PageBytes(const RelTag& rel, uint32_t blk) {
  std::vector<std::byte> page(timeline::kPageSize);
  for (size_t i = 0; i < page.size(); ++i) {
    page[i] = static_cast<std::byte>((rel.relnode + rel.forknum * 7 + blk * 31 + i) & 0xFF);
  }
  return page;
}

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PagebenchSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DaemonOptions options;
    options.data_dir = dir_.path() + "/data";
    options.work_dir = dir_.path();
    options.extra_config = "connection_threads = 4\n";
    ASSERT_OK_AND_ASSIGN(daemon_, testing::Daemon::Start(options));
    ASSERT_OK_AND_ASSIGN(auto http, client::ManagementClient::Create(daemon_->HttpUrl()));
    ASSERT_OK_AND_ASSIGN(tenant_, layers::TenantId::ParseHex(kTenant));
    ASSERT_OK_AND_ASSIGN(timeline_, layers::TimelineId::ParseHex(kTimeline));
    ASSERT_OK_AND_ASSIGN(const auto created, http->CreateTenant(tenant_));
    ASSERT_EQ(created, tenant_);
    client::TimelineCreateRequest create;
    create.new_timeline_id = timeline_;
    create.start_lsn = kStart;
    ASSERT_OK_AND_ASSIGN(const auto detail, http->CreateTimeline(tenant_, create));
    ASSERT_EQ(detail["timeline_id"], kTimeline);
    Ingest();
  }
  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) std::cerr << "pageserver log:\n" << daemon_->Log();
  }

  void Ingest() {
    ASSERT_OK_AND_ASSIGN(auto ingest,
                         client::IngestClient::Connect(daemon_->TcpConninfo(), tenant_, timeline_));
    std::vector<timeline::RelDirEntry> dir;
    for (const RelationSize& r : kData) {
      for (uint32_t blk = 0; blk < r.nblocks; ++blk) {
        ASSERT_OK(ingest->Put(kCommit, layers::Key::RelBlock(r.rel, blk),
                              *timeline::Value::Image(PageBytes(r.rel, blk))));
      }
      ASSERT_OK(ingest->Put(kCommit, layers::Key::RelSize(r.rel),
                            *timeline::Value::Image(timeline::EncodeRelSize(r.nblocks))));
      dir.push_back({r.rel.relnode, r.rel.forknum});
    }
    ASSERT_OK(ingest->Put(kCommit, layers::Key::RelDir(1663, 5),
                          *timeline::Value::Image(*timeline::EncodeRelDir(dir))));
    const std::vector<timeline::DbDirEntry> dbs = {{1663, 5}};
    ASSERT_OK(ingest->Put(kCommit, layers::Key::DbDir(),
                          *timeline::Value::Image(timeline::EncodeDbDir(dbs))));
    ASSERT_OK_AND_ASSIGN(const auto status, ingest->Commit(kCommit));
    ASSERT_EQ(status.last_record_lsn, kCommit);
    ASSERT_OK(ingest->Close());
  }

  // Runs pagebench with the daemon's addresses plus `args` (bounded wait).
  ProcessResult Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {PAGEBENCH_PATH, "--page-service", daemon_->TcpConninfo(),
                                     "--http", daemon_->HttpUrl()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir_.File("pagebench.out"), err = dir_.File("pagebench.err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> cargv;
    for (std::string& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, PAGEBENCH_PATH, &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ProcessResult result;
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn: " << rc;
      return result;
    }
    int status = 0;
    for (int waited_ms = 0; waitpid(pid, &status, WNOHANG) == 0; waited_ms += 50) {
      if (waited_ms > 120'000) {
        ADD_FAILURE() << "pagebench did not finish within 120 s";
        ::kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadText(out);
    result.err = ReadText(err);
    return result;
  }

  nlohmann::json RunJson(std::vector<std::string> args, int expect_exit) {
    args.push_back("--json");
    const ProcessResult r = Run(std::move(args));
    EXPECT_EQ(r.exit_code, expect_exit) << r.err << r.out;
    const auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << r.out << r.err;
    return j.is_object() ? j : nlohmann::json::object();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::Daemon> daemon_;
  layers::TenantId tenant_;
  layers::TimelineId timeline_;
};

TEST_F(PagebenchSmokeTest, FindsEveryRelationOverHttpAndEveryResponsePassesItsChecks) {
  const uint64_t seed = AnnounceSeed(TestSeed());
  const nlohmann::json j = RunJson({"--requests", "1500", "--clients", "2", "--queue-depth", "8",
                                    "--seed", std::to_string(seed), "--fail-on-error"},
                                   0);
  EXPECT_EQ(j["config"]["relations_source"], "http");
  ASSERT_EQ(j["targets"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["targets"][0]["relations"], kData.size());
  EXPECT_EQ(j["targets"][0]["blocks"], kDataBlocks);
  EXPECT_EQ(j["ok"], 1500);
  EXPECT_EQ(j["errors"], 0) << j.dump(2);
}

TEST_F(PagebenchSmokeTest, ProbesEveryRelationAndEveryResponsePassesItsChecks) {
  const uint64_t seed = AnnounceSeed(TestSeed());
  const nlohmann::json j =
      RunJson({"--requests", "1500", "--clients", "2", "--queue-depth", "8", "--seed",
               std::to_string(seed), "--fail-on-error", "--probe", "--probe-oid-gap", "1024"},
              0);
  EXPECT_EQ(j["config"]["relations_source"], "probe");
  ASSERT_EQ(j["targets"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["targets"][0]["timeline"], kTimeline);
  EXPECT_EQ(j["targets"][0]["relations"], kData.size());
  EXPECT_EQ(j["targets"][0]["blocks"], kDataBlocks);
  EXPECT_EQ(j["targets"][0]["request_lsn"], "FFFFFFFF/FFFFFFFF");
  EXPECT_EQ(j["targets"][0]["not_modified_since"], kCommit.ToString());
  EXPECT_EQ(j["requests"], 1500);
  EXPECT_EQ(j["ok"], 1500);
  EXPECT_EQ(j["errors"], 0) << j.dump(2);
  EXPECT_GT(j["latency_us"]["p99"].get<double>(), 0.0);
  EXPECT_LE(j["latency_us"]["p50"].get<double>(), j["latency_us"]["p99_99"].get<double>());
}

TEST_F(PagebenchSmokeTest, SequentialRunsFromARelationsFileAtAFixedLsn) {
  std::ofstream(dir_.File("rels.txt")) << "1663/5/16384 40\n1663/5/16390\n";
  const nlohmann::json j =
      RunJson({"--target", std::string(kTenant) + "/" + kTimeline, "--relations",
               dir_.File("rels.txt"), "--lsn", kCommit.ToString(), "--sequential-runs", "8",
               "--queue-depth", "16", "--requests", "800", "--fail-on-error"},
              0);
  EXPECT_EQ(j["targets"][0]["relations"], 2);
  EXPECT_EQ(j["targets"][0]["blocks"], 64);
  EXPECT_EQ(j["targets"][0]["request_lsn"], kCommit.ToString());
  EXPECT_EQ(j["ok"], 800);
  EXPECT_EQ(j["config"]["sequential_runs"], 8);
}

TEST_F(PagebenchSmokeTest, ServerErrorsAreCountedAndFailTheRun) {
  // A relation the timeline does not have: every GetPage gets an Error response.
  std::ofstream(dir_.File("rels.txt")) << "1663/5/99999 10\n";
  const nlohmann::json j = RunJson({"--relations", dir_.File("rels.txt"), "--requests", "50",
                                    "--queue-depth", "4", "--fail-on-error"},
                                   1);
  EXPECT_EQ(j["ok"], 0);
  EXPECT_EQ(j["errors_by_kind"]["server_error"], 50) << j.dump(2);
  EXPECT_FALSE(j["sample_errors"].empty());
}

TEST_F(PagebenchSmokeTest, AMalformedTargetCannotRun) {
  const ProcessResult r = Run({"--target", "nothex", "--requests", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nothex"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pageserver::pagebench
