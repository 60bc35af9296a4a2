// MetaService: operations that may span PGs (mkdir, unlink, rmdir, rename, link) and the
// steps (kMetaPart) they send to other PGs' primaries.
//
// Order rule (docs/design/namespace.md): an entry is added only after the inode it names
// exists, and removed before its inode loses the link; so a crash between steps leaves at
// worst an orphan inode (or a link count one too high), never a visible entry naming
// nothing. Every step carries a key derived from the client's request key (StepKeyParts),
// so a client's retry replays finished steps instead of repeating them; the final local
// step carries the request's own key, and a retry that finds it answered only finishes the
// remote rest.
#include "core/logging.h"
#include "core/stripe_routing.h"
#include "server/meta/link_ops.h"
#include "server/meta/meta_parts.h"
#include "server/meta/meta_service.h"
#include "server/meta/meta_wire.h"

namespace cvfs::server::meta {

namespace wire = net::wire;

namespace {

RequestKey Step(const RequestKey& key, int step) {
  const RequestKeyParts parts = StepKeyParts(key.client_id, key.request_id, step);
  return RequestKey{parts.client_id, parts.request_id};
}

RequestKey KeyOf(const wire::MetaHeader& header) {
  return RequestKey{header.client_id, header.request_id};
}

uint8_t Kind(PartKind kind) { return static_cast<uint8_t>(kind); }

Result<MutationReply> DecodeStepReply(const Result<std::string>& body) {
  if (!body.ok()) return body.status();
  return DecodeReply(*body);
}

}  // namespace

Result<MutationReply> MetaService::DropRemoteLink(uint32_t fs_id, uint64_t inode, FileType type,
                                                  const RequestKey& key) {
  PartBody body;
  body.inode = inode;
  body.delta = type == FileType::kDirectory ? -2 : -1;
  return DecodeStepReply(
      SendPart(fs_id, PgOfInode(inode), Kind(PartKind::kAdjustLinks), key, EncodePartBody(body)));
}

Result<MutationReply> MetaService::FinishRemote(uint32_t fs_id, MutationReply reply,
                                                const RequestKey& key) {
  if (reply.reparent_inode != 0) {
    PartBody body;
    body.inode = reply.reparent_inode;
    body.parent = reply.reparent_to;
    CVFS_RETURN_IF_ERROR(
        DecodeStepReply(SendPart(fs_id, PgOfInode(reply.reparent_inode), Kind(PartKind::kSetParent),
                                 Step(key, 8), EncodePartBody(body)))
            .status());
  }
  if (reply.remote_unlink_inode != 0) {
    CVFS_ASSIGN_OR_RETURN(
        MutationReply dropped,
        DropRemoteLink(fs_id, reply.remote_unlink_inode, reply.remote_unlink_type, Step(key, 9)));
    reply.freed_inode = dropped.freed_inode;
    if (reply.attr.inode == 0 || reply.attr.inode == dropped.attr.inode) reply.attr = dropped.attr;
  }
  return reply;
}

Result<std::string> MetaService::HandleMkdir(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::MkdirRequest req, wire::DecodeMkdirRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  NamespaceEngine engine = EngineFor(pg);
  CVFS_RETURN_IF_ERROR(Ready(pg));
  // A retry of a finished mkdir: answer with the directory's attributes again.
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, engine.Answered(key));
  CVFS_ASSIGN_OR_RETURN(
      InodeAttr parent_attr,
      answered ? engine.GetAttr(req.parent) : engine.CheckCreate(caller, req.parent, req.name));
  // Step 1: the directory's inode, in the PG its name hashes to.
  const uint32_t target = DirectoryPg(req.parent, req.name, pg.fs->pg_count);
  PartBody body;
  body.caller = caller;
  body.parent_attr = parent_attr;
  body.mode = req.mode & 07777;
  MutationReply made;
  if (target == pg.id) {
    CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                            return e.MakeDirectoryInode(caller, Step(key, 1), parent_attr,
                                                        body.mode);
                          }));
    made = m.reply;
  } else {
    CVFS_ASSIGN_OR_RETURN(
        made, DecodeStepReply(SendPart(pg.fs->id, target, Kind(PartKind::kMakeDirectoryInode),
                                       Step(key, 1), EncodePartBody(body))));
  }
  // A crash here leaves the directory's inode an orphan (cvfs fsck) unless a retry of the
  // request finishes the mkdir.
  options_.crash_points.Reach(CrashPoint::kMetaMkdirAfterInode, "mkdir " + req.name);
  // Step 2 (the request's own key): the entry, now that the inode exists.
  auto added = Mutate(pg, [&](const NamespaceEngine& e) {
    return e.AddEntry(key, req.parent, req.name, made.attr.inode, FileType::kDirectory);
  });
  if (!added.ok()) {
    // The name was taken meanwhile: the new inode is an orphan; drop it.
    auto dropped =
        target == pg.id
            ? Mutate(pg,
                     [&](const NamespaceEngine& e) {
                       return e.AdjustLinks(Step(key, 2), made.attr.inode, -2);
                     })
                  .status()
            : DropRemoteLink(pg.fs->id, made.attr.inode, FileType::kDirectory, Step(key, 2))
                  .status();
    if (!dropped.ok()) {
      LOG_WARN("meta.orphan_directory fs={} inode={} error=\"{}\"", pg.fs->id, made.attr.inode,
               dropped.ToString());
    }
    return added.status();
  }
  MutationReply reply = made;
  reply.created = true;
  return EncodeMutationReply(reply);
}

Result<std::string> MetaService::HandleUnlink(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::UnlinkRequest req, wire::DecodeUnlinkRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.Unlink(caller, key, req.parent, req.name);
                        }));
  CVFS_ASSIGN_OR_RETURN(MutationReply reply, FinishRemote(pg.fs->id, m.reply, key));
  return EncodeMutationReply(reply);
}

Result<std::string> MetaService::HandleRmdir(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::RmdirRequest req, wire::DecodeRmdirRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  NamespaceEngine engine = EngineFor(pg);
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, engine.Answered(key));
  if (!answered) {
    CVFS_ASSIGN_OR_RETURN(LookupResult child, engine.Lookup(caller, req.parent, req.name));
    if (child.type != FileType::kDirectory) {
      return Status(ErrorCode::kNotADirectory, "rmdir of '" + req.name + "': not a directory");
    }
    // Permission before emptiness, as Linux answers (EACCES before ENOTEMPTY).
    CVFS_ASSIGN_OR_RETURN(InodeAttr parent_attr, engine.GetAttr(req.parent));
    CVFS_RETURN_IF_ERROR(CheckAccess(caller, parent_attr, kMayWrite | kMayExec));
    if (PgOfInode(child.inode) != pg.id) {
      PartBody body;
      body.inode = child.inode;
      CVFS_RETURN_IF_ERROR(SendPart(pg.fs->id, PgOfInode(child.inode),
                                    Kind(PartKind::kCheckRmdirTarget), RequestKey{},
                                    EncodePartBody(body))
                               .status());
    }
  }
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.Rmdir(caller, key, req.parent, req.name);
                        }));
  CVFS_RETURN_IF_ERROR(FinishRemote(pg.fs->id, m.reply, key).status());
  return wire::EncodeMetaEmptyReply();
}

Result<std::string> MetaService::HandleRename(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::RenameRequest req, wire::DecodeRenameRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  if ((req.flags & ~wire::kRenameNoReplace) != 0) {
    return Status::InvalidArgument("unsupported rename flags " + std::to_string(req.flags));
  }
  if (PgOfInode(req.dst_parent) != pg.id) return RenameAcrossPgs(pg, caller, key, req);
  NamespaceEngine engine = EngineFor(pg);
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, engine.Answered(key));
  if (!answered) {
    // A directory about to be replaced whose inode lives elsewhere must be empty there.
    auto victim = engine.Lookup(caller, req.dst_parent, req.dst_name);
    auto source = engine.Lookup(caller, req.src_parent, req.src_name);
    // Only a directory may replace a directory (the engine answers EISDIR otherwise): the
    // emptiness of a remote one matters only then.
    if (victim.ok() && victim->type == FileType::kDirectory && PgOfInode(victim->inode) != pg.id &&
        source.ok() && source->type == FileType::kDirectory) {
      // Permission before emptiness, as Linux answers (EACCES before ENOTEMPTY).
      for (uint64_t dir : {req.src_parent, req.dst_parent}) {
        CVFS_ASSIGN_OR_RETURN(InodeAttr attr, engine.GetAttr(dir));
        CVFS_RETURN_IF_ERROR(CheckAccess(caller, attr, kMayWrite | kMayExec));
      }
      PartBody body;
      body.inode = victim->inode;
      CVFS_RETURN_IF_ERROR(SendPart(pg.fs->id, PgOfInode(victim->inode),
                                    Kind(PartKind::kCheckRmdirTarget), RequestKey{},
                                    EncodePartBody(body))
                               .status());
    }
  }
  const bool noreplace = (req.flags & wire::kRenameNoReplace) != 0;
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.Rename(caller, key, req.src_parent, req.src_name, req.dst_parent,
                                          req.dst_name, noreplace);
                        }));
  CVFS_ASSIGN_OR_RETURN(MutationReply reply, FinishRemote(pg.fs->id, m.reply, key));
  return EncodeMutationReply(reply);
}

Result<std::string> MetaService::RenameAcrossPgs(const Pg& pg, const Caller& caller,
                                                 const RequestKey& key,
                                                 const wire::RenameRequest& req) {
  NamespaceEngine engine = EngineFor(pg);
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, engine.Answered(key));
  if (answered) {
    CVFS_ASSIGN_OR_RETURN(MutationReply reply, FinishRemote(pg.fs->id, *answered, key));
    return EncodeMutationReply(reply);
  }
  const uint32_t fs_id = pg.fs->id;
  const uint32_t dst_pg = PgOfInode(req.dst_parent);
  // The source: an entry the caller may remove.
  CVFS_ASSIGN_OR_RETURN(LookupResult src, engine.Lookup(caller, req.src_parent, req.src_name));
  CVFS_ASSIGN_OR_RETURN(InodeAttr src_dir, engine.GetAttr(req.src_parent));
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, src_dir, kMayWrite | kMayExec));
  const uint32_t src_uid = src.has_attr ? src.attr.uid : kUnknownUid;
  CVFS_RETURN_IF_ERROR(CheckSticky(caller, src_dir, src_uid));
  const bool moves_dir = src.type == FileType::kDirectory;
  // A directory may not move under itself: walk the target's ancestry to the root.
  if (moves_dir) {
    uint64_t cur = req.dst_parent;
    for (int depth = 0; cur != kRootInode && depth < 4096; ++depth) {
      if (cur == src.inode) {
        return Status::InvalidArgument("rename would move directory '" + req.src_name +
                                       "' into its own subtree");
      }
      PartBody body;
      body.inode = cur;
      CVFS_ASSIGN_OR_RETURN(std::string bytes,
                            SendPart(fs_id, PgOfInode(cur), Kind(PartKind::kGetAttr), RequestKey{},
                                     EncodePartBody(body)));
      CVFS_ASSIGN_OR_RETURN(InodeAttr attr, DecodeInode(bytes));
      cur = attr.parent;
    }
  }
  // The target side: permission to create there, and what the name holds now.
  PartBody probe;
  probe.caller = caller;
  probe.parent = req.dst_parent;
  probe.name = req.dst_name;
  auto victim_bytes =
      SendPart(fs_id, dst_pg, Kind(PartKind::kLookup), RequestKey{}, EncodePartBody(probe));
  std::optional<DentryRecord> victim;
  if (victim_bytes.ok()) {
    CVFS_ASSIGN_OR_RETURN(DentryRecord found, DecodeDentry(*victim_bytes));
    victim = found;
  } else if (victim_bytes.status().code() != ErrorCode::kNotFound) {
    return victim_bytes.status();
  }
  if (victim && victim->inode != src.inode) {
    if ((req.flags & wire::kRenameNoReplace) != 0) {
      return Status::AlreadyExists("rename target '" + req.dst_name + "' exists");
    }
    if (moves_dir && victim->type != FileType::kDirectory) {
      return Status(ErrorCode::kNotADirectory, "rename of a directory over a non-directory");
    }
    if (!moves_dir && victim->type == FileType::kDirectory) {
      return Status(ErrorCode::kIsADirectory, "rename of a non-directory over a directory");
    }
    if (victim->type == FileType::kDirectory) {
      PartBody body;
      body.inode = victim->inode;
      CVFS_RETURN_IF_ERROR(SendPart(fs_id, PgOfInode(victim->inode),
                                    Kind(PartKind::kCheckRmdirTarget), RequestKey{},
                                    EncodePartBody(body))
                               .status());
    }
    // Replace: the old entry goes (its inode loses the link at the end).
    PartBody remove;
    remove.parent = req.dst_parent;
    remove.name = req.dst_name;
    remove.inode = victim->inode;
    CVFS_RETURN_IF_ERROR(DecodeStepReply(SendPart(fs_id, dst_pg, Kind(PartKind::kRemoveEntry),
                                                  Step(key, 3), EncodePartBody(remove)))
                             .status());
  } else if (!victim) {
    CVFS_RETURN_IF_ERROR(
        SendPart(fs_id, dst_pg, Kind(PartKind::kCheckCreate), RequestKey{}, EncodePartBody(probe))
            .status());
  }
  if (!victim || victim->inode != src.inode) {
    // The new entry first (a crash now leaves both names, never none)...
    PartBody add;
    add.parent = req.dst_parent;
    add.name = req.dst_name;
    add.inode = src.inode;
    add.type = src.type;
    CVFS_RETURN_IF_ERROR(DecodeStepReply(SendPart(fs_id, dst_pg, Kind(PartKind::kAddEntry),
                                                  Step(key, 4), EncodePartBody(add)))
                             .status());
  }
  // ...then the old one goes, with the request's own key.
  CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                          return e.RemoveEntry(key, req.src_parent, req.src_name, src.inode);
                        }));
  MutationReply reply = m.reply;
  if (moves_dir) {
    reply.reparent_inode = src.inode;
    reply.reparent_to = req.dst_parent;
  }
  if (victim && victim->inode != src.inode) {
    reply.remote_unlink_inode = victim->inode;
    reply.remote_unlink_type = victim->type;
  }
  CVFS_ASSIGN_OR_RETURN(reply, FinishRemote(fs_id, reply, key));
  return EncodeMutationReply(reply);
}

Result<std::string> MetaService::HandleLink(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::LinkRequest req, wire::DecodeLinkRequest(p));
  CVFS_ASSIGN_OR_RETURN(Caller caller, CallerOf(c, req.header));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  if (PgOfInode(req.inode) == pg.id) {
    CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, [&](const NamespaceEngine& e) {
                            return e.Link(caller, key, req.inode, req.new_parent, req.new_name);
                          }));
    return EncodeMutationReply(m.reply);
  }
  NamespaceEngine engine = EngineFor(pg);
  CVFS_RETURN_IF_ERROR(Ready(pg));
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, engine.Answered(key));
  if (!answered)
    CVFS_RETURN_IF_ERROR(engine.CheckCreate(caller, req.new_parent, req.new_name).status());
  PartBody body;
  body.inode = req.inode;
  CVFS_ASSIGN_OR_RETURN(std::string bytes,
                        SendPart(pg.fs->id, PgOfInode(req.inode), Kind(PartKind::kGetAttr),
                                 RequestKey{}, EncodePartBody(body)));
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, DecodeInode(bytes));
  if (attr.type == FileType::kDirectory) {
    return Status(ErrorCode::kNotPermitted, "hard links to directories are not allowed");
  }
  // The link count first, then the entry (a crash between leaves nlink one too high).
  body.delta = 1;
  CVFS_ASSIGN_OR_RETURN(
      MutationReply raised,
      DecodeStepReply(SendPart(pg.fs->id, PgOfInode(req.inode), Kind(PartKind::kAdjustLinks),
                               Step(key, 1), EncodePartBody(body))));
  auto added = Mutate(pg, [&](const NamespaceEngine& e) {
    return e.AddEntry(key, req.new_parent, req.new_name, req.inode, attr.type);
  });
  if (!added.ok()) {
    body.delta = -1;
    auto undone = SendPart(pg.fs->id, PgOfInode(req.inode), Kind(PartKind::kAdjustLinks),
                           Step(key, 2), EncodePartBody(body));
    if (!undone.ok()) {
      LOG_WARN("meta.link_count_high fs={} inode={} error=\"{}\"", pg.fs->id, req.inode,
               undone.status().ToString());
    }
    return added.status();
  }
  return EncodeMutationReply(raised);
}

Result<std::string> MetaService::HandleSequence(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::PartRequest req, wire::DecodePartRequest(p));
  if (c.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd may ask");
  CVFS_ASSIGN_OR_RETURN(uint64_t seq, store_.LastSequence(req.header.fs_id, req.header.pg));
  const std::string body = std::to_string(seq);
  return wire::EncodePartReply({body});
}

Result<std::string> MetaService::HandleDump(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::PartRequest req, wire::DecodePartRequest(p));
  if (c.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd may copy a PG");
  DumpPage page;
  // Leaves room for the envelope in the transport's 64 KiB messages.
  CVFS_ASSIGN_OR_RETURN(page.records, store_.ScanPg(req.header.fs_id, req.header.pg,
                                                    std::string(req.body), 40 * 1024, &page.done));
  const std::string body = EncodeDumpPage(page);
  return wire::EncodePartReply({body});
}

Result<std::string> MetaService::HandleInstall(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::PartRequest req, wire::DecodePartRequest(p));
  if (c.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd may install a PG");
  CVFS_ASSIGN_OR_RETURN(DumpPage page, DecodeDumpPage(req.body));
  const auto key = std::make_pair(req.header.fs_id, req.header.pg);
  std::vector<MetaStore::KeyValue> records;
  {
    std::lock_guard lock(installs_mu_);
    Install& install = installs_[key];
    if (req.kind == 1) {
      install = Install{req.intent_id, {}};
    } else if (install.transfer != req.intent_id) {
      return Status::Conflict("metadata install of PG " + std::to_string(req.header.pg) +
                              ": page of transfer " + std::to_string(req.intent_id) +
                              " without its first page");
    }
    for (auto& kv : page.records) install.records.push_back(std::move(kv));
    if (!page.done) return wire::EncodePartReply({std::string()});
    records = std::move(install.records);
    installs_.erase(key);
  }
  CVFS_RETURN_IF_ERROR(store_.ReplacePg(req.header.fs_id, req.header.pg, records));
  counters_.catch_ups++;
  CVFS_ASSIGN_OR_RETURN(uint64_t now, store_.LastSequence(req.header.fs_id, req.header.pg));
  LOG_INFO("meta.installed fs={} pg={} records={} sequence={}", req.header.fs_id, req.header.pg,
           records.size(), now);
  return wire::EncodePartReply({std::string()});
}

Result<uint64_t> MetaService::ResyncReplica(uint32_t fs_id, uint32_t pg_id, int member) {
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(fs_id, pg_id));
  if (member < 0 || member >= static_cast<int>(pg.route.replicas.size()) ||
      member == pg.route.primary) {
    return Status::InvalidArgument("member " + std::to_string(member) +
                                   " is not another metadata replica of PG " +
                                   std::to_string(pg_id));
  }
  if (!pg.route.up[member]) {
    return Status::Unavailable("replica " + pg.route.member(member).node.str() + " of PG " +
                               std::to_string(pg_id) + " is down");
  }
  // Under the PG mutex nothing new is applied here; once the queue is shipped, every batch up
  // to the copied sequence is in the copy and every later one replicates to the member.
  std::lock_guard lock(pg.slot->mutex);
  CVFS_RETURN_IF_ERROR(EnsureReady(pg));
  CVFS_RETURN_IF_ERROR(AwaitReplicated(pg, LatestTicket(pg)));
  std::vector<MetaStore::KeyValue> records;
  std::string after;
  bool done = false;
  while (!done) {
    CVFS_ASSIGN_OR_RETURN(auto page, store_.ScanPg(fs_id, pg_id, after, 40 * 1024, &done));
    if (page.empty()) break;
    after = page.back().first;
    for (auto& kv : page) records.push_back(std::move(kv));
  }
  uint64_t transfer = 0;
  for (const auto& kv : records) transfer = transfer * 31 + kv.first.size() + kv.second.size();
  transfer ^= static_cast<uint64_t>(clock_.Now().time_since_epoch().count());
  CVFS_ASSIGN_OR_RETURN(
      net::PeerId peer,
      peers_.Get(NodeAddress(*pg.map, pg.route.member(member).node), options_.replica_timeout));
  uint64_t bytes = 0;
  size_t next = 0;
  bool first = true;
  do {
    DumpPage page;
    size_t page_bytes = 0;
    while (next < records.size() && (page.records.empty() || page_bytes < 40 * 1024)) {
      page_bytes += records[next].first.size() + records[next].second.size();
      page.records.push_back(records[next++]);
    }
    page.done = next >= records.size();
    bytes += page_bytes;
    const std::string body = EncodeDumpPage(page);
    wire::PartRequest request;
    request.header.fs_id = fs_id;
    request.header.pg = pg_id;
    request.header.epoch = pg.map->epoch.value;
    request.kind = first ? 1 : 0;
    request.intent_id = transfer;
    request.body = body;
    CVFS_RETURN_IF_ERROR(endpoint_
                             .Call(peer, net::Method::kMetaInstall,
                                   wire::EncodePartRequest(request), options_.replica_timeout)
                             .status());
    first = false;
  } while (next < records.size());
  LOG_INFO("meta.replica_resynced fs={} pg={} replica={} records={} bytes={}", fs_id, pg_id,
           pg.route.member(member).node.str(), records.size(), bytes);
  return bytes;
}

Result<std::string> MetaService::HandlePart(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::PartRequest req, wire::DecodePartRequest(p));
  if (c.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd sends metadata steps");
  CVFS_ASSIGN_OR_RETURN(PartBody body, DecodePartBody(req.body));
  CVFS_ASSIGN_OR_RETURN(Pg pg, Resolve(req.header.fs_id, req.header.pg));
  const RequestKey key = KeyOf(req.header);
  auto mutate = [&](const std::function<Result<Mutation>(const NamespaceEngine&)>& op)
      -> Result<std::string> {
    CVFS_ASSIGN_OR_RETURN(Mutation m, Mutate(pg, op));
    const std::string reply = EncodeReply(m.reply);
    return wire::EncodePartReply({reply});
  };
  NamespaceEngine engine = EngineFor(pg);
  switch (static_cast<PartKind>(req.kind)) {
    case PartKind::kMakeDirectoryInode:
      return mutate([&](const NamespaceEngine& e) {
        return e.MakeDirectoryInode(body.caller, key, body.parent_attr, body.mode);
      });
    case PartKind::kAddEntry:
      return mutate([&](const NamespaceEngine& e) {
        return e.AddEntry(key, body.parent, body.name, body.inode, body.type);
      });
    case PartKind::kRemoveEntry:
      return mutate([&](const NamespaceEngine& e) {
        return e.RemoveEntry(key, body.parent, body.name, body.inode);
      });
    case PartKind::kAdjustLinks:
      return mutate(
          [&](const NamespaceEngine& e) { return e.AdjustLinks(key, body.inode, body.delta); });
    case PartKind::kSetParent:
      return mutate(
          [&](const NamespaceEngine& e) { return e.SetParent(key, body.inode, body.parent); });
    case PartKind::kCheckRmdirTarget: {
      CVFS_RETURN_IF_ERROR(Ready(pg));
      CVFS_RETURN_IF_ERROR(engine.CheckRmdirTarget(body.inode));
      return wire::EncodePartReply({});
    }
    case PartKind::kGetAttr: {
      CVFS_RETURN_IF_ERROR(Ready(pg));
      CVFS_ASSIGN_OR_RETURN(InodeAttr attr, engine.GetAttr(body.inode));
      const std::string bytes = EncodeInode(attr);
      return wire::EncodePartReply({bytes});
    }
    case PartKind::kCheckCreate: {
      CVFS_RETURN_IF_ERROR(Ready(pg));
      CVFS_ASSIGN_OR_RETURN(InodeAttr attr,
                            engine.CheckCreate(body.caller, body.parent, body.name));
      const std::string bytes = EncodeInode(attr);
      return wire::EncodePartReply({bytes});
    }
    case PartKind::kLookup: {
      CVFS_RETURN_IF_ERROR(Ready(pg));
      CVFS_ASSIGN_OR_RETURN(LookupResult found, engine.Lookup(body.caller, body.parent, body.name));
      const std::string bytes = EncodeDentry({found.inode, found.type, 0});
      return wire::EncodePartReply({bytes});
    }
    case PartKind::kSequence:
      break;
  }
  return Status::InvalidArgument("unknown metadata step kind " + std::to_string(req.kind));
}

}  // namespace cvfs::server::meta
