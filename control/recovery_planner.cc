#include "control/recovery_planner.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/placement.h"
#include "core/stripe_routing.h"

namespace cvfs::control {

using nlohmann::json;

namespace {

Status Bad(const std::string& what) { return Status::MalformedMessage("rebuild record: " + what); }

bool Restarted(const ClusterMap* before, const NodeId& id, const NodeEntry& now) {
  if (now.state != NodeState::kUp) return false;
  if (before == nullptr) return false;
  auto it = before->nodes.find(id);
  if (it == before->nodes.end()) return false;  // new nodes hold no slot
  // Back from an absence, or from a maintenance (control/maintenance_planner.h).
  if (it->second.state == NodeState::kDown || it->second.state == NodeState::kMaintenance) {
    return true;
  }
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

// Moves slot (pg, index) of `fs` to `member` and lists it as recovering there.
void MoveSlot(FilesystemInfo* fs, uint32_t pg, uint16_t index, const PgMember& member,
              int64_t now_ms) {
  fs->groups[pg].members[index] = member;
  std::erase_if(fs->recovering,
                [&](const RecoveringSlot& s) { return s.pg == pg && s.index == index; });
  fs->recovering.push_back(RecoveringSlot{pg, index, member.node, RecoveryKind::kRebuild, now_ms});
}

// True when `candidate` may take slot `index` of `pg`: its node and failure domain differ
// from every other member's.
bool Fits(const ClusterMap& map, const PlacementGroup& pg, size_t index,
          const PgMember& candidate) {
  auto domain_of = [&](const NodeId& id) -> std::string {
    auto it = map.nodes.find(id);
    return it == map.nodes.end() ? "?" + id.str() : it->second.record.failure_domain;
  };
  const std::string domain = domain_of(candidate.node);
  for (size_t i = 0; i < pg.members.size(); ++i) {
    if (i == index) continue;
    if (pg.members[i].node == candidate.node || domain_of(pg.members[i].node) == domain) {
      return false;
    }
  }
  return true;
}

// The placement policy of a placed filesystem.
PlacementPolicy PolicyOf(const FilesystemInfo& fs) {
  PlacementPolicy policy;
  policy.data_cells = fs.geometry.data_cells;
  policy.parity_cells = fs.geometry.parity_cells;
  policy.pg_count = static_cast<int>(fs.pg_count);
  return policy;
}

// True when `fs` is placed, nothing of it is recovering and every member is up: only then do
// voluntary moves (drain, rebalance) start, so a PG never lacks more than the moving cell.
bool Whole(const ClusterMap& map, const FilesystemInfo& fs) {
  if (!fs.placed() || !fs.recovering.empty()) return false;
  for (const PlacementGroup& pg : fs.groups) {
    for (const PgMember& m : pg.members) {
      if (!MemberIsUp(map, m)) return false;
    }
  }
  return true;
}

// A drive that may take new slots: its node is up, has the drive, is not draining; the
// drive is ok and not being removed.
bool Receives(const ClusterMap& map, const PgMember& drive, const RecoveryOptions& options) {
  auto it = map.nodes.find(drive.node);
  if (it == map.nodes.end() || it->second.state != NodeState::kUp) return false;
  const auto& drives = it->second.record.drives;
  return drive.drive_index < drives.size() && drives[drive.drive_index].state == DriveState::kOk &&
         !options.draining.contains(drive.node) && !options.removing.contains(drive);
}

// Slots of `fs` per drive that may take new slots; drives holding none are listed with 0.
using DriveLoad = std::map<std::pair<NodeId, uint32_t>, size_t>;
DriveLoad EligibleLoad(const ClusterMap& map, const FilesystemInfo& fs,
                       const RecoveryOptions& options) {
  DriveLoad load;
  for (const auto& [id, entry] : map.nodes) {
    for (uint32_t d = 0; d < entry.record.drives.size(); ++d) {
      if (Receives(map, PgMember{id, d}, options)) load[{id, d}] = 0;
    }
  }
  for (const PlacementGroup& pg : fs.groups) {
    for (const PgMember& m : pg.members) {
      if (auto it = load.find({m.node, m.drive_index}); it != load.end()) it->second++;
    }
  }
  return load;
}

// The least loaded drive of `load` that fits slot `index` of `pg`, or none.
std::optional<PgMember> LeastLoaded(const ClusterMap& map, const PlacementGroup& pg, size_t index,
                                    const DriveLoad& load) {
  std::optional<PgMember> choice;
  size_t best = 0;
  for (const auto& [drive, count] : load) {
    PgMember candidate{drive.first, drive.second};
    if (candidate == pg.members[index] || !Fits(map, pg, index, candidate)) continue;
    if (!choice || count < best) {
      choice = candidate;
      best = count;
    }
  }
  return choice;
}

// What placement sees: nodes down within their grace keep their slots (as if in
// maintenance), and so do drives failed within their grace and drives being removed (kHeld).
// Returns the nodes past their grace in `expired`.
ClusterMap PlanningView(const ClusterMap& map, const RecoveryOptions& options, int64_t now_ms,
                        std::set<NodeId>* expired) {
  ClusterMap view = map;
  for (auto& [id, entry] : view.nodes) {
    if (entry.state == NodeState::kDown) {
      if (now_ms - entry.since_ms >= options.node_grace_ms) {
        if (expired) expired->insert(id);
      } else {
        entry.state = NodeState::kMaintenance;
      }
    }
    for (uint32_t d = 0; d < entry.record.drives.size(); ++d) {
      DriveInfo& drive = entry.record.drives[d];
      const bool failed_within_grace =
          drive.state == DriveState::kFailed && now_ms - drive.failed_ms < options.drive_grace_ms;
      if (failed_within_grace ||
          (drive.state == DriveState::kOk && options.removing.contains(PgMember{id, d}))) {
        drive.state = DriveState::kHeld;
      }
    }
  }
  return view;
}

// True when `member`'s drive failed longer than the drive grace period ago.
bool DriveExpired(const ClusterMap& map, const PgMember& member, const RecoveryOptions& options,
                  int64_t now_ms) {
  auto it = map.nodes.find(member.node);
  if (it == map.nodes.end() || it->second.state != NodeState::kUp) return false;
  const auto& drives = it->second.record.drives;
  if (member.drive_index >= drives.size()) return false;
  const DriveInfo& drive = drives[member.drive_index];
  return drive.state == DriveState::kFailed && now_ms - drive.failed_ms >= options.drive_grace_ms;
}

// Step 0: a drive replaced at the same index (a new serial) holds none of its old cells:
// every slot on it is rebuilt there.
bool ReplacedDrives(const ClusterMap* before, ClusterMap* map, int64_t now_ms,
                    std::vector<std::string>* transitions) {
  if (before == nullptr) return false;
  std::set<std::pair<NodeId, uint32_t>> replaced;
  for (const auto& [id, entry] : map->nodes) {
    auto was = before->nodes.find(id);
    if (was == before->nodes.end()) continue;
    const auto& old_drives = was->second.record.drives;
    const auto& drives = entry.record.drives;
    for (uint32_t d = 0; d < drives.size() && d < old_drives.size(); ++d) {
      if (!drives[d].serial.empty() && !old_drives[d].serial.empty() &&
          drives[d].serial != old_drives[d].serial) {
        replaced.emplace(id, d);
      }
    }
  }
  if (replaced.empty()) return false;
  bool changed = false;
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    int listed = 0;
    for (const PlacementGroup& pg : fs.groups) {
      for (size_t i = 0; i < pg.members.size(); ++i) {
        if (!replaced.contains({pg.members[i].node, pg.members[i].drive_index})) continue;
        MoveSlot(&fs, pg.id, static_cast<uint16_t>(i), pg.members[i], now_ms);
        ++listed;
      }
    }
    if (listed == 0) continue;
    SortSlots(&fs);
    if (transitions) {
      transitions->push_back("filesystem " + name + ": " + std::to_string(listed) +
                             " slots on replaced drives are rebuilt in place");
    }
    changed = true;
  }
  return changed;
}

// Step 5: one slot of a draining node or of a drive being removed per PG per round, while the
// filesystem is whole.
bool Drain(ClusterMap* map, const RecoveryOptions& options, int64_t now_ms,
           std::vector<std::string>* transitions) {
  if (options.draining.empty() && options.removing.empty()) return false;
  bool changed = false;
  for (auto& [name, fs] : map->filesystems) {
    if (!Whole(*map, fs)) continue;
    DriveLoad load = EligibleLoad(*map, fs, options);
    int moved = 0, stuck = 0;
    for (PlacementGroup& pg : fs.groups) {
      for (size_t i = 0; i < pg.members.size(); ++i) {
        if (!options.draining.contains(pg.members[i].node) &&
            !options.removing.contains(pg.members[i])) {
          continue;
        }
        const std::optional<PgMember> choice = LeastLoaded(*map, pg, i, load);
        if (!choice) {
          ++stuck;
          continue;
        }
        load[{choice->node, choice->drive_index}]++;
        MoveSlot(&fs, pg.id, static_cast<uint16_t>(i), *choice, now_ms);
        ++moved;
        break;  // one per PG per round
      }
    }
    if (moved == 0) continue;
    SortSlots(&fs);
    if (transitions) {
      transitions->push_back("filesystem " + name + ": " + std::to_string(moved) +
                             " slots of draining nodes or removed drives move (one per PG)" +
                             (stuck > 0 ? "; " + std::to_string(stuck) +
                                              " have no eligible node in a free failure domain"
                                        : std::string()));
    }
    changed = true;
  }
  return changed;
}

bool Rebalance(ClusterMap* map, const RecoveryOptions& options, int64_t now_ms,
               std::vector<std::string>* transitions) {
  for (const auto& [id, entry] : map->nodes) {
    if (entry.state == NodeState::kUp && now_ms - entry.since_ms < options.rebalance_delay_ms) {
      return false;  // let nodes joining together settle, and be placed in one step
    }
  }
  bool changed = false;
  for (auto& [name, fs] : map->filesystems) {
    if (!Whole(*map, fs)) continue;  // recovery of a PG comes before any rebalance
    // Nodes far below their share (a node that joined holds none): rebalance until none is.
    std::map<NodeId, size_t> load;
    for (const auto& [drive, count] : EligibleLoad(*map, fs, options)) load[drive.first] += count;
    if (load.empty()) continue;
    const double mean = double(fs.pg_count) * fs.geometry.width() / double(load.size());
    std::vector<std::string> joined;
    for (const auto& [id, count] : load) {
      if (count < 0.75 * mean) joined.push_back(id.str());
    }
    if (joined.empty()) continue;
    auto target = AssignPlacementGroups(PlanningView(*map, options, now_ms, nullptr), PolicyOf(fs),
                                        &fs.groups);
    if (!target.ok()) continue;
    // One slot per PG per round: a PG gives up one cell of redundancy while it moves, never
    // more (its old holder leaves the table at once). Later rounds move the rest.
    int moved = 0;
    for (size_t pg = 0; pg < target->size(); ++pg) {
      for (size_t i = 0; i < (*target)[pg].members.size(); ++i) {
        const PgMember& want = (*target)[pg].members[i];
        if (want == fs.groups[pg].members[i] || !Receives(*map, want, options) ||
            !Fits(*map, fs.groups[pg], i, want)) {
          continue;
        }
        MoveSlot(&fs, static_cast<uint32_t>(pg), static_cast<uint16_t>(i), want, now_ms);
        ++moved;
        break;
      }
    }
    if (moved == 0) continue;
    SortSlots(&fs);
    std::string who;
    for (const auto& id : joined) who += (who.empty() ? "" : ",") + id;
    if (transitions) {
      transitions->push_back("filesystem " + name + ": " + std::to_string(moved) + " of " +
                             std::to_string(fs.pg_count * fs.geometry.width()) +
                             " slots move towards " + who + " (rebalance, one per PG)");
    }
    changed = true;
  }
  return changed;
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

json StaleSlotToJson(const StaleSlotRecord& r) {
  return json{{"fs_id", r.fs_id},     {"pg", r.pg},       {"index", r.index},
              {"node", r.node.str()}, {"by", r.by.str()}, {"at_ms", r.at_ms}};
}

Result<StaleSlotRecord> StaleSlotFromJson(const json& j) {
  if (!j.is_object()) return Bad("not an object");
  StaleSlotRecord r;
  try {
    r.fs_id = j.at("fs_id").get<uint32_t>();
    r.pg = j.at("pg").get<uint32_t>();
    r.index = j.at("index").get<uint16_t>();
    const std::string node = j.at("node").get<std::string>();
    if (!ValidateNodeId(node).ok()) return Bad("bad node id");
    r.node = NodeId(node);
    const std::string by = j.value("by", std::string());
    if (!by.empty() && ValidateNodeId(by).ok()) r.by = NodeId(by);
    r.at_ms = j.value("at_ms", int64_t{0});
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  return r;
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
    if (!MemberIsUp(map, members[i]) || fs.IsRecovering(pg, static_cast<int>(i))) ++missing;
  }
  return missing;
}

bool PlanRecovery(const ClusterMap* before, ClusterMap* map,
                  const std::vector<RebuildDoneRecord>& done, const RecoveryOptions& options,
                  int64_t now_ms, std::vector<std::string>* transitions,
                  std::vector<std::pair<std::string, std::string>>* failures,
                  const std::vector<StaleSlotRecord>& stale) {
  bool changed = false;
  auto say = [&](std::string line) {
    if (transitions) transitions->push_back(std::move(line));
  };

  // 0. Drives replaced at their index rebuild every slot they hold.
  changed = ReplacedDrives(before, map, now_ms, transitions) || changed;

  // 1. Nodes back from an absence resync every slot they still hold.
  std::set<NodeId> returned;
  for (const auto& [id, entry] : map->nodes) {
    if (Restarted(before, id, entry)) returned.insert(id);
  }
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    std::map<NodeId, int> added;
    std::vector<RecoveringSlot> fresh;  // appended after the scan: IsRecovering needs order
    for (const PlacementGroup& pg : fs.groups) {
      for (size_t i = 0; i < pg.members.size(); ++i) {
        const NodeId& node = pg.members[i].node;
        if (!returned.contains(node) || fs.IsRecovering(pg.id, static_cast<int>(i))) continue;
        fresh.push_back(
            RecoveringSlot{pg.id, static_cast<uint16_t>(i), node, RecoveryKind::kResync, now_ms});
        added[node]++;
      }
    }
    fs.recovering.insert(fs.recovering.end(), fresh.begin(), fresh.end());
    for (const auto& [node, count] : added) {
      say("filesystem " + name + ": node " + node.str() + " is back, " + std::to_string(count) +
          " slots resync what they missed");
      changed = true;
    }
    if (!added.empty()) SortSlots(&fs);
  }

  // 2. Completions (one line per filesystem; each PG's detail is in its primary's log).
  for (auto& [name, fs] : map->filesystems) {
    int cleared = 0, resynced = 0;
    uint64_t cells = 0, bytes = 0;
    for (const RebuildDoneRecord& record : done) {
      if (fs.id != record.fs_id) continue;
      bool any = false;
      for (const RecoveringSlot& reported : record.slots) {
        auto it =
            std::find_if(fs.recovering.begin(), fs.recovering.end(), [&](const RecoveringSlot& s) {
              return s.pg == record.pg && s.index == reported.index && s.node == reported.node &&
                     s.since_ms == reported.since_ms;
            });
        if (it == fs.recovering.end()) continue;
        ++cleared;
        if (it->kind == RecoveryKind::kResync) ++resynced;
        fs.recovering.erase(it);
        any = true;
      }
      if (any) {
        cells += record.cells;
        bytes += record.bytes;
      }
    }
    if (cleared == 0) continue;
    say("filesystem " + name + ": " + std::to_string(cleared) + " slots current (" +
        std::to_string(cleared - resynced) + " rebuilt, " + std::to_string(resynced) +
        " resynced; " + std::to_string(cells) + " cells, " + std::to_string(bytes) +
        " bytes written), " + std::to_string(fs.recovering.size()) + " left");
    changed = true;
  }

  // 2b. Members a write left behind resync (after the completions: a record of work that
  // began before the missed write must not clear the slot again).
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    int listed = 0, renewed = 0;
    std::vector<RecoveringSlot> fresh;
    for (const StaleSlotRecord& report : stale) {
      if (report.fs_id != fs.id || report.pg >= fs.groups.size()) continue;
      const PlacementGroup& pg = fs.groups[report.pg];
      if (report.index >= pg.members.size() || pg.members[report.index].node != report.node) {
        continue;  // the slot moved on since: its new holder is rebuilt anyway
      }
      auto node = map->nodes.find(report.node);
      if (node == map->nodes.end() || node->second.state != NodeState::kUp) continue;
      auto it = std::find_if(
          fs.recovering.begin(), fs.recovering.end(),
          [&](const RecoveringSlot& s) { return s.pg == report.pg && s.index == report.index; });
      if (it != fs.recovering.end()) {
        it->since_ms = std::max(it->since_ms + 1, now_ms);
        ++renewed;
        continue;
      }
      if (std::any_of(fresh.begin(), fresh.end(), [&](const RecoveringSlot& s) {
            return s.pg == report.pg && s.index == report.index;
          })) {
        continue;
      }
      fresh.push_back(
          RecoveringSlot{report.pg, report.index, report.node, RecoveryKind::kResync, now_ms});
      ++listed;
    }
    if (listed == 0 && renewed == 0) continue;
    fs.recovering.insert(fs.recovering.end(), fresh.begin(), fresh.end());
    SortSlots(&fs);
    say("filesystem " + name + ": " + std::to_string(listed + renewed) +
        " slots missed a write while up (" + std::to_string(listed) + " listed resync, " +
        std::to_string(renewed) + " already recovering, redone)");
    changed = true;
  }

  // 3. Nodes down past their grace period, and drives failed past theirs, lose their slots.
  std::set<NodeId> expired;
  const ClusterMap view = PlanningView(*map, options, now_ms, &expired);
  auto lost = [&](const PgMember& m) {
    return expired.contains(m.node) || DriveExpired(*map, m, options, now_ms);
  };
  for (auto& [name, fs] : map->filesystems) {
    if (!fs.placed()) continue;
    bool holds = false;
    for (const PlacementGroup& pg : fs.groups) {
      for (const PgMember& m : pg.members) holds = holds || lost(m);
    }
    if (!holds) continue;
    // Only the lost members' slots move: the target table says where (balanced), and a slot
    // whose target would clash with the PG's other members (same node or failure domain), or
    // is no receiver, goes to the least loaded eligible drive instead.
    auto target = AssignPlacementGroups(view, PolicyOf(fs), &fs.groups);
    if (!target.ok()) {
      if (failures) failures->emplace_back(name, std::string(target.status().message()));
      continue;
    }
    DriveLoad load = EligibleLoad(*map, fs, options);
    int moved = 0;
    bool stuck = false;
    std::set<std::string> whose;
    for (size_t pg = 0; pg < fs.groups.size(); ++pg) {
      for (size_t i = 0; i < fs.groups[pg].members.size(); ++i) {
        const PgMember old = fs.groups[pg].members[i];
        if (!lost(old)) continue;
        std::optional<PgMember> choice;
        const PgMember& want = (*target)[pg].members[i];
        if (want != old && load.contains({want.node, want.drive_index}) &&
            Fits(*map, fs.groups[pg], i, want)) {
          choice = want;
        } else {
          choice = LeastLoaded(*map, fs.groups[pg], i, load);
        }
        if (!choice) {
          stuck = true;
          continue;
        }
        load[{choice->node, choice->drive_index}]++;
        whose.insert(expired.contains(old.node)
                         ? old.node.str() + " (down past the " +
                               std::to_string(options.node_grace_ms / 1000) + " s grace)"
                         : old.node.str() + " drive " + std::to_string(old.drive_index) +
                               " (failed past the " +
                               std::to_string(options.drive_grace_ms / 1000) + " s grace)");
        MoveSlot(&fs, static_cast<uint32_t>(pg), static_cast<uint16_t>(i), *choice, now_ms);
        ++moved;
      }
    }
    if (stuck && failures) {
      failures->emplace_back(name,
                             "some slots of expired nodes or failed drives have no eligible "
                             "replacement");
    }
    if (moved == 0) continue;
    SortSlots(&fs);
    std::string who;
    for (const std::string& w : whose) who += (who.empty() ? "" : ", ") + w;
    say("filesystem " + name + ": " + std::to_string(moved) + " slots of " + who +
        " reassigned; rebuilding them");
    changed = true;
  }
  // 5. Drain first, then 4. scale-out.
  if (Drain(map, options, now_ms, transitions)) return true;
  return Rebalance(map, options, now_ms, transitions) || changed;
}

}  // namespace cvfs::control
