// Registrar, election, cluster manager, map watcher, ControlAgent and cluster admin,
// against a real private etcd, several agents in one process.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include "control/cluster_admin.h"
#include "control/control_agent.h"
#include "control/manager_election.h"
#include "control/node_registrar.h"
#include "cvfs/admin.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using namespace std::chrono_literals;
using testing::MakeRecord;
using testing::SharedEtcd;
using testing::WaitFor;

std::string NewCluster(const std::string& tag) {
  const std::string name = testing::UniqueCluster(tag);
  auto etcd = SharedEtcd().Client();
  Status st = CreateCluster(*etcd, name);
  if (!st.ok()) FAIL(st.ToString());
  return name;
}

ControlAgentOptions AgentOptions(const std::string& cluster, const std::string& id) {
  ControlAgentOptions o;
  o.etcd = SharedEtcd().Options();
  o.cluster = cluster;
  o.self = MakeRecord(id);
  o.lease_ttl_s = 2;
  return o;
}

TEST_CASE("cluster create is once only; status before any node") {
  auto etcd = SharedEtcd().Client();
  const std::string name = testing::UniqueCluster("create");
  KeyLayout keys(name);
  auto before = ReadClusterStatus(*etcd, keys);
  REQUIRE(before.ok());
  CHECK_FALSE(before->exists);
  REQUIRE(CreateCluster(*etcd, name).ok());
  CHECK(CreateCluster(*etcd, name).code() == ErrorCode::kAlreadyExists);
  CHECK(CreateCluster(*etcd, "bad/name").code() == ErrorCode::kInvalidArgument);
  auto after = ReadClusterStatus(*etcd, keys);
  REQUIRE(after.ok());
  CHECK(after->exists);
  CHECK(after->config.name == name);
  CHECK(after->config.format == 1);
  CHECK(after->config.created_at_ms > 0);
  CHECK_FALSE(after->map.has_value());
  CHECK(after->manager.empty());
}

TEST_CASE("registrar: registers under a lease, refuses a duplicate live id, Stop unregisters") {
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(NewCluster("reg"));
  auto first = NodeRegistrar::Start(etcd, keys, MakeRecord("n1"), 2);
  REQUIRE(first.ok());
  auto kv = etcd->Get(keys.Node(NodeId("n1")));
  REQUIRE(kv->kvs.size() == 1);
  CHECK(kv->kvs[0].lease == (*first)->lease());
  CHECK(*ParseNodeRecord(kv->kvs[0].value) == MakeRecord("n1"));

  // Same id, another live process (different start time): refused, first untouched.
  NodeRecord dup = MakeRecord("n1");
  dup.start_time_ms += 1;
  auto second = NodeRegistrar::Start(etcd, keys, dup, 2);
  CHECK(second.status().code() == ErrorCode::kAlreadyExists);
  CHECK(etcd->Get(keys.Node(NodeId("n1")))->kvs.at(0).lease == (*first)->lease());

  // Kept alive beyond its TTL.
  std::this_thread::sleep_for(2500ms);
  CHECK(etcd->Get(keys.Node(NodeId("n1")))->kvs.size() == 1);

  // UpdateRecord rewrites it under the same lease.
  NodeRecord updated = MakeRecord("n1");
  updated.drives[0].free_bytes = 7;
  REQUIRE((*first)->UpdateRecord(updated).ok());
  CHECK(
      ParseNodeRecord(etcd->Get(keys.Node(NodeId("n1")))->kvs.at(0).value)->drives[0].free_bytes ==
      7);
  NodeRecord other_id = MakeRecord("n9");
  CHECK((*first)->UpdateRecord(other_id).code() == ErrorCode::kInvalidArgument);

  (*first)->Stop();
  CHECK(etcd->Get(keys.Node(NodeId("n1")))->kvs.empty());
  (*first)->Stop();  // idempotent
}

TEST_CASE("registrar: a stale registration of a dead process on this host is taken over") {
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(NewCluster("stale"));
  NodeRecord dead = MakeRecord("n1");
  dead.pid = 0x3ffffff;  // no such process
  auto lease = etcd->LeaseGrant(60);
  REQUIRE(lease.ok());
  REQUIRE(etcd->Put(keys.Node(NodeId("n1")), SerializeNodeRecord(dead), lease->id).ok());
  auto r = NodeRegistrar::Start(etcd, keys, MakeRecord("n1"), 2);
  REQUIRE(r.ok());
  CHECK(ParseNodeRecord(etcd->Get(keys.Node(NodeId("n1")))->kvs.at(0).value)->pid == getpid());
  CHECK(etcd->LeaseKeepAlive(lease->id).status().code() == ErrorCode::kNotFound);
}

TEST_CASE("registrar: a lost lease is detected and the node registers again") {
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(NewCluster("loss"));
  auto r = NodeRegistrar::Start(etcd, keys, MakeRecord("n1"), 1);
  REQUIRE(r.ok());
  const LeaseId old = (*r)->lease();
  // Simulate an expiry during a partition: revoke the lease behind its back.
  REQUIRE(etcd->LeaseRevoke(old).ok());
  CHECK(etcd->Get(keys.Node(NodeId("n1")))->kvs.empty());
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(WaitFor([&] { return (*r)->reregistrations() == 1; }, 3000ms));
  std::printf(
      "registrar: re-registered %.0f ms after the lease was lost (TTL 1 s)\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  auto kv = etcd->Get(keys.Node(NodeId("n1")));
  REQUIRE(kv->kvs.size() == 1);
  CHECK(kv->kvs[0].lease == (*r)->lease());
  CHECK_FALSE((*r)->lease() == old);
}

TEST_CASE("election: of three candidates exactly one is manager; it resigns on Stop") {
  auto etcd = SharedEtcd().Client();
  KeyLayout keys(NewCluster("elect"));
  std::atomic<int> elected{0};
  std::atomic<int> lost{0};
  std::vector<std::unique_ptr<ManagerElection>> candidates;
  for (const char* id : {"a", "b", "c"}) {
    ElectionCallbacks cb;
    cb.on_elected = [&](int64_t, Duration) { ++elected; };
    cb.on_lost = [&](int64_t) { ++lost; };
    auto e = ManagerElection::Start(etcd, keys, NodeId(id), 2, cb);
    REQUIRE(e.ok());
    candidates.push_back(std::move(e).value());
  }
  auto managers = [&] {
    int n = 0;
    for (auto& c : candidates) n += c->is_manager() ? 1 : 0;
    return n;
  };
  REQUIRE(WaitFor([&] { return managers() == 1; }, 3000ms));
  std::this_thread::sleep_for(500ms);
  CHECK(managers() == 1);
  CHECK(elected == 1);
  size_t winner = 0;
  while (!candidates[winner]->is_manager()) ++winner;
  const int64_t term = candidates[winner]->term();
  auto key = etcd->Get(keys.Manager());
  REQUIRE(key->kvs.size() == 1);
  CHECK(key->kvs[0].create_revision == term);
  CHECK(key->kvs[0].value == std::string(1, static_cast<char>('a' + winner)));

  const auto t0 = std::chrono::steady_clock::now();
  candidates[winner]->Stop();
  CHECK(lost == 1);
  REQUIRE(WaitFor([&] { return managers() == 1; }, 3000ms));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("election: clean resign -> new manager in %.0f ms\n", ms);
  int64_t new_term = 0;
  for (auto& c : candidates) new_term = std::max(new_term, c->term());
  CHECK(new_term > term);
}

TEST_CASE("agents: one manager writes the map; all see it; status JSON through AdminClient") {
  const std::string cluster = NewCluster("agents");
  std::vector<std::unique_ptr<ControlAgent>> agents;
  for (const char* id : {"n1", "n2", "n3"}) {
    auto a = ControlAgent::Start(AgentOptions(cluster, id));
    REQUIRE(a.ok());
    agents.push_back(std::move(a).value());
  }
  auto all_see = [&](size_t up) {
    for (auto& a : agents) {
      auto m = a->map();
      if (!m) return false;
      size_t n = 0;
      for (auto& [id, e] : m->nodes) n += e.state == NodeState::kUp ? 1 : 0;
      if (n != up) return false;
    }
    return true;
  };
  REQUIRE(WaitFor([&] { return all_see(3); }, 5000ms));
  int managers = 0;
  for (auto& a : agents) managers += a->is_manager() ? 1 : 0;
  CHECK(managers == 1);
  const ClusterMap map = *agents[0]->map();
  for (size_t i = 0; i < agents.size(); ++i) {
    auto& a = agents[i];
    if (a->is_manager()) {
      CHECK(map.manager == NodeId("n" + std::to_string(i + 1)));
      CHECK(map.manager_term == a->manager_term());
    } else {
      CHECK(a->manager_term() == 0);
    }
  }

  // Map callback: gets the current map at once, then only newer epochs.
  std::mutex mu;
  std::vector<uint64_t> epochs;
  agents[1]->SetMapCallback([&](const ClusterMap& m) {
    std::lock_guard<std::mutex> lock(mu);
    epochs.push_back(m.epoch.value);
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(epochs.size() == 1);
  }

  AdminOptions admin_options;
  admin_options.etcd_endpoints = {SharedEtcd().endpoint()};
  admin_options.cluster = cluster;
  auto admin = AdminClient::Connect(admin_options);
  REQUIRE(admin.ok());
  auto status = (*admin)->ClusterStatus();
  REQUIRE(status.ok());
  INFO(status->dump(2));
  CHECK((*status)["cluster"] == cluster);
  CHECK((*status)["epoch"] == map.epoch.value);
  CHECK((*status)["manager"] == map.manager.str());
  CHECK((*status)["nodes"].size() == 3);
  CHECK((*status)["counts"]["up"] == 3);
  CHECK((*status)["healthy"] == true);
  CHECK((*admin)->CreateCluster(cluster).code() == ErrorCode::kAlreadyExists);
  admin_options.cluster = cluster + "-missing";
  auto missing = AdminClient::Connect(admin_options);
  REQUIRE(missing.ok());
  CHECK((*missing)->ClusterStatus().status().code() == ErrorCode::kNotFound);

  // A free-space update does not change the epoch; the status shows the fresh figure.
  NodeRecord rec = MakeRecord("n2");
  rec.drives[0].free_bytes = 1;
  REQUIRE(agents[1]->UpdateSelf(rec).ok());
  std::this_thread::sleep_for(500ms);
  CHECK(agents[0]->map()->epoch == map.epoch);
  auto fresh = (*admin)->ClusterStatus();
  REQUIRE(fresh.ok());
  CHECK((*fresh)["nodes"][1]["drives"][0]["free_bytes"] == 1);

  // Clean Stop of a plain node: seen at once (lease revoked), down in the next epoch.
  size_t plain = agents[0]->is_manager() ? 1 : 0;
  const std::string plain_id = "n" + std::to_string(plain + 1);
  const auto t0 = std::chrono::steady_clock::now();
  agents[plain]->Stop();
  const size_t observer = (plain + 1) % 3;
  REQUIRE(WaitFor(
      [&] {
        auto m = agents[observer]->map();
        return m && m->nodes.at(NodeId(plain_id)).state == NodeState::kDown;
      },
      3000ms));
  std::printf(
      "clean stop of %s -> down in the map after %.0f ms\n", plain_id.c_str(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  CHECK(agents[observer]->map()->epoch == map.epoch.Next());
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 1; i < epochs.size(); ++i) CHECK(epochs[i] > epochs[i - 1]);
  }

  // Starting an agent for a cluster that does not exist fails with the advice.
  auto nope = ControlAgent::Start(AgentOptions(cluster + "-nope", "n1"));
  CHECK(nope.status().code() == ErrorCode::kNotFound);
  CHECK(std::string(nope.status().message()).find("cvfs cluster create") != std::string::npos);
  // And a duplicate live node id is refused.
  auto dup_options = AgentOptions(cluster, "n3");
  dup_options.self.start_time_ms += 5;
  if (plain == 2) dup_options = AgentOptions(cluster, "n2"), dup_options.self.start_time_ms += 5;
  CHECK(ControlAgent::Start(dup_options).status().code() == ErrorCode::kAlreadyExists);
}

TEST_CASE("agent start fails fast with kUnavailable when etcd cannot be reached") {
  auto port = testing::FindFreePort();
  REQUIRE(port.ok());
  ControlAgentOptions o = AgentOptions("whatever", "n1");
  o.etcd.endpoints = {"http://127.0.0.1:" + std::to_string(*port)};
  const auto t0 = std::chrono::steady_clock::now();
  auto a = ControlAgent::Start(o);
  CHECK(a.status().code() == ErrorCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

}  // namespace
}  // namespace cvfs::control
