// AlignedBufferPool: 4096-aligned bounce buffers for O_DIRECT I/O, reused across calls so the
// hot path does not allocate. Buffers come in power-of-two size classes from 4 KiB to
// kMaxCellBytes; idle buffers are kept up to kMaxIdleBytes in all (the rest are freed on
// release), which bounds the pool's memory while letting many concurrent small I/Os reuse
// buffers instead of allocating (128 KiB and larger come from mmap in glibc: page faults).
// Thread-safety: Acquire and release (AlignedBuffer's destructor) are thread-safe; one
// AlignedBuffer is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace cvfs::server {

class AlignedBufferPool;

// A buffer of at least size() bytes, 4096-aligned; returned to its pool when destroyed.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  friend class AlignedBufferPool;
  AlignedBuffer(AlignedBufferPool* pool, uint8_t* data, size_t size, int size_class)
      : pool_(pool), data_(data), size_(size), size_class_(size_class) {}
  void Release();

  AlignedBufferPool* pool_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int size_class_ = 0;
};

class AlignedBufferPool {
 public:
  static constexpr size_t kAlignment = 4096;
  static constexpr size_t kMaxIdleBytes = 64 << 20;

  AlignedBufferPool() = default;
  ~AlignedBufferPool();
  AlignedBufferPool(const AlignedBufferPool&) = delete;
  AlignedBufferPool& operator=(const AlignedBufferPool&) = delete;

  // A buffer of at least `bytes` bytes (bytes <= 16 MiB); empty on allocation failure.
  AlignedBuffer Acquire(size_t bytes);

 private:
  friend class AlignedBuffer;
  static constexpr int kClasses = 13;  // 4 KiB << 0 .. 4 KiB << 12 (16 MiB)
  void Return(uint8_t* data, int size_class);

  std::mutex mu_;
  std::array<std::vector<uint8_t*>, kClasses> idle_;  // guarded by mu_
  size_t idle_bytes_ = 0;                             // guarded by mu_
};

}  // namespace cvfs::server
