// FileSystemClient: the implementation of cvfs::FileSystem (include/cvfs/filesystem.h) over
// one ClientSession: metadata through MetaClient, file data through DataObjectClient.
//   - Open files: a table of handles (bounded, kMaxOpenFiles). Each remembers the size the
//     file had at open and the end of what was written through it; Read stops at the larger
//     of the two (close-to-open: other clients' later writes show after a new Open).
//     Fsync and Release commit the written end and mtime to the inode's primary
//     (kMetaCommitSize: sizes only grow there).
//   - Truncate (SetAttr with kSetSize): the metadata first, then the object's data beyond
//     the new size is dropped.
//   - Unlink/Rename that free a file's last link delete its data (best effort: a client
//     that dies first leaves the stripes to `cvfs fsck`).
//   - Unlink of a file open in this client hides it instead (renamed to
//     ".cvfs-unlinked-<inode>" in its directory, left out of ReadDir, nlink shown one lower)
//     and unlinks it at its last Release here. Files open in other clients are not kept:
//     their reads fail once the data is freed (as on NFS without silly rename).
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "client/data/data_object_client.h"
#include "client/meta/meta_client.h"
#include "client/session/client_session.h"
#include "cvfs/filesystem.h"

namespace cvfs::client {

inline constexpr size_t kMaxOpenFiles = 1 << 20;

class FileSystemClient final : public FileSystem {
 public:
  static Result<std::unique_ptr<FileSystem>> Mount(const FileSystemOptions& options);

  Result<FileAttr> Lookup(const Identity* who, uint64_t parent, std::string_view name) override;
  Result<FileAttr> GetAttr(const Identity* who, uint64_t inode) override;
  Result<FileAttr> SetAttr(const Identity* who, uint64_t inode,
                           const SetAttrRequest& request) override;
  Result<FileAttr> Create(const Identity* who, uint64_t parent, std::string_view name,
                          uint32_t mode, bool exclusive, bool* created) override;
  Result<FileAttr> Mkdir(const Identity* who, uint64_t parent, std::string_view name,
                         uint32_t mode) override;
  Result<FileAttr> Symlink(const Identity* who, uint64_t parent, std::string_view name,
                           std::string_view target) override;
  Result<std::string> Readlink(const Identity* who, uint64_t inode) override;
  Status Unlink(const Identity* who, uint64_t parent, std::string_view name) override;
  Status Rmdir(const Identity* who, uint64_t parent, std::string_view name) override;
  Status Rename(const Identity* who, uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, bool no_replace) override;
  Result<FileAttr> Link(const Identity* who, uint64_t inode, uint64_t new_parent,
                        std::string_view new_name) override;
  Result<DirPage> ReadDir(const Identity* who, uint64_t dir, uint64_t cookie,
                          size_t max_entries) override;
  Result<FsStats> StatFs(const Identity* who) override;
  Result<uint64_t> Open(const Identity* who, uint64_t inode, int flags, FileAttr* attr) override;
  Result<uint64_t> OpenCreated(const Identity* who, const FileAttr& created, int flags) override;
  Status Release(uint64_t handle) override;
  Result<size_t> Read(uint64_t handle, uint64_t offset, std::span<std::byte> out) override;
  Status Write(uint64_t handle, uint64_t offset, std::span<const std::byte> data) override;
  Status Fsync(uint64_t handle) override;
  Status RefreshSize(uint64_t handle) override;

 private:
  struct OpenFile {
    uint64_t inode = 0;
    int flags = 0;
    std::optional<Identity> who;
    std::mutex mu;
    uint64_t size = 0;         // at open, or as this handle last set it; guarded by mu
    uint64_t written_end = 0;  // end of what was written through this handle; mu
    bool dirty = false;        // written since the last commit; mu
  };

  FileSystemClient(std::shared_ptr<ClientSession> session, std::unique_ptr<DataObjectClient> data,
                   Duration deadline)
      : session_(std::move(session)), data_(std::move(data)), meta_(session_, deadline) {}

  Result<std::shared_ptr<OpenFile>> Handle(uint64_t handle);
  // A new handle on `inode` (kResourceExhausted past kMaxOpenFiles).
  Result<uint64_t> AddHandle(const Identity* who, uint64_t inode, int flags, uint64_t size);
  // kMetaCommitSize of what `file` wrote; requires file->mu.
  Status CommitLocked(OpenFile& file);
  // Deletes the data of a file whose last link went (best effort, logged).
  void DropData(uint64_t inode, uint64_t size);
  // AttrReply -> FileAttr (kInternal when the reply carries no inode).
  static Result<FileAttr> AttrOf(const Result<std::string>& reply, bool* created = nullptr,
                                 uint64_t* freed = nullptr);

  // A file this client unlinked while it had it open: renamed to a hidden name in its
  // directory until its last handle here is released (as libfuse's "hide" and NFS's silly
  // rename do), so reads and writes through open handles keep working.
  struct Hidden {
    uint64_t parent = 0;
    std::string name;
    std::optional<Identity> who;
  };
  static bool IsHiddenName(std::string_view name);
  // When `name` in `parent` is a regular file open in this client (and not the same file
  // as keep_parent/keep_name, the source of a rename), renames it to its hidden name and
  // returns true; false when nothing needed hiding.
  Result<bool> HideIfOpen(const Identity* who, uint64_t parent, std::string_view name,
                          uint64_t keep_parent, std::string_view keep_name);
  bool IsOpenHere(uint64_t inode);  // requires handles_mu_
  // After the last handle of `inode` here went: unlinks it for good if it was hidden.
  void UnhideIfLast(uint64_t inode);

  const std::shared_ptr<ClientSession> session_;
  const std::unique_ptr<DataObjectClient> data_;
  MetaClient meta_;

  std::mutex handles_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> handles_;  // guarded by handles_mu_
  uint64_t next_handle_ = 1;                                         // guarded by handles_mu_
  std::unordered_map<uint64_t, Hidden> hidden_;                      // guarded by handles_mu_
};

}  // namespace cvfs::client
