#include "server/data/stripe_locks.h"

#include <cassert>

namespace cvfs::server {

StripeLocks::Guard::Guard(StripeLocks& locks, const StripeId& id) : locks_(locks), id_(id) {
  std::unique_lock lock(locks_.mu_);
  Entry& entry = locks_.entries_[id_];
  ++entry.waiters;
  locks_.released_.wait(lock, [&] { return !entry.held; });
  --entry.waiters;
  entry.held = true;
}

StripeLocks::Guard::~Guard() {
  {
    std::lock_guard lock(locks_.mu_);
    auto it = locks_.entries_.find(id_);
    assert(it != locks_.entries_.end() && it->second.held);
    it->second.held = false;
    if (it->second.waiters == 0) locks_.entries_.erase(it);
  }
  locks_.released_.notify_all();
}

}  // namespace cvfs::server
