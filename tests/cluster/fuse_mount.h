// FUSE mounts for cluster tests: cvfs-mount as a foreground child process, and what
// /proc/mounts says about a mount point.
#pragma once

#include <chrono>
#include <string>

#include "tests/cluster/child_process.h"
#include "tests/cluster/cluster.h"

namespace cvfs::testing {

// The type of what is mounted on `dir` ("fuse.cvfs", ...), "" when nothing is.
std::string MountType(const std::string& dir);
// Waits until `dir` is (or is no longer) a cvfs mount; false on timeout or when `process`
// exited first.
bool WaitMountType(const std::string& dir, bool mounted, std::chrono::milliseconds timeout,
                   ChildProcess* process = nullptr);
// "-o" options that point a mount at `cluster` (etcd, provider, munge socket).
std::string ClusterAccessOptions(const TestCluster& cluster);

// A cvfs-mount in the foreground as a child process; unmounted (lazily, in case the
// process is gone) and stopped by the destructor. error() is empty once mounted.
class ForegroundMount {
 public:
  ForegroundMount(const TestCluster& cluster, const std::string& fs, std::string dir,
                  const std::string& extra_options, const std::string& log_path);
  ~ForegroundMount();
  ForegroundMount(const ForegroundMount&) = delete;
  ForegroundMount& operator=(const ForegroundMount&) = delete;
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  ChildProcess& process() { return process_; }

 private:
  std::string dir_;
  std::string error_;
  ChildProcess process_;
};

}  // namespace cvfs::testing
