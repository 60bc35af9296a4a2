#include "server/data/stripe_state_cache.h"

namespace cvfs::server {

std::optional<StripeState> StripeStateCache::Get(const StripeId& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void StripeStateCache::Put(const StripeId& id, const StripeState& state) {
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_ && entries_.find(id) == entries_.end()) entries_.clear();
  entries_[id] = state;
}

void StripeStateCache::InvalidateAll() {
  std::lock_guard lock(mu_);
  for (auto& [id, state] : entries_) state.valid = false;
}

void StripeStateCache::Invalidate(const StripeId& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.valid = false;
}

void StripeStateCache::Forget(uint32_t fs_id, uint64_t inode, uint64_t first_stripe) {
  std::lock_guard lock(mu_);
  auto it = entries_.lower_bound(StripeId{fs_id, inode, first_stripe});
  for (; it != entries_.end() && it->first.fs_id == fs_id && it->first.inode == inode; ++it) {
    it->second.valid = false;  // the floor stays: deleted versions are never reused
  }
}

}  // namespace cvfs::server
