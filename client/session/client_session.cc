#include "client/session/client_session.h"

#include <algorithm>

#include "control/keys.h"
#include "core/logging.h"
#include "core/stripe_routing.h"

namespace cvfs::client {

Result<std::shared_ptr<ClientSession>> ClientSession::Open(const ClientSessionOptions& options) {
  if (options.filesystem.empty()) return Status::InvalidArgument("no filesystem named");
  CVFS_RETURN_IF_ERROR(control::ValidateClusterName(options.cluster));
  std::shared_ptr<ClientSession> session(new ClientSession(options));
  CVFS_RETURN_IF_ERROR(session->Start());
  return session;
}

Result<std::shared_ptr<ClientSession>> ClientSession::OpenWithMapForTesting(
    const ClientSessionOptions& options, const ClusterMap& map) {
  std::shared_ptr<ClientSession> session(new ClientSession(options));
  CVFS_RETURN_IF_ERROR(session->StartEndpoint());
  session->OnMap(map);
  CVFS_RETURN_IF_ERROR(session->CheckFilesystem());
  return session;
}

Status ClientSession::StartEndpoint() {
  net::RpcOptions rpc;
  rpc.provider = options_.provider;
  rpc.name = options_.name;
  rpc.host = options_.host;
  rpc.require_auth = true;
  rpc.munge_socket = options_.munge_socket;
  rpc.handler_threads = 2;  // completions of async calls only
  CVFS_ASSIGN_OR_RETURN(endpoint_, net::RpcEndpoint::Create(rpc));
  peers_ = std::make_unique<net::PeerCache>(*endpoint_);
  pool_ = std::make_unique<net::RegisteredBufferPool>(*endpoint_, options_.registered_buffers);
  return Status::Ok();
}

Status ClientSession::Start() {
  control::EtcdOptions etcd;
  etcd.endpoints = options_.etcd_endpoints;
  CVFS_ASSIGN_OR_RETURN(etcd_, control::EtcdClient::Create(std::move(etcd)));
  CVFS_RETURN_IF_ERROR(StartEndpoint());
  CVFS_ASSIGN_OR_RETURN(watcher_,
                        control::MapWatcher::Start(etcd_, control::KeyLayout(options_.cluster),
                                                   [this](const ClusterMap& m) { OnMap(m); }));
  return CheckFilesystem();
}

Status ClientSession::CheckFilesystem() const {
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

ClientSession::~ClientSession() {
  if (watcher_ != nullptr) watcher_->Stop();
  if (endpoint_ != nullptr) endpoint_->Shutdown();
}

void ClientSession::OnMap(const ClusterMap& map) {
  auto shared = std::make_shared<const ClusterMap>(map);
  const FilesystemInfo* fs = nullptr;
  auto it = shared->filesystems.find(options_.filesystem);
  if (it != shared->filesystems.end() && it->second.placed()) fs = &it->second;
  std::lock_guard lock(mu_);
  snapshot_.map = std::move(shared);
  snapshot_.fs = fs;
}

MapSnapshot ClientSession::Snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

Result<net::PeerId> ClientSession::PeerOf(const MapSnapshot& snapshot, const NodeId& node,
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

void ClientSession::MarkUnresponsive(const MapSnapshot& snapshot, const NodeId& node) {
  peers_->MarkUnresponsive(NodeAddress(*snapshot.map, node), kUnresponsiveHold);
}

}  // namespace cvfs::client
