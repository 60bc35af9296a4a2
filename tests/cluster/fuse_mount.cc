#include "tests/cluster/fuse_mount.h"

#include <fstream>
#include <sstream>
#include <thread>

namespace cvfs::testing {

std::string MountType(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  std::string type;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, point, fstype;
    fields >> device >> point >> fstype;
    if (point == dir) type = fstype;  // the last mount on a point is the visible one
  }
  return type;
}

bool WaitMountType(const std::string& dir, bool mounted, std::chrono::milliseconds timeout,
                   ChildProcess* process) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((MountType(dir) == "fuse.cvfs") == mounted) return true;
    if (process != nullptr && !process->Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string ClusterAccessOptions(const TestCluster& cluster) {
  return "etcd=" + cluster.etcd_endpoint() + ",provider=" + cluster.provider() +
         ",munge_socket=" + cluster.munge_socket();
}

ForegroundMount::ForegroundMount(const TestCluster& cluster, const std::string& fs, std::string dir,
                                 const std::string& extra_options, const std::string& log_path)
    : dir_(std::move(dir)) {
  std::string options = ClusterAccessOptions(cluster);
  if (!extra_options.empty()) options += "," + extra_options;
  SpawnOptions spawn;
  spawn.argv = {BinPath("cvfs-mount"),
                cluster.cluster_name() + ":" + fs,
                dir_,
                "-f",
                "-o",
                options,
                "--log-level",
                "debug"};
  spawn.log_path = log_path;
  auto child = ChildProcess::Spawn(spawn);
  if (!child.ok()) {
    error_ = child.status().ToString();
    return;
  }
  process_ = std::move(child).value();
  if (!WaitMountType(dir_, true, std::chrono::seconds(60), &process_)) {
    error_ = "not mounted on " + dir_ + "; log:\n" + TailFile(log_path, 40);
  }
}

ForegroundMount::~ForegroundMount() {
  if (MountType(dir_) == "fuse.cvfs") RunCommand("umount -l " + dir_);
  process_.Stop();
}

}  // namespace cvfs::testing
