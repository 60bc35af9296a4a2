// The descriptor table of one cvfs_fs and the per-inode state of the files this process
// has open.
//
// A descriptor maps to an OpenFile: the FileSystem handle from Open (none for a
// directory), the inode, the open flags. OpenFiles of one inode share an InodeState:
//   - `append_mu` serializes this process's O_APPEND writers of the inode (an append is
//     "read the size, write there"); appenders in different processes are NOT atomic
//     with each other (documented in cvfs.h and docs/admin/libcvfs.md).
//   - the list of open files, so that a metadata read or a size change of the inode first
//     commits what this process wrote through any of them (FileSystem commits sizes at
//     Fsync/Release only): a process always sees its own writes in stat, and a truncate
//     is never undone by a later commit of an older write.
// Thread-safety: every method may be called from many threads at once. Lock order:
// table mu_ before InodeState::mu; InodeState::append_mu before InodeState::mu.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "cvfs/filesystem.h"

namespace cvfs::libcvfs {

inline constexpr int kMaxDescriptors = 65536;

struct OpenFile;

struct InodeState {
  std::mutex append_mu;  // held across an append's size read and write
  std::mutex mu;
  std::vector<OpenFile*> files;  // guarded by mu: the open files of this inode
  uint64_t written_end = 0;      // guarded by mu: highest end written here since a truncate
};

struct OpenFile {
  uint64_t handle = 0;  // FileSystem handle; 0 for a directory
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  int flags = 0;
  std::atomic<bool> dirty{false};  // written since the last commit (Fsync)
  std::shared_ptr<InodeState> state;

  bool readable() const;
  bool writable() const;
  bool append() const;
};

class OpenFiles {
 public:
  explicit OpenFiles(FileSystem* fs, int max_descriptors = kMaxDescriptors)
      : fs_(fs), max_(max_descriptors) {}

  // The lowest free descriptor for `file` (attached to its inode's state), or -1 when
  // max_descriptors are open.
  int Insert(std::shared_ptr<OpenFile> file);
  // Null when `fd` is not open.
  std::shared_ptr<OpenFile> Get(int fd);
  // Takes `fd` out of the table and detaches it from its inode (null when not open).
  std::shared_ptr<OpenFile> Remove(int fd);
  // Every open descriptor, removed (unmount).
  std::vector<std::shared_ptr<OpenFile>> RemoveAll();

  // Commits the sizes written by this process to `inode` (Fsync of its dirty handles).
  // OK when nothing is pending.
  Status Flush(uint64_t inode);
  // After a truncate of `inode` through this process.
  void Truncated(uint64_t inode, uint64_t size);
  // Records a write of [offset, end) through `file`.
  void Wrote(OpenFile& file, uint64_t end);
  // The highest end written to `inode` through this process since its last truncate.
  uint64_t WrittenEnd(uint64_t inode);
  // Flush of every handle of `file`'s inode (fsync semantics: all data this process wrote).
  Status FlushFile(OpenFile& file);

 private:
  std::shared_ptr<InodeState> Find(uint64_t inode);
  void Detach(OpenFile* file);
  Status FlushState(InodeState& state);

  FileSystem* const fs_;
  const int max_;
  std::mutex mu_;
  std::vector<std::shared_ptr<OpenFile>> slots_;                      // guarded by mu_
  int open_count_ = 0;                                                // guarded by mu_
  int lowest_free_ = 0;                                               // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<InodeState>> inodes_;  // guarded by mu_
};

}  // namespace cvfs::libcvfs
