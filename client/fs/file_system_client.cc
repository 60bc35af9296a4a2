#include "client/fs/file_system_client.h"

#include <fcntl.h>

#include <algorithm>

#include "core/logging.h"
#include "core/meta_routing.h"

namespace cvfs {

Result<std::unique_ptr<FileSystem>> FileSystem::Mount(const FileSystemOptions& options) {
  return client::FileSystemClient::Mount(options);
}

namespace client {

namespace wire = net::wire;

namespace {

FileType TypeOf(wire::InodeType type) {
  switch (type) {
    case wire::InodeType::kDirectory:
      return FileType::kDirectory;
    case wire::InodeType::kSymlink:
      return FileType::kSymlink;
    default:
      return FileType::kRegular;
  }
}

FileAttr FromWire(const wire::Attr& a) {
  FileAttr f;
  f.inode = a.inode;
  f.type = TypeOf(a.type);
  f.mode = a.mode;
  f.uid = a.uid;
  f.gid = a.gid;
  f.nlink = a.nlink;
  f.size = a.size;
  f.atime_ns = a.atime_ns;
  f.mtime_ns = a.mtime_ns;
  f.ctime_ns = a.ctime_ns;
  return f;
}

uint32_t PgOf(uint64_t inode) { return MetaPgOfInode(inode); }

}  // namespace

Result<std::unique_ptr<FileSystem>> FileSystemClient::Mount(const FileSystemOptions& options) {
  ClientSessionOptions session_options;
  session_options.etcd_endpoints = options.etcd_endpoints;
  session_options.cluster = options.cluster;
  session_options.filesystem = options.filesystem;
  session_options.provider = options.provider;
  session_options.munge_socket = options.munge_socket;
  session_options.name = options.name;
  session_options.host = options.host;
  CVFS_ASSIGN_OR_RETURN(auto session, ClientSession::Open(session_options));
  ObjectClientOptions data_options;
  data_options.filesystem = options.filesystem;
  data_options.deadline = options.deadline;
  CVFS_ASSIGN_OR_RETURN(auto data, DataObjectClient::Create(data_options, session));
  return std::unique_ptr<FileSystem>(
      new FileSystemClient(std::move(session), std::move(data), options.deadline));
}

Result<FileAttr> FileSystemClient::AttrOf(const Result<std::string>& reply, bool* created,
                                          uint64_t* freed) {
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::AttrReply decoded, wire::DecodeAttrReply(*reply));
  if (created != nullptr) *created = decoded.created;
  if (freed != nullptr) *freed = decoded.freed_inode;
  return FromWire(decoded.attr);
}

Result<FileAttr> FileSystemClient::Lookup(const Identity* who, uint64_t parent,
                                          std::string_view name) {
  auto reply = meta_.Call(PgOf(parent), net::Method::kMetaLookup, who, [&](const auto& h) {
    return wire::EncodeLookupRequest({h, parent, std::string(name)});
  });
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::EntryReply entry, wire::DecodeEntryReply(*reply));
  if (!entry.has_attr) return GetAttr(who, entry.inode);
  FileAttr attr = FromWire(entry.attr);
  std::lock_guard lock(handles_mu_);
  if (hidden_.count(attr.inode) != 0 && attr.nlink > 0) --attr.nlink;  // the hidden name
  return attr;
}

Result<FileAttr> FileSystemClient::GetAttr(const Identity* who, uint64_t inode) {
  CVFS_ASSIGN_OR_RETURN(
      FileAttr attr,
      AttrOf(meta_.Call(PgOf(inode), net::Method::kMetaGetAttr, who, [&](const auto& h) {
        return wire::EncodeGetAttrRequest({h, inode});
      })));
  std::lock_guard lock(handles_mu_);
  if (hidden_.count(inode) != 0 && attr.nlink > 0) --attr.nlink;  // the hidden name
  return attr;
}

Result<FileAttr> FileSystemClient::SetAttr(const Identity* who, uint64_t inode,
                                           const SetAttrRequest& request) {
  std::optional<uint64_t> old_size;
  if ((request.mask & kSetSize) != 0) {
    CVFS_ASSIGN_OR_RETURN(FileAttr before, GetAttr(who, inode));
    if (before.type == FileType::kDirectory) {
      return Status(ErrorCode::kIsADirectory, "truncate of a directory");
    }
    old_size = before.size;
  }
  wire::SetAttrRequest req;
  req.inode = inode;
  req.mask = request.mask;
  req.mode = request.mode;
  req.uid = request.uid;
  req.gid = request.gid;
  req.size = request.size;
  req.atime_ns = request.atime_ns;
  req.mtime_ns = request.mtime_ns;
  CVFS_ASSIGN_OR_RETURN(FileAttr attr, AttrOf(meta_.Call(PgOf(inode), net::Method::kMetaSetAttr,
                                                         who, [&](const auto& h) {
                                                           req.header = h;
                                                           return wire::EncodeSetAttrRequest(req);
                                                         })));
  if (old_size && request.size < *old_size) {
    CVFS_RETURN_IF_ERROR(data_->Truncate(inode, request.size, *old_size));
  }
  if (old_size) {
    // Open handles of this process see the new size (and forget writes past it).
    std::lock_guard lock(handles_mu_);
    for (auto& [id, file] : handles_) {
      if (file->inode != inode) continue;
      std::lock_guard file_lock(file->mu);
      file->size = request.size;
      file->written_end = std::min(file->written_end, request.size);
    }
  }
  return attr;
}

Result<FileAttr> FileSystemClient::Create(const Identity* who, uint64_t parent,
                                          std::string_view name, uint32_t mode, bool exclusive,
                                          bool* created) {
  return AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaCreate, who,
                           [&](const auto& h) {
                             wire::CreateRequest req;
                             req.header = h;
                             req.parent = parent;
                             req.name = std::string(name);
                             req.type = wire::InodeType::kRegular;
                             req.mode = mode & 07777;
                             req.exclusive = exclusive;
                             return wire::EncodeCreateRequest(req);
                           }),
                created);
}

Result<FileAttr> FileSystemClient::Mkdir(const Identity* who, uint64_t parent,
                                         std::string_view name, uint32_t mode) {
  return AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaMkdir, who, [&](const auto& h) {
    return wire::EncodeMkdirRequest({h, parent, std::string(name), mode & 07777});
  }));
}

Result<FileAttr> FileSystemClient::Symlink(const Identity* who, uint64_t parent,
                                           std::string_view name, std::string_view target) {
  return AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaCreate, who, [&](const auto& h) {
    wire::CreateRequest req;
    req.header = h;
    req.parent = parent;
    req.name = std::string(name);
    req.type = wire::InodeType::kSymlink;
    req.mode = 0777;
    req.exclusive = true;
    req.symlink_target = std::string(target);
    return wire::EncodeCreateRequest(req);
  }));
}

Result<std::string> FileSystemClient::Readlink(const Identity* who, uint64_t inode) {
  auto reply = meta_.Call(PgOf(inode), net::Method::kMetaReadlink, who, [&](const auto& h) {
    return wire::EncodeReadlinkRequest({h, inode});
  });
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::ReadlinkReply decoded, wire::DecodeReadlinkReply(*reply));
  return decoded.target;
}

void FileSystemClient::DropData(uint64_t inode, uint64_t size) {
  if (size == 0) return;
  Status st = data_->Truncate(inode, 0, size);
  if (!st.ok()) {
    LOG_WARN("client.data_not_freed inode={} size={} error=\"{}\"", inode, size, st.ToString());
  }
}

bool FileSystemClient::IsHiddenName(std::string_view name) {
  return name.starts_with(".cvfs-unlinked-");
}

bool FileSystemClient::IsOpenHere(uint64_t inode) {
  for (const auto& [id, file] : handles_) {
    if (file->inode == inode) return true;
  }
  return false;
}

void FileSystemClient::UnhideIfLast(uint64_t inode) {
  Hidden hidden;
  {
    std::lock_guard lock(handles_mu_);
    auto it = hidden_.find(inode);
    if (it == hidden_.end() || IsOpenHere(inode)) return;
    hidden = std::move(it->second);
    hidden_.erase(it);
  }
  Status st = Unlink(hidden.who ? &*hidden.who : nullptr, hidden.parent, hidden.name);
  if (!st.ok()) {
    LOG_WARN("client.hidden_not_removed inode={} name={} error=\"{}\"", inode, hidden.name,
             st.ToString());
  }
}

Result<bool> FileSystemClient::HideIfOpen(const Identity* who, uint64_t parent,
                                          std::string_view name, uint64_t keep_parent,
                                          std::string_view keep_name) {
  {
    std::lock_guard lock(handles_mu_);
    if (handles_.empty() || IsHiddenName(name)) return false;
  }
  auto victim = Lookup(who, parent, name);
  if (!victim.ok()) {
    if (victim.status().code() == ErrorCode::kNotFound) return false;
    return victim.status();
  }
  if (keep_parent != 0) {
    // A rename onto another name of the same file replaces nothing.
    auto kept = Lookup(who, keep_parent, keep_name);
    if (kept.ok() && kept->inode == victim->inode) return false;
  }
  {
    std::lock_guard lock(handles_mu_);
    if (victim->type != FileType::kRegular || !IsOpenHere(victim->inode)) return false;
  }
  const std::string hidden = ".cvfs-unlinked-" + std::to_string(victim->inode);
  CVFS_RETURN_IF_ERROR(
      AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaRename, who, [&](const auto& h) {
        wire::RenameRequest req;
        req.header = h;
        req.src_parent = parent;
        req.src_name = std::string(name);
        req.dst_parent = parent;
        req.dst_name = hidden;
        return wire::EncodeRenameRequest(req);
      })).status());
  std::lock_guard lock(handles_mu_);
  hidden_[victim->inode] =
      Hidden{parent, hidden, who ? std::optional<Identity>(*who) : std::optional<Identity>()};
  return true;
}

Status FileSystemClient::Unlink(const Identity* who, uint64_t parent, std::string_view name) {
  CVFS_ASSIGN_OR_RETURN(bool hidden, HideIfOpen(who, parent, name, 0, {}));
  if (hidden) return Status::Ok();
  uint64_t freed = 0;
  CVFS_ASSIGN_OR_RETURN(
      FileAttr attr,
      AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaUnlink, who,
                        [&](const auto& h) {
                          return wire::EncodeUnlinkRequest({h, parent, std::string(name)});
                        }),
             nullptr, &freed));
  if (freed != 0) DropData(freed, attr.inode == freed ? attr.size : 0);
  return Status::Ok();
}

Status FileSystemClient::Rmdir(const Identity* who, uint64_t parent, std::string_view name) {
  auto reply = meta_.Call(PgOf(parent), net::Method::kMetaRmdir, who, [&](const auto& h) {
    return wire::EncodeRmdirRequest({h, parent, std::string(name)});
  });
  if (!reply.ok()) return reply.status();
  return wire::DecodeMetaEmptyReply(*reply);
}

Status FileSystemClient::Rename(const Identity* who, uint64_t parent, std::string_view name,
                                uint64_t new_parent, std::string_view new_name, bool no_replace) {
  if (!no_replace)
    CVFS_RETURN_IF_ERROR(HideIfOpen(who, new_parent, new_name, parent, name).status());
  uint64_t freed = 0;
  CVFS_ASSIGN_OR_RETURN(FileAttr attr,
                        AttrOf(meta_.Call(PgOf(parent), net::Method::kMetaRename, who,
                                          [&](const auto& h) {
                                            wire::RenameRequest req;
                                            req.header = h;
                                            req.src_parent = parent;
                                            req.src_name = std::string(name);
                                            req.dst_parent = new_parent;
                                            req.dst_name = std::string(new_name);
                                            req.flags = no_replace ? wire::kRenameNoReplace : 0;
                                            return wire::EncodeRenameRequest(req);
                                          }),
                               nullptr, &freed));
  if (freed != 0) DropData(freed, attr.inode == freed ? attr.size : 0);
  return Status::Ok();
}

Result<FileAttr> FileSystemClient::Link(const Identity* who, uint64_t inode, uint64_t new_parent,
                                        std::string_view new_name) {
  return AttrOf(meta_.Call(PgOf(new_parent), net::Method::kMetaLink, who, [&](const auto& h) {
    return wire::EncodeLinkRequest({h, inode, new_parent, std::string(new_name)});
  }));
}

Result<DirPage> FileSystemClient::ReadDir(const Identity* who, uint64_t dir, uint64_t cookie,
                                          size_t max_entries) {
  const uint32_t max =
      static_cast<uint32_t>(std::clamp<size_t>(max_entries, 1, wire::kMaxReaddirEntries));
  // Hidden names (unlinked while open here) are left out; a page of nothing but such names
  // is skipped, so a non-final page is never empty.
  for (int pages = 0;; ++pages) {
    auto reply = meta_.Call(PgOf(dir), net::Method::kMetaReaddir, who, [&](const auto& h) {
      return wire::EncodeReaddirRequest({h, dir, cookie, max});
    });
    if (!reply.ok()) return reply.status();
    CVFS_ASSIGN_OR_RETURN(wire::ReaddirReply decoded, wire::DecodeReaddirReply(*reply));
    DirPage page;
    page.eof = decoded.eof;
    for (auto& e : decoded.entries) {
      cookie = e.cookie;
      if (IsHiddenName(e.name)) continue;
      page.entries.push_back({std::move(e.name), e.inode, TypeOf(e.type), e.cookie});
    }
    if (!page.entries.empty() || page.eof || decoded.entries.empty() || pages > 1000) {
      return page;
    }
  }
}

Result<FsStats> FileSystemClient::StatFs(const Identity* who) {
  auto reply = meta_.Call(0, net::Method::kMetaStatFs, who,
                          [&](const auto& h) { return wire::EncodeStatFsRequest({h}); });
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::StatFsReply d, wire::DecodeStatFsReply(*reply));
  FsStats s;
  s.total_bytes = d.total_bytes;
  s.free_bytes = d.free_bytes;
  s.total_inodes = d.total_inodes;
  s.used_inodes = d.used_inodes;
  s.block_size = d.block_size == 0 ? 4096 : d.block_size;
  s.max_name = d.max_name;
  return s;
}

Result<uint64_t> FileSystemClient::Open(const Identity* who, uint64_t inode, int flags,
                                        FileAttr* attr) {
  auto reply = meta_.Call(PgOf(inode), net::Method::kMetaOpen, who, [&](const auto& h) {
    return wire::EncodeOpenRequest({h, inode, static_cast<uint32_t>(flags)});
  });
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::OpenReply decoded, wire::DecodeOpenReply(*reply));
  FileAttr opened = FromWire(decoded.attr);
  if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY && opened.size > 0 &&
      opened.type == FileType::kRegular) {
    SetAttrRequest truncate;
    truncate.mask = kSetSize;
    truncate.size = 0;
    CVFS_ASSIGN_OR_RETURN(opened, SetAttr(who, inode, truncate));
  }
  if (attr != nullptr) *attr = opened;
  return AddHandle(who, inode, flags, opened.size);
}

Result<uint64_t> FileSystemClient::OpenCreated(const Identity* who, const FileAttr& created,
                                               int flags) {
  if (created.type != FileType::kRegular) {
    return Status::InvalidArgument("OpenCreated of inode " + std::to_string(created.inode) +
                                   ", not a regular file");
  }
  return AddHandle(who, created.inode, flags, created.size);
}

Result<uint64_t> FileSystemClient::AddHandle(const Identity* who, uint64_t inode, int flags,
                                             uint64_t size) {
  auto file = std::make_shared<OpenFile>();
  file->inode = inode;
  file->flags = flags;
  if (who != nullptr) file->who = *who;
  file->size = size;
  std::lock_guard lock(handles_mu_);
  if (handles_.size() >= kMaxOpenFiles) {
    return Status::ResourceExhausted("too many open files in this client");
  }
  const uint64_t handle = next_handle_++;
  handles_.emplace(handle, std::move(file));
  return handle;
}

Result<std::shared_ptr<FileSystemClient::OpenFile>> FileSystemClient::Handle(uint64_t handle) {
  std::lock_guard lock(handles_mu_);
  auto it = handles_.find(handle);
  if (it == handles_.end()) {
    return Status(ErrorCode::kBadHandle, "no open file handle " + std::to_string(handle));
  }
  return it->second;
}

Status FileSystemClient::CommitLocked(OpenFile& file) {
  if (!file.dirty) return Status::Ok();
  const Identity* who = file.who ? &*file.who : nullptr;
  auto reply = meta_.Call(PgOf(file.inode), net::Method::kMetaCommitSize, who, [&](const auto& h) {
    return wire::EncodeCommitSizeRequest({h, file.inode, file.written_end, 0});
  });
  if (!reply.ok()) return reply.status();
  CVFS_ASSIGN_OR_RETURN(wire::AttrReply decoded, wire::DecodeAttrReply(*reply));
  file.size = std::max(file.written_end, decoded.attr.size);
  file.dirty = false;
  return Status::Ok();
}

Status FileSystemClient::Release(uint64_t handle) {
  std::shared_ptr<OpenFile> file;
  {
    std::lock_guard lock(handles_mu_);
    auto it = handles_.find(handle);
    if (it == handles_.end()) {
      return Status(ErrorCode::kBadHandle, "no open file handle " + std::to_string(handle));
    }
    file = std::move(it->second);
    handles_.erase(it);
  }
  Status committed;
  {
    std::lock_guard lock(file->mu);
    committed = CommitLocked(*file);
  }
  UnhideIfLast(file->inode);
  return committed;
}

Result<size_t> FileSystemClient::Read(uint64_t handle, uint64_t offset, std::span<std::byte> out) {
  CVFS_ASSIGN_OR_RETURN(auto file, Handle(handle));
  uint64_t size = 0;
  {
    std::lock_guard lock(file->mu);
    size = std::max(file->size, file->written_end);
  }
  if (offset >= size || out.empty()) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
  CVFS_RETURN_IF_ERROR(data_->Read(file->inode, offset, out.first(n)));
  return n;
}

Status FileSystemClient::Write(uint64_t handle, uint64_t offset, std::span<const std::byte> data) {
  CVFS_ASSIGN_OR_RETURN(auto file, Handle(handle));
  if ((file->flags & O_ACCMODE) == O_RDONLY) {
    return Status(ErrorCode::kBadHandle,
                  "file handle " + std::to_string(handle) + " is open for reading only");
  }
  if (data.empty()) return Status::Ok();
  CVFS_RETURN_IF_ERROR(data_->Write(file->inode, offset, data));
  std::lock_guard lock(file->mu);
  file->written_end = std::max(file->written_end, offset + data.size());
  file->dirty = true;
  return Status::Ok();
}

Status FileSystemClient::Fsync(uint64_t handle) {
  CVFS_ASSIGN_OR_RETURN(auto file, Handle(handle));
  std::lock_guard lock(file->mu);
  return CommitLocked(*file);
}

Status FileSystemClient::RefreshSize(uint64_t handle) {
  CVFS_ASSIGN_OR_RETURN(auto file, Handle(handle));
  const Identity* who = file->who ? &*file->who : nullptr;
  CVFS_ASSIGN_OR_RETURN(FileAttr attr, GetAttr(who, file->inode));
  std::lock_guard lock(file->mu);
  file->size = attr.size;
  return Status::Ok();
}

}  // namespace client
}  // namespace cvfs
