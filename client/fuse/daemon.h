// Daemonizing a mount without hiding its failure: the process forks BEFORE it connects to
// the cluster (the client library starts threads, which a fork would lose); the parent
// waits until the child reports the outcome of the mount and exits with the child's code,
// so `cvfs-mount` and `mount -t cvfs` return only once the filesystem is mounted, or print
// why it is not and fail. The child keeps the terminal for its error messages until it
// reports.
// Thread-safety: call from the single thread of a starting process.
#pragma once

namespace cvfs::fuse {

class DaemonLink {
 public:
  // Forks. In the parent this never returns: it exits with the child's reported code (1
  // when the child died without reporting). In the child it returns a link to report on.
  // *failed (after printing why) when fork or pipe fails; the caller is then still the only
  // process.
  static DaemonLink Start(bool* failed);

  // Child: the mount is up. Detaches from the terminal (new session, stdio to /dev/null,
  // cwd /) and releases the parent with exit code 0.
  void ReportMounted();
  // Child: the mount failed with `exit_code` (after printing why on stderr).
  void ReportFailed(int exit_code);

 private:
  int fd_ = -1;  // write end of the pipe to the waiting parent
};

}  // namespace cvfs::fuse
