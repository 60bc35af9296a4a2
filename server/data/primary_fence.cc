#include "server/data/primary_fence.h"

#include <string>

#include "core/logging.h"

namespace cvfs::server {

PrimaryFence::Ticket& PrimaryFence::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    entry_ = std::exchange(other.entry_, nullptr);
    epoch_ = other.epoch_;
  }
  return *this;
}

void PrimaryFence::Ticket::Release() {
  if (entry_ == nullptr) return;
  {
    std::lock_guard lock(entry_->mu);
    auto it = entry_->in_flight.find(epoch_);
    if (it != entry_->in_flight.end() && --it->second == 0) entry_->in_flight.erase(it);
  }
  entry_->drained.notify_all();
  entry_ = nullptr;
}

Result<PrimaryFence::Ticket> PrimaryFence::Admit(uint32_t fs_id, uint32_t pg, uint64_t epoch) {
  if (epoch == 0) return Ticket();
  Entry* entry = nullptr;
  {
    std::lock_guard lock(mu_);
    auto& slot = entries_[{fs_id, pg}];
    if (slot == nullptr) slot = std::make_unique<Entry>();
    entry = slot.get();  // entries live as long as the fence
  }
  std::unique_lock lock(entry->mu);
  if (epoch < entry->epoch) {
    const uint64_t seen = entry->epoch;
    lock.unlock();
    {
      std::lock_guard count(mu_);
      ++refused_;
    }
    return Status(ErrorCode::kConflict, "fs " + std::to_string(fs_id) + " PG " +
                                            std::to_string(pg) + ": a coordinator at map epoch " +
                                            std::to_string(epoch) + " was superseded (epoch " +
                                            std::to_string(seen) +
                                            " seen here); its primary is deposed");
  }
  if (epoch > entry->epoch) {
    const uint64_t before = entry->epoch;
    entry->epoch = epoch;
    // Let every call of an older epoch finish before this one goes on: what it does next
    // (list versions, prepare) then sees all of their changes and none comes after.
    const bool drained = entry->drained.wait_for(lock, drain_timeout_, [&] {
      return entry->in_flight.empty() || entry->in_flight.begin()->first >= epoch;
    });
    if (!drained) {
      return Status::Unavailable("fs " + std::to_string(fs_id) + " PG " + std::to_string(pg) +
                                 ": calls of map epoch " + std::to_string(before) +
                                 " still running here after the fence rose to " +
                                 std::to_string(epoch) + "; retry");
    }
  }
  ++entry->in_flight[epoch];
  return Ticket(entry, epoch);
}

uint64_t PrimaryFence::Seen(uint32_t fs_id, uint32_t pg) const {
  Entry* entry = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find({fs_id, pg});
    if (it == entries_.end()) return 0;
    entry = it->second.get();
  }
  std::lock_guard lock(entry->mu);
  return entry->epoch;
}

uint64_t PrimaryFence::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace cvfs::server
