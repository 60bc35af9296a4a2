#include "net/rpc/buffer_pool.h"

namespace cvfs::net::rpc {

Result<std::unique_ptr<BufferPool>> BufferPool::Create(fabric::FabricEndpoint& ep,
                                                       OpContext::Kind kind, size_t count,
                                                       size_t buffer_bytes) {
  std::unique_ptr<BufferPool> pool(new BufferPool());
  pool->ep_ = &ep;
  pool->kind_ = kind;
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

BufferPool::~BufferPool() {
  extra_mrs_.clear();
  mr_.reset();
}

Status BufferPool::AddSlot() {
  std::unique_ptr<char[]> slab(new char[buffer_bytes_]);
  CVFS_ASSIGN_OR_RETURN(std::unique_ptr<fabric::FabricMr> mr,
                        ep_->Register(slab.get(), buffer_bytes_));
  auto slot = std::make_unique<BufferSlot>(kind_);
  slot->data = slab.get();
  slot->capacity = buffer_bytes_;
  slot->desc = mr->desc();
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot.get());
    slots_.push_back(std::move(slot));
    extra_slabs_.push_back(std::move(slab));
    extra_mrs_.push_back(std::move(mr));
  }
  cv_.notify_one();
  return Status::Ok();
}

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
