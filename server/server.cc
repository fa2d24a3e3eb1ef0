#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "page_cache/page_cache.h"
#include "server/io_settings.h"
#include "server/page_service.h"
#include "server/pgwire.h"
#include "server/tenant_manager.h"

namespace pageserver::server {

using common::Result;
using common::Status;

namespace {

// Pending connections the kernel holds per listener (Postgres uses
// min(SOMAXCONN, 2 * max_connections); the handlers drain it quickly).
constexpr int kListenBacklog = 512;
// How often housekeeping ticks the PageCache (overload.h: "every few seconds").
constexpr std::chrono::seconds kHousekeepingPeriod{5};
// How long a refused connection gets for its startup packet and for the
// close handshake (Reject).
constexpr std::chrono::milliseconds kRejectBudget{250};
// Refused connections waiting for the rejecter thread; beyond this they are
// closed without an ErrorResponse (a flood must not grow memory).
constexpr size_t kMaxPendingRejects = 64;
// How long Start waits for httplib's listener loop to come up.
constexpr std::chrono::seconds kHttpStartTimeout{10};

Status Errno(int err, const std::string& context) {
  if (err == EADDRINUSE) return Status::AlreadyExists(context + ": address in use");
  return Status::FromErrno(err, context);
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

Result<int> BindTcp(const ListenAddress& addr, uint16_t& bound_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const bool v6 = addr.host.find(':') != std::string::npos;
  if (v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(addr.port);
    ::inet_pton(AF_INET6, addr.host.c_str(), &sin6->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(addr.port);
    ::inet_pton(AF_INET, addr.host.c_str(), &sin->sin_addr);
    len = sizeof(sockaddr_in);
  }
  const std::string what = "page service: tcp " + addr.ToString();
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno(errno, what + ": socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, kListenBacklog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno(err, what);
  }
  bound_port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), std::min(path.size() + 1, sizeof(sun.sun_path) - 1));
  return sun;
}

// True when a server accepts connections on the socket at `path`.
bool SocketIsLive(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un sun = UnixAddress(path);
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof(sun)) == 0;
  ::close(fd);
  return live;
}

// Makes `path` free for bind: absent, or a stale socket (nobody accepts on
// it: a crashed server's) that is removed.
Status ClearStaleSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Errno(errno, "page service: stat " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument("page service: " + path + " exists and is not a socket");
  }
  if (SocketIsLive(path)) {
    return Status::AlreadyExists("page service: another server is listening on " + path);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno(errno, "page service: remove stale socket " + path);
  }
  spdlog::info("removed stale socket {}", path);
  return Status::Ok();
}

Result<int> BindUnix(const std::string& path) {
  RETURN_IF_ERROR(ClearStaleSocket(path));
  const std::string what = "page service: unix socket " + path;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno(errno, what + ": socket");
  const sockaddr_un sun = UnixAddress(path);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof(sun)) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno(err, what);
  }
  // Postgres' default unix_socket_permissions: any local user may connect.
  if (::chmod(path.c_str(), 0777) != 0 || ::listen(fd, kListenBacklog) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Errno(err, what);
  }
  return fd;
}

using Deadline = std::chrono::steady_clock::time_point;

int MillisLeft(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Reads exactly `n` bytes before `deadline`; false on EOF, error or timeout.
bool ReadFully(int fd, std::byte* dst, size_t n, Deadline deadline) {
  size_t got = 0;
  while (got < n) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, MillisLeft(deadline)) <= 0) return false;
    const ssize_t r = ::recv(fd, dst + got, n - got, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return false;
    if (r > 0) got += static_cast<size_t>(r);
  }
  return true;
}

// Reads the client's startup packet, answering an SSLRequest or
// GSSENCRequest with 'N' first, as the page service does; so the client is
// where it expects an ErrorResponse. Gives up quietly at the deadline.
void ReadStartup(int fd, Deadline deadline) {
  for (int packet = 0; packet < 3; ++packet) {
    std::byte header[8];
    if (!ReadFully(fd, header, 4, deadline)) return;
    const uint32_t len = static_cast<uint32_t>(header[0]) << 24 |
                         static_cast<uint32_t>(header[1]) << 16 |
                         static_cast<uint32_t>(header[2]) << 8 | static_cast<uint32_t>(header[3]);
    if (len < 8 || len > pgwire::kMaxStartupPacketBytes) return;
    std::vector<std::byte> body(len - 4);
    if (!ReadFully(fd, body.data(), body.size(), deadline)) return;
    const uint32_t code = static_cast<uint32_t>(body[0]) << 24 |
                          static_cast<uint32_t>(body[1]) << 16 |
                          static_cast<uint32_t>(body[2]) << 8 | static_cast<uint32_t>(body[3]);
    if (len != 8 || (code != pgwire::kSslRequestCode && code != pgwire::kGssEncRequestCode)) {
      return;
    }
    const char no = 'N';
    if (::send(fd, &no, 1, MSG_NOSIGNAL) != 1) return;
  }
}

// Refuses a connection we will not serve: after its startup packet (within
// `budget`), a FATAL ErrorResponse, then a close that is a FIN after our
// bytes (the client's unread bytes are drained first; closing with them
// unread would send a RST that can discard the error at the client).
void Reject(int fd, std::string_view sqlstate, const std::string& message,
            std::chrono::milliseconds budget) {
  const Deadline deadline = std::chrono::steady_clock::now() + budget;
  ReadStartup(fd, deadline);
  std::vector<std::byte> out;
  pgwire::AppendErrorResponse({.severity = "FATAL", .sqlstate = sqlstate, .message = message}, out);
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  pollfd pfd{fd, POLLIN, 0};
  char buf[512];
  while (::poll(&pfd, 1, MillisLeft(deadline)) > 0) {
    if (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) break;
  }
  ::close(fd);
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes % (uint64_t{1} << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
  if (bytes % (uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

// --------------------------------------------------------------- metrics

struct Server::Metrics {
  explicit Metrics(common::Registry& r)
      : accepted_tcp(r.GetCounter("ps_server_connections_accepted_total",
                                  "Connections accepted by the page service, by listener.",
                                  {{"listener", "tcp"}})),
        accepted_unix(r.GetCounter("ps_server_connections_accepted_total",
                                   "Connections accepted by the page service, by listener.",
                                   {{"listener", "unix"}})),
        rejected(r.GetCounter("ps_server_connections_rejected_total",
                              "Connections refused with an ErrorResponse, by reason.",
                              {{"reason", "too_many_connections"}})),
        rejected_shutdown(r.GetCounter("ps_server_connections_rejected_total",
                                       "Connections refused with an ErrorResponse, by reason.",
                                       {{"reason", "shutting_down"}})),
        queued(r.GetGauge("ps_server_connections_queued",
                          "Accepted connections waiting for a handler thread.")),
        handlers_busy(r.GetGauge("ps_server_handler_threads_busy",
                                 "Handler threads serving a connection.")) {}
  common::Counter& accepted_tcp;
  common::Counter& accepted_unix;
  common::Counter& rejected;
  common::Counter& rejected_shutdown;
  common::Gauge& queued;
  common::Gauge& handlers_busy;
};

// --------------------------------------------------------------- start

Server::Server(const ServerConfig& config, common::Registry& registry)
    : config_(config),
      registry_(registry),
      metrics_(std::make_unique<Metrics>(registry)),
      started_at_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<Server>> Server::Start(const ServerConfig& config,
                                              common::Registry& registry) {
  std::unique_ptr<Server> server(new Server(config, registry));
  RETURN_IF_ERROR(server->LockDataDir());
  RETURN_IF_ERROR(server->BuildServices());
  RETURN_IF_ERROR(server->BindListeners());
  server->StartThreads();
  spdlog::info("page service listening on tcp {}",
               ListenAddress{config.listen_pg.host, server->pg_port_}.ToString());
  if (!server->socket_path_.empty()) {
    spdlog::info("page service listening on unix socket {}", server->socket_path_);
  }
  spdlog::info("http api listening on {}",
               ListenAddress{config.listen_http.host, server->http_port_}.ToString());
  return server;
}

Status Server::LockDataDir() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create data_dir " + config_.data_dir);
  const std::string path = config_.data_dir + "/pageserver.pid";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::FromErrno(errno, "open " + path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    [[maybe_unused]] const ssize_t n = ::pread(lock_fd_, pid, sizeof(pid) - 1, 0);
    CloseFd(lock_fd_);
    if (err != EWOULDBLOCK) return Status::FromErrno(err, "lock " + path);
    return Status::AlreadyExists("data_dir " + config_.data_dir +
                                 " is in use by another pageserver (pid " +
                                 std::string(pid, strcspn(pid, "\n")) + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    return Status::FromErrno(errno, "write " + path);
  }
  return Status::Ok();
}

Status Server::BuildServices() {
  ASSIGN_OR_RETURN(io_, IoSettings::Create(config_.io, registry_));
  ASSIGN_OR_RETURN(cache_, page_cache::PageCache::Create(config_.MakePageCacheOptions(&registry_)));
  spdlog::info(
      "pageserver starting: data_dir={} engine={} mode={} io_alignment={} page_cache={} "
      "max_batch_size={} pipeline_depth={} connection_threads={} max_connections={}",
      config_.data_dir, io_->engine_name(), virtual_file::IoModeName(io_->mode()),
      io_->io_alignment(), FormatBytes(cache_->size_bytes()), config_.max_batch_size,
      config_.pipeline_depth, config_.connection_threads, config_.max_connections);
  ASSIGN_OR_RETURN(
      tenants_, TenantManager::Open(*io_, *cache_, registry_, config_.MakeTenantManagerOptions()));
  spdlog::info("loaded {} tenants ({} problems)", tenants_->Tenants().size(),
               tenants_->problems().size());
  PageServiceOptions options;
  options.max_batch_size = config_.max_batch_size;
  options.pipeline_depth = config_.pipeline_depth;
  options.wait_lsn_timeout = config_.wait_lsn_timeout;
  page_service_ = std::make_unique<PageService>(*tenants_, registry_, options);
  http_api_ = std::make_unique<HttpApi>(*tenants_, *io_, *cache_, registry_, this);
  return Status::Ok();
}

Status Server::BindListeners() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Status::FromErrno(errno, "eventfd");
  ASSIGN_OR_RETURN(tcp_listener_, BindTcp(config_.listen_pg, pg_port_));
  RETURN_IF_ERROR(BindUnixSocket());
  return BindHttp();
}

Status Server::BindUnixSocket() {
  const std::string path = config_.SocketPath(pg_port_);
  if (path.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(unix_listener_, BindUnix(path));
  socket_path_ = path;
  return Status::Ok();
}

Status Server::BindHttp() {
  http_ = std::make_unique<httplib::Server>();
  http_api_->Register(*http_);
  const ListenAddress& a = config_.listen_http;
  int port = a.port;
  if (a.port == 0) {
    port = http_->bind_to_any_port(a.host);
  } else if (!http_->bind_to_port(a.host, a.port)) {
    port = -1;
  }
  if (port <= 0) {
    return Status::AlreadyExists("http api: cannot bind " + a.ToString() +
                                 " (address in use or not available)");
  }
  http_port_ = static_cast<uint16_t>(port);
  return Status::Ok();
}

void Server::StartThreads() {
  started_ = true;
  for (size_t i = 0; i < config_.connection_threads; ++i) {
    {
      std::lock_guard lock(mu_);
      ++handlers_running_;
    }
    handlers_.emplace_back([this] { HandlerLoop(); });
  }
  rejecter_ = std::thread([this] { RejectLoop(); });
  acceptor_ = std::thread([this] { AcceptLoop(); });
  http_thread_ = std::thread([this] {
    if (!http_->listen_after_bind()) spdlog::error("http api: listener loop failed");
  });
  // stop() is a no-op until the loop runs: wait for it so Shutdown stops it.
  const auto deadline = std::chrono::steady_clock::now() + kHttpStartTimeout;
  while (!http_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  housekeeping_ = std::thread([this] { HousekeepingLoop(); });
}

// --------------------------------------------------------------- threads

void Server::AcceptLoop() {
  pollfd fds[3] = {{wake_fd_, POLLIN, 0}, {tcp_listener_, POLLIN, 0}, {unix_listener_, POLLIN, 0}};
  while (true) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno != EINTR) spdlog::error("acceptor: poll: {}", std::strerror(errno));
      continue;
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) AcceptFrom(tcp_listener_, /*is_tcp=*/true);
    if (fds[2].revents != 0) AcceptFrom(unix_listener_, /*is_tcp=*/false);
  }
}

void Server::AcceptFrom(int listener, bool is_tcp) {
  while (true) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Out of fds or memory: the listener stays readable, so back off
      // instead of spinning.
      spdlog::warn("acceptor: accept: {}", std::strerror(err));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return;
    }
    if (is_tcp) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    (is_tcp ? metrics_->accepted_tcp : metrics_->accepted_unix).Increment();
    Admit(fd);
  }
}

void Server::Admit(int fd) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && active_.size() + queue_.size() < config_.max_connections) {
      queue_.push_back(fd);
      metrics_->queued.Set(static_cast<double>(queue_.size()));
      queue_cv_.notify_one();
      return;
    }
  }
  metrics_->rejected.Increment();
  spdlog::warn("page service: too many connections ({}), refusing one", config_.max_connections);
  {
    std::lock_guard lock(mu_);
    if (reject_queue_.size() < kMaxPendingRejects) {
      reject_queue_.push_back(fd);
      reject_cv_.notify_one();
      return;
    }
  }
  ::close(fd);
}

void Server::RejectLoop() {
  const std::string message =
      "too many connections (max_connections " + std::to_string(config_.max_connections) + ")";
  while (true) {
    int fd = -1;
    {
      std::unique_lock lock(mu_);
      reject_cv_.wait(lock, [&] { return reject_stop_ || !reject_queue_.empty(); });
      if (reject_queue_.empty()) return;
      fd = reject_queue_.front();
      reject_queue_.pop_front();
    }
    Reject(fd, pgwire::kSqlStateTooManyConnections, message, kRejectBudget);
  }
}

void Server::HandlerLoop() {
  while (true) {
    int fd = -1;
    int watch = -1;
    {
      std::unique_lock lock(mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      fd = queue_.front();
      queue_.pop_front();
      // A second descriptor of the socket, so Shutdown can shut it down
      // while Serve owns (and eventually closes) `fd`.
      watch = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      active_.push_back(watch);
      metrics_->queued.Set(static_cast<double>(queue_.size()));
      metrics_->handlers_busy.Set(static_cast<double>(active_.size()));
    }
    page_service_->Serve(fd);
    {
      std::lock_guard lock(mu_);
      active_.erase(std::find(active_.begin(), active_.end(), watch));
      if (watch >= 0) ::close(watch);
      metrics_->handlers_busy.Set(static_cast<double>(active_.size()));
    }
    handler_cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    --handlers_running_;
  }
  handler_cv_.notify_all();
}

void Server::HousekeepingLoop() {
  std::unique_lock lock(housekeeping_mu_);
  while (
      !housekeeping_cv_.wait_for(lock, kHousekeepingPeriod, [&] { return housekeeping_stop_; })) {
    lock.unlock();
    cache_->Tick();
    lock.lock();
  }
}

DaemonStatus Server::GetDaemonStatus() const {
  DaemonStatus s;
  s.listen_pg_addr = ListenAddress{config_.listen_pg.host, pg_port_}.ToString();
  s.listen_pg_socket = socket_path_;
  s.listen_http_addr = ListenAddress{config_.listen_http.host, http_port_}.ToString();
  s.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  std::lock_guard lock(mu_);
  s.connections_active = active_.size();
  s.connections_queued = queue_.size();
  return s;
}

// --------------------------------------------------------------- shutdown

Status Server::Shutdown() {
  if (shut_down_) return shutdown_status_;
  shut_down_ = true;
  if (!started_) {  // Start failed: release what it built, quietly
    StopAccepting();
    if (tenants_ != nullptr) shutdown_status_ = tenants_->Shutdown(/*checkpoint=*/false);
    CloseFd(lock_fd_);
    return shutdown_status_;
  }
  spdlog::info("shutting down: no new connections");
  StopAccepting();
  if (page_service_ != nullptr) page_service_->RequestStop();
  RejectQueued();
  if (!WaitForHandlers(config_.shutdown_timeout)) {
    spdlog::warn("connections still open after shutdown_timeout: closing their sockets");
    ForceCloseActive();
    WaitForHandlers(config_.shutdown_timeout);
  }
  JoinHandlers();
  Status status = Status::Ok();
  if (tenants_ != nullptr) {
    spdlog::info("checkpointing every timeline");
    status = tenants_->Shutdown(/*checkpoint=*/true);
    if (!status.ok()) spdlog::error("shutdown checkpoint failed: {}", status.ToString());
  }
  if (http_ != nullptr) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  StopHousekeeping();
  CloseFd(lock_fd_);
  shutdown_status_ = status;
  spdlog::info("shutdown complete{}", status.ok() ? "" : " (checkpoint failed)");
  return status;
}

void Server::StopAccepting() {
  if (acceptor_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    acceptor_.join();
  }
  {
    std::lock_guard lock(mu_);
    reject_stop_ = true;  // the rejecter finishes what is queued, then exits
  }
  reject_cv_.notify_all();
  if (rejecter_.joinable()) rejecter_.join();
  CloseFd(tcp_listener_);
  CloseFd(unix_listener_);
  CloseFd(wake_fd_);
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
}

void Server::RejectQueued() {
  std::deque<int> queued;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queued.swap(queue_);
    metrics_->queued.Set(0);
  }
  queue_cv_.notify_all();
  for (const int fd : queued) {
    metrics_->rejected_shutdown.Increment();
    Reject(fd, pgwire::kSqlStateAdminShutdown, "pageserver is shutting down", kRejectBudget);
  }
}

bool Server::WaitForHandlers(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return handler_cv_.wait_for(lock, timeout, [&] { return handlers_running_ == 0; });
}

void Server::ForceCloseActive() {
  std::lock_guard lock(mu_);
  for (const int fd : active_) {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
}

void Server::JoinHandlers() {
  bool all_done = false;
  {
    std::lock_guard lock(mu_);
    all_done = handlers_running_ == 0;
  }
  for (std::thread& t : handlers_) {
    if (all_done) {
      t.join();
    } else {
      t.detach();
    }
  }
  handlers_.clear();
  if (!all_done) {
    leaked_threads_ = true;
    spdlog::error("some connection handlers did not stop within 2 x shutdown_timeout");
  }
}

void Server::StopHousekeeping() {
  {
    std::lock_guard lock(housekeeping_mu_);
    housekeeping_stop_ = true;
  }
  housekeeping_cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
}

Server::~Server() {
  static_cast<void>(Shutdown());
  if (leaked_threads_) {
    // Detached handlers may still use these; the process is about to _exit.
    static_cast<void>(page_service_.release());
    static_cast<void>(tenants_.release());
    static_cast<void>(cache_.release());
    static_cast<void>(io_.release());
  }
}

// --------------------------------------------------------------- process

void SetUpLogging(LogLevel level) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get("pageserver");
  if (logger == nullptr) logger = spdlog::stderr_color_mt("pageserver");
  spdlog::set_default_logger(logger);
  switch (level) {
    case LogLevel::kTrace:
      spdlog::set_level(spdlog::level::trace);
      break;
    case LogLevel::kDebug:
      spdlog::set_level(spdlog::level::debug);
      break;
    case LogLevel::kInfo:
      spdlog::set_level(spdlog::level::info);
      break;
    case LogLevel::kWarn:
      spdlog::set_level(spdlog::level::warn);
      break;
    case LogLevel::kError:
      spdlog::set_level(spdlog::level::err);
      break;
    case LogLevel::kOff:
      spdlog::set_level(spdlog::level::off);
      break;
  }
}

namespace {
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  const sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal() {
  const sigset_t set = TerminationSignals();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace pageserver::server
