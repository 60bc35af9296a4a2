// Filesystem administration on the control plane: defining a filesystem (`cvfs fs create`),
// waiting for the manager to place it, and the status JSON of `cvfs fs list/status`. Used by
// the client library's AdminClient and by tests; never by the data path.
//
// A definition is FilesystemInfo JSON without groups under KeyLayout::Filesystem(name). It is
// written once, with a txn that requires the name to be free and advances the id counter
// (KeyLayout::FilesystemNextId()) it read, so two concurrent creates never share an id or a
// name. The manager (ClusterManager) then copies it into the map with its PG table.
//
// Thread-safety: free functions; safe to call concurrently with a shared EtcdClient.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/clock.h"
#include "core/cluster_map.h"

namespace cvfs::control {

// Default PGs per filesystem. 256 PGs of 6 members keep the map small (a 6-wide table is
// ~27 KB of JSON at 256 PGs, ~110 KB at 1024, and every process holds and re-reads the whole
// map on each epoch) while already spreading cells within a few percent of the mean on the
// small clusters this targets (6-32 nodes); `--pgs` raises it for large clusters.
inline constexpr uint32_t kDefaultPgCount = 256;

struct FilesystemSpec {
  std::string name;
  StripeGeometry geometry;
  uint32_t pg_count = kDefaultPgCount;
  bool root_squash = false;  // uid 0 acts as nobody in the namespace
};

// OK when the name, the geometry (ValidateStripeGeometry) and pg_count (1..kMaxPgCount) are
// valid; kInvalidArgument naming the bad value otherwise.
Status ValidateFilesystemSpec(const FilesystemSpec& spec);

// Failure domains of `map` that have at least one up node with at least one drive: the
// domains a new PG table can use.
size_t CountEligibleDomains(const ClusterMap& map);

// Writes the definition of `spec` with a fresh id. Refuses, writing nothing:
//   kInvalidArgument  bad spec, or N+P exceeds CountEligibleDomains of the current map
//                     ("4+2 needs 6 failure domains; the cluster has 5 with an up node and a
//                     drive"), or the cluster has no map yet, or a trial placement fails
//                     (the table would push the map past kMaxMapBytes: fewer PGs);
//   kAlreadyExists    a filesystem of that name is defined;
//   kConflict         the id counter kept moving under us (many concurrent creates).
// Returns the definition as written (id, created_ms; no groups).
Result<FilesystemInfo> DefineFilesystem(EtcdClient& etcd, const KeyLayout& keys,
                                        const FilesystemSpec& spec, int64_t now_ms);

// Polls the map until it holds filesystem `name` placed with id `id`; returns that map.
// kDeadlineExceeded after `timeout` (the definition stays: the manager places it later).
Result<ClusterMap> WaitForPlacement(EtcdClient& etcd, const KeyLayout& keys,
                                    const std::string& name, uint32_t id, Duration timeout);

// The stable status JSON of one filesystem (docs/admin/cli.md):
//   {name, id, protection "4+2", data_cells, parity_cells, cell_bytes, stripe_bytes, pg_count,
//    created_ms, placed, placement {drives, max_cells, min_cells, mean_cells, max_over_mean,
//    nodes, max_primaries, mean_primaries} (null until placed), state ("unplaced", "full",
//    "degraded", "critical", "unavailable"), pgs_degraded (PGs lacking a cell: a member
//    down or recovering), pgs_critical (PGs lacking exactly P cells: one more failure loses
//    data), pgs_unavailable (PGs lacking more than P cells, or with fewer than N members up),
//    pgs_rebuilding (PGs with a recovering slot), pgs_by_missing_cells {"1": n, "2": m},
//    recovering_slots, members_down (member slots on nodes that are not up)}.
// `fs` is the map's entry when placed, else the definition; `map` may be null (no map yet).
nlohmann::json FilesystemStatusToJson(const FilesystemInfo& fs, const ClusterMap* map);

// Every filesystem (definitions and map entries, by name) as status JSON, in one consistent
// read. An empty array when none is defined.
Result<nlohmann::json> ListFilesystemsJson(EtcdClient& etcd, const KeyLayout& keys);
// One filesystem's status JSON; kNotFound when it is not defined.
Result<nlohmann::json> FilesystemStatusJson(EtcdClient& etcd, const KeyLayout& keys,
                                            const std::string& name);

}  // namespace cvfs::control
