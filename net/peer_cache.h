// PeerCache: one connected PeerId per fabric address, so the data path pays the Hello
// (MUNGE credential round trip) once per peer, not per request. A node that restarts
// registers a new address and so gets a new connection; a failed Connect is not cached.
// Thread-safety: thread-safe. Connect runs without the lock held, so a slow or dead peer
// never blocks lookups of others (two threads may connect to one new address at once;
// RpcEndpoint::Connect returns the same handle to both).
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "core/status.h"
#include "net/rpc.h"

namespace cvfs::net {

class PeerCache {
 public:
  explicit PeerCache(RpcEndpoint& endpoint) : endpoint_(endpoint) {}

  // The connected peer at `address`; connects (bounded by `timeout`) on a miss.
  // kUnavailable for an empty address or while the peer is held unresponsive;
  // Connect's error otherwise.
  Result<PeerId> Get(const std::string& address, Duration timeout);
  // Drops `address` (after the peer failed in a way a new Hello may fix).
  void Forget(const std::string& address);
  // Records that a call to `address` ran into its deadline (a dead or hung peer: sends to a
  // dead peer can block until the deadline). For `hold`, Get() fails fast with kUnavailable
  // instead of letting every caller wait again; afterwards the peer is tried anew. The hold
  // ends early once any message from the peer arrives after it began
  // (RpcEndpoint::LastHeardFrom): a peer that talks is running again, e.g. a node resumed
  // after a stop, whose resync must not wait out a hold taken while it was stopped.
  void MarkUnresponsive(const std::string& address, Duration hold);

 private:
  struct Hold {
    TimePoint since;
    TimePoint until;
  };

  RpcEndpoint& endpoint_;
  std::mutex mu_;
  std::unordered_map<std::string, PeerId> peers_;       // guarded by mu_
  std::unordered_map<std::string, Hold> unresponsive_;  // guarded by mu_
};

}  // namespace cvfs::net
