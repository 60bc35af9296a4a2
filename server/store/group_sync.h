// GroupSync: makes data writes durable with shared fdatasync calls (group commit).
//
// A writer calls Sync() after its write completed. Sync() returns once a call of the sync
// function that STARTED after Sync() was entered has finished, so every write that completed
// before the call is covered. Concurrent callers share one sync: while one runs, later callers
// queue for the next, which one of them (the leader) performs for all of them; there is no
// sync thread, the leader is a caller.
//
// Errors are sticky: after the sync function fails once, every later Sync() fails with the
// same error. After a failed fdatasync the kernel may have dropped dirty pages and a later
// fdatasync can succeed without them having reached the disk, so no later success may be
// trusted until the store is reopened.
// Thread-safety: every method is thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "core/status.h"

namespace cvfs::server {

class GroupSync {
 public:
  // `sync` returns 0 or an errno value; `what` names the synced object in error messages.
  GroupSync(std::function<int()> sync, std::string what);

  // OK once a sync that started after this call has succeeded; kIoError when it (or any
  // earlier sync) failed.
  Status Sync();

  // Number of sync function calls so far.
  uint64_t syncs() const;

 private:
  const std::function<int()> sync_;
  const std::string what_;
  mutable std::mutex mu_;
  std::condition_variable done_;
  uint64_t started_ = 0;    // syncs started; guarded by mu_
  uint64_t completed_ = 0;  // highest sync finished (they run one at a time); guarded by mu_
  bool running_ = false;    // guarded by mu_
  int error_ = 0;           // first failure's errno, sticky; guarded by mu_
};

}  // namespace cvfs::server
