#include "control/keys.h"

#include "core/cluster_map.h"

#include <cassert>
#include <cctype>
#include <utility>

namespace cvfs::control {

Status ValidateClusterName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("cluster name is empty");
  if (name.size() > kMaxClusterNameLength) {
    return Status::InvalidArgument("cluster name longer than " +
                                   std::to_string(kMaxClusterNameLength));
  }
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) {
    return Status::InvalidArgument("cluster name '" + std::string(name) +
                                   "' must start with a letter or digit");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return Status::InvalidArgument("cluster name '" + std::string(name) +
                                     "' has a character outside [A-Za-z0-9._-]");
    }
  }
  return Status::Ok();
}

KeyLayout::KeyLayout(std::string cluster) : cluster_(std::move(cluster)) {
  assert(ValidateClusterName(cluster_).ok());
}

Result<NodeId> KeyLayout::NodeIdFromKey(std::string_view key) const {
  const std::string prefix = NodesPrefix();
  if (!key.starts_with(prefix)) {
    return Status::InvalidArgument("key '" + std::string(key) + "' is not under " + prefix);
  }
  std::string_view id = key.substr(prefix.size());
  CVFS_RETURN_IF_ERROR(ValidateNodeId(id));
  return NodeId(std::string(id));
}

Result<PgMember> KeyLayout::DriveFromRemoveKey(std::string_view key) const {
  const std::string prefix = RemoveDrivePrefix();
  if (!key.starts_with(prefix)) {
    return Status::InvalidArgument("key '" + std::string(key) + "' is not under " + prefix);
  }
  std::string_view rest = key.substr(prefix.size());
  const size_t slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Status::InvalidArgument("key '" + std::string(key) + "' names no drive index");
  }
  const std::string_view id = rest.substr(0, slash);
  CVFS_RETURN_IF_ERROR(ValidateNodeId(id));
  uint32_t index = 0;
  for (char c : rest.substr(slash + 1)) {
    if (c < '0' || c > '9' || index > kMaxDrivesPerNode) {
      return Status::InvalidArgument("key '" + std::string(key) + "' has a bad drive index");
    }
    index = index * 10 + static_cast<uint32_t>(c - '0');
  }
  if (index >= kMaxDrivesPerNode) {
    return Status::InvalidArgument("key '" + std::string(key) + "' has a bad drive index");
  }
  return PgMember{NodeId(std::string(id)), index};
}

std::string PrefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  // Increment the last byte that is not 0xff; drop the trailing 0xff bytes.
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means "to the end of the keyspace"
}

}  // namespace cvfs::control
