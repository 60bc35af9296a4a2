// BufferPool: a fixed number of equal message buffers carved from one registered slab,
// allocated and registered once at start (no registration on the hot path).
// Thread-safety: Acquire/Release are thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "net/fabric/fabric_endpoint.h"
#include "net/rpc/op_context.h"

namespace cvfs::net::rpc {

class BufferPool {
 public:
  static Result<std::unique_ptr<BufferPool>> Create(fabric::FabricEndpoint& ep,
                                                    OpContext::Kind kind, size_t count,
                                                    size_t buffer_bytes);
  ~BufferPool();

  // A free slot, waiting until `deadline` or Close(); nullptr on timeout or close.
  BufferSlot* Acquire(TimePoint deadline);
  void Release(BufferSlot* slot);
  // Adds one freshly registered slot: replaces a slot the provider may still hold (an
  // orphaned send to a broken peer), which must then never be released into the pool.
  Status AddSlot();
  // Wakes and fails every waiting Acquire, now and later.
  void Close();

  std::vector<BufferSlot*> all() { return all_; }
  size_t buffer_bytes() const { return buffer_bytes_; }

 private:
  BufferPool() = default;
  fabric::FabricEndpoint* ep_ = nullptr;  // outlives the pool (the pool is owned by its user)
  OpContext::Kind kind_ = OpContext::Kind::kSend;
  size_t buffer_bytes_ = 0;
  std::unique_ptr<char[]> slab_;
  std::unique_ptr<fabric::FabricMr> mr_;  // destroyed before slab_
  std::vector<std::unique_ptr<BufferSlot>> slots_;
  std::vector<BufferSlot*> all_;
  // AddSlot's buffers (registered one by one); guarded by mu_.
  std::vector<std::unique_ptr<char[]>> extra_slabs_;
  std::vector<std::unique_ptr<fabric::FabricMr>> extra_mrs_;  // destroyed before extra_slabs_

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<BufferSlot*> free_;  // guarded by mu_
  bool closed_ = false;            // guarded by mu_
};

}  // namespace cvfs::net::rpc
