// PrimaryFence: a member's guard against a deposed primary. Every stripe-protocol call that
// changes or settles a cell (prepare, commit, abort, and the versions query a discovery
// starts with) carries the sending coordinator's map epoch and the stripe's PG
// (net::wire::CellAddress); the member knows the sending node from the authenticated
// session. Per PG, the member remembers the current *holder*: the node whose calls it
// admits, and the epoch from which that node holds the PG.
//
// Why: a primary that was cut off (stopped, partitioned, slow) keeps its old map and may
// still act on a write it had begun, or on a client request that reached it late, after a
// new primary took the PG over and wrote the stripe. A commit replaces every other version
// of the cell, so its late commit would replace the new primary's acknowledged version.
//
// Contract (per (fs, pg)):
//   - epoch 0 (readers, tests): admitted, changes nothing.
//   - From the holder at an epoch >= its tenure's first epoch: admitted; a higher epoch only
//     raises the newest epoch seen. (A primary's own writes in flight across a map change
//     carry the older epoch: they are its own, and must pass.)
//   - From another node at an epoch > the newest seen: that node becomes the holder from
//     this epoch; the call waits until every call admitted in the previous tenure has
//     finished (so what it does next, e.g. list versions, sees all of their effects and
//     none comes later), at most `drain_timeout`, else kUnavailable (the takeover stands; a
//     retry waits again).
//   - Anything else (another node at an epoch <= the newest seen, or the holder at an epoch
//     older than its tenure, i.e. a call from before it was deposed and came back):
//     kConflict, nothing changes.
//   - The ticket must live across the store operation it guards.
// Memory only: a restarted member admits the first caller of each PG.
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
        : entry_(std::exchange(other.entry_, nullptr)), tenure_(other.tenure_) {}
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Release(); }

   private:
    friend class PrimaryFence;
    Ticket(Entry* entry, uint64_t tenure) : entry_(entry), tenure_(tenure) {}
    void Release();
    Entry* entry_ = nullptr;
    uint64_t tenure_ = 0;
  };

  explicit PrimaryFence(Duration drain_timeout = std::chrono::seconds(5))
      : drain_timeout_(drain_timeout) {}
  PrimaryFence(const PrimaryFence&) = delete;
  PrimaryFence& operator=(const PrimaryFence&) = delete;

  // `node`: the calling node's name (the authenticated peer name, or this node's own).
  Result<Ticket> Admit(uint32_t fs_id, uint32_t pg, uint64_t epoch, const std::string& node);

  // The newest epoch seen for (fs, pg) and its holder; 0 and "" when none was.
  uint64_t Seen(uint32_t fs_id, uint32_t pg) const;
  std::string Holder(uint32_t fs_id, uint32_t pg) const;
  // Calls refused so far (for stats and tests).
  uint64_t refused() const;

 private:
  struct Entry {
    std::mutex mu;
    std::condition_variable drained;
    std::string holder;                 // guarded by mu
    uint64_t since = 0;                 // guarded by mu: the holder's first epoch
    uint64_t newest = 0;                // guarded by mu: newest epoch seen
    uint64_t tenure = 0;                // guarded by mu: bumped at each change of holder
    std::map<uint64_t, int> in_flight;  // guarded by mu: admitted calls per tenure
  };

  Entry* Find(uint32_t fs_id, uint32_t pg, bool create) const;

  const Duration drain_timeout_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<Entry>> entries_;  // mu_
  uint64_t refused_ = 0;  // guarded by mu_
};

}  // namespace cvfs::server
