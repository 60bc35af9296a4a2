#include "server/meta/permissions.h"

#include <algorithm>

namespace cvfs::server::meta {
namespace {

constexpr uint32_t kStickyBit = 01000;

}  // namespace

bool Caller::InGroup(uint32_t g) const {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

Status CheckAccess(const Caller& caller, const InodeAttr& attr, int want) {
  if (caller.IsRoot()) {
    const bool exec_ok =
        !(want & kMayExec) || attr.type == FileType::kDirectory || (attr.mode & 0111) != 0;
    if (exec_ok) return Status::Ok();
  } else {
    uint32_t granted = attr.mode & 07;
    if (caller.uid == attr.uid) {
      granted = (attr.mode >> 6) & 07;
    } else if (caller.InGroup(attr.gid)) {
      granted = (attr.mode >> 3) & 07;
    }
    if ((granted & static_cast<uint32_t>(want)) == static_cast<uint32_t>(want)) {
      return Status::Ok();
    }
  }
  return Status::PermissionDenied("uid " + std::to_string(caller.uid) + " on inode " +
                                  std::to_string(attr.inode) + " (mode " +
                                  std::to_string(attr.mode) + ")");
}

bool IsOwnerOrRoot(const Caller& caller, const InodeAttr& attr) {
  return caller.IsRoot() || caller.uid == attr.uid;
}

Status CheckSticky(const Caller& caller, const InodeAttr& dir, uint32_t victim_uid) {
  if (!(dir.mode & kStickyBit) || caller.IsRoot() || caller.uid == dir.uid ||
      caller.uid == victim_uid) {
    return Status::Ok();
  }
  return {ErrorCode::kNotPermitted, "sticky directory " + std::to_string(dir.inode) + ": uid " +
                                        std::to_string(caller.uid) +
                                        " owns neither the directory nor the entry"};
}

}  // namespace cvfs::server::meta
