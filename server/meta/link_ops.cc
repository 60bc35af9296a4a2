#include "server/meta/link_ops.h"

namespace cvfs::server::meta {

MutationReply PutAndReply(MetaTxn& txn, const InodeAttr& attr) {
  txn.PutInode(attr);
  MutationReply reply;
  reply.attr = attr;
  return reply;
}

void TouchDirectory(InodeAttr& dir, int64_t now_ns) {
  dir.mtime_ns = now_ns;
  dir.ctime_ns = now_ns;
}

void DropLink(MetaTxn& txn, InodeAttr attr, int64_t now_ns, MutationReply* reply) {
  if (attr.nlink > 0) --attr.nlink;
  attr.ctime_ns = now_ns;
  if (attr.nlink == 0) {
    txn.DeleteInode(attr.inode);
    if (attr.type == FileType::kRegular) reply->freed_inode = attr.inode;
  } else {
    txn.PutInode(attr);
  }
  reply->attr = attr;
}

Status ReleaseVictim(MetaTxn& txn, const DentryRecord& victim, int64_t now_ns,
                     MutationReply* reply) {
  if (PgOfInode(victim.inode) != txn.pg()) {
    reply->remote_unlink_inode = victim.inode;
    reply->remote_unlink_type = victim.type;
    return Status::Ok();
  }
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(victim.inode));
  if (attr.type != FileType::kDirectory) {
    DropLink(txn, attr, now_ns, reply);
    return Status::Ok();
  }
  if (attr.entries != 0) {
    return Status(ErrorCode::kNotEmpty, "directory " + std::to_string(attr.inode) + " has " +
                                            std::to_string(attr.entries) + " entries");
  }
  txn.DeleteInode(attr.inode);
  return Status::Ok();
}

Result<uint32_t> VictimUid(const MetaTxn& txn, const DentryRecord& victim) {
  if (PgOfInode(victim.inode) != txn.pg()) return kUnknownUid;
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, txn.GetInode(victim.inode));
  return attr.uid;
}

}  // namespace cvfs::server::meta
