// DataObjectClient: opening (map, endpoint), routing to primaries, truncate, stats.
// Write: stripe_write.cc; Read: stripe_read.cc.
#include "client/data/data_object_client.h"

#include <algorithm>
#include <thread>

#include "control/keys.h"
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

Result<std::unique_ptr<ObjectClient>> DataObjectClient::Open(const ObjectClientOptions& options) {
  if (options.filesystem.empty()) return Status::InvalidArgument("no filesystem named");
  if (options.max_stripes_in_flight < 1) {
    return Status::InvalidArgument("max_stripes_in_flight must be at least 1");
  }
  CVFS_RETURN_IF_ERROR(control::ValidateClusterName(options.cluster));
  std::unique_ptr<DataObjectClient> client(new DataObjectClient(options));
  CVFS_RETURN_IF_ERROR(client->Start());
  return std::unique_ptr<ObjectClient>(std::move(client));
}

Result<std::unique_ptr<DataObjectClient>> DataObjectClient::OpenWithMapForTesting(
    const ObjectClientOptions& options, const ClusterMap& map) {
  std::unique_ptr<DataObjectClient> client(new DataObjectClient(options));
  CVFS_RETURN_IF_ERROR(client->StartEndpoint());
  client->OnMap(map);
  CVFS_RETURN_IF_ERROR(client->CheckFilesystem());
  return client;
}

Status DataObjectClient::StartEndpoint() {
  net::RpcOptions rpc;
  rpc.provider = options_.provider;
  rpc.name = options_.name;
  rpc.require_auth = true;
  rpc.munge_socket = options_.munge_socket;
  rpc.handler_threads = 2;  // completions of async calls only
  CVFS_ASSIGN_OR_RETURN(endpoint_, net::RpcEndpoint::Create(rpc));
  peers_ = std::make_unique<net::PeerCache>(*endpoint_);
  pool_ = std::make_unique<net::RegisteredBufferPool>(*endpoint_, 16);
  return Status::Ok();
}

Status DataObjectClient::Start() {
  control::EtcdOptions etcd;
  etcd.endpoints = options_.etcd_endpoints;
  CVFS_ASSIGN_OR_RETURN(etcd_, control::EtcdClient::Create(std::move(etcd)));
  CVFS_RETURN_IF_ERROR(StartEndpoint());
  CVFS_ASSIGN_OR_RETURN(watcher_,
                        control::MapWatcher::Start(etcd_, control::KeyLayout(options_.cluster),
                                                   [this](const ClusterMap& m) { OnMap(m); }));
  return CheckFilesystem();
}

Status DataObjectClient::CheckFilesystem() const {
  MapSnapshot snapshot = Snapshot();
  if (snapshot.map == nullptr) {
    return Status::NotFound("cluster '" + options_.cluster + "' has no map yet");
  }
  if (snapshot.fs == nullptr) {
    return Status::NotFound("filesystem '" + options_.filesystem + "' does not exist in cluster '" +
                            options_.cluster + "' (or is not placed yet)");
  }
  LOG_DEBUG("client.open filesystem={} id={} epoch={}", options_.filesystem, snapshot.fs->id,
            snapshot.map->epoch.value);
  return Status::Ok();
}

DataObjectClient::~DataObjectClient() {
  if (watcher_ != nullptr) watcher_->Stop();
  if (endpoint_ != nullptr) endpoint_->Shutdown();
}

void DataObjectClient::OnMap(const ClusterMap& map) {
  auto shared = std::make_shared<const ClusterMap>(map);
  const FilesystemInfo* fs = nullptr;
  auto it = shared->filesystems.find(options_.filesystem);
  if (it != shared->filesystems.end() && it->second.placed()) fs = &it->second;
  std::lock_guard lock(mu_);
  snapshot_.map = std::move(shared);
  snapshot_.fs = fs;
}

MapSnapshot DataObjectClient::Snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

Result<net::PeerId> DataObjectClient::PeerOf(const MapSnapshot& snapshot, const NodeId& node,
                                             TimePoint deadline) {
  const Duration left = deadline - Clock::System().Now();
  if (left <= Duration::zero()) return Status::DeadlineExceeded("deadline passed");
  const std::string& address = NodeAddress(*snapshot.map, node);
  auto peer = peers_->Get(address, std::min<Duration>(left, std::chrono::seconds(2)));
  if (!peer.ok() && peer.status().code() == ErrorCode::kDeadlineExceeded) {
    peers_->MarkUnresponsive(address, kUnresponsiveHold);
  }
  return peer;
}

void DataObjectClient::MarkUnresponsive(const MapSnapshot& snapshot, const NodeId& node) {
  peers_->MarkUnresponsive(NodeAddress(*snapshot.map, node), kUnresponsiveHold);
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
