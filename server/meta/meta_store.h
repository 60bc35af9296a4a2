// MetaStore: the node's metadata shard, one RocksDB (in its own directory) holding the
// records of every PG this node replicates (keys in server/meta/meta_records.h).
//
// Apply/ApplyAll are the only writers: they apply MetaBatches atomically, durably (synced
// WAL unless Options::sync is off or the caller syncs later with Sync) and in order: the batch's
// sequence must be the PG's last applied sequence + 1, and the new sequence is recorded in the PG's
// `P` record in the same write. Thread-safety: every method is thread-safe; Apply calls are
// serialized internally, so the sequence check and the write are one step. A caller that reads,
// decides and applies (the NamespaceEngine's caller) still needs its own per-PG mutex across the
// three.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "server/meta/meta_batch.h"
#include "server/meta/meta_records.h"

namespace rocksdb {
class DB;
}

namespace cvfs::server::meta {

inline constexpr size_t kMaxScanLimit = 65536;

class MetaStore {
 public:
  struct Options {
    bool sync = true;  // off only in tests that write many batches
  };
  using KeyValue = std::pair<std::string, std::string>;

  // Opens or creates the database at `path` (parent directories created). kIoError naming
  // the path when RocksDB refuses (locked by another process, unreadable, ...).
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path, Options options);
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path) {
    return Open(path, Options());
  }
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // The value of `key`, or nullopt when absent.
  Result<std::optional<std::string>> Get(const std::string& key) const;
  // Up to `limit` (at most kMaxScanLimit) records whose key starts with `prefix` and sorts
  // after `start_after` (all of the prefix when empty), in key order.
  Result<std::vector<KeyValue>> Scan(const std::string& prefix, const std::string& start_after,
                                     size_t limit) const;

  // Applies `batch` atomically. kConflict ("expected sequence N, got M") when its sequence
  // is not LastSequence + 1; kInvalidArgument when it breaks MetaBatch's limits or deletes
  // the PG's `P` record; kIoError/kCorruption from RocksDB. On failure nothing is applied.
  Status Apply(const MetaBatch& batch) { return ApplyAll({&batch, 1}, options_.sync); }
  // Applies consecutive batches of one PG (sequences LastSequence + 1, + 2, ...) in one
  // atomic write, as Apply; the WAL is synced when `sync` and Options::sync. Written but
  // unsynced batches survive the process's death, not the machine's: Sync makes them
  // durable.
  Status ApplyAll(std::span<const MetaBatch> batches, bool sync);
  // Syncs the WAL: every batch applied before the call is durable when it returns. A no-op
  // when Options::sync is off.
  Status Sync();
  bool syncs() const { return options_.sync; }

  // Records of PG `pg` (PgKeyPrefixes) after `start_after`, in key order, up to about
  // `max_bytes` of keys and values (at least one record); `*done` when none follow.
  Result<std::vector<KeyValue>> ScanPg(uint32_t fs, uint32_t pg, const std::string& start_after,
                                       size_t max_bytes, bool* done) const;
  // Replaces every record of PG `pg` by `records` (a copy of an up-to-date replica's ScanPg,
  // its `P` record included) in one atomic, durable write. kInvalidArgument for a record
  // outside the PG.
  Status ReplacePg(uint32_t fs, uint32_t pg, const std::vector<KeyValue>& records);

  // The PG's state (InitialPgState when it has no record yet).
  Result<PgMetaState> PgState(uint32_t fs, uint32_t pg) const;
  Result<uint64_t> LastSequence(uint32_t fs, uint32_t pg) const;

 private:
  MetaStore(std::string path, rocksdb::DB* db, Options options)
      : path_(std::move(path)), db_(db), options_(options) {}
  Result<std::string> MergedPgState(const MetaBatch& batch, const PgMetaState& current) const;

  const std::string path_;
  rocksdb::DB* const db_;  // owned
  const Options options_;
  std::mutex apply_mu_;  // serializes Apply (sequence check + write)
};

}  // namespace cvfs::server::meta
