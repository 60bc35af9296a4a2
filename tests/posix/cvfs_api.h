#pragma once

// CvfsApi: the POSIX suite's FsApi over the libcvfs C API (include/cvfs/cvfs.h), so the
// same cases compare a local directory with ConvergeFS reached without the kernel.
//
// The C API has positional I/O only: CvfsApi keeps each handle's position for Read/Write
// (an O_APPEND write moves it to the new end, as write(2)). cvfs_open/cvfs_mkdir take the
// mode as given (no umask): CvfsApi applies the process umask read at construction, as
// the kernel does for the reference. RunAs() sets the identity with cvfs_set_identity on
// the calling thread around each call and resets it after, so both FsApis can be used by
// the one thread that runs a case.
//
// Thread safety: as FsApi (one thread at a time); `fs` must outlive every CvfsApi on it.

#include <map>
#include <memory>
#include <string>

#include "cvfs/cvfs.h"
#include "tests/posix/cases.h"
#include "tests/posix/fs_api.h"

namespace cvfs::posix {

class CvfsApi : public FsApi {
 public:
  // `root`: an absolute directory path inside the filesystem mounted as `fs`.
  CvfsApi(cvfs_fs* fs, std::string root);
  ~CvfsApi() override;

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
  struct Position {
    int64_t offset = 0;
    bool append = false;
  };
  // Sets this FsApi's identity on the calling thread for one call (a no-op for the
  // process's own identity).
  class IdentityScope;

  CvfsApi(cvfs_fs* fs, std::string root, uint32_t uid, uint32_t gid);

  std::string Full(const std::string& path) const;

  // Const after construction.
  cvfs_fs* const fs_;
  const std::string root_;
  const bool as_other_ = false;
  const uint32_t uid_ = 0;
  const uint32_t gid_ = 0;
  const uint32_t umask_ = 022;

  std::map<int, Position> positions_;  // open handle -> its Read/Write position
};

// The per-case directories of a ConvergeFS side, made and removed through the C API.
DirOps CvfsDirOps(cvfs_fs* fs);

// Lists `dir` through the C API; 0 or -errno.
int CvfsListNames(cvfs_fs* fs, const std::string& dir, std::vector<std::string>* names);

// Removes the tree at `path` through the C API; 0 or the first -errno.
int CvfsRemoveTree(cvfs_fs* fs, const std::string& path);

}  // namespace cvfs::posix
