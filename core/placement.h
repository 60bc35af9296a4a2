// Placement groups: which drives hold the N+P cells of the stripes of a filesystem.
//
// A filesystem has a fixed number of PGs (PlacementPolicy::pg_count). Each PG is an ordered
// list of N+P members (node, drive); member i holds cell i of every stripe of the PG (data
// cells first, then parity), and member 0 is the PG's preferred primary. The manager
// computes the table with AssignPlacementGroups from the cluster map alone (pure function:
// no I/O, no clock, no randomness) and stores it in the map; every process reads it from
// there and never recomputes it.
//
// Invariants of every table AssignPlacementGroups returns:
//   - exactly pg_count PGs, ids 0..pg_count-1 in order, each with exactly N+P members;
//   - the N+P members of a PG lie in N+P distinct failure domains (hence distinct nodes);
//   - every member is a drive that exists in the map (drive_index < drives.size()) of a node
//     that is up, or in maintenance and already held that slot in `previous`;
//   - the result depends only on the map's node ids, states, failure domains and drive
//     counts, the policy and `previous` (not on insertion order, process or platform).
// The algorithm and its measured balance/movement are in docs/design/placement.md.
//
// Thread-safety: pure functions over value types; safe to call concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cluster_map.h"
#include "core/node_id.h"
#include "core/placement_group.h"
#include "core/status.h"

namespace cvfs {

// OK when N, P and pg_count are within bounds; kInvalidArgument naming the bad value.
Status ValidatePlacementPolicy(const PlacementPolicy& policy);

// Computes the PG table for `map` under `policy`.
//
// Eligibility (node state in the map):
//   - kUp with at least one drive: may keep its slots from `previous` and take new ones;
//   - kMaintenance: keeps the slots it holds in `previous` (its data is still there and it
//     will catch up from the primaries' log), but is never chosen for a new slot;
//   - kDown, kOut, nodes absent from the map, and drives no longer listed: lose their slots,
//     which are refilled from up nodes. The manager therefore calls this for a down node only
//     once its grace period has expired, never on the first lease lapse.
// Failure domains: a domain is eligible if it has an up node with a drive, or (with
// `previous`) a maintenance node that keeps a slot.
//
// Without `previous` (or for PG ids beyond it) the table is built from scratch. With
// `previous` (the table currently in the map, same N+P), every slot whose member is still
// eligible keeps it, except that drives holding more than ceil(mean) cells shed the excess
// (a joining node then takes about its fair share and nothing else moves); vacated slots
// keep their index and are refilled. If pg_count grew, the new ids are built from scratch;
// if it shrank, the extra previous PGs are dropped.
//
// Errors: kInvalidArgument for a policy out of bounds, for `previous` whose PGs are not N+P
// wide, and when fewer than N+P failure domains are eligible ("4+2 needs 6 failure domains,
// the cluster has 5 up"). No partial table is returned on error.
Result<std::vector<PlacementGroup>> AssignPlacementGroups(
    const ClusterMap& map, const PlacementPolicy& policy,
    const std::vector<PlacementGroup>* previous = nullptr);

// Balance figures of a table against a map. Cells are counted per drive over every drive of
// every up or maintenance node (an empty new drive counts, with 0 cells); primaries (member
// 0) per such node, since the primary's work is the node's CPU and network.
struct PlacementStats {
  uint64_t drives = 0;
  uint64_t max_cells = 0;
  uint64_t min_cells = 0;
  double mean_cells = 0;
  double max_over_mean = 0;  // max_cells / mean_cells; 1.0 is perfect
  uint64_t nodes = 0;
  uint64_t max_primaries = 0;
  double mean_primaries = 0;
  double primaries_max_over_mean = 0;
};
PlacementStats ComputePlacementStats(const ClusterMap& map,
                                     const std::vector<PlacementGroup>& groups);

// Number of (PG id, index) slots whose member differs between the two tables: the cells that
// must be copied or rebuilt to move from `before` to `after`. PGs present in only one table
// count all their slots.
uint64_t CountMovedSlots(const std::vector<PlacementGroup>& before,
                         const std::vector<PlacementGroup>& after);

// JSON form, as stored in the map: [{"id": 0, "members": [["node-a", 0], ["node-b", 1], ...]},
// ...]. The compact member pairs keep a 16384-PG table small. FromJson never throws; it
// returns kMalformedMessage naming the field for wrong types, ids not 0..n-1 in order, more
// than kMaxPgCount PGs, widths outside 4..kMaxPgWidth or differing between PGs, invalid node
// ids, drive indexes >= kMaxDrivesPerNode, and a node appearing twice in one PG.
nlohmann::json PlacementGroupsToJson(const std::vector<PlacementGroup>& groups);
Result<std::vector<PlacementGroup>> PlacementGroupsFromJson(const nlohmann::json& json);

}  // namespace cvfs
