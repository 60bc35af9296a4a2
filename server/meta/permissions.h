// Linux permission rules for the namespace engine: mode-bit access checks, the sticky
// directory rule and ownership tests. uid 0 passes every r/w check and an x check when the
// inode is a directory or has at least one x bit (as Linux's CAP_DAC_OVERRIDE).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "server/meta/meta_records.h"

namespace cvfs::server::meta {

// The identity a request acts as (verified by the RPC layer).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups

  bool IsRoot() const { return uid == 0; }
  bool InGroup(uint32_t g) const;
};

inline constexpr int kMayRead = 4;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayExec = 1;

// OK when `caller` has every access in `want` (kMay* bits) on `attr`, else
// kPermissionDenied naming the inode.
Status CheckAccess(const Caller& caller, const InodeAttr& attr, int want);
bool IsOwnerOrRoot(const Caller& caller, const InodeAttr& attr);
// The sticky-directory rule: in a directory with S_ISVTX only the owner of the entry's
// inode, the owner of the directory or root may remove or replace the entry (kNotPermitted).
Status CheckSticky(const Caller& caller, const InodeAttr& dir, uint32_t victim_uid);

}  // namespace cvfs::server::meta
