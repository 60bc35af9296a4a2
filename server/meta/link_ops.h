// Link-count and entry-victim steps shared by the engine's mutations, staged on a MetaTxn.
// Thread-safety: as MetaTxn (one thread, under the caller's per-PG mutex).
#pragma once

#include <cstdint>

#include "core/status.h"
#include "server/meta/meta_records.h"
#include "server/meta/meta_txn.h"
#include "server/meta/mutation_reply.h"

namespace cvfs::server::meta {

// Stages `attr` and returns a reply carrying it.
MutationReply PutAndReply(MetaTxn& txn, const InodeAttr& attr);
// Directory contents changed: mtime and ctime = now.
void TouchDirectory(InodeAttr& dir, int64_t now_ns);
// nlink - 1 and ctime; at 0 the inode is deleted (freed_inode for a regular file). The
// result goes to reply->attr.
void DropLink(MetaTxn& txn, InodeAttr attr, int64_t now_ns, MutationReply* reply);
// Releases the inode of an entry just removed or replaced: here, a directory must be empty
// (kNotEmpty) and is deleted, another inode loses a link; elsewhere it is reported as
// reply->remote_unlink_inode for the caller.
Status ReleaseVictim(MetaTxn& txn, const DentryRecord& victim, int64_t now_ns,
                     MutationReply* reply);
// The owner uid of an entry's inode when it is in this PG, else kUnknownUid (the sticky rule
// then allows only the directory's owner and root).
inline constexpr uint32_t kUnknownUid = 0xffffffffu;
Result<uint32_t> VictimUid(const MetaTxn& txn, const DentryRecord& victim);

}  // namespace cvfs::server::meta
