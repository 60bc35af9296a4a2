#include "tests/unit/server/datapath_cluster.h"

#include <cstdlib>
#include <filesystem>

#include "core/placement.h"
#include "core/stripe_routing.h"

namespace cvfs::testing {

Result<std::unique_ptr<InProcessDataCluster>> InProcessDataCluster::Start(
    const InProcessOptions& options) {
  std::unique_ptr<InProcessDataCluster> c(new InProcessDataCluster());
  c->options_ = options;
  CVFS_ASSIGN_OR_RETURN(c->dir_, MakeTempDir("cvfs-datapath"));
  CVFS_ASSIGN_OR_RETURN(c->munge_, MungeDaemon::Start(c->dir_ + "/munge"));
  c->map_.cluster = "inproc";
  c->map_.epoch = Epoch{1};
  c->nodes_.resize(options.nodes);
  CVFS_ASSIGN_OR_RETURN(server::CrashPoints crash, [&]() -> Result<server::CrashPoints> {
    CVFS_ASSIGN_OR_RETURN(server::CrashPoint p, server::ParseCrashPoint(options.crash_at));
    return server::CrashPoints(p);
  }());
  for (int i = 0; i < options.nodes; ++i) {
    Node& node = c->nodes_[i];
    node.drive_dir = c->dir_ + "/" + c->node_id(i) + "/drive0";
    std::filesystem::create_directories(node.drive_dir);
    net::RpcOptions rpc;
    rpc.name = c->node_id(i);
    rpc.require_auth = true;
    rpc.munge_socket = c->munge_->socket_path();
    rpc.handler_threads = 4;
    rpc.coordinator_threads = 4;
    CVFS_ASSIGN_OR_RETURN(node.endpoint, net::RpcEndpoint::Create(rpc));
    server::CellStoreOptions store;
    store.data_path = node.drive_dir;
    store.index_path = node.drive_dir + "/.cvfs-index";
    store.capacity_bytes = options.drive_capacity_bytes;
    CVFS_ASSIGN_OR_RETURN(node.store, server::CellStore::Open(store));
    server::DataServiceOptions data;
    data.self = NodeId(c->node_id(i));
    data.stores = {node.store.get()};
    data.crash_points = crash;
    data.member_timeout = std::chrono::seconds(5);
    node.service = std::make_unique<server::DataService>(*node.endpoint, data);
    node.service->Register();

    NodeEntry entry;
    entry.state = NodeState::kUp;
    entry.record.id = NodeId(c->node_id(i));
    entry.record.failure_domain = c->node_id(i);
    entry.record.fabric_provider = node.endpoint->provider();
    entry.record.fabric_address = node.endpoint->address();
    entry.record.drives = {DriveInfo{node.drive_dir, 1ull << 40, 1ull << 40}};
    c->map_.nodes[entry.record.id] = entry;
  }
  FilesystemInfo fs;
  fs.name = "scratch";
  fs.id = 7;
  fs.geometry = options.geometry;
  fs.pg_count = options.pg_count;
  PlacementPolicy policy;
  policy.data_cells = options.geometry.data_cells;
  policy.parity_cells = options.geometry.parity_cells;
  policy.pg_count = static_cast<int>(options.pg_count);
  CVFS_ASSIGN_OR_RETURN(fs.groups, AssignPlacementGroups(c->map_, policy));
  c->map_.filesystems[fs.name] = fs;
  c->Publish();
  return c;
}

InProcessDataCluster::~InProcessDataCluster() {
  for (auto& node : nodes_) {
    if (node.endpoint) node.endpoint->Shutdown();
  }
  nodes_.clear();
  munge_.reset();
  if (std::getenv("CVFS_KEEP_TEST_DIR") == nullptr && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

int InProcessDataCluster::CellHolder(uint64_t inode, uint64_t stripe, int cell) const {
  auto route = RouteStripe(map_, fs(), inode, stripe);
  if (!route.ok()) return -1;
  const std::string& id = route->member(cell).node.str();
  for (int i = 0; i < size(); ++i) {
    if (node_id(i) == id) return i;
  }
  return -1;
}

Result<std::shared_ptr<client::DataObjectClient>> InProcessDataCluster::OpenClient(
    const std::string& name) {
  ObjectClientOptions options;
  options.filesystem = "scratch";
  options.name = name;
  options.munge_socket = munge_->socket_path();
  options.deadline = std::chrono::seconds(20);
  options.slow_cell_timeout = std::chrono::seconds(1);
  CVFS_ASSIGN_OR_RETURN(auto opened,
                        client::DataObjectClient::OpenWithMapForTesting(options, map_));
  std::shared_ptr<client::DataObjectClient> client = std::move(opened);
  clients_.push_back(client);
  return client;
}

void InProcessDataCluster::StopNode(int i, bool mark_down) {
  nodes_[i].endpoint->Shutdown();
  if (mark_down) SetNodeState(i, NodeState::kDown);
}

void InProcessDataCluster::SetNodeState(int i, NodeState state) {
  map_.nodes[NodeId(node_id(i))].state = state;
  map_.epoch = map_.epoch.Next();
  Publish();
}

void InProcessDataCluster::Publish() {
  for (auto& node : nodes_) node.service->SetMap(map_);
  for (auto& weak : clients_) {
    if (auto client = weak.lock()) client->SetMapForTesting(map_);
  }
}

}  // namespace cvfs::testing
