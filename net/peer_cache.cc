#include "net/peer_cache.h"

namespace cvfs::net {

Result<PeerId> PeerCache::Get(const std::string& address, Duration timeout) {
  if (address.empty()) return Status::Unavailable("peer has no fabric address");
  {
    std::lock_guard lock(mu_);
    auto hold = unresponsive_until_.find(address);
    if (hold != unresponsive_until_.end()) {
      if (Clock::System().Now() < hold->second) {
        return Status::Unavailable("peer " + address + " did not answer recently");
      }
      unresponsive_until_.erase(hold);
    }
    auto it = peers_.find(address);
    if (it != peers_.end()) return it->second;
  }
  CVFS_ASSIGN_OR_RETURN(PeerId peer, endpoint_.Connect(address, timeout));
  std::lock_guard lock(mu_);
  peers_.emplace(address, peer);
  return peer;
}

void PeerCache::Forget(const std::string& address) {
  std::lock_guard lock(mu_);
  peers_.erase(address);
}

void PeerCache::MarkUnresponsive(const std::string& address, Duration hold) {
  std::lock_guard lock(mu_);
  unresponsive_until_[address] = Clock::System().Now() + hold;
}

}  // namespace cvfs::net
