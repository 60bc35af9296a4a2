// ClusterManager: the manager's map maintenance. Runs only while this node holds the
// election (ManagerElection) with `term`, and stops when it loses it.
//
// It watches NodesPrefix() and, on every change (and every kReconcileInterval as a safety
// net), reads the registrations and the map and writes the reconciled map:
//   - a live registration not in the map, or in it as kDown  -> kUp (since_ms = now)
//   - a kUp entry whose registration vanished                -> kDown (since_ms = now)
//   - kMaintenance / kOut entries keep their state (set by admin records)
//   - a live node whose registration changed membership fields (SameMembership false)
//     gets its record refreshed
//   - the map's manager/term differ from ours (a takeover)   -> manager = us, term
// Every such change advances the epoch by exactly one. Free-space-only changes are NOT
// written: the map does not churn with usage figures, and readers that want fresh free
// space read the live registration (ReadClusterStatus does).
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
#include <vector>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/clock.h"
#include "core/cluster_map.h"

namespace cvfs::control {

inline constexpr Duration kReconcileInterval = std::chrono::seconds(2);

// Pure map reconciliation (no I/O). Builds the next map from the current one (absent
// before the first manager), the live registrations and the manager identity. Returns true
// (and fills `next`, epoch advanced by one, and one line per transition in `transitions`,
// e.g. "node n3 down") when anything but free space changed; false leaves `next` untouched.
bool ReconcileMap(const std::optional<ClusterMap>& current,
                  const std::map<NodeId, NodeRecord>& live, const std::string& cluster,
                  const NodeId& manager, int64_t term, int64_t now_ms, ClusterMap* next,
                  std::vector<std::string>* transitions);

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
                                                       std::function<void()> on_deposed = {});
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
                 Duration elected_after, Clock* clock, std::function<void()> on_deposed);
  void Run();
  // One read-reconcile-write round; returns false when deposed.
  bool ReconcileOnce();

  // Const after construction.
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;
  const NodeId self_;
  const int64_t term_;
  const Duration elected_after_;
  Clock* const clock_;
  const std::function<void()> on_deposed_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;       // guarded by mu_
  bool stopped_ = false;        // guarded by mu_: Stop() was called
  bool dirty_ = true;           // guarded by mu_
  uint64_t written_epoch_ = 0;  // guarded by mu_

  bool announced_ = false;  // manager thread only
  std::unique_ptr<EtcdWatch> watch_;
  std::thread thread_;
};

}  // namespace cvfs::control
