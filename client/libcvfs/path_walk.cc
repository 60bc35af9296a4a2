#include "client/libcvfs/path_walk.h"

#include <cstring>
#include <span>

namespace cvfs::libcvfs {
namespace {

FileAttr RootAttr() {
  FileAttr root;
  root.inode = kRootInode;
  root.type = FileType::kDirectory;
  return root;
}

LastKind KindOf(std::string_view name) {
  if (name == ".") return LastKind::kDot;
  if (name == "..") return LastKind::kDotDot;
  return LastKind::kName;
}

}  // namespace

std::string DirCache::Key(uint64_t parent, std::string_view name) {
  std::string key(sizeof(parent), '\0');
  std::memcpy(key.data(), &parent, sizeof(parent));
  key.append(name);
  return key;
}

bool DirCache::SameIdentity(const Entry& e, const Identity* who) {
  if (who == nullptr) return e.process_identity;
  return !e.process_identity && e.uid == who->uid && e.gid == who->gid && e.groups == who->groups;
}

bool DirCache::Get(const Identity* who, uint64_t parent, std::string_view name, FileAttr* out) {
  if (ttl_.count() <= 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key(parent, name));
  if (it == entries_.end()) return false;
  if (it->second.expires < std::chrono::steady_clock::now()) {
    entries_.erase(it);
    return false;
  }
  if (!SameIdentity(it->second, who)) return false;
  *out = it->second.attr;
  return true;
}

void DirCache::Put(const Identity* who, uint64_t parent, std::string_view name,
                   const FileAttr& attr) {
  if (ttl_.count() <= 0) return;
  Entry e;
  e.attr = attr;
  e.expires = std::chrono::steady_clock::now() + ttl_;
  e.process_identity = who == nullptr;
  if (who != nullptr) {
    e.uid = who->uid;
    e.gid = who->gid;
    e.groups = who->groups;
  }
  std::lock_guard<std::mutex> lock(mu_);
  // A bounded cache: dropping everything at the bound is crude but keeps the rule simple
  // (the entries of a hot path come back at once).
  if (entries_.size() >= kMaxDirCacheEntries) entries_.clear();
  entries_[Key(parent, name)] = std::move(e);
}

void DirCache::Forget(uint64_t parent, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(Key(parent, name));
}

void DirCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

Status CheckPath(const char* path) {
  if (path == nullptr) return Status::InvalidArgument("null path");
  const size_t length = strnlen(path, kMaxPathBytes + 1);
  if (length == 0) return Status::NotFound("empty path");
  if (length > kMaxPathBytes) return {ErrorCode::kNameTooLong, "path longer than 4095 bytes"};
  if (path[0] != '/') return Status::InvalidArgument("path is not absolute");
  return Status::Ok();
}

std::vector<std::string_view> SplitPath(std::string_view path, bool* absolute,
                                        bool* trailing_slash) {
  std::vector<std::string_view> out;
  *absolute = !path.empty() && path.front() == '/';
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.push_back(path.substr(start, i - start));
  }
  *trailing_slash = !out.empty() && path.back() == '/';
  return out;
}

Result<FileAttr> PathWalker::Lookup(const Identity* who, uint64_t parent, std::string_view name,
                                    bool fresh) {
  if (name.size() > kMaxNameBytes) return Status{ErrorCode::kNameTooLong, "name over 255 bytes"};
  FileAttr attr;
  if (!fresh && cache_->Get(who, parent, name, &attr)) return attr;
  auto found = fs_->Lookup(who, parent, name);
  if (found.ok() && found->type == FileType::kDirectory) cache_->Put(who, parent, name, *found);
  return found;
}

Result<FileAttr> PathWalker::FollowLink(const Identity* who, std::vector<FileAttr>* stack,
                                        const FileAttr& link, int* links, bool* on_stack) {
  if (++*links > kMaxSymlinks) {
    return Status{ErrorCode::kSymlinkLoop, "too many levels of symbolic links"};
  }
  CVFS_ASSIGN_OR_RETURN(std::string target, fs_->Readlink(who, link.inode));
  return ResolveFrom(who, stack, target, true, links, on_stack);
}

Status PathWalker::WalkDirs(const Identity* who, std::vector<FileAttr>* stack,
                            std::span<const std::string_view> components, int* links) {
  for (std::string_view name : components) {
    if (name == ".") continue;
    if (name == "..") {
      if (stack->size() > 1) stack->pop_back();
      continue;
    }
    CVFS_ASSIGN_OR_RETURN(FileAttr attr, Lookup(who, stack->back().inode, name));
    bool on_stack = false;
    if (attr.type == FileType::kSymlink) {
      CVFS_ASSIGN_OR_RETURN(attr, FollowLink(who, stack, attr, links, &on_stack));
    }
    if (attr.type != FileType::kDirectory) {
      return {ErrorCode::kNotADirectory, "a path component is not a directory"};
    }
    if (!on_stack) stack->push_back(attr);
  }
  return Status::Ok();
}

Result<FileAttr> PathWalker::ResolveFrom(const Identity* who, std::vector<FileAttr>* stack,
                                         std::string_view target, bool follow_last, int* links,
                                         bool* from_stack) {
  bool absolute = false;
  bool trailing = false;
  if (target.empty()) return Status::NotFound("empty symlink target");
  auto parts = SplitPath(target, &absolute, &trailing);
  if (absolute) stack->resize(1);
  if (trailing) follow_last = true;
  if (from_stack != nullptr) *from_stack = true;
  if (parts.empty()) return stack->back();
  std::span<const std::string_view> all(parts);
  CVFS_RETURN_IF_ERROR(WalkDirs(who, stack, all.first(all.size() - 1), links));
  const std::string_view last = parts.back();
  FileAttr result;
  bool on_stack = false;
  if (last == "." || last == "..") {
    if (last == ".." && stack->size() > 1) stack->pop_back();
    result = stack->back();
    on_stack = true;
  } else {
    // The entry the call is about: its attributes come from the server, never the cache.
    CVFS_ASSIGN_OR_RETURN(result, Lookup(who, stack->back().inode, last, /*fresh=*/true));
    if (result.type == FileType::kSymlink && follow_last) {
      CVFS_ASSIGN_OR_RETURN(result, FollowLink(who, stack, result, links, &on_stack));
    }
  }
  if (trailing && result.type != FileType::kDirectory) {
    return Status{ErrorCode::kNotADirectory, "not a directory (trailing slash)"};
  }
  if (from_stack != nullptr) *from_stack = on_stack;
  return result;
}

Result<FileAttr> PathWalker::Resolve(const Identity* who, std::string_view path, bool follow_last,
                                     bool* from_stack) {
  std::vector<FileAttr> stack = {RootAttr()};
  int links = 0;
  return ResolveFrom(who, &stack, path, follow_last, &links, from_stack);
}

Result<ParentAndName> PathWalker::ResolveParentFrom(const Identity* who,
                                                    std::vector<FileAttr> stack,
                                                    std::string_view path, int* links) {
  bool absolute = false;
  ParentAndName out;
  if (path.empty()) return Status::NotFound("empty path");
  auto parts = SplitPath(path, &absolute, &out.trailing_slash);
  if (absolute) stack.resize(1);
  if (parts.empty()) {
    out.kind = LastKind::kRoot;
  } else {
    std::span<const std::string_view> all(parts);
    CVFS_RETURN_IF_ERROR(WalkDirs(who, &stack, all.first(all.size() - 1), links));
    out.name = std::string(parts.back());
    out.kind = KindOf(out.name);
    if (out.kind == LastKind::kName && out.name.size() > kMaxNameBytes) {
      return Status{ErrorCode::kNameTooLong, "name over 255 bytes"};
    }
  }
  out.parent = stack.back();
  out.stack = std::move(stack);
  return out;
}

Result<ParentAndName> PathWalker::ResolveParent(const Identity* who, std::string_view path) {
  int links = 0;
  return ResolveParentFrom(who, {RootAttr()}, path, &links);
}

}  // namespace cvfs::libcvfs
