// Path resolution of the C API over cvfs::FileSystem (which only knows inodes): absolute
// paths, ".", "..", repeated '/', symbolic links (at most kMaxSymlinks per path), trailing
// slashes, and the name and path length limits, with Linux's errors.
//
// ".." needs no server support: a walk keeps the stack of directories it went through from
// the root (a directory has exactly one parent, and there are no mounts inside a
// filesystem), so ".." pops it; an absolute symlink target resets it to the root.
//
// Directories met on the way (never files) are cached per (parent, name, identity) for at
// most `cache_ms` (the consistency rule of cvfs.h: entries are cached at most
// attr_cache_ms), so a create in a deep directory costs one RPC, not one per component.
// Every mutation of a name made through this process drops the affected entries; a
// permission change of a directory drops the whole cache (cached lookups skip the
// server's search-permission check).
// Thread-safety: PathWalker and DirCache may be used from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "cvfs/filesystem.h"

namespace cvfs::libcvfs {

inline constexpr int kMaxSymlinks = 40;        // per path, as Linux (ELOOP beyond)
inline constexpr size_t kMaxPathBytes = 4095;  // PATH_MAX - 1
inline constexpr size_t kMaxDirCacheEntries = 65536;

// Cached lookups of directories.
class DirCache {
 public:
  // cache_ms <= 0: nothing is cached.
  explicit DirCache(int cache_ms) : ttl_(std::chrono::milliseconds(cache_ms)) {}

  bool Get(const Identity* who, uint64_t parent, std::string_view name, FileAttr* out);
  void Put(const Identity* who, uint64_t parent, std::string_view name, const FileAttr& attr);
  void Forget(uint64_t parent, std::string_view name);
  void Clear();

 private:
  struct Entry {
    FileAttr attr;
    std::chrono::steady_clock::time_point expires;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;
    bool process_identity = true;  // looked up with who == nullptr
  };
  static std::string Key(uint64_t parent, std::string_view name);
  static bool SameIdentity(const Entry& e, const Identity* who);

  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

// How a path's last component reads.
enum class LastKind { kName, kDot, kDotDot, kRoot };

// A path split for a call that acts on an entry of a directory (create, unlink, rename...).
struct ParentAndName {
  FileAttr parent;   // the directory holding the entry (only its inode is reliable)
  std::string name;  // the last component ("" for "/")
  LastKind kind = LastKind::kName;
  bool trailing_slash = false;  // "a/b/": the entry must be (or become) a directory
  std::vector<FileAttr> stack;  // the walk's directories, root first, parent last
};

class PathWalker {
 public:
  PathWalker(FileSystem* fs, DirCache* cache) : fs_(fs), cache_(cache) {}

  // The entry `path` names; symlinks in the last component are followed when
  // `follow_last` (a trailing slash always follows). kNotADirectory when a non-directory
  // is used as one (including "file/"), kSymlinkLoop past kMaxSymlinks, kNameTooLong.
  // The attributes are fresh from the server, except a directory reached by "." or ".."
  // or "/" (`*from_stack` true), which may be as old as the cache allows.
  Result<FileAttr> Resolve(const Identity* who, std::string_view path, bool follow_last,
                           bool* from_stack = nullptr);

  // Resolves everything but the last component, which is returned unresolved.
  Result<ParentAndName> ResolveParent(const Identity* who, std::string_view path);

  // Resolves `target` (a symlink's content) relative to the directories in *stack, as the
  // last component of a path, following symlinks when `follow_last`. *links counts the
  // links followed so far (kSymlinkLoop past kMaxSymlinks).
  Result<FileAttr> ResolveFrom(const Identity* who, std::vector<FileAttr>* stack,
                               std::string_view target, bool follow_last, int* links,
                               bool* from_stack);

  // Splits a symlink target (or a path) found when following `link` into the parent and
  // last name relative to *stack, for creating through a dangling link.
  Result<ParentAndName> ResolveParentFrom(const Identity* who, std::vector<FileAttr> stack,
                                          std::string_view path, int* links);

  // Lookup through the directory cache (only directories are cached); `fresh` asks the
  // server (and refreshes the cache).
  Result<FileAttr> Lookup(const Identity* who, uint64_t parent, std::string_view name,
                          bool fresh = false);

  // Resolves symlink `link` met in the directory on top of *stack (counted in *links).
  Result<FileAttr> FollowLink(const Identity* who, std::vector<FileAttr>* stack,
                              const FileAttr& link, int* links, bool* on_stack);

 private:
  // Walks `components`, each of which must name a directory (symlinks followed), pushing
  // them on *stack.
  Status WalkDirs(const Identity* who, std::vector<FileAttr>* stack,
                  std::span<const std::string_view> components, int* links);

  FileSystem* const fs_;
  DirCache* const cache_;
};

// Checks a path given to the C API: non-null, absolute, at most kMaxPathBytes.
Status CheckPath(const char* path);

// Splits on '/', dropping empty components. *absolute: starts with '/';
// *trailing_slash: the last component is followed by '/'.
std::vector<std::string_view> SplitPath(std::string_view path, bool* absolute,
                                        bool* trailing_slash);

}  // namespace cvfs::libcvfs
