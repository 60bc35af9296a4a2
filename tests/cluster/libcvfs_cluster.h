// Test clusters reached through libcvfs (include/cvfs/cvfs.h).
#pragma once

#include <string>

#include "core/status.h"
#include "cvfs/cvfs.h"
#include "tests/cluster/datapath_support.h"

namespace cvfs::testing {

// cvfs_mount of filesystem `fs` of `cluster` (its etcd, munged socket and provider): 0 or
// cvfs_mount's negative errno.
int MountCvfs(const TestCluster& cluster, const std::string& fs, cvfs_fs** out);

// A 6-node cluster with one 4+2 filesystem and a libcvfs mount of it.
struct MountedCluster {
  FilesystemCluster started;
  cvfs_fs* fs = nullptr;
  std::string spec;  // CLUSTER:FS
  MountedCluster() = default;
  MountedCluster(const MountedCluster&) = delete;
  MountedCluster& operator=(const MountedCluster&) = delete;
  ~MountedCluster();
};

// The cluster every test case of a binary shares: started by the first call (filesystem
// `fs_name`, 64 KiB cells), stopped at exit. The first failure is returned to every caller.
Result<MountedCluster*> SharedMountedCluster(const std::string& fs_name);

}  // namespace cvfs::testing
