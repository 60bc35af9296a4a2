// Memory registration and one-sided transfers.
#include <rdma/fi_errno.h>

#include <cstring>
#include <thread>
#include <unordered_set>
#include <vector>

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
  const RmaSegment one{peer, local_offset, length, remote, remote_offset};
  return impl_->Rma(true, local, std::span<const RmaSegment>(&one, 1), deadline);
}

Status RpcEndpoint::RmaRead(PeerId peer, MemoryRegion& local, size_t local_offset, size_t length,
                            const RemoteRegion& remote, uint64_t remote_offset, Duration deadline) {
  const RmaSegment one{peer, local_offset, length, remote, remote_offset};
  return impl_->Rma(false, local, std::span<const RmaSegment>(&one, 1), deadline);
}

Status RpcEndpoint::RmaWriteBatch(const MemoryRegion& local, std::span<const RmaSegment> segments,
                                  Duration deadline) {
  return impl_->Rma(true, local, segments, deadline);
}

Status RpcEndpoint::RmaReadBatch(MemoryRegion& local, std::span<const RmaSegment> segments,
                                 Duration deadline) {
  return impl_->Rma(false, local, segments, deadline);
}

Status RpcEndpoint::Impl::Rma(bool write, const MemoryRegion& local,
                              std::span<const RmaSegment> segments, Duration deadline) {
  if (stopping_) return Status::Unavailable("rpc endpoint shut down");
  size_t total_bytes = 0;
  for (const RmaSegment& s : segments) {
    if (s.local_offset > local.size() || s.length > local.size() - s.local_offset) {
      return Status::InvalidArgument("local window exceeds the memory region");
    }
    if (s.remote_offset > s.remote.length || s.length > s.remote.length - s.remote_offset) {
      return Status::InvalidArgument("remote window exceeds the remote region");
    }
    total_bytes += s.length;
  }
  if (total_bytes == 0) return Status::Ok();
  const TimePoint until = Now() + deadline;
  const fabric::FabricMr& mr = local.fabric_mr();
  char* const base = static_cast<char*>(mr.data());
  const size_t chunk = std::min(kRmaChunkBytes, fabric_->max_message_size());
  // Writes ask for delivery completion only on the last chunk to each peer: a peer's
  // writes are placed in order (FabricEndpoint::PostWrite), so that one completion proves
  // every earlier chunk arrived, and the others complete at transmit (no ack round trip).
  std::vector<bool> last_to_peer(segments.size(), false);
  if (write) {
    std::unordered_set<PeerId> seen;
    for (size_t i = segments.size(); i-- > 0;) {
      if (segments[i].length > 0) last_to_peer[i] = seen.insert(segments[i].peer).second;
    }
  }
  auto batch = std::make_shared<rpc::RmaBatch>();
  const auto chrono_until = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(until.time_since_epoch()));
  // Waits until `ready()`: first driving progress on this thread (bounded: kCallerSpin plus
  // the time the bytes in flight take at ~1 GB/s), then on the condition variable while
  // the progress thread completes the chunks. False at the deadline.
  auto wait = [&](auto ready) {
    const auto spin =
        Impl::kCallerSpin + std::chrono::nanoseconds(std::min(total_bytes, kRmaWindow * chunk));
    if (DriveUntil(ready, std::min(std::chrono::steady_clock::now() + spin, chrono_until))) {
      return true;
    }
    std::unique_lock<std::mutex> lock(batch->mu);
    return batch->cv.wait_until(lock, chrono_until, ready);
  };
  for (size_t i = 0; i < segments.size(); ++i) {
    const RmaSegment& seg = segments[i];
    for (size_t done_bytes = 0; done_bytes < seg.length;) {
      if (batch->outstanding.load() >= kRmaWindow) {
        if (!wait([&] {
              return batch->outstanding.load() < kRmaWindow || batch->failed.load() ||
                     stopping_.load();
            })) {
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
      const size_t n = std::min(chunk, seg.length - done_bytes);
      const bool deliver = last_to_peer[i] && done_bytes + n == seg.length;
      char* local_ptr = base + seg.local_offset + done_bytes;
      auto* op = new rpc::RmaOp();
      op->batch = batch;
      const uint64_t raddr = seg.remote.address + seg.remote_offset + done_bytes;
      int rc;
      int backoff_us = 1;
      for (;;) {
        rc = write ? fabric_->PostWrite(seg.peer, local_ptr, n, mr.desc(), raddr, seg.remote.key,
                                        &op->storage, deliver)
                   : fabric_->PostRead(seg.peer, local_ptr, n, mr.desc(), raddr, seg.remote.key,
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
  }
  if (!wait([&] { return batch->outstanding.load() == 0 || stopping_.load(); })) {
    stats_.deadline_exceeded++;
    return Status::DeadlineExceeded("rma did not complete within the deadline");
  }
  std::lock_guard<std::mutex> lock(batch->mu);
  if (batch->outstanding != 0) return Status::Unavailable("rpc endpoint shut down");
  return batch->error;
}

}  // namespace cvfs::net
