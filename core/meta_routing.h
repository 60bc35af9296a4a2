// Metadata routing (docs/design/namespace.md): which PG holds an inode's record, which
// members of a PG replicate its metadata (the first P+1) and which of them orders it (the
// first that is up). Shared by the backends and the client, which must agree on it.
// Thread-safety: value types over an immutable map snapshot, which must outlive the route.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cluster_map.h"
#include "core/status.h"

namespace cvfs {

// Inode ids carry their metadata PG: inode = (pg << kInodePgShift) | seq.
inline constexpr int kInodePgShift = 40;
inline constexpr uint64_t kMetaRootInode = 1;  // PG 0, seq 1
inline uint32_t MetaPgOfInode(uint64_t inode) {
  return static_cast<uint32_t>(inode >> kInodePgShift);
}

struct MetaRoute {
  const FilesystemInfo* fs = nullptr;
  const PlacementGroup* pg = nullptr;
  uint32_t pg_id = 0;
  std::vector<int> replicas;  // member indices 0..P (the first P+1 members)
  std::vector<bool> up;       // per entry of `replicas`
  std::vector<bool> current;  // per entry of `replicas`: up and not recovering
  // Member index of the first current replica; when none is current, of the first up one
  // (its takeover check copies the PG from any replica ahead of it); -1 when none is up.
  int primary = -1;

  const PgMember& member(int index) const { return pg->members[index]; }
  // "metadata of PG 17: none of its 3 replicas is up" when primary < 0.
  Status CheckAvailable() const;
};

// Routes metadata PG `pg_id` of `fs`. kNotFound when the filesystem is not placed,
// kInvalidArgument when pg_id >= pg_count, kInternal for an inconsistent PG table.
Result<MetaRoute> RouteMetaPg(const ClusterMap& map, const FilesystemInfo& fs, uint32_t pg_id);

}  // namespace cvfs
