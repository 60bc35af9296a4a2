#include "server/data/primary_fence.h"

namespace cvfs::server {

PrimaryFence::Ticket& PrimaryFence::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    entry_ = std::exchange(other.entry_, nullptr);
    tenure_ = other.tenure_;
  }
  return *this;
}

void PrimaryFence::Ticket::Release() {
  if (entry_ == nullptr) return;
  {
    std::lock_guard lock(entry_->mu);
    auto it = entry_->in_flight.find(tenure_);
    if (it != entry_->in_flight.end() && --it->second == 0) entry_->in_flight.erase(it);
  }
  entry_->drained.notify_all();
  entry_ = nullptr;
}

PrimaryFence::Entry* PrimaryFence::Find(uint32_t fs_id, uint32_t pg, bool create) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({fs_id, pg});
  if (it != entries_.end()) return it->second.get();
  if (!create) return nullptr;
  auto& slot = entries_[{fs_id, pg}];
  slot = std::make_unique<Entry>();
  return slot.get();  // entries live as long as the fence
}

Result<PrimaryFence::Ticket> PrimaryFence::Admit(uint32_t fs_id, uint32_t pg, uint64_t epoch,
                                                 const std::string& node) {
  if (epoch == 0) return Ticket();
  Entry* entry = Find(fs_id, pg, /*create=*/true);
  std::unique_lock lock(entry->mu);
  const std::string where = "fs " + std::to_string(fs_id) + " PG " + std::to_string(pg);
  if (entry->holder.empty() || (node != entry->holder && epoch > entry->newest)) {
    // A new holder: the first caller, or another node with a newer map (a takeover).
    const bool takeover = !entry->holder.empty();
    entry->holder = node;
    entry->since = epoch;
    entry->newest = epoch;
    const uint64_t previous = entry->tenure++;
    if (takeover) {
      // Let the previous holder's running calls finish first: what this caller does next
      // sees all of their effects, and none comes after.
      const bool drained = entry->drained.wait_for(lock, drain_timeout_, [&] {
        return entry->in_flight.empty() || entry->in_flight.begin()->first > previous;
      });
      if (!drained) {
        return Status::Unavailable(where + ": calls of the previous primary still running here" +
                                   " after " + node + " took over at epoch " +
                                   std::to_string(epoch) + "; retry");
      }
    }
  } else if (node == entry->holder && epoch >= entry->since) {
    entry->newest = std::max(entry->newest, epoch);
  } else {
    const std::string holder = entry->holder;
    const uint64_t since = entry->since;
    lock.unlock();
    {
      std::lock_guard count(mu_);
      ++refused_;
    }
    return Status(ErrorCode::kConflict, where + ": " + node + " at map epoch " +
                                            std::to_string(epoch) + " was superseded by " + holder +
                                            " (its primary since epoch " + std::to_string(since) +
                                            "); a deposed primary");
  }
  const uint64_t tenure = entry->tenure;
  ++entry->in_flight[tenure];
  return Ticket(entry, tenure);
}

uint64_t PrimaryFence::Seen(uint32_t fs_id, uint32_t pg) const {
  Entry* entry = Find(fs_id, pg, /*create=*/false);
  if (entry == nullptr) return 0;
  std::lock_guard lock(entry->mu);
  return entry->newest;
}

std::string PrimaryFence::Holder(uint32_t fs_id, uint32_t pg) const {
  Entry* entry = Find(fs_id, pg, /*create=*/false);
  if (entry == nullptr) return "";
  std::lock_guard lock(entry->mu);
  return entry->holder;
}

uint64_t PrimaryFence::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace cvfs::server
