// InProcessDataCluster: K data-path nodes inside one test process, each a real RpcEndpoint
// (tcp;ofi_rxm on loopback, MUNGE Hellos against a private munged), a real CellStore on a
// temp-dir drive and a real DataService; a ClusterMap built by the test (filesystem placed
// with AssignPlacementGroups) and fed to every node and to DataObjectClients. No etcd, no
// manager, no mocks: the multi-endpoint test of the stripe protocol below the control plane.
// Test-only. Thread-safety: one owner thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/data/data_object_client.h"
#include "core/cluster_map.h"
#include "net/rpc.h"
#include "server/data/data_service.h"
#include "server/store/cell_store.h"
#include "tests/cluster/services.h"

namespace cvfs::testing {

struct InProcessOptions {
  int nodes = 6;
  StripeGeometry geometry{4, 2, 64 * 1024};
  uint32_t pg_count = 16;
  uint64_t drive_capacity_bytes = 0;  // 0: the file system's free space
  std::string crash_at;               // armed on every node (tests of the write path only)
};

class InProcessDataCluster {
 public:
  static Result<std::unique_ptr<InProcessDataCluster>> Start(const InProcessOptions& options);
  ~InProcessDataCluster();

  const ClusterMap& map() const { return map_; }
  const FilesystemInfo& fs() const { return map_.filesystems.begin()->second; }
  int size() const { return static_cast<int>(nodes_.size()); }
  std::string node_id(int i) const { return "n" + std::to_string(i); }
  server::CellStore& store(int i) { return *nodes_[i].store; }
  server::DataService& service(int i) { return *nodes_[i].service; }
  net::RpcEndpoint& endpoint(int i) { return *nodes_[i].endpoint; }
  const std::string& drive_dir(int i) const { return nodes_[i].drive_dir; }
  // Index of the node holding cell `cell` of (inode, stripe).
  int CellHolder(uint64_t inode, uint64_t stripe, int cell) const;

  Result<std::shared_ptr<client::DataObjectClient>> OpenClient(const std::string& name = "client");
  // Takes node i off the fabric (endpoint shut down) and, with `mark_down`, publishes a map
  // that says so to every node and to every client opened so far.
  void StopNode(int i, bool mark_down);
  // Replaces the published map (new epoch) with node i in `state`.
  void SetNodeState(int i, NodeState state);

 private:
  struct Node {
    std::string drive_dir;
    std::unique_ptr<net::RpcEndpoint> endpoint;
    std::unique_ptr<server::CellStore> store;
    std::unique_ptr<server::DataService> service;
  };
  InProcessDataCluster() = default;
  void Publish();

  InProcessOptions options_;
  std::string dir_;
  std::unique_ptr<MungeDaemon> munge_;
  std::vector<Node> nodes_;
  ClusterMap map_;
  std::vector<std::weak_ptr<client::DataObjectClient>> clients_;
};

}  // namespace cvfs::testing
