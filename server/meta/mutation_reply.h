// MutationReply: the one reply shape of every namespace mutation, and its encoding (stored
// in the `R` dedup record, so a retried request gets the same reply).
// Thread-safety: value type.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "server/meta/meta_records.h"

namespace cvfs::server::meta {

struct MutationReply {
  // The inode the op created or changed (after the op); inode 0 when none is local.
  InodeAttr attr;
  bool created = false;  // Create/MakeDirectoryInode made a new inode
  // A regular file whose nlink reached 0 and whose inode was deleted here: the caller
  // deletes its data stripes. 0 when none.
  uint64_t freed_inode = 0;
  // An entry naming an inode of another PG was removed or replaced: the caller sends
  // AdjustLinks(-1, or -2 for a directory) to PgOfInode(remote_unlink_inode). 0 when none.
  uint64_t remote_unlink_inode = 0;
  FileType remote_unlink_type = FileType::kRegular;
  // Rename moved a directory whose inode is in another PG to a new parent: the caller sends
  // SetParent(reparent_inode, attr-independent new parent) to that PG. 0 when none.
  uint64_t reparent_inode = 0;
  uint64_t reparent_to = 0;

  bool operator==(const MutationReply&) const = default;
};

std::string EncodeReply(const MutationReply& reply);
// kCorruption unless `bytes` is exactly one encoded reply.
Result<MutationReply> DecodeReply(std::string_view bytes);

}  // namespace cvfs::server::meta
