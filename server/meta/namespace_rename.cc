// NamespaceEngine::Rename within one PG: checks first (all read-only), then the staged
// changes, so an error leaves the transaction unused.
#include "server/meta/link_ops.h"
#include "server/meta/names.h"
#include "server/meta/namespace_engine.h"

namespace cvfs::server::meta {
namespace {

constexpr int kMaxAncestorWalk = 4096;

// kInvalidArgument when `dir` is `start` or one of its ancestors reachable through parent
// pointers inside this PG (the walk stops at the root or at the first ancestor elsewhere).
Status CheckNotAncestor(const MetaTxn& txn, uint64_t dir, uint64_t start) {
  uint64_t cur = start;
  for (int depth = 0; depth < kMaxAncestorWalk; ++depth) {
    if (cur == dir) {
      return Status::InvalidArgument("rename of directory " + std::to_string(dir) +
                                     " into its own subtree");
    }
    if (PgOfInode(cur) != txn.pg()) return Status::Ok();
    CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(cur));
    if (attr.parent == cur || attr.parent == 0) return Status::Ok();
    cur = attr.parent;
  }
  return Status::Internal("parent chain longer than " + std::to_string(kMaxAncestorWalk));
}

Status CheckReplace(const MetaTxn& txn, const DentryRecord& src, const DentryRecord& dst) {
  const bool src_dir = src.type == FileType::kDirectory;
  const bool dst_dir = dst.type == FileType::kDirectory;
  if (src_dir && !dst_dir) return Status(ErrorCode::kNotADirectory, "rename dir over non-dir");
  if (!src_dir && dst_dir) return Status(ErrorCode::kIsADirectory, "rename non-dir over dir");
  if (!dst_dir || PgOfInode(dst.inode) != txn.pg()) return Status::Ok();
  CVFS_ASSIGN_OR_RETURN(InodeAttr target, txn.GetInode(dst.inode));
  if (target.entries != 0) return Status(ErrorCode::kNotEmpty, "rename over non-empty dir");
  return Status::Ok();
}

// Checks that need the moved directory itself: w on it when its parent changes (its ".."
// changes), and not moving it under itself.
Status CheckMovedDirectory(const MetaTxn& txn, const Caller& caller, const DentryRecord& src,
                           uint64_t src_parent, uint64_t dst_parent) {
  if (src.type != FileType::kDirectory || src_parent == dst_parent) return Status::Ok();
  if (PgOfInode(src.inode) == txn.pg()) {
    CVFS_ASSIGN_OR_RETURN(InodeAttr moved, txn.GetInode(src.inode));
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, moved, kMayWrite));
  }
  return CheckNotAncestor(txn, src.inode, dst_parent);
}

}  // namespace

Result<Mutation> NamespaceEngine::Rename(const Caller& caller, const RequestKey& key,
                                         uint64_t src_parent, std::string_view src_name,
                                         uint64_t dst_parent, std::string_view dst_name,
                                         bool noreplace) const {
  CVFS_RETURN_IF_ERROR(ValidateName(src_name));
  CVFS_RETURN_IF_ERROR(ValidateName(dst_name));
  return Run(key, [&](MetaTxn& txn) -> Result<MutationReply> {
    CVFS_ASSIGN_OR_RETURN(InodeAttr sp, txn.GetDirectory(src_parent));
    CVFS_ASSIGN_OR_RETURN(InodeAttr dp, txn.GetDirectory(dst_parent));
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, sp, kMayWrite | kMayExec));
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, dp, kMayWrite | kMayExec));
    CVFS_ASSIGN_OR_RETURN(auto src, txn.GetDentry(src_parent, src_name));
    if (!src) return Status::NotFound("no entry '" + std::string(src_name) + "'");
    CVFS_ASSIGN_OR_RETURN(auto dst, txn.GetDentry(dst_parent, dst_name));
    MutationReply reply;
    if (PgOfInode(src->inode) == pg_) {
      CVFS_ASSIGN_OR_RETURN(reply.attr, txn.GetInode(src->inode));
    }
    if (dst && dst->inode == src->inode) return reply;  // same inode: nothing to do
    if (dst && noreplace) return Status::AlreadyExists("entry '" + std::string(dst_name) + "'");
    CVFS_ASSIGN_OR_RETURN(uint32_t src_owner, VictimUid(txn, *src));
    CVFS_RETURN_IF_ERROR(CheckSticky(caller, sp, src_owner));
    CVFS_RETURN_IF_ERROR(CheckMovedDirectory(txn, caller, *src, src_parent, dst_parent));
    if (dst) {
      CVFS_RETURN_IF_ERROR(CheckReplace(txn, *src, *dst));
      CVFS_ASSIGN_OR_RETURN(uint32_t dst_owner, VictimUid(txn, *dst));
      CVFS_RETURN_IF_ERROR(CheckSticky(caller, dp, dst_owner));
    }

    const int64_t now = NowNs();
    const bool moves_dir = src->type == FileType::kDirectory && src_parent != dst_parent;
    txn.RemoveDentry(sp, src_name, *src);
    if (moves_dir) --sp.nlink;
    TouchDirectory(sp, now);
    txn.PutInode(sp);

    CVFS_ASSIGN_OR_RETURN(dp, txn.GetInode(dst_parent));  // sees the staged source side
    if (dst) {
      txn.RemoveDentry(dp, dst_name, *dst);
      if (dst->type == FileType::kDirectory) --dp.nlink;
      MutationReply victim;
      CVFS_RETURN_IF_ERROR(ReleaseVictim(txn, *dst, now, &victim));
      reply.freed_inode = victim.freed_inode;
      reply.remote_unlink_inode = victim.remote_unlink_inode;
      reply.remote_unlink_type = victim.remote_unlink_type;
    }
    txn.AddDentry(dp, dst_name, src->inode, src->type);
    if (moves_dir) ++dp.nlink;
    TouchDirectory(dp, now);
    txn.PutInode(dp);

    if (PgOfInode(src->inode) != pg_) {
      if (moves_dir) {
        reply.reparent_inode = src->inode;
        reply.reparent_to = dst_parent;
      }
      return reply;
    }
    reply.attr.ctime_ns = now;
    if (moves_dir) reply.attr.parent = dst_parent;
    txn.PutInode(reply.attr);
    return reply;
  });
}

}  // namespace cvfs::server::meta
