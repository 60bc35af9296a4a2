// DriveSet: the local drives (directories on local SSDs) a cvfsd contributes.
//
// Contract:
//   - Open() requires every configured drive to be an existing, writable directory
//     (kConfigError otherwise: the daemon must never silently write into the root file
//     system because a mount is missing). Each drive gets a label file `.cvfs-drive`
//     {cluster, node_id, index} on first use; a drive labelled for another node or cluster
//     is refused (kConfigError), so a drive moved between nodes is not reused by mistake.
//   - Two configured paths on the same file system are accepted with a warning (capacity
//     would be counted twice; the log says so).
//   - Refresh() re-reads capacity and free space (statvfs); Snapshot() returns the last
//     figures as DriveInfo for the node's registration.
// Thread-safety: Refresh and Snapshot may be called from different threads.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs::server {

class DriveSet {
 public:
  static Result<std::unique_ptr<DriveSet>> Open(const std::vector<std::string>& paths,
                                                const std::string& cluster,
                                                const std::string& node_id);

  // Re-measures every drive. kIoError if a drive stopped answering statvfs.
  Status Refresh();
  std::vector<DriveInfo> Snapshot() const;
  uint64_t capacity_bytes() const;
  uint64_t free_bytes() const;

 private:
  explicit DriveSet(std::vector<DriveInfo> drives) : drives_(std::move(drives)) {}
  mutable std::mutex mu_;
  std::vector<DriveInfo> drives_;  // guarded by mu_
};

// Capacity and free bytes of the file system holding `path`.
Result<DriveInfo> MeasureDrive(const std::string& path);

}  // namespace cvfs::server
