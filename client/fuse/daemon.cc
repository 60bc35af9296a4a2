#include "client/fuse/daemon.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cvfs::fuse {
namespace {

void WriteByte(int fd, unsigned char byte) {
  while (write(fd, &byte, 1) < 0 && errno == EINTR) {
  }
}

}  // namespace

DaemonLink DaemonLink::Start(bool* failed) {
  *failed = false;
  DaemonLink link;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "cvfs-mount: pipe: %s\n", std::strerror(errno));
    *failed = true;
    return link;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "cvfs-mount: fork: %s\n", std::strerror(errno));
    close(fds[0]);
    close(fds[1]);
    *failed = true;
    return link;
  }
  if (pid > 0) {
    // Parent: wait for the child's one-byte report (its exit code).
    close(fds[1]);
    unsigned char code = 0;
    ssize_t n;
    while ((n = read(fds[0], &code, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1) _exit(code);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) _exit(WEXITSTATUS(status));
    std::fprintf(stderr, "cvfs-mount: the mount process exited before mounting (%s %d)\n",
                 WIFSIGNALED(status) ? "signal" : "status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    _exit(1);
  }
  close(fds[0]);
  setsid();
  link.fd_ = fds[1];
  return link;
}

void DaemonLink::ReportMounted() {
  if (fd_ < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  if (chdir("/") != 0) {
    // Not fatal: the daemon only keeps its old working directory busy.
  }
  const int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
  WriteByte(fd_, 0);
  close(fd_);
  fd_ = -1;
}

void DaemonLink::ReportFailed(int exit_code) {
  if (fd_ < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  WriteByte(fd_, static_cast<unsigned char>(exit_code == 0 ? 1 : exit_code));
  close(fd_);
  fd_ = -1;
}

}  // namespace cvfs::fuse
