#include "server/store/index_cache.h"

namespace cvfs::server {

IndexCache::IndexCache(size_t capacity)
    : per_shard_(capacity == 0 ? 0 : (capacity + kShards - 1) / kShards) {}

size_t IndexCache::Hash(const CellKey& key) {
  uint64_t h = key.inode * 0x9E3779B97F4A7C15ull;
  h ^= (key.stripe + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
  h ^= (uint64_t{key.fs_id} << 16 | key.cell_index) * 0x94D049BB133111EBull;
  return static_cast<size_t>(h ^ (h >> 31));
}

std::shared_ptr<const IndexEntry> IndexCache::Get(const CellKey& key) {
  if (!enabled()) return nullptr;
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->second;
}

void IndexCache::Put(const CellKey& key, IndexEntry entry) {
  if (!enabled()) return;
  auto value = std::make_shared<const IndexEntry>(std::move(entry));
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.map.find(key);
  if (it != shard.map.end()) {
    it->second->second = std::move(value);
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  if (shard.map.size() >= per_shard_) {
    shard.map.erase(shard.lru.back().first);
    shard.lru.pop_back();
  }
  shard.lru.emplace_front(key, std::move(value));
  shard.map.emplace(key, shard.lru.begin());
}

void IndexCache::Erase(const CellKey& key) {
  if (!enabled()) return;
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return;
  shard.lru.erase(it->second);
  shard.map.erase(it);
}

size_t IndexCache::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    n += shard.map.size();
  }
  return n;
}

}  // namespace cvfs::server
