// RpcEndpoint lifecycle, the progress thread and the send path.
#include <rdma/fi_errno.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <thread>

#include "core/logging.h"
#include "net/fabric/address.h"
#include "net/rpc/endpoint_impl.h"

namespace cvfs::net {

namespace {

TimePoint Now() { return Clock::System().Now(); }

// After any completion the progress thread keeps polling this long before it blocks
// (measured: 100 us cost 5x in tcp round-trip latency, every wake-up is a thread hop):
// replies to calls just sent usually arrive within it, which saves a wake-up.
// Upper bound on a blocking wait: how late a deadline may be noticed by the progress thread.
constexpr int kMaxWaitMs = 10;
constexpr auto kExpiryScanInterval = std::chrono::milliseconds(1);

// Depth of HandleCompletion on this thread. A send made while handling a completion must
// not wait for a free buffer: that thread may be the only one reaping send completions.
thread_local int tl_completion_depth = 0;

struct InCompletionScope {
  InCompletionScope() { ++tl_completion_depth; }
  ~InCompletionScope() { --tl_completion_depth; }
  InCompletionScope(const InCompletionScope&) = delete;
  InCompletionScope& operator=(const InCompletionScope&) = delete;
};

}  // namespace

RpcEndpoint::RpcEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RpcEndpoint::~RpcEndpoint() { Shutdown(); }

Result<std::unique_ptr<RpcEndpoint>> RpcEndpoint::Create(RpcOptions options) {
  auto impl = std::make_unique<Impl>();
  CVFS_RETURN_IF_ERROR(impl->Init(std::move(options)));
  return std::unique_ptr<RpcEndpoint>(new RpcEndpoint(std::move(impl)));
}

const std::string& RpcEndpoint::address() const { return impl_->address_; }
const std::string& RpcEndpoint::provider() const { return impl_->options_.provider; }
const RpcOptions& RpcEndpoint::options() const { return impl_->options_; }

void RpcEndpoint::RegisterHandler(uint16_t method, RpcHandler handler, HandlerMode mode) {
  auto entry = std::make_shared<const HandlerEntry>(HandlerEntry{std::move(handler), mode});
  std::unique_lock lock(impl_->handlers_mu_);
  impl_->handlers_[method] = std::move(entry);
}

void RpcEndpoint::Shutdown() { impl_->Shutdown(); }

RpcStats RpcEndpoint::stats() const {
  const AtomicStats& s = impl_->stats_;
  RpcStats out;
  out.calls_sent = s.calls_sent.load();
  out.replies_received = s.replies_received.load();
  out.requests_served = s.requests_served.load();
  out.replies_sent = s.replies_sent.load();
  out.error_replies_sent = s.error_replies_sent.load();
  out.malformed_messages = s.malformed_messages.load();
  out.auth_failures = s.auth_failures.load();
  out.unknown_method = s.unknown_method.load();
  out.deadline_exceeded = s.deadline_exceeded.load();
  out.late_replies = s.late_replies.load();
  out.overload_rejections = s.overload_rejections.load();
  out.send_errors = s.send_errors.load();
  out.hellos_accepted = s.hellos_accepted.load();
  out.sessions_renewed = s.sessions_renewed.load();
  out.peers_broken = impl_->peers_broken_.load();
  return out;
}

TimePoint RpcEndpoint::LastHeardFrom(PeerId peer) const {
  std::lock_guard<std::mutex> lock(impl_->peers_mu_);
  auto it = impl_->last_heard_.find(peer);
  return it == impl_->last_heard_.end() ? TimePoint{} : it->second;
}

Status RpcEndpoint::SendRawForTesting(PeerId peer, std::string_view bytes) {
  return impl_->SendBytes(peer, bytes, 0, Now() + impl_->options_.default_deadline);
}

void RpcEndpoint::DeliverForTesting(std::string_view bytes) {
  impl_->OnMessage(bytes, fabric::kNoAddress);
}

Status RpcEndpoint::Impl::Init(RpcOptions options) {
  if (options.handler_threads < 1 || options.coordinator_threads < 0 || options.step_threads < 0 ||
      options.max_message_bytes == 0 || options.max_message_bytes > (64u << 20) ||
      options.max_queued_requests == 0) {
    return Status::InvalidArgument("rpc options out of range");
  }
  options_ = std::move(options);
  if (const char* spin = getenv("CVFS_PROGRESS_SPIN_US")) {
    options_.progress_spin_us = std::max(0, atoi(spin));
  }
  if (options_.progress_spin_us < 0) return Status::InvalidArgument("progress_spin_us < 0");
  spin_after_activity_ = std::chrono::microseconds(options_.progress_spin_us);
  fabric::FabricOptions fo;
  fo.provider = options_.provider;
  fo.host = options_.host;
  fo.port = options_.port;
  CVFS_ASSIGN_OR_RETURN(fabric_, fabric::FabricEndpoint::Open(fo));
  address_ = fabric::FormatAddress(options_.provider, fabric_->name());
  const size_t buffer_bytes = options_.max_message_bytes + kEnvelopeOverhead;
  CVFS_ASSIGN_OR_RETURN(
      recv_pool_, BufferPool::Create(*fabric_, OpContext::Kind::kRecv, kRecvBuffers, buffer_bytes));
  CVFS_ASSIGN_OR_RETURN(
      send_pool_, BufferPool::Create(*fabric_, OpContext::Kind::kSend, kSendBuffers, buffer_bytes));
  for (rpc::BufferSlot* slot : recv_pool_->all()) {
    int rc = fabric_->PostRecv(slot->data, slot->capacity, slot->desc, &slot->storage);
    if (rc != 0) return Status::Unavailable(std::string("fi_recv: ") + fi_strerror(-rc));
  }
  handlers_[MethodId(Method::kPing)] = std::make_shared<const HandlerEntry>(HandlerEntry{
      [](const RpcContext&, std::string_view p) { return Result<std::string>(std::string(p)); },
      HandlerMode::kInline});
  workers_ =
      std::make_unique<rpc::WorkerPool>(options_.handler_threads, options_.max_queued_requests);
  if (options_.coordinator_threads > 0) {
    coordinators_ = std::make_unique<rpc::WorkerPool>(options_.coordinator_threads,
                                                      options_.max_queued_requests);
  }
  if (options_.step_threads > 0) {
    steps_ = std::make_unique<rpc::WorkerPool>(options_.step_threads, options_.max_queued_requests);
  }
  progress_ = std::thread([this] { ProgressLoop(); });
  LOG_INFO("rpc.endpoint_open name={} provider={} address={}", options_.name, options_.provider,
           address_);
  return Status::Ok();
}

void RpcEndpoint::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    // Sends still in the provider (replies just posted, orphans to a peer that came back)
    // are given a bounded moment to complete while progress still runs: libfabric 1.17's
    // rxm over tcp closed with sends outstanding crashed in fi_close now and then
    // (net_fault_test, "a stopped peer's stuck sends ...", about 1 run in 12).
    {
      const auto until = std::chrono::steady_clock::now() + kShutdownDrain;
      std::unique_lock<std::mutex> lock(tx_mu_);
      while ((!in_flight_.empty() || orphans_ > 0) && std::chrono::steady_clock::now() < until) {
        tx_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      if (!in_flight_.empty() || orphans_ > 0) {
        LOG_WARN("rpc.shutdown_with_sends name={} sends_in_provider={} orphans={}", options_.name,
                 in_flight_.size(), orphans_);
      }
    }
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(park_mu_);
      park_cv_.notify_all();
    }
    if (fabric_) fabric_->Wake();
    if (progress_.joinable()) progress_.join();
    // Drivers see stopping_ and leave within one poll; none may touch the fabric after this.
    while (drivers_.load() > 0) std::this_thread::yield();
    if (send_pool_) send_pool_->Close();
    if (coordinators_) coordinators_->Stop();
    if (steps_) steps_->Stop();
    if (workers_) workers_->Stop();
    for (PendingCall& call : pending_.TakeAll()) {
      if (call.done) call.done(Status::Unavailable("rpc endpoint shut down"));
    }
    // Posted receives and sends reference the pools: close the fabric endpoint first
    // unless a MemoryRegion still holds it, in which case the pools must outlive it too.
    if (fabric_ && options_.provider == "shm") {
      // libfabric 1.17 shm: another endpoint of this process that still has traffic with
      // this one dereferences our shared-memory region from its own progress thread after
      // we close it (SIGSEGV). Keep the endpoint and its buffers mapped until process exit:
      // a bounded leak (one region per endpoint ever created) instead of a crash.
      new std::shared_ptr<fabric::FabricEndpoint>(std::move(fabric_));
      recv_pool_.release();
      send_pool_.release();
    } else if (fabric_ && fabric_.use_count() == 1) {
      fabric_.reset();
      recv_pool_.reset();
      send_pool_.reset();
    }
  });
}

RpcEndpoint::Impl::~Impl() {
  // Shutdown left the fabric endpoint open when memory regions still held it, and the pools'
  // own regions always do: its receives (and unfinished sends) are still posted in the pools,
  // and closing it can place received bytes in them. Members die in reverse order, pools
  // before fabric_, so close the endpoint now, before the pools' memory is freed.
  if (fabric_) fabric_->CloseEndpoint();
}

void RpcEndpoint::Impl::WakeProgressThread() {
  if (parked_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(park_mu_);
    park_cv_.notify_one();
  }
}

int RpcEndpoint::Impl::PollOnce() {
  int handled = 0;
  if (have_deferred_.load(std::memory_order_acquire)) {
    std::vector<fabric::Completion> later;
    {
      std::lock_guard<std::mutex> lock(deferred_mu_);
      later.swap(deferred_);
      have_deferred_ = false;
    }
    for (const auto& c : later) HandleCompletion(c);
    handled += static_cast<int>(later.size());
  }
  fabric::Completion batch[32];
  const int n = fabric_->Poll(batch, 32, 0);
  for (int i = 0; i < n; ++i) HandleCompletion(batch[i]);
  return handled + n;
}

void RpcEndpoint::Impl::ProgressLoop() {
  fabric::Completion batch[32];
  auto last_activity = Now();
  auto last_scan = Now();
  auto last_stall_scan = Now();
  int idle_sleep_us = 1;
  while (!stopping_) {
    if (drivers_.load(std::memory_order_acquire) > 0) {
      // A caller is polling the queue itself: stay off the CPU until it leaves.
      std::unique_lock<std::mutex> lock(park_mu_);
      parked_ = true;
      park_cv_.wait_for(lock, kParkInterval, [this] { return stopping_ || drivers_.load() == 0; });
      parked_ = false;
      // A driver was just active: more traffic is likely (or the driver gave up and wants
      // this thread to take over at once), so spin rather than resume a long back-off.
      last_activity = Now();
      idle_sleep_us = 1;
    } else {
      const auto now = Now();
      int timeout_ms = 0;
      const bool spinning = now - last_activity < spin_after_activity_;
      const bool block = !spinning && options_.progress_poll_us == 0 && fabric_->can_wait();
      if (block) timeout_ms = kMaxWaitMs;
      int n = 0;
      if (have_deferred_.load(std::memory_order_acquire)) n += PollOnce();
      bool woke = false;
      const int got = fabric_->Poll(batch, 32, timeout_ms, &woke);
      for (int i = 0; i < got; ++i) HandleCompletion(batch[i]);
      n += got;
      // `woke`: the provider had traffic without a completion for us (RMA targeting this
      // endpoint): spin after it too, so a series of RMAs does not pay a wake-up each.
      if (n > 0 || woke) {
        last_activity = Now();
        idle_sleep_us = 1;
      } else if (!spinning && !block) {
        // Polling mode (or a provider without a wait object): back off up to the limit.
        const int limit = options_.progress_poll_us > 0 ? options_.progress_poll_us : 2000;
        std::this_thread::sleep_for(std::chrono::microseconds(idle_sleep_us));
        idle_sleep_us = std::min(limit, idle_sleep_us * 2);
      }
    }
    const auto after = Now();
    if (after - last_stall_scan >= kStallScanInterval) {
      last_stall_scan = after;
      ScanStalledSends(after);
    }
    if (after - last_scan >= kExpiryScanInterval) {
      last_scan = after;
      for (PendingCall& call : pending_.TakeExpired(after)) {
        stats_.deadline_exceeded++;
        CompleteCall(std::move(call), Status::DeadlineExceeded("no reply within the deadline"));
      }
    }
  }
}

void RpcEndpoint::Impl::HandleCompletion(const fabric::Completion& c) {
  auto* op = reinterpret_cast<rpc::OpContext*>(c.context);
  if (op == nullptr) return;
  InCompletionScope scope;
  switch (op->kind) {
    case rpc::OpContext::Kind::kRecv: {
      auto* slot = static_cast<rpc::BufferSlot*>(op);
      // Decoding copies every field out, so the buffer can be reposted right after.
      wire::EnvelopeFields env;
      Status decoded = Status::Ok();
      if (c.error == 0) {
        decoded = wire::DecodeEnvelope(
            std::string_view(slot->data, std::min(c.length, slot->capacity)), &env);
      }
      if (!stopping_) {
        int rc;
        while ((rc = fabric_->PostRecv(slot->data, slot->capacity, slot->desc, &slot->storage)) ==
               -FI_EAGAIN) {
          fabric::Completion more[1];
          if (fabric_->Poll(more, 1, 0) == 1) HandleCompletion(more[0]);
        }
        if (rc != 0) LOG_ERROR("rpc.repost_failed error={}", fi_strerror(-rc));
      }
      if (c.error != 0) {
        // Truncated (larger than a receive buffer) or otherwise broken message.
        NoteMalformed(
            Status::MalformedMessage(std::string("receive failed: ") + fi_strerror(c.error)),
            fabric::kNoAddress);
        return;
      }
      Dispatch(std::move(env), decoded, c.source);
      return;
    }
    case rpc::OpContext::Kind::kSend: {
      auto* slot = static_cast<rpc::BufferSlot*>(op);
      const uint64_t request_id = slot->request_id;
      if (slot->unverified) unverified_in_flight_--;
      // An orphan's call was failed when its peer broke; a replaced orphan stays out of
      // the pool (its replacement took its place).
      if (NoteSendDone(slot, c.error)) send_pool_->Release(slot);
      if (c.error != 0) {
        stats_.send_errors++;
        if (request_id != 0) {
          if (auto call = pending_.Take(request_id)) {
            CompleteCall(std::move(*call),
                         Status::Unavailable(std::string("send failed: ") + fi_strerror(c.error)));
          }
        }
      }
      return;
    }
    case rpc::OpContext::Kind::kRma: {
      auto* rma = static_cast<rpc::RmaOp*>(op);
      {
        std::lock_guard<std::mutex> lock(rma->batch->mu);
        if (c.error != 0 && rma->batch->error.ok()) {
          rma->batch->error =
              Status::Unavailable(std::string("rma failed: ") + fi_strerror(c.error));
          rma->batch->failed = true;
        }
        rma->batch->outstanding--;
      }
      rma->batch->cv.notify_all();
      delete rma;
      return;
    }
  }
}

Status RpcEndpoint::Impl::SendEnvelope(uint64_t dest, const wire::EnvelopeFields& fields,
                                       TimePoint deadline, bool unverified) {
  return SendEnvelope(dest, fields, fields.payload, deadline, unverified);
}

Status RpcEndpoint::Impl::SendEnvelope(uint64_t dest, const wire::EnvelopeFields& fields,
                                       std::string_view payload, TimePoint deadline,
                                       bool unverified) {
  // A view into this thread's builder: SendBytes copies it into the registered send slot
  // before anything on this thread can encode again.
  const std::string_view bytes = wire::EncodeEnvelopeView(fields, payload);
  const uint64_t request_id =
      fields.kind == wire::EnvelopeKind::kRequest || fields.kind == wire::EnvelopeKind::kHello
          ? fields.request_id
          : 0;
  return SendBytes(dest, bytes, request_id, deadline, unverified);
}

Status RpcEndpoint::Impl::SendBytes(uint64_t dest, std::string_view bytes, uint64_t request_id,
                                    TimePoint deadline, bool unverified) {
  if (stopping_) return Status::Unavailable("rpc endpoint shut down");
  if (bytes.size() > send_pool_->buffer_bytes()) {
    return Status::InvalidArgument("message of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit; send bulk data by RMA");
  }
  if (unverified) {
    if (unverified_in_flight_.fetch_add(1) >= kMaxUnverifiedSends) {
      unverified_in_flight_--;
      return Status::ResourceExhausted("too many replies to unverified addresses in flight");
    }
    deadline = Now();  // never wait for a buffer
  }
  if (Status place = ReserveSendPlace(dest, deadline, unverified); !place.ok()) {
    if (unverified) unverified_in_flight_--;
    return place;
  }
  rpc::BufferSlot* slot = nullptr;
  if (tl_completion_depth > 0) {
    // This thread may be the only one reaping send completions: waiting for a buffer here
    // could deadlock. Reap them inline until a buffer frees up or the deadline passes.
    while ((slot = send_pool_->Acquire(Now())) == nullptr && Now() < deadline && !stopping_) {
      ReapSendsInline();
    }
  } else {
    slot = send_pool_->Acquire(deadline);
  }
  if (slot == nullptr) {
    UnreserveSendPlace(dest);
    if (unverified) {
      unverified_in_flight_--;
      return Status::ResourceExhausted("no send buffer free");
    }
    return stopping_ ? Status::Unavailable("rpc endpoint shut down")
                     : Status::DeadlineExceeded("no send buffer free before the deadline");
  }
  std::memcpy(slot->data, bytes.data(), bytes.size());
  slot->request_id = request_id;
  slot->unverified = unverified;
  // Recorded before the post: the completion may be handled before PostSend returns.
  NoteSendPosted(slot, dest, deadline);
  int rc;
  int backoff_us = 1;
  const TimePoint refused_since = Now();
  while ((rc = fabric_->PostSend(dest, slot->data, bytes.size(), slot->desc, &slot->storage)) ==
         -FI_EAGAIN) {
    // The provider refuses a send to a peer whose connection is down or whose queue is
    // full; the progress thread breaks such a peer at this send's stall time.
    std::optional<std::string> broken = BrokenLabel(dest);
    const TimePoint now = Now();
    const bool refused_too_long = now - refused_since >= kRefusedStallLimit;
    if (stopping_ || broken || refused_too_long || now >= deadline) {
      if (unverified) unverified_in_flight_--;
      NoteSendDone(slot);  // never reached the provider: ours to release even if orphaned
      send_pool_->Release(slot);
      if (stopping_) return Status::Unavailable("rpc endpoint shut down");
      if (broken) return Status::Unavailable("peer " + *broken + " is not accepting messages");
      if (refused_too_long) {
        BreakPeer(dest, "the provider refused sends to it");
        return Status::Unavailable("peer " + PeerLabel(dest) + " is not accepting messages");
      }
      return Status::DeadlineExceeded("send queue full until the deadline");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
    backoff_us = std::min(backoff_us * 2, 1000);
  }
  if (rc != 0) {
    if (unverified) unverified_in_flight_--;
    NoteSendDone(slot);
    send_pool_->Release(slot);
    stats_.send_errors++;
    return Status::Unavailable(std::string("fi_send: ") + fi_strerror(-rc));
  }
  return Status::Ok();
}

// Dead peers (docs/design/transport.md). tcp;ofi_rxm refuses (-FI_EAGAIN) every send to a
// peer whose connection dropped, and a peer that stops reading leaves accepted sends in the
// provider indefinitely. So: at most kMaxSendsPerPeer sends per peer are in the provider;
// a send refused for kRefusedStallLimit, or not completed at its stall time, breaks the
// peer (its calls fail at once for a hold); its sends still in the provider become
// orphans, replaced in the pool and released only by their own completions.

namespace {

std::chrono::steady_clock::time_point Steady(TimePoint t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

}  // namespace

Status RpcEndpoint::Impl::ReserveSendPlace(uint64_t dest, TimePoint deadline, bool unverified) {
  std::unique_lock<std::mutex> lock(tx_mu_);
  for (;;) {
    PeerTx& p = peer_tx_[dest];
    const TimePoint now = Now();
    if (p.broken) {
      if (now < p.broken_until) {
        return Status::Unavailable("peer " + p.label + " is not accepting messages");
      }
      p.broken = false;  // the hold is over: try it again (it may have restarted)
      broken_now_--;
    }
    // Unverified sends never wait and have their own global cap (kMaxUnverifiedSends).
    // Sends from a completion-handling thread (inline replies, error replies) skip the cap
    // too: that thread is the one that would reap the completions freeing a place (on shm
    // none freed within the 1 s reply budget, net_malformed_test), and they are bounded
    // by the buffer pool and the stall check.
    if (p.in_flight < kMaxSendsPerPeer || unverified || tl_completion_depth > 0) {
      p.in_flight++;
      return Status::Ok();
    }
    if (stopping_) return Status::Unavailable("rpc endpoint shut down");
    if (now >= deadline) {
      return Status::DeadlineExceeded("sends to the peer did not complete before the deadline");
    }
    // Bounded waits: the progress thread breaks a stalled peer within kStallScanInterval
    // of its first stalled send, and notifies.
    tx_cv_.wait_until(lock,
                      std::min(Steady(deadline), Steady(now) + std::chrono::milliseconds(10)));
  }
}

void RpcEndpoint::Impl::UnreserveSendPlace(uint64_t dest) {
  {
    std::lock_guard<std::mutex> lock(tx_mu_);
    auto it = peer_tx_.find(dest);
    if (it != peer_tx_.end() && it->second.in_flight > 0) it->second.in_flight--;
  }
  tx_cv_.notify_all();
}

void RpcEndpoint::Impl::NoteSendPosted(rpc::BufferSlot* slot, uint64_t dest, TimePoint deadline) {
  std::lock_guard<std::mutex> lock(tx_mu_);
  slot->dest = dest;
  slot->stall_at = std::min(deadline, Now() + kSendStallLimit);
  in_flight_.insert(slot);
}

bool RpcEndpoint::Impl::NoteSendDone(rpc::BufferSlot* slot, int error) {
  {
    std::lock_guard<std::mutex> lock(tx_mu_);
    if (slot->orphaned) {
      LOG_DEBUG("rpc.orphan_send_done name={} dest={} error={}", options_.name, slot->dest,
                error == 0 ? std::string("none") : std::string(fi_strerror(error)));
      const bool replaced = slot->replaced;
      slot->orphaned = false;
      slot->replaced = false;
      orphans_--;
      return !replaced;
    }
    if (in_flight_.erase(slot) == 0) return true;
    auto it = peer_tx_.find(slot->dest);
    if (it != peer_tx_.end()) {
      if (it->second.in_flight > 0) it->second.in_flight--;
      if (error == 0) it->second.hold = kBrokenHold;  // the peer takes messages again
    }
  }
  tx_cv_.notify_all();
  return true;
}

void RpcEndpoint::Impl::ReapSendsInline() {
  fabric::Completion batch[32];
  const int n = fabric_->Poll(batch, 32, 0);
  for (int i = 0; i < n; ++i) {
    auto* op = reinterpret_cast<rpc::OpContext*>(batch[i].context);
    if (op != nullptr && op->kind == rpc::OpContext::Kind::kSend) {
      HandleCompletion(batch[i]);
    } else {
      std::lock_guard<std::mutex> lock(deferred_mu_);
      deferred_.push_back(batch[i]);
      have_deferred_ = true;
    }
  }
  if (n == 0) std::this_thread::yield();
}

void RpcEndpoint::Impl::ScanStalledSends(TimePoint now) {
  std::vector<uint64_t> stalled;
  {
    std::lock_guard<std::mutex> lock(tx_mu_);
    for (const rpc::BufferSlot* slot : in_flight_) {
      if (slot->stall_at > now) continue;
      if (peer_tx_[slot->dest].broken) continue;
      if (std::find(stalled.begin(), stalled.end(), slot->dest) == stalled.end()) {
        stalled.push_back(slot->dest);
      }
    }
  }
  for (uint64_t dest : stalled) BreakPeer(dest, "a send did not complete by its deadline");
}

std::string RpcEndpoint::Impl::PeerLabel(uint64_t dest) {
  std::lock_guard<std::mutex> lock(peers_mu_);
  std::string label;
  if (auto it = sessions_.find(dest); it != sessions_.end() && !it->second.name.empty()) {
    label = it->second.name + " ";
  }
  for (const auto& [raw, addr] : raw_to_addr_) {
    if (addr == dest) return label + fabric::FormatAddress(options_.provider, raw);
  }
  return label + "#" + std::to_string(dest);
}

void RpcEndpoint::Impl::BreakPeer(uint64_t dest, const char* why) {
  const std::string label = PeerLabel(dest);
  int orphaned = 0;
  int replacements = 0;
  Duration hold{};
  {
    std::lock_guard<std::mutex> lock(tx_mu_);
    PeerTx& p = peer_tx_[dest];
    if (p.broken) return;
    p.broken = true;
    broken_now_++;
    hold = p.hold;
    p.broken_until = Now() + p.hold;
    p.hold = std::min<Duration>(p.hold * 2, kMaxBrokenHold);
    p.label = label;
    // Its sends still in the provider become orphans: no longer counted against the peer,
    // never reused unless their own completion comes back; the pool gets replacements.
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      rpc::BufferSlot* slot = *it;
      if (slot->dest != dest) {
        ++it;
        continue;
      }
      slot->orphaned = true;
      orphans_++;
      orphaned++;
      if (orphans_replaced_ < kMaxOrphanReplacements) {
        slot->replaced = true;
        orphans_replaced_++;
        replacements++;
      }
      if (p.in_flight > 0) p.in_flight--;
      it = in_flight_.erase(it);
    }
  }
  tx_cv_.notify_all();
  peers_broken_++;
  LOG_WARN("rpc.peer_broken name={} peer={} orphaned_sends={} hold_ms={} why={}", options_.name,
           label, orphaned, std::chrono::duration_cast<std::chrono::milliseconds>(hold).count(),
           why);
  for (int i = 0; i < replacements; ++i) {
    if (Status st = send_pool_->AddSlot(); !st.ok()) {
      LOG_WARN("rpc.send_slot_replace_failed name={} error={}", options_.name, st.ToString());
      break;
    }
  }
  for (PendingCall& call : pending_.TakePeer(dest)) {
    CompleteCall(std::move(call),
                 Status::Unavailable("peer " + label + " is not accepting messages"));
  }
}

std::optional<std::string> RpcEndpoint::Impl::BrokenLabel(uint64_t dest) {
  std::lock_guard<std::mutex> lock(tx_mu_);
  auto it = peer_tx_.find(dest);
  if (it == peer_tx_.end() || !it->second.broken) return std::nullopt;
  return it->second.label;
}

void RpcEndpoint::Impl::Revive(uint64_t dest) {
  if (broken_now_.load(std::memory_order_acquire) == 0) return;
  {
    std::lock_guard<std::mutex> lock(tx_mu_);
    auto it = peer_tx_.find(dest);
    if (it == peer_tx_.end() || !it->second.broken) return;
    it->second.broken = false;
    broken_now_--;
  }
  tx_cv_.notify_all();
}

void RpcEndpoint::Impl::CompleteCall(PendingCall call, Result<std::string> result) {
  if (!call.done) return;
  if (call.complete_inline) {
    call.done(std::move(result));
    return;
  }
  auto done = std::move(call.done);
  auto shared = std::make_shared<Result<std::string>>(std::move(result));
  if (!workers_->Submit([done, shared]() mutable { done(std::move(*shared)); })) {
    done(Status::Unavailable("rpc endpoint shut down"));
  }
}

}  // namespace cvfs::net
