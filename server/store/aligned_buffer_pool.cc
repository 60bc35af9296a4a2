#include "server/store/aligned_buffer_pool.h"

#include <cassert>
#include <cstdlib>
#include <utility>

namespace cvfs::server {

AlignedBuffer::~AlignedBuffer() { Release(); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      size_class_(other.size_class_) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    size_class_ = other.size_class_;
  }
  return *this;
}

void AlignedBuffer::Release() {
  if (data_ != nullptr) pool_->Return(data_, size_class_);
  data_ = nullptr;
  pool_ = nullptr;
  size_ = 0;
}

AlignedBufferPool::~AlignedBufferPool() {
  for (auto& list : idle_) {
    for (uint8_t* p : list) std::free(p);
  }
}

AlignedBuffer AlignedBufferPool::Acquire(size_t bytes) {
  int size_class = 0;
  while (size_class < kClasses - 1 && (kAlignment << size_class) < bytes) ++size_class;
  const size_t size = kAlignment << size_class;
  if (size < bytes) return AlignedBuffer();
  {
    std::lock_guard lock(mu_);
    auto& list = idle_[size_class];
    if (!list.empty()) {
      uint8_t* p = list.back();
      list.pop_back();
      idle_bytes_ -= size;
      return AlignedBuffer(this, p, size, size_class);
    }
  }
  void* p = nullptr;
  if (::posix_memalign(&p, kAlignment, size) != 0) return AlignedBuffer();
  return AlignedBuffer(this, static_cast<uint8_t*>(p), size, size_class);
}

void AlignedBufferPool::Return(uint8_t* data, int size_class) {
  {
    std::lock_guard lock(mu_);
    const size_t size = kAlignment << size_class;
    if (idle_bytes_ + size <= kMaxIdleBytes) {
      idle_[size_class].push_back(data);
      idle_bytes_ += size;
      return;
    }
  }
  std::free(data);
}

}  // namespace cvfs::server
