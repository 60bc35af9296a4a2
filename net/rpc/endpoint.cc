// RpcEndpoint lifecycle, the progress thread and the send path.
#include <rdma/fi_errno.h>

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
constexpr auto kSpinAfterActivity = std::chrono::microseconds(1000);
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
  return out;
}

Status RpcEndpoint::SendRawForTesting(PeerId peer, std::string_view bytes) {
  return impl_->SendBytes(peer, bytes, 0, Now() + impl_->options_.default_deadline);
}

void RpcEndpoint::DeliverForTesting(std::string_view bytes) {
  impl_->OnMessage(bytes, fabric::kNoAddress);
}

Status RpcEndpoint::Impl::Init(RpcOptions options) {
  if (options.handler_threads < 1 || options.coordinator_threads < 0 ||
      options.max_message_bytes == 0 || options.max_message_bytes > (64u << 20) ||
      options.max_queued_requests == 0) {
    return Status::InvalidArgument("rpc options out of range");
  }
  options_ = std::move(options);
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
  progress_ = std::thread([this] { ProgressLoop(); });
  LOG_INFO("rpc.endpoint_open name={} provider={} address={}", options_.name, options_.provider,
           address_);
  return Status::Ok();
}

void RpcEndpoint::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
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
      const bool spinning = now - last_activity < kSpinAfterActivity;
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
      send_pool_->Release(slot);
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
  rpc::BufferSlot* slot = nullptr;
  if (tl_completion_depth > 0) {
    // This thread may be the only one reaping send completions: waiting for a buffer here
    // could deadlock. Reap them inline until a buffer frees up or the deadline passes.
    while ((slot = send_pool_->Acquire(Now())) == nullptr && Now() < deadline && !stopping_) {
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
    }
  } else {
    slot = send_pool_->Acquire(deadline);
  }
  if (slot == nullptr && unverified) {
    unverified_in_flight_--;
    return Status::ResourceExhausted("no send buffer free");
  }
  if (slot == nullptr) {
    return stopping_ ? Status::Unavailable("rpc endpoint shut down")
                     : Status::DeadlineExceeded("no send buffer free before the deadline");
  }
  std::memcpy(slot->data, bytes.data(), bytes.size());
  slot->request_id = request_id;
  slot->unverified = unverified;
  int rc;
  int backoff_us = 1;
  while ((rc = fabric_->PostSend(dest, slot->data, bytes.size(), slot->desc, &slot->storage)) ==
         -FI_EAGAIN) {
    if (stopping_ || Now() >= deadline) {
      if (unverified) unverified_in_flight_--;
      send_pool_->Release(slot);
      return stopping_ ? Status::Unavailable("rpc endpoint shut down")
                       : Status::DeadlineExceeded("send queue full until the deadline");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
    backoff_us = std::min(backoff_us * 2, 1000);
  }
  if (rc != 0) {
    if (unverified) unverified_in_flight_--;
    send_pool_->Release(slot);
    stats_.send_errors++;
    return Status::Unavailable(std::string("fi_send: ") + fi_strerror(-rc));
  }
  return Status::Ok();
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
