// PrimaryFence: a member's guard against a deposed primary. Every stripe-protocol call that
// changes or settles a cell (prepare, commit, abort, and the versions query a new primary's
// discovery starts with) carries the sending coordinator's map epoch and the stripe's PG
// (net::wire::CellAddress). The member remembers, per PG, the newest epoch it was called
// with, and refuses a call from an older one with kConflict.
//
// Why: a primary that was cut off (stopped, partitioned, slow) keeps its old map and may
// still act on a write it had begun, or on a client's request that reached it late, after a
// new primary took the PG over and wrote the stripe. Its late commit would replace the new
// primary's acknowledged version on the members it reaches. Once the new primary's first
// call on a PG reaches a member, that member never again admits the old primary's calls for
// the PG: a late prepare or commit is refused, not applied.
//
// Contract:
//   - Admit(fs, pg, epoch) with epoch 0 admits without fencing (readers, tests).
//   - An epoch older than the newest seen for (fs, pg): kConflict, nothing changes.
//   - A newer epoch raises the PG's fence, then waits until every call admitted under an
//     older epoch has released its ticket (so the caller's next step, e.g. listing versions,
//     sees every change an older primary made, and no later one); past `drain_timeout`
//     kUnavailable (the fence stays raised; a retry waits again).
//   - The ticket must live across the store operation it guards.
// The fence is memory only: a restarted member admits any epoch until it is called again
// (documented in docs/design/datapath.md).
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "core/clock.h"
#include "core/status.h"

namespace cvfs::server {

class PrimaryFence {
  struct Entry;

 public:
  // Held while the admitted call runs its store operation.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept
        : entry_(std::exchange(other.entry_, nullptr)), epoch_(other.epoch_) {}
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Release(); }

   private:
    friend class PrimaryFence;
    Ticket(Entry* entry, uint64_t epoch) : entry_(entry), epoch_(epoch) {}
    void Release();
    Entry* entry_ = nullptr;
    uint64_t epoch_ = 0;
  };

  explicit PrimaryFence(Duration drain_timeout = std::chrono::seconds(5))
      : drain_timeout_(drain_timeout) {}
  PrimaryFence(const PrimaryFence&) = delete;
  PrimaryFence& operator=(const PrimaryFence&) = delete;

  Result<Ticket> Admit(uint32_t fs_id, uint32_t pg, uint64_t epoch);

  // The newest epoch seen for (fs, pg); 0 when none was.
  uint64_t Seen(uint32_t fs_id, uint32_t pg) const;
  // Calls refused so far (for stats and tests).
  uint64_t refused() const;

 private:
  struct Entry {
    std::mutex mu;
    std::condition_variable drained;
    uint64_t epoch = 0;                 // newest epoch seen; guarded by mu
    std::map<uint64_t, int> in_flight;  // admitted calls per epoch; guarded by mu
  };

  const Duration drain_timeout_;
  mutable std::mutex mu_;
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<Entry>> entries_;  // guarded by mu_
  uint64_t refused_ = 0;                                                     // guarded by mu_
};

}  // namespace cvfs::server
