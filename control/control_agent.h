// ControlAgent: the one facade a cvfsd uses for the control plane. It owns
//   - the node's registration (NodeRegistrar: lease-bound NodeRecord, the failure detector),
//   - its candidacy (ManagerElection) and, while elected, the map maintenance
//     (ClusterManager),
//   - a MapWatcher that tracks the newest ClusterMap.
// Everything runs on background threads; the daemon only reads map() / is_manager() or
// gets the map through SetMapCallback.
//
// Thread-safety: all methods are thread-safe. The map callback runs on the map watch
// thread (or the caller's thread in SetMapCallback); it must not call Stop().
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "control/cluster_manager.h"
#include "control/etcd_client.h"
#include "control/keys.h"
#include "control/maintenance_planner.h"
#include "control/manager_election.h"
#include "control/map_watcher.h"
#include "control/node_registrar.h"
#include "control/recovery_planner.h"
#include "core/clock.h"
#include "core/cluster_map.h"

namespace cvfs::control {

struct ControlAgentOptions {
  EtcdOptions etcd;
  std::string cluster;
  NodeRecord self;
  int64_t lease_ttl_s = 10;
  bool manager_eligible = true;
  Clock* clock = nullptr;          // nullptr: SystemClock
  RecoveryOptions recovery;        // used while this node is the manager
  MaintenanceOptions maintenance;  // likewise
};

class ControlAgent {
 public:
  // Checks the cluster exists (kNotFound "cluster 'x' does not exist: run `cvfs cluster
  // create x`"), registers (kAlreadyExists for a duplicate live node id), starts the
  // election and the map watcher. kUnavailable when etcd cannot be reached. On failure
  // nothing keeps running and nothing stays registered.
  static Result<std::unique_ptr<ControlAgent>> Start(ControlAgentOptions options);
  ~ControlAgent();  // Stop()
  ControlAgent(const ControlAgent&) = delete;
  ControlAgent& operator=(const ControlAgent&) = delete;

  // Rewrites this node's registration (free space changed, ...). The id must not change.
  Status UpdateSelf(const NodeRecord& record);
  std::optional<ClusterMap> map() const;  // latest map seen
  bool is_manager() const;
  int64_t manager_term() const;  // 0 when not manager
  // Receives every newer map; if one is known, the callback gets it at once.
  void SetMapCallback(std::function<void(const ClusterMap&)> callback);
  // Clean shutdown: resign management (delete the manager key if ours) and revoke the
  // lease. Idempotent.
  void Stop();

  // For tests and diagnostics.
  const std::shared_ptr<EtcdClient>& etcd() const { return etcd_; }
  const KeyLayout& keys() const { return keys_; }
  LeaseId registration_lease() const;

 private:
  ControlAgent(ControlAgentOptions options, std::shared_ptr<EtcdClient> etcd);
  void OnElected(int64_t term, Duration waited);
  void OnLost(int64_t term);

  // Const after construction.
  const ControlAgentOptions options_;
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;

  // Set in Start before any thread can observe them; torn down in Stop.
  std::unique_ptr<NodeRegistrar> registrar_;
  std::unique_ptr<MapWatcher> map_watcher_;
  std::unique_ptr<ManagerElection> election_;

  mutable std::mutex mu_;
  std::unique_ptr<ClusterManager> manager_;  // guarded by mu_: running while elected
  bool stopped_ = false;                     // guarded by mu_
  std::mutex stop_mu_;                       // serializes Stop()
};

}  // namespace cvfs::control
