#include "server/store/cell_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <unistd.h>
#include <utility>

#include "core/checksum.h"
#include "core/logging.h"
#include "core/stripe_layout.h"
#include "server/store/aligned_buffer_pool.h"
#include "server/store/cell_index.h"
#include "server/store/data_file.h"
#include "server/store/extent_allocator.h"
#include "server/store/group_sync.h"
#include "server/store/index_cache.h"
#include "server/store/io_ring.h"

namespace cvfs::server {
namespace {

constexpr uint64_t kBlock = kChecksumBlockBytes;
constexpr size_t kLockStripes = 1024;

uint64_t BlocksFor(uint64_t bytes) { return (bytes + kBlock - 1) / kBlock; }

bool IsAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kBlock == 0; }

std::string DescribeVersion(const CellKey& key, uint64_t version) {
  return DescribeCellKey(key) + " v" + std::to_string(version);
}

}  // namespace

std::string DescribeCellKey(const CellKey& key) {
  return "fs" + std::to_string(key.fs_id) + "/ino" + std::to_string(key.inode) + "/s" +
         std::to_string(key.stripe) + "/c" + std::to_string(key.cell_index);
}

class CellStore::Impl {
 public:
  Impl(CellStoreOptions options, std::unique_ptr<DataFile> file, std::unique_ptr<IoRing> ring,
       std::unique_ptr<CellIndex> index, std::unique_ptr<ExtentAllocator> allocator)
      : options_(std::move(options)),
        file_(std::move(file)),
        ring_(std::move(ring)),
        index_(std::move(index)),
        allocator_(std::move(allocator)),
        data_sync_([fd = file_->fd()] { return ::fdatasync(fd) == 0 ? 0 : errno; }, file_->path()),
        cache_(options_.index_cache_entries),
        preallocated_end_(file_->size_at_open()) {}

  Status WritePending(const CellKey& key, uint64_t version, std::span<const uint8_t> data);
  Status Commit(const CellKey& key, uint64_t version, bool sync);
  Status Abort(const CellKey& key, uint64_t version);
  Result<std::vector<CellVersion>> Versions(const CellKey& key);
  Result<CellVersion> Read(const CellKey& key, uint64_t version, uint64_t offset,
                           std::span<uint8_t> out);
  Status Rewrite(const CellKey& key, uint64_t version, std::span<const uint8_t> data);
  Result<std::vector<StoredCell>> ListCommitted(const std::optional<CellKey>& after, size_t max);
  Result<CellVersion> Verify(const CellKey& key, uint64_t version);
  Result<uint64_t> DeleteStripes(uint32_t fs_id, uint64_t inode, uint64_t first_stripe);
  // Removes every version of `cells`; returns the versions removed.
  Result<uint64_t> DropCells(const std::vector<CellKey>& cells);
  CellStoreStats stats() const;
  const CellStoreOptions& options() const { return options_; }
  const CellIndex* index() const { return index_.get(); }

  // Counts the index at Open.
  void InitCounts(uint64_t cells, uint64_t pending) {
    cells_ = cells;
    pending_ = pending;
  }

 private:
  std::mutex& LockFor(const CellKey& key) { return locks_[LockIndex(key)]; }
  static size_t LockIndex(const CellKey& key) { return IndexCache::Hash(key) % kLockStripes; }

  // Allocates blocks, writes `data` zero-padded to whole blocks (durable) and fills the
  // extent and CRCs of `entry`. On error nothing stays allocated.
  Status WriteData(const CellKey& key, uint64_t version, std::span<const uint8_t> data,
                   IndexEntry* entry);
  Result<Extent> AllocateBlocks(uint64_t blocks, uint64_t bytes);
  // Directory drives: makes sure cells.dat is preallocated (fallocate) through `extent` and,
  // when possible, half a step beyond it. 0 or the errno of a failed fallocate that left the
  // extent itself unallocated (ENOSPC/EDQUOT: the file system is full).
  int Preallocate(const Extent& extent);
  // Whole transfers on the data area: through the io_uring when the options ask for one,
  // else by the calling thread. 0 or -errno.
  int ReadAt(void* buf, size_t length, uint64_t offset) {
    return ring_ ? ring_->ReadFull(file_->fd(), buf, length, offset)
                 : PreadFull(file_->fd(), buf, length, offset);
  }
  int WriteAt(const void* buf, size_t length, uint64_t offset) {
    return ring_ ? ring_->WriteFull(file_->fd(), buf, length, offset, /*dsync=*/false)
                 : PwriteFull(file_->fd(), buf, length, offset);
  }
  Status KernelNoSpace(const CellKey& key, uint64_t version, uint64_t bytes);
  // Writes `batch` with sync=true, then releases the extents waiting for a synced index.
  Status WriteSynced(const CellIndex::Batch& batch);
  void FreeExtents(const std::vector<Extent>& extents);
  // Blocks freed by an index change that is not yet durable wait here until the next synced
  // index write: reusing them earlier could let a crash resurrect an entry whose blocks hold
  // another cell's bytes.
  void DeferFree(std::vector<Extent> extents);
  // The entry of `version` (0: the committed one), or null when absent. Version 0 and the
  // cached committed version are served from the cache; a miss for version 0 fills it.
  Result<std::shared_ptr<const IndexEntry>> Lookup(const CellKey& key, uint64_t version);
  void AdjustCounts(int64_t cells, int64_t pending) {
    cells_ += static_cast<uint64_t>(cells);
    pending_ += static_cast<uint64_t>(pending);
  }

  const CellStoreOptions options_;
  const std::unique_ptr<DataFile> file_;
  const std::unique_ptr<IoRing> ring_;  // null unless options.use_io_uring
  const std::unique_ptr<CellIndex> index_;
  const std::unique_ptr<ExtentAllocator> allocator_;
  AlignedBufferPool buffers_;
  // Data durability: cell writes carry no RWF_DSYNC; a writer then waits for a shared
  // fdatasync that started after its write completed (group commit).
  GroupSync data_sync_;
  // Committed entries; changed only under the cell's lock (see index_cache.h).
  IndexCache cache_;
  std::array<std::mutex, kLockStripes> locks_;  // per-cell index read-modify-write

  std::mutex preallocate_mu_;                  // one fallocate at a time
  std::atomic<uint64_t> preallocated_end_{0};  // bytes of cells.dat with space allocated
  bool preallocate_exact_ = false;             // a step failed: grow only as needed; prealloc mu

  std::mutex deferred_mu_;
  std::vector<Extent> deferred_;  // guarded by deferred_mu_

  std::atomic<uint64_t> cells_{0};
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> checksum_failures_{0};
  std::atomic<uint64_t> no_space_errors_{0};
};

void CellStore::Impl::FreeExtents(const std::vector<Extent>& extents) {
  for (const Extent& e : extents) {
    Status s = allocator_->Free(e);
    if (!s.ok()) LOG_ERROR("store.free_failed drive={} error={}", options_.data_path, s.ToString());
  }
}

void CellStore::Impl::DeferFree(std::vector<Extent> extents) {
  std::lock_guard lock(deferred_mu_);
  deferred_.insert(deferred_.end(), extents.begin(), extents.end());
}

Status CellStore::Impl::WriteSynced(const CellIndex::Batch& batch) {
  std::vector<Extent> ready;
  {
    std::lock_guard lock(deferred_mu_);
    ready.swap(deferred_);
  }
  Status s = index_->Write(batch, /*sync=*/true);
  if (!s.ok()) {
    DeferFree(std::move(ready));
    return s;
  }
  FreeExtents(ready);  // their index changes precede this synced write in the WAL
  return s;
}

Result<Extent> CellStore::Impl::AllocateBlocks(uint64_t blocks, uint64_t bytes) {
  std::optional<Extent> extent = allocator_->Allocate(blocks);
  if (!extent) {
    // Blocks waiting for a synced index may be enough: sync and release them.
    std::vector<Extent> ready;
    {
      std::lock_guard lock(deferred_mu_);
      ready.swap(deferred_);
    }
    if (!ready.empty()) {
      Status s = index_->SyncWal();
      if (s.ok()) {
        FreeExtents(ready);
        extent = allocator_->Allocate(blocks);
      } else {
        DeferFree(std::move(ready));
      }
    }
  }
  if (!extent) {
    ++no_space_errors_;
    const uint64_t free_bytes = allocator_->free_blocks() * kBlock;
    std::string msg = "drive " + options_.data_path + " is full: " + std::to_string(free_bytes) +
                      " bytes free, cell needs " + std::to_string(bytes);
    if (free_bytes >= blocks * kBlock) {
      msg += " (largest free run " + std::to_string(allocator_->largest_free_blocks() * kBlock) +
             " bytes)";
    }
    return Status::NoSpace(std::move(msg));
  }
  return *extent;
}

int CellStore::Impl::Preallocate(const Extent& extent) {
  // At most 1/16 of the capacity per step: a small drive is not taken whole by its first
  // write. On ext4 with 16 concurrent writers, writing into fallocated (unwritten) extents
  // measured ~25% faster and ~20% less CPU per cell than writing into holes (README).
  const uint64_t capacity = allocator_->total_blocks() * kBlock;
  uint64_t step = std::min(options_.preallocate_bytes, capacity / 16);
  step -= step % kBlock;
  if (!file_->owns_file() || file_->on_tmpfs() || step == 0) return 0;
  const uint64_t need = (extent.start + extent.blocks) * kBlock;
  const uint64_t want = std::min(capacity, need + step / 2);
  if (preallocated_end_.load(std::memory_order_acquire) >= want) return 0;
  std::lock_guard lock(preallocate_mu_);
  uint64_t end = preallocated_end_.load(std::memory_order_relaxed);
  if (end >= want) return 0;
  uint64_t target = preallocate_exact_ ? need : std::min(capacity, std::max(end + step, want));
  if (target <= end) return 0;
  int err = ::fallocate(file_->fd(), 0, static_cast<off_t>(end), static_cast<off_t>(target - end));
  if (err != 0) err = errno;
  if (err == EOPNOTSUPP) {
    LOG_WARN("store.preallocate_unsupported file={}", file_->path());
    preallocated_end_.store(capacity, std::memory_order_release);  // writes allocate instead
    return 0;
  }
  if (err != 0 && target > need && need > end) {
    // The step did not fit (file system fuller than the capacity says): grow only as needed.
    LOG_WARN("store.preallocate_failed file={} bytes={} error={}; preallocating only as needed",
             file_->path(), target - end, std::strerror(err));
    preallocate_exact_ = true;
    target = need;
    err = ::fallocate(file_->fd(), 0, static_cast<off_t>(end), static_cast<off_t>(target - end));
    if (err != 0) err = errno;
  }
  if (err != 0) return end >= need ? 0 : err;
  preallocated_end_.store(target, std::memory_order_release);
  return 0;
}

Status CellStore::Impl::KernelNoSpace(const CellKey& key, uint64_t version, uint64_t bytes) {
  ++no_space_errors_;
  return Status::NoSpace(
      "drive " + options_.data_path + " is full: the file system has no " + "room for " +
      DescribeVersion(key, version) + " (" + std::to_string(allocator_->free_blocks() * kBlock) +
      " bytes free by the store's count, cell needs " + std::to_string(bytes) + ")");
}

Status CellStore::Impl::WriteData(const CellKey& key, uint64_t version,
                                  std::span<const uint8_t> data, IndexEntry* entry) {
  const uint64_t blocks = BlocksFor(data.size());
  entry->version = version;
  entry->length = static_cast<uint32_t>(data.size());
  entry->crcs.assign(blocks, 0);
  entry->extent = Extent{0, 0};
  if (blocks == 0) return Status::Ok();

  CVFS_ASSIGN_OR_RETURN(Extent extent, AllocateBlocks(blocks, blocks * kBlock));
  const uint8_t* src = data.data();
  AlignedBuffer bounce;
  const bool whole_blocks = data.size() % kBlock == 0;
  if (!whole_blocks || (file_->direct_io() && !IsAligned(src))) {
    bounce = buffers_.Acquire(blocks * kBlock);
    if (!bounce) {
      FreeExtents({extent});
      return Status::ResourceExhausted("no memory for a " + std::to_string(blocks * kBlock) +
                                       " byte I/O buffer");
    }
    std::memcpy(bounce.data(), data.data(), data.size());
    std::memset(bounce.data() + data.size(), 0, blocks * kBlock - data.size());
    src = bounce.data();
  }
  for (uint64_t i = 0; i < blocks; ++i) entry->crcs[i] = Crc32c(src + i * kBlock, kBlock);

  int rc = -Preallocate(extent);
  if (rc == 0) {
    rc = WriteAt(src, blocks * kBlock, extent.start * kBlock);
  }
  if (rc == 0) {
    // Durable before the index may reference it: one fdatasync shared with concurrent writers.
    Status synced = data_sync_.Sync();
    if (!synced.ok()) {
      FreeExtents({extent});
      return synced.WithContext("write of " + DescribeVersion(key, version));
    }
  }
  if (rc < 0) {
    FreeExtents({extent});
    if (rc == -ENOSPC || rc == -EDQUOT) return KernelNoSpace(key, version, blocks * kBlock);
    return Status::IoError("write of " + DescribeVersion(key, version) + " to " + file_->path() +
                           " failed: " + std::strerror(-rc));
  }
  entry->extent = extent;
  ++writes_;
  bytes_written_ += data.size();
  return Status::Ok();
}

Status CellStore::Impl::WritePending(const CellKey& key, uint64_t version,
                                     std::span<const uint8_t> data) {
  if (version == 0) return Status::InvalidArgument("cell version 0 cannot be written");
  if (data.size() > kMaxCellBytes) {
    return Status::InvalidArgument("cell data of " + std::to_string(data.size()) +
                                   " bytes exceeds the maximum of " +
                                   std::to_string(kMaxCellBytes));
  }
  IndexEntry entry;
  entry.state = CellState::kPending;
  CVFS_RETURN_IF_ERROR(WriteData(key, version, data, &entry));

  std::vector<Extent> dropped;
  {
    std::lock_guard lock(LockFor(key));
    Result<std::vector<IndexEntry>> existing = index_->List(key);
    if (!existing.ok()) {
      FreeExtents({entry.extent});
      return existing.status();
    }
    CellIndex::Batch batch;
    int64_t cells_delta = 1;
    int64_t pending_delta = 1;
    for (const IndexEntry& old : *existing) {
      if (old.version == version && old.state == CellState::kCommitted) {
        // A prepare never un-commits a version: its write's commit had begun, so it may be
        // acknowledged, and a prepare of the same number is another writer's (a former
        // primary's request delivered late, after a partition healed). Replacing the
        // committed bytes with a pending version would make the cell read as never written.
        FreeExtents({entry.extent});
        return Status::AlreadyExists("prepare of " + DescribeVersion(key, version) +
                                     ": that version is committed here already");
      }
      if (old.version == version) {
        // Idempotent prepare: the new bytes replace this pending version.
        dropped.push_back(old.extent);
        --cells_delta;
        --pending_delta;
      } else if (old.version < version && old.state == CellState::kPending) {
        batch.Delete(key, old.version);
        dropped.push_back(old.extent);
        --cells_delta;
        --pending_delta;
      }
    }
    batch.Put(key, entry);
    Status s = WriteSynced(batch);
    if (!s.ok()) {
      cache_.Erase(key);  // whatever the index holds now, the next read looks it up
      FreeExtents({entry.extent});
      return s;
    }
    AdjustCounts(cells_delta, pending_delta);
  }
  FreeExtents(dropped);  // the synced index no longer references them
  return Status::Ok();
}

Status CellStore::Impl::Commit(const CellKey& key, uint64_t version, bool sync) {
  if (version == 0) return Status::InvalidArgument("cell version 0 cannot be committed");
  std::vector<Extent> dropped;
  {
    std::lock_guard lock(LockFor(key));
    CVFS_ASSIGN_OR_RETURN(std::vector<IndexEntry> existing, index_->List(key));
    const IndexEntry* target = nullptr;
    for (const IndexEntry& e : existing) {
      if (e.version == version) target = &e;
    }
    if (target == nullptr) {
      return Status::NotFound("commit of " + DescribeVersion(key, version) +
                              ": version not stored");
    }
    const bool already = target->state == CellState::kCommitted;
    CellIndex::Batch batch;
    int64_t cells_delta = 0;
    int64_t pending_delta = 0;
    for (const IndexEntry& e : existing) {
      if (e.version == version) continue;
      // A repeated commit (already committed) keeps newer versions: they belong to a later
      // write that was prepared after this commit first succeeded.
      if (already && e.version > version) continue;
      batch.Delete(key, e.version);
      dropped.push_back(e.extent);
      --cells_delta;
      if (e.state == CellState::kPending) --pending_delta;
    }
    IndexEntry committed = *target;
    committed.state = CellState::kCommitted;
    if (!already) {
      batch.Put(key, committed);
      --pending_delta;
    }
    if (batch.empty()) {
      cache_.Put(key, std::move(committed));
      return Status::Ok();
    }
    Status s = sync ? WriteSynced(batch) : index_->Write(batch, /*sync=*/false);
    if (!s.ok()) {
      cache_.Erase(key);
      return s;
    }
    cache_.Put(key, std::move(committed));
    AdjustCounts(cells_delta, pending_delta);
  }
  if (sync) {
    FreeExtents(dropped);
  } else {
    DeferFree(std::move(dropped));
  }
  return Status::Ok();
}

Status CellStore::Impl::Abort(const CellKey& key, uint64_t version) {
  if (version == 0) return Status::Ok();
  Extent dropped;
  {
    std::lock_guard lock(LockFor(key));
    CVFS_ASSIGN_OR_RETURN(std::optional<IndexEntry> entry, index_->Get(key, version));
    if (!entry || entry->state != CellState::kPending) return Status::Ok();
    CellIndex::Batch batch;
    batch.Delete(key, version);
    // Not synced: a lost abort leaves a pending version that recovery aborts again; its
    // blocks wait for the next synced index write before reuse.
    CVFS_RETURN_IF_ERROR(index_->Write(batch, /*sync=*/false));
    AdjustCounts(-1, -1);
    dropped = entry->extent;
  }
  DeferFree({dropped});
  return Status::Ok();
}

Result<std::vector<CellVersion>> CellStore::Impl::Versions(const CellKey& key) {
  CVFS_ASSIGN_OR_RETURN(std::vector<IndexEntry> entries, index_->List(key));
  std::vector<CellVersion> out;
  out.reserve(entries.size());
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    out.push_back(CellVersion{it->version, it->state, it->length});
  }
  return out;
}

Result<std::shared_ptr<const IndexEntry>> CellStore::Impl::Lookup(const CellKey& key,
                                                                  uint64_t version) {
  using Found = std::shared_ptr<const IndexEntry>;
  if (cache_.enabled()) {
    Found cached = cache_.Get(key);
    if (cached && (version == 0 || cached->version == version)) return cached;
  }
  if (version != 0) {
    CVFS_ASSIGN_OR_RETURN(std::optional<IndexEntry> entry, index_->Get(key, version));
    if (!entry) return Found();
    return Found(std::make_shared<const IndexEntry>(std::move(*entry)));
  }
  // Fill under the cell's lock so no commit can slip between the index read and the insert.
  std::lock_guard lock(LockFor(key));
  if (Found cached = cache_.Get(key)) return cached;
  CVFS_ASSIGN_OR_RETURN(std::vector<IndexEntry> entries, index_->List(key));
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->state == CellState::kCommitted) {
      auto found = std::make_shared<const IndexEntry>(std::move(*it));
      cache_.Put(key, *found);
      return Found(std::move(found));
    }
  }
  return Found();
}

Result<CellVersion> CellStore::Impl::Read(const CellKey& key, uint64_t version, uint64_t offset,
                                          std::span<uint8_t> out) {
  if (offset > kMaxCellBytes || out.size() > kMaxCellBytes - offset) {
    return Status::InvalidArgument("read of " + std::to_string(out.size()) + " bytes at offset " +
                                   std::to_string(offset) + " of " + DescribeCellKey(key) +
                                   " exceeds the maximum cell size " +
                                   std::to_string(kMaxCellBytes));
  }
  // Reads take no lock: a version dropped (and its blocks reused) while being read shows up
  // as a checksum mismatch, which is only reported once the index confirms the entry is
  // unchanged; otherwise the read starts over with the current entry.
  constexpr int kAttempts = 3;
  for (int attempt = 0;; ++attempt) {
    CVFS_ASSIGN_OR_RETURN(std::shared_ptr<const IndexEntry> found, Lookup(key, version));
    if (!found) {
      return Status::NotFound(version == 0
                                  ? "no committed version of cell " + DescribeCellKey(key)
                                  : "cell " + DescribeVersion(key, version) + " is not stored");
    }
    const IndexEntry& e = *found;
    const CellVersion result{e.version, e.state, e.length};
    const uint64_t end = std::min<uint64_t>(offset + out.size(), e.length);
    if (offset >= end) {
      std::memset(out.data(), 0, out.size());
      ++reads_;
      return result;
    }
    const uint64_t first = offset / kBlock;
    const uint64_t last = BlocksFor(end);  // exclusive
    const uint64_t io_bytes = (last - first) * kBlock;
    uint8_t* dst = nullptr;
    AlignedBuffer bounce;
    const bool in_place = offset % kBlock == 0 && io_bytes <= out.size() &&
                          (!file_->direct_io() || IsAligned(out.data()));
    if (in_place) {
      dst = out.data();
    } else {
      bounce = buffers_.Acquire(io_bytes);
      if (!bounce) {
        return Status::ResourceExhausted("no memory for a " + std::to_string(io_bytes) +
                                         " byte I/O buffer");
      }
      dst = bounce.data();
    }
    const int rc = ReadAt(dst, io_bytes, (e.extent.start + first) * kBlock);
    if (rc < 0) {
      return Status::IoError("read of " + DescribeVersion(key, e.version) + " from " +
                             file_->path() + " failed: " + std::strerror(-rc));
    }
    uint64_t bad_block = UINT64_MAX;
    for (uint64_t b = first; b < last; ++b) {
      if (Crc32c(dst + (b - first) * kBlock, kBlock) != e.crcs[b]) {
        bad_block = b;
        break;
      }
    }
    if (bad_block != UINT64_MAX) {
      CVFS_ASSIGN_OR_RETURN(std::optional<IndexEntry> again, index_->Get(key, e.version));
      const bool unchanged = again && again->extent == e.extent && again->crcs == e.crcs;
      if (unchanged || attempt + 1 >= kAttempts) {
        ++checksum_failures_;
        LOG_ERROR("store.checksum_mismatch drive={} cell={} block={}", options_.data_path,
                  DescribeVersion(key, e.version), bad_block);
        return Status::Corruption("checksum mismatch in cell " + DescribeVersion(key, e.version) +
                                  " block " + std::to_string(bad_block));
      }
      continue;  // the entry moved under us: read the current one
    }
    const uint64_t useful = end - offset;
    if (!in_place) {
      std::memcpy(out.data(), dst + (offset - first * kBlock), useful);
    }
    // in place: dst == out.data() and offset is block aligned, so the bytes are in position.
    if (useful < out.size()) std::memset(out.data() + useful, 0, out.size() - useful);
    ++reads_;
    bytes_read_ += useful;
    return result;
  }
}

Result<std::vector<StoredCell>> CellStore::Impl::ListCommitted(const std::optional<CellKey>& after,
                                                               size_t max) {
  std::vector<StoredCell> out;
  if (max == 0) return out;
  // Versions of a cell are adjacent and ascending: the last committed one seen before the
  // next cell starts is the cell's (a cell has at most one committed version).
  std::optional<StoredCell> current;
  CVFS_RETURN_IF_ERROR(index_->ForEachAfter(after, [&](const CellKey& key, const IndexEntry& e) {
    if (current && !(current->key == key)) {
      out.push_back(*current);
      current.reset();
      if (out.size() >= max) return false;
    }
    if (e.state == CellState::kCommitted) current = StoredCell{key, e.version, e.length};
    return true;
  }));
  if (current && out.size() < max) out.push_back(*current);
  return out;
}

Result<CellVersion> CellStore::Impl::Verify(const CellKey& key, uint64_t version) {
  CVFS_ASSIGN_OR_RETURN(std::shared_ptr<const IndexEntry> found, Lookup(key, version));
  if (!found) {
    return Status::NotFound(version == 0
                                ? "no committed version of cell " + DescribeCellKey(key)
                                : "cell " + DescribeVersion(key, version) + " is not stored");
  }
  AlignedBuffer buffer = buffers_.Acquire(std::max<uint64_t>(BlocksFor(found->length), 1) * kBlock);
  if (!buffer) {
    return Status::ResourceExhausted("no memory to verify " + DescribeCellKey(key));
  }
  return Read(key, found->version, 0, std::span<uint8_t>(buffer.data(), found->length));
}

Status CellStore::Impl::Rewrite(const CellKey& key, uint64_t version,
                                std::span<const uint8_t> data) {
  if (version == 0) return Status::InvalidArgument("cell version 0 cannot be rewritten");
  if (data.size() > kMaxCellBytes) {
    return Status::InvalidArgument("cell data of " + std::to_string(data.size()) +
                                   " bytes exceeds the maximum of " +
                                   std::to_string(kMaxCellBytes));
  }
  {
    // Cheap early check so a repair of a vanished version costs no write.
    CVFS_ASSIGN_OR_RETURN(std::optional<IndexEntry> present, index_->Get(key, version));
    if (!present) {
      return Status::NotFound("rewrite of " + DescribeVersion(key, version) + ": not stored");
    }
  }
  IndexEntry entry;
  CVFS_RETURN_IF_ERROR(WriteData(key, version, data, &entry));
  Extent old;
  {
    std::lock_guard lock(LockFor(key));
    Result<std::optional<IndexEntry>> current = index_->Get(key, version);
    if (!current.ok() || !*current) {
      FreeExtents({entry.extent});
      if (!current.ok()) return current.status();
      return Status::NotFound("rewrite of " + DescribeVersion(key, version) + ": not stored");
    }
    entry.state = (*current)->state;
    CellIndex::Batch batch;
    batch.Put(key, entry);
    Status s = WriteSynced(batch);
    if (!s.ok()) {
      if (entry.state == CellState::kCommitted) cache_.Erase(key);
      FreeExtents({entry.extent});
      return s;
    }
    if (entry.state == CellState::kCommitted) cache_.Put(key, entry);
    old = (*current)->extent;
  }
  FreeExtents({old});
  return Status::Ok();
}

Result<uint64_t> CellStore::Impl::DeleteStripes(uint32_t fs_id, uint64_t inode,
                                                uint64_t first_stripe) {
  std::vector<CellKey> cells;
  CVFS_RETURN_IF_ERROR(
      index_->ForEachOfInode(fs_id, inode, first_stripe, [&](const CellKey& k, const IndexEntry&) {
        if (cells.empty() || !(cells.back() == k)) cells.push_back(k);
        return Status::Ok();
      }));
  return DropCells(cells);
}

Result<uint64_t> CellStore::Impl::DropCells(const std::vector<CellKey>& cells) {
  // Lock the cells' lock stripes in ascending order (other calls hold at most one, so this
  // cannot deadlock) and re-read each cell under the locks.
  if (cells.empty()) return uint64_t{0};
  std::vector<size_t> lock_ids;
  lock_ids.reserve(cells.size());
  for (const CellKey& k : cells) lock_ids.push_back(LockIndex(k));
  std::sort(lock_ids.begin(), lock_ids.end());
  lock_ids.erase(std::unique(lock_ids.begin(), lock_ids.end()), lock_ids.end());
  for (size_t id : lock_ids) locks_[id].lock();
  auto unlock = [&] {
    for (auto it = lock_ids.rbegin(); it != lock_ids.rend(); ++it) locks_[*it].unlock();
  };

  CellIndex::Batch batch;
  std::vector<Extent> dropped;
  uint64_t count = 0;
  int64_t pending = 0;
  for (const CellKey& k : cells) {
    Result<std::vector<IndexEntry>> entries = index_->List(k);
    if (!entries.ok()) {
      unlock();
      return entries.status();
    }
    for (const IndexEntry& e : *entries) {
      batch.Delete(k, e.version);
      dropped.push_back(e.extent);
      ++count;
      if (e.state == CellState::kPending) ++pending;
    }
  }
  Status s = WriteSynced(batch);
  if (s.ok()) AdjustCounts(-static_cast<int64_t>(count), -pending);
  for (const CellKey& k : cells) cache_.Erase(k);
  unlock();
  if (!s.ok()) return s;
  FreeExtents(dropped);
  return count;
}

CellStoreStats CellStore::Impl::stats() const {
  CellStoreStats s;
  s.capacity_bytes = allocator_->total_blocks() * kBlock;
  s.free_bytes = allocator_->free_blocks() * kBlock;
  s.used_bytes = s.capacity_bytes - s.free_bytes;
  s.cells = cells_;
  s.pending = pending_;
  s.writes = writes_;
  s.reads = reads_;
  s.bytes_written = bytes_written_;
  s.bytes_read = bytes_read_;
  s.checksum_failures = checksum_failures_;
  s.no_space_errors = no_space_errors_;
  s.direct_io = file_->direct_io();
  s.data_syncs = data_sync_.syncs();
  s.index_cache_hits = cache_.hits();
  s.index_cache_misses = cache_.misses();
  return s;
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<CellStore>> CellStore::Open(const CellStoreOptions& options) {
  if (options.data_path.empty()) return Status::ConfigError("cell store: data path is empty");
  if (options.index_path.empty()) return Status::ConfigError("cell store: index path is empty");
  CVFS_ASSIGN_OR_RETURN(std::unique_ptr<DataFile> file,
                        DataFile::Open(options.data_path, options.capacity_bytes,
                                       options.allow_direct_io, options.index_path));
  CVFS_ASSIGN_OR_RETURN(std::unique_ptr<CellIndex> index, CellIndex::Open(options.index_path));

  std::vector<Extent> used;
  uint64_t cells = 0;
  uint64_t pending = 0;
  CVFS_RETURN_IF_ERROR(index->ForEach([&](const CellKey&, const IndexEntry& e) {
    used.push_back(e.extent);
    ++cells;
    if (e.state == CellState::kPending) ++pending;
    return Status::Ok();
  }));
  auto allocator = std::make_unique<ExtentAllocator>(file->capacity_bytes() / kBlock);
  Status rebuilt = allocator->Rebuild(std::move(used));
  if (!rebuilt.ok()) {
    return rebuilt.WithContext("cell index " + options.index_path + " for drive " +
                               options.data_path);
  }
  std::unique_ptr<IoRing> ring;
  if (options.use_io_uring) {
    CVFS_ASSIGN_OR_RETURN(ring, IoRing::Create(options.ring_entries));
  }
  LOG_INFO("store.open drive={} index={} cells={} pending={} free_bytes={} direct_io={}",
           options.data_path, options.index_path, cells, pending, allocator->free_blocks() * kBlock,
           file->direct_io());
  auto impl = std::make_unique<Impl>(options, std::move(file), std::move(ring), std::move(index),
                                     std::move(allocator));
  impl->InitCounts(cells, pending);
  return std::unique_ptr<CellStore>(new CellStore(std::move(impl)));
}

CellStore::CellStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CellStore::~CellStore() = default;

Status CellStore::WritePending(const CellKey& key, uint64_t version,
                               std::span<const uint8_t> data) {
  return impl_->WritePending(key, version, data);
}
Status CellStore::Commit(const CellKey& key, uint64_t version, bool sync) {
  return impl_->Commit(key, version, sync);
}
Status CellStore::Abort(const CellKey& key, uint64_t version) { return impl_->Abort(key, version); }
Result<std::vector<CellVersion>> CellStore::Versions(const CellKey& key) {
  return impl_->Versions(key);
}
Result<CellVersion> CellStore::Read(const CellKey& key, uint64_t version, uint64_t offset,
                                    std::span<uint8_t> out) {
  return impl_->Read(key, version, offset, out);
}
Status CellStore::Rewrite(const CellKey& key, uint64_t version, std::span<const uint8_t> data) {
  return impl_->Rewrite(key, version, data);
}
Result<std::vector<CellStore::StripeRef>> CellStore::ListStripes(
    uint32_t fs_id, StripeRef from, size_t max,
    const std::function<bool(uint64_t inode, uint64_t stripe)>& wanted, bool* done) {
  std::vector<StripeRef> out;
  bool ended = true;
  CVFS_RETURN_IF_ERROR(impl_->index()->ForEachOfFilesystem(
      fs_id, from.inode, from.stripe, [&](const CellKey& key, const IndexEntry& entry) {
        if (entry.state != CellState::kCommitted) return Status::Ok();
        if (!out.empty() && out.back().inode == key.inode && out.back().stripe == key.stripe) {
          return Status::Ok();
        }
        if (!wanted(key.inode, key.stripe)) return Status::Ok();
        if (out.size() >= max) {
          ended = false;
          return Status(ErrorCode::kCancelled, "page full");
        }
        out.push_back({key.inode, key.stripe});
        return Status::Ok();
      }));
  if (done) *done = ended;
  return out;
}

Result<uint64_t> CellStore::DropCellsIf(uint32_t fs_id,
                                        const std::function<bool(const CellKey&)>& drop) {
  std::vector<CellKey> cells;
  CVFS_RETURN_IF_ERROR(
      impl_->index()->ForEachOfFilesystem(fs_id, 0, 0, [&](const CellKey& key, const IndexEntry&) {
        if ((cells.empty() || !(cells.back() == key)) && drop(key)) cells.push_back(key);
        return Status::Ok();
      }));
  uint64_t dropped = 0;
  for (size_t i = 0; i < cells.size(); i += 1024) {
    std::vector<CellKey> batch(cells.begin() + i, cells.begin() + std::min(cells.size(), i + 1024));
    CVFS_ASSIGN_OR_RETURN(uint64_t n, impl_->DropCells(batch));
    dropped += n;
  }
  return dropped;
}

Result<uint64_t> CellStore::DeleteStripes(uint32_t fs_id, uint64_t inode, uint64_t first_stripe) {
  return impl_->DeleteStripes(fs_id, inode, first_stripe);
}
Result<std::vector<StoredCell>> CellStore::ListCommitted(const std::optional<CellKey>& after,
                                                         size_t max) {
  return impl_->ListCommitted(after, max);
}
Result<CellVersion> CellStore::Verify(const CellKey& key, uint64_t version) {
  return impl_->Verify(key, version);
}
CellStoreStats CellStore::stats() const { return impl_->stats(); }
const CellStoreOptions& CellStore::options() const { return impl_->options(); }

}  // namespace cvfs::server
