// Memory registration and one-sided transfers.
#include <rdma/fi_errno.h>

#include <cstring>
#include <thread>

#include "net/rpc/endpoint_impl.h"

namespace cvfs::net {

namespace {

TimePoint Now() { return Clock::System().Now(); }

void PutLe64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string RemoteRegion::Encode() const {
  std::string out(kEncodedSize, '\0');
  PutLe64(out.data(), address);
  PutLe64(out.data() + 8, key);
  PutLe64(out.data() + 16, length);
  return out;
}

Result<RemoteRegion> RemoteRegion::Decode(std::string_view bytes) {
  if (bytes.size() != kEncodedSize) {
    return Status::MalformedMessage("remote region must be 24 bytes");
  }
  RemoteRegion r;
  r.address = GetLe64(bytes.data());
  r.key = GetLe64(bytes.data() + 8);
  r.length = GetLe64(bytes.data() + 16);
  return r;
}

MemoryRegion::MemoryRegion(std::unique_ptr<fabric::FabricMr> mr) : mr_(std::move(mr)) {}
MemoryRegion::~MemoryRegion() = default;
void* MemoryRegion::data() const { return mr_->data(); }
size_t MemoryRegion::size() const { return mr_->size(); }
RemoteRegion MemoryRegion::remote() const {
  return RemoteRegion{mr_->remote_base(), mr_->key(), mr_->size()};
}

Result<std::unique_ptr<MemoryRegion>> RpcEndpoint::RegisterMemory(void* data, size_t length) {
  if (impl_->stopping_ || !impl_->fabric_) return Status::Unavailable("rpc endpoint shut down");
  CVFS_ASSIGN_OR_RETURN(auto mr, impl_->fabric_->Register(data, length));
  return std::unique_ptr<MemoryRegion>(new MemoryRegion(std::move(mr)));
}

Status RpcEndpoint::RmaWrite(PeerId peer, const MemoryRegion& local, size_t local_offset,
                             size_t length, const RemoteRegion& remote, uint64_t remote_offset,
                             Duration deadline) {
  return impl_->Rma(true, peer, local, local_offset, length, remote, remote_offset, deadline);
}

Status RpcEndpoint::RmaRead(PeerId peer, MemoryRegion& local, size_t local_offset, size_t length,
                            const RemoteRegion& remote, uint64_t remote_offset, Duration deadline) {
  return impl_->Rma(false, peer, local, local_offset, length, remote, remote_offset, deadline);
}

Status RpcEndpoint::Impl::Rma(bool write, PeerId peer, const MemoryRegion& local,
                              size_t local_offset, size_t length, const RemoteRegion& remote,
                              uint64_t remote_offset, Duration deadline) {
  if (stopping_) return Status::Unavailable("rpc endpoint shut down");
  if (local_offset > local.size() || length > local.size() - local_offset) {
    return Status::InvalidArgument("local window exceeds the memory region");
  }
  if (remote_offset > remote.length || length > remote.length - remote_offset) {
    return Status::InvalidArgument("remote window exceeds the remote region");
  }
  if (length == 0) return Status::Ok();
  const TimePoint until = Now() + deadline;
  const fabric::FabricMr& mr = local.fabric_mr();
  char* base = static_cast<char*>(mr.data()) + local_offset;
  const size_t chunk = std::min(kRmaChunkBytes, fabric_->max_message_size());
  auto batch = std::make_shared<rpc::RmaBatch>();
  size_t done_bytes = 0;
  const auto chrono_until = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(until.time_since_epoch()));
  // Waits until `ready()`: first driving progress on this thread (bounded: kCallerSpin plus
  // the time the bytes in flight take at ~1 GB/s), then on the condition variable while
  // the progress thread completes the chunks. False at the deadline.
  auto wait = [&](auto ready, size_t bytes_in_flight) {
    const auto spin = Impl::kCallerSpin + std::chrono::nanoseconds(bytes_in_flight);
    if (DriveUntil(ready, std::min(std::chrono::steady_clock::now() + spin, chrono_until))) {
      return true;
    }
    std::unique_lock<std::mutex> lock(batch->mu);
    return batch->cv.wait_until(lock, chrono_until, ready);
  };
  while (done_bytes < length) {
    if (batch->outstanding.load() >= kRmaWindow) {
      if (!wait(
              [&] {
                return batch->outstanding.load() < kRmaWindow || batch->failed.load() ||
                       stopping_.load();
              },
              std::min(length, kRmaWindow * chunk))) {
        stats_.deadline_exceeded++;
        return Status::DeadlineExceeded("rma did not complete within the deadline");
      }
    }
    {
      std::lock_guard<std::mutex> lock(batch->mu);
      if (!batch->error.ok()) return batch->error;
      if (stopping_) return Status::Unavailable("rpc endpoint shut down");
      batch->outstanding++;
    }
    const size_t n = std::min(chunk, length - done_bytes);
    auto* op = new rpc::RmaOp();
    op->batch = batch;
    const uint64_t raddr = remote.address + remote_offset + done_bytes;
    int rc;
    int backoff_us = 1;
    for (;;) {
      rc = write ? fabric_->PostWrite(peer, base + done_bytes, n, mr.desc(), raddr, remote.key,
                                      &op->storage)
                 : fabric_->PostRead(peer, base + done_bytes, n, mr.desc(), raddr, remote.key,
                                     &op->storage);
      if (rc != -FI_EAGAIN) break;
      if (Now() >= until || stopping_) break;
      // The provider queue is full: make progress here rather than wait for the
      // progress thread (which may be parked for a driver).
      std::unique_lock<std::mutex> poll_lock(poll_mu_, std::try_to_lock);
      if (!poll_lock.owns_lock() || PollOnce() == 0) {
        if (poll_lock.owns_lock()) poll_lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
        backoff_us = std::min(backoff_us * 2, 64);
      }
    }
    if (rc != 0) {
      delete op;
      std::lock_guard<std::mutex> lock(batch->mu);
      batch->outstanding--;
      if (rc == -FI_EAGAIN) {
        stats_.deadline_exceeded++;
        return Status::DeadlineExceeded("rma queue full until the deadline");
      }
      return Status::Unavailable(std::string(write ? "fi_write: " : "fi_read: ") +
                                 fi_strerror(-rc));
    }
    done_bytes += n;
  }
  if (!wait([&] { return batch->outstanding.load() == 0 || stopping_.load(); },
            std::min(length, kRmaWindow * chunk))) {
    stats_.deadline_exceeded++;
    return Status::DeadlineExceeded("rma did not complete within the deadline");
  }
  std::lock_guard<std::mutex> lock(batch->mu);
  if (batch->outstanding != 0) return Status::Unavailable("rpc endpoint shut down");
  return batch->error;
}

}  // namespace cvfs::net
