#pragma once

// Where pagebench's keys come from: the target timelines (given, or every
// timeline the HTTP API lists), their last_record_lsn (HTTP API), and the
// relation forks with their sizes at the read point.
//
// Relations: the page service has no "list relations" message. They come,
// in order of preference, from a file (ParseRelationsFile), from the HTTP
// API's relations route (RelationsFromHttp: the timeline's database and
// relation directories and every fork's size at the read LSN, one request),
// or, when no HTTP API is reachable or --probe asks for it, by probing the
// page service (ProbeRelations), which is self-checking:
//
//   1. Databases (tablespace 1663, the only one DbSize answers for): the
//      given list, or a DbSize request for every OID in [1, 16384) (the
//      system range, where template1 = 1, template0 = 4, postgres = 5 in
//      PG 15) and upward from 16384 (Postgres' FirstNormalObjectId) until
//      `oid_gap` OIDs in a row answered "no such database".
//   2. Per database, DbSize gives the bytes its relation directory holds
//      (8192 * sum of nblocks over every fork). Relnodes are probed with
//      Exists(main fork) in windows of 1024, first upward from 16384 (user
//      relations, most of the data) until the forks found account for every
//      byte or `oid_gap` relnodes in a row did not exist, then [1, 16384)
//      (system catalogs) until every byte is accounted for. For each
//      relnode that exists, Exists for forks fsm, vm, init, then Nblocks
//      of every fork that exists.
//   3. When the bytes found differ from DbSize the result carries a warning
//      naming the database and both figures (a relation beyond the gap, or
//      in another tablespace): use --relations for such clusters.
// Requests are pipelined 1024 at a time on one connection; a PG 15
// cluster's three databases cost about 3 * 16,400 Exists requests plus
// 32,768 DbSize requests.
//
// Relations file: one fork per line, "spc/db/rel[_fork] [nblocks]"
// (client::ParseRelTag's form: "1663/5/16384", "1663/5/16384_vm"); blank
// lines and lines starting with '#' are skipped. A line without nblocks
// is sized with an Nblocks request.
//
// Errors: IO/transport errors of the clients as they report them;
// InvalidArgument naming the line of a malformed relations file, or a
// target that is not "tenant/timeline" hex; NotFound for a given database
// DbSize does not know.
//
// Thread-safety: functions of their arguments; one thread per client.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/management_client.h"
#include "client/page_client.h"
#include "common/status.h"
#include "layers/ids.h"
#include "tools/pagebench/workload.h"

namespace pageserver::pagebench {

// Postgres' FirstNormalObjectId: OIDs below it are assigned by initdb.
inline constexpr uint32_t kFirstNormalObjectId = 16384;
// Postgres' DEFAULTTABLESPACE_OID (pg_default).
inline constexpr uint32_t kDefaultTablespace = 1663;

struct TimelineRef {
  layers::TenantId tenant;
  layers::TimelineId timeline;
};

// "<tenant hex>/<timeline hex>".
common::Result<TimelineRef> ParseTimelineRef(std::string_view text);
// Every timeline of every tenant the HTTP API lists, broken ones left out.
common::Result<std::vector<TimelineRef>> ListAllTimelines(client::ManagementClient& http);

// Every relation fork of `ref` at `lsn` from GET .../relations, sorted by
// RelTag (key order, like ProbeRelations). IoError and the mapped HTTP
// errors of the client; Corruption for a malformed answer.
common::Result<std::vector<RelationSize>> RelationsFromHttp(client::ManagementClient& http,
                                                            const TimelineRef& ref,
                                                            layers::Lsn lsn);

// The relations of a relations file's text (format above). Forks whose
// nblocks is absent get nblocks = UINT32_MAX; SizeRelations fills them in.
common::Result<std::vector<RelationSize>> ParseRelationsFile(std::string_view text);
inline constexpr uint32_t kUnknownSize = UINT32_MAX;
// `relations` with every kUnknownSize replaced by an Nblocks answer at `at`.
common::Result<std::vector<RelationSize>> SizeRelations(client::PageClient& client,
                                                        client::ReadPoint at,
                                                        std::vector<RelationSize> relations);

struct ProbeOptions {
  std::vector<uint32_t> databases;  // empty: discover (step 1 above)
  uint32_t oid_gap = kFirstNormalObjectId;
};
struct ProbeResult {
  std::vector<RelationSize> relations;  // sorted by RelTag
  std::vector<std::string> warnings;    // incomplete databases
  uint64_t requests = 0;                // pagestream requests spent
};
common::Result<ProbeResult> ProbeRelations(client::PageClient& client, client::ReadPoint at,
                                           const ProbeOptions& options);

}  // namespace pageserver::pagebench
