// CellIndex: the RocksDB index of one drive's cells: CellKey+version -> {state, extent,
// length, one CRC32C per 4 KiB block}.
//
// Key: big-endian fs_id(4) | inode(8) | stripe(8) | cell_index(2) | version(8), so the
// versions of one cell are adjacent and ascending, and the cells of one inode are contiguous
// in stripe order (prefix scans for Versions and DeleteStripes).
// Value: format(1)=1 | state(1) | start block(8, LE) | length(4, LE) | CRC32C(4, LE) per block.
// Every change goes through Write(batch) so multi-key changes are atomic.
// Thread-safety: every method is thread-safe (RocksDB is); read-modify-write sequences need
// the caller's per-cell lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "server/store/cell_store.h"
#include "server/store/extent_allocator.h"

namespace rocksdb {
class DB;
}

namespace cvfs::server {

struct IndexEntry {
  uint64_t version = 0;
  CellState state = CellState::kPending;
  Extent extent;
  uint32_t length = 0;
  std::vector<uint32_t> crcs;  // one per 4 KiB block of the extent
};

class CellIndex {
 public:
  // A set of puts and deletes applied atomically by Write.
  class Batch {
   public:
    void Put(const CellKey& key, const IndexEntry& entry);
    void Delete(const CellKey& key, uint64_t version);
    bool empty() const { return ops_.empty(); }

   private:
    friend class CellIndex;
    std::vector<std::pair<std::string, std::optional<std::string>>> ops_;  // key, value or delete
  };

  // Opens or creates the database at `path` (parent directories created). kIoError naming
  // the path when RocksDB refuses (locked by another process, unreadable, ...).
  static Result<std::unique_ptr<CellIndex>> Open(const std::string& path);
  ~CellIndex();
  CellIndex(const CellIndex&) = delete;
  CellIndex& operator=(const CellIndex&) = delete;

  // The stored versions of `key`, ascending. kCorruption when a value does not decode.
  Result<std::vector<IndexEntry>> List(const CellKey& key) const;
  // One version, or nullopt when absent.
  Result<std::optional<IndexEntry>> Get(const CellKey& key, uint64_t version) const;

  // Applies `batch` atomically; `sync`: the WAL is synced before returning.
  Status Write(const Batch& batch, bool sync);
  // Makes every earlier unsynced write durable.
  Status SyncWal();

  using Visitor = std::function<Status(const CellKey&, const IndexEntry&)>;
  // Every entry in key order; stops at the first non-OK status from `visit` and returns it.
  Status ForEach(const Visitor& visit) const;
  // The entries of (fs_id, inode) with stripe >= first_stripe, in key order.
  Status ForEachOfInode(uint32_t fs_id, uint64_t inode, uint64_t first_stripe,
                        const Visitor& visit) const;
  // The entries of cells strictly after `after` (nullopt: from the first cell), in key order,
  // until `visit` returns false (scrub's paging walk over the drive).
  using PageVisitor = std::function<bool(const CellKey&, const IndexEntry&)>;
  Status ForEachAfter(const std::optional<CellKey>& after, const PageVisitor& visit) const;
  // The entries of filesystem `fs_id` from (inode, stripe) on, in key order. A visitor that
  // returns kCancelled ends the scan early with OK.
  Status ForEachOfFilesystem(uint32_t fs_id, uint64_t inode, uint64_t stripe,
                             const Visitor& visit) const;

 private:
  CellIndex(std::string path, rocksdb::DB* db) : path_(std::move(path)), db_(db) {}
  Status Scan(const std::string& start, const std::string& prefix, const Visitor& visit) const;

  const std::string path_;
  rocksdb::DB* const db_;  // owned
};

}  // namespace cvfs::server
