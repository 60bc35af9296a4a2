// IoRing: one io_uring shared by every thread of a CellStore. Any thread submits a read or
// write at an offset and blocks until that request's own completion; a reaper thread drains
// the completion queue and wakes each waiter. Up to `entries` requests are in flight at once
// (further submitters wait), so the completion queue never overflows.
//
// ReadFull/WriteFull finish the whole range: short transfers are continued, -EAGAIN and
// -EINTR are resubmitted. They return 0 or a negative errno (the caller maps errno to a
// Status: ENOSPC means kNoSpace, EINVAL on O_DIRECT means "fall back to buffered").
// Thread-safety: every method is thread-safe; the destructor must not race with calls.
#pragma once

#include <liburing.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "core/status.h"

namespace cvfs::server {

class IoRing {
 public:
  // kIoError when the kernel refuses io_uring (disabled, too old, out of memory).
  static Result<std::unique_ptr<IoRing>> Create(unsigned entries);
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Reads `length` bytes at `offset` of `fd` into `buf`. Bytes past end of file read as
  // zeros (a hole in a sparse data file). 0 or -errno.
  int ReadFull(int fd, void* buf, size_t length, uint64_t offset);
  // Writes `length` bytes of `buf` at `offset`; `dsync`: RWF_DSYNC (durable on return).
  // 0 or -errno; on error an unknown prefix of the range may have been written.
  int WriteFull(int fd, const void* buf, size_t length, uint64_t offset, bool dsync);

 private:
  struct Request;
  IoRing() = default;
  // Submits one operation and waits for its completion; returns the CQE result.
  int SubmitAndWait(bool write, int fd, void* buf, size_t length, uint64_t offset, bool dsync);
  void ReapLoop();
  // Completes every CQE ready now (wakes their waiters, frees their slots); true when the
  // stop token was among them.
  bool DrainCompletions();

  io_uring ring_{};
  unsigned entries_ = 0;
  std::thread reaper_;

  std::mutex cq_mu_;  // serializes consumers of the completion queue
  std::mutex mu_;     // guards the submission queue, in_flight_ and stopping_
  std::condition_variable slot_free_;
  unsigned in_flight_ = 0;
  bool stopping_ = false;
};

// The same transfers done synchronously by the calling thread (pread/pwrite): one system
// call per request and no thread switch, which is what a caller that blocks until its
// request completes wants (CellStore's default; see server/store/README.md for the
// figures). Same results as IoRing::ReadFull/WriteFull (without dsync).
int PreadFull(int fd, void* buf, size_t length, uint64_t offset);
int PwriteFull(int fd, const void* buf, size_t length, uint64_t offset);

}  // namespace cvfs::server
