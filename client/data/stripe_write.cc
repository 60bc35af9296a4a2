// DataObjectClient::Write: one WriteStripe per stripe to its primary, a window of
// max_stripes_in_flight in flight, retries of kUnavailable / timed-out stripes with a fresh
// map and backoff until the call's deadline.
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "client/data/data_object_client.h"
#include "core/logging.h"
#include "net/wire/data_messages.h"

namespace cvfs::client {

namespace wire = net::wire;

namespace {

// Completions of one Write call, filled by the endpoint's threads.
struct WriteCompletions {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<size_t, Status>> done;  // guarded by mu: (stripe index, result)
};

}  // namespace

Status DataObjectClient::Write(uint64_t inode, uint64_t offset, std::span<const std::byte> data) {
  if (data.empty()) return Status::Ok();
  const TimePoint deadline = Clock::System().Now() + options_.deadline;
  MapSnapshot snapshot = Snapshot();
  if (snapshot.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
  const uint32_t fs_id = snapshot.fs->id;
  const auto stripes = SplitObjectRange(snapshot.fs->geometry, offset, data.size());

  // The bytes the primaries pull: a pooled copy for small writes, else the caller's buffer.
  net::RegisteredBufferPool::Lease copy;
  std::unique_ptr<net::MemoryRegion> registered;
  net::MemoryRegion* source = nullptr;
  if (data.size() <= kWriteCopyThreshold) {
    CVFS_ASSIGN_OR_RETURN(copy, pool_->Acquire(data.size()));
    std::memcpy(copy.data(), data.data(), data.size());
    source = &copy.region();
  } else {
    CVFS_ASSIGN_OR_RETURN(
        registered, endpoint_->RegisterMemory(const_cast<std::byte*>(data.data()), data.size()));
    source = registered.get();
  }

  auto completions = std::make_shared<WriteCompletions>();
  std::deque<size_t> waiting;
  for (size_t i = 0; i < stripes.size(); ++i) waiting.push_back(i);
  std::vector<int> attempts(stripes.size(), 0);
  std::vector<std::optional<NodeId>> primaries(stripes.size());  // of the last attempt
  std::vector<TimePoint> not_before(stripes.size(), TimePoint{});
  size_t in_flight = 0, finished = 0;
  bool abandoned_call = false;  // a call failed or timed out: its primary may still pull
  Status failure;

  auto issue = [&](size_t i) -> Status {
    const StripeExtent& e = stripes[i];
    MapSnapshot now = Snapshot();
    if (now.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
    CVFS_ASSIGN_OR_RETURN(StripeRoute route, RouteStripe(*now.map, *now.fs, inode, e.stripe));
    CVFS_RETURN_IF_ERROR(route.CheckWritable());
    primaries[i] = route.member(route.primary).node;
    auto peer = PeerOf(now, *primaries[i], deadline);
    if (!peer.ok()) {
      ++in_flight;  // completes at once, like a call that failed
      std::lock_guard lock(completions->mu);
      completions->done.emplace_back(i, peer.status());
      return Status::Ok();
    }
    wire::WriteStripeRequest request;
    request.fs_id = fs_id;
    request.inode = inode;
    request.stripe = e.stripe;
    request.offset_in_stripe = e.offset_in_stripe;
    request.length = static_cast<uint32_t>(e.length);
    request.source = source->remote();
    request.source_offset = e.buffer_offset;
    request.epoch = now.map->epoch.value;
    const Duration left = deadline - Clock::System().Now();
    ++in_flight;
    if (stripes.size() == 1) {
      // One stripe: a synchronous Call drives progress on this thread (no hand-offs).
      auto reply =
          endpoint_->Call(*peer, net::Method::kWriteStripe, wire::EncodeWriteStripeRequest(request),
                          std::min<Duration>(left, kAttemptTimeout));
      Status st = reply.status();
      if (st.ok()) st = wire::DecodeWriteStripeReply(*reply).status();
      std::lock_guard lock(completions->mu);
      completions->done.emplace_back(i, std::move(st));
      return Status::Ok();
    }
    endpoint_->CallAsync(
        *peer, net::MethodId(net::Method::kWriteStripe), wire::EncodeWriteStripeRequest(request),
        std::min<Duration>(left, kAttemptTimeout), [completions, i](Result<std::string> reply) {
          Status st = reply.status();
          if (st.ok()) st = wire::DecodeWriteStripeReply(*reply).status();
          {
            std::lock_guard lock(completions->mu);
            completions->done.emplace_back(i, std::move(st));
          }
          completions->cv.notify_all();
        });
    return Status::Ok();
  };

  while (finished < stripes.size()) {
    // Start what the window allows (stripes waiting for their backoff stay queued).
    const TimePoint now = Clock::System().Now();
    for (size_t n = waiting.size();
         failure.ok() && n > 0 && in_flight < static_cast<size_t>(options_.max_stripes_in_flight);
         --n) {
      const size_t i = waiting.front();
      waiting.pop_front();
      if (not_before[i] > now) {
        waiting.push_back(i);
        continue;
      }
      if (Status st = issue(i); !st.ok()) {
        failure = st;
        ++finished;
      }
    }
    if (!failure.ok() && in_flight == 0) break;
    std::pair<size_t, Status> done;
    {
      std::unique_lock lock(completions->mu);
      const auto wake = std::chrono::steady_clock::now() + kFirstBackoff;
      completions->cv.wait_until(lock, wake, [&] { return !completions->done.empty(); });
      if (completions->done.empty()) continue;
      done = std::move(completions->done.front());
      completions->done.pop_front();
    }
    const auto [i, st] = std::move(done);
    --in_flight;
    if (st.ok()) {
      ++finished;
      continue;
    }
    abandoned_call = true;
    if (st.code() == ErrorCode::kDeadlineExceeded && primaries[i].has_value()) {
      MarkUnresponsive(Snapshot(), *primaries[i]);
    }
    if (failure.ok() && IsRetryable(st) && Clock::System().Now() + kFirstBackoff < deadline) {
      ++attempts[i];
      counters_.write_retries++;
      const auto backoff =
          std::min<Duration>(kFirstBackoff * (1 << std::min(attempts[i], 5)), kMaxBackoff);
      not_before[i] = Clock::System().Now() + backoff;
      LOG_DEBUG("client.write_retry inode={} stripe={} attempt={} error=\"{}\"", inode,
                stripes[i].stripe, attempts[i], st.ToString());
      waiting.push_back(i);
      continue;
    }
    ++finished;
    if (failure.ok()) {
      failure =
          IsRetryable(st)
              ? Status::DeadlineExceeded("write of inode " + std::to_string(inode) + " stripe " +
                                         std::to_string(stripes[i].stripe) +
                                         " not done by the deadline; last error: " + st.ToString())
              : st;
    }
  }
  // Wait for calls still in flight after a failure: their primaries read our memory.
  while (in_flight > 0) {
    std::unique_lock lock(completions->mu);
    completions->cv.wait(lock, [&] { return !completions->done.empty(); });
    completions->done.pop_front();
    --in_flight;
  }
  if (abandoned_call && copy) copy.Discard();
  if (!failure.ok()) return failure;
  counters_.writes++;
  counters_.bytes_written += data.size();
  return Status::Ok();
}

}  // namespace cvfs::client
