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
#include <atomic>
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

TEST(WorkloadTest, ScanHandsOutEveryBlockOnceAcrossGeneratorsThenEmptyBursts) {
  const BlockSpace space = SmallSpace();  // kRelA 5 blocks, kRelC 3 blocks
  std::atomic<uint64_t> cursor{0};
  KeyGenerator a(space, &cursor);
  KeyGenerator b(space, &cursor);
  std::vector<uint64_t> seen;
  for (int i = 0; i < 4; ++i) {
    for (KeyGenerator* g : {&a, &b}) {
      const Burst burst = g->Next();
      ASSERT_EQ(burst.length, 1u);
      EXPECT_EQ(burst.At(0), space.At(burst.first_index));
      seen.push_back(burst.first_index);
    }
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(a.Next().length, 0u);
  EXPECT_EQ(b.Next().length, 0u);
}

TEST(WorkloadTest, PrefixKeepsTheFirstBlocksInIndexOrder) {
  const BlockSpace space = SmallSpace();  // kRelA 5 blocks, kRelC 3 blocks
  const BlockSpace six = space.Prefix(6);
  EXPECT_EQ(six.relations(), (std::vector<RelationSize>{{kRelA, 5}, {kRelC, 1}}));
  EXPECT_EQ(six.total_blocks(), 6u);
  EXPECT_EQ(space.Prefix(2).relations(), (std::vector<RelationSize>{{kRelA, 2}}));
  EXPECT_EQ(space.Prefix(1000).total_blocks(), 8u);  // clamped
  EXPECT_EQ(space.Prefix(0).total_blocks(), 0u);
  // Sequential runs over the prefix stay inside it; first_index names the first block.
  const BlockSpace three = space.Prefix(3);
  KeyGenerator gen(three, 4, TestSeed());
  for (int i = 0; i < 1000; ++i) {
    const Burst b = gen.Next();
    ASSERT_EQ(b.rel, kRelA);
    ASSERT_EQ(b.length, 3u);
    ASSERT_EQ(b.first, 0u);
    ASSERT_EQ(three.At(b.first_index), b.At(0));
  }
  KeyGenerator uniform(space, 1, TestSeed());
  for (int i = 0; i < 1000; ++i) {
    const Burst b = uniform.Next();
    ASSERT_EQ(space.At(b.first_index), b.At(0));
  }
}

TEST(WorkloadTest, ByteSizesTakeBinarySuffixesAndRoundUpToBlocks) {
  EXPECT_EQ(ParseByteSize("8192").value(), 8192u);
  EXPECT_EQ(ParseByteSize("64KiB").value(), 65536u);
  EXPECT_EQ(ParseByteSize("512MiB").value(), 512ull << 20);
  EXPECT_EQ(ParseByteSize("2GiB").value(), 2ull << 30);
  EXPECT_EQ(ParseByteSize("0").value(), 0u);
  for (const char* bad : {"", "KiB", "1.5MiB", "12MB", "-1", "8 KiB", "1kib", "99999999999999GiB",
                          "99999999999999999999"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
  EXPECT_EQ(WorkingSetBlocks(0), 0u);
  EXPECT_EQ(WorkingSetBlocks(1), 1u);
  EXPECT_EQ(WorkingSetBlocks(8192), 1u);
  EXPECT_EQ(WorkingSetBlocks(8193), 2u);
  EXPECT_EQ(WorkingSetBlocks(512ull << 20), 65536u);
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
  LoadConfig no_working_set = ok;
  no_working_set.working_set_blocks = 0;
  EXPECT_FALSE(ValidateLoadConfig(no_working_set, targets).ok());
  LoadConfig negative_warmup = ok;
  negative_warmup.warmup = std::chrono::seconds(-1);
  EXPECT_FALSE(ValidateLoadConfig(negative_warmup, targets).ok());
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
  // Without a working set from the load, every block is in it.
  EXPECT_EQ(j["working_set_blocks"], 8);
  EXPECT_EQ(j["targets"][0]["working_set_blocks"], 8);
  EXPECT_EQ(j["warmup_requests"], 0);
}

// Splits one CSV line (RFC 4180 quoting, no line breaks inside cells).
std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      cells.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ReportTest, CsvRowHoldsTheJsonFieldsUnderTheirPaths) {
  LoadResult result;
  result.latency_ns.Record(1500);
  result.verdicts.Add(ResponseVerdict::kOk, 1234567);
  result.verdicts.Add(ResponseVerdict::kServerError, 3);
  result.warmup_verdicts.Add(ResponseVerdict::kOk, 10);
  result.working_set_blocks = {4};
  result.distinct_blocks_touched = 4;
  result.elapsed_seconds = 2;
  std::vector<Target> targets;
  targets.push_back(Target{{}, {}, Lsn::Max(), Lsn{1}, SmallSpace()});
  const nlohmann::json config = {{"workload", "a, \"quoted\" name"},
                                 {"max_requests", nullptr},
                                 {"targets", {"t1/a", "t2/b"}},
                                 {"seed", 7}};
  const nlohmann::json j = ResultJson(config, targets, result);
  EXPECT_EQ(j["working_set_blocks"], 4);
  EXPECT_EQ(j["targets"][0]["blocks"], 8);
  EXPECT_EQ(j["warmup_requests"], 10);
  const std::vector<std::string> header = SplitCsv(SummaryCsvHeader());
  const std::vector<std::string> row = SplitCsv(SummaryCsvRow(j));
  ASSERT_EQ(header.size(), row.size());
  std::map<std::string, std::string> cell;
  for (size_t i = 0; i < header.size(); ++i) cell[header[i]] = row[i];
  EXPECT_EQ(header.front(), "config.page_service");
  EXPECT_EQ(header.back(), "latency_us.max");
  EXPECT_EQ(cell["requests"], "1234570");  // no thousands separators
  EXPECT_EQ(cell["errors_by_kind.server_error"], "3");
  EXPECT_EQ(cell["warmup_requests"], "10");
  EXPECT_EQ(cell["working_set_blocks"], "4");
  EXPECT_EQ(cell["distinct_blocks_touched"], "4");
  EXPECT_EQ(cell["config.workload"], "a, \"quoted\" name");
  EXPECT_EQ(cell["config.targets"], "t1/a t2/b");
  EXPECT_EQ(cell["config.max_requests"], "");
  EXPECT_EQ(cell["config.seed"], "7");
  EXPECT_EQ(std::stod(cell["latency_us.p50"]), 1.5);
  EXPECT_EQ(cell.count("sample_errors"), 0u);
}

TEST(ReportTest, SeriesCsvHasOneLinePerRowInMicroseconds) {
  const std::vector<SeriesRow> rows = {{0, 10, 1, 1500, 9000, 12000}, {1, 0, 0, 0, 0, 0}};
  const std::vector<std::string> lines = Lines(SeriesCsv(rows));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "second,requests,errors,p50_us,p99_us,max_us");
  EXPECT_EQ(SplitCsv(lines[1]), (std::vector<std::string>{"0", "10", "1", "1.5", "9.0", "12.0"}));
  EXPECT_EQ(SplitCsv(lines[2])[0], "1");
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

TEST_F(PagebenchSmokeTest, WarmupRequestsAreCheckedButNotCounted) {
  const nlohmann::json j =
      RunJson({"--warmup", "0.5", "--requests", "300", "--queue-depth", "4", "--fail-on-error"}, 0);
  EXPECT_EQ(j["config"]["warmup_seconds"], 0.5);
  EXPECT_GT(j["warmup_requests"].get<uint64_t>(), 0u) << j.dump(2);
  EXPECT_EQ(j["warmup_errors"], 0);
  // The measured window stops at the count, whatever the warm-up sent.
  EXPECT_EQ(j["requests"], 300);
  EXPECT_EQ(j["ok"], 300);
  EXPECT_GT(j["latency_us"]["max"].get<double>(), 0.0);
}

TEST_F(PagebenchSmokeTest, WarmupErrorsFailTheRunButStayOutOfTheCounts) {
  std::ofstream(dir_.File("rels.txt")) << "1663/5/99999 10\n";
  const nlohmann::json j = RunJson({"--relations", dir_.File("rels.txt"), "--warmup", "0.3",
                                    "--requests", "20", "--fail-on-error"},
                                   1);
  EXPECT_EQ(j["requests"], 20);
  EXPECT_EQ(j["errors_by_kind"]["server_error"], 20);
  EXPECT_GT(j["warmup_errors"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["warmup_errors"], j["warmup_requests"]);
}

TEST_F(PagebenchSmokeTest, AWorkingSetRestrictsAndClampsTheKeys) {
  const nlohmann::json one = RunJson({"--working-set", "1", "--requests", "200", "--clients", "2",
                                      "--queue-depth", "4", "--fail-on-error"},
                                     0);
  EXPECT_EQ(one["config"]["working_set_bytes"], 1);
  EXPECT_EQ(one["working_set_blocks"], 1);
  EXPECT_EQ(one["targets"][0]["working_set_blocks"], 1);
  EXPECT_EQ(one["targets"][0]["blocks"], kDataBlocks);
  EXPECT_EQ(one["ok"], 200);
  EXPECT_EQ(one["distinct_blocks_touched"], 1) << one.dump(2);

  // 6 blocks of the first relation (40 blocks); runs of 4 stay inside them.
  const nlohmann::json six =
      RunJson({"--working-set", "48KiB", "--requests", "400", "--sequential-runs", "4",
               "--queue-depth", "4", "--fail-on-error"},
              0);
  EXPECT_EQ(six["working_set_blocks"], 6);
  EXPECT_EQ(six["ok"], 400);
  EXPECT_EQ(six["distinct_blocks_touched"], 6) << six.dump(2);

  const nlohmann::json all = RunJson({"--working-set", "1GiB", "--requests", "50"}, 0);
  EXPECT_EQ(all["working_set_blocks"], kDataBlocks);  // clamped
  const nlohmann::json none = RunJson({"--requests", "50"}, 0);
  EXPECT_EQ(none["working_set_blocks"], kDataBlocks);
  EXPECT_TRUE(none["config"]["working_set_bytes"].is_null());

  for (const char* bad : {"0", "12MB"}) {
    const ProcessResult r = Run({"--working-set", bad, "--requests", "1"});
    EXPECT_EQ(r.exit_code, 2) << bad << r.err;
  }
}

TEST_F(PagebenchSmokeTest, AScanReadsEveryBlockOfTheWorkingSetOnceAndStops) {
  const nlohmann::json part = RunJson({"--scan", "--working-set", "160KiB", "--clients", "3",
                                       "--queue-depth", "4", "--duration", "60", "--fail-on-error"},
                                      0);
  EXPECT_EQ(part["working_set_blocks"], 20);
  EXPECT_EQ(part["ok"], 20);
  EXPECT_EQ(part["distinct_blocks_touched"], 20) << part.dump(2);
  const nlohmann::json all = RunJson({"--scan", "--queue-depth", "8", "--fail-on-error"}, 0);
  EXPECT_EQ(all["ok"], kDataBlocks);
  EXPECT_EQ(all["distinct_blocks_touched"], kDataBlocks);
  for (const char* bad : {"--sequential-runs", "--requests", "--warmup"}) {
    const ProcessResult r = Run({"--scan", "--queue-depth", "4", bad, "2"});
    EXPECT_EQ(r.exit_code, 2) << bad << r.err;
  }
}

TEST_F(PagebenchSmokeTest, SeriesHasOneRowPerSecondSummingToTheRequests) {
  const std::string path = dir_.File("series.csv");
  const nlohmann::json j =
      RunJson({"--duration", "2.5", "--queue-depth", "2", "--series", path, "--fail-on-error"}, 0);
  const std::vector<std::string> lines = Lines(ReadText(path));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "second,requests,errors,p50_us,p99_us,max_us");
  const double elapsed = j["elapsed_seconds"].get<double>();
  const size_t rows = lines.size() - 1;
  // Seconds 0, 1 and 2 (the last partial); one more if the drain crossed a second.
  EXPECT_EQ(rows, static_cast<size_t>(std::ceil(elapsed))) << "elapsed " << elapsed;
  uint64_t sum = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> cells = SplitCsv(lines[i]);
    ASSERT_EQ(cells.size(), 6u) << lines[i];
    EXPECT_EQ(cells[0], std::to_string(i - 1));
    const uint64_t requests = std::stoull(cells[1]);
    sum += requests;
    EXPECT_EQ(cells[2], "0");
    if (i + 1 < lines.size()) {
      EXPECT_GT(requests, 0u) << lines[i];  // only the last second may be partial
    }
    if (requests > 0) {
      EXPECT_GT(std::stod(cells[3]), 0.0) << lines[i];
      EXPECT_LE(std::stod(cells[3]), std::stod(cells[4])) << lines[i];
      EXPECT_LE(std::stod(cells[4]), std::stod(cells[5])) << lines[i];
    }
  }
  EXPECT_EQ(sum, j["requests"].get<uint64_t>());
  EXPECT_GT(sum, 0u);
}

TEST_F(PagebenchSmokeTest, CsvSummaryRowsAreAppendedUnderOneHeader) {
  const std::string path = dir_.File("summary.csv");
  const nlohmann::json first = RunJson({"--requests", "100", "--seed", "11", "--csv", path}, 0);
  const nlohmann::json second =
      RunJson({"--requests", "120", "--seed", "12", "--warmup", "0.2", "--csv", path}, 0);
  const std::vector<std::string> lines = Lines(ReadText(path));
  ASSERT_EQ(lines.size(), 3u) << ReadText(path);
  EXPECT_EQ(lines[0], SummaryCsvHeader());
  const std::vector<std::string> header = SplitCsv(lines[0]);
  for (size_t row = 1; row <= 2; ++row) {
    const std::vector<std::string> cells = SplitCsv(lines[row]);
    ASSERT_EQ(cells.size(), header.size()) << lines[row];
    const nlohmann::json& j = row == 1 ? first : second;
    for (size_t i = 0; i < header.size(); ++i) {
      std::string pointer = "/" + header[i];
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      const nlohmann::json& v = j.at(nlohmann::json::json_pointer(pointer));
      if (v.is_number_unsigned()) {
        EXPECT_EQ(cells[i], std::to_string(v.get<uint64_t>())) << header[i];
      } else if (v.is_string()) {
        EXPECT_EQ(cells[i], v.get<std::string>()) << header[i];
      }
    }
  }
  EXPECT_EQ(
      SplitCsv(lines[1])[std::find(header.begin(), header.end(), "requests") - header.begin()],
      "100");
  EXPECT_EQ(
      SplitCsv(lines[2])[std::find(header.begin(), header.end(), "config.seed") - header.begin()],
      "12");

  // A file with other columns is not appended to.
  std::ofstream(dir_.File("other.csv")) << "a,b,c\n1,2,3\n";
  const ProcessResult r = Run({"--requests", "10", "--csv", dir_.File("other.csv")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(ReadText(dir_.File("other.csv"))).size(), 2u);
}

TEST_F(PagebenchSmokeTest, AMalformedTargetCannotRun) {
  const ProcessResult r = Run({"--target", "nothex", "--requests", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nothex"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pageserver::pagebench
