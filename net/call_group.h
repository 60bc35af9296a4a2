// CallGroup: a fan-out of asynchronous calls (RpcEndpoint::CallAsync) whose results are
// collected into slots and awaited together: how a stripe's primary prepares all members in
// parallel and how a client reads all cells of a stripe at once.
//
// Contract: Start() each slot at most once; Wait() returns once every started call has
// completed (each call is bounded by its own deadline, so Wait is too). Results stay in
// their slot until the group is destroyed. The group may be destroyed with calls still
// outstanding (a caller that gave up on a slow call): their completions land in state the
// group shares with them, never in freed memory. The caller must then make sure no late
// RMA can reach memory it reuses (deregister or discard the target buffer).
// Thread-safety: Start and Wait from one owner thread; completions arrive on the
// endpoint's threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "net/rpc.h"

namespace cvfs::net {

class CallGroup {
 public:
  CallGroup(RpcEndpoint& endpoint, size_t slots);
  CallGroup(const CallGroup&) = delete;
  CallGroup& operator=(const CallGroup&) = delete;
  ~CallGroup() = default;

  void Start(size_t slot, PeerId peer, Method method, std::string payload, Duration timeout);
  // Records a result computed without a call (a local operation, a failed Connect).
  void Set(size_t slot, Result<std::string> result);
  // Blocks until every started call completed.
  void Wait();
  // Blocks until every started call completed or `until` passed; true when all completed.
  bool WaitUntil(TimePoint until);

  bool started(size_t slot) const { return started_[slot]; }
  // The slot's result; valid after Wait() for a started or Set slot.
  const Result<std::string>& result(size_t slot) const { return *state_->results[slot]; }
  bool done(size_t slot) const;

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<Result<std::string>>> results;  // guarded by mu
    size_t outstanding = 0;                                   // guarded by mu
  };
  RpcEndpoint& endpoint_;
  std::shared_ptr<State> state_;
  std::vector<bool> started_;
};

}  // namespace cvfs::net
