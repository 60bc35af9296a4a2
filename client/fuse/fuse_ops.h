// The libfuse3 low-level operations of a ConvergeFS mount, on cvfs::FileSystem (by inode).
//
// Contract (client/fuse/README.md):
//   - FUSE inode numbers are ConvergeFS inode numbers (FUSE_ROOT_ID == kRootInode == 1);
//     nothing is kept per inode, so forget is a no-op.
//   - Every namespace request acts for the requesting process: its uid, gid and
//     supplementary groups (fuse_req_ctx, fuse_req_getgroups) go to FileSystem as the
//     Identity, and the backend checks permissions (the mount runs without
//     default_permissions). access() and opendir() are answered from GetAttr and the mode.
//   - Errors are Status codes inside; errno (ErrorCodeToErrno) only in fuse_reply_err.
//   - Close-to-open: flush (every close) commits what a handle wrote, so a file closed on
//     one mount reads complete on any mount that opens it afterwards; attributes and
//     entries are cached by the kernel for attr_timeout/entry_timeout.
// Thread-safety: the operations run on libfuse's worker threads at once; FuseMount's
// settings are constant after init, its handle registry has its own mutex, and FileSystem
// is thread-safe.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cvfs/filesystem.h"

namespace cvfs::fuse {

// The FileSystem handles this mount has open, by inode. A FileSystem handle reads up to
// the size the file had at its open or what it wrote itself, while the kernel keeps one
// size per inode for the whole mount: a read that one handle ends early (another
// descriptor on this node wrote further) is completed through the inode's other handles,
// and attributes sent to the kernel include what this node's handles wrote (committed
// first), since the kernel takes the size of every attribute reply as the file's size.
class OpenHandles {
 public:
  void Add(uint64_t inode, uint64_t handle);
  void Remove(uint64_t inode, uint64_t handle);
  // The inode's open handles other than `handle` (0: all of them).
  std::vector<uint64_t> Others(uint64_t inode, uint64_t handle = 0);
  bool Any(uint64_t inode);

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_inode_;  // guarded by mu_
};

// Modes of the directories this mount has seen, from every attribute reply. Without
// default_permissions the kernel checks no search permission on a path walk through
// cached entries, so a name is cached (entry_timeout) only under a directory that every
// user may search (mode a+x); elsewhere each walk asks the cluster, which checks it for
// the walking user. Bounded: forgotten all at once when full (unknown means not cached).
class DirModes {
 public:
  static constexpr size_t kMaxDirectories = 1 << 20;
  void Note(const FileAttr& attr);
  bool SearchableByAll(uint64_t dir);

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, uint32_t> modes_;  // guarded by mu_
};

// The userdata of the fuse session.
struct FuseMount {
  FileSystem* fs = nullptr;  // not owned; outlives the session
  double attr_timeout_s = 1.0;
  double entry_timeout_s = 1.0;
  bool writeback_cache = false;  // cleared by init when the kernel cannot
  uint32_t max_write_bytes = 1u << 20;
  OpenHandles handles;
  DirModes dir_modes;
};

// The operations table for fuse_session_new (userdata: a FuseMount*).
const fuse_lowlevel_ops& CvfsLowLevelOps();

// What access(2) would say for `who` on a file with `attr` and `mask` (R_OK|W_OK|X_OK, or
// F_OK): Linux's rules with the root bypass (root needs one x bit for X_OK on a file).
// kPermissionDenied when refused.
Status CheckAccess(const Identity& who, const FileAttr& attr, int mask);

}  // namespace cvfs::fuse
