// MetaService handlers of requests that one PG answers alone, and the replica's Apply.
#include <fcntl.h>

#include <algorithm>

#include "core/logging.h"
#include "core/stripe_routing.h"
#include "server/meta/meta_service.h"
#include "server/meta/meta_wire.h"

namespace cvfs::server::meta {

namespace wire = net::wire;

Result<std::string> MetaService::HandleLookup(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::LookupRequest req, wire::DecodeLookupRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(LookupResult found, EngineFor(pg).Lookup(caller, req.parent, req.name));
  wire::EntryReply reply;
  reply.inode = found.inode;
  reply.type = ToWireType(found.type);
  reply.has_attr = found.has_attr;
  if (found.has_attr) reply.attr = ToWireAttr(found.attr);
  return wire::EncodeEntryReply(reply);
}

Result<std::string> MetaService::HandleGetAttr(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::GetAttrRequest req, wire::DecodeGetAttrRequest(p));
  CVFS_RETURN_IF_ERROR(CallerOf(c, req.header).status());
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, EngineFor(pg).GetAttr(req.inode));
  wire::AttrReply reply;
  reply.attr = ToWireAttr(attr);
  return wire::EncodeAttrReply(reply);
}

Result<std::string> MetaService::HandleSetAttr(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::SetAttrRequest req, wire::DecodeSetAttrRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  constexpr uint32_t kKnown = wire::kSetAttrMode | wire::kSetAttrUid | wire::kSetAttrGid |
                              wire::kSetAttrSize | wire::kSetAttrAtime | wire::kSetAttrMtime |
                              wire::kSetAttrAtimeNow | wire::kSetAttrMtimeNow;
  if ((req.mask & ~kKnown) != 0) {
    return Status::InvalidArgument("unknown setattr mask bits " + std::to_string(req.mask));
  }
  InodeAttr values;
  values.mode = req.mode;
  values.uid = req.uid;
  values.gid = req.gid;
  values.size = req.size;
  values.atime_ns = req.atime_ns;
  values.mtime_ns = req.mtime_ns;
  // The wire bits equal the engine's kSet* bits 1..128.
  const RequestKey key{req.header.client_id, req.header.request_id};
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.SetAttr(caller, key, req.inode, req.mask, values);
                        }));
  return EncodeMutationReply(m.reply);
}

Result<std::string> MetaService::HandleCreate(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::CreateRequest req, wire::DecodeCreateRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  if (req.type != wire::InodeType::kRegular && req.type != wire::InodeType::kSymlink) {
    return Status::InvalidArgument("create makes regular files and symlinks only");
  }
  const FileType type = FromWireType(req.type);
  const RequestKey key{req.header.client_id, req.header.request_id};
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.Create(caller, key, req.parent, req.name, type, req.mode & 07777,
                                          req.exclusive, req.symlink_target);
                        }));
  return EncodeMutationReply(m.reply);
}

Result<std::string> MetaService::HandleReaddir(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::ReaddirRequest req, wire::DecodeReaddirRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  CVFS_RETURN_IF_ERROR(Ready(pg));
  const uint32_t max = std::clamp<uint32_t>(req.max_entries, 1, kMaxReaddirEntries);
  CVFS_ASSIGN_OR_RETURN(ReaddirPage page, EngineFor(pg).Readdir(caller, req.dir, req.cookie, max));
  wire::ReaddirReply reply;
  reply.eof = page.eof;
  size_t bytes = 0;
  for (auto& entry : page.entries) {
    bytes += entry.name.size() + 48;  // generous per-entry FlatBuffers overhead
    if (bytes > options_.max_readdir_reply_bytes && !reply.entries.empty()) {
      reply.eof = false;
      break;
    }
    reply.entries.push_back(
        {std::move(entry.name), entry.inode, ToWireType(entry.type), entry.cookie});
  }
  return wire::EncodeReaddirReply(reply);
}

Result<std::string> MetaService::HandleReadlink(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::ReadlinkRequest req, wire::DecodeReadlinkRequest(p));
  CVFS_RETURN_IF_ERROR(CallerOf(c, req.header).status());
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  CVFS_ASSIGN_OR_RETURN(std::string target, EngineFor(pg).Readlink(req.inode));
  return wire::EncodeReadlinkReply({std::move(target)});
}

Result<std::string> MetaService::HandleStatFs(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::StatFsRequest req, wire::DecodeStatFsRequest(p));
  CVFS_RETURN_IF_ERROR(CallerOf(c, req.header).status());
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  CVFS_ASSIGN_OR_RETURN(PgCounters counters, EngineFor(pg).StatFs());
  wire::StatFsReply reply;
  // Capacity: what the up nodes' drives report, as user bytes after parity.
  uint64_t total = 0, free = 0;
  for (const auto& [id, node] : pg.map->nodes) {
    if (node.state != NodeState::kUp) continue;
    for (const auto& drive : node.record.drives) {
      total += drive.capacity_bytes;
      free += drive.free_bytes;
    }
  }
  const auto& g = pg.fs->geometry;
  reply.total_bytes = total / g.width() * g.data_cells;
  reply.free_bytes = free / g.width() * g.data_cells;
  reply.block_size = 4096;
  // Inodes: every PG can allocate 2^40; used: this PG's count times the PG count (an
  // estimate: exact counts would need every PG's primary).
  reply.total_inodes = (uint64_t{1} << 40) * pg.fs->pg_count;
  reply.used_inodes = counters.inodes * pg.fs->pg_count;
  return wire::EncodeStatFsReply(reply);
}

Result<std::string> MetaService::HandleOpen(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::OpenRequest req, wire::DecodeOpenRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  NamespaceEngine engine = EngineFor(pg);
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, engine.GetAttr(req.inode));
  int want = 0;
  const int access = static_cast<int>(req.flags) & O_ACCMODE;
  if (access == O_RDONLY || access == O_RDWR) want |= kMayRead;
  if (access == O_WRONLY || access == O_RDWR || (req.flags & O_TRUNC) != 0) want |= kMayWrite;
  if (attr.type == FileType::kDirectory && (want & kMayWrite) != 0) {
    return Status(ErrorCode::kIsADirectory,
                  "directory " + std::to_string(req.inode) + " cannot be opened for writing");
  }
  CVFS_RETURN_IF_ERROR(engine.Access(caller, req.inode, want));
  wire::OpenReply reply;
  reply.handle = 0;  // open handles are not recorded yet (docs/design/namespace.md)
  reply.attr = ToWireAttr(attr);
  return wire::EncodeOpenReply(reply);
}

Result<std::string> MetaService::HandleRelease(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::ReleaseRequest req, wire::DecodeReleaseRequest(p));
  CVFS_RETURN_IF_ERROR(CallerOf(c, req.header).status());
  return wire::EncodeMetaEmptyReply();
}

Result<std::string> MetaService::HandleCommitSize(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::CommitSizeRequest req, wire::DecodeCommitSizeRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key{req.header.client_id, req.header.request_id};
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) -> Result<Mutation> {
                          CVFS_ASSIGN_OR_RETURN(InodeAttr now, e.GetAttr(req.inode));
                          CVFS_RETURN_IF_ERROR(e.Access(caller, req.inode, kMayWrite));
                          // Sizes only grow here: a truncate is a SetAttr of its own.
                          InodeAttr values;
                          uint32_t mask = kSetMtimeNow;
                          if (req.size > now.size) {
                            mask |= kSetSize;
                            values.size = req.size;
                          }
                          // A write by anyone but root drops set-user-ID, and
                          // set-group-ID when the group may execute (Linux's
                          // file_remove_privs); the writer need not own the file, so
                          // the change is made as root once write access is checked.
                          const uint32_t privs = 04000 | ((now.mode & 0010) != 0 ? 02000 : 0);
                          Caller as = caller;
                          if (!caller.IsRoot() && (now.mode & privs) != 0) {
                            mask |= kSetMode;
                            values.mode = now.mode & ~privs;
                            as = Caller{};
                          }
                          return e.SetAttr(as, key, req.inode, mask, values);
                        }));
  return EncodeMutationReply(m.reply);
}

Result<std::string> MetaService::HandleApply(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::ApplyRequest req, wire::DecodeApplyRequest(p));
  if (c.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd may replicate");
  std::vector<MetaBatch> batches;
  batches.reserve(1 + req.more.size());
  for (size_t i = 0; i <= req.more.size(); ++i) {
    CVFS_ASSIGN_OR_RETURN(MetaBatch batch, MetaBatch::Decode(i == 0 ? req.batch : req.more[i - 1]));
    if (batch.fs_id != req.fs_id || batch.pg != req.pg || batch.sequence != req.sequence + i) {
      return Status::MalformedMessage("apply header does not match its batches");
    }
    batches.push_back(std::move(batch));
  }
  CVFS_RETURN_IF_ERROR(store_.ApplyAll(batches, req.sync));
  counters_.batches_applied += batches.size();
  return wire::EncodeMetaEmptyReply();
}

}  // namespace cvfs::server::meta
