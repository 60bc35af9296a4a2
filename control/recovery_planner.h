// RecoveryPlanner: the manager's decisions about PG slots whose member is not current
// (docs/design/rebuild.md). Pure functions over the map (no I/O, no clock).
//
// Each reconcile round the manager calls PlanRecovery with the map before and after the
// membership reconcile, the completion records the PGs' primaries wrote, and its options:
//   0. a drive replaced at its index (`cvfs drive replace`: a new serial) gets every slot it
//      holds listed as recovering (kRebuild) where it is;
//   1. a node that came back (down -> up, maintenance -> up, or re-registered with a new
//      pid: it restarted within its lease) gets each slot it still holds listed as recovering
//      (kResync): it missed the writes made while it was away; readers skip it until its primary
//      has brought it up to date;
//   2. completion records remove the slots they name, if the same node still holds the slot
//      since the same time (a stale record never clears a newer assignment);
//   2b. stale-slot reports (a write committed without an up member) list that slot as
//      recovering (kResync) if the node still holds it and is up; a slot already recovering
//      gets a new `since_ms`, so a completion record of work that began before the missed
//      write clears nothing and the primary goes over the PG again;
//   3. a node down for longer than the grace period, or a drive failed for longer than the
//      drive grace period, loses its slots: the PG table is
//      recomputed with AssignPlacementGroups(previous = the current table), so only its slots
//      move, and every slot that changed member is listed as recovering (kRebuild). Nodes
//      still within their grace keep their slots (they are presented to placement as in
//      maintenance). When placement fails (too few failure domains) the table is kept and
//      the failure reported once per map epoch;
//   4. scale-out: when a filesystem is whole (every member up, nothing recovering) and an up
//      node with a drive holds under 3/4 of the mean slot count (a node that joined holds
//      none), the table is recomputed with `previous` so that the fullest drives shed their
//      excess to it, and at most ONE changed slot per PG is adopted per round (a moving PG
//      lacks one cell until its new member is rebuilt, never more); rounds repeat until the
//      nodes hold their share. The old holders drop their copies once the PG is whole again
//      (RebuildWorker::CollectGarbage).
//   5. drain: slots of draining nodes and of drives being removed move to the least loaded eligible
//   node, at most one
//      per PG per round and only while the filesystem is whole (the node keeps serving
//      meanwhile, so nothing is lost; once it holds no slot it can be stopped for good).
// Slots of expired nodes move one by one to the target table's member, or, when that would
// put two members of a PG on one node or failure domain, to the least loaded eligible node;
// no other slot moves with them.
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs::control {

struct RecoveryOptions {
  int64_t node_grace_ms = 10 * 60 * 1000;  // a down node's slots move after this long
  // A failed drive's slots move after this long (its cells are gone; a node may only be
  // rebooting, so nodes get longer).
  int64_t drive_grace_ms = 60 * 1000;
  // A node holding no slot of a filesystem (it joined) gets its share once every node has
  // been up this long (nodes joining together are placed in one step).
  int64_t rebalance_delay_ms = 10 * 1000;
  // Nodes being drained (`cvfs node drain`, read by the manager each round): never chosen
  // for a slot, and their slots move away one per PG per round while the filesystem is whole.
  std::set<NodeId> draining;
  // Drives being removed (`cvfs drive remove`): like draining nodes, per drive.
  std::set<PgMember> removing;
};

// What a PG's primary reports when every recovering slot it worked on is current
// (stored under KeyLayout::RebuildDone(fs_id, pg)).
struct RebuildDoneRecord {
  uint32_t fs_id = 0;
  uint32_t pg = 0;
  std::vector<RecoveringSlot> slots;  // as listed in the map when the work began
  uint64_t stripes = 0;               // stripes examined
  uint64_t cells = 0;                 // cells written
  uint64_t bytes = 0;                 // data bytes written
  uint64_t meta_bytes = 0;            // metadata bytes copied
  int missing = 0;                    // cells the PG lacked when the work began (priority)
  NodeId by;                          // the primary that did it
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
};
nlohmann::json RebuildDoneToJson(const RebuildDoneRecord& record);
// kMalformedMessage naming the field.
Result<RebuildDoneRecord> RebuildDoneFromJson(const nlohmann::json& json);

// What a PG's primary reports when a write committed without one of the PG's members although
// that member was up in the map (its prepare or commit failed, or its peer was held
// unresponsive): the member's cell of that stripe is stale, so it must not be read until it
// is resynced (stored under KeyLayout::RebuildStale(fs_id, pg, index)).
struct StaleSlotRecord {
  uint32_t fs_id = 0;
  uint32_t pg = 0;
  uint16_t index = 0;
  NodeId node;        // the member that missed the write
  NodeId by;          // the primary that reports it
  int64_t at_ms = 0;  // when (the primary's clock), for the log
};
nlohmann::json StaleSlotToJson(const StaleSlotRecord& record);
// kMalformedMessage naming the field.
Result<StaleSlotRecord> StaleSlotFromJson(const nlohmann::json& json);

// Cells PG `pg` of `fs` lacks under `map`: members down, plus members recovering.
int MissingCells(const ClusterMap& map, const FilesystemInfo& fs, uint32_t pg);

// The steps above. `before` is the map as read (nullptr before the first map), `map` the
// reconciled one, changed in place. Returns true when any filesystem changed; one line per
// decision goes to `transitions`, placement failures to `failures` as {filesystem, message}.
bool PlanRecovery(const ClusterMap* before, ClusterMap* map,
                  const std::vector<RebuildDoneRecord>& done, const RecoveryOptions& options,
                  int64_t now_ms, std::vector<std::string>* transitions,
                  std::vector<std::pair<std::string, std::string>>* failures,
                  const std::vector<StaleSlotRecord>& stale = {});

}  // namespace cvfs::control
