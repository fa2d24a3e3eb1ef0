#include "server/page_service.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "server/page_service_channel.h"
#include "server/page_service_session.h"
#include "server/pgwire.h"

namespace pageserver::server {
namespace {

using common::Result;
using common::Status;
using layers::Lsn;
using layers::TenantId;
using layers::TimelineId;

// What the server reports in ParameterStatus (libpq reads server_version to
// set PQserverVersion; the encodings tell it text is UTF-8).
constexpr std::pair<std::string_view, std::string_view> kParameterStatus[] = {
    {"server_version", "15.0"},         {"server_encoding", "UTF8"},
    {"client_encoding", "UTF8"},        {"DateStyle", "ISO, MDY"},
    {"integer_datetimes", "on"},        {"standard_conforming_strings", "on"},
    {"application_name", "pageserver"},
};
// Encryption requests answered 'N' before a StartupMessage (Postgres allows
// one SSLRequest and one GSSENCRequest).
constexpr int kMaxEncryptionRequests = 2;
// The Postgres major version of an imported timeline when the command names none.
constexpr uint32_t kDefaultPgVersion = 15;
// Query text echoed in error messages, at most.
constexpr size_t kMaxEchoedQueryBytes = 200;

std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// The query for an error message: cut at a UTF-8 boundary.
std::string EchoQuery(std::string_view query) {
  if (query.size() <= kMaxEchoedQueryBytes) return std::string(query);
  size_t cut = kMaxEchoedQueryBytes;
  while (cut > 0 && (static_cast<unsigned char>(query[cut]) & 0xC0) == 0x80) --cut;
  return std::string(query.substr(0, cut)) + "...";
}

// A query's failure: the SQLSTATE and message of its ErrorResponse.
struct QueryError {
  std::string_view sqlstate;
  std::string message;
};

std::string_view SqlStateFor(const Status& status) {
  switch (status.code()) {
    case common::StatusCode::kNotFound:
      return pgwire::kSqlStateUndefinedObject;
    case common::StatusCode::kInvalidArgument:
      return pgwire::kSqlStateInvalidParameter;
    case common::StatusCode::kAlreadyExists:
      return pgwire::kSqlStateObjectInUse;
    default:
      return pgwire::kSqlStateInternalError;
  }
}

QueryError FromStatus(const Status& status) { return {SqlStateFor(status), status.ToString()}; }

template <typename Id>
Result<Id> ParseId(std::string_view what, std::string_view text) {
  auto id = Id::ParseHex(text);
  if (!id.has_value()) {
    return Status::InvalidArgument("invalid " + std::string(what) + " id \"" + EchoQuery(text) +
                                   "\": expected 32 hex digits");
  }
  return *id;
}

Result<uint32_t> ParsePgVersion(std::string_view text) {
  uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 10 || v > 99) {
    return Status::InvalidArgument("invalid pg_version \"" + EchoQuery(text) +
                                   "\": expected a Postgres major version such as 15");
  }
  return v;
}

}  // namespace

Status ConnectionContext::SendError(std::string_view sqlstate, std::string_view message) {
  std::vector<std::byte> out;
  pgwire::AppendErrorResponse({.severity = "ERROR", .sqlstate = sqlstate, .message = message}, out);
  return channel.Send(out);
}

Status ConnectionContext::ClientGone(std::string_view why) {
  client_gone = true;
  return Status::Aborted(why);
}

Status ConnectionContext::ProtocolViolation(std::string_view why) {
  protocol_violation = true;
  return Status::InvalidArgument(why);
}

Status ConnectionContext::Unexpected(pgwire::FrontendTag tag, std::string_view where) {
  return ProtocolViolation("unexpected " + std::string(pgwire::FrontendTagName(tag)) + " message " +
                           std::string(where));
}

// One connection: startup, then simple queries until the client leaves, a
// protocol error or a stop.
class PageService::Connection {
 public:
  Connection(PageService& service, int fd)
      : service_(service),
        channel_(fd, service.stopping_, service.options_.max_message_bytes),
        ctx_{channel_, *service.metrics_, service.options_, service.stopping_} {}

  void Run() {
    Status status = Startup();
    if (status.ok()) status = QueryLoop();
    Finish(status);
  }

 private:
  Status Startup();
  Status AnswerStartup();
  Status QueryLoop();
  Status HandleQuery(std::string_view query);
  Status Reply(PageServiceCommand command, const std::optional<QueryError>& error);
  Status SendReadyForQuery();
  Status RunPagestream(PagestreamVersion version, std::span<const std::string_view> args);
  Status RunIngest(std::span<const std::string_view> args);
  Status RunImport(std::span<const std::string_view> args);
  Result<std::shared_ptr<timeline::Timeline>> LookupTimeline(std::string_view tenant,
                                                             std::string_view timeline);
  void Finish(const Status& status);

  PageService& service_;
  MessageChannel channel_;
  ConnectionContext ctx_;
};

Status PageService::Connection::Startup() {
  const auto deadline = MessageChannel::Clock::now() + service_.options_.startup_timeout;
  int encryption_requests = 0;
  while (true) {
    ASSIGN_OR_RETURN(auto packet, channel_.ReadStartup(deadline));
    if (!packet.has_value()) return ctx_.ClientGone("client closed during startup");
    switch (packet->kind) {
      case pgwire::StartupKind::kSslRequest:
      case pgwire::StartupKind::kGssEncRequest: {
        if (++encryption_requests > kMaxEncryptionRequests) {
          return ctx_.ProtocolViolation("too many encryption requests during startup");
        }
        const std::byte no[] = {std::byte{'N'}};
        RETURN_IF_ERROR(channel_.Send(no));
        continue;
      }
      case pgwire::StartupKind::kCancel:
        // Nothing to cancel: requests are short. Postgres closes without an answer.
        return ctx_.ClientGone("cancel request");
      case pgwire::StartupKind::kStartup:
        return AnswerStartup();
    }
  }
}

Status PageService::Connection::AnswerStartup() {
  std::vector<std::byte> out;
  pgwire::AppendAuthenticationOk(out);
  for (const auto& [name, value] : kParameterStatus) {
    pgwire::AppendParameterStatus(name, value, out);
  }
  std::random_device rd;
  pgwire::AppendBackendKeyData(service_.next_backend_pid_.fetch_add(1), rd(), out);
  pgwire::AppendReadyForQuery(pgwire::kTransactionIdle, out);
  return channel_.Send(out);
}

Status PageService::Connection::SendReadyForQuery() {
  std::vector<std::byte> out;
  pgwire::AppendReadyForQuery(pgwire::kTransactionIdle, out);
  return channel_.Send(out);
}

Status PageService::Connection::QueryLoop() {
  while (true) {
    ASSIGN_OR_RETURN(auto message, channel_.Read());
    if (!message.has_value()) return ctx_.ClientGone("client closed the connection");
    switch (message->tag) {
      case pgwire::FrontendTag::kQuery:
        RETURN_IF_ERROR(HandleQuery(message->text()));
        break;
      case pgwire::FrontendTag::kSync:
        RETURN_IF_ERROR(SendReadyForQuery());
        break;
      case pgwire::FrontendTag::kTerminate:
        return ctx_.ClientGone("client terminated the connection");
      case pgwire::FrontendTag::kCopyData:
      case pgwire::FrontendTag::kCopyDone:
      case pgwire::FrontendTag::kCopyFail:
        // The rest of a COPY IN that failed: dropped, as Postgres does.
        break;
    }
  }
}

Status PageService::Connection::Reply(PageServiceCommand command,
                                      const std::optional<QueryError>& error) {
  service_.metrics_->commands(command, !error.has_value()).Increment();
  if (error.has_value()) RETURN_IF_ERROR(ctx_.SendError(error->sqlstate, error->message));
  return SendReadyForQuery();
}

Status PageService::Connection::HandleQuery(std::string_view query) {
  if (!pgwire::IsValidUtf8(query)) {
    return Reply(PageServiceCommand::kOther,
                 QueryError{pgwire::kSqlStateInvalidParameter, "query text is not valid UTF-8"});
  }
  const std::vector<std::string_view> words = SplitWords(query);
  if (words.empty()) {
    std::vector<std::byte> out;
    pgwire::AppendEmptyQueryResponse(out);
    RETURN_IF_ERROR(channel_.Send(out));
    return SendReadyForQuery();
  }
  const auto args = std::span(words).subspan(1);
  if (words[0] == "pagestream_v2") return RunPagestream(PagestreamVersion::kV2, args);
  if (words[0] == "pagestream_v3") return RunPagestream(PagestreamVersion::kV3, args);
  if (words[0] == "ingest") return RunIngest(args);
  if (words[0] == "import" && words.size() >= 2 && words[1] == "basebackup") {
    return RunImport(args.subspan(1));
  }
  return Reply(PageServiceCommand::kOther,
               QueryError{pgwire::kSqlStateFeatureNotSupported,
                          "unsupported command \"" + EchoQuery(query) +
                              "\": expected pagestream_v2, pagestream_v3, ingest or "
                              "import basebackup"});
}

Result<std::shared_ptr<timeline::Timeline>> PageService::Connection::LookupTimeline(
    std::string_view tenant, std::string_view timeline) {
  ASSIGN_OR_RETURN(const TenantId tenant_id, ParseId<TenantId>("tenant", tenant));
  ASSIGN_OR_RETURN(const TimelineId timeline_id, ParseId<TimelineId>("timeline", timeline));
  return service_.tenants_.GetTimeline(tenant_id, timeline_id);
}

Status PageService::Connection::RunPagestream(PagestreamVersion version,
                                              std::span<const std::string_view> args) {
  const auto command = version == PagestreamVersion::kV2 ? PageServiceCommand::kPagestreamV2
                                                         : PageServiceCommand::kPagestreamV3;
  if (args.size() != 2) {
    return Reply(command,
                 QueryError{pgwire::kSqlStateSyntaxError,
                            "usage: pagestream_v" + std::to_string(static_cast<int>(version)) +
                                " <tenant id> <timeline id>"});
  }
  auto timeline = LookupTimeline(args[0], args[1]);
  if (!timeline.has_value()) return Reply(command, FromStatus(timeline.error()));
  service_.metrics_->commands(command, true).Increment();
  RETURN_IF_ERROR(ServePagestream(ctx_, version, **timeline));
  return SendReadyForQuery();
}

Status PageService::Connection::RunIngest(std::span<const std::string_view> args) {
  const auto command = PageServiceCommand::kIngest;
  if (args.size() != 2) {
    return Reply(command, QueryError{pgwire::kSqlStateSyntaxError,
                                     "usage: ingest <tenant id> <timeline id>"});
  }
  auto timeline = LookupTimeline(args[0], args[1]);
  if (!timeline.has_value()) return Reply(command, FromStatus(timeline.error()));
  const TimelineKey key{(*timeline)->tenant_id(), (*timeline)->timeline_id()};
  if (!service_.ClaimIngest(key)) {
    return Reply(command,
                 QueryError{pgwire::kSqlStateObjectInUse, "timeline " + key.second.ToHex() +
                                                              " already has an ingest connection"});
  }
  service_.metrics_->commands(command, true).Increment();
  auto end = ServeIngest(ctx_, **timeline);
  // Released before the client hears how the stream ended, so it may start
  // another at once.
  service_.ReleaseIngest(key);
  if (!end.has_value()) return std::move(end).error();
  std::vector<std::byte> out;
  switch (end->kind) {
    case IngestEnd::Kind::kCopyDone:
      pgwire::AppendCopyDone(out);
      pgwire::AppendCommandComplete("COPY 0", out);
      break;
    case IngestEnd::Kind::kCopyFail:
      pgwire::AppendErrorResponse(
          {.sqlstate = pgwire::kSqlStateQueryCanceled, .message = end->error.ToString()}, out);
      break;
    case IngestEnd::Kind::kRejected:
      RETURN_IF_ERROR(ctx_.SendError(SqlStateFor(end->error), end->error.ToString()));
      ctx_.error_sent = true;
      return end->error;
  }
  pgwire::AppendReadyForQuery(pgwire::kTransactionIdle, out);
  return channel_.Send(out);
}

Status PageService::Connection::RunImport(std::span<const std::string_view> args) {
  const auto command = PageServiceCommand::kImportBasebackup;
  if (args.size() != 3 && args.size() != 4) {
    return Reply(command, QueryError{pgwire::kSqlStateSyntaxError,
                                     "usage: import basebackup <tenant id> <timeline id> <lsn> "
                                     "[<pg_version>]"});
  }
  auto tenant_id = ParseId<TenantId>("tenant", args[0]);
  auto timeline_id = ParseId<TimelineId>("timeline", args[1]);
  auto lsn = Lsn::Parse(args[2]);
  auto pg_version =
      args.size() == 4 ? ParsePgVersion(args[3]) : Result<uint32_t>(kDefaultPgVersion);
  for (const Status* s :
       {&tenant_id.error(), &timeline_id.error(), &lsn.error(), &pg_version.error()}) {
    if (!s->ok()) return Reply(command, FromStatus(*s));
  }
  if (!lsn->valid() || *lsn == Lsn::Max()) {
    return Reply(command, QueryError{pgwire::kSqlStateInvalidParameter,
                                     "invalid import LSN " + lsn->ToString()});
  }
  // The timeline starts just below the import LSN, so the imported images are its first records.
  auto timeline =
      service_.tenants_.CreateTimeline(*tenant_id, *timeline_id, Lsn{lsn->value - 1}, *pg_version);
  if (!timeline.has_value()) return Reply(command, FromStatus(timeline.error()));
  const TimelineKey key{*tenant_id, *timeline_id};
  if (!service_.ClaimIngest(key)) {
    return Reply(command, QueryError{pgwire::kSqlStateObjectInUse,
                                     "timeline " + key.second.ToHex() + " is being ingested into"});
  }
  auto outcome = ServeImport(ctx_, **timeline, *lsn);
  service_.ReleaseIngest(key);
  const bool imported = outcome.has_value() && outcome->imported;
  if (!imported) {
    timeline->reset();  // the manager's delete shuts the timeline down
    if (Status s = service_.tenants_.DeleteTimeline(*tenant_id, *timeline_id); !s.ok()) {
      spdlog::warn("import basebackup: deleting the failed timeline {}: {}", key.second.ToHex(),
                   s.ToString());
    }
  }
  if (!outcome.has_value()) {
    service_.metrics_->commands(command, false).Increment();
    return std::move(outcome).error();
  }
  // Answered after the failed timeline is gone, so a retry with the same id works.
  if (!imported) {
    const auto sqlstate = outcome->failure.code() == common::StatusCode::kAborted
                              ? pgwire::kSqlStateQueryCanceled
                              : SqlStateFor(outcome->failure);
    return Reply(command,
                 QueryError{sqlstate, "import basebackup failed: " + outcome->failure.ToString()});
  }
  std::vector<std::byte> out;
  pgwire::AppendCommandComplete("IMPORT " + std::to_string(outcome->relation_blocks), out);
  RETURN_IF_ERROR(channel_.Send(out));
  return Reply(command, std::nullopt);
}

void PageService::Connection::Finish(const Status& status) {
  if (ctx_.client_gone || ctx_.error_sent || channel_.peer_closed()) return;
  if (service_.stopping()) {
    (void)ctx_.SendError(pgwire::kSqlStateAdminShutdown, "pageserver is shutting down");
    return;
  }
  const bool protocol = channel_.protocol_error() || ctx_.protocol_violation;
  if (protocol) service_.metrics_->protocol_errors().Increment();
  const auto sqlstate =
      protocol ? pgwire::kSqlStateProtocolViolation : pgwire::kSqlStateInternalError;
  (void)ctx_.SendError(sqlstate, status.ToString());
}

PageService::PageService(TenantManager& tenants, common::Registry& registry,
                         PageServiceOptions options)
    : tenants_(tenants),
      options_(options),
      metrics_(std::make_unique<PageServiceMetrics>(registry)) {}

PageService::~PageService() = default;

void PageService::Serve(int fd) {
  metrics_->connections_total().Increment();
  metrics_->connections_active().Add(1);
  try {
    Connection connection(*this, fd);
    connection.Run();
  } catch (const std::exception& e) {
    // Allocation failure or a library throwing: this connection ends, the
    // process goes on.
    spdlog::error("page service connection failed: {}", e.what());
  }
  ::close(fd);
  metrics_->connections_active().Add(-1);
}

void PageService::RequestStop() { stopping_.store(true, std::memory_order_release); }

bool PageService::ClaimIngest(const TimelineKey& key) {
  std::lock_guard lock(ingest_mu_);
  if (std::find(ingesting_.begin(), ingesting_.end(), key) != ingesting_.end()) return false;
  ingesting_.push_back(key);
  return true;
}

void PageService::ReleaseIngest(const TimelineKey& key) {
  std::lock_guard lock(ingest_mu_);
  std::erase(ingesting_, key);
}

}  // namespace pageserver::server
