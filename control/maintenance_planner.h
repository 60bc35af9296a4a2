// MaintenancePlanner: the manager's decisions about planned maintenance (a node rebooted
// for a kernel or firmware update, `scontrol reboot`), docs/design/maintenance.md. Pure
// functions over the map (no I/O, no clock).
//
// A request (`cvfs maintenance enter`, stored under KeyLayout::MaintenanceRequest(node)) is
// queued in the order of its etcd create revision. Each reconcile round PlanMaintenance:
//   1. moves every grant along (ClusterMap::maintenance):
//      - away (node kMaintenance) and the node registered again with a new pid or start
//        time (it rebooted), or the request was withdrawn while it still runs: the node is
//        up again and the grant is "catching up" (returned_ms); PlanRecovery then lists its
//        slots for resync (a kMaintenance -> kUp step is a return, like kDown -> kUp);
//      - away and withdrawn while the node is not registered: the node is down (an
//        ordinary absence from now on: its grace period, then rebuild);
//      - away for longer than its window: the same, logged as an expired window (a node
//        still running is brought back instead and resyncs);
//      - catching up and none of its slots recovering any more: the grant ends ("resynced");
//        catching up and the node down again: the grant ends ("failed"), an ordinary
//        failure;
//      - completion records of resyncs of its slots add their bytes to resynced_bytes;
//   2. grants queued requests in order while the rules hold (MaintenanceOptions): the node
//      is up, at most `max_domains` failure domains are in maintenance (a request in a
//      domain already in maintenance adds no risk), unless `allow_degraded` every PG is whole
//      (every member up, nothing recovering), and with the node's failure domain away every
//      PG keeps at least `min_spare` failures to spare (N + min_spare members available).
//      A request that cannot be granted blocks the requests behind it (first come, first
//      served), except those in a domain already granted. A granted node is kMaintenance:
//      readers and writers go around it at once (the primaries of its PGs move to other
//      members), its slots stay, no rebuild starts for it.
// Grants change only through the manager's fenced map write, so two requests asked at once
// are decided by one writer against one map: they can never both be granted when that
// would take more than the rules allow.
//
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/recovery_planner.h"
#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs::control {

struct MaintenanceOptions {
  int max_domains = 1;                 // failure domains in maintenance at once
  bool allow_degraded = false;         // grant while a PG is degraded or recovering
  int min_spare = 1;                   // failures every PG must still survive with the domain away
  int64_t window_ms = 30 * 60 * 1000;  // default window; a request may ask for its own
};

inline constexpr size_t kMaxMaintenanceReasonLength = 256;
inline constexpr int64_t kMaxMaintenanceWindowMs = int64_t{7} * 24 * 3600 * 1000;

// A request as the CLI writes it (JSON under KeyLayout::MaintenanceRequest).
struct MaintenanceRequest {
  NodeId node;
  std::string reason;
  int64_t requested_ms = 0;
  int64_t window_ms = 0;     // 0: MaintenanceOptions::window_ms
  int64_t revision = 0;      // etcd create revision (not in the JSON): the queue order
  int64_t mod_revision = 0;  // etcd mod revision (not in the JSON), for deleting it safely
};
nlohmann::json MaintenanceRequestToJson(const MaintenanceRequest& request);
// kMalformedMessage naming the field (reason too long, window out of range, bad node id).
Result<MaintenanceRequest> MaintenanceRequestFromJson(const nlohmann::json& json);

// A finished maintenance (KeyLayout::MaintenanceHistory(node)).
struct MaintenanceHistory {
  NodeId node;
  std::string reason;
  int64_t request_revision = 0;
  int64_t requested_ms = 0;
  int64_t granted_ms = 0;
  int64_t returned_ms = 0;  // 0: never came back while granted
  int64_t ended_ms = 0;
  uint64_t resynced_bytes = 0;
  std::string outcome;  // "resynced", "expired", "withdrawn", "failed"
};
nlohmann::json MaintenanceHistoryToJson(const MaintenanceHistory& history);
Result<MaintenanceHistory> MaintenanceHistoryFromJson(const nlohmann::json& json);

// One waiting request as the manager sees it (KeyLayout::MaintenanceQueue()).
struct QueuedMaintenance {
  NodeId node;
  std::string reason;
  int64_t requested_ms = 0;
  int position = 0;         // 1: next
  std::string waiting_for;  // why it is not granted yet
};
nlohmann::json MaintenanceQueueToJson(const std::vector<QueuedMaintenance>& queue);
Result<std::vector<QueuedMaintenance>> MaintenanceQueueFromJson(const nlohmann::json& json);

struct MaintenancePlan {
  std::vector<QueuedMaintenance> queue;   // requests still waiting after this round
  std::vector<MaintenanceHistory> ended;  // grants that ended this round
  // Requests to delete after the map is written: those of ended grants, and requests a
  // history record shows already served (a delete that failed before).
  std::vector<MaintenanceRequest> spent;
};

// Why `node` cannot be granted maintenance under `map` now, or "" when it can. The domains
// in maintenance are those of map.maintenance (including grants made earlier this round).
std::string MaintenanceBlocker(const ClusterMap& map, const NodeId& node,
                               const MaintenanceOptions& options);

// The steps above. `map` is the reconciled map (changed in place), `live` the current
// registrations, `requests` every stored request (any order), `history` each node's last
// finished maintenance, `done` this round's completion records. Returns true when the map
// changed; one line per decision goes to `transitions`.
bool PlanMaintenance(ClusterMap* map, const std::map<NodeId, NodeRecord>& live,
                     const std::vector<MaintenanceRequest>& requests,
                     const std::map<NodeId, MaintenanceHistory>& history,
                     const std::vector<RebuildDoneRecord>& done, const MaintenanceOptions& options,
                     int64_t now_ms, std::vector<std::string>* transitions, MaintenancePlan* plan);

}  // namespace cvfs::control
