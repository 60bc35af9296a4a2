#include "control/recovery_planner.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/placement.h"

namespace cvfs::control {

using nlohmann::json;

namespace {

Status Bad(const std::string& what) {
  return Status::MalformedMessage("rebuild record: " + what);
}

bool Restarted(const ClusterMap* before, const NodeId& id, const NodeEntry& now) {
  if (now.state != NodeState::kUp) return false;
  if (before == nullptr) return false;
  auto it = before->nodes.find(id);
  if (it == before->nodes.end()) return false;  // new nodes hold no slot
  if (it->second.state == NodeState::kDown) return true;
  // Re-registered while its old lease was still alive: it died and came back within the TTL.
  return it->second.state == NodeState::kUp &&
         (it->second.record.pid != now.record.pid ||
          it->second.record.start_time_ms != now.record.start_time_ms);
}

void SortSlots(FilesystemInfo* fs) {
  std::sort(fs->recovering.begin(), fs->recovering.end(),
            [](const RecoveringSlot& a, const RecoveringSlot& b) {
              return std::tie(a.pg, a.index) < std::tie(b.pg, b.index);
            });
}

}  // namespace

json RebuildDoneToJson(const RebuildDoneRecord& r) {
  json slots = json::array();
  for (const RecoveringSlot& s : r.slots) {
    slots.push_back(json{{"index", s.index},
                         {"node", s.node.str()},
                         {"kind", std::string(RecoveryKindName(s.kind))},
                         {"since_ms", s.since_ms}});
  }
  return json{{"fs_id", r.fs_id},
              {"pg", r.pg},
              {"slots", std::move(slots)},
              {"stripes", r.stripes},
              {"cells", r.cells},
              {"bytes", r.bytes},
              {"meta_bytes", r.meta_bytes},
              {"missing", r.missing},
              {"by", r.by.str()},
              {"started_ms", r.started_ms},
              {"finished_ms", r.finished_ms}};
}

Result<RebuildDoneRecord> RebuildDoneFromJson(const json& j) {
  if (!j.is_object()) return Bad("not an object");
  RebuildDoneRecord r;
  try {
    r.fs_id = j.at("fs_id").get<uint32_t>();
    r.pg = j.at("pg").get<uint32_t>();
    for (const json& s : j.at("slots")) {
      RecoveringSlot slot;
      slot.pg = r.pg;
      slot.index = s.at("index").get<uint16_t>();
      const std::string node = s.at("node").get<std::string>();
      if (!ValidateNodeId(node).ok()) return Bad("bad node id");
      slot.node = NodeId(node);
      slot.kind = s.value("kind", std::string("rebuild")) == "resync" ? RecoveryKind::kResync
                                                                       : RecoveryKind::kRebuild;
      slot.since_ms = s.at("since_ms").get<int64_t>();
      r.slots.push_back(std::move(slot));
    }
    r.stripes = j.value("stripes", uint64_t{0});
    r.cells = j.value("cells", uint64_t{0});
    r.bytes = j.value("bytes", uint64_t{0});
    r.meta_bytes = j.value("meta_bytes", uint64_t{0});
    r.missing = j.value("missing", 0);
    const std::string by = j.value("by", std::string());
    if (!by.empty() && ValidateNodeId(by).ok()) r.by = NodeId(by);
    r.started_ms = j.value("started_ms", int64_t{0});
    r.finished_ms = j.value("finished_ms", int64_t{0});
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  return r;
}

int MissingCells(const ClusterMap& map, const FilesystemInfo& fs, uint32_t pg) {
  if (pg >= fs.groups.size()) return 0;
  int missing = 0;
  const auto& members = fs.groups[pg].members;
  for (size_t i = 0; i < members.size(); ++i) {
    auto it = map.nodes.find(members[i].node);
    const bool up = it != map.nodes.end() && it->second.state == NodeState::kUp;
    if (!up || fs.IsRecovering(pg, static_cast<int>(i))) ++missing;
  }
  return missing;
}

bool PlanRecovery(const ClusterMap* before, ClusterMap* map,
                  const std::vector<RebuildDoneRecord>& done, const RecoveryOptions& options,
                  int64_t now_ms, std::vector<std::string>* transitions,
                  std::vector<std::pair<std::string, std::string>>* failures) {
  bool changed = false;
  auto say = [&](std::string line) {
    if (transitions) transitions->push_back(std::move(line));
  };

  // 1. Nodes back from an absence resync every slot they still hold.
  std::set<NodeId> returned;
  for (const auto& [id, entry] : map->nodes) {
    if (Restarted(before, id, entry)) returned.insert(id);
  }
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    std::map<NodeId, int> added;
    for (const PlacementGroup& pg : fs.groups) {
      for (size_t i = 0; i < pg.members.size(); ++i) {
        const NodeId& node = pg.members[i].node;
        if (!returned.contains(node) || fs.IsRecovering(pg.id, static_cast<int>(i))) continue;
        fs.recovering.push_back(
            RecoveringSlot{pg.id, static_cast<uint16_t>(i), node, RecoveryKind::kResync, now_ms});
        added[node]++;
      }
    }
    for (const auto& [node, count] : added) {
      say("filesystem " + name + ": node " + node.str() + " is back, " + std::to_string(count) +
          " slots resync what they missed");
      changed = true;
    }
    if (!added.empty()) SortSlots(&fs);
  }

  // 2. Completions.
  for (const RebuildDoneRecord& record : done) {
    for (auto& [name, fs] : map->filesystems) {
      if (fs.id != record.fs_id) continue;
      for (const RecoveringSlot& reported : record.slots) {
        auto it = std::find_if(fs.recovering.begin(), fs.recovering.end(),
                               [&](const RecoveringSlot& s) {
                                 return s.pg == record.pg && s.index == reported.index &&
                                        s.node == reported.node &&
                                        s.since_ms == reported.since_ms;
                               });
        if (it == fs.recovering.end()) continue;
        say("filesystem " + name + ": PG " + std::to_string(record.pg) + " slot " +
            std::to_string(reported.index) + " on " + reported.node.str() + " is current (" +
            std::string(RecoveryKindName(it->kind)) + " by " + record.by.str() + ": " +
            std::to_string(record.cells) + " cells, " + std::to_string(record.bytes) +
            " bytes of " + std::to_string(record.stripes) + " stripes)");
        fs.recovering.erase(it);
        changed = true;
      }
    }
  }

  // 3. Nodes down past their grace period lose their slots.
  std::set<NodeId> expired;
  ClusterMap view = *map;  // what placement sees: nodes within their grace keep their slots
  for (auto& [id, entry] : view.nodes) {
    if (entry.state != NodeState::kDown) continue;
    if (now_ms - entry.since_ms >= options.node_grace_ms) {
      expired.insert(id);
    } else {
      entry.state = NodeState::kMaintenance;
    }
  }
  if (expired.empty()) return changed;
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    bool holds = false;
    for (const PlacementGroup& pg : fs.groups) {
      for (const PgMember& m : pg.members) holds = holds || expired.contains(m.node);
    }
    if (!holds) continue;
    PlacementPolicy policy;
    policy.data_cells = fs.geometry.data_cells;
    policy.parity_cells = fs.geometry.parity_cells;
    policy.pg_count = static_cast<int>(fs.pg_count);
    auto groups = AssignPlacementGroups(view, policy, &fs.groups);
    if (!groups.ok()) {
      if (failures) failures->emplace_back(name, std::string(groups.status().message()));
      continue;
    }
    int moved = 0;
    for (size_t pg = 0; pg < groups->size(); ++pg) {
      for (size_t i = 0; i < (*groups)[pg].members.size(); ++i) {
        const PgMember& now = (*groups)[pg].members[i];
        if (now == fs.groups[pg].members[i]) continue;
        ++moved;
        std::erase_if(fs.recovering, [&](const RecoveringSlot& s) {
          return s.pg == pg && s.index == i;
        });
        fs.recovering.push_back(RecoveringSlot{static_cast<uint32_t>(pg),
                                               static_cast<uint16_t>(i), now.node,
                                               RecoveryKind::kRebuild, now_ms});
      }
    }
    if (moved == 0) continue;
    fs.groups = std::move(groups).value();
    SortSlots(&fs);
    std::string who;
    for (const NodeId& id : expired) who += (who.empty() ? "" : ",") + id.str();
    say("filesystem " + name + ": " + std::to_string(moved) + " slots of " + who +
        " (down past the " + std::to_string(options.node_grace_ms / 1000) +
        " s grace period) reassigned; rebuilding them");
    changed = true;
  }
  return changed;
}

}  // namespace cvfs::control
