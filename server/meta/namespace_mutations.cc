// NamespaceEngine: the single-PG mutations Create, SetAttr, Unlink, Link and Rmdir.
#include "server/meta/link_ops.h"
#include "server/meta/names.h"
#include "server/meta/namespace_engine.h"

namespace cvfs::server::meta {
namespace {

constexpr uint32_t kSetUidBit = 04000;
constexpr uint32_t kSetGidBit = 02000;

Status ExistingForCreate(const DentryRecord& entry, FileType type, bool exclusive) {
  if (exclusive) return Status::AlreadyExists("entry exists");
  if (entry.type == FileType::kDirectory) {
    return Status(ErrorCode::kIsADirectory, "entry is a directory");
  }
  if (type != FileType::kRegular || entry.type != FileType::kRegular) {
    return Status::AlreadyExists("entry exists");
  }
  return Status::Ok();
}

Status ValidateNewInode(FileType type, std::string_view target) {
  if (type == FileType::kRegular) return Status::Ok();
  if (type != FileType::kSymlink) return Status::InvalidArgument("Create makes files or symlinks");
  if (target.empty()) return Status::InvalidArgument("empty symlink target");
  if (target.size() > kMaxSymlinkBytes) {
    return Status(ErrorCode::kNameTooLong, "symlink target of " + std::to_string(target.size()));
  }
  return Status::Ok();
}

Status ApplyMode(const Caller& caller, InodeAttr& attr, uint32_t mode) {
  if (!IsOwnerOrRoot(caller, attr)) return Status(ErrorCode::kNotPermitted, "chmod: not owner");
  attr.mode = mode & kModeBits;
  if (!caller.IsRoot() && !caller.InGroup(attr.gid)) attr.mode &= ~kSetGidBit;
  return Status::Ok();
}

Status ApplyOwner(const Caller& caller, InodeAttr& attr, uint32_t mask, const InodeAttr& v) {
  if (!caller.IsRoot()) {
    const bool uid_change = (mask & kSetUid) && v.uid != attr.uid;
    const bool gid_denied = (mask & kSetGid) && v.gid != attr.gid && !caller.InGroup(v.gid);
    if (caller.uid != attr.uid || uid_change || gid_denied) {
      return Status(ErrorCode::kNotPermitted, "chown: uid " + std::to_string(caller.uid));
    }
  }
  // As Linux since 2.2.13, for root too: a chown of a non-directory drops set-user-ID, and
  // set-group-ID when the group may execute.
  if (attr.type != FileType::kDirectory) {
    attr.mode &= ~kSetUidBit;
    if (attr.mode & 0010) attr.mode &= ~kSetGidBit;
  }
  if (mask & kSetUid) attr.uid = v.uid;
  if (mask & kSetGid) attr.gid = v.gid;
  return Status::Ok();
}

Status ApplySize(const Caller& caller, InodeAttr& attr, uint64_t size, int64_t now) {
  if (attr.type == FileType::kDirectory) {
    return Status(ErrorCode::kIsADirectory, "truncate of a directory");
  }
  if (attr.type != FileType::kRegular) return Status::InvalidArgument("truncate of a symlink");
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, attr, kMayWrite));
  attr.size = size;
  attr.mtime_ns = now;
  return Status::Ok();
}

Status ApplyTimes(const Caller& caller, InodeAttr& attr, uint32_t mask, const InodeAttr& v,
                  int64_t now) {
  if ((mask & (kSetAtime | kSetMtime | kSetCtime)) && !IsOwnerOrRoot(caller, attr)) {
    return Status(ErrorCode::kNotPermitted, "utimes: not owner");
  }
  if ((mask & (kSetAtimeNow | kSetMtimeNow)) && !IsOwnerOrRoot(caller, attr)) {
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, attr, kMayWrite));
  }
  if (mask & kSetAtime) attr.atime_ns = v.atime_ns;
  if (mask & kSetMtime) attr.mtime_ns = v.mtime_ns;
  if (mask & kSetAtimeNow) attr.atime_ns = now;
  if (mask & kSetMtimeNow) attr.mtime_ns = now;
  return Status::Ok();
}

// Parent checks shared by operations that remove or add an entry: a directory of this PG
// with w+x for the caller.
Result<InodeAttr> WritableDirectory(const MetaTxn& txn, const Caller& caller, uint64_t parent) {
  CVFS_ASSIGN_OR_RETURN(InodeAttr dir, txn.GetDirectory(parent));
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayWrite | kMayExec));
  return dir;
}

// The entry `name` of `dir` that a remove may take: present, and the sticky rule passes.
Result<DentryRecord> RemovableEntry(const MetaTxn& txn, const Caller& caller, const InodeAttr& dir,
                                    std::string_view name) {
  CVFS_ASSIGN_OR_RETURN(auto entry, txn.GetDentry(dir.inode, name));
  if (!entry) return Status::NotFound("no entry '" + std::string(name) + "'");
  CVFS_ASSIGN_OR_RETURN(uint32_t owner, VictimUid(txn, *entry));
  CVFS_RETURN_IF_ERROR(CheckSticky(caller, dir, owner));
  return *entry;
}

}  // namespace

Result<Mutation> NamespaceEngine::Create(const Caller& caller, const RequestKey& key,
                                         uint64_t parent, std::string_view name, FileType type,
                                         uint32_t mode, bool exclusive,
                                         std::string_view symlink_target) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  CVFS_RETURN_IF_ERROR(ValidateNewInode(type, symlink_target));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr dir, txn.GetDirectory(parent));
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayExec));
    CVFS_ASSIGN_OR_RETURN(auto entry, txn.GetDentry(parent, name));
    MutationReply reply;
    if (entry) {
      CVFS_RETURN_IF_ERROR(ExistingForCreate(*entry, type, exclusive));
      reply.attr.inode = entry->inode;
      if (PgOfInode(entry->inode) == pg_) {
        CVFS_ASSIGN_OR_RETURN(reply.attr, txn.GetInode(entry->inode));
      }
      return reply;
    }
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayWrite));
    CVFS_ASSIGN_OR_RETURN(uint64_t inode, txn.AllocateInode());
    const int64_t now = NowNs();
    InodeAttr& attr = reply.attr;
    attr.inode = inode;
    attr.type = type;
    attr.mode = type == FileType::kSymlink ? 0777 : mode & kModeBits;
    attr.uid = caller.uid;
    attr.gid = (dir.mode & kSetGidBit) ? dir.gid : caller.gid;
    attr.nlink = 1;
    attr.size = symlink_target.size();
    attr.atime_ns = attr.mtime_ns = attr.ctime_ns = now;
    attr.symlink_target = std::string(symlink_target);
    txn.CreateInode(attr);
    txn.AddDentry(dir, name, inode, type);
    TouchDirectory(dir, now);
    txn.PutInode(dir);
    reply.created = true;
    return reply;
  });
}

Result<Mutation> NamespaceEngine::SetAttr(const Caller& caller, const RequestKey& key,
                                          uint64_t inode, uint32_t mask,
                                          const InodeAttr& values) const {
  CVFS_RETURN_IF_ERROR(CheckLocal(inode));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(inode));
    const int64_t now = NowNs();
    if (mask & kSetMode) CVFS_RETURN_IF_ERROR(ApplyMode(caller, attr, values.mode));
    if (mask & (kSetUid | kSetGid)) CVFS_RETURN_IF_ERROR(ApplyOwner(caller, attr, mask, values));
    if (mask & kSetSize) CVFS_RETURN_IF_ERROR(ApplySize(caller, attr, values.size, now));
    CVFS_RETURN_IF_ERROR(ApplyTimes(caller, attr, mask, values, now));
    attr.ctime_ns = (mask & kSetCtime) ? values.ctime_ns : now;
    return PutAndReply(txn, attr);
  });
}

Result<Mutation> NamespaceEngine::Unlink(const Caller& caller, const RequestKey& key,
                                         uint64_t parent, std::string_view name) const {
  return RemoveNamed(caller, key, parent, name, /*directory=*/false);
}

Result<Mutation> NamespaceEngine::Link(const Caller& caller, const RequestKey& key, uint64_t inode,
                                       uint64_t new_parent, std::string_view new_name) const {
  CVFS_RETURN_IF_ERROR(ValidateName(new_name));
  CVFS_RETURN_IF_ERROR(CheckLocal(inode));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(inode));
    if (attr.type == FileType::kDirectory) {
      return Status(ErrorCode::kNotPermitted, "hard link to a directory");
    }
    CVFS_ASSIGN_OR_RETURN(InodeAttr dir, WritableDirectory(txn, caller, new_parent));
    CVFS_ASSIGN_OR_RETURN(auto existing, txn.GetDentry(new_parent, new_name));
    if (existing) return Status::AlreadyExists("entry '" + std::string(new_name) + "' exists");
    if (attr.nlink >= kMaxLinks) return Status(ErrorCode::kTooManyLinks, "nlink at the limit");
    const int64_t now = NowNs();
    ++attr.nlink;
    attr.ctime_ns = now;
    txn.PutInode(attr);
    txn.AddDentry(dir, new_name, inode, attr.type);
    TouchDirectory(dir, now);
    txn.PutInode(dir);
    MutationReply reply;
    reply.attr = attr;
    return reply;
  });
}

Result<Mutation> NamespaceEngine::Rmdir(const Caller& caller, const RequestKey& key,
                                        uint64_t parent, std::string_view name) const {
  return RemoveNamed(caller, key, parent, name, /*directory=*/true);
}

Result<Mutation> NamespaceEngine::RemoveNamed(const Caller& caller, const RequestKey& key,
                                              uint64_t parent, std::string_view name,
                                              bool directory) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr dir, WritableDirectory(txn, caller, parent));
    CVFS_ASSIGN_OR_RETURN(DentryRecord entry, RemovableEntry(txn, caller, dir, name));
    if (directory && entry.type != FileType::kDirectory) {
      return Status(ErrorCode::kNotADirectory, "rmdir of '" + std::string(name) + "'");
    }
    if (!directory && entry.type == FileType::kDirectory) {
      return Status(ErrorCode::kIsADirectory, "unlink of directory '" + std::string(name) + "'");
    }
    const int64_t now = NowNs();
    MutationReply reply;
    CVFS_RETURN_IF_ERROR(ReleaseVictim(txn, entry, now, &reply));
    txn.RemoveDentry(dir, name, entry);
    if (directory) --dir.nlink;
    TouchDirectory(dir, now);
    txn.PutInode(dir);
    if (directory) reply.attr = dir;
    return reply;
  });
}

}  // namespace cvfs::server::meta
