#include "net/peer_cache.h"

#include "core/logging.h"

namespace cvfs::net {

Result<PeerId> PeerCache::Get(const std::string& address, Duration timeout) {
  if (address.empty()) return Status::Unavailable("peer has no fabric address");
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(address);
    auto hold = unresponsive_.find(address);
    if (hold != unresponsive_.end()) {
      const bool heard =
          it != peers_.end() && endpoint_.LastHeardFrom(it->second) > hold->second.since;
      if (!heard && Clock::System().Now() < hold->second.until) {
        return Status::Unavailable("peer " + address + " did not answer recently");
      }
      if (heard) LOG_INFO("net.peer_heard_again peer={} (unresponsive hold ended)", address);
      unresponsive_.erase(hold);
    }
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
  const TimePoint now = Clock::System().Now();
  std::lock_guard lock(mu_);
  unresponsive_[address] = Hold{now, now + hold};
}

}  // namespace cvfs::net
