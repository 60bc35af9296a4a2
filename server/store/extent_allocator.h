// ExtentAllocator: hands out runs of contiguous 4 KiB blocks of a data area of a fixed number
// of blocks. Best fit (the smallest free extent that holds the request, lowest address among
// equals), taken from the extent's start, so an empty area fills sequentially.
//
// Nothing is persisted: the owner rebuilds the free map on Open from the extents its index
// references (Rebuild); blocks referenced by nothing are free.
// Invariants: free extents never overlap nor touch (adjacent ones are merged); Free of a block
// that is already free is refused (kInternal) and changes nothing, so a double free from a bug
// never hands one block to two cells.
// Thread-safety: every method is thread-safe (one mutex; no I/O under it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/status.h"

namespace cvfs::server {

struct Extent {
  uint64_t start = 0;   // first block
  uint64_t blocks = 0;  // number of blocks
  bool operator==(const Extent&) const = default;
};

class ExtentAllocator {
 public:
  explicit ExtentAllocator(uint64_t total_blocks);

  // Resets the free map to "everything but `used`". kCorruption (naming the extent) when an
  // extent lies outside the area or two extents overlap; the map is then left all-free.
  Status Rebuild(std::vector<Extent> used);

  // A run of `blocks` contiguous blocks (blocks >= 1), or nullopt when no free extent is
  // large enough.
  std::optional<Extent> Allocate(uint64_t blocks);

  // Returns an extent to the free map. kInternal when any of its blocks is already free or
  // outside the area (nothing changes then). Empty extents are a no-op.
  Status Free(const Extent& extent);

  uint64_t total_blocks() const { return total_blocks_; }
  uint64_t free_blocks() const;
  // The largest free extent, in blocks (for "drive is full" messages).
  uint64_t largest_free_blocks() const;

 private:
  void InsertFreeLocked(uint64_t start, uint64_t blocks);
  void EraseFreeLocked(std::map<uint64_t, uint64_t>::iterator it);

  const uint64_t total_blocks_;
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> by_start_;            // start -> blocks; guarded by mu_
  std::set<std::pair<uint64_t, uint64_t>> by_size_;  // (blocks, start); guarded by mu_
  uint64_t free_blocks_ = 0;                         // guarded by mu_
};

}  // namespace cvfs::server
