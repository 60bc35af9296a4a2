#include "tests/cluster/libcvfs_cluster.h"

#include <memory>

namespace cvfs::testing {

int MountCvfs(const TestCluster& cluster, const std::string& fs, cvfs_fs** out) {
  cvfs_mount_options options{};
  options.etcd_endpoints = cluster.etcd_endpoint().c_str();
  options.munge_socket = cluster.munge_socket().c_str();
  options.provider = cluster.provider().c_str();
  const std::string spec = cluster.cluster_name() + ":" + fs;
  return cvfs_mount(spec.c_str(), &options, out);
}

MountedCluster::~MountedCluster() {
  if (fs != nullptr) cvfs_unmount(fs);
}

Result<MountedCluster*> SharedMountedCluster(const std::string& fs_name) {
  // Destroyed at exit: the cluster's processes stop with it.
  static std::unique_ptr<MountedCluster> shared;
  static Status failed = Status::Ok();
  if (shared != nullptr) return shared.get();
  if (!failed.ok()) return failed;
  auto made = std::make_unique<MountedCluster>();
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, fs_name, "4+2", "64K");
  if (!started.ok()) {
    failed = started.status();
    return failed;
  }
  made->started = std::move(started).value();
  const TestCluster& cluster = *made->started.cluster;
  made->spec = cluster.cluster_name() + ":" + fs_name;
  if (const int rc = MountCvfs(cluster, fs_name, &made->fs); rc != 0) {
    failed = Status::Unavailable("cvfs_mount " + made->spec + ": " + cvfs_strerror(rc));
    return failed;
  }
  shared = std::move(made);
  return shared.get();
}

}  // namespace cvfs::testing
