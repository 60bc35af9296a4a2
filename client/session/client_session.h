// ClientSession: what every client-side service of one mounted filesystem shares: the etcd
// connection, the cluster map (followed by a MapWatcher; one immutable snapshot per call),
// the fabric endpoint, the connected peers and the pool of registered buffers. The data
// client (client/data) and the metadata client (client/meta) both run on one session, so a
// mount holds one endpoint and one map watch.
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/etcd_client.h"
#include "control/map_watcher.h"
#include "core/cluster_map.h"
#include "core/node_id.h"
#include "net/peer_cache.h"
#include "net/registered_pool.h"
#include "net/rpc.h"

namespace cvfs::client {

// How long a peer whose call ran into its deadline is skipped (treated as down) before it
// is tried again; the map normally marks a dead node down within its lease TTL.
inline constexpr auto kUnresponsiveHold = std::chrono::seconds(10);

// One consistent view of the map and the session's filesystem in it.
struct MapSnapshot {
  std::shared_ptr<const ClusterMap> map;
  const FilesystemInfo* fs = nullptr;  // points into *map; null while not placed
};

struct ClientSessionOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string cluster;
  std::string filesystem;
  std::string provider = "tcp;ofi_rxm";
  std::string munge_socket;  // "": munged's default socket
  std::string name = "cvfs-client";
  std::string host = "127.0.0.1";  // address the client's endpoint listens on (tcp)
  size_t registered_buffers = 16;  // pooled registered buffers for small transfers
};

class ClientSession {
 public:
  // Connects to etcd, opens the endpoint and waits for the first map. kNotFound when the
  // filesystem does not exist or is not placed yet, kUnavailable when etcd cannot be reached.
  static Result<std::shared_ptr<ClientSession>> Open(const ClientSessionOptions& options);
  // Tests only: the map comes from the test (SetMapForTesting), not from etcd.
  static Result<std::shared_ptr<ClientSession>> OpenWithMapForTesting(
      const ClientSessionOptions& options, const ClusterMap& map);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void SetMapForTesting(const ClusterMap& map) { OnMap(map); }

  const ClientSessionOptions& options() const { return options_; }
  net::RpcEndpoint& endpoint() { return *endpoint_; }
  net::RegisteredBufferPool& pool() { return *pool_; }
  MapSnapshot Snapshot() const;

  // The connected peer of `node` under `snapshot`. Fails fast for a peer that recently ran
  // into a deadline (MarkUnresponsive).
  Result<net::PeerId> PeerOf(const MapSnapshot& snapshot, const NodeId& node, TimePoint deadline);
  // Skips `node` for kUnresponsiveHold after a call to it timed out.
  void MarkUnresponsive(const MapSnapshot& snapshot, const NodeId& node);

 private:
  explicit ClientSession(ClientSessionOptions options) : options_(std::move(options)) {}
  Status Start();          // etcd, endpoint, map watcher
  Status StartEndpoint();  // endpoint, peers, pool
  Status CheckFilesystem() const;
  void OnMap(const ClusterMap& map);

  const ClientSessionOptions options_;
  std::shared_ptr<control::EtcdClient> etcd_;
  std::unique_ptr<net::RpcEndpoint> endpoint_;
  std::unique_ptr<net::PeerCache> peers_;
  std::unique_ptr<net::RegisteredBufferPool> pool_;
  std::unique_ptr<control::MapWatcher> watcher_;  // last: stopped first

  mutable std::mutex mu_;
  MapSnapshot snapshot_;  // guarded by mu_
};

}  // namespace cvfs::client
