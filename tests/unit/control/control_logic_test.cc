// Pure control-plane logic (no etcd): map reconciliation rules, status JSON shape,
// endpoint parsing and key layout.
#include <catch2/catch.hpp>

#include "control/cluster_admin.h"
#include "control/cluster_manager.h"
#include "control/etcd_client.h"
#include "control/keys.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using testing::MakeRecord;

std::map<NodeId, NodeRecord> Live(std::initializer_list<const char*> ids) {
  std::map<NodeId, NodeRecord> live;
  for (const char* id : ids) live.emplace(NodeId(id), MakeRecord(id));
  return live;
}

TEST_CASE("reconcile: first map, joins, down, return, takeover, free space") {
  const NodeId m1("n1");
  ClusterMap map;
  std::vector<std::string> lines;
  REQUIRE(ReconcileMap(std::nullopt, Live({"n1", "n2"}), "c", m1, 7, 1000, &map, &lines));
  CHECK(map.epoch == Epoch{1});
  CHECK(map.cluster == "c");
  CHECK(map.manager == m1);
  CHECK(map.manager_term == 7);
  REQUIRE(map.nodes.size() == 2);
  CHECK(map.nodes.at(NodeId("n2")).state == NodeState::kUp);
  CHECK(map.nodes.at(NodeId("n2")).since_ms == 1000);

  // Nothing changed: no write.
  ClusterMap untouched;
  CHECK_FALSE(ReconcileMap(map, Live({"n1", "n2"}), "c", m1, 7, 2000, &untouched, &lines));
  CHECK(untouched.epoch == Epoch{0});

  // Free space only: no epoch bump, no write.
  auto live = Live({"n1", "n2"});
  live.at(NodeId("n2")).drives[0].free_bytes = 1;
  CHECK_FALSE(ReconcileMap(map, live, "c", m1, 7, 2000, &untouched, &lines));

  // n2's registration vanished: down, epoch + 1.
  ClusterMap down;
  REQUIRE(ReconcileMap(map, Live({"n1"}), "c", m1, 7, 3000, &down, &lines));
  CHECK(down.epoch == Epoch{2});
  CHECK(down.nodes.at(NodeId("n2")).state == NodeState::kDown);
  CHECK(down.nodes.at(NodeId("n2")).since_ms == 3000);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "node n2 down (lease expired or revoked)");

  // Still gone: no change (down stays down, since_ms kept).
  CHECK_FALSE(ReconcileMap(down, Live({"n1"}), "c", m1, 7, 4000, &untouched, &lines));

  // It returns: up again, epoch + 1.
  ClusterMap back;
  REQUIRE(ReconcileMap(down, Live({"n1", "n2"}), "c", m1, 7, 5000, &back, &lines));
  CHECK(back.epoch == Epoch{3});
  CHECK(back.nodes.at(NodeId("n2")).state == NodeState::kUp);
  CHECK(back.nodes.at(NodeId("n2")).since_ms == 5000);

  // Membership change in a live record (new fabric address): record refreshed, epoch + 1.
  live = Live({"n1", "n2"});
  live.at(NodeId("n2")).fabric_address = "elsewhere";
  ClusterMap moved;
  REQUIRE(ReconcileMap(back, live, "c", m1, 7, 6000, &moved, &lines));
  CHECK(moved.epoch == Epoch{4});
  CHECK(moved.nodes.at(NodeId("n2")).record.fabric_address == "elsewhere");

  // Maintenance / out are kept even when the registration is gone.
  ClusterMap admin = moved;
  admin.nodes.at(NodeId("n2")).state = NodeState::kMaintenance;
  CHECK_FALSE(ReconcileMap(admin, Live({"n1"}), "c", m1, 7, 7000, &untouched, &lines));
  admin.nodes.at(NodeId("n2")).state = NodeState::kOut;
  CHECK_FALSE(ReconcileMap(admin, live, "c", m1, 7, 7000, &untouched, &lines));

  // A new manager (term) alone advances the epoch.
  ClusterMap takeover;
  REQUIRE(ReconcileMap(moved, live, "c", NodeId("n2"), 9, 8000, &takeover, &lines));
  CHECK(takeover.epoch == Epoch{5});
  CHECK(takeover.manager == NodeId("n2"));
  CHECK(takeover.manager_term == 9);
}

TEST_CASE("status JSON: exact shape, union of map and live registrations, health") {
  ClusterStatusInfo info;
  info.exists = true;
  info.config.name = "c1";
  SECTION("before any manager") {
    info.live = Live({"b", "a"});
    auto j = ClusterStatusToJson(info);
    CHECK(j["cluster"] == "c1");
    CHECK(j["epoch"] == 0);
    CHECK(j["manager"] == "");
    REQUIRE(j["nodes"].size() == 2);
    CHECK(j["nodes"][0]["id"] == "a");
    CHECK(j["nodes"][0]["state"] == "up");
    CHECK(j["healthy"] == false);  // no manager
    CHECK(j["counts"] == nlohmann::json{{"up", 2}, {"down", 0}, {"maintenance", 0}, {"out", 0}});
  }
  SECTION("with a map") {
    ClusterMap map;
    REQUIRE(ReconcileMap(std::nullopt, Live({"n1", "n2", "n3"}), "c1", NodeId("n1"), 5, 100, &map,
                         nullptr));
    map.nodes.at(NodeId("n3")).state = NodeState::kDown;
    info.map = map;
    info.live = Live({"n1", "n2", "n4"});                  // n4: registered, not yet in the map
    info.live.at(NodeId("n2")).drives[0].free_bytes = 42;  // fresher than the map
    info.manager = "n1";
    auto j = ClusterStatusToJson(info);
    std::vector<std::string> keys;
    for (auto& [k, v] : j.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"cluster", "counts", "epoch", "failure_domains",
                                           "filesystems", "healthy", "maintenance", "manager",
                                           "nodes", "protection", "rebuild"});
    CHECK(j["protection"] == "full");  // no filesystem: nothing lacks a cell
    CHECK(j["rebuild"]["active"] == false);
    CHECK(j["epoch"] == 1);
    CHECK(j["manager"] == "n1");
    REQUIRE(j["nodes"].size() == 4);
    const auto& n2 = j["nodes"][1];
    CHECK(n2["id"] == "n2");
    std::vector<std::string> node_keys;
    for (auto& [k, v] : n2.items()) node_keys.push_back(k);
    CHECK(node_keys == std::vector<std::string>{"address", "capacity_bytes", "draining", "drives",
                                                "endpoint", "failure_domain", "free_bytes", "host",
                                                "id", "provider", "since_ms", "slots", "state"});
    CHECK(n2["draining"] == false);
    CHECK(n2["slots"] == 0);  // no filesystem
    CHECK(n2["state"] == "up");
    CHECK(n2["failure_domain"] == "fd-n2");
    CHECK(n2["provider"] == "tcp;ofi_rxm");
    CHECK(n2["address"] == n2["endpoint"]);
    CHECK(n2["capacity_bytes"] == 3000);
    CHECK(n2["free_bytes"] == 42 + 500);
    CHECK(n2["since_ms"] == 100);
    REQUIRE(n2["drives"].size() == 2);
    CHECK(n2["drives"][0] == nlohmann::json{{"path", "/tmp/n2/d0"},
                                            {"capacity_bytes", 1000},
                                            {"free_bytes", 42},
                                            {"state", "ok"},
                                            {"index", 0},
                                            {"slots", 0},
                                            {"removing", false}});
    CHECK(j["nodes"][2]["state"] == "down");
    CHECK(j["nodes"][3]["id"] == "n4");
    CHECK(j["nodes"][3]["state"] == "up");
    CHECK(j["failure_domains"] == nlohmann::json::array({"fd-n1", "fd-n2", "fd-n3", "fd-n4"}));
    CHECK(j["counts"] == nlohmann::json{{"up", 3}, {"down", 1}, {"maintenance", 0}, {"out", 0}});
    CHECK(j["healthy"] == false);
    info.map->nodes.at(NodeId("n3")).state = NodeState::kUp;
    CHECK(ClusterStatusToJson(info)["healthy"] == true);
  }
}

TEST_CASE("endpoint parsing and validation") {
  auto ok = ParseEtcdEndpoints(" http://a:2379, https://10.0.0.2:2379/ ");
  REQUIRE(ok.ok());
  CHECK(ok->endpoints == std::vector<std::string>{"http://a:2379", "https://10.0.0.2:2379"});
  CHECK(ParseEtcdEndpoints("").status().code() == ErrorCode::kInvalidArgument);
  CHECK(ParseEtcdEndpoints("a:2379").status().code() == ErrorCode::kInvalidArgument);
  CHECK(ParseEtcdEndpoints("http://a").status().code() == ErrorCode::kInvalidArgument);
  CHECK(ParseEtcdEndpoints("http://a:99999").status().code() == ErrorCode::kInvalidArgument);
  CHECK(EtcdClient::Create(EtcdOptions{}).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("key layout") {
  KeyLayout keys("prod");
  CHECK(keys.Node(NodeId("n1")) == "/cvfs/prod/nodes/n1");
  CHECK(keys.Manager() == "/cvfs/prod/manager");
  CHECK(*keys.NodeIdFromKey("/cvfs/prod/nodes/n7") == NodeId("n7"));
  CHECK_FALSE(keys.NodeIdFromKey("/cvfs/prod/map").ok());
  CHECK(PrefixRangeEnd("/a/") == "/a0");
  CHECK(ValidateClusterName("-x").code() == ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cvfs::control
