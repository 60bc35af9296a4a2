// NamespaceEngine: the per-PG steps of cross-PG operations (MakeDirectoryInode, AddEntry,
// RemoveEntry, AdjustLinks, SetParent). Each is an ordinary deduplicated mutation, so the
// coordinator may replay it with the same RequestKey (its intent id).
#include "server/meta/link_ops.h"
#include "server/meta/names.h"
#include "server/meta/namespace_engine.h"

namespace cvfs::server::meta {
namespace {

constexpr uint32_t kSetGidBit = 02000;

}  // namespace

Result<Mutation> NamespaceEngine::MakeDirectoryInode(const Caller& caller, const RequestKey& key,
                                                     const InodeAttr& parent_attr,
                                                     uint32_t mode) const {
  if (parent_attr.type != FileType::kDirectory) {
    return Status(ErrorCode::kNotADirectory, "parent " + std::to_string(parent_attr.inode));
  }
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(uint64_t inode, txn.AllocateInode());
    const int64_t now = NowNs();
    MutationReply reply;
    InodeAttr& attr = reply.attr;
    attr.inode = inode;
    attr.type = FileType::kDirectory;
    attr.mode = mode & kModeBits;
    attr.uid = caller.uid;
    attr.gid = caller.gid;
    if (parent_attr.mode & kSetGidBit) {
      attr.gid = parent_attr.gid;
      attr.mode |= kSetGidBit;
    }
    attr.nlink = 2;
    attr.atime_ns = attr.mtime_ns = attr.ctime_ns = now;
    attr.parent = parent_attr.inode;
    attr.next_cookie = kFirstEntryCookie;
    txn.CreateInode(attr);
    reply.created = true;
    return reply;
  });
}

Result<Mutation> NamespaceEngine::AddEntry(const RequestKey& key, uint64_t parent,
                                           std::string_view name, uint64_t inode,
                                           FileType type) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  if (!IsValidFileType(static_cast<uint8_t>(type)) || inode == 0) {
    return Status::InvalidArgument("AddEntry of inode " + std::to_string(inode));
  }
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr dir, txn.GetDirectory(parent));
    CVFS_ASSIGN_OR_RETURN(auto existing, txn.GetDentry(parent, name));
    if (existing) return Status::AlreadyExists("entry '" + std::string(name) + "' exists");
    if (type == FileType::kDirectory) {
      if (dir.nlink >= kMaxLinks) return Status(ErrorCode::kTooManyLinks, "parent nlink");
      ++dir.nlink;
    }
    txn.AddDentry(dir, name, inode, type);
    TouchDirectory(dir, NowNs());
    return PutAndReply(txn, dir);
  });
}

Result<Mutation> NamespaceEngine::RemoveEntry(const RequestKey& key, uint64_t parent,
                                              std::string_view name,
                                              uint64_t expected_inode) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr dir, txn.GetDirectory(parent));
    CVFS_ASSIGN_OR_RETURN(auto entry, txn.GetDentry(parent, name));
    if (!entry || entry->inode != expected_inode) {
      return Status::NotFound("no entry '" + std::string(name) + "' naming inode " +
                              std::to_string(expected_inode));
    }
    txn.RemoveDentry(dir, name, *entry);
    if (entry->type == FileType::kDirectory) --dir.nlink;
    TouchDirectory(dir, NowNs());
    return PutAndReply(txn, dir);
  });
}

Result<Mutation> NamespaceEngine::AdjustLinks(const RequestKey& key, uint64_t inode,
                                              int32_t delta) const {
  CVFS_RETURN_IF_ERROR(CheckLocal(inode));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(inode));
    const int64_t nlink = int64_t{attr.nlink} + delta;
    if (nlink < 0) return Status::InvalidArgument("nlink would go below 0");
    if (nlink > kMaxLinks) return Status(ErrorCode::kTooManyLinks, "nlink above the limit");
    if (nlink == 0 && attr.type == FileType::kDirectory && attr.entries != 0) {
      return Status(ErrorCode::kNotEmpty, "directory " + std::to_string(inode) + " not empty");
    }
    MutationReply reply;
    if (nlink == 0) {
      attr.nlink = 1;
      DropLink(txn, attr, NowNs(), &reply);
      return reply;
    }
    attr.nlink = static_cast<uint32_t>(nlink);
    attr.ctime_ns = NowNs();
    txn.PutInode(attr);
    reply.attr = attr;
    return reply;
  });
}

Result<Mutation> NamespaceEngine::SetParent(const RequestKey& key, uint64_t dir,
                                            uint64_t new_parent) const {
  CVFS_RETURN_IF_ERROR(CheckLocal(dir));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetDirectory(dir));
    attr.parent = new_parent;
    attr.ctime_ns = NowNs();
    return PutAndReply(txn, attr);
  });
}

}  // namespace cvfs::server::meta
