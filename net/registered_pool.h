// RegisteredBufferPool: page-aligned buffers registered for RMA once and reused, so the data
// path neither allocates nor registers memory per request once warm (registration costs tens
// of microseconds on tcp and far more on verbs).
//
// Buffers come in power-of-two size classes from kMinBufferBytes; Acquire(n) hands out a
// buffer of at least n bytes from the class free list, registering a new one when the list is
// empty. At most `max_free_per_class` buffers per class are kept when released; the rest are
// freed. A lease returns its buffer on destruction unless Discard()ed: a buffer an RMA may
// still land in after a timed-out call (a posted fi_read the provider completes later, a
// peer's late write) must be neither reused nor freed, or the late bytes corrupt whatever
// the allocator put there next. Discarded buffers stay allocated and registered in a
// quarantine, oldest released first beyond kMaxQuarantineBytes, the rest when the pool is
// destroyed (after its endpoint is shut down: no transfer can land any more).
// Thread-safety: Acquire and lease destruction are thread-safe. The pool must outlive its
// leases.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "net/rpc.h"

namespace cvfs::net {

class RegisteredBufferPool {
 public:
  static constexpr size_t kMinBufferBytes = 64 * 1024;
  static constexpr size_t kMaxBufferBytes = size_t{1} << 30;
  // Discarded buffers kept allocated; beyond this, the oldest are freed.
  static constexpr size_t kMaxQuarantineBytes = size_t{256} << 20;

  struct Buffer {
    std::unique_ptr<uint8_t, void (*)(void*)> memory{nullptr, nullptr};
    size_t size = 0;
    std::unique_ptr<MemoryRegion> region;
    int size_class = 0;
  };

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }

    uint8_t* data() const { return buffer_->memory.get(); }
    size_t size() const { return buffer_->size; }
    MemoryRegion& region() const { return *buffer_->region; }
    RemoteRegion remote() const { return buffer_->region->remote(); }
    explicit operator bool() const { return buffer_ != nullptr; }
    // Moves the buffer to the pool's quarantine instead of its free list: it is never handed
    // out again, and stays allocated (and registered) while a late transfer may land in it.
    void Discard();

   private:
    friend class RegisteredBufferPool;
    void Release();
    RegisteredBufferPool* pool_ = nullptr;
    std::unique_ptr<Buffer> buffer_;
  };

  RegisteredBufferPool(RpcEndpoint& endpoint, size_t max_free_per_class)
      : endpoint_(endpoint), max_free_per_class_(max_free_per_class) {}
  RegisteredBufferPool(const RegisteredBufferPool&) = delete;
  RegisteredBufferPool& operator=(const RegisteredBufferPool&) = delete;

  // A registered buffer of at least `bytes` bytes (contents unspecified). kInvalidArgument
  // above kMaxBufferBytes; the registration's error when registering fails.
  Result<Lease> Acquire(size_t bytes);

  // Registers `count` buffers of `bytes` up front (start-up, off the hot path).
  Status Reserve(size_t bytes, size_t count);

  uint64_t registrations() const;
  // Bytes of discarded buffers held in the quarantine.
  size_t quarantined_bytes() const;

 private:
  static int SizeClass(size_t bytes);
  Result<std::unique_ptr<Buffer>> NewBuffer(int size_class);
  void Return(std::unique_ptr<Buffer> buffer);
  void Quarantine(std::unique_ptr<Buffer> buffer);

  RpcEndpoint& endpoint_;
  const size_t max_free_per_class_;
  mutable std::mutex mu_;
  std::vector<std::vector<std::unique_ptr<Buffer>>> free_;  // guarded by mu_, by size class
  uint64_t registrations_ = 0;                              // guarded by mu_
  std::deque<std::unique_ptr<Buffer>> quarantine_;          // guarded by mu_, oldest first
  size_t quarantined_bytes_ = 0;                            // guarded by mu_
};

}  // namespace cvfs::net
