#include "tests/server/daemon_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace pageserver::testing {

using common::Result;
using common::Status;

namespace {

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// fork + exec with stdout and stderr to `log_path` (appending).
Result<pid_t> SpawnProcess(const std::vector<std::string>& args, const std::string& log_path,
                           const std::vector<std::string>& env) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::FromErrno(errno, "open " + log_path);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::FromErrno(errno, "fork");
  }
  if (pid == 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(log_fd);
  return pid;
}

// The exit code, or 128 + signal.
int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for `pid` up to `timeout`; nullopt while still running.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeWaitStatus(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string PageserverBinary() { return PS_PAGESERVER_BINARY; }

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

RunResult RunPageserver(const std::vector<std::string>& args, std::chrono::seconds timeout,
                        const std::vector<std::string>& env) {
  char tmpl[] = "/tmp/ps_run_XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  std::vector<std::string> argv = {PageserverBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result;
  Result<pid_t> pid = SpawnProcess(argv, tmpl, env);
  if (!pid.has_value()) {
    result.output = pid.error().ToString();
    return result;
  }
  std::optional<int> code = WaitFor(*pid, timeout);
  if (!code.has_value()) {
    ::kill(*pid, SIGKILL);
    code = WaitFor(*pid, std::chrono::seconds(10)).value_or(-1);
  }
  result.exit_code = *code;
  result.output = ReadFileText(tmpl);
  ::unlink(tmpl);
  return result;
}

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options,
                                              std::chrono::seconds timeout) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->options_ = options;
  d->config_path_ = options.work_dir + "/pageserver.toml";
  d->log_path_ = options.work_dir + "/pageserver.log";
  d->socket_dir_ = options.work_dir;
  d->pg_port_ = FreePort();
  d->http_port_ = FreePort();
  std::ofstream config(d->config_path_);
  config << "data_dir = \"" << options.data_dir << "\"\n"
         << "listen_pg_addr = \"127.0.0.1:" << d->pg_port_ << "\"\n"
         << "listen_pg_socket_dir = \"" << d->socket_dir_ << "\"\n"
         << "listen_http_addr = \"127.0.0.1:" << d->http_port_ << "\"\n"
         << options.extra_config << "\n";
  config.close();
  RETURN_IF_ERROR(d->Spawn(timeout));
  return d;
}

Status Daemon::Spawn(std::chrono::seconds timeout) {
  std::vector<std::string> args = {PageserverBinary(), "--config", config_path_};
  for (const std::string& o : options_.overrides) {
    args.push_back("-c");
    args.push_back(o);
  }
  ASSIGN_OR_RETURN(pid_, SpawnProcess(args, log_path_, options_.env));
  httplib::Client client("127.0.0.1", http_port_);
  client.set_connection_timeout(std::chrono::seconds(1));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::optional<int> code = WaitFor(pid_, std::chrono::milliseconds(0))) {
      pid_ = -1;
      return Status::Aborted("pageserver exited with " + std::to_string(*code) +
                             " during startup; log tail:\n" + Tail(Log(), 4000));
    }
    const auto res = client.Get("/v1/status");
    if (res && res->status == 200) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::TimedOut("pageserver did not answer /v1/status; log tail:\n" + Tail(Log(), 4000));
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, std::chrono::seconds(10));
  }
}

Result<int> Daemon::Stop(int sig, std::chrono::seconds timeout) {
  if (pid_ <= 0) return Status::InvalidArgument("pageserver is not running");
  ::kill(pid_, sig);
  std::optional<int> code = WaitFor(pid_, timeout);
  if (!code.has_value()) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, std::chrono::seconds(10));
    pid_ = -1;
    return Status::TimedOut("pageserver did not exit within the timeout; killed");
  }
  pid_ = -1;
  return *code;
}

Status Daemon::Restart() {
  if (pid_ > 0) return Status::InvalidArgument("pageserver is still running");
  return Spawn(std::chrono::seconds(60));
}

std::string Daemon::TcpConninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(pg_port_) + " connect_timeout=10";
}
std::string Daemon::UnixConninfo() const {
  return "host=" + socket_dir_ + " port=" + std::to_string(pg_port_) + " connect_timeout=10";
}
std::string Daemon::HttpUrl() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
std::string Daemon::Log() const { return ReadFileText(log_path_); }

}  // namespace pageserver::testing
