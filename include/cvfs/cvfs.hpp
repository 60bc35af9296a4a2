// A small C++ wrapper over the C API (cvfs.h) for in-tree tools and C++ users: RAII for a
// mount and a descriptor, results that carry the value or the errno. Header-only, depends
// on cvfs.h alone (so it is usable from an installed prefix).
// Thread-safety: as cvfs.h (a Mount and a File may be used from many threads; moving or
// destroying one must not race with its use).
#pragma once

#include <cvfs/cvfs.h>
#include <fcntl.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <utility>

namespace cvfs {

// A value or an errno (positive, as errno). error() == 0 on success.
template <typename T>
class PosixResult {
 public:
  PosixResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static PosixResult Error(int negative_errno) {
    PosixResult r{T{}};
    r.error_ = negative_errno < 0 ? -negative_errno : (negative_errno == 0 ? EIO : negative_errno);
    return r;
  }
  bool ok() const { return error_ == 0; }
  int error() const { return error_; }
  const char* message() const { return ok() ? "Success" : cvfs_strerror(-error_); }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }
  T* operator->() { return &value_; }

 private:
  T value_;
  int error_ = 0;
};

// A mounted filesystem; unmounted (descriptors closed) by the destructor.
class Mount {
 public:
  Mount() = default;
  static PosixResult<Mount> Open(const std::string& spec,
                                 const cvfs_mount_options* options = nullptr) {
    cvfs_fs* fs = nullptr;
    const int rc = cvfs_mount(spec.c_str(), options, &fs);
    if (rc != 0) return PosixResult<Mount>::Error(rc);
    return Mount(fs);
  }
  Mount(Mount&& other) noexcept : fs_(std::exchange(other.fs_, nullptr)) {}
  Mount& operator=(Mount&& other) noexcept {
    if (this != &other) {
      Reset();
      fs_ = std::exchange(other.fs_, nullptr);
    }
    return *this;
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount() { Reset(); }

  cvfs_fs* get() const { return fs_; }
  explicit operator bool() const { return fs_ != nullptr; }
  // Unmounts now; returns 0 or -errno.
  int Unmount() {
    const int rc = fs_ != nullptr ? cvfs_unmount(fs_) : 0;
    fs_ = nullptr;
    return rc;
  }

 private:
  explicit Mount(cvfs_fs* fs) : fs_(fs) {}
  void Reset() {
    if (fs_ != nullptr) (void)cvfs_unmount(fs_);
    fs_ = nullptr;
  }
  cvfs_fs* fs_ = nullptr;
};

// An open descriptor; closed by the destructor (use Close() to see the commit's result).
class File {
 public:
  File() = default;
  static PosixResult<File> Open(cvfs_fs* fs, const std::string& path, int flags,
                                mode_t mode = 0644) {
    const int fd = cvfs_open(fs, path.c_str(), flags, mode);
    if (fd < 0) return PosixResult<File>::Error(fd);
    return File(fs, fd);
  }
  static PosixResult<File> Open(const Mount& mount, const std::string& path, int flags,
                                mode_t mode = 0644) {
    return Open(mount.get(), path, flags, mode);
  }
  File(File&& other) noexcept
      : fs_(std::exchange(other.fs_, nullptr)), fd_(std::exchange(other.fd_, -1)) {}
  File& operator=(File&& other) noexcept {
    if (this != &other) {
      (void)Close();
      fs_ = std::exchange(other.fs_, nullptr);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { (void)Close(); }

  int fd() const { return fd_; }
  PosixResult<size_t> Pread(void* buf, size_t count, off_t offset) const {
    const ssize_t n = cvfs_pread(fs_, fd_, buf, count, offset);
    if (n < 0) return PosixResult<size_t>::Error(static_cast<int>(n));
    return static_cast<size_t>(n);
  }
  PosixResult<size_t> Pwrite(const void* buf, size_t count, off_t offset) const {
    const ssize_t n = cvfs_pwrite(fs_, fd_, buf, count, offset);
    if (n < 0) return PosixResult<size_t>::Error(static_cast<int>(n));
    return static_cast<size_t>(n);
  }
  // 0 or -errno.
  int Fsync() const { return cvfs_fsync(fs_, fd_); }
  int Truncate(off_t length) const { return cvfs_ftruncate(fs_, fd_, length); }
  int Stat(struct stat* st) const { return cvfs_fstat(fs_, fd_, st); }
  // 0 or -errno (the commit of size and mtime).
  int Close() {
    if (fs_ == nullptr || fd_ < 0) return 0;
    const int rc = cvfs_close(fs_, fd_);
    fs_ = nullptr;
    fd_ = -1;
    return rc;
  }

 private:
  File(cvfs_fs* fs, int fd) : fs_(fs), fd_(fd) {}
  cvfs_fs* fs_ = nullptr;
  int fd_ = -1;
};

}  // namespace cvfs
