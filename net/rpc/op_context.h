// Completion contexts of the RPC layer. Every operation posted to the fabric carries a
// pointer to one of these; `storage` comes first so the provider's context pointer is
// the object's address.
// Thread-safety: a context belongs to the fabric from post to completion, then to the
// progress thread that handles the completion.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/clock.h"
#include "core/status.h"
#include "net/fabric/fabric_endpoint.h"

namespace cvfs::net::rpc {

struct OpContext {
  enum class Kind : uint8_t { kRecv, kSend, kRma };
  fabric::OpContextStorage storage;  // must stay the first member
  Kind kind;
  explicit OpContext(Kind k) : storage{}, kind(k) {}
};

// One receive or send buffer inside a registered slab.
struct BufferSlot : OpContext {
  using OpContext::OpContext;
  char* data = nullptr;
  size_t capacity = 0;
  void* desc = nullptr;
  uint64_t request_id = 0;  // send slots: the call to fail if the send fails (0: none)
  bool unverified = false;  // send slots: an error reply to an address only claimed
  // Send slots, from post to completion (guarded by RpcEndpoint::Impl::tx_mu_): the
  // destination, and when a send still not completed means its peer stopped taking messages.
  uint64_t dest = 0;
  TimePoint stall_at;
  // Set when its peer broke with this send still in the provider: the slot was
  // replaced in the pool and is released (if ever) only by its own completion.
  bool orphaned = false;
  bool replaced = false;  // orphaned and a replacement slot joined the pool
};

// Tracks the chunks of one RmaRead/RmaWrite; shared by the caller and every chunk.
// `outstanding` is written under mu (so cv waiters miss no change) and read without it by
// a caller that drives progress.
struct RmaBatch {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> outstanding{0};
  std::atomic<bool> failed{false};  // error is set
  Status error;                     // guarded by mu: the first failure
};

struct RmaOp : OpContext {
  RmaOp() : OpContext(Kind::kRma) {}
  std::shared_ptr<RmaBatch> batch;
};

}  // namespace cvfs::net::rpc
