#include "core/placement.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cvfs {
namespace {

struct NodeSpec {
  std::string id;
  std::string domain;
  int drives = 1;
  NodeState state = NodeState::kUp;
};

ClusterMap MakeMap(const std::vector<NodeSpec>& specs) {
  ClusterMap map;
  map.cluster = "test";
  map.epoch = Epoch{1};
  for (const NodeSpec& s : specs) {
    NodeEntry entry;
    entry.state = s.state;
    entry.record.id = NodeId(s.id);
    entry.record.failure_domain = s.domain;
    entry.record.host = s.id;
    for (int d = 0; d < s.drives; ++d) {
      entry.record.drives.push_back(
          DriveInfo{"/drives/" + std::to_string(d), uint64_t{1} << 40, uint64_t{1} << 40});
    }
    map.nodes.emplace(NodeId(s.id), std::move(entry));
  }
  return map;
}

std::string NodeName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "n%03d", i);
  return buf;
}

// `count` nodes, one per domain unless `domains` > 0 (then node i is in rack i % domains).
std::vector<NodeSpec> Nodes(int count, int drives, int domains = 0) {
  std::vector<NodeSpec> specs;
  for (int i = 0; i < count; ++i) {
    const std::string domain =
        domains > 0 ? "rack" + std::to_string(i % domains) : "dom-" + NodeName(i);
    specs.push_back(NodeSpec{NodeName(i), domain, drives, NodeState::kUp});
  }
  return specs;
}

// Checks the invariants every table must satisfy against `map`.
void CheckTable(const ClusterMap& map, const PlacementPolicy& policy,
                const std::vector<PlacementGroup>& groups) {
  REQUIRE(groups.size() == static_cast<size_t>(policy.pg_count));
  for (size_t pg = 0; pg < groups.size(); ++pg) {
    REQUIRE(groups[pg].id == pg);
    REQUIRE(groups[pg].members.size() == static_cast<size_t>(policy.width()));
    std::set<std::string> domains;
    for (const PgMember& m : groups[pg].members) {
      auto it = map.nodes.find(m.node);
      REQUIRE(it != map.nodes.end());
      REQUIRE(it->second.state != NodeState::kDown);
      REQUIRE(it->second.state != NodeState::kOut);
      REQUIRE(m.drive_index < it->second.record.drives.size());
      domains.insert(it->second.record.failure_domain);
    }
    REQUIRE(domains.size() == static_cast<size_t>(policy.width()));
  }
}

void Print(const char* what, const PlacementStats& s) {
  std::printf(
      "%s: drives=%llu cells max=%llu min=%llu mean=%.2f max/mean=%.3f; primaries max=%llu "
      "mean=%.2f max/mean=%.3f\n",
      what, static_cast<unsigned long long>(s.drives), static_cast<unsigned long long>(s.max_cells),
      static_cast<unsigned long long>(s.min_cells), s.mean_cells, s.max_over_mean,
      static_cast<unsigned long long>(s.max_primaries), s.mean_primaries,
      s.primaries_max_over_mean);
}

TEST_CASE("placement: every PG spans N+P distinct failure domains") {
  struct Case {
    int nodes, drives, racks, n, p;
  };
  for (const Case c : {Case{8, 1, 0, 4, 2}, Case{12, 2, 0, 8, 4}, Case{16, 1, 8, 4, 2},
                       Case{16, 3, 6, 4, 2}, Case{20, 1, 0, 16, 4}}) {
    const ClusterMap map = MakeMap(Nodes(c.nodes, c.drives, c.racks));
    const PlacementPolicy policy{c.n, c.p, 512};
    auto groups = AssignPlacementGroups(map, policy);
    REQUIRE(groups.ok());
    CheckTable(map, policy, *groups);
  }
}

TEST_CASE("placement: refused when failure domains are fewer than N+P") {
  {
    const ClusterMap map = MakeMap(Nodes(16, 1, 4));  // 16 nodes in 4 racks
    auto r = AssignPlacementGroups(map, PlacementPolicy{4, 2, 64});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
    CHECK(std::string(r.status().message()) == "4+2 needs 6 failure domains, the cluster has 4 up");
  }
  {
    auto specs = Nodes(6, 1);
    specs[5].state = NodeState::kDown;
    auto r = AssignPlacementGroups(MakeMap(specs), PlacementPolicy{4, 2, 64});
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(r.status().message()) == "4+2 needs 6 failure domains, the cluster has 5 up");
  }
  {
    auto r = AssignPlacementGroups(MakeMap(Nodes(11, 2)), PlacementPolicy{8, 4, 64});
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(r.status().message()) ==
          "8+4 needs 12 failure domains, the cluster has 11 up");
  }
}

TEST_CASE("placement: policy bounds") {
  const ClusterMap map = MakeMap(Nodes(24, 1));
  for (const PlacementPolicy bad :
       {PlacementPolicy{1, 2, 8}, PlacementPolicy{17, 2, 8}, PlacementPolicy{4, 3, 8},
        PlacementPolicy{4, 0, 8}, PlacementPolicy{4, 2, 0}, PlacementPolicy{4, 2, 65537}}) {
    auto r = AssignPlacementGroups(map, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(AssignPlacementGroups(map, PlacementPolicy{2, 2, 1}).ok());
  CHECK(AssignPlacementGroups(map, PlacementPolicy{16, 4, 8}).ok());
}

TEST_CASE("placement: deterministic, independent of node insertion order") {
  auto specs = Nodes(12, 2, 0);
  const PlacementPolicy policy{8, 4, 1024};
  auto first = AssignPlacementGroups(MakeMap(specs), policy);
  REQUIRE(first.ok());
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(specs.begin(), specs.end(), rng);
    auto again = AssignPlacementGroups(MakeMap(specs), policy);
    REQUIRE(again.ok());
    CHECK(*again == *first);
  }
  // A second run in the same process gives the same table (no hidden state).
  auto twice = AssignPlacementGroups(MakeMap(specs), policy);
  REQUIRE(twice.ok());
  CHECK(*twice == *first);
}

TEST_CASE("placement: balance 8 nodes x 1 drive, 4+2, 256 PGs") {
  const ClusterMap map = MakeMap(Nodes(8, 1));
  const PlacementPolicy policy{4, 2, 256};
  auto groups = AssignPlacementGroups(map, policy);
  REQUIRE(groups.ok());
  CheckTable(map, policy, *groups);
  const PlacementStats s = ComputePlacementStats(map, *groups);
  Print("8x1 4+2 256", s);
  CHECK(s.drives == 8);
  CHECK(s.mean_cells == Approx(192.0));
  CHECK(s.max_over_mean <= 1.10);
  CHECK(s.primaries_max_over_mean <= 1.10);
}

TEST_CASE("placement: balance 12 nodes x 2 drives, 8+4, 1024 PGs") {
  const ClusterMap map = MakeMap(Nodes(12, 2));
  const PlacementPolicy policy{8, 4, 1024};
  auto groups = AssignPlacementGroups(map, policy);
  REQUIRE(groups.ok());
  CheckTable(map, policy, *groups);
  const PlacementStats s = ComputePlacementStats(map, *groups);
  Print("12x2 8+4 1024", s);
  CHECK(s.drives == 24);
  CHECK(s.max_over_mean <= 1.10);
  CHECK(s.primaries_max_over_mean <= 1.10);
}

TEST_CASE("placement: balance 16 nodes x 3 drives in 8 racks, 4+2, 4096 PGs") {
  const ClusterMap map = MakeMap(Nodes(16, 3, 8));
  const PlacementPolicy policy{4, 2, 4096};
  auto groups = AssignPlacementGroups(map, policy);
  REQUIRE(groups.ok());
  CheckTable(map, policy, *groups);
  const PlacementStats s = ComputePlacementStats(map, *groups);
  Print("16x3 8 racks 4+2 4096", s);
  CHECK(s.max_over_mean <= 1.10);
}

TEST_CASE("placement: PGs do not repeat a few member sets") {
  const ClusterMap map = MakeMap(Nodes(8, 1));
  auto groups = AssignPlacementGroups(map, PlacementPolicy{4, 2, 256});
  REQUIRE(groups.ok());
  std::set<std::set<std::string>> sets;
  for (const auto& pg : *groups) {
    std::set<std::string> s;
    for (const auto& m : pg.members) s.insert(m.node.str());
    sets.insert(s);
  }
  // C(8,6) = 28 possible sets; a cyclic assignment would use only 4.
  CHECK(sets.size() >= 20);
}

TEST_CASE("placement: a node leaving moves only its own slots") {
  auto specs = Nodes(8, 1);
  const PlacementPolicy policy{4, 2, 256};
  auto before = AssignPlacementGroups(MakeMap(specs), policy);
  REQUIRE(before.ok());
  for (NodeState gone : {NodeState::kDown, NodeState::kOut}) {
    specs[3].state = gone;
    const ClusterMap map = MakeMap(specs);
    auto after = AssignPlacementGroups(map, policy, &*before);
    REQUIRE(after.ok());
    CheckTable(map, policy, *after);
    uint64_t held = 0;
    for (const auto& pg : *before) {
      for (size_t i = 0; i < pg.members.size(); ++i) {
        if (pg.members[i].node.str() == specs[3].id) {
          ++held;
        } else {
          CHECK((*after)[pg.id].members[i] == pg.members[i]);  // nobody else moved
        }
      }
    }
    CHECK(CountMovedSlots(*before, *after) == held);
    const PlacementStats s = ComputePlacementStats(map, *after);
    Print("8x1 4+2 256 after one left", s);
    CHECK(s.max_over_mean <= 1.10);
  }
  // Removing the node from the map entirely behaves the same.
  auto removed = specs;
  removed.erase(removed.begin() + 3);
  auto after = AssignPlacementGroups(MakeMap(removed), policy, &*before);
  REQUIRE(after.ok());
  CHECK(CountMovedSlots(*before, *after) == 192);
}

TEST_CASE("placement: a node joining takes about its fair share and nothing else moves") {
  auto specs = Nodes(8, 1);
  const PlacementPolicy policy{4, 2, 256};
  auto before = AssignPlacementGroups(MakeMap(specs), policy);
  REQUIRE(before.ok());
  specs.push_back(NodeSpec{NodeName(8), "dom-" + NodeName(8), 1, NodeState::kUp});
  const ClusterMap map = MakeMap(specs);
  auto after = AssignPlacementGroups(map, policy, &*before);
  REQUIRE(after.ok());
  CheckTable(map, policy, *after);
  const double fair = 256.0 * 6 / 9;
  const uint64_t moved = CountMovedSlots(*before, *after);
  std::printf("join 9th node: moved %llu slots, fair share %.1f (%.2fx)\n",
              static_cast<unsigned long long>(moved), fair, moved / fair);
  CHECK(moved <= 1.3 * fair);
  CHECK(moved >= 0.7 * fair);
  // Every moved slot went to the new node.
  for (const auto& pg : *after) {
    for (size_t i = 0; i < pg.members.size(); ++i) {
      if (!(pg.members[i] == (*before)[pg.id].members[i])) {
        CHECK(pg.members[i].node.str() == NodeName(8));
      }
    }
  }
  const PlacementStats s = ComputePlacementStats(map, *after);
  Print("8x1 + 1 joined 4+2 256", s);
  CHECK(s.max_over_mean <= 1.10);
  // Recomputing on the same membership is a fixed point: nothing moves.
  auto again = AssignPlacementGroups(map, policy, &*after);
  REQUIRE(again.ok());
  CHECK(CountMovedSlots(*after, *again) == 0);
}

TEST_CASE("placement: maintenance nodes keep their slots and take no new ones") {
  auto specs = Nodes(9, 1);
  const PlacementPolicy policy{4, 2, 256};
  auto before = AssignPlacementGroups(MakeMap(specs), policy);
  REQUIRE(before.ok());
  specs[2].state = NodeState::kMaintenance;
  specs[5].state = NodeState::kOut;
  const ClusterMap map = MakeMap(specs);
  auto after = AssignPlacementGroups(map, policy, &*before);
  REQUIRE(after.ok());
  CheckTable(map, policy, *after);
  uint64_t kept_before = 0, kept_after = 0;
  for (const auto& pg : *before) {
    for (size_t i = 0; i < pg.members.size(); ++i) {
      if (pg.members[i].node.str() == specs[2].id) {
        ++kept_before;
        CHECK((*after)[pg.id].members[i] == pg.members[i]);
      }
    }
  }
  for (const auto& pg : *after) {
    for (const auto& m : pg.members) kept_after += m.node.str() == specs[2].id ? 1 : 0;
  }
  CHECK(kept_after == kept_before);
  // Without a previous table a maintenance node gets nothing.
  auto fresh = AssignPlacementGroups(map, policy);
  REQUIRE(fresh.ok());
  for (const auto& pg : *fresh) {
    for (const auto& m : pg.members) CHECK(m.node.str() != specs[2].id);
  }
}

TEST_CASE("placement: previous table of another width is refused") {
  const ClusterMap map = MakeMap(Nodes(12, 1));
  auto four_two = AssignPlacementGroups(map, PlacementPolicy{4, 2, 16});
  REQUIRE(four_two.ok());
  auto r = AssignPlacementGroups(map, PlacementPolicy{8, 4, 16}, &*four_two);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("placement: JSON round trip") {
  const ClusterMap map = MakeMap(Nodes(12, 2));
  auto groups = AssignPlacementGroups(map, PlacementPolicy{8, 4, 128});
  REQUIRE(groups.ok());
  const nlohmann::json j = PlacementGroupsToJson(*groups);
  auto back = PlacementGroupsFromJson(j);
  REQUIRE(back.ok());
  CHECK(*back == *groups);
  auto text_back = PlacementGroupsFromJson(nlohmann::json::parse(j.dump()));
  REQUIRE(text_back.ok());
  CHECK(*text_back == *groups);
  auto empty = PlacementGroupsFromJson(nlohmann::json::array());
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("placement: malformed JSON is rejected naming the field") {
  using nlohmann::json;
  auto pg = [](uint64_t id, json members) { return json{{"id", id}, {"members", members}}; };
  const json good_members = json::array(
      {json::array({"a", 0}), json::array({"b", 0}), json::array({"c", 1}), json::array({"d", 0})});
  REQUIRE(PlacementGroupsFromJson(json::array({pg(0, good_members)})).ok());

  struct Bad {
    json value;
    std::string needle;
  };
  json dup = good_members;
  dup[3] = json::array({"a", 1});
  json bad_id = good_members;
  bad_id[1] = json::array({"-x", 0});
  json bad_drive = good_members;
  bad_drive[1] = json::array({"b", 256});
  json neg_drive = good_members;
  neg_drive[1] = json::array({"b", -1});
  json not_pair = good_members;
  not_pair[2] = json::array({"c"});
  json five = good_members;
  five.push_back(json::array({"e", 0}));
  json missing_members = json{{"id", 0}};
  const std::vector<Bad> cases = {
      {json::object(), "not an array"},
      {json::array({42}), "not an object"},
      {json::array({json{{"members", good_members}}}), "'id'"},
      {json::array({pg(1, good_members)}), "'id'"},
      {json::array({json{{"id", "0"}, {"members", good_members}}}), "'id'"},
      {json::array({missing_members}), "'members'"},
      {json::array({pg(0, json::object())}), "'members'"},
      {json::array({pg(0, json::array({json::array({"a", 0})}))}), "'members'"},
      {json::array({pg(0, good_members), pg(1, five)}), "'members'"},
      {json::array({pg(0, dup)}), "twice"},
      {json::array({pg(0, bad_id)}), "members[1]"},
      {json::array({pg(0, bad_drive)}), "drive 256"},
      {json::array({pg(0, neg_drive)}), "drive"},
      {json::array({pg(0, not_pair)}), "members[2]"},
  };
  for (const Bad& c : cases) {
    auto r = PlacementGroupsFromJson(c.value);
    INFO(c.value.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kMalformedMessage);
    CHECK(std::string(r.status().message()).find(c.needle) != std::string::npos);
  }
  json too_many = json::array();
  for (int i = 0; i <= kMaxPgCount; ++i) too_many.push_back(nullptr);
  auto r = PlacementGroupsFromJson(too_many);
  REQUIRE_FALSE(r.ok());
  CHECK(std::string(r.status().message()).find("more than") != std::string::npos);
}

}  // namespace
}  // namespace cvfs
