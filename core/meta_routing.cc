#include "core/meta_routing.h"

#include <string>

#include "core/stripe_routing.h"

namespace cvfs {

Status MetaRoute::CheckAvailable() const {
  if (primary >= 0) return Status::Ok();
  return Status::Unavailable("metadata of PG " + std::to_string(pg_id) + " of filesystem '" +
                             fs->name + "': none of its " + std::to_string(replicas.size()) +
                             " replicas is up");
}

Result<MetaRoute> RouteMetaPg(const ClusterMap& map, const FilesystemInfo& fs, uint32_t pg_id) {
  if (!fs.placed()) return Status::NotFound("filesystem '" + fs.name + "' is not placed yet");
  if (pg_id >= fs.groups.size()) {
    return Status::InvalidArgument("PG " + std::to_string(pg_id) + " out of range: filesystem '" +
                                   fs.name + "' has " + std::to_string(fs.groups.size()));
  }
  MetaRoute route;
  route.fs = &fs;
  route.pg = &fs.groups[pg_id];
  route.pg_id = pg_id;
  const size_t copies = static_cast<size_t>(fs.geometry.parity_cells) + 1;
  if (route.pg->members.size() < copies) {
    return Status::Internal("PG " + std::to_string(pg_id) + " has " +
                            std::to_string(route.pg->members.size()) + " members, fewer than " +
                            std::to_string(copies) + " metadata replicas");
  }
  int first_up = -1;
  for (size_t i = 0; i < copies; ++i) {
    const bool up = NodeIsUp(map, route.pg->members[i].node);
    const bool current = up && !fs.IsRecovering(pg_id, static_cast<int>(i));
    route.replicas.push_back(static_cast<int>(i));
    route.up.push_back(up);
    route.current.push_back(current);
    if (up && first_up < 0) first_up = static_cast<int>(i);
    if (current && route.primary < 0) route.primary = static_cast<int>(i);
  }
  if (route.primary < 0) route.primary = first_up;
  return route;
}

}  // namespace cvfs
