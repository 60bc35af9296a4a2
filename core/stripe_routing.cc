#include "core/stripe_routing.h"

namespace cvfs {

const FilesystemInfo* FindFilesystemById(const ClusterMap& map, uint32_t fs_id) {
  for (const auto& [name, fs] : map.filesystems) {
    if (fs.id == fs_id) return &fs;
  }
  return nullptr;
}

bool NodeIsUp(const ClusterMap& map, const NodeId& node) {
  auto it = map.nodes.find(node);
  return it != map.nodes.end() && it->second.state == NodeState::kUp;
}

bool MemberIsUp(const ClusterMap& map, const PgMember& member) {
  auto it = map.nodes.find(member.node);
  if (it == map.nodes.end() || it->second.state != NodeState::kUp) return false;
  const auto& drives = it->second.record.drives;
  return member.drive_index < drives.size() &&
         drives[member.drive_index].state != DriveState::kFailed;
}

const std::string& NodeAddress(const ClusterMap& map, const NodeId& node) {
  static const std::string kNone;
  auto it = map.nodes.find(node);
  return it == map.nodes.end() ? kNone : it->second.record.fabric_address;
}

Status StripeRoute::CheckWritable() const {
  const int n = fs->geometry.data_cells;
  if (up_count >= n) return Status::Ok();
  return Status::Unavailable("PG " + std::to_string(pg->id) + " has " + std::to_string(up_count) +
                             " of " + std::to_string(width()) + " members up; " +
                             std::to_string(n) + "+" + std::to_string(fs->geometry.parity_cells) +
                             " needs " + std::to_string(n));
}

Result<StripeRoute> RoutePlacementGroup(const ClusterMap& map, const FilesystemInfo& fs,
                                        uint32_t pg_id) {
  if (!fs.placed() || fs.pg_count == 0) {
    return Status::NotFound("filesystem '" + fs.name + "' is not placed yet");
  }
  if (fs.groups.size() != fs.pg_count) {
    return Status::Internal("filesystem '" + fs.name + "' has " + std::to_string(fs.groups.size()) +
                            " PGs, pg_count " + std::to_string(fs.pg_count));
  }
  if (pg_id >= fs.pg_count) {
    return Status::InvalidArgument("PG " + std::to_string(pg_id) + " out of range: '" + fs.name +
                                   "' has " + std::to_string(fs.pg_count));
  }
  StripeRoute route;
  route.fs = &fs;
  route.pg = &fs.groups[pg_id];
  if (static_cast<int>(route.pg->members.size()) != fs.geometry.width()) {
    return Status::Internal("PG " + std::to_string(route.pg->id) + " of '" + fs.name + "' has " +
                            std::to_string(route.pg->members.size()) + " members, width " +
                            std::to_string(fs.geometry.width()));
  }
  route.up.resize(route.pg->members.size());
  route.readable.resize(route.pg->members.size());
  int first_up = -1;
  for (size_t i = 0; i < route.pg->members.size(); ++i) {
    route.up[i] = MemberIsUp(map, route.pg->members[i]);
    if (!route.up[i]) continue;
    ++route.up_count;
    if (first_up < 0) first_up = static_cast<int>(i);
    route.readable[i] = fs.recovering.empty() || !fs.IsRecovering(pg_id, int(i));
    if (route.readable[i] && route.primary < 0) route.primary = static_cast<int>(i);
  }
  if (route.primary < 0) route.primary = first_up;
  return route;
}

Result<StripeRoute> RouteStripe(const ClusterMap& map, const FilesystemInfo& fs, uint64_t inode,
                                uint64_t stripe) {
  if (!fs.placed() || fs.pg_count == 0) {
    return Status::NotFound("filesystem '" + fs.name + "' is not placed yet");
  }
  return RoutePlacementGroup(map, fs, PlacementGroupOf(inode, stripe, fs.pg_count));
}

}  // namespace cvfs
