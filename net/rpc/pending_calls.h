// PendingCalls: the calls this endpoint sent and still awaits, keyed by request id.
// Exactly one party Takes a call (reply, deadline, send failure or shutdown), so its
// completion runs exactly once.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace cvfs::net::rpc {

struct PendingCall {
  uint64_t peer = 0;
  TimePoint deadline;
  // Runs on the progress thread itself (cheap wake-ups of a blocked Call); otherwise the
  // completion is handed to the worker pool.
  bool complete_inline = false;
  std::function<void(Result<std::string>)> done;
  // A request to a peer this endpoint said Hello to keeps what it needs to be sent again
  // once if the peer answers kUnauthenticated (the peer is a new process at the same
  // address, which never saw our Hello): `method` and a copy of the payload. Empty
  // `resend_payload` with resendable == false otherwise (Hellos, resent calls).
  bool resendable = false;
  uint16_t method = 0;
  std::string resend_payload;
};

class PendingCalls {
 public:
  void Insert(uint64_t request_id, PendingCall call);
  std::optional<PendingCall> Take(uint64_t request_id);
  // Removes and returns the calls whose deadline is at or before `now`.
  std::vector<PendingCall> TakeExpired(TimePoint now);
  std::vector<PendingCall> TakeAll();
  // Removes and returns the calls sent to `peer`.
  std::vector<PendingCall> TakePeer(uint64_t peer);
  // The earliest deadline, if any call is pending.
  std::optional<TimePoint> NextDeadline() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, PendingCall> calls_;  // guarded by mu_
};

}  // namespace cvfs::net::rpc
