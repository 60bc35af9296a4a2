#include "server/store/io_ring.h"

#include <linux/fs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/logging.h"

namespace cvfs::server {

// One in-flight operation; lives on the submitter's stack until `done` is set.
struct IoRing::Request {
  std::atomic<int> done{0};
  int result = 0;
};

namespace {
constexpr uint64_t kStopToken = 1;  // user_data of the NOP that ends the reaper
}  // namespace

Result<std::unique_ptr<IoRing>> IoRing::Create(unsigned entries) {
  if (entries == 0) entries = 1;
  std::unique_ptr<IoRing> ring(new IoRing());
  const int rc = io_uring_queue_init(entries, &ring->ring_, 0);
  if (rc < 0) {
    return Status::IoError("io_uring_queue_init(" + std::to_string(entries) +
                           ") failed: " + std::strerror(-rc));
  }
  ring->entries_ = entries;
  ring->reaper_ = std::thread([r = ring.get()] { r->ReapLoop(); });
  return ring;
}

IoRing::~IoRing() {
  {
    std::unique_lock lock(mu_);
    slot_free_.wait(lock, [&] { return in_flight_ < entries_; });
    stopping_ = true;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kStopToken);
    io_uring_submit(&ring_);
  }
  reaper_.join();
  io_uring_queue_exit(&ring_);
}

void IoRing::ReapLoop() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    // Waiting consumes nothing, so it needs no lock; a submitter may drain the CQE first.
    const int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) {
      LOG_ERROR("store.io_ring.wait_failed error={}", std::strerror(-rc));
      continue;
    }
    if (DrainCompletions()) return;
  }
}

bool IoRing::DrainCompletions() {
  unsigned freed = 0;
  bool stop = false;
  {
    std::lock_guard cq_lock(cq_mu_);
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data == kStopToken) {
        stop = true;
        continue;
      }
      auto* req = reinterpret_cast<Request*>(data);
      req->result = cqe->res;
      req->done.store(1, std::memory_order_release);
      req->done.notify_one();
      ++freed;
    }
    io_uring_cq_advance(&ring_, seen);
  }
  if (freed > 0) {
    {
      std::lock_guard lock(mu_);
      in_flight_ -= freed;
    }
    slot_free_.notify_all();
  }
  return stop;
}

int IoRing::SubmitAndWait(bool write, int fd, void* buf, size_t length, uint64_t offset,
                          bool dsync) {
  Request req;
  {
    std::unique_lock lock(mu_);
    slot_free_.wait(lock, [&] { return in_flight_ < entries_ || stopping_; });
    if (stopping_) return -ECANCELED;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // SQ full of unsubmitted entries: flush and retry once
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) return -EAGAIN;
    }
    const unsigned len = static_cast<unsigned>(length);
    if (write) {
      io_uring_prep_write(sqe, fd, buf, len, offset);
      if (dsync) sqe->rw_flags = RWF_DSYNC;
    } else {
      io_uring_prep_read(sqe, fd, buf, len, offset);
    }
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(&req));
    const int rc = io_uring_submit(&ring_);
    if (rc < 0) {
      // The SQE stays queued and is retried by the next submit; reporting it failed here would
      // leave a dangling pointer, so wait for its completion like any other.
      LOG_WARN("store.io_ring.submit_failed error={}", std::strerror(-rc));
    }
    ++in_flight_;
  }
  // Requests served from the page cache complete inside io_uring_submit: reap them here and
  // skip two thread switches through the reaper.
  if (req.done.load(std::memory_order_acquire) == 0 && io_uring_cq_ready(&ring_) > 0) {
    DrainCompletions();
  }
  int expected = 0;
  while (req.done.load(std::memory_order_acquire) == 0) req.done.wait(expected);
  return req.result;
}

namespace {

// Transfers `length` bytes at `offset` through `op(p, chunk, offset)` (bytes moved or -errno),
// continuing short transfers and retrying -EAGAIN/-EINTR. Reads: end of file zero-fills the
// rest. Writes: a transfer of 0 bytes is -EIO.
template <typename Op>
int TransferFull(bool read, uint8_t* p, size_t length, uint64_t offset, const Op& op) {
  while (length > 0) {
    const size_t chunk = length < (size_t{1} << 30) ? length : (size_t{1} << 30);
    const int n = op(p, chunk, offset);
    if (n == -EAGAIN || n == -EINTR) continue;
    if (n < 0) return n;
    if (n == 0) {
      if (!read) return -EIO;
      std::memset(p, 0, length);  // end of file: the rest is a hole
      return 0;
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    length -= static_cast<size_t>(n);
  }
  return 0;
}

int Result(ssize_t n) { return n < 0 ? -errno : static_cast<int>(n); }

}  // namespace

int IoRing::ReadFull(int fd, void* buf, size_t length, uint64_t offset) {
  return TransferFull(true, static_cast<uint8_t*>(buf), length, offset,
                      [&](uint8_t* p, size_t n, uint64_t off) {
                        return SubmitAndWait(false, fd, p, n, off, false);
                      });
}

int IoRing::WriteFull(int fd, const void* buf, size_t length, uint64_t offset, bool dsync) {
  auto* p = static_cast<uint8_t*>(const_cast<void*>(buf));  // io_uring's prep is not const
  return TransferFull(false, p, length, offset, [&](uint8_t* q, size_t n, uint64_t off) {
    return SubmitAndWait(true, fd, q, n, off, dsync);
  });
}

int PreadFull(int fd, void* buf, size_t length, uint64_t offset) {
  return TransferFull(true, static_cast<uint8_t*>(buf), length, offset,
                      [&](uint8_t* p, size_t n, uint64_t off) {
                        return Result(::pread(fd, p, n, static_cast<off_t>(off)));
                      });
}

int PwriteFull(int fd, const void* buf, size_t length, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(const_cast<void*>(buf));
  return TransferFull(false, p, length, offset, [&](uint8_t* q, size_t n, uint64_t off) {
    return Result(::pwrite(fd, q, n, static_cast<off_t>(off)));
  });
}

}  // namespace cvfs::server
