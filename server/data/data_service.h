// DataService: the data path of one cvfsd (docs/design/datapath.md). It owns the pieces a
// node needs to be both a PG member and a stripe primary:
//   - MemberService: PrepareCell, CommitCell, AbortCell, CellVersions, ReadCell,
//     DeleteStripes on the node's CellStores (worker pool);
//   - StripeCoordinator: WriteStripe, TruncateObject, ReportCell (coordinator pool);
//   - the registered staging-buffer pool and the connection cache they share.
// The daemon opens the CellStores (one per drive, by drive index), creates the service,
// feeds it every new map (SetMap), and calls Register() before the node is announced.
// Thread-safety: SetMap from any thread; the handlers run on the endpoint's pools. The
// stores and the endpoint must outlive the service; Shutdown the endpoint first.
#pragma once

#include <memory>
#include <vector>

#include "core/cluster_map.h"
#include "core/node_id.h"
#include "net/peer_cache.h"
#include "net/registered_pool.h"
#include "net/rpc.h"
#include "server/data/crash_points.h"
#include "server/data/member_service.h"
#include "server/data/stripe_coordinator.h"

namespace cvfs::server {

struct DataServiceOptions {
  NodeId self;
  DriveStores stores;  // by drive index; not owned
  CrashPoints crash_points;
  // Registered buffers kept per size class for reuse.
  size_t staging_buffers_per_class = 32;
  Duration member_timeout = std::chrono::seconds(5);
};

class DataService {
 public:
  DataService(net::RpcEndpoint& endpoint, DataServiceOptions options);
  DataService(const DataService&) = delete;
  DataService& operator=(const DataService&) = delete;

  // Registers every data-path handler on the endpoint.
  void Register();
  void SetMap(const ClusterMap& map) { coordinator_.SetMap(map); }
  // See MemberService::AddStore.
  Status AddStore(size_t drive_index, CellStore* store) {
    return member_.AddStore(drive_index, store);
  }
  Status ReplaceStore(size_t drive_index, CellStore* store) {
    return member_.ReplaceStore(drive_index, store);
  }

  CoordinatorStats coordinator_stats() const { return coordinator_.stats(); }
  StripeCoordinator& coordinator() { return coordinator_; }
  MemberService& member() { return member_; }
  net::PeerCache& peers() { return peers_; }

 private:
  net::RegisteredBufferPool pool_;
  net::PeerCache peers_;
  MemberService member_;
  StripeCoordinator coordinator_;
};

}  // namespace cvfs::server
