#include "client/meta/meta_client.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "core/meta_routing.h"
#include "core/random.h"
#include "core/stripe_routing.h"

namespace cvfs::client {

namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::milliseconds(500);
// One attempt never waits longer than this (the call's deadline bounds all attempts).
constexpr auto kAttemptTimeout = std::chrono::seconds(10);

bool Retryable(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kNotPrimary:
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

uint64_t NewClientId() {
  Random random(std::random_device{}() ^
                static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  // Below 2^63: the servers' own cross-PG steps use ids with the top bit set.
  return (random.Next64() >> 1) | 1;
}

}  // namespace

MetaClient::MetaClient(std::shared_ptr<ClientSession> session, Duration deadline)
    : session_(std::move(session)), deadline_(deadline), client_id_(NewClientId()) {}

Result<std::string> MetaClient::Call(
    uint32_t pg, net::Method method, const Identity* who,
    const std::function<std::string(const net::wire::MetaHeader&)>& encode) {
  const TimePoint deadline = Clock::System().Now() + deadline_;
  net::wire::MetaHeader header;
  header.pg = pg;
  header.client_id = client_id_;
  header.request_id = next_request_++;
  if (who != nullptr) {
    header.has_on_behalf = true;
    header.on_behalf.uid = who->uid;
    header.on_behalf.gid = who->gid;
    header.on_behalf.groups = who->groups;
    if (header.on_behalf.groups.size() > net::wire::kMaxOnBehalfGroups) {
      header.on_behalf.groups.resize(net::wire::kMaxOnBehalfGroups);
    }
  }
  Duration backoff = kFirstBackoff;
  Status last;
  while (true) {
    MapSnapshot snapshot = session_->Snapshot();
    if (snapshot.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
    header.fs_id = snapshot.fs->id;
    header.epoch = snapshot.map->epoch.value;
    auto route = RouteMetaPg(*snapshot.map, *snapshot.fs, pg);
    if (!route.ok()) return route.status();
    Status st = route->CheckAvailable();
    if (st.ok()) {
      const NodeId& node = route->member(route->primary).node;
      auto peer = session_->PeerOf(snapshot, node, deadline);
      if (peer.ok()) {
        const Duration left = deadline - Clock::System().Now();
        auto reply = session_->endpoint().Call(
            *peer, method, encode(header),
            std::clamp<Duration>(left, std::chrono::milliseconds(1), kAttemptTimeout));
        if (reply.ok() || !Retryable(reply.status())) return reply;
        if (reply.status().code() == ErrorCode::kDeadlineExceeded) {
          session_->MarkUnresponsive(snapshot, node);
        }
        st = reply.status();
      } else {
        st = peer.status();
      }
    }
    last = st;
    if (Clock::System().Now() + backoff >= deadline) {
      return Status::DeadlineExceeded(
          "no metadata primary of PG " + std::to_string(pg) +
          " answered before the deadline; last error: " + last.ToString());
    }
    retries_++;
    std::this_thread::sleep_for(backoff);
    backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
  }
}

}  // namespace cvfs::client
