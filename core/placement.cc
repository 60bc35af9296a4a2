#include "core/placement.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace cvfs {
namespace {

using nlohmann::json;

// Stable across processes and platforms (std::hash is neither): FNV-1a, then a splitmix64
// finaliser so that nearby inputs give unrelated outputs.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashString(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return Mix(h);
}

uint64_t Combine(uint64_t a, uint64_t b) { return Mix(a ^ Mix(b + 0x632be59bd9b4e019ULL)); }

constexpr int32_t kVacant = -1;

struct Drive {
  uint32_t node = 0;    // index into Layout::nodes
  uint32_t domain = 0;  // index into the domain list
  uint32_t drive_index = 0;
  uint64_t hash = 0;      // of (node id, drive index): the hashed tie-break
  uint32_t load = 0;      // cells assigned so far
  bool receiver = false;  // node is up and the drive ok: may take new slots
  bool failed = false;    // the drive failed: holds nothing (its slots are refilled)
};

struct Node {
  NodeId id;
  uint64_t hash = 0;
  uint32_t first_drive = 0;  // drives [first_drive, first_drive + drive_count) in Layout
  uint32_t drive_count = 0;
  bool up = false;
  uint32_t primaries = 0;
};

// The map flattened into indexes, in NodeId order (std::map), so every derived order is
// independent of how the map was built.
struct Layout {
  std::vector<Node> nodes;
  std::vector<Drive> drives;
  std::vector<std::string> domain_names;
  std::map<NodeId, uint32_t> node_index;

  // Index of the drive a member names, or kVacant if it is not an up/maintenance drive.
  int32_t Find(const PgMember& m) const {
    auto it = node_index.find(m.node);
    if (it == node_index.end()) return kVacant;
    const Node& n = nodes[it->second];
    if (m.drive_index >= n.drive_count) return kVacant;
    const auto index = static_cast<int32_t>(n.first_drive + m.drive_index);
    return drives[static_cast<size_t>(index)].failed ? kVacant : index;
  }
};

Layout BuildLayout(const ClusterMap& map) {
  Layout layout;
  std::map<std::string, uint32_t> domains;
  for (const auto& [id, entry] : map.nodes) {
    if (entry.state != NodeState::kUp && entry.state != NodeState::kMaintenance) continue;
    if (entry.record.drives.empty()) continue;
    auto [dit, inserted] =
        domains.emplace(entry.record.failure_domain, static_cast<uint32_t>(domains.size()));
    if (inserted) layout.domain_names.push_back(entry.record.failure_domain);
    Node node;
    node.id = id;
    node.hash = HashString(id.str());
    node.first_drive = static_cast<uint32_t>(layout.drives.size());
    node.drive_count = static_cast<uint32_t>(entry.record.drives.size());
    node.up = entry.state == NodeState::kUp;
    const auto node_idx = static_cast<uint32_t>(layout.nodes.size());
    for (uint32_t d = 0; d < node.drive_count; ++d) {
      Drive drive;
      drive.node = node_idx;
      drive.domain = dit->second;
      drive.drive_index = d;
      drive.hash = Combine(node.hash, d);
      const DriveState state = entry.record.drives[d].state;
      drive.failed = state == DriveState::kFailed;
      drive.receiver = node.up && state == DriveState::kOk;
      layout.drives.push_back(drive);
    }
    layout.node_index.emplace(id, node_idx);
    layout.nodes.push_back(std::move(node));
  }
  return layout;
}

// Least-loaded drive selection under "one member per failure domain". Drives are keyed by
// (load, hash(drive, load)): the hash re-shuffles equally loaded drives at every load level,
// so PGs do not repeat the same member sets. Each domain is keyed by its best drive, so a
// pick walks past at most width-1 domains already used by the PG: O(width + log n).
class Picker {
 public:
  explicit Picker(Layout* layout) : layout_(layout), by_domain_(layout->domain_names.size()) {
    for (uint32_t i = 0; i < layout_->drives.size(); ++i) {
      if (layout_->drives[i].receiver) by_domain_[layout_->drives[i].domain].insert(KeyOf(i));
    }
    for (uint32_t d = 0; d < by_domain_.size(); ++d) {
      if (!by_domain_[d].empty()) domains_.insert(DomainKey(d));
    }
  }

  // The least-loaded receiver drive outside `used` domains, with its load incremented; or
  // kVacant if every domain with a receiver is in `used`.
  int32_t Pick(const std::vector<uint32_t>& used) {
    for (auto it = domains_.begin(); it != domains_.end(); ++it) {
      const uint32_t d = std::get<2>(*it);
      if (std::find(used.begin(), used.end(), d) != used.end()) continue;
      domains_.erase(it);
      auto& set = by_domain_[d];
      const uint32_t drive = std::get<2>(*set.begin());
      set.erase(set.begin());
      ++layout_->drives[drive].load;
      set.insert(KeyOf(drive));
      domains_.insert(DomainKey(d));
      return static_cast<int32_t>(drive);
    }
    return kVacant;
  }

 private:
  using Key = std::tuple<uint32_t, uint64_t, uint32_t>;  // load, tie-break, index

  Key KeyOf(uint32_t drive) const {
    const Drive& d = layout_->drives[drive];
    return {d.load, Combine(d.hash, d.load), drive};
  }
  Key DomainKey(uint32_t domain) const {
    const Key& best = *by_domain_[domain].begin();
    return {std::get<0>(best), std::get<1>(best), domain};
  }

  Layout* layout_;
  std::vector<std::set<Key>> by_domain_;  // receiver drives of each domain
  std::set<Key> domains_;                 // domains with a receiver, by their best drive
};

std::string SchemeName(const PlacementPolicy& policy) {
  return std::to_string(policy.data_cells) + "+" + std::to_string(policy.parity_cells);
}

}  // namespace

Status ValidatePlacementPolicy(const PlacementPolicy& policy) {
  if (policy.data_cells < kMinDataCells || policy.data_cells > kMaxDataCells) {
    return Status::InvalidArgument("data cells N=" + std::to_string(policy.data_cells) +
                                   " is outside 2..16");
  }
  if (policy.parity_cells != 2 && policy.parity_cells != 4) {
    return Status::InvalidArgument("parity cells P=" + std::to_string(policy.parity_cells) +
                                   " is not 2 or 4");
  }
  if (policy.pg_count < 1 || policy.pg_count > kMaxPgCount) {
    return Status::InvalidArgument("pg_count " + std::to_string(policy.pg_count) +
                                   " is outside 1..65536");
  }
  return Status::Ok();
}

Result<std::vector<PlacementGroup>> AssignPlacementGroups(
    const ClusterMap& map, const PlacementPolicy& policy,
    const std::vector<PlacementGroup>* previous) {
  CVFS_RETURN_IF_ERROR(ValidatePlacementPolicy(policy));
  const auto width = static_cast<uint32_t>(policy.width());
  const auto pg_count = static_cast<uint32_t>(policy.pg_count);
  Layout layout = BuildLayout(map);

  // table[pg][i]: drive index in `layout`, or kVacant.
  std::vector<std::vector<int32_t>> table(pg_count, std::vector<int32_t>(width, kVacant));
  std::vector<bool> fresh(pg_count, true);  // built from scratch: member order is free
  if (previous != nullptr) {
    const size_t keep = std::min<size_t>(previous->size(), pg_count);
    for (size_t pg = 0; pg < keep; ++pg) {
      const PlacementGroup& old = (*previous)[pg];
      if (old.id != pg) {
        return Status::InvalidArgument("previous PG table: entry " + std::to_string(pg) +
                                       " has id " + std::to_string(old.id));
      }
      if (old.members.size() != width) {
        return Status::InvalidArgument("previous PG table: PG " + std::to_string(pg) + " has " +
                                       std::to_string(old.members.size()) + " members, " +
                                       SchemeName(policy) + " needs " + std::to_string(width));
      }
      fresh[pg] = false;
      std::vector<uint32_t> used;
      for (uint32_t i = 0; i < width; ++i) {
        const int32_t drive = layout.Find(old.members[i]);
        if (drive == kVacant) continue;
        Drive& d = layout.drives[static_cast<size_t>(drive)];
        // A relabelled domain can make two retained members collide: the later one moves.
        if (std::find(used.begin(), used.end(), d.domain) != used.end()) continue;
        used.push_back(d.domain);
        table[pg][i] = drive;
        ++d.load;
      }
    }
  }

  // Eligible failure domains: those with an up drive, plus those where a maintenance node
  // keeps a slot. Counted before anything moves so the refusal names the real shortage.
  std::vector<bool> domain_up(layout.domain_names.size(), false);
  std::vector<bool> domain_kept(layout.domain_names.size(), false);
  uint64_t population = 0;  // drives that hold or may take cells: the mean's denominator
  for (const Drive& d : layout.drives) {
    if (d.receiver) domain_up[d.domain] = true;
    if (!d.receiver && d.load > 0) domain_kept[d.domain] = true;
    if (d.receiver || d.load > 0) ++population;
  }
  int up_domains = 0;
  int kept_domains = 0;
  for (size_t i = 0; i < domain_up.size(); ++i) {
    if (domain_up[i]) {
      ++up_domains;
    } else if (domain_kept[i]) {
      ++kept_domains;
    }
  }
  if (up_domains + kept_domains < policy.width()) {
    std::string msg = SchemeName(policy) + " needs " + std::to_string(width) +
                      " failure domains, the cluster has " + std::to_string(up_domains) + " up";
    if (kept_domains > 0) msg += " and " + std::to_string(kept_domains) + " in maintenance";
    return Status::InvalidArgument(msg);
  }

  // Shed (only with `previous`; maintenance drives never shed, their node is away):
  //   1. every up drive above ceil(mean) gives back its excess;
  //   2. if the vacant slots still cannot lift every up drive to floor(mean) (a joining node
  //      when the mean is just below the old loads), drives at ceil(mean) give back one slot
  //      each, in hash order, until they can.
  // Which slots go is chosen by hash(drive, PG), preferring PGs with no vacancy yet: a PG
  // can use a joining domain only once, so a second vacancy would land on an old drive.
  std::vector<uint32_t> vacancies(pg_count, 0);
  uint64_t vacant = 0;
  for (uint32_t pg = 0; pg < pg_count; ++pg) {
    for (int32_t drive : table[pg]) vacancies[pg] += drive == kVacant ? 1 : 0;
    vacant += vacancies[pg];
  }
  if (previous != nullptr && population > 0) {
    const uint64_t total = static_cast<uint64_t>(pg_count) * width;
    const uint64_t ceil_target = (total + population - 1) / population;
    const uint64_t floor_target = total / population;
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> slots(layout.drives.size());
    for (uint32_t pg = 0; pg < pg_count; ++pg) {
      for (uint32_t i = 0; i < width; ++i) {
        if (table[pg][i] != kVacant) slots[static_cast<size_t>(table[pg][i])].emplace_back(pg, i);
      }
    }
    auto shed = [&](uint32_t drive, uint64_t down_to) {
      Drive& d = layout.drives[drive];
      auto& mine = slots[drive];
      std::sort(mine.begin(), mine.end(), [&](const auto& a, const auto& b) {
        const uint64_t ha = Combine(d.hash, a.first);
        const uint64_t hb = Combine(d.hash, b.first);
        return std::tie(ha, a.first, a.second) < std::tie(hb, b.first, b.second);
      });
      for (int pass = 0; pass < 2 && d.load > down_to; ++pass) {
        for (const auto& [pg, i] : mine) {
          if (d.load <= down_to) break;
          if (table[pg][i] == kVacant) continue;
          if (pass == 0 && vacancies[pg] > 0) continue;
          table[pg][i] = kVacant;
          ++vacancies[pg];
          ++vacant;
          --d.load;
        }
      }
    };
    for (uint32_t drive = 0; drive < layout.drives.size(); ++drive) {
      const Drive& d = layout.drives[drive];
      if (d.receiver && d.load > ceil_target) shed(drive, ceil_target);
    }
    uint64_t deficit = 0;
    std::vector<std::pair<uint64_t, uint32_t>> donors;  // (hash, drive) at ceil_target
    for (uint32_t drive = 0; drive < layout.drives.size(); ++drive) {
      const Drive& d = layout.drives[drive];
      if (!d.receiver) continue;
      if (d.load < floor_target) deficit += floor_target - d.load;
      if (d.load > floor_target) donors.emplace_back(Combine(d.hash, d.load), drive);
    }
    std::sort(donors.begin(), donors.end());
    for (const auto& [hash, drive] : donors) {
      if (vacant >= deficit) break;
      shed(drive, layout.drives[drive].load - 1);
    }
  }

  // Fill every vacancy with the least-loaded drive outside the PG's domains, PG by PG.
  for (const auto& row : table) {
    if (row[0] != kVacant)
      ++layout.nodes[layout.drives[static_cast<size_t>(row[0])].node].primaries;
  }
  Picker picker(&layout);
  std::vector<uint32_t> used;
  for (uint32_t pg = 0; pg < pg_count; ++pg) {
    auto& row = table[pg];
    if (vacancies[pg] == 0) continue;
    used.clear();
    for (int32_t drive : row) {
      if (drive != kVacant) used.push_back(layout.drives[static_cast<size_t>(drive)].domain);
    }
    for (uint32_t i = 0; i < width; ++i) {
      if (row[i] != kVacant) continue;
      const int32_t drive = picker.Pick(used);
      if (drive == kVacant) {
        return Status::InvalidArgument("PG " + std::to_string(pg) + ": " + SchemeName(policy) +
                                       " needs " + std::to_string(width) +
                                       " failure domains, only " + std::to_string(used.size()) +
                                       " have an up node or a kept member");
      }
      row[i] = drive;
      used.push_back(layout.drives[static_cast<size_t>(drive)].domain);
    }
    if (fresh[pg]) {
      // Member order is free in a new PG: make the member whose node leads the fewest PGs
      // (hashed tie-break) the primary, so primaries spread like cells do.
      uint32_t best = 0;
      uint64_t best_key_hash = 0;
      uint32_t best_count = UINT32_MAX;
      for (uint32_t i = 0; i < width; ++i) {
        const Node& n = layout.nodes[layout.drives[static_cast<size_t>(row[i])].node];
        const uint64_t h = Combine(n.hash, pg);
        if (n.primaries < best_count || (n.primaries == best_count && h < best_key_hash)) {
          best = i;
          best_count = n.primaries;
          best_key_hash = h;
        }
      }
      std::swap(row[0], row[best]);
      ++layout.nodes[layout.drives[static_cast<size_t>(row[0])].node].primaries;
    }
  }

  std::vector<PlacementGroup> groups(pg_count);
  for (uint32_t pg = 0; pg < pg_count; ++pg) {
    groups[pg].id = pg;
    groups[pg].members.reserve(width);
    for (int32_t drive : table[pg]) {
      const Drive& d = layout.drives[static_cast<size_t>(drive)];
      groups[pg].members.push_back(PgMember{layout.nodes[d.node].id, d.drive_index});
    }
  }
  return groups;
}

PlacementStats ComputePlacementStats(const ClusterMap& map,
                                     const std::vector<PlacementGroup>& groups) {
  Layout layout = BuildLayout(map);
  PlacementStats stats;
  uint64_t cells = 0;
  uint64_t primaries = 0;
  for (const PlacementGroup& pg : groups) {
    for (size_t i = 0; i < pg.members.size(); ++i) {
      const int32_t drive = layout.Find(pg.members[i]);
      if (drive == kVacant) continue;
      Drive& d = layout.drives[static_cast<size_t>(drive)];
      ++d.load;
      ++cells;
      if (i == 0) {
        ++layout.nodes[d.node].primaries;
        ++primaries;
      }
    }
  }
  stats.drives = layout.drives.size();
  stats.nodes = layout.nodes.size();
  if (stats.drives == 0) return stats;
  stats.min_cells = UINT64_MAX;
  for (const Drive& d : layout.drives) {
    stats.max_cells = std::max<uint64_t>(stats.max_cells, d.load);
    stats.min_cells = std::min<uint64_t>(stats.min_cells, d.load);
  }
  for (const Node& n : layout.nodes) {
    stats.max_primaries = std::max<uint64_t>(stats.max_primaries, n.primaries);
  }
  stats.mean_cells = static_cast<double>(cells) / static_cast<double>(stats.drives);
  stats.mean_primaries = static_cast<double>(primaries) / static_cast<double>(stats.nodes);
  if (cells > 0) stats.max_over_mean = static_cast<double>(stats.max_cells) / stats.mean_cells;
  if (primaries > 0) {
    stats.primaries_max_over_mean = static_cast<double>(stats.max_primaries) / stats.mean_primaries;
  }
  return stats;
}

uint64_t CountMovedSlots(const std::vector<PlacementGroup>& before,
                         const std::vector<PlacementGroup>& after) {
  uint64_t moved = 0;
  const size_t common = std::min(before.size(), after.size());
  for (size_t pg = 0; pg < common; ++pg) {
    const auto& a = before[pg].members;
    const auto& b = after[pg].members;
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) moved += a[i] == b[i] ? 0 : 1;
    moved += std::max(a.size(), b.size()) - n;
  }
  for (size_t pg = common; pg < before.size(); ++pg) moved += before[pg].members.size();
  for (size_t pg = common; pg < after.size(); ++pg) moved += after[pg].members.size();
  return moved;
}

nlohmann::json PlacementGroupsToJson(const std::vector<PlacementGroup>& groups) {
  json out = json::array();
  for (const PlacementGroup& pg : groups) {
    json members = json::array();
    for (const PgMember& m : pg.members)
      members.push_back(json::array({m.node.str(), m.drive_index}));
    out.push_back(json{{"id", pg.id}, {"members", std::move(members)}});
  }
  return out;
}

Result<std::vector<PlacementGroup>> PlacementGroupsFromJson(const nlohmann::json& json_value) {
  // A non-negative integer, whether the json holds it as signed (built in code) or unsigned
  // (parsed from text).
  auto non_negative = [](const json& v) {
    return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  };
  auto malformed = [](const std::string& where, const std::string& what) {
    return Status::MalformedMessage(where + ": " + what);
  };
  const std::string kWhere = "placement groups";
  if (!json_value.is_array()) return malformed(kWhere, "not an array");
  if (json_value.size() > static_cast<size_t>(kMaxPgCount)) {
    return malformed(kWhere, "more than " + std::to_string(kMaxPgCount) + " PGs");
  }
  std::vector<PlacementGroup> groups;
  groups.reserve(json_value.size());
  size_t width = 0;
  for (size_t index = 0; index < json_value.size(); ++index) {
    const json& object = json_value[index];
    const std::string where = kWhere + " entry " + std::to_string(index);
    if (!object.is_object()) return malformed(where, "PG is not an object");
    auto id_it = object.find("id");
    if (id_it == object.end()) return malformed(where, "missing field 'id'");
    if (!non_negative(*id_it)) {
      return malformed(where, "field 'id' is not a non-negative integer");
    }
    if (id_it->get<uint64_t>() != index) {
      return malformed(
          where, "field 'id' is not " + std::to_string(index) + " (ids must be 0..n-1 in order)");
    }
    auto members_it = object.find("members");
    if (members_it == object.end()) return malformed(where, "missing field 'members'");
    if (!members_it->is_array()) return malformed(where, "field 'members' is not an array");
    const size_t n = members_it->size();
    if (n < static_cast<size_t>(kMinDataCells + 2) || n > static_cast<size_t>(kMaxPgWidth)) {
      return malformed(where, "field 'members' has " + std::to_string(n) + " entries, not 4.." +
                                  std::to_string(kMaxPgWidth));
    }
    if (index == 0) width = n;
    if (n != width) {
      return malformed(where, "field 'members' has " + std::to_string(n) + " entries, PG 0 has " +
                                  std::to_string(width));
    }
    PlacementGroup pg;
    pg.id = static_cast<uint32_t>(index);
    for (size_t i = 0; i < n; ++i) {
      const json& m = (*members_it)[i];
      const std::string mwhere = where + " members[" + std::to_string(i) + "]";
      if (!m.is_array() || m.size() != 2) {
        return malformed(mwhere, "member is not a [node, drive] pair");
      }
      if (!m[0].is_string()) return malformed(mwhere, "node is not a string");
      const auto& id = m[0].get_ref<const std::string&>();
      if (Status s = ValidateNodeId(id); !s.ok())
        return malformed(mwhere, std::string(s.message()));
      if (!non_negative(m[1])) return malformed(mwhere, "drive is not a non-negative integer");
      const uint64_t drive = m[1].get<uint64_t>();
      if (drive >= kMaxDrivesPerNode) {
        return malformed(mwhere, "drive " + std::to_string(drive) + " is not below " +
                                     std::to_string(kMaxDrivesPerNode));
      }
      for (const PgMember& other : pg.members) {
        if (other.node.str() == id)
          return malformed(mwhere, "node " + id + " appears twice in the PG");
      }
      pg.members.push_back(PgMember{NodeId(id), static_cast<uint32_t>(drive)});
    }
    groups.push_back(std::move(pg));
  }
  return groups;
}

}  // namespace cvfs
