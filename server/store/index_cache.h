// IndexCache: the committed index entry of recently used cells, so that Read of "the
// committed version" skips the RocksDB lookup (an iterator per call).
//
// Exactness is the owner's job (CellStore): every change of a cell's committed entry updates
// or erases the cell here while holding that cell's lock, and entries are inserted on a miss
// only under that lock, after reading the index. So a cached entry is always the index's
// current committed entry of its cell.
// Bounded: at most `capacity` entries (LRU per shard); 0 disables the cache.
// Thread-safety: every method is thread-safe (16 shards, one mutex each).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "server/store/cell_index.h"

namespace cvfs::server {

class IndexCache {
 public:
  explicit IndexCache(size_t capacity);

  // The cached committed entry of `key`, or null.
  std::shared_ptr<const IndexEntry> Get(const CellKey& key);
  // Sets the committed entry of `key` (evicting the least recently used entry when full).
  void Put(const CellKey& key, IndexEntry entry);
  void Erase(const CellKey& key);

  bool enabled() const { return per_shard_ > 0; }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t size() const;

  static size_t Hash(const CellKey& key);

 private:
  static constexpr size_t kShards = 16;
  struct KeyHash {
    size_t operator()(const CellKey& key) const { return Hash(key); }
  };
  using Lru = std::list<std::pair<CellKey, std::shared_ptr<const IndexEntry>>>;
  struct Shard {
    mutable std::mutex mu;
    Lru lru;  // most recently used first; guarded by mu
    std::unordered_map<CellKey, Lru::iterator, KeyHash> map;  // guarded by mu
  };
  Shard& ShardFor(const CellKey& key) { return shards_[Hash(key) % kShards]; }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace cvfs::server
