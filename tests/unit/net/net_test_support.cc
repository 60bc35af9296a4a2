#include "tests/unit/net/net_test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace cvfs::net::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void FillPattern(char* data, size_t len, uint8_t seed) {
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = static_cast<char>(x);
  }
}

uint64_t Fnv1a(const char* data, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; ++i) {
    h ^= static_cast<uint8_t>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

void RegisterTestHandlers(RpcEndpoint& ep) {
  ep.RegisterHandler(kEcho, [](const RpcContext&, std::string_view p) {
    return Result<std::string>(std::string(p));
  });
  ep.RegisterHandler(kFail, [](const RpcContext&, std::string_view p) {
    return Result<std::string>(Status::Conflict("conflict: " + std::string(p)));
  });
  ep.RegisterHandler(kSleepMs, [](const RpcContext&, std::string_view p) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(std::string(p).c_str())));
    return Result<std::string>(std::string("slept"));
  });
  ep.RegisterHandler(
      kFillRegion, [&ep](const RpcContext& ctx, std::string_view p) -> Result<std::string> {
        if (p.size() != RemoteRegion::kEncodedSize + 1) {
          return Result<std::string>(Status::InvalidArgument("bad fill request"));
        }
        CVFS_ASSIGN_OR_RETURN(RemoteRegion remote, RemoteRegion::Decode(p.substr(0, 24)));
        std::vector<char> buf(remote.length);
        FillPattern(buf.data(), buf.size(), static_cast<uint8_t>(p[24]));
        CVFS_ASSIGN_OR_RETURN(auto mr, ep.RegisterMemory(buf.data(), buf.size()));
        CVFS_RETURN_IF_ERROR(
            ep.RmaWrite(ctx.peer, *mr, 0, buf.size(), remote, 0, std::chrono::seconds(20)));
        return Result<std::string>(std::string("filled"));
      });
  ep.RegisterHandler(
      kChecksumRegion, [&ep](const RpcContext& ctx, std::string_view p) -> Result<std::string> {
        CVFS_ASSIGN_OR_RETURN(RemoteRegion remote, RemoteRegion::Decode(p));
        std::vector<char> buf(remote.length);
        CVFS_ASSIGN_OR_RETURN(auto mr, ep.RegisterMemory(buf.data(), buf.size()));
        CVFS_RETURN_IF_ERROR(
            ep.RmaRead(ctx.peer, *mr, 0, buf.size(), remote, 0, std::chrono::seconds(20)));
        return Result<std::string>(std::to_string(Fnv1a(buf.data(), buf.size())));
      });
}

namespace {

pid_t SpawnArgv(const std::vector<std::string>& argv, int stdout_fd, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int logfd = log.empty() ? open("/dev/null", O_WRONLY)
                            : open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(logfd, 2);
    dup2(stdout_fd >= 0 ? stdout_fd : logfd, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// libfabric's shm provider names its regions /dev/shm/<pid>:<...>; a process killed with
// SIGKILL never removes them. Left behind they fill /dev/shm (GBs over a few test runs), and
// a later process that gets the same pid cannot open its shm endpoint ("Device or resource
// busy"). Removes the regions of a reaped process.
void RemoveShmRegionsOf(pid_t pid) {
  const std::string prefix = std::to_string(pid) + ":";
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/dev/shm", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) {
      std::error_code ignored;
      std::filesystem::remove(it->path(), ignored);
    }
  }
}

void KillAndReap(pid_t* pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  RemoveShmRegionsOf(*pid);
  *pid = -1;
}

}  // namespace

Result<std::unique_ptr<PrivateMunged>> PrivateMunged::Start(const std::string& key_file) {
  std::unique_ptr<PrivateMunged> m(new PrivateMunged());
  CVFS_ASSIGN_OR_RETURN(m->dir_, cvfs::testing::MakeTempDir("cvfs-net-munge"));
  CVFS_ASSIGN_OR_RETURN(m->daemon_, cvfs::testing::MungeDaemon::Start(m->dir_, key_file));
  return m;
}

PrivateMunged::~PrivateMunged() {
  daemon_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::Start(const std::string& provider,
                                                            bool require_auth,
                                                            const std::string& munge_socket,
                                                            uint16_t port) {
  std::unique_ptr<ServerProcess> s(new ServerProcess());
  int fds[2];
  if (pipe(fds) != 0) return Status::IoError("pipe failed");
  std::vector<std::string> argv = {std::string(CVFS_BIN_DIR) + "/rpc_test_server", provider,
                                   require_auth ? "1" : "0",
                                   munge_socket.empty() ? "-" : munge_socket};
  if (port != 0) argv.push_back(std::to_string(port));
  s->pid_ = SpawnArgv(argv, fds[1], "/tmp/cvfs-rpc-test-server.log");
  close(fds[1]);
  std::string line;
  const std::string prefix = "ADDRESS ";
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  char c;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fds[0], &c, 1);
    if (n <= 0) break;
    if (c != '\n') {
      line += c;
      continue;
    }
    if (line.rfind(prefix, 0) == 0) break;
    line.clear();  // some other output line
  }
  close(fds[0]);
  if (line.rfind(prefix, 0) != 0) {
    return Status::Unavailable("rpc_test_server did not print its address: '" + line + "'");
  }
  s->address_ = line.substr(prefix.size());
  return s;
}

ServerProcess::~ServerProcess() { Kill(); }

void ServerProcess::Kill() { KillAndReap(&pid_); }

}  // namespace cvfs::net::testing
