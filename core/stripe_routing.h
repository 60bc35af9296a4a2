// Stripe routing: where the cells of one stripe live under one ClusterMap, which members are
// up, and which one is the primary (the first member whose node is up). Shared by the
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

// The fabric address `node` registered ("" when unknown).
const std::string& NodeAddress(const ClusterMap& map, const NodeId& node);

struct StripeRoute {
  const FilesystemInfo* fs = nullptr;
  const PlacementGroup* pg = nullptr;
  std::vector<bool> up;  // per member index (= cell index): its node is up
  int up_count = 0;
  int primary = -1;  // index of the first up member; -1 when none is up

  int width() const { return fs->geometry.width(); }
  const PgMember& member(int cell) const { return pg->members[cell]; }
  // "PG 17 has 3 of 6 members up; 4+2 needs 4" when fewer than N members are up.
  Status CheckWritable() const;
};

// Routes stripe `stripe` of `inode` in `fs`. kNotFound when the filesystem is not placed,
// kInternal when its PG table is inconsistent with its geometry.
Result<StripeRoute> RouteStripe(const ClusterMap& map, const FilesystemInfo& fs, uint64_t inode,
                                uint64_t stripe);

}  // namespace cvfs
