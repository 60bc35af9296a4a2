#include "server/store/data_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/logging.h"
#include "core/stripe_layout.h"

namespace cvfs::server {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// One aligned write and read through O_DIRECT that leaves the file as it was.
// Returns 0 or the errno of the failing call.
int ProbeDirectIo(int fd, uint64_t file_size) {
  void* raw = nullptr;
  if (::posix_memalign(&raw, kChecksumBlockBytes, kChecksumBlockBytes) != 0) return ENOMEM;
  std::memset(raw, 0, kChecksumBlockBytes);
  int err = 0;
  if (file_size >= kChecksumBlockBytes) {
    if (::pread(fd, raw, kChecksumBlockBytes, 0) != kChecksumBlockBytes) {
      err = errno ? errno : EIO;
    } else if (::pwrite(fd, raw, kChecksumBlockBytes, 0) != kChecksumBlockBytes) {
      err = errno ? errno : EIO;
    }
  } else {
    if (::pwrite(fd, raw, kChecksumBlockBytes, 0) != kChecksumBlockBytes) {
      err = errno ? errno : EIO;
    } else if (::pread(fd, raw, kChecksumBlockBytes, 0) != kChecksumBlockBytes) {
      err = errno ? errno : EIO;
    }
    if (::ftruncate(fd, static_cast<off_t>(file_size)) != 0 && err == 0) err = errno;
  }
  std::free(raw);
  return err;
}

// Whether `path` (or, while it does not exist, its nearest existing ancestor) is on device
// `dev`.
bool OnDevice(const std::string& path, dev_t dev) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) p = path;
  for (;;) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return st.st_dev == dev;
    if (!p.has_parent_path() || p.parent_path() == p) return false;
    p = p.parent_path();
  }
}

}  // namespace

Result<std::unique_ptr<DataFile>> DataFile::Open(const std::string& data_path,
                                                 uint64_t capacity_bytes, bool allow_direct_io,
                                                 const std::string& index_path) {
  struct stat st {};
  if (::stat(data_path.c_str(), &st) != 0) {
    return Status::ConfigError("drive data path " + data_path + ": " + Errno(errno));
  }
  std::string path = data_path;
  const bool is_dir = S_ISDIR(st.st_mode);
  if (is_dir) {
    path += "/cells.dat";
  } else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Status::ConfigError("drive data path " + data_path +
                               " is neither a directory, a regular file nor a block device");
  }
  const int base_flags = O_RDWR | O_CLOEXEC | (is_dir ? O_CREAT : 0);
  int fd = -1;
  bool direct = false;
  if (allow_direct_io) {
    fd = ::open(path.c_str(), base_flags | O_DIRECT, 0644);
    if (fd >= 0) {
      direct = true;
    } else if (errno != EINVAL) {
      return Status::ConfigError("open " + path + ": " + Errno(errno));
    }
  }
  if (fd < 0) {
    fd = ::open(path.c_str(), base_flags, 0644);
    if (fd < 0) return Status::ConfigError("open " + path + ": " + Errno(errno));
  }

  struct stat fst {};
  if (::fstat(fd, &fst) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::ConfigError("stat " + path + ": " + Errno(err));
  }
  uint64_t size = static_cast<uint64_t>(fst.st_size);
  if (S_ISBLK(fst.st_mode)) {
    uint64_t dev_bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &dev_bytes) != 0) {
      const int err = errno;
      ::close(fd);
      return Status::ConfigError("size of block device " + path + ": " + Errno(err));
    }
    size = dev_bytes;
  }

  if (direct) {
    const int err = ProbeDirectIo(fd, size);
    if (err == EINVAL) {
      ::close(fd);
      direct = false;
      fd = ::open(path.c_str(), base_flags, 0644);
      if (fd < 0) return Status::ConfigError("open " + path + ": " + Errno(errno));
    } else if (err != 0) {
      ::close(fd);
      return Status::ConfigError("first I/O on " + path + " failed: " + Errno(err));
    }
  }

  struct statfs sfs {};
  const bool on_tmpfs = ::fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
  uint64_t capacity = 0;
  if (is_dir) {
    {
      struct statvfs vfs {};
      if (::fstatvfs(fd, &vfs) != 0) {
        const int err = errno;
        ::close(fd);
        return Status::ConfigError("statvfs " + path + ": " + Errno(err));
      }
      const uint64_t fs_free = uint64_t{vfs.f_bavail} * vfs.f_frsize;
      const uint64_t file_usage = uint64_t(fst.st_blocks) * 512;
      uint64_t room = fs_free + file_usage;
      const bool shared_with_index = OnDevice(index_path, fst.st_dev);
      if (shared_with_index) {
        const uint64_t reserve = std::max<uint64_t>(8 << 20, room / 100);
        room = room > reserve ? room - reserve : 0;
        LOG_INFO("store.data_file.index_reserve path={} reserve_bytes={}", path, reserve);
      }
      if (capacity_bytes == 0) {
        capacity = std::max(room, size);
      } else {
        capacity = shared_with_index ? std::min(capacity_bytes, room) : capacity_bytes;
      }
    }
  } else {
    capacity = capacity_bytes > 0 && capacity_bytes < size ? capacity_bytes : size;
  }
  capacity -= capacity % kChecksumBlockBytes;
  LOG_INFO("store.data_file.open path={} io={} capacity_bytes={}", path,
           direct ? "direct" : "buffered", capacity);
  return std::unique_ptr<DataFile>(
      new DataFile(fd, direct, capacity, std::move(path), is_dir, size, on_tmpfs));
}

DataFile::~DataFile() { ::close(fd_); }

}  // namespace cvfs::server
