// Filesystems on the control plane: the manager's pure placement step (places once, keeps
// the table while nodes go down, skips and reports what cannot be placed), and, against a
// real etcd with real ControlAgents, the admin path: define -> placed within ~1 s, refused
// when the failure domains are too few (nothing written), duplicate names, unique ids under
// concurrent creates, a definition placed later once enough nodes joined, status JSON.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "control/cluster_admin.h"
#include "control/cluster_manager.h"
#include "control/control_agent.h"
#include "control/filesystem_admin.h"
#include "core/placement.h"
#include "cvfs/admin.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using namespace std::chrono_literals;
using testing::MakeRecord;
using testing::SharedEtcd;
using testing::WaitFor;

std::map<NodeId, NodeRecord> Live(int n) {
  std::map<NodeId, NodeRecord> live;
  for (int i = 1; i <= n; ++i) {
    const std::string id = "n" + std::to_string(i);
    live.emplace(NodeId(id), MakeRecord(id));
  }
  return live;
}

FilesystemInfo Definition(const std::string& name, uint32_t id, int n, int p,
                          uint32_t pg_count = 64) {
  FilesystemInfo fs;
  fs.name = name;
  fs.id = id;
  fs.geometry = StripeGeometry{n, p, 128 * 1024};
  fs.pg_count = pg_count;
  return fs;
}

TEST_CASE("PlaceFilesystems: places new definitions once, keeps tables, reports failures") {
  ClusterMap map;
  REQUIRE(ReconcileMap(std::nullopt, Live(6), "c", NodeId("n1"), 1, 1000, &map, nullptr));
  std::map<std::string, FilesystemInfo> defined = {{"a", Definition("a", 1, 4, 2)},
                                                   {"big", Definition("big", 2, 8, 4)}};
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::string>> failures;
  REQUIRE(PlaceFilesystems(defined, {}, &map, &lines, &failures));
  REQUIRE(map.filesystems.count("a") == 1);
  CHECK(map.filesystems.count("big") == 0);
  const FilesystemInfo& a = map.filesystems.at("a");
  REQUIRE(a.groups.size() == 64);
  for (const auto& pg : a.groups) {
    std::set<std::string> domains;
    for (const auto& m : pg.members) {
      domains.insert(map.nodes.at(m.node).record.failure_domain);
    }
    CHECK(domains.size() == 6);
  }
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("filesystem a placed") != std::string::npos);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].first == "big");
  CHECK(failures[0].second.find("needs 12 failure domains") != std::string::npos);

  // A table that would make the map too large for etcd is not placed.
  failures.clear();
  CHECK_FALSE(PlaceFilesystems({{"huge", Definition("huge", 3, 4, 2, 65536)}}, {}, &map, nullptr,
                               &failures));
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].second.find("use fewer PGs") != std::string::npos);
  CHECK(map.filesystems.count("huge") == 0);
  CHECK(SerializeClusterMap(map).size() <= kMaxMapBytes);

  // Nothing new: no change. Skipped definitions are not tried.
  failures.clear();
  CHECK_FALSE(PlaceFilesystems(defined, {{"big", 1}}, &map, nullptr, &failures));
  CHECK(failures.empty());

  // A node goes down: the reconciled map keeps the table as it was.
  const auto table = a.groups;
  ClusterMap next;
  REQUIRE(ReconcileMap(map, Live(5), "c", NodeId("n1"), 1, 2000, &next, nullptr));
  CHECK(next.nodes.at(NodeId("n6")).state == NodeState::kDown);
  CHECK_FALSE(PlaceFilesystems({{"a", defined.at("a")}}, {}, &next, nullptr, nullptr));
  CHECK(next.filesystems.at("a").groups == table);

  // Status JSON: PGs with a member on the down node are degraded, none unavailable.
  const auto status = FilesystemStatusToJson(next.filesystems.at("a"), &next);
  INFO(status.dump(2));
  CHECK(status["placed"] == true);
  CHECK(status["protection"] == "4+2");
  CHECK(status["stripe_bytes"] == 4 * 128 * 1024);
  CHECK(status["pgs_degraded"].get<int>() > 0);
  CHECK(status["pgs_unavailable"] == 0);
  CHECK(status["members_down"] == status["pgs_degraded"]);  // one member per PG on n6
  CHECK(status["placement"]["drives"] == 10);               // up nodes only: n6 is down
}

std::string NewCluster(const std::string& tag) {
  const std::string name = testing::UniqueCluster(tag);
  Status st = CreateCluster(*SharedEtcd().Client(), name);
  if (!st.ok()) FAIL(st.ToString());
  return name;
}

std::unique_ptr<ControlAgent> StartAgent(const std::string& cluster, const std::string& id) {
  ControlAgentOptions o;
  o.etcd = SharedEtcd().Options();
  o.cluster = cluster;
  o.self = MakeRecord(id);
  o.lease_ttl_s = 2;
  auto agent = ControlAgent::Start(std::move(o));
  REQUIRE(agent.ok());
  return std::move(agent).value();
}

std::unique_ptr<AdminClient> Admin(const std::string& cluster) {
  AdminOptions options;
  options.etcd_endpoints = {SharedEtcd().endpoint()};
  options.cluster = cluster;
  auto admin = AdminClient::Connect(options);
  REQUIRE(admin.ok());
  return std::move(admin).value();
}

bool AllUp(const ControlAgent& agent, size_t n) {
  auto map = agent.map();
  if (!map) return false;
  size_t up = 0;
  for (const auto& [id, e] : map->nodes) up += e.state == NodeState::kUp ? 1 : 0;
  return up == n;
}

TEST_CASE("fs create through AdminClient: placed, refused, duplicate, unique ids") {
  const std::string cluster = NewCluster("fs");
  std::vector<std::unique_ptr<ControlAgent>> agents;
  for (int i = 1; i <= 6; ++i) agents.push_back(StartAgent(cluster, "n" + std::to_string(i)));
  REQUIRE(WaitFor([&] { return AllUp(*agents[0], 6); }, 10s));
  auto admin = Admin(cluster);
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(cluster);

  FilesystemCreateOptions options;
  options.name = "scratch";
  const auto t0 = std::chrono::steady_clock::now();
  auto created = admin->CreateFilesystem(options);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(created.ok());
  std::printf("fs create 4+2, 256 PGs on 6 nodes: placed in %.0f ms\n", ms);
  CHECK(ms < 2000);
  INFO(created->dump(2));
  CHECK((*created)["id"] == 1);
  CHECK((*created)["pg_count"] == kDefaultPgCount);
  CHECK((*created)["placed"] == true);
  CHECK((*created)["placement"]["drives"] == 12);
  CHECK((*created)["placement"]["max_over_mean"].get<double>() < 1.2);

  // 8+4 needs 12 domains: refused with the numbers, nothing written.
  FilesystemCreateOptions wide = options;
  wide.name = "wide";
  wide.data_cells = 8;
  wide.parity_cells = 4;
  auto refused = admin->CreateFilesystem(wide);
  CHECK(refused.status().code() == ErrorCode::kInvalidArgument);
  CHECK(refused.status().message() ==
        "8+4 needs 12 failure domains; the cluster has 6 with an up node and a drive");
  CHECK(etcd->Get(keys.Filesystem("wide"))->kvs.empty());

  // Duplicate name.
  CHECK(admin->CreateFilesystem(options).status().code() == ErrorCode::kAlreadyExists);
  // Bad arguments never reach etcd.
  FilesystemCreateOptions bad = options;
  bad.name = "other";
  bad.cell_bytes = 5000;
  CHECK(admin->CreateFilesystem(bad).status().code() == ErrorCode::kInvalidArgument);
  bad.cell_bytes = 128 * 1024;
  bad.pg_count = 0;
  CHECK(admin->CreateFilesystem(bad).status().code() == ErrorCode::kInvalidArgument);
  bad.pg_count = 65536;  // the map would exceed kMaxMapBytes
  auto too_big = admin->CreateFilesystem(bad);
  CHECK(too_big.status().code() == ErrorCode::kInvalidArgument);
  CHECK(too_big.status().message().find("use fewer PGs") != std::string::npos);
  CHECK(etcd->Get(keys.Filesystem("other"))->kvs.empty());

  // Concurrent creates: distinct ids, every one placed.
  std::vector<std::thread> threads;
  std::vector<Result<nlohmann::json>> results(4, Status::Internal("not run"));
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      FilesystemCreateOptions o;
      o.name = "c" + std::to_string(i);
      o.pg_count = 32;
      results[i] = Admin(cluster)->CreateFilesystem(o);
    });
  }
  for (auto& t : threads) t.join();
  std::set<int> ids = {1};
  for (auto& r : results) {
    REQUIRE(r.ok());
    CHECK(ids.insert((*r)["id"].get<int>()).second);
  }
  auto list = admin->ListFilesystems();
  REQUIRE(list.ok());
  CHECK(list->size() == 5);
  CHECK((*list)[0]["name"] == "c0");
  CHECK(admin->FilesystemStatus("nosuch").status().code() == ErrorCode::kNotFound);

  // A node goes away: the table is kept, the status shows degraded PGs.
  const auto before = ReadMap(*etcd, keys);
  REQUIRE(before.ok());
  const auto table = (*before)->filesystems.at("scratch").groups;
  agents[5]->Stop();
  REQUIRE(WaitFor([&] { return AllUp(*agents[0], 5); }, 10s));
  auto status = admin->FilesystemStatus("scratch");
  REQUIRE(status.ok());
  CHECK((*status)["pgs_degraded"].get<int>() > 0);
  CHECK((*status)["pgs_unavailable"] == 0);
  auto after = ReadMap(*etcd, keys);
  REQUIRE(after.ok());
  CHECK((*after)->filesystems.at("scratch").groups == table);
  for (auto& a : agents) a->Stop();
}

TEST_CASE("a definition that cannot be placed yet is placed when enough nodes join") {
  const std::string cluster = NewCluster("fs-late");
  std::vector<std::unique_ptr<ControlAgent>> agents;
  for (int i = 1; i <= 3; ++i) agents.push_back(StartAgent(cluster, "n" + std::to_string(i)));
  REQUIRE(WaitFor([&] { return AllUp(*agents[0], 3); }, 10s));
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(cluster);
  // Written directly (the admin path would refuse): as if nodes died after the check.
  FilesystemInfo fs = Definition("late", 9, 4, 2, 16);
  REQUIRE(etcd->Put(keys.Filesystem("late"), FilesystemInfoToJson(fs).dump()).ok());
  std::this_thread::sleep_for(1500ms);
  auto map = ReadMap(*etcd, keys);
  REQUIRE(map.ok());
  const uint64_t epoch = (*map)->epoch.value;
  CHECK((*map)->filesystems.empty());
  // No rewrite while nothing changes (the failure is not retried every round).
  std::this_thread::sleep_for(2500ms);
  CHECK(ReadMap(*etcd, keys).value()->epoch.value == epoch);

  for (int i = 4; i <= 6; ++i) agents.push_back(StartAgent(cluster, "n" + std::to_string(i)));
  REQUIRE(WaitFor(
      [&] {
        auto m = ReadMap(*etcd, keys);
        return m.ok() && *m && (*m)->filesystems.count("late") == 1;
      },
      10s));
  CHECK(ReadMap(*etcd, keys).value()->filesystems.at("late").groups.size() == 16);
  for (auto& a : agents) a->Stop();
}

}  // namespace
}  // namespace cvfs::control
