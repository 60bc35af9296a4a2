// placement_bench: cost and quality of AssignPlacementGroups (core/placement.h).
//
// For 8/64/512/4096 nodes (one drive and one failure domain each), 1024 and 16384 PGs, 4+2
// and 8+4: time to build the table from scratch, max/mean cells per drive and primaries per
// node, then the slots moved when one node leaves (ideal: exactly the slots it held) and when
// one node joins (ideal: its fair share, total cells / (nodes + 1)), each computed with the
// previous table. Figures go to docs/design/placement.md. Not a ctest: run by hand.
//
// Usage: placement_bench [--drives K]   (drives per node, default 1)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/placement.h"

namespace cvfs {
namespace {

ClusterMap MakeMap(int nodes, int drives) {
  ClusterMap map;
  map.cluster = "bench";
  map.epoch = Epoch{1};
  for (int i = 0; i < nodes; ++i) {
    NodeEntry entry;
    char name[16];
    std::snprintf(name, sizeof(name), "n%05d", i);
    entry.record.id = NodeId(name);
    entry.record.failure_domain = std::string("dom-") + name;
    entry.record.host = name;
    for (int d = 0; d < drives; ++d) {
      entry.record.drives.push_back(DriveInfo{"/d" + std::to_string(d), 1, 1});
    }
    map.nodes.emplace(entry.record.id, std::move(entry));
  }
  return map;
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

int Run(int drives) {
  std::printf("%6s %6s %5s | %9s %8s %8s | %9s %8s %6s | %9s %8s %6s\n", "nodes", "pgs", "EC",
              "assign_ms", "cells_mm", "prim_mm", "leave_mv", "ideal", "ratio", "join_mv", "ideal",
              "ratio");
  for (int nodes : {8, 64, 512, 4096}) {
    for (int pgs : {1024, 16384}) {
      for (auto [n, p] : {std::pair{4, 2}, std::pair{8, 4}}) {
        const PlacementPolicy policy{n, p, pgs};
        ClusterMap map = MakeMap(nodes, drives);
        const auto t0 = std::chrono::steady_clock::now();
        auto table = AssignPlacementGroups(map, policy);
        const auto t1 = std::chrono::steady_clock::now();
        if (!table.ok()) {
          std::printf("%6d %6d %2d+%d | refused: %s\n", nodes, pgs, n, p,
                      table.status().ToString().c_str());
          continue;
        }
        const PlacementStats stats = ComputePlacementStats(map, *table);

        // One node leaves (marked out): ideal movement is exactly the slots it held.
        ClusterMap left = map;
        const NodeId victim = std::next(left.nodes.begin(), nodes / 2)->first;
        left.nodes[victim].state = NodeState::kOut;
        uint64_t held = 0;
        for (const auto& pg : *table) {
          for (const auto& m : pg.members) held += m.node == victim ? 1 : 0;
        }
        auto after_leave = AssignPlacementGroups(left, policy, &*table);
        // One node joins: ideal movement is its fair share of all cells.
        ClusterMap joined = MakeMap(nodes + 1, drives);
        auto after_join = AssignPlacementGroups(joined, policy, &*table);
        if (!after_leave.ok() || !after_join.ok()) {
          std::printf("%6d %6d %2d+%d | leave/join failed\n", nodes, pgs, n, p);
          continue;
        }
        const uint64_t leave_moved = CountMovedSlots(*table, *after_leave);
        const uint64_t join_moved = CountMovedSlots(*table, *after_join);
        const double join_ideal =
            static_cast<double>(pgs) * policy.width() / static_cast<double>(nodes + 1);
        const PlacementStats join_stats = ComputePlacementStats(joined, *after_join);
        std::printf(
            "%6d %6d %2d+%d | %9.1f %8.3f %8.3f | %9llu %8llu %6.2f | %9llu %8.0f %6.2f "
            "(after join %.3f)\n",
            nodes, pgs, n, p, Ms(t1 - t0), stats.max_over_mean, stats.primaries_max_over_mean,
            static_cast<unsigned long long>(leave_moved), static_cast<unsigned long long>(held),
            held ? static_cast<double>(leave_moved) / static_cast<double>(held) : 0.0,
            static_cast<unsigned long long>(join_moved), join_ideal,
            static_cast<double>(join_moved) / join_ideal, join_stats.max_over_mean);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace cvfs

int main(int argc, char** argv) {
  int drives = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--drives") == 0 && i + 1 < argc) {
      drives = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--drives K]\n", argv[0]);
      return 2;
    }
  }
  if (drives < 1 || drives > 256) {
    std::fprintf(stderr, "--drives must be 1..256\n");
    return 2;
  }
  return cvfs::Run(drives);
}
