// MetaTxn: the records one engine mutation reads and stages. Reads see the staged changes
// over the store; Finish turns the staged changes (plus the PG state and the dedup reply)
// into one MetaBatch. Nothing reaches the store: the engine's caller applies the batch.
// Thread-safety: one thread; the store must not change underneath (the caller's per-PG
// mutex), or the batch is built on stale reads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/status.h"
#include "server/meta/meta_batch.h"
#include "server/meta/meta_records.h"
#include "server/meta/meta_store.h"

namespace cvfs::server::meta {

class MetaTxn {
 public:
  // Reads the PG's state; kIoError/kCorruption from the store.
  static Result<MetaTxn> Begin(const MetaStore& store, uint32_t fs, uint32_t pg);
  // A read-only view (no PG state read): for reads only, never Finish.
  static MetaTxn ForRead(const MetaStore& store, uint32_t fs, uint32_t pg) {
    return MetaTxn(store, fs, pg, PgMetaState());
  }

  // kNotFound when absent; kInvalidArgument when the inode is not this PG's.
  Result<InodeAttr> GetInode(uint64_t inode) const;
  // GetInode that also requires a directory (kNotADirectory).
  Result<InodeAttr> GetDirectory(uint64_t inode) const;
  Result<std::optional<DentryRecord>> GetDentry(uint64_t parent, std::string_view name) const;

  // A new inode id of this PG (kNoSpace when the PG's seq space is exhausted).
  Result<uint64_t> AllocateInode();
  void CreateInode(const InodeAttr& attr);  // counts a new inode
  void PutInode(const InodeAttr& attr);
  void DeleteInode(uint64_t inode);  // counts one inode less
  // Adds entry `name` to `dir` with the directory's next cookie (dir.next_cookie and
  // dir.entries advance; the caller puts `dir`).
  void AddDentry(InodeAttr& dir, std::string_view name, uint64_t inode, FileType type);
  // Removes entry `name` (record `rec`) from `dir` (dir.entries drops; the caller puts it).
  void RemoveDentry(InodeAttr& dir, std::string_view name, const DentryRecord& rec);
  void Put(std::string key, std::string value) { staged_[std::move(key)] = std::move(value); }
  void Delete(std::string key) { staged_[std::move(key)] = std::nullopt; }

  // The batch of every staged change plus the PG state, with sequence last + 1.
  MetaBatch Finish() const;
  uint32_t fs() const { return fs_; }
  uint32_t pg() const { return pg_; }

 private:
  MetaTxn(const MetaStore& store, uint32_t fs, uint32_t pg, PgMetaState state)
      : store_(&store), fs_(fs), pg_(pg), state_(state) {}
  Result<std::optional<std::string>> Read(const std::string& key) const;

  const MetaStore* store_;
  uint32_t fs_;
  uint32_t pg_;
  PgMetaState state_;
  std::map<std::string, std::optional<std::string>> staged_;  // value, or nullopt: delete
};

}  // namespace cvfs::server::meta
