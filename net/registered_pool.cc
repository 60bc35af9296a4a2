#include "net/registered_pool.h"

#include <bit>
#include <cstdlib>
#include <cstring>

namespace cvfs::net {

RegisteredBufferPool::Lease& RegisteredBufferPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = other.pool_;
    buffer_ = std::move(other.buffer_);
    other.pool_ = nullptr;
  }
  return *this;
}

void RegisteredBufferPool::Lease::Release() {
  if (buffer_ != nullptr && pool_ != nullptr) pool_->Return(std::move(buffer_));
  buffer_.reset();
  pool_ = nullptr;
}

void RegisteredBufferPool::Lease::Discard() {
  if (buffer_ != nullptr && pool_ != nullptr) pool_->Quarantine(std::move(buffer_));
  buffer_.reset();
  pool_ = nullptr;
}

int RegisteredBufferPool::SizeClass(size_t bytes) {
  const size_t rounded = std::bit_ceil(std::max(bytes, kMinBufferBytes));
  return std::countr_zero(rounded) - std::countr_zero(kMinBufferBytes);
}

Result<std::unique_ptr<RegisteredBufferPool::Buffer>> RegisteredBufferPool::NewBuffer(
    int size_class) {
  auto buffer = std::make_unique<Buffer>();
  buffer->size = kMinBufferBytes << size_class;
  buffer->size_class = size_class;
  void* memory = std::aligned_alloc(4096, buffer->size);
  if (memory == nullptr) {
    return Status::ResourceExhausted("cannot allocate a " + std::to_string(buffer->size) +
                                     "-byte RMA buffer");
  }
  buffer->memory =
      std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(memory), std::free);
  CVFS_ASSIGN_OR_RETURN(buffer->region, endpoint_.RegisterMemory(memory, buffer->size));
  std::lock_guard lock(mu_);
  ++registrations_;
  return buffer;
}

Result<RegisteredBufferPool::Lease> RegisteredBufferPool::Acquire(size_t bytes) {
  if (bytes > kMaxBufferBytes) {
    return Status::InvalidArgument("RMA buffer of " + std::to_string(bytes) + " bytes requested");
  }
  const int size_class = SizeClass(bytes);
  Lease lease;
  lease.pool_ = this;
  {
    std::lock_guard lock(mu_);
    if (static_cast<int>(free_.size()) > size_class && !free_[size_class].empty()) {
      lease.buffer_ = std::move(free_[size_class].back());
      free_[size_class].pop_back();
      return lease;
    }
  }
  CVFS_ASSIGN_OR_RETURN(lease.buffer_, NewBuffer(size_class));
  return lease;
}

Status RegisteredBufferPool::Reserve(size_t bytes, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const int size_class = SizeClass(bytes);
    CVFS_ASSIGN_OR_RETURN(auto buffer, NewBuffer(size_class));
    Return(std::move(buffer));
  }
  return Status::Ok();
}

void RegisteredBufferPool::Return(std::unique_ptr<Buffer> buffer) {
  std::lock_guard lock(mu_);
  const auto size_class = static_cast<size_t>(buffer->size_class);
  if (free_.size() <= size_class) free_.resize(size_class + 1);
  if (free_[size_class].size() < max_free_per_class_) {
    free_[size_class].push_back(std::move(buffer));
  }
}

void RegisteredBufferPool::Quarantine(std::unique_ptr<Buffer> buffer) {
  std::vector<std::unique_ptr<Buffer>> released;  // freed outside the lock
  std::lock_guard lock(mu_);
  quarantined_bytes_ += buffer->size;
  quarantine_.push_back(std::move(buffer));
  while (quarantined_bytes_ > kMaxQuarantineBytes && quarantine_.size() > 1) {
    quarantined_bytes_ -= quarantine_.front()->size;
    released.push_back(std::move(quarantine_.front()));
    quarantine_.pop_front();
  }
}

size_t RegisteredBufferPool::quarantined_bytes() const {
  std::lock_guard lock(mu_);
  return quarantined_bytes_;
}

uint64_t RegisteredBufferPool::registrations() const {
  std::lock_guard lock(mu_);
  return registrations_;
}

}  // namespace cvfs::net
