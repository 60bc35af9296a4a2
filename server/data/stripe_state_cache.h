// StripeStateCache: what a primary knows about the stripes it coordinates: the committed
// version, the version floor for the next write, the length of each cell and which members
// hold the committed version. An entry is trusted only while `valid`; a new map epoch (a
// member may have come back holding stale cells) invalidates every entry, but the version
// floor survives, so a version a failed write used is never used again by this primary.
// Bounded: past `max_entries` the cache is cleared (floors included: discovery re-learns
// every version a member still holds).
// Thread-safety: thread-safe; callers hold the stripe's lock while they act on an entry.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "server/data/stripe_locks.h"

namespace cvfs::server {

struct StripeState {
  uint64_t version = 0;           // committed version (0: never written)
  uint64_t next_version = 1;      // > every version any member was seen to hold
  std::vector<uint32_t> lengths;  // per cell: its stored length at `version`
  std::vector<bool> current;      // per cell: its member holds `version` committed
  bool valid = false;             // false: rediscover before trusting version/lengths
  bool from_cache = false;        // set by the coordinator's LoadState: a cache hit

  int current_count() const {
    int n = 0;
    for (bool c : current) n += c;
    return n;
  }
};

class StripeStateCache {
 public:
  explicit StripeStateCache(size_t max_entries) : max_entries_(max_entries) {}

  // The entry (valid or not) for `id`, if any.
  std::optional<StripeState> Get(const StripeId& id) const;
  void Put(const StripeId& id, const StripeState& state);
  // Marks every entry invalid (keeps the version floors).
  void InvalidateAll();
  // Marks one entry invalid.
  void Invalidate(const StripeId& id);
  // Invalidates the entries of stripes >= first of (fs_id, inode) (their cells were deleted).
  void Forget(uint32_t fs_id, uint64_t inode, uint64_t first_stripe);

 private:
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<StripeId, StripeState> entries_;  // guarded by mu_
};

}  // namespace cvfs::server
