// The C++ API of a mounted ConvergeFS filesystem: the namespace by inode (what the FUSE
// low-level mount needs) and file data by inode, over one client session. The C API
// (cvfs.h) and its path walking are built on it.
//
// Semantics (docs/design/namespace.md):
//   - Every mutation is exactly-once: a call retried after a lost reply or a primary change
//     carries the same request id, and the metadata server returns the first answer.
//   - Errors are Status codes of core/error_codes.h; ErrorCodeToErrno gives the errno
//     (kNotFound -> ENOENT, kNotADirectory -> ENOTDIR, kNotEmpty -> ENOTEMPTY, ...).
//   - `Identity`: whom a call acts for. Null: the process's own uid/gid (proven by MUNGE).
//     Non-null is honoured by the backends only for a root process (a FUSE mount acting
//     for the user of each request).
//   - Consistency: close-to-open. Attributes are fetched from the inode's metadata primary
//     by GetAttr/Open; writes become visible to other clients at Flush/Fsync/Release, which
//     commit the file's size and mtime.
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace cvfs {

inline constexpr uint64_t kRootInode = 1;
inline constexpr size_t kMaxNameBytes = 255;

enum class FileType : uint8_t { kRegular = 1, kDirectory = 2, kSymlink = 3 };

struct Identity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;
};

struct FileAttr {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;  // permission bits (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

// Which fields of SetAttrRequest to apply.
enum SetAttrMask : uint32_t {
  kSetMode = 1,
  kSetUid = 2,
  kSetGid = 4,
  kSetSize = 8,
  kSetAtime = 16,
  kSetMtime = 32,
  kSetAtimeNow = 64,
  kSetMtimeNow = 128,
};

struct SetAttrRequest {
  uint32_t mask = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
};

struct DirEntry {
  std::string name;
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint64_t cookie = 0;  // resume a listing after this entry with it
};

struct DirPage {
  std::vector<DirEntry> entries;
  bool eof = false;
};

struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t total_inodes = 0;
  uint64_t used_inodes = 0;
  uint32_t block_size = 4096;
  uint32_t max_name = kMaxNameBytes;
};

struct FileSystemOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string cluster;
  std::string filesystem;
  std::string provider = "tcp;ofi_rxm";
  std::string munge_socket;  // "": munged's default socket
  std::string name = "cvfs-client";
  std::string host = "127.0.0.1";  // address the client listens on (tcp), reachable by backends
  Duration deadline = std::chrono::seconds(30);  // per call, all retries included
};

class FileSystem {
 public:
  // kNotFound when the filesystem does not exist or is not placed yet, kUnavailable when
  // etcd cannot be reached.
  static Result<std::unique_ptr<FileSystem>> Mount(const FileSystemOptions& options);
  virtual ~FileSystem() = default;

  // Namespace. `parent` must be a directory (kNotADirectory); names are 1..255 bytes
  // without '/' (kInvalidArgument, kNameTooLong).
  virtual Result<FileAttr> Lookup(const Identity* who, uint64_t parent, std::string_view name) = 0;
  virtual Result<FileAttr> GetAttr(const Identity* who, uint64_t inode) = 0;
  virtual Result<FileAttr> SetAttr(const Identity* who, uint64_t inode,
                                   const SetAttrRequest& request) = 0;
  // A regular file. `exclusive`: kAlreadyExists when the name exists; else an existing
  // regular file is returned as it is (created == false).
  virtual Result<FileAttr> Create(const Identity* who, uint64_t parent, std::string_view name,
                                  uint32_t mode, bool exclusive, bool* created) = 0;
  virtual Result<FileAttr> Mkdir(const Identity* who, uint64_t parent, std::string_view name,
                                 uint32_t mode) = 0;
  virtual Result<FileAttr> Symlink(const Identity* who, uint64_t parent, std::string_view name,
                                   std::string_view target) = 0;
  virtual Result<std::string> Readlink(const Identity* who, uint64_t inode) = 0;
  virtual Status Unlink(const Identity* who, uint64_t parent, std::string_view name) = 0;
  virtual Status Rmdir(const Identity* who, uint64_t parent, std::string_view name) = 0;
  // Atomic replacement of the target; `no_replace`: kAlreadyExists when it exists.
  virtual Status Rename(const Identity* who, uint64_t parent, std::string_view name,
                        uint64_t new_parent, std::string_view new_name, bool no_replace) = 0;
  virtual Result<FileAttr> Link(const Identity* who, uint64_t inode, uint64_t new_parent,
                                std::string_view new_name) = 0;
  // Entries after `cookie` (0: from the start), at most `max_entries`.
  virtual Result<DirPage> ReadDir(const Identity* who, uint64_t dir, uint64_t cookie,
                                  size_t max_entries) = 0;
  virtual Result<FsStats> StatFs(const Identity* who) = 0;

  // Open files: Open checks permissions for `flags` (O_ACCMODE, O_TRUNC) and revalidates
  // the attributes; Release commits size and mtime of what was written through the handle.
  virtual Result<uint64_t> Open(const Identity* who, uint64_t inode, int flags, FileAttr* attr) = 0;
  // Opens a file that Create just made for `who` (it reported created == true) without a
  // round trip: open(O_CREAT) grants the creator the access it asked for whatever the new
  // file's mode, and its attributes are `created`'s.
  virtual Result<uint64_t> OpenCreated(const Identity* who, const FileAttr& created, int flags) = 0;
  virtual Status Release(uint64_t handle) = 0;
  // Data by handle. Read stops at the end of the file and returns the bytes read.
  virtual Result<size_t> Read(uint64_t handle, uint64_t offset, std::span<std::byte> out) = 0;
  virtual Status Write(uint64_t handle, uint64_t offset, std::span<const std::byte> data) = 0;
  // Commits size and mtime now (data is already durable when Write returns).
  virtual Status Fsync(uint64_t handle) = 0;
  // Asks the inode's primary for the file's size: what other clients committed (by their
  // Fsync or Release) becomes readable through `handle`.
  virtual Status RefreshSize(uint64_t handle) = 0;
};

}  // namespace cvfs
