// Pure tests of the manager's recovery decisions (control/recovery_planner.h): resync of
// returning and restarted nodes, completion records (and stale ones), reassignment after the
// grace period only, placement failure, priorities, and the map JSON of recovering slots.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "control/cluster_admin.h"
#include "control/filesystem_admin.h"
#include "control/recovery_planner.h"
#include "core/placement.h"
#include "core/stripe_routing.h"
#include "tests/unit/control/etcd_fixture.h"

namespace cvfs::control {
namespace {

using testing::MakeRecord;

constexpr int64_t kGrace = 60'000;

ClusterMap MapOf(int nodes, int pgs = 32) {
  ClusterMap map;
  map.cluster = "c";
  map.epoch = Epoch{5};
  for (int i = 1; i <= nodes; ++i) {
    const std::string id = "n" + std::to_string(i);
    map.nodes.emplace(NodeId(id), NodeEntry{NodeState::kUp, 1000, MakeRecord(id)});
  }
  FilesystemInfo fs;
  fs.name = "scratch";
  fs.id = 1;
  fs.geometry.data_cells = 4;
  fs.geometry.parity_cells = 2;
  fs.geometry.cell_bytes = 128 * 1024;
  fs.pg_count = pgs;
  PlacementPolicy policy{4, 2, pgs};
  auto groups = AssignPlacementGroups(map, policy);
  REQUIRE(groups.ok());
  fs.groups = std::move(groups).value();
  map.filesystems.emplace("scratch", fs);
  return map;
}

int SlotsOf(const FilesystemInfo& fs, const NodeId& node) {
  int n = 0;
  for (const auto& pg : fs.groups) {
    for (const auto& m : pg.members) n += m.node == node ? 1 : 0;
  }
  return n;
}

TEST_CASE("recovery: a node within its grace keeps its slots; past it they move and rebuild") {
  const ClusterMap before = MapOf(8);
  ClusterMap map = before;
  map.nodes.at(NodeId("n3")).state = NodeState::kDown;
  map.nodes.at(NodeId("n3")).since_ms = 10'000;
  const int held = SlotsOf(map.filesystems.at("scratch"), NodeId("n3"));
  REQUIRE(held > 0);
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::string>> failures;
  RecoveryOptions options{kGrace};
  CHECK_FALSE(PlanRecovery(&before, &map, {}, options, 10'000 + kGrace - 1, &lines, &failures));
  CHECK(map.filesystems.at("scratch").recovering.empty());
  CHECK(SlotsOf(map.filesystems.at("scratch"), NodeId("n3")) == held);

  REQUIRE(PlanRecovery(&map, &map, {}, options, 10'000 + kGrace, &lines, &failures));
  const FilesystemInfo& fs = map.filesystems.at("scratch");
  CHECK(SlotsOf(fs, NodeId("n3")) == 0);
  CHECK(fs.recovering.size() == static_cast<size_t>(held));  // only its slots moved
  for (const auto& slot : fs.recovering) {
    CHECK(slot.kind == RecoveryKind::kRebuild);
    CHECK(fs.groups[slot.pg].members[slot.index].node == slot.node);
    CHECK(slot.node != NodeId("n3"));
  }
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().find("reassigned") != std::string::npos);
  // Every PG still spans 6 distinct failure domains.
  for (const auto& pg : fs.groups) {
    std::set<std::string> domains;
    for (const auto& m : pg.members) domains.insert(map.nodes.at(m.node).record.failure_domain);
    CHECK(domains.size() == 6);
  }
  // Priority: a PG whose rebuilt slot is pending lacks one cell.
  CHECK(MissingCells(map, fs, fs.recovering.front().pg) == 1);
  const auto status = FilesystemStatusToJson(fs, &map);
  CHECK(status["state"] == "degraded");
  CHECK(status["pgs_rebuilding"].get<int>() > 0);
}

TEST_CASE("recovery: a node within its grace is not given away when another one expires") {
  const ClusterMap before = MapOf(8);
  ClusterMap map = before;
  map.nodes.at(NodeId("n3")).state = NodeState::kDown;
  map.nodes.at(NodeId("n3")).since_ms = 0;
  map.nodes.at(NodeId("n4")).state = NodeState::kDown;
  map.nodes.at(NodeId("n4")).since_ms = kGrace;  // down later: still within its grace
  const int n4_slots = SlotsOf(map.filesystems.at("scratch"), NodeId("n4"));
  REQUIRE(PlanRecovery(&before, &map, {}, RecoveryOptions{kGrace}, kGrace + 10, nullptr, nullptr));
  CHECK(SlotsOf(map.filesystems.at("scratch"), NodeId("n3")) == 0);
  CHECK(SlotsOf(map.filesystems.at("scratch"), NodeId("n4")) == n4_slots);
}

TEST_CASE("recovery: returning and restarted nodes resync; completion records clear slots") {
  ClusterMap before = MapOf(6);
  before.nodes.at(NodeId("n2")).state = NodeState::kDown;
  ClusterMap map = MapOf(6);
  map.nodes.at(NodeId("n5")).record.pid += 1;  // restarted within its lease
  std::vector<std::string> lines;
  REQUIRE(PlanRecovery(&before, &map, {}, RecoveryOptions{kGrace}, 5000, &lines, nullptr));
  FilesystemInfo& fs = map.filesystems.at("scratch");
  const int expected = SlotsOf(fs, NodeId("n2")) + SlotsOf(fs, NodeId("n5"));
  CHECK(static_cast<int>(fs.recovering.size()) == expected);
  for (const auto& slot : fs.recovering) CHECK(slot.kind == RecoveryKind::kResync);
  CHECK(std::is_sorted(fs.recovering.begin(), fs.recovering.end(),
                       [](const RecoveringSlot& a, const RecoveringSlot& b) {
                         return std::tie(a.pg, a.index) < std::tie(b.pg, b.index);
                       }));
  // Readers skip a recovering member; the primary is the first current one.
  const RecoveringSlot first = fs.recovering.front();
  auto route = RoutePlacementGroup(map, fs, first.pg);
  REQUIRE(route.ok());
  CHECK_FALSE(route->readable[first.index]);
  CHECK(route->up[first.index]);
  CHECK(route->readable[route->primary]);

  // A stale record (other since_ms) clears nothing; the right one clears its slot.
  RebuildDoneRecord stale;
  stale.fs_id = 1;
  stale.pg = first.pg;
  stale.slots = {first};
  stale.slots[0].since_ms = 1;
  ClusterMap same = map;
  CHECK_FALSE(PlanRecovery(&map, &same, {stale}, RecoveryOptions{kGrace}, 6000, nullptr, nullptr));
  RebuildDoneRecord good = stale;
  good.slots = {first};
  // Through its JSON form, as the manager reads it from etcd.
  auto parsed = RebuildDoneFromJson(RebuildDoneToJson(good));
  REQUIRE(parsed.ok());
  ClusterMap cleared = map;
  REQUIRE(PlanRecovery(&map, &cleared, {*parsed}, RecoveryOptions{kGrace}, 6000, nullptr, nullptr));
  CHECK(cleared.filesystems.at("scratch").recovering.size() == fs.recovering.size() - 1);
  CHECK_FALSE(cleared.filesystems.at("scratch").IsRecovering(first.pg, first.index));

  // The slots survive the map's JSON.
  auto round = ParseClusterMap(SerializeClusterMap(map));
  REQUIRE(round.ok());
  CHECK(round->filesystems.at("scratch").recovering == fs.recovering);
  CHECK_FALSE(RebuildDoneFromJson(nlohmann::json{{"fs_id", "x"}}).ok());
}

TEST_CASE("recovery: a member a write left behind resyncs; a slot already recovering is redone") {
  const ClusterMap before = MapOf(6);
  ClusterMap map = before;
  const FilesystemInfo& fs0 = map.filesystems.at("scratch");
  const PgMember member = fs0.groups[3].members[2];
  StaleSlotRecord report;
  report.fs_id = 1;
  report.pg = 3;
  report.index = 2;
  report.node = member.node;
  report.by = fs0.groups[3].members[0].node;
  report.at_ms = 4000;
  // Through its JSON form, as the manager reads it from etcd.
  auto parsed = StaleSlotFromJson(StaleSlotToJson(report));
  REQUIRE(parsed.ok());
  CHECK(parsed->node == report.node);
  CHECK(parsed->index == 2);
  CHECK_FALSE(StaleSlotFromJson(nlohmann::json{{"fs_id", 1}, {"pg", 3}}).ok());
  CHECK_FALSE(
      StaleSlotFromJson(nlohmann::json{{"fs_id", 1}, {"pg", 3}, {"index", 2}, {"node", "a/b"}})
          .ok());

  std::vector<std::string> lines;
  REQUIRE(PlanRecovery(&before, &map, {}, RecoveryOptions{kGrace}, 5000, &lines, nullptr,
                       {*parsed, *parsed}));
  const FilesystemInfo& fs = map.filesystems.at("scratch");
  REQUIRE(fs.recovering.size() == 1);
  CHECK(fs.recovering[0].kind == RecoveryKind::kResync);
  CHECK(fs.recovering[0].node == member.node);
  CHECK(fs.recovering[0].since_ms == 5000);
  CHECK_FALSE(RoutePlacementGroup(map, fs, 3)->readable[2]);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().find("missed a write") != std::string::npos);

  // Reported again while recovering: a new since_ms, so the record of work that began before
  // the missed write clears nothing.
  RebuildDoneRecord done;
  done.fs_id = 1;
  done.pg = 3;
  done.slots = {fs.recovering[0]};
  ClusterMap again = map;
  REQUIRE(PlanRecovery(&map, &again, {done}, RecoveryOptions{kGrace}, 7000, nullptr, nullptr,
                       {*parsed}));
  REQUIRE(again.filesystems.at("scratch").recovering.size() == 1);
  CHECK(again.filesystems.at("scratch").recovering[0].since_ms == 7000);

  // Reports of a slot that moved to another node, or of a node that is down, change nothing.
  ClusterMap moved = before;
  StaleSlotRecord other = report;
  other.node = NodeId("n9");
  CHECK_FALSE(
      PlanRecovery(&before, &moved, {}, RecoveryOptions{kGrace}, 5000, nullptr, nullptr, {other}));
  ClusterMap down = before;
  down.nodes.at(member.node).state = NodeState::kDown;
  down.nodes.at(member.node).since_ms = 4500;
  ClusterMap down_before = down;
  CHECK_FALSE(PlanRecovery(&down_before, &down, {}, RecoveryOptions{kGrace}, 5000, nullptr, nullptr,
                           {report}));
}

TEST_CASE("recovery: too few failure domains keep the table and report it") {
  const ClusterMap before = MapOf(6);
  ClusterMap map = before;
  map.nodes.at(NodeId("n1")).state = NodeState::kDown;
  map.nodes.at(NodeId("n1")).since_ms = 0;
  std::vector<std::pair<std::string, std::string>> failures;
  CHECK_FALSE(
      PlanRecovery(&before, &map, {}, RecoveryOptions{kGrace}, 2 * kGrace, nullptr, &failures));
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].first == "scratch");
  CHECK(map.filesystems.at("scratch").groups == before.filesystems.at("scratch").groups);
  const auto status = FilesystemStatusToJson(map.filesystems.at("scratch"), &map);
  CHECK(status["state"] == "degraded");
  map.nodes.at(NodeId("n2")).state = NodeState::kDown;
  CHECK(FilesystemStatusToJson(map.filesystems.at("scratch"), &map)["state"] == "critical");
  map.nodes.at(NodeId("n3")).state = NodeState::kDown;
  CHECK(FilesystemStatusToJson(map.filesystems.at("scratch"), &map)["state"] == "unavailable");
}

TEST_CASE("map JSON refuses malformed recovering slots") {
  ClusterMap map = MapOf(6, 4);
  nlohmann::json j = ClusterMapToJson(map);
  auto with = [&](const nlohmann::json& slots) {
    nlohmann::json copy = j;
    copy["filesystems"][0]["recovering"] = slots;
    return ClusterMapFromJson(copy);
  };
  const nlohmann::json good = {
      {"pg", 1}, {"index", 2}, {"node", "n1"}, {"kind", "rebuild"}, {"since_ms", 5}};
  CHECK(with(nlohmann::json::array({good})).ok());
  nlohmann::json bad = good;
  bad["pg"] = 4;  // out of range
  CHECK_FALSE(with(nlohmann::json::array({bad})).ok());
  bad = good;
  bad["index"] = 6;
  CHECK_FALSE(with(nlohmann::json::array({bad})).ok());
  bad = good;
  bad["kind"] = "magic";
  CHECK_FALSE(with(nlohmann::json::array({bad})).ok());
  CHECK_FALSE(with(nlohmann::json::array({good, good})).ok());  // twice
  CHECK_FALSE(with(nlohmann::json("x")).ok());
}

}  // namespace
}  // namespace cvfs::control

namespace cvfs::control {
namespace {

TEST_CASE("recovery: three nodes join six; about their share moves, one slot per PG a round") {
  const ClusterMap six = MapOf(6, 256);
  ClusterMap map = six;
  for (int i = 7; i <= 9; ++i) {
    const std::string id = "n" + std::to_string(i);
    map.nodes.emplace(NodeId(id), NodeEntry{NodeState::kUp, 50'000, MakeRecord(id)});
  }
  RecoveryOptions options{kGrace, 10'000};
  ClusterMap early = map;
  CHECK_FALSE(PlanRecovery(&map, &early, {}, options, 55'000, nullptr, nullptr));  // settling
  const double ideal = 256.0 * 6 * 3 / 9;
  size_t moved = 0, onto_new = 0;
  int rounds = 0;
  int64_t now = 60'000;
  std::vector<std::string> lines;
  while (PlanRecovery(&map, &map, {}, options, now, &lines, nullptr)) {
    ++rounds;
    FilesystemInfo& fs = map.filesystems.at("scratch");
    std::map<uint32_t, int> per_pg;
    for (const auto& slot : fs.recovering) {
      per_pg[slot.pg]++;
      onto_new += slot.node.str() >= "n7" ? 1 : 0;
    }
    for (const auto& [pg, n] : per_pg) CHECK(n == 1);  // never more than one cell a PG
    moved += fs.recovering.size();
    // Nothing more moves while those slots rebuild.
    ClusterMap again = map;
    CHECK_FALSE(PlanRecovery(&map, &again, {}, options, now + 1, nullptr, nullptr));
    fs.recovering.clear();  // rebuilt
    now += 1000;
    REQUIRE(rounds < 20);
  }
  INFO("moved " << moved << " slots in " << rounds << " rounds, ideal " << ideal);
  CHECK(moved >= ideal * 0.9);
  CHECK(moved <= ideal * 1.5);
  CHECK(onto_new * 100 >= moved * 95);
  for (int i = 7; i <= 9; ++i) {
    CHECK(SlotsOf(map.filesystems.at("scratch"), NodeId("n" + std::to_string(i))) > 0);
  }
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front().find("rebalance") != std::string::npos);
  for (const auto& pg : map.filesystems.at("scratch").groups) {
    std::set<std::string> domains;
    for (const auto& m : pg.members) domains.insert(map.nodes.at(m.node).record.failure_domain);
    CHECK(domains.size() == 6);
  }
}

}  // namespace
}  // namespace cvfs::control
