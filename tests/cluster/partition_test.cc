// Network partitions with real processes in separate network namespaces: a cvfsd cut off
// from etcd and its peers (still running, unlike kill -9) loses its lease and is marked
// down; the manager, when cut off, is replaced; after healing, the node re-registers by
// itself and comes back up under the new manager.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("partitioned node goes down and rejoins; partitioned manager is replaced") {
  constexpr int kLeaseTtlS = 2;
  ClusterOptions opts;
  opts.nodes = 4;
  opts.lease_ttl_s = kLeaseTtlS;
  opts.network_namespaces = true;
  auto started = TestCluster::Start(opts);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;
  auto status = cluster.StatusJson();
  REQUIRE(status.ok());
  const std::string manager = (*status)["manager"];
  const int manager_index = IndexOfNode(cluster, manager);
  REQUIRE(manager_index >= 0);
  const int victim = (manager_index + 1) % cluster.size();
  const std::string victim_id = cluster.node_id(victim);
  INFO(cluster.DumpLogs());

  // A plain node cut off: down within the lease TTL (plus the manager's reaction).
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(cluster.PartitionNode(victim).ok());
  auto down = cluster.WaitForStatus(
      [&](const nlohmann::json& s) { return TestCluster::NodeState(s, victim_id) == "down"; },
      std::chrono::seconds(kLeaseTtlS * 3 + 10));
  REQUIRE(down.ok());
  std::printf("partitioned %s marked down in %.2f s (lease TTL %d s)\n", victim_id.c_str(),
              SecondsSince(t0), kLeaseTtlS);
  CHECK(SecondsSince(t0) < kLeaseTtlS + 4);
  CHECK((*down)["manager"] == manager);
  CHECK(cluster.running(victim));  // it was cut off, not killed

  // Healed: it notices its lease is gone, registers again and is up in a newer epoch.
  const uint64_t epoch_down = (*down)["epoch"];
  t0 = std::chrono::steady_clock::now();
  REQUIRE(cluster.HealNode(victim).ok());
  auto back = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, victim_id) == "up" && s.value("epoch", 0ull) > epoch_down;
      },
      30s);
  REQUIRE(back.ok());
  std::printf("healed %s up again in %.2f s, epoch %llu\n", victim_id.c_str(), SecondsSince(t0),
              static_cast<unsigned long long>((*back)["epoch"].get<uint64_t>()));

  // The manager cut off: another node takes over with a newer epoch.
  const uint64_t epoch_before = (*back)["epoch"];
  t0 = std::chrono::steady_clock::now();
  REQUIRE(cluster.PartitionNode(manager_index).ok());
  auto failover = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        const std::string m = s.value("manager", "");
        return !m.empty() && m != manager && s.value("epoch", 0ull) > epoch_before &&
               TestCluster::NodeState(s, manager) == "down";
      },
      std::chrono::seconds(kLeaseTtlS * 3 + 10));
  REQUIRE(failover.ok());
  const std::string new_manager = (*failover)["manager"];
  std::printf("partitioned manager %s replaced by %s in %.2f s\n", manager.c_str(),
              new_manager.c_str(), SecondsSince(t0));

  // Healed: the old manager rejoins as a plain member; the new one stays in charge.
  REQUIRE(cluster.HealNode(manager_index).ok());
  auto rejoined = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, manager) == "up" && s.value("healthy", false);
      },
      30s);
  REQUIRE(rejoined.ok());
  CHECK((*rejoined)["manager"] == new_manager);
  CHECK((*rejoined)["epoch"].get<uint64_t>() > (*failover)["epoch"].get<uint64_t>());
}

}  // namespace
}  // namespace cvfs::testing
