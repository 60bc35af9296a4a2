// The value types of placement: a PG's ordered members, and the bounds of a protection
// scheme. Separate from core/placement.h so that the cluster map can hold PG tables.
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <vector>

#include "core/node_id.h"

namespace cvfs {

// Bounds of a protection scheme and of a PG table (also the decoder's bounds).
inline constexpr int kMinDataCells = 2;
inline constexpr int kMaxDataCells = 16;
inline constexpr int kMaxPgCount = 65536;
inline constexpr int kMaxPgWidth = kMaxDataCells + 4;  // N + P

struct PlacementPolicy {
  int data_cells = 4;    // N, 2..16
  int parity_cells = 2;  // P, 2 or 4
  int pg_count = 1024;   // 1..65536

  int width() const { return data_cells + parity_cells; }
};

// One slot of a PG: drive `drive_index` (index into NodeRecord::drives) of `node`.
struct PgMember {
  NodeId node;
  uint32_t drive_index = 0;

  bool operator==(const PgMember&) const = default;
  auto operator<=>(const PgMember&) const = default;
};

struct PlacementGroup {
  uint32_t id = 0;
  std::vector<PgMember> members;  // index i holds cell i; index 0 = preferred primary

  bool operator==(const PlacementGroup&) const = default;
};

}  // namespace cvfs
