#include "tests/support/pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace pageserver::testing {

namespace {

using common::Result;
using common::Status;

std::string BinDir() {
  const char* dir = std::getenv("PS_PG_BINDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/lib/postgresql/15/bin";
}

std::string BaseTmpDir() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

bool IsPostgresBinary(const std::string& name) {
  for (const char* b : {"initdb", "pg_ctl", "pgbench", "pg_basebackup", "psql", "postgres"}) {
    if (name == b) return true;
  }
  return false;
}

// The user the binaries run as when we are root.
const passwd* ClusterUser() {
  if (const passwd* pw = ::getpwnam("postgres")) return pw;
  return ::getpwnam("nobody");
}

// The file's text from byte `from`, at most the last `max` bytes of it.
std::string Tail(const std::string& path, size_t from, size_t max) {
  std::ifstream in(path);
  in.seekg(static_cast<std::streamoff>(from));
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  return text.size() <= max ? text : text.substr(text.size() - max);
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// A TCP port that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 54321;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 54321;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// fork + exec with stdout and stderr redirected; returns the wait status.
// `stdout_path` is truncated unless it is the stderr log.
Result<int> Spawn(const std::vector<std::string>& argv, const std::string& stdout_path,
                  const std::string& stderr_path) {
  const int mode = stdout_path == stderr_path ? O_APPEND : O_TRUNC;
  const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0644);
  if (out < 0) return Status::FromErrno(errno, "open " + stdout_path);
  const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err < 0) {
    ::close(out);
    return Status::FromErrno(errno, "open " + stderr_path);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  if (pid < 0) return Status::FromErrno(errno, "fork");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "waitpid");
  }
  return status;
}

Status ChownTree(const std::string& dir, uid_t uid, gid_t gid) {
  std::error_code ec;
  if (::chown(dir.c_str(), uid, gid) != 0) return Status::FromErrno(errno, "chown " + dir);
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) {
      return Status::FromErrno(errno, "chown " + it->path().string());
    }
  }
  if (ec) return Status::Internal("walking " + dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::optional<std::string> PgCluster::Unavailable() {
  for (const char* b : {"initdb", "pg_ctl", "pgbench", "pg_basebackup"}) {
    const std::string path = BinDir() + "/" + b;
    if (::access(path.c_str(), X_OK) != 0) return "Postgres binary " + path + " not found";
  }
  if (::geteuid() == 0 && ClusterUser() == nullptr) {
    return std::string("running as root and neither user postgres nor nobody exists");
  }
  return std::nullopt;
}

Result<std::unique_ptr<PgCluster>> PgCluster::Create() {
  if (const auto why = Unavailable()) return Status::Unsupported(*why);
  std::string pattern = BaseTmpDir() + "/ps_pgcluster_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp " + pattern);
  std::unique_ptr<PgCluster> pg(new PgCluster(pattern));
  if (::mkdir(pg->socket_dir().c_str(), 0700) != 0) {
    return Status::FromErrno(errno, "mkdir " + pg->socket_dir());
  }
  if (::geteuid() == 0) {
    const passwd* pw = ClusterUser();
    RETURN_IF_ERROR(ChownTree(pg->dir_, pw->pw_uid, pw->pw_gid));
  }
  RETURN_IF_ERROR(pg->Run({"initdb", "-D", pg->pgdata(), "-U", "postgres", "-A", "trust",
                           "--no-sync", "--no-instructions"}));
  return pg;
}

PgCluster::~PgCluster() {
  if (running_) {
    (void)Run({"pg_ctl", "-D", pgdata(), "-m", "immediate", "-w", "stop"});
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

Status PgCluster::Run(std::vector<std::string> argv, const std::string& stdout_path) {
  const std::string log = dir_ + "/commands.log";
  { std::ofstream(log, std::ios::app) << "$ " << Join(argv) << "\n"; }
  if (IsPostgresBinary(argv[0])) argv[0] = BinDir() + "/" + argv[0];
  if (::geteuid() == 0 && IsPostgresBinary(std::filesystem::path(argv[0]).filename())) {
    argv.insert(argv.begin(), {"runuser", "-u", ClusterUser()->pw_name, "--"});
  }
  std::error_code ec;
  const uintmax_t log_size_before = std::filesystem::file_size(log, ec);
  ASSIGN_OR_RETURN(const int status, Spawn(argv, stdout_path.empty() ? log : stdout_path, log));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status::Internal(Join(argv) + " failed (wait status " + std::to_string(status) +
                          "); its output:\n" + Tail(log, ec ? 0 : log_size_before, 4000));
}

Status PgCluster::Start() {
  port_ = FreePort();
  const std::string options = "-c listen_addresses='' -c port=" + std::to_string(port_) +
                              " -c unix_socket_directories=" + socket_dir() +
                              " -c fsync=off -c shared_buffers=16MB -c max_connections=20";
  RETURN_IF_ERROR(Run({"pg_ctl", "-D", pgdata(), "-l", dir_ + "/postgres.log", "-o", options, "-w",
                       "-t", "60", "start"}));
  running_ = true;
  return Status::Ok();
}

Status PgCluster::Stop() {
  RETURN_IF_ERROR(Run({"pg_ctl", "-D", pgdata(), "-m", "fast", "-w", "-t", "60", "stop"}));
  running_ = false;
  return Status::Ok();
}

Status PgCluster::Pgbench(int scale) {
  return Run({"pgbench", "-h", socket_dir(), "-p", std::to_string(port_), "-U", "postgres", "-i",
              "-s", std::to_string(scale), "-q", "postgres"});
}

Result<std::string> PgCluster::Sql(const std::string& sql) {
  const std::string out = dir_ + "/psql.out";
  std::error_code ignored;
  std::filesystem::remove(out, ignored);
  RETURN_IF_ERROR(Run({"psql", "-h", socket_dir(), "-p", std::to_string(port_), "-U", "postgres",
                       "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                      out));
  return Tail(out, 0, size_t{1} << 30);
}

Status PgCluster::BaseBackupTar(const std::string& out_path) {
  return Run({"pg_basebackup", "-h", socket_dir(), "-p", std::to_string(port_), "-U", "postgres",
              "-Ft", "-D", "-", "-X", "none", "-c", "fast"},
             out_path);
}

Status PgCluster::TarDataDir(const std::string& out_path, const std::string& format) {
  std::vector<std::string> argv = {"tar", "-cf", out_path, "-C", pgdata()};
  if (!format.empty()) argv.push_back("--format=" + format);
  argv.push_back(".");
  return Run(argv);
}

std::string PgCluster::ConnectionString() const {
  return "host=" + socket_dir() + " port=" + std::to_string(port_) +
         " user=postgres dbname=postgres";
}

}  // namespace pageserver::testing
