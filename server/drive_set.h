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
//   - Add() (`cvfs drive add`) checks and labels one more drive like Open does and appends it:
//     its index is the next one, and indexes never change while the daemon runs (PG members
//     name drives by index). With a state directory the added paths are recorded in
//     `<state_dir>/drives.added` (written atomically before Add returns), and Open appends
//     them after the configured drives, in the order they were added, skipping any the
//     config now lists itself. Keep the config's order stable: indexes follow it.
//   - Probe() checks every ok drive (statvfs, its label and serial, a 4 KiB synced write);
//     a drive that fails is marked kFailed with the time, for good: its cells are treated as
//     lost (docs/design/rebuild.md, "Drives"). Refresh() measures only ok drives.
//   - With a state directory, the serial of every drive used is kept in
//     `<state_dir>/drives.serials`; a known drive found at Open without its label (its mount
//     missing: a bare mount point) or with another serial is opened kFailed rather than
//     labelled anew, so nothing is written to the wrong file system and the daemon starts.
//   - Replace() (`cvfs drive replace`) puts a fresh directory at a drive's index: labelled
//     with a new serial, state ok. With a state directory the replacement is recorded in
//     `<state_dir>/drives.replaced` (before Replace returns) and Open uses it instead of the
//     configured path at that index.
// Thread-safety: Refresh, Probe, Snapshot, Add and Replace may be called from different
// threads; Adds and Replaces are serialized.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs::server {

// Name of the file in the state directory that lists the drives added at run time.
inline constexpr const char* kAddedDrivesFile = "drives.added";
// Name of the file in the state directory that lists drives replaced at run time.
inline constexpr const char* kReplacedDrivesFile = "drives.replaced";

// A drive Add() took: its index in Snapshot() (= NodeRecord::drives) and its figures.
struct AddedDrive {
  size_t index = 0;
  DriveInfo drive;
};

class DriveSet {
 public:
  // `state_dir` "": added drives are neither loaded nor persisted (tests, tools).
  // kConfigError also for an unreadable or malformed `<state_dir>/drives.added`.
  static Result<std::unique_ptr<DriveSet>> Open(const std::vector<std::string>& paths,
                                                const std::string& cluster,
                                                const std::string& node_id,
                                                const std::string& state_dir = "");

  // Re-measures every drive. kIoError if a drive stopped answering statvfs.
  Status Refresh();
  std::vector<DriveInfo> Snapshot() const;
  uint64_t capacity_bytes() const;
  uint64_t free_bytes() const;

  // Adds the drive directory `path` (absolute). kInvalidArgument for a relative path,
  // kAlreadyExists when it (or the same directory under another name) is a drive already,
  // kConfigError when it is missing, not a writable directory or labelled for another node,
  // kResourceExhausted beyond kMaxDrivesPerNode, kIoError when the list cannot be persisted.
  // On any error the set and the persisted list are unchanged (a label may have been written).
  Result<AddedDrive> Add(const std::string& path);

  // Probes every ok drive; returns the indexes that failed now (logged as drive.failed).
  std::vector<size_t> Probe(int64_t now_ms);

  // Replaces drive `index` with the directory `path` (absolute, writable, and either
  // unlabelled or labelled for this node). kInvalidArgument for a relative path or an index
  // out of range, kAlreadyExists when `path` is a drive in use, kConfigError as Add, kIoError
  // when the replacement cannot be persisted. On error the set is unchanged.
  Result<AddedDrive> Replace(size_t index, const std::string& path);

 private:
  DriveSet(std::vector<DriveInfo> drives, std::set<std::pair<dev_t, ino_t>> identities,
           std::vector<std::string> added, std::string cluster, std::string node_id,
           std::string state_dir);
  Status PersistAdded(const std::vector<std::string>& added) const;

  // Const after construction.
  const std::string cluster_;
  const std::string node_id_;
  const std::string state_dir_;

  std::mutex add_mu_;                       // serializes Add
  std::vector<std::string> added_;          // guarded by add_mu_: paths in drives.added
  std::map<size_t, std::string> replaced_;  // guarded by add_mu_: drives.replaced
  std::map<size_t, std::string> serials_;   // guarded by add_mu_: drives.serials
  mutable std::mutex mu_;
  std::vector<DriveInfo> drives_;                 // guarded by mu_
  std::set<std::pair<dev_t, ino_t>> identities_;  // guarded by mu_: the drives' dirs
};

// Capacity and free bytes of the file system holding `path`.
Result<DriveInfo> MeasureDrive(const std::string& path);

}  // namespace cvfs::server
