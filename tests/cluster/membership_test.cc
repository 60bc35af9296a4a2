// Membership and manager failover with real processes: etcd, munged and four cvfsd.
// kill -9 of the manager: another cvfsd takes over and the map epoch advances within a
// bounded time; kill -9 of a plain node: marked down within the lease TTL (plus the
// manager's reaction); a restarted node comes back up; a clean stop is seen at once.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("manager failover and down detection with kill -9") {
  constexpr int kLeaseTtlS = 2;
  ClusterOptions opts;
  opts.nodes = 4;
  opts.lease_ttl_s = kLeaseTtlS;
  auto started = TestCluster::Start(opts);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;

  auto status = cluster.StatusJson();
  REQUIRE(status.ok());
  const std::string manager = (*status)["manager"];
  const uint64_t epoch0 = (*status)["epoch"];
  const int manager_index = IndexOfNode(cluster, manager);
  INFO(status->dump(2));
  REQUIRE(manager_index >= 0);
  CHECK((*status)["nodes"].size() == 4);

  // kill -9 the manager.
  auto t0 = std::chrono::steady_clock::now();
  cluster.KillNode(manager_index);
  auto after = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return !s.value("manager", "").empty() && s.value("manager", "") != manager &&
               s.value("epoch", 0ull) > epoch0 && TestCluster::NodeState(s, manager) == "down";
      },
      std::chrono::seconds(kLeaseTtlS * 3 + 10));
  const double takeover_s = SecondsSince(t0);
  INFO(cluster.DumpLogs());
  REQUIRE(after.ok());
  std::printf("manager failover: %s -> %s, epoch %llu -> %llu in %.2f s (lease TTL %d s)\n",
              manager.c_str(), (*after)["manager"].get<std::string>().c_str(),
              static_cast<unsigned long long>(epoch0),
              static_cast<unsigned long long>((*after)["epoch"].get<uint64_t>()), takeover_s,
              kLeaseTtlS);
  CHECK(takeover_s < kLeaseTtlS * 3 + 5);

  // kill -9 a plain node (neither the old nor the new manager).
  const std::string new_manager = (*after)["manager"];
  int victim = -1;
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != manager_index && cluster.node_id(i) != new_manager) victim = i;
  }
  REQUIRE(victim >= 0);
  const std::string victim_id = cluster.node_id(victim);
  t0 = std::chrono::steady_clock::now();
  cluster.KillNode(victim);
  auto down = cluster.WaitForStatus(
      [&](const nlohmann::json& s) { return TestCluster::NodeState(s, victim_id) == "down"; },
      std::chrono::seconds(kLeaseTtlS * 3 + 10));
  const double down_s = SecondsSince(t0);
  REQUIRE(down.ok());
  std::printf("plain node %s marked down %.2f s after kill -9 (lease TTL %d s)\n",
              victim_id.c_str(), down_s, kLeaseTtlS);
  CHECK(down_s < kLeaseTtlS + 3);

  // Restart it: back up, with a new epoch.
  const uint64_t epoch_down = (*down)["epoch"];
  REQUIRE(cluster.StartNode(victim).ok());
  auto up = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, victim_id) == "up" && s.value("epoch", 0ull) > epoch_down;
      },
      20s);
  REQUIRE(up.ok());

  // A clean stop revokes the lease: down without waiting for the TTL.
  t0 = std::chrono::steady_clock::now();
  cluster.StopNode(victim);
  auto stopped = cluster.WaitForStatus(
      [&](const nlohmann::json& s) { return TestCluster::NodeState(s, victim_id) == "down"; },
      std::chrono::seconds(kLeaseTtlS * 3));
  REQUIRE(stopped.ok());
  std::printf("clean stop of %s seen as down in %.2f s\n", victim_id.c_str(), SecondsSince(t0));
  CHECK(SecondsSince(t0) < kLeaseTtlS * 0.75);  // faster than lease expiry
}

}  // namespace
}  // namespace cvfs::testing
