// The calling side: Connect (Hello), Call, CallAsync.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "core/logging.h"
#include "net/auth/munge_credential.h"
#include "net/fabric/address.h"
#include "net/rpc/endpoint_impl.h"

namespace cvfs::net {

namespace {

TimePoint Now() { return Clock::System().Now(); }

uint32_t BudgetMs(Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms <= 0) return 1;
  return ms > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(ms);
}

// A caller waiting for its one result. `ready` lets a driving caller poll without the lock.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::string>> result;  // guarded by mu
  std::atomic<bool> ready{false};             // set (under mu) once result holds a value

  void Set(Result<std::string> r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      result.emplace(std::move(r));
      ready.store(true, std::memory_order_release);
    }
    cv.notify_all();
  }
};

std::chrono::steady_clock::time_point SteadyFromTimePoint(TimePoint t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

// First drives progress on this thread for up to kCallerSpin (a reply usually arrives
// within it, and then no other thread is involved), then blocks. The progress thread
// normally completes the call at its deadline; this bound holds even if the provider
// stalls that thread: the waiter gives up shortly after the deadline and the completion,
// when it finally comes, lands in a waiter nobody reads.
Result<std::string> WaitForResult(RpcEndpoint::Impl& impl, Waiter& waiter, TimePoint deadline) {
  constexpr auto kGrace = std::chrono::milliseconds(200);
  const auto spin_until =
      std::min(std::chrono::steady_clock::now() + RpcEndpoint::Impl::kCallerSpin,
               SteadyFromTimePoint(deadline));
  if (impl.DriveUntil([&] { return waiter.ready.load(std::memory_order_acquire); }, spin_until)) {
    std::lock_guard<std::mutex> lock(waiter.mu);
    return std::move(*waiter.result);
  }
  const auto until = SteadyFromTimePoint(deadline + kGrace);
  std::unique_lock<std::mutex> lock(waiter.mu);
  if (!waiter.cv.wait_until(lock, until, [&] { return waiter.result.has_value(); })) {
    return Status::DeadlineExceeded("no reply within the deadline (progress stalled)");
  }
  return std::move(*waiter.result);
}

}  // namespace

void RpcEndpoint::Impl::StartCall(PeerId peer, wire::EnvelopeFields env, std::string_view payload,
                                  TimePoint deadline, bool inline_done,
                                  std::function<void(Result<std::string>)> done, bool resend) {
  if (stopping_) {
    done(Status::Unavailable("rpc endpoint shut down"));
    return;
  }
  if (payload.size() > options_.max_message_bytes) {
    done(Status::InvalidArgument("payload of " + std::to_string(payload.size()) +
                                 " bytes exceeds max_message_bytes; use RMA"));
    return;
  }
  const uint64_t id = next_request_id_.fetch_add(1);
  env.request_id = id;
  env.sender_address = fabric_->name();
  env.deadline_ms = BudgetMs(deadline - Now());
  PendingCall call;
  call.peer = peer;
  call.deadline = deadline;
  call.complete_inline = inline_done;
  call.done = std::move(done);
  if (env.kind == wire::EnvelopeKind::kRequest && !resend) {
    {
      std::lock_guard<std::mutex> lock(peers_mu_);
      call.resendable = said_hello_.count(peer) != 0;
    }
    if (call.resendable) {
      call.method = env.method;
      call.resend_payload.assign(payload);
    }
  }
  pending_.Insert(id, std::move(call));
  stats_.calls_sent++;
  // Shutdown may have drained pending_ between the check above and Insert.
  Status st = stopping_ ? Status::Unavailable("rpc endpoint shut down")
                        : SendEnvelope(peer, env, payload, deadline);
  if (!st.ok()) {
    // Unless a reply/expiry raced us, the call is ours to fail.
    if (auto mine = pending_.Take(id)) {
      if (st.code() == ErrorCode::kDeadlineExceeded) stats_.deadline_exceeded++;
      mine->done(st);
    }
  }
}

Result<std::string> RpcEndpoint::Impl::Call(PeerId peer, uint16_t method, std::string_view payload,
                                            Duration deadline) {
  auto waiter = std::make_shared<Waiter>();
  wire::EnvelopeFields env;
  env.kind = wire::EnvelopeKind::kRequest;
  env.method = method;
  const TimePoint until = Now() + deadline;
  StartCall(peer, std::move(env), payload, until, /*inline_done=*/true,
            [waiter](Result<std::string> r) { waiter->Set(std::move(r)); });
  return WaitForResult(*this, *waiter, until);
}

Result<PeerId> RpcEndpoint::Impl::Connect(std::string_view address, Duration deadline) {
  const TimePoint until = Now() + deadline;
  CVFS_ASSIGN_OR_RETURN(std::string raw, fabric::ParseAddress(address, options_.provider));
  CVFS_ASSIGN_OR_RETURN(uint64_t peer, ResolveRaw(raw));
  // An explicit Connect retries a peer broken for not taking messages (it may have restarted).
  Revive(peer);
  auto waiter = std::make_shared<Waiter>();
  StartCall(peer, MakeHello(raw), {}, until, /*inline_done=*/true,
            [waiter](Result<std::string> r) { waiter->Set(std::move(r)); });
  const Result<std::string> r = WaitForResult(*this, *waiter, until);
  if (!r.ok()) {
    if (r.status().code() == ErrorCode::kDeadlineExceeded) {
      return Status::Unavailable("peer did not answer the hello within the deadline");
    }
    return r.status();
  }
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    said_hello_[peer] = raw;
  }
  return peer;
}

wire::EnvelopeFields RpcEndpoint::Impl::MakeHello(const std::string& raw) {
  wire::EnvelopeFields env;
  env.kind = wire::EnvelopeKind::kHello;
  env.hello_node_name = options_.name;
  auto cred =
      auth::EncodeCredential(options_.munge_socket, wire::HelloBinding(fabric_->name(), raw));
  if (cred.ok()) {
    env.hello_credential = std::move(cred).value();
  } else {
    // The peer decides: without require_auth it accepts an unauthenticated session.
    LOG_WARN("rpc.no_credential name={} error={}", options_.name, cred.status().ToString());
  }
  return env;
}

void RpcEndpoint::Impl::RenewSessionAndResend(PendingCall call, Status refusal) {
  std::string raw;
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    if (auto it = said_hello_.find(call.peer); it != said_hello_.end()) raw = it->second;
  }
  if (raw.empty() || stopping_ || Now() >= call.deadline) {
    CompleteCall(std::move(call), std::move(refusal));
    return;
  }
  LOG_INFO(
      "rpc.session_renewing name={} peer={} method={}: the peer has no session for us "
      "(restarted at the same address); saying Hello again",
      options_.name, PeerLabel(call.peer), call.method);
  const PeerId peer = call.peer;
  const TimePoint deadline = call.deadline;
  auto shared = std::make_shared<PendingCall>(std::move(call));
  StartCall(peer, MakeHello(raw), {}, deadline, /*inline_done=*/false,
            [this, shared, refusal](Result<std::string> hello) mutable {
              PendingCall& original = *shared;
              if (!hello.ok()) {
                LOG_WARN("rpc.session_renew_failed name={} peer={} error={}", options_.name,
                         PeerLabel(original.peer), hello.status().ToString());
                CompleteCall(std::move(original),
                             hello.status().code() == ErrorCode::kDeadlineExceeded
                                 ? std::move(refusal)
                                 : hello.status());
                return;
              }
              stats_.sessions_renewed++;
              wire::EnvelopeFields env;
              env.kind = wire::EnvelopeKind::kRequest;
              env.method = original.method;
              const std::string payload = std::move(original.resend_payload);
              StartCall(original.peer, std::move(env), payload, original.deadline,
                        original.complete_inline, std::move(original.done), /*resend=*/true);
            });
}

Result<PeerId> RpcEndpoint::Connect(std::string_view address, Duration deadline) {
  return impl_->Connect(address, deadline);
}

Result<PeerId> RpcEndpoint::ResolveForTesting(std::string_view address) {
  CVFS_ASSIGN_OR_RETURN(std::string raw, fabric::ParseAddress(address, impl_->options_.provider));
  return impl_->ResolveRaw(raw);
}

Result<std::string> RpcEndpoint::Call(PeerId peer, uint16_t method, std::string_view payload,
                                      Duration deadline) {
  return impl_->Call(peer, method, payload, deadline);
}

void RpcEndpoint::CallAsync(PeerId peer, uint16_t method, std::string payload, Duration deadline,
                            std::function<void(Result<std::string>)> done) {
  wire::EnvelopeFields env;
  env.kind = wire::EnvelopeKind::kRequest;
  env.method = method;
  impl_->StartCall(peer, std::move(env), payload, Now() + deadline, /*inline_done=*/false,
                   std::move(done));
}

}  // namespace cvfs::net
