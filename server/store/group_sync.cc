#include "server/store/group_sync.h"

#include <cstring>
#include <utility>

#include "core/logging.h"

namespace cvfs::server {

GroupSync::GroupSync(std::function<int()> sync, std::string what)
    : sync_(std::move(sync)), what_(std::move(what)) {}

Status GroupSync::Sync() {
  std::unique_lock lock(mu_);
  // Syncs run one at a time and are numbered in start order: the one numbered started_ is
  // running or done, so the first to start after now is started_ + 1.
  const uint64_t target = started_ + 1;
  for (;;) {
    if (error_ != 0) {
      return Status::IoError("fdatasync of " + what_ + " failed: " + std::strerror(error_));
    }
    if (completed_ >= target) return Status::Ok();
    if (!running_) {
      // Lead: started_ == completed_ < target here, so this sync is number `target`.
      running_ = true;
      const uint64_t number = ++started_;
      lock.unlock();
      const int err = sync_();
      lock.lock();
      running_ = false;
      completed_ = number;
      if (err != 0 && error_ == 0) {
        error_ = err;
        LOG_ERROR("store.data_sync_failed file={} error={}", what_, std::strerror(err));
      }
      done_.notify_all();
      continue;
    }
    done_.wait(lock);
  }
}

uint64_t GroupSync::syncs() const {
  std::lock_guard lock(mu_);
  return started_;
}

}  // namespace cvfs::server
