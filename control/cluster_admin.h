// Cluster administration on the control plane: creating a cluster record and reading
// everything `cvfs status` shows. Used by the client library's AdminClient and by tests;
// never by the data path.
//
// Thread-safety: free functions; safe to call concurrently with a shared EtcdClient.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "control/maintenance_planner.h"
#include "core/cluster_map.h"

namespace cvfs::control {

inline constexpr int kClusterConfigFormat = 1;

struct ClusterConfig {
  int format = kClusterConfigFormat;
  std::string name;
  int64_t created_at_ms = 0;
};

// Writes KeyLayout(name).Config() = {format, name, created_at_ms} with a KeyMissing txn.
// kAlreadyExists when the cluster exists; kInvalidArgument on a bad name; etcd errors
// (kUnavailable, ...) otherwise. `now_ms` 0: the system wall clock.
Status CreateCluster(EtcdClient& etcd, std::string_view name, int64_t now_ms = 0);

struct ClusterStatusInfo {
  bool exists = false;                           // the config record is present
  ClusterConfig config;                          // when exists
  std::optional<ClusterMap> map;                 // absent before any manager wrote one
  std::map<NodeId, NodeRecord> live;             // current registrations (leases alive)
  std::string manager;                           // holder of the election key, "" if none
  int64_t manager_term = 0;                      // its create_revision, 0 if none
  int64_t revision = 0;                          // etcd revision the snapshot was read at
  std::vector<nlohmann::json> rebuild_progress;  // each node's RebuildWorker progress
  std::set<NodeId> draining;                     // nodes with an admin/drain/ record
  std::set<PgMember> removing;                   // drives with an admin/remove-drive/ record
  std::vector<MaintenanceRequest> maintenance_requests;  // admin/maintenance/ records
  std::vector<QueuedMaintenance> maintenance_queue;      // as the manager last published it
  std::vector<MaintenanceHistory> maintenance_history;   // each node's last, newest first
};

// Reads config, map, registrations and manager key in ONE consistent snapshot (a single
// read-only txn). Returns exists=false (not an error) when the cluster was never created.
Result<ClusterStatusInfo> ReadClusterStatus(EtcdClient& etcd, const KeyLayout& keys);

// The rebuild part of the status: {active, pgs_remaining, slots_remaining, pgs_done,
// bytes_written, rate_bytes_per_s, filesystems [{name, pgs, slots [...]}], nodes [progress]}.
nlohmann::json RebuildStatusToJson(const ClusterStatusInfo& info);

// The maintenance part of the status: {granted [{node, failure_domain, reason,
// requested_ms, granted_ms, window_ms, returned_ms, phase "away"|"catching_up",
// resynced_bytes}], queue [{node, reason, requested_ms, position, waiting_for}], recent
// [{node, reason, granted_ms, returned_ms, ended_ms, resynced_bytes, outcome}]}. A request
// the manager has not seen yet is in the queue with waiting_for "not yet seen by the manager".
nlohmann::json MaintenanceStatusToJson(const ClusterStatusInfo& info);

// One node's part of MaintenanceStatusToJson's result: {node, state "granted"|"queued"|
// "none", position (queued: 1 is next), waiting_for, phase (granted)}.
nlohmann::json MaintenanceStateOf(const nlohmann::json& maintenance, const std::string& node);

// The stable status JSON of include/cvfs/admin.h (docs/admin/cli.md) built from `info`.
nlohmann::json ClusterStatusToJson(const ClusterStatusInfo& info);

}  // namespace cvfs::control
