#include "client/fuse/fuse_ops.h"

#include <fcntl.h>
#include <linux/fs.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/logging.h"

namespace cvfs::fuse {
namespace {

// Supplementary groups read per request without a heap allocation; more are read again.
constexpr int kInlineGroups = 64;
// Entries asked of the backend per readdir round: a FUSE buffer (4 KiB) holds ~100.
constexpr size_t kMaxDirEntriesPerCall = 512;
// The smallest FUSE dirent (header + 8-byte aligned name): bounds a round's entry count.
constexpr size_t kMinDirentBytes = 32;
constexpr blksize_t kBlockSize = 4096;

// One open file: fi->fh points at it from open/create to release.
struct OpenFile {
  uint64_t inode = 0;
  uint64_t handle = 0;
  std::atomic<bool> dirty{false};  // written since the last commit (flush/fsync)
};

FuseMount& Mount(fuse_req_t req) { return *static_cast<FuseMount*>(fuse_req_userdata(req)); }
FileSystem& Fs(fuse_req_t req) { return *Mount(req).fs; }
OpenFile& File(const fuse_file_info* fi) { return *reinterpret_cast<OpenFile*>(fi->fh); }

Identity RequestIdentity(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Identity who{ctx->uid, ctx->gid, {}};
  gid_t inline_groups[kInlineGroups];
  int n = fuse_req_getgroups(req, kInlineGroups, inline_groups);
  if (n > kInlineGroups) {
    std::vector<gid_t> all(static_cast<size_t>(n));
    n = fuse_req_getgroups(req, n, all.data());
    if (n > 0) who.groups.assign(all.begin(), all.begin() + std::min<size_t>(n, all.size()));
  } else if (n > 0) {
    who.groups.assign(inline_groups, inline_groups + n);
  }
  // n < 0: the process is gone (a release after exit) or /proc is unreadable: no groups.
  return who;
}

// Codes that are ordinary POSIX outcomes (ENOENT, EACCES, ...) are not logged; the others
// mean something went wrong in the cluster or the client and are logged here, once.
bool IsPosixOutcome(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kNotADirectory:
    case ErrorCode::kIsADirectory:
    case ErrorCode::kNotEmpty:
    case ErrorCode::kNameTooLong:
    case ErrorCode::kNotPermitted:
    case ErrorCode::kTooManyLinks:
    case ErrorCode::kSymlinkLoop:
    case ErrorCode::kNoSpace:
    case ErrorCode::kNotSupported:
      return true;
    default:
      return false;
  }
}

void ReplyStatus(fuse_req_t req, const Status& status, const char* op) {
  if (status.ok()) {
    fuse_reply_err(req, 0);
    return;
  }
  if (!IsPosixOutcome(status.code())) {
    LOG_WARN("fuse.op_failed op={} error={}", op, status.ToString());
  } else {
    LOG_DEBUG("fuse.op_error op={} error={}", op, status.ToString());
  }
  fuse_reply_err(req, ErrorCodeToErrno(status.code()));
}

mode_t TypeBits(FileType type) {
  switch (type) {
    case FileType::kDirectory:
      return S_IFDIR;
    case FileType::kSymlink:
      return S_IFLNK;
    case FileType::kRegular:
      break;
  }
  return S_IFREG;
}

timespec ToTimespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

int64_t ToNanos(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct stat ToStat(const FileAttr& attr) {
  struct stat st {};
  st.st_ino = attr.inode;
  st.st_mode = TypeBits(attr.type) | (attr.mode & 07777);
  st.st_nlink = attr.nlink;
  st.st_uid = attr.uid;
  st.st_gid = attr.gid;
  st.st_size = static_cast<off_t>(attr.size);
  st.st_blksize = kBlockSize;
  st.st_blocks = static_cast<blkcnt_t>((attr.size + 511) / 512);
  st.st_atim = ToTimespec(attr.atime_ns);
  st.st_mtim = ToTimespec(attr.mtime_ns);
  st.st_ctim = ToTimespec(attr.ctime_ns);
  return st;
}

// The entry of `attr` named in directory `parent`.
fuse_entry_param ToEntry(fuse_req_t req, uint64_t parent, const FileAttr& attr) {
  fuse_entry_param e{};
  e.ino = attr.inode;
  e.generation = 0;  // inode numbers are never reused within a filesystem
  e.attr = ToStat(attr);
  e.attr_timeout = Mount(req).attr_timeout_s;
  e.entry_timeout = Mount(req).dir_modes.SearchableByAll(parent) ? Mount(req).entry_timeout_s : 0;
  Mount(req).dir_modes.Note(attr);
  return e;
}

void ReplyEntry(fuse_req_t req, uint64_t parent, const Result<FileAttr>& attr, const char* op) {
  if (!attr.ok()) return ReplyStatus(req, attr.status(), op);
  const fuse_entry_param e = ToEntry(req, parent, *attr);
  fuse_reply_entry(req, &e);
}

void ReplyAttr(fuse_req_t req, const Result<FileAttr>& attr, const char* op) {
  if (!attr.ok()) return ReplyStatus(req, attr.status(), op);
  Mount(req).dir_modes.Note(*attr);
  const struct stat st = ToStat(*attr);
  fuse_reply_attr(req, &st, Mount(req).attr_timeout_s);
}

// Commits what `file` wrote (size, mtime) when it wrote anything since the last commit.
Status CommitIfDirty(FileSystem& fs, OpenFile& file) {
  if (!file.dirty.exchange(false)) return Status::Ok();
  Status s = fs.Fsync(file.handle);
  if (!s.ok()) file.dirty.store(true);
  return s;
}

// Commits what this node's open handles of `inode` wrote (size, mtime), so the attributes
// fetched next include it: the kernel replaces its size with the one of every attribute
// reply. Cheap when nothing is open or nothing was written (Fsync commits only then).
Status CommitLocalWrites(fuse_req_t req, uint64_t inode) {
  for (uint64_t h : Mount(req).handles.Others(inode)) {
    Status s = Fs(req).Fsync(h);
    if (!s.ok() && s.code() != ErrorCode::kBadHandle) return s;  // kBadHandle: just released
  }
  return Status::Ok();
}

// GetAttr after committing local writes.
Result<FileAttr> FreshAttr(fuse_req_t req, const Identity* who, uint64_t inode) {
  CVFS_RETURN_IF_ERROR(CommitLocalWrites(req, inode));
  return Fs(req).GetAttr(who, inode);
}

// ---- Operations --------------------------------------------------------------------

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* mount = static_cast<FuseMount*>(userdata);
  conn->max_write = mount->max_write_bytes;  // libfuse derives max_pages from it
  conn->max_background = std::max<unsigned>(conn->max_background, 64);
  conn->congestion_threshold = std::max<unsigned>(conn->congestion_threshold, 48);
  conn->time_gran = 1;  // nanosecond times
  if (mount->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  } else {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    mount->writeback_cache = false;
  }
  // The kernel clears set-id bits on write and chown itself (as on a local filesystem).
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  LOG_INFO("fuse.init proto={}.{} max_write={} writeback_cache={} capable={:#x} want={:#x}",
           conn->proto_major, conn->proto_minor, conn->max_write, mount->writeback_cache,
           conn->capable, conn->want);
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const Identity who = RequestIdentity(req);
  auto attr = Fs(req).Lookup(&who, parent, name);
  if (attr.ok() && Mount(req).handles.Any(attr->inode)) attr = FreshAttr(req, &who, attr->inode);
  ReplyEntry(req, parent, attr, "lookup");
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

void OpForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  const Identity who = RequestIdentity(req);
  ReplyAttr(req, FreshAttr(req, &who, ino), "getattr");
}

// The kernel clears set-id bits when a user who may write a file writes or truncates it
// (file_remove_privs), sending a chmod as that user, which the cluster refuses to a
// non-owner. True when `new_mode` only clears set-id bits of the file and `who` may write
// it: then the mount applies it itself.
bool IsKillPriv(FileSystem& fs, const Identity& who, uint64_t ino, uint32_t new_mode) {
  constexpr uint32_t kSetId = S_ISUID | S_ISGID;
  auto current = fs.GetAttr(nullptr, ino);
  if (!current.ok() || current->type != FileType::kRegular) return false;
  const uint32_t mode = current->mode & 07777;
  return (new_mode & ~kSetId) == (mode & ~kSetId) && (mode & kSetId) != 0 &&
         (new_mode & kSetId & ~mode) == 0 && (new_mode & kSetId) != (mode & kSetId) &&
         CheckAccess(who, *current, W_OK).ok();
}

void OpSetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  SetAttrRequest r;
  if (to_set & FUSE_SET_ATTR_MODE) {
    r.mask |= kSetMode;
    r.mode = attr->st_mode & 07777;
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    r.mask |= kSetUid;
    r.uid = attr->st_uid;
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    r.mask |= kSetGid;
    r.gid = attr->st_gid;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    r.mask |= kSetSize;
    r.size = static_cast<uint64_t>(attr->st_size);
  }
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    r.mask |= kSetAtimeNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    r.mask |= kSetAtime;
    r.atime_ns = ToNanos(attr->st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    r.mask |= kSetMtimeNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    r.mask |= kSetMtime;
    r.mtime_ns = ToNanos(attr->st_mtim);
  }
  FileSystem& fs = Fs(req);
  const Identity who = RequestIdentity(req);
  // What this node wrote is committed first: its size must not land after (and undo) a
  // truncation, and the reply's size must include it.
  if (Status s = CommitLocalWrites(req, ino); !s.ok()) return ReplyStatus(req, s, "setattr");
  if (r.mask == 0) return ReplyAttr(req, fs.GetAttr(&who, ino), "setattr");
  auto result = fs.SetAttr(&who, ino, r);
  if (!result.ok() && result.status().code() == ErrorCode::kNotPermitted && r.mask == kSetMode &&
      IsKillPriv(fs, who, ino, r.mode)) {
    result = fs.SetAttr(nullptr, ino, r);
  }
  ReplyAttr(req, result, "setattr");
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  const Identity who = RequestIdentity(req);
  auto target = Fs(req).Readlink(&who, ino);
  if (!target.ok()) return ReplyStatus(req, target.status(), "readlink");
  fuse_reply_readlink(req, target->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  // Only regular files exist in ConvergeFS; mknod(2) documents EPERM for a node type the
  // filesystem does not support.
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  const Identity who = RequestIdentity(req);
  bool created = false;
  ReplyEntry(req, parent,
             Fs(req).Create(&who, parent, name, mode & 07777, /*exclusive=*/true, &created),
             "mknod");
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  const Identity who = RequestIdentity(req);
  ReplyEntry(req, parent, Fs(req).Mkdir(&who, parent, name, mode & 07777), "mkdir");
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const Identity who = RequestIdentity(req);
  ReplyStatus(req, Fs(req).Unlink(&who, parent, name), "unlink");
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const Identity who = RequestIdentity(req);
  ReplyStatus(req, Fs(req).Rmdir(&who, parent, name), "rmdir");
}

void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  const Identity who = RequestIdentity(req);
  ReplyEntry(req, parent, Fs(req).Symlink(&who, parent, name, target), "symlink");
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned int flags) {
  if ((flags & RENAME_EXCHANGE) || (flags & ~static_cast<unsigned>(RENAME_NOREPLACE))) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const Identity who = RequestIdentity(req);
  ReplyStatus(req,
              Fs(req).Rename(&who, parent, name, new_parent, new_name,
                             /*no_replace=*/(flags & RENAME_NOREPLACE) != 0),
              "rename");
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  const Identity who = RequestIdentity(req);
  if (Status s = CommitLocalWrites(req, ino); !s.ok()) return ReplyStatus(req, s, "link");
  ReplyEntry(req, new_parent, Fs(req).Link(&who, ino, new_parent, new_name), "link");
}

// Opens `ino` for `who` (FileSystem::Open applies O_TRUNC). With the writeback cache the
// kernel reads pages of files opened write-only, so those are opened read-write when the
// mode allows it.
// `flags` with write-only made read-write when the writeback cache is on (else as given).
int WritebackFlags(fuse_req_t req, int flags) {
  if (!Mount(req).writeback_cache || (flags & O_ACCMODE) != O_WRONLY) return flags;
  return (flags & ~O_ACCMODE) | O_RDWR;
}

Result<uint64_t> OpenHandle(fuse_req_t req, const Identity* who, fuse_ino_t ino, int flags,
                            FileAttr* attr) {
  FileSystem& fs = Fs(req);
  if (const int wider = WritebackFlags(req, flags); wider != flags) {
    auto handle = fs.Open(who, ino, wider, attr);
    if (handle.ok() || handle.status().code() != ErrorCode::kPermissionDenied) return handle;
  }
  return fs.Open(who, ino, flags, attr);
}

// Hands the open file to the kernel; releases it again when the request was interrupted.
// `parent`: the directory of a created file (with_entry), else unused.
void ReplyOpened(fuse_req_t req, uint64_t parent, uint64_t inode, uint64_t handle,
                 fuse_file_info* fi, const FileAttr& attr, bool with_entry) {
  auto* file = new OpenFile;
  file->inode = inode;
  file->handle = handle;
  Mount(req).handles.Add(file->inode, handle);
  fi->fh = reinterpret_cast<uint64_t>(file);
  fi->keep_cache = 0;  // close-to-open: drop cached pages the file had before this open
  int rc;
  if (with_entry) {
    const fuse_entry_param e = ToEntry(req, parent, attr);
    rc = fuse_reply_create(req, &e, fi);
  } else {
    rc = fuse_reply_open(req, fi);
  }
  if (rc != 0) {
    Mount(req).handles.Remove(file->inode, handle);
    (void)Mount(req).fs->Release(handle);
    delete file;
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const Identity who = RequestIdentity(req);
  FileAttr attr;
  auto handle = OpenHandle(req, &who, ino, fi->flags, &attr);
  if (!handle.ok()) return ReplyStatus(req, handle.status(), "open");
  ReplyOpened(req, 0, ino, *handle, fi, attr, /*with_entry=*/false);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  FileSystem& fs = Fs(req);
  const Identity who = RequestIdentity(req);
  bool created = false;
  auto attr = fs.Create(&who, parent, name, mode & 07777, (fi->flags & O_EXCL) != 0, &created);
  if (!attr.ok()) return ReplyStatus(req, attr.status(), "create");
  const int flags = fi->flags & ~(O_CREAT | O_EXCL);
  FileAttr opened = *attr;
  // open(O_CREAT) grants the creator the access it asked for even when the new file's mode
  // does not (creat("f", 0444) returns a writable descriptor): no check, no round trip.
  Result<uint64_t> handle = created ? fs.OpenCreated(&who, *attr, WritebackFlags(req, flags))
                                    : OpenHandle(req, &who, attr->inode, flags, &opened);
  if (!handle.ok()) return ReplyStatus(req, handle.status(), "create");
  ReplyOpened(req, parent, attr->inode, *handle, fi, opened, /*with_entry=*/true);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
  // One buffer per worker thread, grown to the largest read (max_read/max_pages: 1 MiB);
  // fuse_reply_buf copies it out before the thread takes another request.
  thread_local std::vector<std::byte> buffer;
  if (buffer.size() < size) buffer.resize(size);
  const std::span<std::byte> out(buffer.data(), size);
  const OpenFile& file = File(fi);
  FileSystem& fs = Fs(req);
  auto n = fs.Read(file.handle, static_cast<uint64_t>(offset), out);
  if (!n.ok()) return ReplyStatus(req, n.status(), "read");
  size_t got = *n;
  if (got < size) {
    // A short read tells the kernel where the file ends (it shrinks its size to it): ask
    // the handles of other descriptors on this node, which may have written further.
    for (uint64_t other : Mount(req).handles.Others(file.inode, file.handle)) {
      auto m = fs.Read(other, static_cast<uint64_t>(offset), out);
      if (m.ok()) got = std::max(got, *m);
      if (got == size) break;
    }
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), got);
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t offset,
             fuse_file_info* fi) {
  OpenFile& file = File(fi);
  file.dirty.store(true);
  Status s =
      Fs(req).Write(file.handle, static_cast<uint64_t>(offset),
                    std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  if (!s.ok()) return ReplyStatus(req, s, "write");
  file.dirty.store(true);
  fuse_reply_write(req, size);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyStatus(req, CommitIfDirty(Fs(req), File(fi)), "flush");
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  OpenFile* file = &File(fi);
  Mount(req).handles.Remove(file->inode, file->handle);
  Status s = Fs(req).Release(file->handle);
  delete file;
  ReplyStatus(req, s, "release");
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  OpenFile& file = File(fi);
  file.dirty.store(false);
  Status s = Fs(req).Fsync(file.handle);
  if (!s.ok()) file.dirty.store(true);
  ReplyStatus(req, s, "fsync");
}

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // Listing needs read permission: refused here, at opendir(3), as a local filesystem does.
  const Identity who = RequestIdentity(req);
  auto attr = Fs(req).GetAttr(&who, ino);
  if (!attr.ok()) return ReplyStatus(req, attr.status(), "opendir");
  if (attr->type != FileType::kDirectory) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  const int mask = (fi->flags & O_ACCMODE) == O_RDONLY ? R_OK : R_OK | W_OK;
  Status allowed = CheckAccess(who, *attr, mask);
  if (!allowed.ok()) return ReplyStatus(req, allowed, "opendir");
  fi->fh = 0;
  fuse_reply_open(req, fi);
}

// FUSE offsets of a listing: 1 after ".", 2 after "..", then the backend's entry cookies
// (which start at 3), so a listing resumes from any offset without per-handle state.
void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < size) buffer.resize(size);
  size_t used = 0;
  auto add = [&](const char* name, uint64_t entry_ino, mode_t type, uint64_t next) {
    struct stat st {};
    st.st_ino = entry_ino;
    st.st_mode = type;
    const size_t need = fuse_add_direntry(req, buffer.data() + used, size - used, name, &st,
                                          static_cast<off_t>(next));
    if (need > size - used) return false;
    used += need;
    return true;
  };
  auto reply = [&] { fuse_reply_buf(req, buffer.data(), used); };
  if (offset < 1 && !add(".", ino, S_IFDIR, 1)) return reply();
  if (offset < 2 && !add("..", ino, S_IFDIR, 2)) return reply();

  const Identity who = RequestIdentity(req);
  uint64_t cookie = offset <= 2 ? 0 : static_cast<uint64_t>(offset);
  const size_t per_call = std::clamp<size_t>(size / kMinDirentBytes, 1, kMaxDirEntriesPerCall);
  for (;;) {
    auto page = Fs(req).ReadDir(&who, ino, cookie, per_call);
    if (!page.ok()) {
      if (used > 0) return reply();  // the next call meets the error again
      return ReplyStatus(req, page.status(), "readdir");
    }
    for (const DirEntry& e : page->entries) {
      if (e.name == "." || e.name == "..") {
        cookie = e.cookie;
        continue;
      }
      if (!add(e.name.c_str(), e.inode, TypeBits(e.type), e.cookie)) return reply();
      cookie = e.cookie;
    }
    if (page->eof || page->entries.empty()) return reply();
  }
}

void OpReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpFsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, 0);  // namespace changes are durable when their call returns
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  const Identity who = RequestIdentity(req);
  auto stats = Fs(req).StatFs(&who);
  if (!stats.ok()) return ReplyStatus(req, stats.status(), "statfs");
  struct statvfs st {};
  const uint64_t block = std::max<uint32_t>(stats->block_size, 1);
  st.f_bsize = block;
  st.f_frsize = block;
  st.f_blocks = stats->total_bytes / block;
  st.f_bfree = stats->free_bytes / block;
  st.f_bavail = st.f_bfree;
  st.f_files = stats->total_inodes;
  st.f_ffree =
      stats->total_inodes > stats->used_inodes ? stats->total_inodes - stats->used_inodes : 0;
  st.f_favail = st.f_ffree;
  st.f_namemax = stats->max_name;
  fuse_reply_statfs(req, &st);
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  const Identity who = RequestIdentity(req);
  auto attr = Fs(req).GetAttr(&who, ino);
  if (!attr.ok()) return ReplyStatus(req, attr.status(), "access");
  ReplyStatus(req, CheckAccess(who, *attr, mask), "access");
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetAttr;
  ops.setattr = OpSetAttr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.releasedir = OpReleaseDir;
  ops.fsyncdir = OpFsyncDir;
  ops.statfs = OpStatFs;
  ops.access = OpAccess;
  return ops;
}

}  // namespace

void DirModes::Note(const FileAttr& attr) {
  if (attr.type != FileType::kDirectory) return;
  std::lock_guard lock(mu_);
  if (modes_.size() >= kMaxDirectories) modes_.clear();
  modes_[attr.inode] = attr.mode;
}

bool DirModes::SearchableByAll(uint64_t dir) {
  std::lock_guard lock(mu_);
  auto it = modes_.find(dir);
  return it != modes_.end() && (it->second & 0111) == 0111;
}

void OpenHandles::Add(uint64_t inode, uint64_t handle) {
  std::lock_guard lock(mu_);
  by_inode_[inode].push_back(handle);
}

void OpenHandles::Remove(uint64_t inode, uint64_t handle) {
  std::lock_guard lock(mu_);
  auto it = by_inode_.find(inode);
  if (it == by_inode_.end()) return;
  std::erase(it->second, handle);
  if (it->second.empty()) by_inode_.erase(it);
}

bool OpenHandles::Any(uint64_t inode) {
  std::lock_guard lock(mu_);
  return by_inode_.contains(inode);
}

std::vector<uint64_t> OpenHandles::Others(uint64_t inode, uint64_t handle) {
  std::vector<uint64_t> out;
  std::lock_guard lock(mu_);
  auto it = by_inode_.find(inode);
  if (it == by_inode_.end()) return out;
  for (uint64_t h : it->second) {
    if (h != handle) out.push_back(h);
  }
  return out;
}

const fuse_lowlevel_ops& CvfsLowLevelOps() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

Status CheckAccess(const Identity& who, const FileAttr& attr, int mask) {
  mask &= R_OK | W_OK | X_OK;
  if (mask == 0) return Status::Ok();  // F_OK: the file exists
  if (who.uid == 0) {
    // Root reads and writes anything; it executes a file only if some x bit is set.
    const bool exec_ok = attr.type == FileType::kDirectory || (attr.mode & 0111) != 0;
    if (!(mask & X_OK) || exec_ok) return Status::Ok();
    return Status::PermissionDenied("no execute bit for root");
  }
  uint32_t bits;
  if (who.uid == attr.uid) {
    bits = (attr.mode >> 6) & 7;
  } else if (who.gid == attr.gid ||
             std::find(who.groups.begin(), who.groups.end(), attr.gid) != who.groups.end()) {
    bits = (attr.mode >> 3) & 7;
  } else {
    bits = attr.mode & 7;
  }
  // R_OK, W_OK and X_OK are 4, 2 and 1: the rwx bits themselves.
  if ((bits & static_cast<uint32_t>(mask)) == static_cast<uint32_t>(mask)) return Status::Ok();
  return Status::PermissionDenied("mode " + std::to_string(attr.mode & 07777) + " refuses uid " +
                                  std::to_string(who.uid));
}

}  // namespace cvfs::fuse
