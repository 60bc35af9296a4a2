// ClusterManager: the manager's map maintenance. Runs only while this node holds the
// election (ManagerElection) with `term`, and stops when it loses it.
//
// It watches NodesPrefix() and, on every change (and every kReconcileInterval as a safety
// net), reads the registrations and the map and writes the reconciled map:
//   - a live registration not in the map, or in it as kDown  -> kUp (since_ms = now)
//   - a kUp entry whose registration vanished                -> kDown (since_ms = now)
//   - kMaintenance / kOut entries keep their state (grants: PlanMaintenance)
//   - a live node whose registration changed membership fields (SameMembership false)
//     gets its record refreshed
//   - the map's manager/term differ from ours (a takeover)   -> manager = us, term
// Every such change advances the epoch by exactly one. Free-space-only changes are NOT
// written: the map does not churn with usage figures, and readers that want fresh free
// space read the live registration (ReadClusterStatus does).
//
// Filesystems: it also watches FilesystemsPrefix() and places every defined filesystem
// that is not in the map yet: AssignPlacementGroups(map, {N, P, pg_count}) over the
// reconciled nodes, written into ClusterMap::filesystems in the same fenced write (one epoch
// step). A placed filesystem's table is never recomputed here when nodes go down or come
// back; slots move only through PlanRecovery (control/recovery_planner.h): resync of
// returning nodes, reassignment after the grace period, completion records. When placement fails
// (fewer eligible failure domains than N+P) the manager logs `manager.place_failed` once and
// retries when the map changes (a node joins or comes back), not on every round. A round in which
// neither membership nor definitions changed writes nothing.
//
// Fencing: the write is a txn comparing the map's mod_revision (KeyMissing for the first
// map) AND CreateRevisionIs(Manager(), term). A deposed manager's write therefore fails
// (kDeposed) however late it arrives; the ClusterManager then stops writing and reports it.
//
// Thread-safety: public methods are thread-safe; the callback runs on the manager thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "control/maintenance_planner.h"
#include "control/recovery_planner.h"
#include "core/clock.h"
#include "core/cluster_map.h"

namespace cvfs::control {

inline constexpr Duration kReconcileInterval = std::chrono::seconds(2);
// Largest serialized map the manager writes. etcd refuses requests above 1.5 MiB by default;
// a map that could not be written would freeze membership, so a filesystem whose table
// would push the map past this is not placed (use fewer PGs).
inline constexpr size_t kMaxMapBytes = 1 << 20;

// Pure map reconciliation (no I/O). Builds the next map from the current one (absent
// before the first manager), the live registrations and the manager identity. Returns true
// (and fills `next`, epoch advanced by one, and one line per transition in `transitions`,
// e.g. "node n3 down") when anything but free space changed; false leaves `next` untouched.
bool ReconcileMap(const std::optional<ClusterMap>& current,
                  const std::map<NodeId, NodeRecord>& live, const std::string& cluster,
                  const NodeId& manager, int64_t term, int64_t now_ms, ClusterMap* next,
                  std::vector<std::string>* transitions);

// Pure filesystem placement (no I/O). For every definition in `defined` whose name is not in
// map->filesystems, computes its PG table against *map and adds it (groups filled). A
// definition whose placement fails (too few failure domains, or the map would exceed
// kMaxFilesystemsPerMap or kMaxMapBytes) is left out and its error is appended to `failures` as
// {name, message}; `skip` names definitions not to try this round (they failed against an
// unchanged map). Returns true when map->filesystems changed (the caller advances the epoch
// once for the whole write); one "filesystem x placed ..." line per placement goes to
// `transitions`. Filesystems in the map without a definition are kept as they are.
bool PlaceFilesystems(const std::map<std::string, FilesystemInfo>& defined,
                      const std::map<std::string, uint64_t>& skip, ClusterMap* map,
                      std::vector<std::string>* transitions,
                      std::vector<std::pair<std::string, std::string>>* failures);

// Reads the definitions under FilesystemsPrefix(); malformed ones are skipped (logged).
Result<std::map<std::string, FilesystemInfo>> ReadFilesystemDefinitions(EtcdClient& etcd,
                                                                        const KeyLayout& keys);

enum class MapWriteOutcome {
  kWritten,   // the map was replaced
  kMapMoved,  // the map changed since expected_mod_revision: re-read and retry
  kDeposed,   // the election key no longer has create_revision == term: stop managing
};

struct MapWrite {
  MapWriteOutcome outcome = MapWriteOutcome::kWritten;
  int64_t mod_revision = 0;  // of the written map (kWritten)
};

// The fenced map write described above. expected_mod_revision 0: the map must not exist.
Result<MapWrite> WriteMapFenced(EtcdClient& etcd, const KeyLayout& keys, const ClusterMap& map,
                                int64_t expected_mod_revision, int64_t term);

// Reads the live registrations under NodesPrefix(); malformed ones are skipped (logged).
Result<std::map<NodeId, NodeRecord>> ReadRegistrations(EtcdClient& etcd, const KeyLayout& keys,
                                                       int64_t* revision = nullptr);

// Reads the map: nullopt when none was written yet; `mod_revision` receives its mod
// revision (0 when absent).
Result<std::optional<ClusterMap>> ReadMap(EtcdClient& etcd, const KeyLayout& keys,
                                          int64_t* mod_revision = nullptr);

class ClusterManager {
 public:
  // `elected_after` is reported in the takeover log line. `on_deposed` runs (on the
  // manager thread) when a fenced write proved that `term` is no longer the manager's.
  static Result<std::unique_ptr<ClusterManager>> Start(std::shared_ptr<EtcdClient> etcd,
                                                       KeyLayout keys, NodeId self, int64_t term,
                                                       Duration elected_after, Clock* clock,
                                                       std::function<void()> on_deposed = {},
                                                       RecoveryOptions recovery = {},
                                                       MaintenanceOptions maintenance = {});
  ~ClusterManager();  // Stop()
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Stops the manager thread and its watch; nothing is written after it returns. Idempotent.
  void Stop();
  // Wakes the manager to reconcile now (e.g. an admin record changed).
  void Poke();

  int64_t term() const { return term_; }
  // The last epoch this manager wrote (0 before its first write).
  uint64_t written_epoch() const;

 private:
  ClusterManager(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeId self, int64_t term,
                 Duration elected_after, Clock* clock, std::function<void()> on_deposed,
                 RecoveryOptions recovery, MaintenanceOptions maintenance);
  void Run();
  // One read-reconcile-write round; returns false when deposed.
  bool ReconcileOnce();
  // Every maintenance request and each node's last finished maintenance.
  Status ReadMaintenance(std::vector<MaintenanceRequest>* requests,
                         std::map<NodeId, MaintenanceHistory>* history);
  // After a round: history records of ended grants, spent requests deleted, the queue
  // published when it changed.
  void FinishMaintenance(const MaintenancePlan& plan);

  // Const after construction.
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;
  const NodeId self_;
  const int64_t term_;
  const Duration elected_after_;
  Clock* const clock_;
  const std::function<void()> on_deposed_;
  const RecoveryOptions recovery_;
  const MaintenanceOptions maintenance_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;       // guarded by mu_
  bool stopped_ = false;        // guarded by mu_: Stop() was called
  bool dirty_ = true;           // guarded by mu_
  uint64_t written_epoch_ = 0;  // guarded by mu_

  bool announced_ = false;  // manager thread only
  // Manager thread only: filesystem name -> map epoch at which its placement last failed
  // (not retried, nor logged again, until the epoch moves).
  std::map<std::string, uint64_t> place_failed_at_;
  std::unique_ptr<EtcdWatch> watch_;
  std::unique_ptr<EtcdWatch> fs_watch_;
  std::unique_ptr<EtcdWatch> rebuild_watch_;
  std::unique_ptr<EtcdWatch> drain_watch_;
  std::unique_ptr<EtcdWatch> stale_watch_;
  std::unique_ptr<EtcdWatch> remove_watch_;
  std::unique_ptr<EtcdWatch> maintenance_watch_;
  std::string published_queue_;  // manager thread only: the last queue written
  // Manager thread only: filesystem -> epoch at which re-placing its slots last failed.
  std::map<std::string, uint64_t> rebuild_failed_at_;
  std::thread thread_;
};

}  // namespace cvfs::control
