// Incoming messages: verification, sessions and the Hello, request dispatch, replies.
#include <chrono>

#include "core/logging.h"
#include "net/auth/munge_credential.h"
#include "net/rpc/endpoint_impl.h"

namespace cvfs::net {

namespace {

TimePoint Now() { return Clock::System().Now(); }

// Replies are best-effort: a peer that does not drain its queue gets this long.
constexpr auto kReplySendBudget = std::chrono::seconds(1);

// Rate limit for hostile-input logs: at most one line per second per process.
bool ShouldLogMalformed(uint64_t* suppressed) {
  static std::atomic<int64_t> last_ns{0};
  static std::atomic<uint64_t> dropped{0};
  const int64_t now = Now().time_since_epoch().count();
  int64_t last = last_ns.load();
  if (now - last < 1'000'000'000 || !last_ns.compare_exchange_strong(last, now)) {
    dropped++;
    return false;
  }
  *suppressed = dropped.exchange(0);
  return true;
}

}  // namespace

Result<uint64_t> RpcEndpoint::Impl::ResolveRaw(const std::string& raw) {
  std::lock_guard<std::mutex> lock(peers_mu_);
  auto it = raw_to_addr_.find(raw);
  if (it != raw_to_addr_.end()) return it->second;
  if (raw_to_addr_.size() >= kMaxKnownAddresses) {
    return Status::ResourceExhausted("too many peer addresses");
  }
  CVFS_ASSIGN_OR_RETURN(uint64_t addr, fabric_->InsertAddress(raw));
  raw_to_addr_.emplace(raw, addr);
  inserted_.insert(addr);
  return addr;
}

void RpcEndpoint::Impl::NoteMalformed(const Status& why, uint64_t source) {
  stats_.malformed_messages++;
  uint64_t suppressed = 0;
  if (ShouldLogMalformed(&suppressed)) {
    LOG_WARN("rpc.malformed_message name={} source={} suppressed={} error={}", options_.name,
             source == fabric::kNoAddress ? std::string("unknown") : std::to_string(source),
             suppressed, why.ToString());
  }
}

void RpcEndpoint::Impl::SendError(uint64_t dest, const wire::EnvelopeFields& request,
                                  wire::EnvelopeKind kind, const Status& status, bool unverified) {
  wire::EnvelopeFields reply;
  reply.kind = kind;
  reply.request_id = request.request_id;
  reply.method = request.method;
  reply.status_code = static_cast<uint16_t>(status.code());
  reply.status_message = std::string(status.message().substr(0, kMaxStatusMessage));
  if (SendEnvelope(dest, reply, Now() + kReplySendBudget, unverified).ok()) {
    stats_.replies_sent++;
    if (kind == wire::EnvelopeKind::kError) stats_.error_replies_sent++;
  }
}

void RpcEndpoint::Impl::OnMessage(std::string_view message, uint64_t source) {
  wire::EnvelopeFields env;
  Status st = wire::DecodeEnvelope(message, &env);
  Dispatch(std::move(env), st, source);
}

void RpcEndpoint::Impl::Dispatch(wire::EnvelopeFields env, const Status& st, uint64_t source) {
  if (source != fabric::kNoAddress) {
    // Providers differ in what they report for a sender missing from the AV (shm returns
    // an unusable handle): only handles we inserted ourselves name a peer.
    std::lock_guard<std::mutex> lock(peers_mu_);
    if (inserted_.count(source) == 0) {
      source = fabric::kNoAddress;
    } else {
      last_heard_[source] = Now();
    }
  }
  // A message from a peer proves it is back (a restarted daemon saying Hello).
  if (source != fabric::kNoAddress) Revive(source);
  if (!st.ok()) {
    NoteMalformed(st, source);
    // Answer when the transport names the sender; a claimed address is used only for the
    // version mismatch case, where the rest of the envelope verified.
    uint64_t dest = source;
    bool unverified = false;
    if (dest == fabric::kNoAddress && st.code() == ErrorCode::kProtocolMismatch &&
        !env.sender_address.empty()) {
      if (auto r = ResolveRaw(env.sender_address); r.ok()) dest = *r;
      unverified = true;
    }
    if (dest != fabric::kNoAddress) {
      SendError(dest, env, wire::EnvelopeKind::kError, st, unverified);
    }
    return;
  }
  switch (env.kind) {
    case wire::EnvelopeKind::kReply:
    case wire::EnvelopeKind::kError:
    case wire::EnvelopeKind::kHelloReply:
      HandleReply(env);
      return;
    case wire::EnvelopeKind::kHello:
      // munge_decode is a round trip to munged: never on the progress thread.
      if (!workers_->TrySubmit([this, env = std::move(env), source]() mutable {
            HandleHello(std::move(env), source);
          })) {
        stats_.overload_rejections++;
      }
      return;
    case wire::EnvelopeKind::kRequest:
      break;
  }

  uint64_t peer = source;
  bool unverified = false;
  PeerSession session;
  if (peer != fabric::kNoAddress) {
    std::lock_guard<std::mutex> lock(peers_mu_);
    if (auto it = sessions_.find(peer); it != sessions_.end()) {
      session = it->second;
    }
  }
  if (peer == fabric::kNoAddress && !env.sender_address.empty()) {
    // A peer that skipped Hello: answered at its claimed address (with an error unless
    // require_auth is off). The claim is never an identity: no session is attached.
    if (auto r = ResolveRaw(env.sender_address); r.ok()) peer = *r;
    unverified = true;
  }
  if (peer == fabric::kNoAddress) {
    // Nobody to answer; with require_auth this is also an unauthenticated request.
    if (options_.require_auth) stats_.auth_failures++;
    NoteMalformed(Status::PermissionDenied("request from an unknown peer"), source);
    return;
  }
  if (options_.require_auth && !session.authenticated) {
    stats_.auth_failures++;
    SendError(peer, env, wire::EnvelopeKind::kError,
              Status::Unauthenticated("no authenticated session: send a MUNGE Hello first"),
              unverified);
    return;
  }
  std::shared_ptr<const HandlerEntry> entry;
  {
    std::shared_lock lock(handlers_mu_);
    if (auto it = handlers_.find(env.method); it != handlers_.end()) entry = it->second;
  }
  if (!entry) {
    stats_.unknown_method++;
    SendError(peer, env, wire::EnvelopeKind::kError,
              Status::NotFound("unknown method " + std::to_string(env.method)), unverified);
    return;
  }
  if (entry->mode == HandlerMode::kInline) {
    HandleRequest(std::move(env), peer, std::move(session), *entry);
    return;
  }
  const wire::EnvelopeFields header_copy = [&env] {
    wire::EnvelopeFields h;
    h.request_id = env.request_id;
    h.method = env.method;
    return h;
  }();
  rpc::WorkerPool* pool = workers_.get();
  if (entry->mode == HandlerMode::kCoordinator && coordinators_) pool = coordinators_.get();
  if (entry->mode == HandlerMode::kStep) {
    pool = steps_ ? steps_.get() : coordinators_ ? coordinators_.get() : workers_.get();
  }
  if (!pool->TrySubmit(
          [this, env = std::move(env), peer, session, entry = std::move(entry)]() mutable {
            HandleRequest(std::move(env), peer, std::move(session), *entry);
          })) {
    stats_.overload_rejections++;
    SendError(peer, header_copy, wire::EnvelopeKind::kError,
              Status::ResourceExhausted("request queue full"), unverified);
  }
}

void RpcEndpoint::Impl::HandleRequest(wire::EnvelopeFields env, uint64_t peer, PeerSession session,
                                      const HandlerEntry& handler) {
  RpcContext ctx;
  ctx.peer = peer;
  ctx.peer_name = std::move(session.name);
  ctx.peer_uid = session.uid;
  ctx.peer_gid = session.gid;
  ctx.authenticated = session.authenticated;
  ctx.method = env.method;
  const auto budget =
      env.deadline_ms > 0
          ? std::chrono::milliseconds(env.deadline_ms)
          : std::chrono::duration_cast<std::chrono::milliseconds>(options_.default_deadline);
  ctx.deadline = Now() + budget;
  // The budget was measured when the request was sent; time queued here counts against it.
  Result<std::string> result = handler.fn ? handler.fn(ctx, env.payload)
                                          : Result<std::string>(Status::NotFound("unknown method"));
  stats_.requests_served++;
  wire::EnvelopeFields reply;
  reply.kind = wire::EnvelopeKind::kReply;
  reply.request_id = env.request_id;
  reply.method = env.method;
  if (result.ok()) {
    reply.payload = std::move(result).value();
    if (reply.payload.size() > options_.max_message_bytes) {
      reply.payload.clear();
      Status too_big = Status::Internal("reply payload exceeds max_message_bytes");
      reply.status_code = static_cast<uint16_t>(too_big.code());
      reply.status_message = std::string(too_big.message());
    }
  } else {
    reply.status_code = static_cast<uint16_t>(result.status().code());
    reply.status_message = std::string(result.status().message().substr(0, kMaxStatusMessage));
  }
  if (Status sent = SendEnvelope(peer, reply, Now() + kReplySendBudget); sent.ok()) {
    stats_.replies_sent++;
  } else {
    LOG_WARN("rpc.reply_failed name={} peer={} method={} request_id={} error={}", options_.name,
             PeerLabel(peer), env.method, env.request_id, sent.ToString());
  }
}

void RpcEndpoint::Impl::HandleHello(wire::EnvelopeFields env, uint64_t source) {
  if (env.sender_address.empty()) {
    NoteMalformed(Status::MalformedMessage("hello without sender address"), source);
    if (source != fabric::kNoAddress) {
      SendError(source, env, wire::EnvelopeKind::kHelloReply,
                Status::MalformedMessage("hello without sender address"));
    }
    return;
  }
  auto resolved = ResolveRaw(env.sender_address);
  if (!resolved.ok()) {
    NoteMalformed(resolved.status(), source);
    return;
  }
  const uint64_t peer = *resolved;
  auto refuse = [&](const Status& why) {
    stats_.auth_failures++;
    LOG_WARN("rpc.hello_refused name={} peer_name={} error={}", options_.name,
             env.hello_node_name.substr(0, 64), why.ToString());
    SendError(peer, env, wire::EnvelopeKind::kHelloReply, why, /*unverified=*/true);
  };
  if (source != fabric::kNoAddress && source != peer) {
    refuse(Status::PermissionDenied("hello sender address does not match the transport source"));
    return;
  }
  PeerSession session;
  session.name = env.hello_node_name.substr(0, 256);
  if (env.hello_credential.empty()) {
    if (options_.require_auth) {
      refuse(Status::PermissionDenied("hello without a MUNGE credential"));
      return;
    }
  } else {
    auto decoded = auth::DecodeCredential(options_.munge_socket, env.hello_credential);
    if (!decoded.ok()) {
      if (options_.require_auth || decoded.status().code() == ErrorCode::kPermissionDenied) {
        refuse(decoded.status().code() == ErrorCode::kPermissionDenied
                   ? decoded.status()
                   : Status::PermissionDenied("cannot verify credential: " +
                                              decoded.status().ToString()));
        return;
      }
    } else if (decoded->payload != wire::HelloBinding(env.sender_address, fabric_->name())) {
      refuse(Status::PermissionDenied("credential is bound to another address pair"));
      return;
    } else {
      session.uid = decoded->uid;
      session.gid = decoded->gid;
      session.authenticated = true;
    }
  }
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    sessions_[peer] = session;
  }
  stats_.hellos_accepted++;
  LOG_INFO("rpc.hello_accepted name={} peer_name={} uid={} authenticated={}", options_.name,
           session.name, session.uid, session.authenticated);
  wire::EnvelopeFields reply;
  reply.kind = wire::EnvelopeKind::kHelloReply;
  reply.request_id = env.request_id;
  if (SendEnvelope(peer, reply, Now() + kReplySendBudget).ok()) stats_.replies_sent++;
}

void RpcEndpoint::Impl::HandleReply(wire::EnvelopeFields& env) {
  auto call = pending_.Take(env.request_id);
  if (!call) {
    stats_.late_replies++;
    return;
  }
  stats_.replies_received++;
  if (env.status_code == 0) {
    CompleteCall(std::move(*call), std::move(env.payload));
    return;
  }
  if (env.status_code > static_cast<uint16_t>(kLastErrorCode)) {
    CompleteCall(std::move(*call), Status::MalformedMessage("reply carries unknown status code " +
                                                            std::to_string(env.status_code)));
    return;
  }
  Status refusal(static_cast<ErrorCode>(env.status_code), env.status_message);
  if (refusal.code() == ErrorCode::kUnauthenticated && call->resendable) {
    // The peer has no session for us although it accepted our Hello: a new process at
    // the same address (a daemon restarted on its fixed port). The Hello's MUNGE round
    // trip must not run here, on a completion-handling thread.
    auto shared = std::make_shared<PendingCall>(std::move(*call));
    if (workers_->TrySubmit([this, shared, refusal]() mutable {
          RenewSessionAndResend(std::move(*shared), refusal);
        })) {
      return;
    }
    CompleteCall(std::move(*shared), refusal);
    return;
  }
  CompleteCall(std::move(*call), std::move(refusal));
}

}  // namespace cvfs::net
