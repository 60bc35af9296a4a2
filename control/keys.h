// The etcd key layout of a ConvergeFS cluster: the ONE place that spells a key. Everything
// of a cluster lives under `/cvfs/<cluster>/`:
//
//   config          cluster creation record {format, name, created_at_ms, settings};
//                   written once by CreateCluster, never lease-bound
//   nodes/<id>      a cvfsd's NodeRecord JSON, bound to the node's lease: its presence IS
//                   the node's liveness (lease expiry is the failure detector)
//   manager         election key, bound to the manager's lease, value = the manager's id;
//                   its create_revision is the manager's term (fencing token)
//   map             the ClusterMap JSON; written only by the manager with a txn that
//                   compares the previous mod_revision and the manager's term
//   admin/          records written by the CLI: admin/drain/<node> (`cvfs node drain`: move
//                   the node's slots elsewhere; {since_ms}); admin/remove-drive/<node>/<index>
//                   (`cvfs drive remove`: move that drive's slots elsewhere; {since_ms});
//                   admin/maintenance/<node> (`cvfs maintenance enter`: a request, queued in
//                   the order of its create revision; MaintenanceRequest JSON; deleting it
//                   withdraws the request or ends the grant)
//   maintenance/queue  the manager's view of the waiting requests (position, why each
//                   waits), rewritten when it changes; read by `cvfs maintenance list`
//   maintenance/history/<node>  the node's last finished maintenance (MaintenanceHistory
//                   JSON: outcome, bytes resynced), written by the manager
//   filesystems/<name>  a filesystem definition (FilesystemInfo JSON without groups),
//                   written once by `cvfs fs create` with a create-if-absent txn; the
//                   manager places it into the map (ClusterMap::filesystems)
//   rebuild/done/<fs_id>/<pg>  a PG's primary reports its recovering slots current
//                   (RebuildDoneRecord JSON); the manager clears them from the map and
//                   deletes the record
//   rebuild/stale/<fs_id>/<pg>/<index>  a PG's primary reports that a write committed
//                   without an up member (StaleSlotRecord JSON); the manager lists the slot
//                   as resync and deletes the record
//   rebuild/progress/<node>  a node's rebuild progress (JSON), bound to its lease
//   filesystem-next-id  the next filesystem id to hand out (decimal text); advanced in the
//                   same txn that writes a definition, so ids are unique and never reused
//
// Thread-safety: KeyLayout is immutable after construction; safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/node_id.h"
#include "core/placement_group.h"
#include "core/status.h"

namespace cvfs::control {

inline constexpr std::string_view kKeyRoot = "/cvfs/";
inline constexpr size_t kMaxClusterNameLength = 64;

// OK if `name` is 1..kMaxClusterNameLength characters of [A-Za-z0-9._-] starting with a
// letter or digit (it becomes a path component of every key); kInvalidArgument otherwise.
Status ValidateClusterName(std::string_view name);

class KeyLayout {
 public:
  // `cluster` must satisfy ValidateClusterName (asserted).
  explicit KeyLayout(std::string cluster);

  const std::string& cluster() const { return cluster_; }
  std::string Root() const { return std::string(kKeyRoot) + cluster_ + "/"; }
  std::string Config() const { return Root() + "config"; }
  std::string NodesPrefix() const { return Root() + "nodes/"; }
  std::string Node(const NodeId& id) const { return NodesPrefix() + id.str(); }
  std::string Manager() const { return Root() + "manager"; }
  std::string Map() const { return Root() + "map"; }
  std::string AdminPrefix() const { return Root() + "admin/"; }
  std::string DrainPrefix() const { return AdminPrefix() + "drain/"; }
  std::string Drain(const NodeId& id) const { return DrainPrefix() + id.str(); }
  std::string RemoveDrivePrefix() const { return AdminPrefix() + "remove-drive/"; }
  std::string RemoveDrive(const NodeId& id, uint32_t index) const {
    return RemoveDrivePrefix() + id.str() + "/" + std::to_string(index);
  }
  // The drive a key under RemoveDrivePrefix() names; kInvalidArgument for any other key.
  Result<PgMember> DriveFromRemoveKey(std::string_view key) const;
  std::string MaintenanceRequestPrefix() const { return AdminPrefix() + "maintenance/"; }
  std::string MaintenanceRequest(const NodeId& id) const {
    return MaintenanceRequestPrefix() + id.str();
  }
  std::string MaintenanceQueue() const { return Root() + "maintenance/queue"; }
  std::string MaintenanceHistoryPrefix() const { return Root() + "maintenance/history/"; }
  std::string MaintenanceHistory(const NodeId& id) const {
    return MaintenanceHistoryPrefix() + id.str();
  }
  std::string FilesystemsPrefix() const { return Root() + "filesystems/"; }
  // `name` must satisfy ValidateFilesystemName (the caller checks).
  std::string Filesystem(std::string_view name) const {
    return FilesystemsPrefix() + std::string(name);
  }
  std::string FilesystemNextId() const { return Root() + "filesystem-next-id"; }
  std::string RebuildDonePrefix() const { return Root() + "rebuild/done/"; }
  std::string RebuildDone(uint32_t fs_id, uint32_t pg) const {
    return RebuildDonePrefix() + std::to_string(fs_id) + "/" + std::to_string(pg);
  }
  std::string RebuildStalePrefix() const { return Root() + "rebuild/stale/"; }
  std::string RebuildStale(uint32_t fs_id, uint32_t pg, uint16_t index) const {
    return RebuildStalePrefix() + std::to_string(fs_id) + "/" + std::to_string(pg) + "/" +
           std::to_string(index);
  }
  std::string RebuildProgressPrefix() const { return Root() + "rebuild/progress/"; }
  std::string RebuildProgress(const NodeId& id) const { return RebuildProgressPrefix() + id.str(); }

  // The node id of a key under NodesPrefix(); kInvalidArgument for any other key.
  Result<NodeId> NodeIdFromKey(std::string_view key) const;

 private:
  std::string cluster_;
};

// The etcd range_end that makes a range cover exactly the keys starting with `prefix`.
std::string PrefixRangeEnd(std::string_view prefix);

}  // namespace cvfs::control
