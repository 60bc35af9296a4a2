#include "net/call_group.h"

#include <chrono>

namespace cvfs::net {

CallGroup::CallGroup(RpcEndpoint& endpoint, size_t slots)
    : endpoint_(endpoint), state_(std::make_shared<State>()), started_(slots, false) {
  state_->results.resize(slots);
}

void CallGroup::Start(size_t slot, PeerId peer, Method method, std::string payload,
                      Duration timeout) {
  started_[slot] = true;
  {
    std::lock_guard lock(state_->mu);
    ++state_->outstanding;
  }
  // The state is shared with the completion so a late completion never touches freed memory.
  endpoint_.CallAsync(peer, MethodId(method), std::move(payload), timeout,
                      [state = state_, slot](Result<std::string> r) {
                        bool last = false;
                        {
                          std::lock_guard lock(state->mu);
                          state->results[slot].emplace(std::move(r));
                          last = --state->outstanding == 0;
                        }
                        // Waiters wait for all: waking the owner once per member would
                        // cost it a context switch per completion for nothing.
                        if (last) state->cv.notify_all();
                      });
}

void CallGroup::Set(size_t slot, Result<std::string> result) {
  started_[slot] = true;
  std::lock_guard lock(state_->mu);
  state_->results[slot].emplace(std::move(result));
}

void CallGroup::Wait() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->outstanding == 0; });
}

bool CallGroup::WaitUntil(TimePoint until) {
  std::unique_lock lock(state_->mu);
  const auto steady = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(until.time_since_epoch()));
  return state_->cv.wait_until(lock, steady, [&] { return state_->outstanding == 0; });
}

bool CallGroup::done(size_t slot) const {
  std::lock_guard lock(state_->mu);
  return state_->results[slot].has_value();
}

}  // namespace cvfs::net
