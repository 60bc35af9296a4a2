// Pure tests of the manager's maintenance decisions (control/maintenance_planner.h): grants in
// request order, one failure domain at a time, none while degraded, the return after a reboot
// (resync, then the grant ends by itself with its bytes), withdrawal, the window running out,
// and the map JSON of grants.
#include <catch2/catch.hpp>

#include "control/maintenance_planner.h"
#include "control/recovery_planner.h"
#include "core/placement.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using testing::MakeRecord;

// 8 nodes n1..n8 in a domain each, or 12 nodes in domains d1..d6 (two per domain); a 4+2
// filesystem.
ClusterMap MapOf(bool paired_domains) {
  ClusterMap map;
  map.cluster = "c";
  map.epoch = Epoch{5};
  for (int i = 1; i <= (paired_domains ? 12 : 8); ++i) {
    const std::string id = "n" + std::to_string(i);
    const std::string domain = paired_domains ? "d" + std::to_string((i + 1) / 2) : id;
    NodeRecord record = MakeRecord(id, domain);
    record.pid = 100 + i;
    record.start_time_ms = 1000;
    map.nodes.emplace(NodeId(id), NodeEntry{NodeState::kUp, 1000, record});
  }
  FilesystemInfo fs;
  fs.name = "scratch";
  fs.id = 1;
  fs.geometry.data_cells = 4;
  fs.geometry.parity_cells = 2;
  fs.geometry.cell_bytes = 128 * 1024;
  fs.pg_count = 16;
  auto groups = AssignPlacementGroups(map, PlacementPolicy{4, 2, 16});
  REQUIRE(groups.ok());
  fs.groups = std::move(groups).value();
  map.filesystems.emplace("scratch", fs);
  return map;
}

std::map<NodeId, NodeRecord> LiveOf(const ClusterMap& map) {
  std::map<NodeId, NodeRecord> live;
  for (const auto& [id, entry] : map.nodes) live.emplace(id, entry.record);
  return live;
}

MaintenanceRequest Ask(const std::string& node, int64_t revision, int64_t at_ms = 2000) {
  MaintenanceRequest r;
  r.node = NodeId(node);
  r.reason = "kernel update";
  r.requested_ms = at_ms;
  r.revision = revision;
  r.mod_revision = revision;
  return r;
}

struct Round {
  bool changed = false;
  MaintenancePlan plan;
  std::vector<std::string> lines;
};

Round Plan(ClusterMap* map, const std::map<NodeId, NodeRecord>& live,
           const std::vector<MaintenanceRequest>& requests, int64_t now_ms,
           const std::vector<RebuildDoneRecord>& done = {},
           const MaintenanceOptions& options = {}) {
  Round r;
  r.changed = PlanMaintenance(map, live, requests, {}, done, options, now_ms, &r.lines, &r.plan);
  return r;
}

TEST_CASE("maintenance: two requests at once are granted one after the other, in order") {
  ClusterMap map = MapOf(false);
  auto live = LiveOf(map);
  const std::vector<MaintenanceRequest> both = {Ask("n5", 11), Ask("n2", 10)};
  Round first = Plan(&map, live, both, 3000);
  REQUIRE(first.changed);
  // n2 asked first (lower revision): it is granted, n5 waits behind the domain limit.
  CHECK(map.maintenance.size() == 1);
  CHECK(map.maintenance.contains(NodeId("n2")));
  CHECK(map.nodes.at(NodeId("n2")).state == NodeState::kMaintenance);
  REQUIRE(first.plan.queue.size() == 1);
  CHECK(first.plan.queue[0].node == NodeId("n5"));
  CHECK(first.plan.queue[0].position == 1);
  CHECK(first.plan.queue[0].waiting_for.find("failure domain") != std::string::npos);
  // Asked again next round: still one grant.
  Round again = Plan(&map, live, both, 4000);
  CHECK_FALSE(again.changed);
  CHECK(map.maintenance.size() == 1);
}

TEST_CASE("maintenance: a node in a domain already in maintenance may join it") {
  ClusterMap map = MapOf(true);
  auto live = LiveOf(map);
  Round r = Plan(&map, live, {Ask("n3", 10), Ask("n4", 11), Ask("n5", 12)}, 3000);
  CHECK(map.maintenance.contains(NodeId("n3")));
  CHECK(map.maintenance.contains(NodeId("n4")));  // same domain d2
  CHECK_FALSE(map.maintenance.contains(NodeId("n5")));
  REQUIRE(r.plan.queue.size() == 1);
}

TEST_CASE("maintenance: nothing is granted while a PG is degraded or recovering") {
  ClusterMap map = MapOf(false);
  auto live = LiveOf(map);
  map.nodes.at(NodeId("n7")).state = NodeState::kDown;
  live.erase(NodeId("n7"));
  Round r = Plan(&map, live, {Ask("n2", 10)}, 3000);
  CHECK(map.maintenance.empty());
  REQUIRE(r.plan.queue.size() == 1);
  CHECK(r.plan.queue[0].waiting_for.find("degraded") != std::string::npos);

  // Back up, but a slot still recovering: still waits.
  map.nodes.at(NodeId("n7")).state = NodeState::kUp;
  live = LiveOf(map);
  FilesystemInfo& fs = map.filesystems.at("scratch");
  fs.recovering.push_back(
      RecoveringSlot{0, 0, fs.groups[0].members[0].node, RecoveryKind::kResync, 2500});
  r = Plan(&map, live, {Ask("n2", 10)}, 3500);
  CHECK(map.maintenance.empty());
  fs.recovering.clear();
  r = Plan(&map, live, {Ask("n2", 10)}, 4000);
  CHECK(map.maintenance.contains(NodeId("n2")));

  // With allow_degraded, min_spare still keeps a PG from losing its last spare.
  ClusterMap other = MapOf(false);
  auto other_live = LiveOf(other);
  const PgMember victim = other.filesystems.at("scratch").groups[0].members[1];
  other.nodes.at(victim.node).state = NodeState::kDown;
  other_live.erase(victim.node);
  const NodeId partner = other.filesystems.at("scratch").groups[0].members[2].node;
  MaintenanceOptions lenient;
  lenient.allow_degraded = true;
  Round spare = Plan(&other, other_live, {Ask(partner.str(), 10)}, 3000, {}, lenient);
  CHECK(other.maintenance.empty());
  REQUIRE(spare.plan.queue.size() == 1);
  CHECK(spare.plan.queue[0].waiting_for.find("to spare") != std::string::npos);
}

TEST_CASE("maintenance: a node back from its reboot resyncs and leaves maintenance by itself") {
  ClusterMap map = MapOf(false);
  auto live = LiveOf(map);
  const std::vector<MaintenanceRequest> asked = {Ask("n4", 10)};
  Plan(&map, live, asked, 3000);
  REQUIRE(map.nodes.at(NodeId("n4")).state == NodeState::kMaintenance);
  // The reboot: registration gone. The map keeps the node in maintenance (no rebuild).
  live.erase(NodeId("n4"));
  Round away = Plan(&map, live, asked, 5000);
  CHECK_FALSE(away.changed);
  CHECK(map.nodes.at(NodeId("n4")).state == NodeState::kMaintenance);
  // Back with a new pid: up again, catching up; recovery lists its slots for resync.
  const ClusterMap before = map;
  NodeRecord rebooted = map.nodes.at(NodeId("n4")).record;
  rebooted.pid = 999;
  rebooted.start_time_ms = 6000;
  live.emplace(NodeId("n4"), rebooted);
  Round back = Plan(&map, live, asked, 7000);
  REQUIRE(back.changed);
  CHECK(map.nodes.at(NodeId("n4")).state == NodeState::kUp);
  CHECK(map.maintenance.at(NodeId("n4")).returned_ms == 7000);
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::string>> failures;
  REQUIRE(PlanRecovery(&before, &map, {}, RecoveryOptions{}, 7000, &lines, &failures));
  const FilesystemInfo& fs = map.filesystems.at("scratch");
  REQUIRE_FALSE(fs.recovering.empty());
  for (const auto& slot : fs.recovering) {
    CHECK(slot.node == NodeId("n4"));
    CHECK(slot.kind == RecoveryKind::kResync);
  }
  // Still recovering: the grant stays (and blocks another domain).
  Round waiting = Plan(&map, live, {Ask("n4", 10), Ask("n6", 12)}, 8000);
  CHECK(map.maintenance.size() == 1);
  REQUIRE(waiting.plan.queue.size() == 1);
  // Completion records of its resync add their bytes; once nothing is recovering the grant
  // ends, with its history, and n6 is granted in the same round.
  std::vector<RebuildDoneRecord> done;
  for (const auto& slot : fs.recovering) {
    RebuildDoneRecord record;
    record.fs_id = 1;
    record.pg = slot.pg;
    record.slots = {slot};
    record.bytes = 1000;
    done.push_back(record);
  }
  const size_t slots = fs.recovering.size();
  REQUIRE(PlanRecovery(&map, &map, done, RecoveryOptions{}, 9000, &lines, &failures));
  CHECK(map.filesystems.at("scratch").recovering.empty());
  Round ended = Plan(&map, live, {Ask("n4", 10), Ask("n6", 12)}, 9000, done);
  REQUIRE(ended.plan.ended.size() == 1);
  CHECK(ended.plan.ended[0].outcome == "resynced");
  CHECK(ended.plan.ended[0].resynced_bytes == 1000 * slots);
  REQUIRE(ended.plan.spent.size() == 1);
  CHECK(ended.plan.spent[0].node == NodeId("n4"));
  CHECK_FALSE(map.maintenance.contains(NodeId("n4")));
  CHECK(map.maintenance.contains(NodeId("n6")));
}

TEST_CASE("maintenance: withdrawn or past its window, an absent node becomes an ordinary failure") {
  ClusterMap map = MapOf(false);
  auto live = LiveOf(map);
  MaintenanceOptions options;
  options.window_ms = 10'000;
  Plan(&map, live, {Ask("n1", 10), Ask("n8", 11)}, 3000, {}, options);
  REQUIRE(map.maintenance.contains(NodeId("n1")));
  live.erase(NodeId("n1"));
  Round within = Plan(&map, live, {Ask("n1", 10), Ask("n8", 11)}, 12'000, {}, options);
  CHECK(map.nodes.at(NodeId("n1")).state == NodeState::kMaintenance);
  Round expired = Plan(&map, live, {Ask("n1", 10), Ask("n8", 11)}, 13'500, {}, options);
  REQUIRE(expired.plan.ended.size() == 1);
  CHECK(expired.plan.ended[0].outcome == "expired");
  CHECK(map.nodes.at(NodeId("n1")).state == NodeState::kDown);
  CHECK(map.nodes.at(NodeId("n1")).since_ms == 13'500);
  bool logged = false;
  for (const auto& line : expired.lines)
    logged = logged || line.find("outlasted") != std::string::npos;
  CHECK(logged);
  // n1 down now: n8 is not granted (the PGs of n1 are degraded).
  CHECK_FALSE(map.maintenance.contains(NodeId("n8")));

  // Withdrawn while the node still runs: it is up again and resyncs (catching up).
  ClusterMap running = MapOf(false);
  auto running_live = LiveOf(running);
  Plan(&running, running_live, {Ask("n3", 10)}, 3000);
  Round withdrawn = Plan(&running, running_live, {}, 4000);
  CHECK(withdrawn.changed);
  CHECK(running.nodes.at(NodeId("n3")).state == NodeState::kUp);
  CHECK(running.maintenance.at(NodeId("n3")).returned_ms == 4000);
}

TEST_CASE("maintenance: a request already served is deleted, not granted again") {
  ClusterMap map = MapOf(false);
  auto live = LiveOf(map);
  std::map<NodeId, MaintenanceHistory> history;
  history[NodeId("n2")] = MaintenanceHistory{NodeId("n2"), "", 10, 0, 0, 0, 0, 0, "resynced"};
  MaintenancePlan plan;
  std::vector<std::string> lines;
  CHECK_FALSE(PlanMaintenance(&map, live, {Ask("n2", 10)}, history, {}, {}, 5000, &lines, &plan));
  CHECK(map.maintenance.empty());
  REQUIRE(plan.spent.size() == 1);
  CHECK(plan.queue.empty());
}

TEST_CASE("maintenance: grants and requests survive their JSON; bad ones are refused") {
  ClusterMap map = MapOf(false);
  MaintenanceGrant grant;
  grant.reason = "bios";
  grant.granted_ms = 5;
  grant.window_ms = 60'000;
  grant.pid = 42;
  map.maintenance.emplace(NodeId("n2"), grant);
  auto parsed = ParseClusterMap(SerializeClusterMap(map));
  REQUIRE(parsed.ok());
  CHECK(parsed->maintenance == map.maintenance);

  auto request = MaintenanceRequestFromJson(MaintenanceRequestToJson(Ask("n1", 3)));
  REQUIRE(request.ok());
  CHECK(request->reason == "kernel update");
  CHECK_FALSE(MaintenanceRequestFromJson(nlohmann::json{{"node", "bad id!"}}).ok());
  CHECK_FALSE(MaintenanceRequestFromJson(nlohmann::json{{"node", "n1"}, {"window_ms", -1}}).ok());
  CHECK_FALSE(
      MaintenanceRequestFromJson(nlohmann::json{{"node", "n1"}, {"reason", std::string(300, 'x')}})
          .ok());
  CHECK_FALSE(MaintenanceRequestFromJson(nlohmann::json::array()).ok());
}

}  // namespace
}  // namespace cvfs::control
