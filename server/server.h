#pragma once

// Server: the pageserver daemon's objects and threads, built from a
// ServerConfig (RFC.md "Threading model" and "Shutdown").
//
// Start() in order: locks <data_dir>/pageserver.pid (one daemon per data
// directory), creates IoSettings, the PageCache, the TenantManager (loading
// every tenant), the PageService and the HttpApi; binds the page service's
// TCP listener, its Unix socket (<listen_pg_socket_dir>/.s.PGSQL.<port>,
// mode 0777 as Postgres' default) and the HTTP listener; only then starts
// the threads and logs one "listening on" line per listener:
//
//   page service listening on tcp 127.0.0.1:64000
//   page service listening on unix socket /tmp/.s.PGSQL.64000
//   http api listening on 127.0.0.1:9898
//
// Threads:
//   acceptor        poll()s both listeners and a wake-up eventfd, accepts,
//                   and queues each connection for a handler. When
//                   max_connections are already being served or queued it
//                   hands the connection to the rejecter instead.
//   rejecter        reads a refused connection's startup packet (answering
//                   SSLRequest/GSSENCRequest with 'N'), writes an
//                   ErrorResponse (FATAL, 53300, "too many connections
//                   (max_connections N)") and closes; within 250 ms each.
//                   More than 64 waiting are closed without a message.
//   handlers (N)    connection_threads of them; each takes the oldest queued
//                   connection and runs PageService::Serve on it. io_uring
//                   rings are per thread inside the engine.
//   http            httplib's listener thread (plus its worker pool).
//   housekeeping    PageCache::Tick() every 5 s: publishes the cache
//                   counters, ticks the overload detector.
//   (per timeline)  the flusher and compactor, owned by the timelines.
//
// Shutdown(), in order: stop accepting (the acceptor exits, listeners
// close, the socket file is removed); PageService::RequestStop(); queued
// connections get an ErrorResponse (57P01, "pageserver is shutting down");
// wait up to shutdown_timeout for the handlers to finish their connections;
// if some have not, shut their sockets down (their reads fail, Serve
// returns) and wait up to shutdown_timeout again; TenantManager::Shutdown
// (checkpoint = true); stop the HTTP server; stop housekeeping; release the
// data directory lock. The result is the checkpoint's status.
//
// Thread-safety: Start and Shutdown from one thread (main);
// GetDaemonStatus from any thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "server/config.h"
#include "server/http_api.h"

namespace httplib {
class Server;
}

namespace pageserver::page_cache {
class PageCache;
}

namespace pageserver::server {

class IoSettings;
class PageService;
class TenantManager;

class Server : public DaemonStatusSource {
 public:
  // Builds, binds and starts everything (see the file comment). Errors:
  // the data directory locked by another pageserver (AlreadyExists) or
  // unusable; io-uring asked for but unavailable; a listener that cannot be
  // bound (the address in use: AlreadyExists; another live server on the
  // Unix socket: AlreadyExists; a non-socket file at its path:
  // InvalidArgument). On error nothing is left running or bound.
  // REQUIRES: config.Validate() is OK; `registry` outlives the server.
  static common::Result<std::unique_ptr<Server>> Start(const ServerConfig& config,
                                                       common::Registry& registry);
  // Shutdown() if it has not run.
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The shutdown sequence (file comment). Returns the status of the final
  // checkpoint (TenantManager::Shutdown(true)). Idempotent: later calls
  // return the first result.
  common::Status Shutdown();

  // True when a handler thread did not return from Serve within the
  // shutdown bounds; it was detached and the process should _exit rather
  // than run static destructors under it.
  bool leaked_threads() const { return leaked_threads_; }

  // The bound ports (useful with port 0 in the config) and socket path.
  uint16_t pg_port() const { return pg_port_; }
  uint16_t http_port() const { return http_port_; }
  const std::string& socket_path() const { return socket_path_; }

  DaemonStatus GetDaemonStatus() const override;

 private:
  struct Metrics;
  Server(const ServerConfig& config, common::Registry& registry);

  // Start() steps.
  common::Status LockDataDir();
  common::Status BuildServices();
  common::Status BindListeners();
  common::Status BindUnixSocket();
  common::Status BindHttp();
  void StartThreads();

  // Threads.
  void AcceptLoop();
  void AcceptFrom(int listener, bool is_tcp);
  void Admit(int fd);
  void RejectLoop();
  void HandlerLoop();
  void HousekeepingLoop();

  // Shutdown() steps.
  void StopAccepting();
  void RejectQueued();
  bool WaitForHandlers(std::chrono::milliseconds timeout);
  void ForceCloseActive();
  void JoinHandlers();
  void StopHousekeeping();

  const ServerConfig config_;
  common::Registry& registry_;
  std::unique_ptr<Metrics> metrics_;
  const std::chrono::steady_clock::time_point started_at_;

  int lock_fd_ = -1;
  std::unique_ptr<IoSettings> io_;
  std::unique_ptr<page_cache::PageCache> cache_;
  std::unique_ptr<TenantManager> tenants_;
  std::unique_ptr<PageService> page_service_;
  std::unique_ptr<HttpApi> http_api_;
  std::unique_ptr<httplib::Server> http_;

  int tcp_listener_ = -1;
  int unix_listener_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the acceptor to exit
  uint16_t pg_port_ = 0;
  uint16_t http_port_ = 0;
  std::string socket_path_;  // "" when none was bound

  // The connection queue and the handlers' state.
  mutable std::mutex mu_;
  std::condition_variable queue_cv_;    // a connection queued, or stopping
  std::condition_variable handler_cv_;  // a handler finished a connection or exited
  std::deque<int> queue_;               // guarded by mu_
  std::vector<int> active_;             // guarded by mu_: dup()s of the fds being served
  size_t handlers_running_ = 0;         // guarded by mu_
  bool stopping_ = false;               // guarded by mu_
  // Connections refused for max_connections, answered by the rejecter
  // thread so a slow client cannot stall the acceptor.
  std::condition_variable reject_cv_;
  std::deque<int> reject_queue_;  // guarded by mu_
  bool reject_stop_ = false;      // guarded by mu_

  std::thread acceptor_;
  std::thread rejecter_;
  std::vector<std::thread> handlers_;
  std::thread http_thread_;
  std::thread housekeeping_;
  std::mutex housekeeping_mu_;
  std::condition_variable housekeeping_cv_;
  bool housekeeping_stop_ = false;  // guarded by housekeeping_mu_

  bool started_ = false;  // StartThreads ran
  bool shut_down_ = false;
  common::Status shutdown_status_;
  bool leaked_threads_ = false;
};

// Logging for the daemon: spdlog's default logger writes to stderr (stdout
// carries only --print-default-config) at `level`.
void SetUpLogging(LogLevel level);

// Blocks SIGTERM and SIGINT in the calling thread; threads created later
// inherit the mask, so the signals stay pending for WaitForTerminationSignal
// and never interrupt a worker. Also ignores SIGPIPE (a client that goes
// away must not kill the process). Call in main before Server::Start.
void BlockTerminationSignals();
// Waits (sigwait) for SIGTERM or SIGINT and returns it.
int WaitForTerminationSignal();

}  // namespace pageserver::server
