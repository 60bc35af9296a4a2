// RebuildWorker: brings recovering PG slots up to date (docs/design/rebuild.md).
//
// Every cvfsd runs one. It works on the PGs whose primary it is (the first readable member,
// core/stripe_routing.h) and that list recovering slots (FilesystemInfo::recovering) whose
// node is up, most endangered first: a PG's priority is the number of cells it lacks
// (members down or recovering), and a worker starts a PG only when no PG anywhere in the
// cluster with work to do lacks more (every worker computes that from the same map), so
// all PGs missing 2 cells are rebuilt before any PG missing 1 is. For one PG it
//   1. copies the PG's metadata to every recovering metadata replica (MetaService::
//      ResyncReplica, under the PG's mutex: a consistent copy);
//   2. lists the PG's stripes from every readable member (kListStripes; the union, so a
//      stripe one member missed is still found);
//   3. rebuilds each stripe through the coordinator (StripeCoordinator::RebuildStripe:
//      under the stripe lock, decode from N current cells, rewrite every member that lacks
//      the committed version), throttled to `bandwidth_bytes_per_s`;
//   4. reports the PG done (RebuildDoneRecord through `report_done`); the manager then
//      drops its slots from `recovering` in the next map.
// When it has nothing to do under a new map it drops the cells of slots it no longer holds
// (CollectGarbage).
// Writes meanwhile go to the recovering members too, so a stripe written after step 2 is
// current there already. A new map epoch ends the current PG early when its work changed.
// Progress goes to `publish_progress` about once a second (JSON, see ProgressJson) and to the
// log (one line per PG).
//
// Thread-safety: SetMap from any thread; one internal thread does the work.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/recovery_planner.h"
#include "core/clock.h"
#include "core/cluster_map.h"
#include "net/peer_cache.h"
#include "net/rpc.h"
#include "server/data/data_service.h"
#include "server/meta/meta_service.h"

namespace cvfs::server {

struct RebuildWorkerOptions {
  NodeId self;
  uint64_t bandwidth_bytes_per_s = 0;  // 0: no limit
  Duration stripe_timeout = std::chrono::seconds(10);
  // Writes the PG's completion record (etcd); an error leaves the PG to be redone.
  std::function<Status(const control::RebuildDoneRecord&)> report_done;
  // Publishes this node's progress (etcd); best effort.
  std::function<void(const nlohmann::json&)> publish_progress;
};

struct RebuildWorkerStats {
  uint64_t pgs_done = 0;
  uint64_t stripes = 0;
  uint64_t cells = 0;
  uint64_t bytes = 0;
  uint64_t meta_bytes = 0;
  uint64_t errors = 0;
  uint64_t dropped_versions = 0;  // cell versions removed by CollectGarbage
};

class RebuildWorker {
 public:
  RebuildWorker(net::RpcEndpoint& endpoint, DataService& data, meta::MetaService& meta,
                Clock& clock, RebuildWorkerOptions options);
  ~RebuildWorker();  // Stop()
  RebuildWorker(const RebuildWorker&) = delete;
  RebuildWorker& operator=(const RebuildWorker&) = delete;

  void Start();
  void Stop();
  void SetMap(const ClusterMap& map);
  RebuildWorkerStats stats() const;

 private:
  struct PgWork {
    const FilesystemInfo* fs = nullptr;
    uint32_t pg = 0;
    int missing = 0;
    std::vector<RecoveringSlot> slots;  // recovering, node up
  };
  void Run();
  // The PGs this node should work on now under `map` (highest cluster-wide priority only).
  std::vector<PgWork> PlanWork(const ClusterMap& map);
  // Does one PG; OK when every slot is current and reported.
  Status RebuildPg(const std::shared_ptr<const ClusterMap>& map, const PgWork& work);
  Result<std::vector<std::pair<uint64_t, uint64_t>>> ListPgStripes(const ClusterMap& map,
                                                                   const PgWork& work);
  // Drops the local cells of slots this node no longer holds, in PGs that are whole without
  // them (every member up and current): a node back after its slots moved on, or the old
  // holder of a slot a rebalance moved.
  void CollectGarbage(const ClusterMap& map);
  void Throttle(uint64_t bytes);
  void Publish(bool force);
  bool Stopping();

  net::RpcEndpoint& endpoint_;
  DataService& data_;
  meta::MetaService& meta_;
  Clock& clock_;
  const RebuildWorkerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                  // mu_
  std::shared_ptr<const ClusterMap> map_;  // mu_
  RebuildWorkerStats stats_;               // mu_
  // mu_: what the worker is doing, for Publish.
  std::string state_ = "idle";
  uint32_t current_fs_ = 0, current_pg_ = 0;
  int current_missing_ = 0;
  uint64_t current_stripes_done_ = 0, current_stripes_total_ = 0;
  size_t queued_pgs_ = 0;
  int64_t busy_since_ms_ = 0;
  uint64_t busy_bytes_ = 0;  // bytes since busy_since_ms_

  // Worker thread only: slots reported done and not yet out of the map
  // (fs_id, pg, index, node, since_ms). The manager deletes only records it has read, so a
  // report is never lost; an entry goes when its slot leaves the map.
  std::set<std::tuple<uint32_t, uint32_t, uint16_t, std::string, int64_t>> reported_;
  uint64_t collected_epoch_ = 0;  // worker thread only
  uint64_t planned_epoch_ = 0;    // worker thread only: the last epoch PlanWork logged  // the map
                                  // epoch CollectGarbage last ran for
  TimePoint throttle_start_{};
  uint64_t throttle_bytes_ = 0;
  TimePoint last_publish_{};
  std::thread thread_;
};

}  // namespace cvfs::server
