// DataObjectClient: opening (map, endpoint), routing to primaries, truncate, stats.
// Write: stripe_write.cc; Read: stripe_read.cc.
#include "client/data/data_object_client.h"

#include <algorithm>
#include <thread>

#include "core/logging.h"
#include "net/wire/data_messages.h"

namespace cvfs {

Result<std::unique_ptr<ObjectClient>> ObjectClient::Open(const ObjectClientOptions& options) {
  return client::DataObjectClient::Open(options);
}

namespace client {

namespace wire = net::wire;

bool IsRetryable(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

bool IsTransportFailure(const Status& status) {
  return status.code() == ErrorCode::kDeadlineExceeded || status.code() == ErrorCode::kUnavailable;
}

ClientSessionOptions DataObjectClient::SessionOptions(const ObjectClientOptions& options) {
  ClientSessionOptions session;
  session.etcd_endpoints = options.etcd_endpoints;
  session.cluster = options.cluster;
  session.filesystem = options.filesystem;
  session.provider = options.provider;
  session.munge_socket = options.munge_socket;
  session.name = options.name;
  session.host = options.host;
  return session;
}

Result<std::unique_ptr<ObjectClient>> DataObjectClient::Open(const ObjectClientOptions& options) {
  if (options.max_stripes_in_flight < 1) {
    return Status::InvalidArgument("max_stripes_in_flight must be at least 1");
  }
  CVFS_ASSIGN_OR_RETURN(auto session, ClientSession::Open(SessionOptions(options)));
  CVFS_ASSIGN_OR_RETURN(auto client, Create(options, std::move(session)));
  return std::unique_ptr<ObjectClient>(std::move(client));
}

Result<std::unique_ptr<DataObjectClient>> DataObjectClient::Create(
    const ObjectClientOptions& options, std::shared_ptr<ClientSession> session) {
  if (session == nullptr) return Status::InvalidArgument("no session");
  if (options.max_stripes_in_flight < 1) {
    return Status::InvalidArgument("max_stripes_in_flight must be at least 1");
  }
  if (options.filesystem != session->options().filesystem) {
    return Status::InvalidArgument("filesystem '" + options.filesystem +
                                   "' is not the session's ('" + session->options().filesystem +
                                   "')");
  }
  return std::unique_ptr<DataObjectClient>(new DataObjectClient(options, std::move(session)));
}

Result<std::unique_ptr<DataObjectClient>> DataObjectClient::OpenWithMapForTesting(
    const ObjectClientOptions& options, const ClusterMap& map) {
  CVFS_ASSIGN_OR_RETURN(auto session,
                        ClientSession::OpenWithMapForTesting(SessionOptions(options), map));
  return Create(options, std::move(session));
}

Result<std::string> DataObjectClient::CallPrimary(uint64_t inode, uint64_t stripe,
                                                  net::Method method, const std::string& payload,
                                                  TimePoint deadline) {
  Duration backoff = kFirstBackoff;
  Status last;
  while (true) {
    MapSnapshot snapshot = Snapshot();
    if (snapshot.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
    CVFS_ASSIGN_OR_RETURN(StripeRoute route,
                          RouteStripe(*snapshot.map, *snapshot.fs, inode, stripe));
    CVFS_RETURN_IF_ERROR(route.CheckWritable());
    auto peer = PeerOf(snapshot, route.member(route.primary).node, deadline);
    if (peer.ok()) {
      const Duration left = deadline - Clock::System().Now();
      auto reply =
          endpoint_->Call(*peer, method, payload, std::min<Duration>(left, kAttemptTimeout));
      if (reply.ok() || !IsRetryable(reply.status())) return reply;
      last = reply.status();
    } else {
      last = peer.status();
    }
    if (Clock::System().Now() + backoff >= deadline) {
      return Status::DeadlineExceeded("no primary answered before the deadline; last error: " +
                                      last.ToString());
    }
    counters_.write_retries++;
    std::this_thread::sleep_for(backoff);
    backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
  }
}

Status DataObjectClient::Truncate(uint64_t inode, uint64_t new_size, uint64_t old_size) {
  if (new_size >= old_size) return Status::Ok();
  MapSnapshot snapshot = Snapshot();
  if (snapshot.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
  const TimePoint deadline = Clock::System().Now() + options_.deadline;
  const uint64_t stripe = new_size / snapshot.fs->geometry.stripe_bytes();
  auto reply = CallPrimary(
      inode, stripe, net::Method::kTruncateObject,
      wire::EncodeTruncateObjectRequest({snapshot.fs->id, inode, new_size, old_size}), deadline);
  return reply.status();
}

FilesystemLayout DataObjectClient::layout() const {
  MapSnapshot snapshot = Snapshot();
  FilesystemLayout layout;
  if (snapshot.fs == nullptr) return layout;
  layout.name = snapshot.fs->name;
  layout.id = snapshot.fs->id;
  layout.data_cells = snapshot.fs->geometry.data_cells;
  layout.parity_cells = snapshot.fs->geometry.parity_cells;
  layout.cell_bytes = snapshot.fs->geometry.cell_bytes;
  layout.pg_count = snapshot.fs->pg_count;
  return layout;
}

ObjectClientStats DataObjectClient::stats() const {
  ObjectClientStats s;
  s.writes = counters_.writes;
  s.reads = counters_.reads;
  s.bytes_written = counters_.bytes_written;
  s.bytes_read = counters_.bytes_read;
  s.degraded_reads = counters_.degraded_reads;
  s.checksum_failures = counters_.checksum_failures;
  s.bad_cells_reported = counters_.bad_cells_reported;
  s.version_retries = counters_.version_retries;
  s.write_retries = counters_.write_retries;
  return s;
}

}  // namespace client
}  // namespace cvfs
