#pragma once

// FsApi: the filesystem calls the POSIX suite makes, as one seam with several
// implementations (a local directory or a FUSE mount through plain syscalls: PosixDirApi;
// the libcvfs C API later), so the same scripted case runs on each and the results compare.
//
// Contract of every call: it never throws; it returns 0 (or a value: a handle, a byte
// count) on success and -errno on failure, exactly as the system call would set errno.
// Paths are relative to the implementation's root ("." is the root itself). Handles are
// >= 0 and belong to the FsApi that opened them; a negative handle gives -EBADF.
//
// Thread safety: an FsApi is used by one thread at a time. RunAs() returns an FsApi whose
// calls execute with another identity; it may be used while its parent exists.

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace cvfs::posix {

enum class FileType { kRegular, kDirectory, kSymlink, kOther };

const char* FileTypeName(FileType type);

// The stat fields the suite compares. Device, inode numbers, blocks and blksize are left
// out on purpose: they legitimately differ between filesystems.
struct StatResult {
  FileType type = FileType::kOther;
  uint32_t mode = 0;  // permission bits only: st_mode & 07777
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  timespec atime{};
  timespec mtime{};
  timespec ctime{};
};

// The StatResult of a struct stat.
void FillStat(const struct stat& st, StatResult* out);

struct StatfsResult {
  uint64_t namemax = 0;
};

class FsApi {
 public:
  virtual ~FsApi() = default;

  // A short description for messages ("dir /tmp/ref/x", "uid 1000 on dir ...").
  virtual std::string Describe() const = 0;

  // Returns a handle >= 0 or -errno. `flags` and `mode` are the open(2) ones.
  virtual int Open(const std::string& path, int flags, uint32_t mode) = 0;
  virtual int Close(int handle) = 0;
  // Byte count or -errno. Read/Write use and advance the handle's position (and honour
  // O_APPEND); Pread/Pwrite do not move it.
  virtual int64_t Read(int handle, void* buf, size_t count) = 0;
  virtual int64_t Write(int handle, const void* buf, size_t count) = 0;
  virtual int64_t Pread(int handle, void* buf, size_t count, int64_t offset) = 0;
  virtual int64_t Pwrite(int handle, const void* buf, size_t count, int64_t offset) = 0;
  virtual int Fsync(int handle) = 0;
  virtual int Ftruncate(int handle, int64_t size) = 0;
  virtual int Truncate(const std::string& path, int64_t size) = 0;

  // On success *out is filled; on failure it is left as it was.
  virtual int Stat(const std::string& path, StatResult* out) = 0;
  virtual int Lstat(const std::string& path, StatResult* out) = 0;
  virtual int Fstat(int handle, StatResult* out) = 0;

  virtual int Mkdir(const std::string& path, uint32_t mode) = 0;
  virtual int Rmdir(const std::string& path) = 0;
  virtual int Unlink(const std::string& path) = 0;
  virtual int Rename(const std::string& from, const std::string& to) = 0;
  virtual int Link(const std::string& existing, const std::string& new_path) = 0;
  virtual int Symlink(const std::string& target, const std::string& link_path) = 0;
  virtual int Readlink(const std::string& path, std::string* target) = 0;
  // Every name in the directory except "." and "..", in the filesystem's order.
  virtual int Readdir(const std::string& path, std::vector<std::string>* names) = 0;

  virtual int Chmod(const std::string& path, uint32_t mode) = 0;
  // uid or gid of (uint32_t)-1 leaves that one unchanged, as chown(2).
  virtual int Chown(const std::string& path, uint32_t uid, uint32_t gid) = 0;
  // times[0] = atime, times[1] = mtime; tv_nsec may be UTIME_NOW or UTIME_OMIT.
  virtual int Utimens(const std::string& path, const timespec times[2]) = 0;
  virtual int Statfs(const std::string& path, StatfsResult* out) = 0;
  // access(2): F_OK or any of R_OK | W_OK | X_OK, checked for this FsApi's identity.
  virtual int Access(const std::string& path, int mode) = 0;

  // The same filesystem and root, every call made as uid/gid with no supplementary groups.
  // Returns nullptr with *error set when the identity cannot be taken (not root).
  virtual std::unique_ptr<FsApi> RunAs(uint32_t uid, uint32_t gid, std::string* error) = 0;
};

// A worker thread whose kernel credentials (real, effective, saved and filesystem ids and
// the supplementary groups) are another user's. Linux keeps credentials per thread; glibc's
// setuid() family broadcasts a change to every thread of the process, so the worker sets
// them with raw syscalls, which change only the calling thread. Calls run one at a time.
class CredentialThread;

// FsApi on a directory of a mounted filesystem through plain syscalls: a local directory
// or a directory of the ConvergeFS FUSE mount.
class PosixDirApi : public FsApi {
 public:
  explicit PosixDirApi(std::string root);
  ~PosixDirApi() override;

  std::string Describe() const override;
  int Open(const std::string& path, int flags, uint32_t mode) override;
  int Close(int handle) override;
  int64_t Read(int handle, void* buf, size_t count) override;
  int64_t Write(int handle, const void* buf, size_t count) override;
  int64_t Pread(int handle, void* buf, size_t count, int64_t offset) override;
  int64_t Pwrite(int handle, const void* buf, size_t count, int64_t offset) override;
  int Fsync(int handle) override;
  int Ftruncate(int handle, int64_t size) override;
  int Truncate(const std::string& path, int64_t size) override;
  int Stat(const std::string& path, StatResult* out) override;
  int Lstat(const std::string& path, StatResult* out) override;
  int Fstat(int handle, StatResult* out) override;
  int Mkdir(const std::string& path, uint32_t mode) override;
  int Rmdir(const std::string& path) override;
  int Unlink(const std::string& path) override;
  int Rename(const std::string& from, const std::string& to) override;
  int Link(const std::string& existing, const std::string& new_path) override;
  int Symlink(const std::string& target, const std::string& link_path) override;
  int Readlink(const std::string& path, std::string* target) override;
  int Readdir(const std::string& path, std::vector<std::string>* names) override;
  int Chmod(const std::string& path, uint32_t mode) override;
  int Chown(const std::string& path, uint32_t uid, uint32_t gid) override;
  int Utimens(const std::string& path, const timespec times[2]) override;
  int Statfs(const std::string& path, StatfsResult* out) override;
  int Access(const std::string& path, int mode) override;
  std::unique_ptr<FsApi> RunAs(uint32_t uid, uint32_t gid, std::string* error) override;

 private:
  PosixDirApi(std::string root, std::shared_ptr<CredentialThread> thread, std::string who);

  std::string Full(const std::string& path) const;
  // Runs `call` on the credential thread when there is one, inline otherwise.
  template <typename F>
  auto Exec(F&& call) -> decltype(call());

  // Const after construction.
  const std::string root_;
  const std::shared_ptr<CredentialThread> thread_;  // null: the caller's identity
  const std::string who_;
};

}  // namespace cvfs::posix
