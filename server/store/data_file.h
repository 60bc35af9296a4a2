// DataFile: opens the data area of a drive: `<dir>/cells.dat` (created sparse, grown by
// writes) when the path is a directory, else the block device or regular file itself.
//
// Capacity: a directory offers options' capacity_bytes, or (0) the file system's free space
// at open plus the blocks cells.dat already holds; a device or file offers its size, or
// capacity_bytes when that is smaller. Rounded down to whole 4 KiB blocks.
// Index reserve: when the drive is a directory and the index lies on the same file system,
// the capacity is at most the file system's free space at open plus what cells.dat holds,
// less max(8 MiB, 1% of that), so cells filling the drive never leave the index (RocksDB,
// which turns read-only on ENOSPC) without room.
// O_DIRECT: tried first when allowed; when open or a first aligned write+read probe fails with
// EINVAL (file systems without direct I/O), the file is reopened buffered (writes then go
// through the page cache; the owner makes them durable with fdatasync). The probe rewrites block 0
// with its own contents, or writes and truncates away a block of an empty file, so it never changes
// stored data. Thread-safety: immutable after Open; the fd is closed by the destructor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace cvfs::server {

class DataFile {
 public:
  // kConfigError naming the path when it does not exist, is not a directory / regular file /
  // block device, or cannot be opened read-write.
  // `index_path`: where the index lives; when a directory drive shares its file system, the
  // capacity leaves that file system kIndexReserve free (see below).
  static Result<std::unique_ptr<DataFile>> Open(const std::string& data_path,
                                                uint64_t capacity_bytes, bool allow_direct_io,
                                                const std::string& index_path);
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  int fd() const { return fd_; }
  bool direct_io() const { return direct_io_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  const std::string& path() const { return path_; }  // the file or device actually used
  // True for `<dir>/cells.dat`: the store owns the file and may grow it (preallocation).
  bool owns_file() const { return owns_file_; }
  // The file lives on a tmpfs (space is memory; preallocating it only costs).
  bool on_tmpfs() const { return on_tmpfs_; }
  uint64_t size_at_open() const { return size_at_open_; }  // bytes (device: its size)

 private:
  DataFile(int fd, bool direct_io, uint64_t capacity_bytes, std::string path, bool owns_file,
           uint64_t size_at_open, bool on_tmpfs)
      : fd_(fd),
        direct_io_(direct_io),
        capacity_bytes_(capacity_bytes),
        path_(std::move(path)),
        owns_file_(owns_file),
        size_at_open_(size_at_open),
        on_tmpfs_(on_tmpfs) {}

  const int fd_;
  const bool direct_io_;
  const uint64_t capacity_bytes_;
  const std::string path_;
  const bool owns_file_;
  const uint64_t size_at_open_;
  const bool on_tmpfs_;
};

}  // namespace cvfs::server
