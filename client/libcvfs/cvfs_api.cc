// The C API (include/cvfs/cvfs.h) over cvfs::FileSystem. Inside, Status and Result; each
// cvfs_* function is the edge where a Status becomes a negative errno, and no exception
// crosses it (std::bad_alloc -> -ENOMEM, anything else -> -EIO).
#include "cvfs/cvfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "client/libcvfs/open_files.h"
#include "client/libcvfs/path_walk.h"
#include "core/error_codes.h"
#include "core/logging.h"
#include "cvfs/filesystem.h"

#define CVFS_EXPORT extern "C" __attribute__((visibility("default")))

using cvfs::FileAttr;
using cvfs::FileType;
using cvfs::Identity;
using cvfs::Status;

struct cvfs_fs {
  uint64_t mount_id = 0;  // distinguishes mounts in the per-thread identities
  std::unique_ptr<cvfs::FileSystem> fs;
  std::unique_ptr<cvfs::libcvfs::DirCache> cache;
  std::unique_ptr<cvfs::libcvfs::PathWalker> walker;
  std::unique_ptr<cvfs::libcvfs::OpenFiles> files;
  dev_t dev = 0;  // st_dev of every file: a constant per filesystem name
  uint32_t blksize = 1u << 20;
};

struct cvfs_dir {
  cvfs_fs* fs = nullptr;
  std::shared_ptr<const Identity> who;  // the identity of the opendir call
  uint64_t inode = 0;
  uint64_t cookie = 0;
  std::vector<cvfs::DirEntry> page;
  size_t next = 0;
  bool eof = false;
};

namespace cvfs::libcvfs {
namespace {

constexpr size_t kReadDirPage = 1024;

std::atomic<uint64_t> next_mount_id{1};

// Identities set by cvfs_set_identity, per thread and per mount.
struct ThreadIdentity {
  uint64_t mount_id;
  std::shared_ptr<const Identity> who;
};
thread_local std::vector<ThreadIdentity> thread_identities;

std::shared_ptr<const Identity> CurrentIdentityShared(const cvfs_fs* fs) {
  for (const auto& t : thread_identities) {
    if (t.mount_id == fs->mount_id) return t.who;
  }
  return nullptr;
}

const Identity* CurrentIdentity(const cvfs_fs* fs) {
  for (const auto& t : thread_identities) {
    if (t.mount_id == fs->mount_id) return t.who.get();
  }
  return nullptr;
}

int ToErrno(const Status& st) { return -ErrorCodeToErrno(st.code()); }

// Runs `body` and turns escaping exceptions into errors.
template <typename F>
auto Guard(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
}

mode_t TypeBits(FileType type) {
  switch (type) {
    case FileType::kRegular:
      return S_IFREG;
    case FileType::kDirectory:
      return S_IFDIR;
    case FileType::kSymlink:
      return S_IFLNK;
  }
  return S_IFREG;
}

unsigned char DirentType(FileType type) {
  switch (type) {
    case FileType::kRegular:
      return DT_REG;
    case FileType::kDirectory:
      return DT_DIR;
    case FileType::kSymlink:
      return DT_LNK;
  }
  return DT_UNKNOWN;
}

timespec FromNs(int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1'000'000'000;
    --ts.tv_sec;
  }
  return ts;
}

void FillStat(const cvfs_fs* fs, const FileAttr& a, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_dev = fs->dev;
  st->st_ino = a.inode;
  st->st_mode = TypeBits(a.type) | (a.mode & 07777);
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = fs->blksize;
  st->st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st->st_atim = FromNs(a.atime_ns);
  st->st_mtim = FromNs(a.mtime_ns);
  st->st_ctim = FromNs(a.ctime_ns);
}

// The identity a permission check by this library uses: the thread's cvfs_set_identity one,
// else the process's real ids (as access(2)).
Identity EffectiveIdentity(const Identity* who) {
  if (who != nullptr) return *who;
  Identity me;
  me.uid = getuid();
  me.gid = getgid();
  int n = getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> groups(static_cast<size_t>(n));
    n = getgroups(n, groups.data());
    for (int i = 0; i < n; ++i) me.groups.push_back(groups[i]);
  }
  return me;
}

// Linux's mode-bit check (generic_permission without ACLs) for R_OK/W_OK/X_OK bits.
bool MayAccess(const FileAttr& a, const Identity& who, int mask) {
  if (who.uid == 0) {
    // Root: reads and writes always; execute when some x bit is set (or a directory).
    if ((mask & X_OK) == 0 || a.type == FileType::kDirectory) return true;
    return (a.mode & 0111) != 0;
  }
  uint32_t bits;
  if (a.uid == who.uid) {
    bits = (a.mode >> 6) & 7;
  } else if (a.gid == who.gid ||
             std::find(who.groups.begin(), who.groups.end(), a.gid) != who.groups.end()) {
    bits = (a.mode >> 3) & 7;
  } else {
    bits = a.mode & 7;
  }
  return (static_cast<uint32_t>(mask) & ~bits & 7) == 0;
}

// Attributes of an inode reached by a path: commits this process's pending writes to it
// first, and refetches when the walk's copy may be old.
cvfs::Result<FileAttr> FreshAttr(cvfs_fs* fs, const Identity* who, const FileAttr& walked,
                                 bool from_stack) {
  if (walked.type == FileType::kRegular) {
    const bool pending = fs->files->WrittenEnd(walked.inode) > 0;
    if (pending) {
      CVFS_RETURN_IF_ERROR(fs->files->Flush(walked.inode));
      from_stack = true;
    }
  }
  if (from_stack) return fs->fs->GetAttr(who, walked.inode);
  return walked;
}

std::vector<std::string> SplitEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

const char* EnvOr(const char* value, const char* env, const char* fallback) {
  if (value != nullptr) return value;
  const char* e = std::getenv(env);
  return (e != nullptr && *e != '\0') ? e : fallback;
}

// A program that did not set up logging itself gets the library's lines on stderr (never
// stdout: it is the program's), at $CVFS_LOG_LEVEL or warn, or in $CVFS_LOG_FILE.
void InitLibraryLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (spdlog::default_logger()->name() != "") return;  // the host configured spdlog
    const char* level = std::getenv("CVFS_LOG_LEVEL");
    const char* file = std::getenv("CVFS_LOG_FILE");
    LoggingOptions logging{"libcvfs", level != nullptr && *level ? level : "warn",
                           file != nullptr ? file : ""};
    if (!InitLogging(logging).ok()) (void)InitLogging({"libcvfs", "warn", ""});
  });
}

int Mount(const char* spec, const cvfs_mount_options* options, cvfs_fs** out) {
  if (out == nullptr || spec == nullptr) return -EINVAL;
  InitLibraryLogging();
  *out = nullptr;
  const std::string s(spec);
  const size_t colon = s.find(':');
  if (colon == std::string::npos || s.find(':', colon + 1) != std::string::npos) return -EINVAL;
  FileSystemOptions fo;
  fo.cluster = s.substr(0, colon);
  fo.filesystem = s.substr(colon + 1);
  if (!ValidName(fo.cluster) || !ValidName(fo.filesystem)) return -EINVAL;
  cvfs_mount_options defaults{};
  const cvfs_mount_options& o = options != nullptr ? *options : defaults;
  if (o.attr_cache_ms < -1 || o.deadline_ms < 0) return -EINVAL;
  fo.etcd_endpoints = SplitEndpoints(EnvOr(o.etcd_endpoints, "CVFS_ETCD", "http://127.0.0.1:2379"));
  if (fo.etcd_endpoints.empty()) return -EINVAL;
  fo.provider = EnvOr(o.provider, "CVFS_PROVIDER", "tcp;ofi_rxm");
  fo.munge_socket = EnvOr(o.munge_socket, "CVFS_MUNGE_SOCKET", "");
  fo.name = "libcvfs";
  fo.deadline = std::chrono::milliseconds(o.deadline_ms == 0 ? 30000 : o.deadline_ms);
  const int cache_ms = o.attr_cache_ms == 0 ? 1000 : (o.attr_cache_ms < 0 ? 0 : o.attr_cache_ms);

  auto mounted = FileSystem::Mount(fo);
  if (!mounted.ok()) return ToErrno(mounted.status());
  auto fs = std::make_unique<cvfs_fs>();
  fs->mount_id = next_mount_id++;
  fs->fs = std::move(mounted).value();
  fs->cache = std::make_unique<DirCache>(cache_ms);
  fs->walker = std::make_unique<PathWalker>(fs->fs.get(), fs->cache.get());
  fs->files = std::make_unique<OpenFiles>(fs->fs.get());
  fs->dev = static_cast<dev_t>(std::hash<std::string>{}(s)&0x7fffffff) | 1;
  *out = fs.release();
  return 0;
}

int Unmount(cvfs_fs* fs) {
  if (fs == nullptr) return -EINVAL;
  int rc = 0;
  for (auto& file : fs->files->RemoveAll()) {
    if (file->handle == 0) continue;
    Status st = fs->fs->Release(file->handle);
    if (!st.ok() && rc == 0) rc = ToErrno(st);
  }
  delete fs;
  return rc;
}

int SetIdentity(cvfs_fs* fs, uid_t uid, gid_t gid, int ngroups, const gid_t* groups) {
  if (fs == nullptr) return -EINVAL;
  if (geteuid() != 0) return -EPERM;
  auto& ids = thread_identities;
  ids.erase(std::remove_if(ids.begin(), ids.end(),
                           [&](const ThreadIdentity& t) { return t.mount_id == fs->mount_id; }),
            ids.end());
  if (uid == static_cast<uid_t>(-1)) return 0;
  if (ngroups < 0 || (ngroups > 0 && groups == nullptr) || ngroups > NGROUPS_MAX) return -EINVAL;
  auto who = std::make_shared<Identity>();
  who->uid = uid;
  who->gid = gid;
  who->groups.assign(groups, groups + ngroups);
  ids.push_back({fs->mount_id, std::move(who)});
  return 0;
}

// open(2) with O_CREAT: finds or creates the file, following a symlink in the last
// component unless O_NOFOLLOW (creating through a dangling link creates its target).
int OpenCreate(cvfs_fs* fs, const Identity* who, const char* path, int flags, mode_t mode,
               FileAttr* attr, bool* created) {
  auto pn_or = fs->walker->ResolveParent(who, path);
  if (!pn_or.ok()) return ToErrno(pn_or.status());
  ParentAndName pn = std::move(pn_or).value();
  int links = 0;
  while (true) {
    if (pn.kind != LastKind::kName) return (flags & O_EXCL) ? -EEXIST : -EISDIR;
    if (pn.trailing_slash) return -EISDIR;
    if ((flags & O_EXCL) == 0) {
      auto found = fs->walker->Lookup(who, pn.parent.inode, pn.name);
      if (found.ok()) {
        if (found->type == FileType::kSymlink) {
          if (flags & O_NOFOLLOW) return -ELOOP;
          if (++links > kMaxSymlinks) return -ELOOP;
          auto target = fs->fs->Readlink(who, found->inode);
          if (!target.ok()) return ToErrno(target.status());
          if (target->empty()) return -ENOENT;
          auto next = fs->walker->ResolveParentFrom(who, pn.stack, *target, &links);
          if (!next.ok()) return ToErrno(next.status());
          pn = std::move(next).value();
          continue;
        }
        if (found->type == FileType::kDirectory) return -EISDIR;
        *attr = *found;
        *created = false;
        return 0;
      }
      if (found.status().code() != ErrorCode::kNotFound) return ToErrno(found.status());
    }
    auto made =
        fs->fs->Create(who, pn.parent.inode, pn.name, mode & 07777, (flags & O_EXCL) != 0, created);
    if (!made.ok()) return ToErrno(made.status());
    if (made->type == FileType::kDirectory) return -EISDIR;
    *attr = *made;
    return 0;
  }
}

int Open(cvfs_fs* fs, const char* path, int flags, mode_t mode) {
  if (fs == nullptr) return -EINVAL;
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  const int access = flags & O_ACCMODE;
  if (access != O_RDONLY && access != O_WRONLY && access != O_RDWR) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  FileAttr attr;
  bool created = false;
  if (flags & O_CREAT) {
    if (int rc = OpenCreate(fs, who, path, flags, mode, &attr, &created); rc != 0) return rc;
  } else {
    bool from_stack = false;
    auto found = fs->walker->Resolve(who, path, (flags & O_NOFOLLOW) == 0, &from_stack);
    if (!found.ok()) return ToErrno(found.status());
    attr = *found;
    if (from_stack) {
      auto fresh = fs->fs->GetAttr(who, attr.inode);
      if (!fresh.ok()) return ToErrno(fresh.status());
      attr = *fresh;
    }
  }
  if (attr.type == FileType::kSymlink) return -ELOOP;  // O_NOFOLLOW on a link
  if ((flags & O_DIRECTORY) && attr.type != FileType::kDirectory) return -ENOTDIR;
  auto file = std::make_shared<OpenFile>();
  file->inode = attr.inode;
  file->type = attr.type;
  file->flags = flags;
  if (attr.type == FileType::kDirectory) {
    if (access != O_RDONLY) return -EISDIR;
    if (!MayAccess(attr, EffectiveIdentity(who), R_OK)) return -EACCES;
  } else {
    // Commit this process's writes first: Open revalidates the size, a truncate must not be
    // undone by a later commit of an older write.
    if (Status st = fs->files->Flush(attr.inode); !st.ok()) return ToErrno(st);
    const uint64_t size_before = attr.size;
    auto handle = created ? fs->fs->OpenCreated(who, attr, flags)
                          : fs->fs->Open(who, attr.inode, flags, &attr);
    if (!handle.ok()) return ToErrno(handle.status());
    file->handle = *handle;
    // O_TRUNC empties the file and sets mtime/ctime even when it was empty already (as
    // Linux). FileSystem::Open truncates a non-empty file opened for writing itself; the
    // rest (an empty file, O_RDONLY|O_TRUNC) is done here.
    if ((flags & O_TRUNC) && !created && (attr.size != 0 || size_before == 0)) {
      SetAttrRequest request;
      request.mask = kSetSize;
      request.size = 0;
      auto truncated = fs->fs->SetAttr(who, attr.inode, request);
      if (!truncated.ok()) {
        (void)fs->fs->Release(file->handle);
        return ToErrno(truncated.status());
      }
      fs->files->Truncated(attr.inode, 0);
    }
  }
  const uint64_t handle = file->handle;
  const int fd = fs->files->Insert(std::move(file));
  if (fd < 0) {
    if (handle != 0) (void)fs->fs->Release(handle);
    return -EMFILE;
  }
  return fd;
}

int Close(cvfs_fs* fs, int fd) {
  if (fs == nullptr) return -EINVAL;
  auto file = fs->files->Remove(fd);
  if (!file) return -EBADF;
  if (file->handle == 0) return 0;
  Status st = fs->fs->Release(file->handle);
  return st.ok() ? 0 : ToErrno(st);
}

ssize_t Pread(cvfs_fs* fs, int fd, void* buf, size_t count, off_t offset) {
  if (fs == nullptr) return -EINVAL;
  auto file = fs->files->Get(fd);
  if (!file || !file->readable()) return -EBADF;
  if (file->type == FileType::kDirectory) return -EISDIR;
  if (offset < 0) return -EINVAL;
  if (count == 0) return 0;
  if (buf == nullptr) return -EFAULT;
  // Reads see this process's writes: sizes are committed at Fsync only.
  if (Status st = fs->files->Flush(file->inode); !st.ok()) return ToErrno(st);
  count = std::min<size_t>(count, 0x7ffff000);  // as read(2)
  auto n = fs->fs->Read(file->handle, static_cast<uint64_t>(offset),
                        std::span<std::byte>(static_cast<std::byte*>(buf), count));
  if (!n.ok()) return ToErrno(n.status());
  return static_cast<ssize_t>(*n);
}

ssize_t Pwrite(cvfs_fs* fs, int fd, const void* buf, size_t count, off_t offset) {
  if (fs == nullptr) return -EINVAL;
  auto file = fs->files->Get(fd);
  if (!file || !file->writable()) return -EBADF;
  if (offset < 0 && !file->append()) return -EINVAL;
  if (count == 0) return 0;
  if (buf == nullptr) return -EFAULT;
  count = std::min<size_t>(count, 0x7ffff000);
  std::span<const std::byte> data(static_cast<const std::byte*>(buf), count);
  if (!file->append()) {
    Status st = fs->fs->Write(file->handle, static_cast<uint64_t>(offset), data);
    if (!st.ok()) return ToErrno(st);
    fs->files->Wrote(*file, static_cast<uint64_t>(offset) + count);
    return static_cast<ssize_t>(count);
  }
  // O_APPEND: the end as this process knows it (committed size or its own later writes),
  // under the inode's append lock so this process's appenders do not overlap.
  std::lock_guard<std::mutex> lock(file->state->append_mu);
  auto attr = fs->fs->GetAttr(CurrentIdentity(fs), file->inode);
  if (!attr.ok()) return ToErrno(attr.status());
  const uint64_t end = std::max(attr->size, fs->files->WrittenEnd(file->inode));
  Status st = fs->fs->Write(file->handle, end, data);
  if (!st.ok()) return ToErrno(st);
  fs->files->Wrote(*file, end + count);
  return static_cast<ssize_t>(count);
}

int Fsync(cvfs_fs* fs, int fd) {
  if (fs == nullptr) return -EINVAL;
  auto file = fs->files->Get(fd);
  if (!file) return -EBADF;
  if (file->handle == 0) return 0;  // a directory: its entries are durable already
  Status st = fs->files->FlushFile(*file);
  if (st.ok()) st = fs->fs->RefreshSize(file->handle);
  return st.ok() ? 0 : ToErrno(st);
}

int Truncate(cvfs_fs* fs, const Identity* who, const FileAttr& attr, off_t length) {
  if (length < 0) return -EINVAL;
  if (attr.type == FileType::kDirectory) return -EISDIR;
  if (attr.type != FileType::kRegular) return -EINVAL;
  if (Status st = fs->files->Flush(attr.inode); !st.ok()) return ToErrno(st);
  SetAttrRequest request;
  request.mask = kSetSize;
  request.size = static_cast<uint64_t>(length);
  auto done = fs->fs->SetAttr(who, attr.inode, request);
  if (!done.ok()) return ToErrno(done.status());
  fs->files->Truncated(attr.inode, request.size);
  return 0;
}

int Ftruncate(cvfs_fs* fs, int fd, off_t length) {
  if (fs == nullptr || length < 0) return -EINVAL;
  auto file = fs->files->Get(fd);
  if (!file) return -EBADF;
  if (!file->writable() || file->type != FileType::kRegular) return -EINVAL;
  FileAttr attr;
  attr.inode = file->inode;
  attr.type = file->type;
  return Truncate(fs, CurrentIdentity(fs), attr, length);
}

int Fstat(cvfs_fs* fs, int fd, struct stat* st) {
  if (fs == nullptr) return -EINVAL;
  if (st == nullptr) return -EFAULT;
  auto file = fs->files->Get(fd);
  if (!file) return -EBADF;
  if (Status s = fs->files->Flush(file->inode); !s.ok()) return ToErrno(s);
  auto attr = fs->fs->GetAttr(CurrentIdentity(fs), file->inode);
  if (!attr.ok()) return ToErrno(attr.status());
  FillStat(fs, *attr, st);
  return 0;
}

// Resolves `path` for a call on the entry itself; *attr is fresh.
int ResolveFresh(cvfs_fs* fs, const Identity* who, const char* path, bool follow, FileAttr* attr) {
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  bool from_stack = false;
  auto found = fs->walker->Resolve(who, path, follow, &from_stack);
  if (!found.ok()) return ToErrno(found.status());
  auto fresh = FreshAttr(fs, who, *found, from_stack);
  if (!fresh.ok()) return ToErrno(fresh.status());
  *attr = *fresh;
  return 0;
}

int StatPath(cvfs_fs* fs, const char* path, struct stat* st, bool follow) {
  if (fs == nullptr) return -EINVAL;
  if (st == nullptr) return -EFAULT;
  FileAttr attr;
  if (int rc = ResolveFresh(fs, CurrentIdentity(fs), path, follow, &attr); rc != 0) return rc;
  FillStat(fs, attr, st);
  return 0;
}

// Resolves the parent of `path` for a call that names an entry.
int Parent(cvfs_fs* fs, const Identity* who, const char* path, ParentAndName* out) {
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  auto pn = fs->walker->ResolveParent(who, path);
  if (!pn.ok()) return ToErrno(pn.status());
  *out = std::move(pn).value();
  return 0;
}

int Mkdir(cvfs_fs* fs, const char* path, mode_t mode) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  ParentAndName pn;
  if (int rc = Parent(fs, who, path, &pn); rc != 0) return rc;
  if (pn.kind != LastKind::kName) return -EEXIST;
  auto made = fs->fs->Mkdir(who, pn.parent.inode, pn.name, mode & 07777);
  return made.ok() ? 0 : ToErrno(made.status());
}

int Rmdir(cvfs_fs* fs, const char* path) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  ParentAndName pn;
  if (int rc = Parent(fs, who, path, &pn); rc != 0) return rc;
  switch (pn.kind) {
    case LastKind::kRoot:
      return -EBUSY;
    case LastKind::kDot:
      return -EINVAL;
    case LastKind::kDotDot:
      return -ENOTEMPTY;
    case LastKind::kName:
      break;
  }
  Status st = fs->fs->Rmdir(who, pn.parent.inode, pn.name);
  fs->cache->Forget(pn.parent.inode, pn.name);
  return st.ok() ? 0 : ToErrno(st);
}

int Unlink(cvfs_fs* fs, const char* path) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  ParentAndName pn;
  if (int rc = Parent(fs, who, path, &pn); rc != 0) return rc;
  if (pn.kind != LastKind::kName) return -EISDIR;
  if (pn.trailing_slash) {
    auto found = fs->walker->Lookup(who, pn.parent.inode, pn.name);
    if (!found.ok()) return ToErrno(found.status());
    return found->type == FileType::kDirectory ? -EISDIR : -ENOTDIR;
  }
  Status st = fs->fs->Unlink(who, pn.parent.inode, pn.name);
  return st.ok() ? 0 : ToErrno(st);
}

int Rename(cvfs_fs* fs, const char* from, const char* to) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  ParentAndName a, b;
  if (int rc = Parent(fs, who, from, &a); rc != 0) return rc;
  if (int rc = Parent(fs, who, to, &b); rc != 0) return rc;
  if (a.kind != LastKind::kName || b.kind != LastKind::kName) return -EBUSY;
  if (a.trailing_slash || b.trailing_slash) {
    // A trailing slash on either side requires the source to be a directory.
    auto source = fs->walker->Lookup(who, a.parent.inode, a.name);
    if (!source.ok()) return ToErrno(source.status());
    if (source->type != FileType::kDirectory) return -ENOTDIR;
  }
  Status st = fs->fs->Rename(who, a.parent.inode, a.name, b.parent.inode, b.name, false);
  fs->cache->Forget(a.parent.inode, a.name);
  fs->cache->Forget(b.parent.inode, b.name);
  return st.ok() ? 0 : ToErrno(st);
}

int Link(cvfs_fs* fs, const char* existing, const char* new_path) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  FileAttr attr;
  if (Status st = CheckPath(existing); !st.ok()) return ToErrno(st);
  auto found = fs->walker->Resolve(who, existing, false);
  if (!found.ok()) return ToErrno(found.status());
  attr = *found;
  ParentAndName pn;
  if (int rc = Parent(fs, who, new_path, &pn); rc != 0) return rc;
  if (pn.kind != LastKind::kName) return -EEXIST;
  if (attr.type == FileType::kDirectory) return -EPERM;
  auto linked = fs->fs->Link(who, attr.inode, pn.parent.inode, pn.name);
  return linked.ok() ? 0 : ToErrno(linked.status());
}

int Symlink(cvfs_fs* fs, const char* target, const char* link_path) {
  if (fs == nullptr) return -EINVAL;
  if (target == nullptr) return -EFAULT;
  const size_t length = strnlen(target, kMaxPathBytes + 1);
  if (length == 0) return -ENOENT;
  if (length > kMaxPathBytes) return -ENAMETOOLONG;
  const Identity* who = CurrentIdentity(fs);
  ParentAndName pn;
  if (int rc = Parent(fs, who, link_path, &pn); rc != 0) return rc;
  if (pn.kind != LastKind::kName) return -EEXIST;
  auto made = fs->fs->Symlink(who, pn.parent.inode, pn.name, std::string_view(target, length));
  return made.ok() ? 0 : ToErrno(made.status());
}

ssize_t Readlink(cvfs_fs* fs, const char* path, char* buf, size_t size) {
  if (fs == nullptr || size == 0) return -EINVAL;
  if (buf == nullptr) return -EFAULT;
  const Identity* who = CurrentIdentity(fs);
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  auto found = fs->walker->Resolve(who, path, false);
  if (!found.ok()) return ToErrno(found.status());
  if (found->type != FileType::kSymlink) return -EINVAL;
  auto target = fs->fs->Readlink(who, found->inode);
  if (!target.ok()) return ToErrno(target.status());
  const size_t n = std::min(size, target->size());
  std::memcpy(buf, target->data(), n);
  return static_cast<ssize_t>(n);
}

int SetAttrPath(cvfs_fs* fs, const char* path, const SetAttrRequest& request) {
  if (fs == nullptr) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  auto found = fs->walker->Resolve(who, path, true);
  if (!found.ok()) return ToErrno(found.status());
  if (found->type == FileType::kRegular) {
    // A later commit of this process's writes must not overwrite the times set here.
    if (Status st = fs->files->Flush(found->inode); !st.ok()) return ToErrno(st);
  }
  auto done = fs->fs->SetAttr(who, found->inode, request);
  // Cached lookups skip the server's search-permission check: a directory's new mode or
  // owner must not be bypassed through them.
  if (found->type == FileType::kDirectory) fs->cache->Clear();
  return done.ok() ? 0 : ToErrno(done.status());
}

int Chmod(cvfs_fs* fs, const char* path, mode_t mode) {
  SetAttrRequest request;
  request.mask = kSetMode;
  request.mode = mode & 07777;
  return SetAttrPath(fs, path, request);
}

int Chown(cvfs_fs* fs, const char* path, uid_t uid, gid_t gid) {
  SetAttrRequest request;
  if (uid != static_cast<uid_t>(-1)) {
    request.mask |= kSetUid;
    request.uid = uid;
  }
  if (gid != static_cast<gid_t>(-1)) {
    request.mask |= kSetGid;
    request.gid = gid;
  }
  return SetAttrPath(fs, path, request);
}

int Utimens(cvfs_fs* fs, const char* path, const struct timespec times[2]) {
  SetAttrRequest request;
  const struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (times == nullptr) times = now;
  const uint32_t set[2] = {kSetAtime, kSetMtime};
  const uint32_t set_now[2] = {kSetAtimeNow, kSetMtimeNow};
  int64_t* ns[2] = {&request.atime_ns, &request.mtime_ns};
  for (int i = 0; i < 2; ++i) {
    if (times[i].tv_nsec == UTIME_OMIT) continue;
    if (times[i].tv_nsec == UTIME_NOW) {
      request.mask |= set_now[i];
      continue;
    }
    if (times[i].tv_nsec < 0 || times[i].tv_nsec >= 1'000'000'000) return -EINVAL;
    request.mask |= set[i];
    *ns[i] = static_cast<int64_t>(times[i].tv_sec) * 1'000'000'000 + times[i].tv_nsec;
  }
  return SetAttrPath(fs, path, request);
}

int TruncatePath(cvfs_fs* fs, const char* path, off_t length) {
  if (fs == nullptr || length < 0) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  if (Status st = CheckPath(path); !st.ok()) return ToErrno(st);
  auto found = fs->walker->Resolve(who, path, true);
  if (!found.ok()) return ToErrno(found.status());
  return Truncate(fs, who, *found, length);
}

int Access(cvfs_fs* fs, const char* path, int mode) {
  if (fs == nullptr) return -EINVAL;
  if ((mode & ~(R_OK | W_OK | X_OK)) != 0) return -EINVAL;
  const Identity* who = CurrentIdentity(fs);
  FileAttr attr;
  if (int rc = ResolveFresh(fs, who, path, true, &attr); rc != 0) return rc;
  if (mode == F_OK) return 0;
  return MayAccess(attr, EffectiveIdentity(who), mode) ? 0 : -EACCES;
}

int StatFs(cvfs_fs* fs, struct statvfs* out) {
  if (fs == nullptr) return -EINVAL;
  if (out == nullptr) return -EFAULT;
  auto stats = fs->fs->StatFs(CurrentIdentity(fs));
  if (!stats.ok()) return ToErrno(stats.status());
  std::memset(out, 0, sizeof(*out));
  const uint64_t block = std::max<uint32_t>(stats->block_size, 1);
  out->f_bsize = block;
  out->f_frsize = block;
  out->f_blocks = stats->total_bytes / block;
  out->f_bfree = stats->free_bytes / block;
  out->f_bavail = out->f_bfree;
  out->f_files = stats->total_inodes;
  out->f_ffree =
      stats->total_inodes > stats->used_inodes ? stats->total_inodes - stats->used_inodes : 0;
  out->f_favail = out->f_ffree;
  out->f_fsid = static_cast<unsigned long>(fs->dev);
  out->f_namemax = stats->max_name;
  return 0;
}

int OpenDir(cvfs_fs* fs, const char* path, cvfs_dir** out) {
  if (fs == nullptr || out == nullptr) return -EINVAL;
  *out = nullptr;
  auto who = CurrentIdentityShared(fs);
  FileAttr attr;
  if (int rc = ResolveFresh(fs, who.get(), path, true, &attr); rc != 0) return rc;
  if (attr.type != FileType::kDirectory) return -ENOTDIR;
  if (!MayAccess(attr, EffectiveIdentity(who.get()), R_OK)) return -EACCES;
  auto dir = std::make_unique<cvfs_dir>();
  dir->fs = fs;
  dir->who = std::move(who);
  dir->inode = attr.inode;
  *out = dir.release();
  return 0;
}

int ReadDir(cvfs_dir* dir, cvfs_dirent* entry) {
  if (dir == nullptr || entry == nullptr) return -EINVAL;
  while (true) {
    while (dir->next < dir->page.size()) {
      const auto& e = dir->page[dir->next++];
      if (e.name == "." || e.name == ".." || e.name.size() > kMaxNameBytes) continue;
      entry->inode = e.inode;
      entry->type = DirentType(e.type);
      std::memcpy(entry->name, e.name.data(), e.name.size());
      entry->name[e.name.size()] = '\0';
      return 1;
    }
    if (dir->eof) return 0;
    auto page = dir->fs->fs->ReadDir(dir->who.get(), dir->inode, dir->cookie, kReadDirPage);
    if (!page.ok()) return ToErrno(page.status());
    dir->page = std::move(page->entries);
    dir->next = 0;
    dir->eof = page->eof || dir->page.empty();
    if (!dir->page.empty()) dir->cookie = dir->page.back().cookie;
  }
}

}  // namespace
}  // namespace cvfs::libcvfs

using namespace cvfs::libcvfs;

CVFS_EXPORT int cvfs_mount(const char* spec, const cvfs_mount_options* options, cvfs_fs** out) {
  return Guard([&] { return Mount(spec, options, out); });
}
CVFS_EXPORT int cvfs_unmount(cvfs_fs* fs) {
  return Guard([&] { return Unmount(fs); });
}
CVFS_EXPORT int cvfs_set_identity(cvfs_fs* fs, uid_t uid, gid_t gid, int ngroups,
                                  const gid_t* groups) {
  return Guard([&] { return SetIdentity(fs, uid, gid, ngroups, groups); });
}
CVFS_EXPORT int cvfs_open(cvfs_fs* fs, const char* path, int flags, mode_t mode) {
  return Guard([&] { return Open(fs, path, flags, mode); });
}
CVFS_EXPORT int cvfs_close(cvfs_fs* fs, int fd) {
  return Guard([&] { return Close(fs, fd); });
}
CVFS_EXPORT ssize_t cvfs_pread(cvfs_fs* fs, int fd, void* buf, size_t count, off_t offset) {
  return Guard([&]() -> ssize_t { return Pread(fs, fd, buf, count, offset); });
}
CVFS_EXPORT ssize_t cvfs_pwrite(cvfs_fs* fs, int fd, const void* buf, size_t count, off_t offset) {
  return Guard([&]() -> ssize_t { return Pwrite(fs, fd, buf, count, offset); });
}
CVFS_EXPORT int cvfs_fsync(cvfs_fs* fs, int fd) {
  return Guard([&] { return Fsync(fs, fd); });
}
CVFS_EXPORT int cvfs_ftruncate(cvfs_fs* fs, int fd, off_t length) {
  return Guard([&] { return Ftruncate(fs, fd, length); });
}
CVFS_EXPORT int cvfs_truncate(cvfs_fs* fs, const char* path, off_t length) {
  return Guard([&] { return TruncatePath(fs, path, length); });
}
CVFS_EXPORT int cvfs_fstat(cvfs_fs* fs, int fd, struct stat* st) {
  return Guard([&] { return Fstat(fs, fd, st); });
}
CVFS_EXPORT int cvfs_stat(cvfs_fs* fs, const char* path, struct stat* st) {
  return Guard([&] { return StatPath(fs, path, st, true); });
}
CVFS_EXPORT int cvfs_lstat(cvfs_fs* fs, const char* path, struct stat* st) {
  return Guard([&] { return StatPath(fs, path, st, false); });
}
CVFS_EXPORT int cvfs_mkdir(cvfs_fs* fs, const char* path, mode_t mode) {
  return Guard([&] { return Mkdir(fs, path, mode); });
}
CVFS_EXPORT int cvfs_rmdir(cvfs_fs* fs, const char* path) {
  return Guard([&] { return Rmdir(fs, path); });
}
CVFS_EXPORT int cvfs_unlink(cvfs_fs* fs, const char* path) {
  return Guard([&] { return Unlink(fs, path); });
}
CVFS_EXPORT int cvfs_rename(cvfs_fs* fs, const char* from, const char* to) {
  return Guard([&] { return Rename(fs, from, to); });
}
CVFS_EXPORT int cvfs_link(cvfs_fs* fs, const char* existing, const char* new_path) {
  return Guard([&] { return Link(fs, existing, new_path); });
}
CVFS_EXPORT int cvfs_symlink(cvfs_fs* fs, const char* target, const char* link_path) {
  return Guard([&] { return Symlink(fs, target, link_path); });
}
CVFS_EXPORT ssize_t cvfs_readlink(cvfs_fs* fs, const char* path, char* buf, size_t size) {
  return Guard([&]() -> ssize_t { return Readlink(fs, path, buf, size); });
}
CVFS_EXPORT int cvfs_chmod(cvfs_fs* fs, const char* path, mode_t mode) {
  return Guard([&] { return Chmod(fs, path, mode); });
}
CVFS_EXPORT int cvfs_chown(cvfs_fs* fs, const char* path, uid_t uid, gid_t gid) {
  return Guard([&] { return Chown(fs, path, uid, gid); });
}
CVFS_EXPORT int cvfs_utimens(cvfs_fs* fs, const char* path, const struct timespec times[2]) {
  return Guard([&] { return Utimens(fs, path, times); });
}
CVFS_EXPORT int cvfs_access(cvfs_fs* fs, const char* path, int mode) {
  return Guard([&] { return Access(fs, path, mode); });
}
CVFS_EXPORT int cvfs_statfs(cvfs_fs* fs, struct statvfs* out) {
  return Guard([&] { return StatFs(fs, out); });
}
CVFS_EXPORT int cvfs_opendir(cvfs_fs* fs, const char* path, cvfs_dir** out) {
  return Guard([&] { return OpenDir(fs, path, out); });
}
CVFS_EXPORT int cvfs_readdir(cvfs_dir* dir, cvfs_dirent* entry) {
  return Guard([&] { return ReadDir(dir, entry); });
}
CVFS_EXPORT int cvfs_closedir(cvfs_dir* dir) {
  delete dir;
  return 0;
}
CVFS_EXPORT const char* cvfs_strerror(int negative_errno) {
  const char* s = strerrordesc_np(negative_errno < 0 ? -negative_errno : negative_errno);
  return s != nullptr ? s : "Unknown error";
}
