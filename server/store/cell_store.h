// CellStore: the cells of one drive. Every cell (one fragment of one stripe) is stored by
// version: a new version is written next to the old one, never over it, and becomes the
// cell's content only when committed. This is what lets the primary's two-step stripe write
// (prepare on every member, then commit) leave each stripe decodable at its old or its new
// version after a crash at any point (docs/design/datapath.md).
//
// On disk:
//   - the data area: a file `cells.dat` in the drive directory, or the raw block device or
//     pre-sized file the drive path names, divided into 4 KiB blocks; a cell version occupies
//     ceil(length/4096) contiguous blocks from an extent allocator;
//   - the index: a RocksDB database (path in the options) mapping CellKey+version to
//     {state, extent, length, one CRC32C per 4 KiB block}. The allocator's free map is
//     rebuilt from the index on Open, so blocks referenced by no index entry are free.
// Data I/O (pread/pwrite from the calling thread, or an io_uring on request) uses O_DIRECT
// when the file system accepts it (else buffered I/O; which one is logged and reported in
// stats()); either way data is made durable by a shared fdatasync (see WritePending).
//
// Contract:
//   - WritePending returns OK only when the data and the index entry (RocksDB sync write) are
//     durable. The data is written without per-write sync and made durable by an fdatasync
//     of the data area that started after the write completed, shared by concurrent writers
//     (group commit); only then is the index entry written. On any error nothing is visible: no
//     index entry, blocks returned to the allocator.
//   - A full drive (allocator has no extent, or the file system returns ENOSPC) yields
//     kNoSpace with a message naming the drive and the free bytes; never a partial write.
//   - Read verifies the CRC32C of every 4 KiB block it touches; a mismatch returns
//     kCorruption naming the cell and block and counts it in stats().checksum_failures.
//   - Bytes of a cell beyond its stored length read as zeros (short cells of small objects
//     are stored short, not padded to the cell size).
// Thread-safety: every method is thread-safe; operations on distinct cells run in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::server {

struct CellKey {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t stripe = 0;
  uint16_t cell_index = 0;

  bool operator==(const CellKey&) const = default;
  auto operator<=>(const CellKey&) const = default;
};
std::string DescribeCellKey(const CellKey& key);  // "fs1/ino42/s7/c3", for messages and logs

enum class CellState : uint8_t { kPending = 1, kCommitted = 2 };

struct CellVersion {
  uint64_t version = 0;  // >= 1; 0 is "never written" and is never stored
  CellState state = CellState::kPending;
  uint32_t length = 0;  // stored bytes (the cell's data length)
};

// One committed cell as listed by CellStore::ListCommitted.
struct StoredCell {
  CellKey key;
  uint64_t version = 0;
  uint32_t length = 0;
};

struct CellStoreOptions {
  std::string data_path;   // drive directory (cells.dat inside), or a block device / file
  std::string index_path;  // RocksDB directory (created if absent)
  // Usable bytes of the data area; 0 = all of it (block device or file: its size;
  // directory: the file system's free space at Open plus what cells.dat already holds).
  uint64_t capacity_bytes = 0;
  bool allow_direct_io = true;  // false: always buffered (page cache, then fdatasync)
  // Data I/O: false (default): pread/pwrite from the calling thread, which blocks until its
  // request is done anyway; true: one io_uring shared by the store's threads, with a reaper
  // thread (costs two thread switches per request; see README figures).
  bool use_io_uring = false;
  unsigned ring_entries = 256;  // io_uring queue depth (use_io_uring only)
  // Directory drives: cells.dat is grown with fallocate in steps of this many bytes ahead of
  // the highest allocated block (never past the capacity), so first writes to a block do not
  // allocate file system space one cell at a time. 0: never (cells.dat grows by writes).
  // Devices, pre-sized files and files on tmpfs (where it measured slower and would take
  // memory ahead of use) are never preallocated.
  uint64_t preallocate_bytes = 128ull << 20;
  // Committed index entries kept in memory for Read (LRU beyond this count; ~200 bytes plus
  // 4 per block each). 0: no cache, every Read looks the index up.
  size_t index_cache_entries = 1 << 18;
};

struct CellStoreStats {
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;  // blocks held by cell versions
  uint64_t free_bytes = 0;
  uint64_t cells = 0;  // cell versions stored (pending + committed)
  uint64_t pending = 0;
  uint64_t writes = 0;
  uint64_t reads = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t checksum_failures = 0;
  uint64_t no_space_errors = 0;
  uint64_t data_syncs = 0;
  uint64_t index_cache_hits = 0;  // lookups of the committed entry served from memory
  uint64_t index_cache_misses =
      0;  // fdatasync calls of the data area (shared by concurrent writers)
  bool direct_io = false;
};

class CellStore {
 public:
  // Opens (creating if needed) the data area and the index, rebuilds the free map.
  // kConfigError when the data path is unusable, kCorruption when the index is unreadable or
  // references blocks outside the data area.
  static Result<std::unique_ptr<CellStore>> Open(const CellStoreOptions& options);
  ~CellStore();
  CellStore(const CellStore&) = delete;
  CellStore& operator=(const CellStore&) = delete;

  // Writes `data` as version `version` of the cell, state pending; durable on return.
  // Writing a version that is already stored pending replaces it (idempotent retry of a
  // prepare); other versions are untouched. Pending versions older than `version` are
  // dropped (they belong to abandoned writes). kAlreadyExists, changing nothing, when
  // `version` is committed here: a committed version is never made pending again (a
  // prepare of its number is another writer's, e.g. a former primary's request delivered
  // after a partition healed; Rewrite repairs a committed version). kInvalidArgument for
  // version 0 or data longer than kMaxCellBytes; kNoSpace when full.
  Status WritePending(const CellKey& key, uint64_t version, std::span<const uint8_t> data);

  // Makes `version` the cell's committed version and drops every other version (older
  // committed, other pendings) and their blocks. Idempotent when `version` is already the
  // committed one (a repeat then drops only older versions: a newer pending belongs to a
  // later write). kNotFound when `version` is not stored (neither pending nor committed).
  // `sync`: make the index change durable before returning. Without it, the blocks it frees
  // are reused only after the next synced index write, so a lost commit never leaves the
  // index pointing at reused blocks.
  Status Commit(const CellKey& key, uint64_t version, bool sync);

  // Drops pending `version` if present (OK when absent). Never drops a committed version.
  // The index change is not synced (a lost abort leaves a pending version that recovery
  // aborts again); the freed blocks wait for the next synced index write.
  Status Abort(const CellKey& key, uint64_t version);

  // The versions stored for the cell, newest first (empty when none).
  Result<std::vector<CellVersion>> Versions(const CellKey& key);

  // Reads out.size() bytes at `offset` of version `version` (0: the committed version) into
  // `out`, verifying checksums; bytes past the stored length are zeros. Returns the version
  // read. kNotFound when that version (or any committed version) is absent, kCorruption on
  // a checksum mismatch, kInvalidArgument when offset+size exceeds kMaxCellBytes.
  Result<CellVersion> Read(const CellKey& key, uint64_t version, uint64_t offset,
                           std::span<uint8_t> out);

  // Replaces the stored bytes of an existing version (repair of a corrupt cell from parity)
  // atomically: new blocks, then the index points at them. kNotFound when absent.
  Status Rewrite(const CellKey& key, uint64_t version, std::span<const uint8_t> data);

  // Drops every version of every cell of (fs_id, inode) with stripe >= first_stripe (truncate).
  // Returns how many cell versions were dropped.
  Result<uint64_t> DeleteStripes(uint32_t fs_id, uint64_t inode, uint64_t first_stripe);
  // The stripes of filesystem `fs_id` this drive holds a committed cell of, in (inode,
  // stripe) order from `from` (inclusive) on, for which `wanted(inode, stripe)` is true; at
  // most `max`. `*done` is set when the scan reached the end of the filesystem.
  // Removes every version of every cell of filesystem `fs_id` for which `drop` is true
  // (cells of slots this node no longer holds); returns the versions removed.
  Result<uint64_t> DropCellsIf(uint32_t fs_id, const std::function<bool(const CellKey&)>& drop);
  struct StripeRef {
    uint64_t inode = 0;
    uint64_t stripe = 0;
  };
  Result<std::vector<StripeRef>> ListStripes(
      uint32_t fs_id, StripeRef from, size_t max,
      const std::function<bool(uint64_t inode, uint64_t stripe)>& wanted, bool* done);

  // A page of the drive's committed cells in key order: at most `max` of them, strictly
  // after `after` (nullopt: from the first). Fewer than `max` means the walk is done. Cells
  // with only pending versions are skipped. For scrub: a walk by pages sees every cell that
  // stays committed throughout, whatever is written or dropped meanwhile.
  Result<std::vector<StoredCell>> ListCommitted(const std::optional<CellKey>& after, size_t max);

  // Reads every stored byte of `version` (0: the committed one) and verifies the CRC32C of
  // each of its 4 KiB blocks, like Read of the whole cell. Returns the version verified;
  // kCorruption naming the first bad block (counted in checksum_failures), kNotFound when
  // that version is not stored.
  Result<CellVersion> Verify(const CellKey& key, uint64_t version);

  CellStoreStats stats() const;
  const CellStoreOptions& options() const;

  class Impl;

 private:
  explicit CellStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cvfs::server
