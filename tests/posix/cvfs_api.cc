#include "tests/posix/cvfs_api.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace cvfs::posix {

namespace {

uint32_t ProcessUmask() {
  const mode_t mask = umask(022);
  umask(mask);
  return mask;
}

}  // namespace

class CvfsApi::IdentityScope {
 public:
  explicit IdentityScope(const CvfsApi& api) : api_(api) {
    if (api_.as_other_) (void)cvfs_set_identity(api_.fs_, api_.uid_, api_.gid_, 0, nullptr);
  }
  ~IdentityScope() {
    if (api_.as_other_) (void)cvfs_set_identity(api_.fs_, static_cast<uid_t>(-1), 0, 0, nullptr);
  }

 private:
  const CvfsApi& api_;
};

CvfsApi::CvfsApi(cvfs_fs* fs, std::string root)
    : fs_(fs), root_(std::move(root)), umask_(ProcessUmask()) {}

CvfsApi::CvfsApi(cvfs_fs* fs, std::string root, uint32_t uid, uint32_t gid)
    : fs_(fs),
      root_(std::move(root)),
      as_other_(true),
      uid_(uid),
      gid_(gid),
      umask_(ProcessUmask()) {}

CvfsApi::~CvfsApi() {
  IdentityScope as(*this);
  for (const auto& [handle, position] : positions_) (void)cvfs_close(fs_, handle);
}

std::string CvfsApi::Describe() const {
  const std::string who =
      as_other_ ? "uid " + std::to_string(uid_) + " gid " + std::to_string(gid_) + " on " : "";
  return who + "cvfs " + root_;
}

std::string CvfsApi::Full(const std::string& path) const {
  return path == "." ? root_ : root_ + "/" + path;
}

int CvfsApi::Open(const std::string& path, int flags, uint32_t mode) {
  IdentityScope as(*this);
  const int fd = cvfs_open(fs_, Full(path).c_str(), flags, mode & ~umask_);
  if (fd >= 0) positions_[fd] = Position{0, (flags & O_APPEND) != 0};
  return fd;
}

int CvfsApi::Close(int handle) {
  IdentityScope as(*this);
  positions_.erase(handle);
  return cvfs_close(fs_, handle);
}

int64_t CvfsApi::Read(int handle, void* buf, size_t count) {
  IdentityScope as(*this);
  auto it = positions_.find(handle);
  if (it == positions_.end()) return -EBADF;
  const ssize_t n = cvfs_pread(fs_, handle, buf, count, it->second.offset);
  if (n > 0) it->second.offset += n;
  return n;
}

int64_t CvfsApi::Write(int handle, const void* buf, size_t count) {
  IdentityScope as(*this);
  auto it = positions_.find(handle);
  if (it == positions_.end()) return -EBADF;
  const ssize_t n = cvfs_pwrite(fs_, handle, buf, count, it->second.offset);
  if (n < 0) return n;
  if (!it->second.append) {
    it->second.offset += n;
    return n;
  }
  struct stat st;  // write(2) on O_APPEND leaves the position at the new end
  if (cvfs_fstat(fs_, handle, &st) == 0) it->second.offset = st.st_size;
  return n;
}

int64_t CvfsApi::Pread(int handle, void* buf, size_t count, int64_t offset) {
  IdentityScope as(*this);
  return cvfs_pread(fs_, handle, buf, count, offset);
}

int64_t CvfsApi::Pwrite(int handle, const void* buf, size_t count, int64_t offset) {
  IdentityScope as(*this);
  return cvfs_pwrite(fs_, handle, buf, count, offset);
}

int CvfsApi::Fsync(int handle) {
  IdentityScope as(*this);
  return cvfs_fsync(fs_, handle);
}

int CvfsApi::Ftruncate(int handle, int64_t size) {
  IdentityScope as(*this);
  return cvfs_ftruncate(fs_, handle, size);
}

int CvfsApi::Truncate(const std::string& path, int64_t size) {
  IdentityScope as(*this);
  return cvfs_truncate(fs_, Full(path).c_str(), size);
}

int CvfsApi::Stat(const std::string& path, StatResult* out) {
  IdentityScope as(*this);
  struct stat st;
  const int rc = cvfs_stat(fs_, Full(path).c_str(), &st);
  if (rc == 0) FillStat(st, out);
  return rc;
}

int CvfsApi::Lstat(const std::string& path, StatResult* out) {
  IdentityScope as(*this);
  struct stat st;
  const int rc = cvfs_lstat(fs_, Full(path).c_str(), &st);
  if (rc == 0) FillStat(st, out);
  return rc;
}

int CvfsApi::Fstat(int handle, StatResult* out) {
  IdentityScope as(*this);
  struct stat st;
  const int rc = cvfs_fstat(fs_, handle, &st);
  if (rc == 0) FillStat(st, out);
  return rc;
}

int CvfsApi::Mkdir(const std::string& path, uint32_t mode) {
  IdentityScope as(*this);
  return cvfs_mkdir(fs_, Full(path).c_str(), mode & ~umask_);
}

int CvfsApi::Rmdir(const std::string& path) {
  IdentityScope as(*this);
  return cvfs_rmdir(fs_, Full(path).c_str());
}

int CvfsApi::Unlink(const std::string& path) {
  IdentityScope as(*this);
  return cvfs_unlink(fs_, Full(path).c_str());
}

int CvfsApi::Rename(const std::string& from, const std::string& to) {
  IdentityScope as(*this);
  return cvfs_rename(fs_, Full(from).c_str(), Full(to).c_str());
}

int CvfsApi::Link(const std::string& existing, const std::string& new_path) {
  IdentityScope as(*this);
  return cvfs_link(fs_, Full(existing).c_str(), Full(new_path).c_str());
}

int CvfsApi::Symlink(const std::string& target, const std::string& link_path) {
  IdentityScope as(*this);
  // The target is stored as given. An absolute one would name a path of the filesystem,
  // not of the reference's tree: the cases only use relative targets.
  return cvfs_symlink(fs_, target.c_str(), Full(link_path).c_str());
}

int CvfsApi::Readlink(const std::string& path, std::string* target) {
  IdentityScope as(*this);
  char buf[4096];
  const ssize_t n = cvfs_readlink(fs_, Full(path).c_str(), buf, sizeof(buf));
  if (n < 0) return static_cast<int>(n);
  target->assign(buf, static_cast<size_t>(n));
  return 0;
}

int CvfsApi::Readdir(const std::string& path, std::vector<std::string>* names) {
  IdentityScope as(*this);
  return CvfsListNames(fs_, Full(path), names);
}

int CvfsApi::Chmod(const std::string& path, uint32_t mode) {
  IdentityScope as(*this);
  return cvfs_chmod(fs_, Full(path).c_str(), mode);
}

int CvfsApi::Chown(const std::string& path, uint32_t uid, uint32_t gid) {
  IdentityScope as(*this);
  return cvfs_chown(fs_, Full(path).c_str(), uid, gid);
}

int CvfsApi::Utimens(const std::string& path, const timespec times[2]) {
  IdentityScope as(*this);
  return cvfs_utimens(fs_, Full(path).c_str(), times);
}

int CvfsApi::Statfs(const std::string& path, StatfsResult* out) {
  IdentityScope as(*this);
  struct stat st;  // statfs(2) resolves the path first
  if (int rc = cvfs_stat(fs_, Full(path).c_str(), &st); rc != 0) return rc;
  struct statvfs vfs;
  if (int rc = cvfs_statfs(fs_, &vfs); rc != 0) return rc;
  out->namemax = vfs.f_namemax;
  return 0;
}

int CvfsApi::Access(const std::string& path, int mode) {
  IdentityScope as(*this);
  return cvfs_access(fs_, Full(path).c_str(), mode);
}

std::unique_ptr<FsApi> CvfsApi::RunAs(uint32_t uid, uint32_t gid, std::string* error) {
  if (geteuid() != 0) {
    *error = "cannot take uid " + std::to_string(uid) + ": cvfs_set_identity needs root";
    return nullptr;
  }
  return std::unique_ptr<FsApi>(new CvfsApi(fs_, root_, uid, gid));
}

int CvfsListNames(cvfs_fs* fs, const std::string& dir, std::vector<std::string>* names) {
  cvfs_dir* d = nullptr;
  if (int rc = cvfs_opendir(fs, dir.c_str(), &d); rc != 0) return rc;
  std::vector<std::string> found;
  cvfs_dirent entry;
  int rc;
  while ((rc = cvfs_readdir(d, &entry)) == 1) found.emplace_back(entry.name);
  cvfs_closedir(d);
  if (rc < 0) return rc;
  *names = std::move(found);
  return 0;
}

int CvfsRemoveTree(cvfs_fs* fs, const std::string& path) {
  struct stat st;
  if (int rc = cvfs_lstat(fs, path.c_str(), &st); rc != 0) return rc;
  if (!S_ISDIR(st.st_mode)) return cvfs_unlink(fs, path.c_str());
  // A case may leave a directory without search or read permission: root passes anyway.
  std::vector<std::string> names;
  if (int rc = CvfsListNames(fs, path, &names); rc != 0) return rc;
  int first = 0;
  for (const auto& name : names) {
    const int rc = CvfsRemoveTree(fs, path + "/" + name);
    if (rc != 0 && first == 0) first = rc;
  }
  const int rc = cvfs_rmdir(fs, path.c_str());
  return first != 0 ? first : rc;
}

DirOps CvfsDirOps(cvfs_fs* fs) {
  DirOps ops;
  ops.make = [fs](const std::string& base, const std::string& case_name, std::string* error) {
    static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device seed;
    std::mt19937 random(seed());
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string dir = base + "/" + case_name + "-";
      for (int i = 0; i < 6; ++i) dir += kChars[random() % (sizeof(kChars) - 1)];
      const int rc = cvfs_mkdir(fs, dir.c_str(), 0755);
      if (rc == -EEXIST) continue;
      if (rc != 0) {
        *error = "cvfs_mkdir " + dir + ": " + cvfs_strerror(rc);
        return std::string();
      }
      return dir;
    }
    *error = "cvfs_mkdir " + base + "/" + case_name + "-<6 random characters>: 100 names taken";
    return std::string();
  };
  ops.remove = [fs](const std::string& dir, std::string* error) {
    const int rc = CvfsRemoveTree(fs, dir);
    if (rc != 0) *error = "remove " + dir + ": " + cvfs_strerror(rc);
    return rc == 0;
  };
  return ops;
}

}  // namespace cvfs::posix
