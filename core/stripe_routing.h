// Stripe routing: where the cells of one stripe live under one ClusterMap, which members are
// up and readable, and which one is the primary (the first readable member). Shared by the
// backends' stripe coordinator and the client, which must agree on it.
// Thread-safety: value types over an immutable map snapshot; the snapshot must outlive the
// StripeRoute built from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs {

// The filesystem with id `fs_id` in `map`, or nullptr.
const FilesystemInfo* FindFilesystemById(const ClusterMap& map, uint32_t fs_id);

// True when `node` is in the map and in state up.
bool NodeIsUp(const ClusterMap& map, const NodeId& node);
// A data member is up when its node is up and its drive is not failed (metadata lives in the
// node's state directory, so metadata routes ask NodeIsUp alone).
bool MemberIsUp(const ClusterMap& map, const PgMember& member);

// The fabric address `node` registered ("" when unknown).
const std::string& NodeAddress(const ClusterMap& map, const NodeId& node);

struct StripeRoute {
  const FilesystemInfo* fs = nullptr;
  const PlacementGroup* pg = nullptr;
  std::vector<bool> up;  // per member index (= cell index): its node is up
  // Per member index: up and not recovering (FilesystemInfo::recovering), i.e. it holds
  // every committed cell of the PG. Readers read only these; writers write every up member.
  std::vector<bool> readable;
  int up_count = 0;
  // The first readable member; when none is readable, the first up one; -1 when none is up.
  // A recovering member orders writes only when no current one is up (its discovery asks
  // every member, so it still finds each stripe's version).
  int primary = -1;

  int width() const { return fs->geometry.width(); }
  const PgMember& member(int cell) const { return pg->members[cell]; }
  // "PG 17 has 3 of 6 members up; 4+2 needs 4" when fewer than N members are up.
  Status CheckWritable() const;
};

// Routes every stripe of PG `pg_id` of `fs` (kInvalidArgument when out of range).
Result<StripeRoute> RoutePlacementGroup(const ClusterMap& map, const FilesystemInfo& fs,
                                        uint32_t pg_id);

// Routes stripe `stripe` of `inode` in `fs`. kNotFound when the filesystem is not placed,
// kInternal when its PG table is inconsistent with its geometry.
Result<StripeRoute> RouteStripe(const ClusterMap& map, const FilesystemInfo& fs, uint64_t inode,
                                uint64_t stripe);

}  // namespace cvfs
