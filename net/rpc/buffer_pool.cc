#include "net/rpc/buffer_pool.h"

namespace cvfs::net::rpc {

Result<std::unique_ptr<BufferPool>> BufferPool::Create(fabric::FabricEndpoint& ep,
                                                       OpContext::Kind kind, size_t count,
                                                       size_t buffer_bytes) {
  std::unique_ptr<BufferPool> pool(new BufferPool());
  pool->buffer_bytes_ = buffer_bytes;
  pool->slab_.reset(new char[count * buffer_bytes]);
  CVFS_ASSIGN_OR_RETURN(pool->mr_, ep.Register(pool->slab_.get(), count * buffer_bytes));
  for (size_t i = 0; i < count; ++i) {
    auto slot = std::make_unique<BufferSlot>(kind);
    slot->data = pool->slab_.get() + i * buffer_bytes;
    slot->capacity = buffer_bytes;
    slot->desc = pool->mr_->desc();
    pool->all_.push_back(slot.get());
    pool->free_.push_back(slot.get());
    pool->slots_.push_back(std::move(slot));
  }
  return pool;
}

BufferPool::~BufferPool() { mr_.reset(); }

BufferSlot* BufferPool::Acquire(TimePoint deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto chrono_deadline = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline.time_since_epoch()));
  if (!cv_.wait_until(lock, chrono_deadline, [this] { return closed_ || !free_.empty(); })) {
    return nullptr;
  }
  if (closed_) return nullptr;
  BufferSlot* slot = free_.back();
  free_.pop_back();
  return slot;
}

void BufferPool::Release(BufferSlot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot->request_id = 0;
    slot->unverified = false;
    free_.push_back(slot);
  }
  cv_.notify_one();
}

void BufferPool::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace cvfs::net::rpc
