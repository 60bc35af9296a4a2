// StripeLocks: one mutex per stripe being written, so a primary serializes the writes (and
// recovery, and repair) of a stripe while writes to different stripes run in parallel.
// Entries exist only while held or waited for: memory is bounded by the stripes in flight.
// Thread-safety: thread-safe; a Guard is owned by one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

namespace cvfs::server {

struct StripeId {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t stripe = 0;
  auto operator<=>(const StripeId&) const = default;
};

class StripeLocks {
 public:
  class Guard {
   public:
    Guard(StripeLocks& locks, const StripeId& id);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    StripeLocks& locks_;
    StripeId id_;
  };

 private:
  struct Entry {
    bool held = false;
    int waiters = 0;
  };
  std::mutex mu_;
  std::condition_variable released_;
  std::map<StripeId, Entry> entries_;  // guarded by mu_
};

}  // namespace cvfs::server
