// AdminClient over the control plane (control::EtcdClient + cluster_admin). The status
// JSON itself is built by control::ClusterStatusToJson so that its shape is tested next to
// the code that reads etcd.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "control/cluster_admin.h"
#include "control/cluster_manager.h"
#include "control/etcd_client.h"
#include "control/filesystem_admin.h"
#include "control/keys.h"
#include "core/clock.h"
#include "cvfs/admin.h"
#include "net/fabric/address.h"
#include "net/rpc.h"
#include "net/wire/methods.h"

namespace cvfs {
namespace {

Result<control::FilesystemSpec> SpecOf(const FilesystemCreateOptions& options) {
  if (options.cell_bytes > UINT32_MAX) {
    return Status::InvalidArgument("cell size " + std::to_string(options.cell_bytes) +
                                   " bytes is above the largest, 16 MiB");
  }
  control::FilesystemSpec spec;
  spec.name = options.name;
  spec.geometry.data_cells = options.data_cells;
  spec.geometry.parity_cells = options.parity_cells;
  spec.geometry.cell_bytes = static_cast<uint32_t>(options.cell_bytes);
  spec.pg_count = options.pg_count;
  spec.root_squash = options.root_squash;
  CVFS_RETURN_IF_ERROR(control::ValidateFilesystemSpec(spec));
  return spec;
}

class EtcdAdminClient final : public AdminClient {
 public:
  EtcdAdminClient(std::shared_ptr<control::EtcdClient> etcd, AdminOptions options)
      : etcd_(std::move(etcd)), options_(std::move(options)), cluster_(options_.cluster) {}

  Status CreateCluster(const std::string& name) override {
    return control::CreateCluster(*etcd_, name);
  }

  Result<nlohmann::json> ClusterStatus() override {
    CVFS_RETURN_IF_ERROR(control::ValidateClusterName(cluster_));
    control::KeyLayout keys(cluster_);
    CVFS_ASSIGN_OR_RETURN(control::ClusterStatusInfo info,
                          control::ReadClusterStatus(*etcd_, keys));
    if (!info.exists) {
      return Status::NotFound("cluster '" + cluster_ +
                              "' does not exist: run `cvfs cluster create " + cluster_ + "`");
    }
    nlohmann::json status = control::ClusterStatusToJson(info);
    // `endpoint` is the address as people read it ("10.1.4.21:41237"); `address` stays the
    // opaque string a peer connects to.
    for (auto& node : status["nodes"]) {
      node["endpoint"] = net::fabric::DescribeAddress(node.value("address", ""));
    }
    return status;
  }

  Result<nlohmann::json> CreateFilesystem(const FilesystemCreateOptions& options) override {
    CVFS_ASSIGN_OR_RETURN(control::FilesystemSpec spec, SpecOf(options));
    if (options.wait_timeout_ms <= 0) {
      return Status::InvalidArgument("wait timeout must be positive");
    }
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(
        FilesystemInfo defined,
        control::DefineFilesystem(*etcd_, keys, spec, Clock::System().WallMillis()));
    CVFS_ASSIGN_OR_RETURN(ClusterMap map, control::WaitForPlacement(
                                              *etcd_, keys, defined.name, defined.id,
                                              std::chrono::milliseconds(options.wait_timeout_ms)));
    return control::FilesystemStatusToJson(map.filesystems.at(defined.name), &map);
  }

  Result<nlohmann::json> ListFilesystems() override {
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    return control::ListFilesystemsJson(*etcd_, keys);
  }

  Result<nlohmann::json> FilesystemStatus(const std::string& name) override {
    CVFS_RETURN_IF_ERROR(ValidateFilesystemName(name));
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    return control::FilesystemStatusJson(*etcd_, keys, name);
  }

  Result<nlohmann::json> DrainNode(const std::string& node, bool drain) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, control::ReadMap(*etcd_, keys));
    if (!map || !map->nodes.contains(NodeId(node))) {
      return Status::NotFound("node '" + node + "' is not in the cluster map");
    }
    if (drain) {
      const nlohmann::json record = {{"since_ms", Clock::System().WallMillis()}};
      CVFS_RETURN_IF_ERROR(etcd_->Put(keys.Drain(NodeId(node)), record.dump()).status());
    } else {
      CVFS_RETURN_IF_ERROR(etcd_->Delete(keys.Drain(NodeId(node))).status());
    }
    const uint64_t slots =
        CountSlots(*map, [&](const PgMember& m) { return m.node == NodeId(node); });
    return nlohmann::json{{"node", node}, {"draining", drain}, {"slots", slots}};
  }

  Result<nlohmann::json> RequestMaintenance(const std::string& node, const std::string& reason,
                                            int window_s) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    if (reason.size() > control::kMaxMaintenanceReasonLength) {
      return Status::InvalidArgument("the reason is longer than " +
                                     std::to_string(control::kMaxMaintenanceReasonLength) +
                                     " bytes");
    }
    const int64_t window_ms = int64_t{window_s} * 1000;
    if (window_ms < 0 || window_ms > control::kMaxMaintenanceWindowMs) {
      return Status::InvalidArgument("the window must be 1.." +
                                     std::to_string(control::kMaxMaintenanceWindowMs / 1000) +
                                     " seconds");
    }
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, control::ReadMap(*etcd_, keys));
    if (!map || !map->nodes.contains(NodeId(node))) {
      return Status::NotFound("node '" + node + "' is not in the cluster map");
    }
    if (!map->maintenance.contains(NodeId(node))) {
      control::MaintenanceRequest request{NodeId(node), reason, Clock::System().WallMillis(),
                                          window_ms};
      CVFS_RETURN_IF_ERROR(etcd_
                               ->Put(keys.MaintenanceRequest(NodeId(node)),
                                     control::MaintenanceRequestToJson(request).dump())
                               .status());
    }
    return MaintenanceOf(node);
  }

  Result<nlohmann::json> EndMaintenance(const std::string& node) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    CVFS_ASSIGN_OR_RETURN(nlohmann::json state, MaintenanceOf(node));
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_RETURN_IF_ERROR(etcd_->Delete(keys.MaintenanceRequest(NodeId(node))).status());
    // MaintenanceStateOf answers "granted", "queued" or "none".
    return nlohmann::json{{"node", node}, {"was", state.value("state", "none")}};
  }

  Result<nlohmann::json> Maintenance() override {
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(control::ClusterStatusInfo info,
                          control::ReadClusterStatus(*etcd_, keys));
    return control::MaintenanceStatusToJson(info);
  }

  Result<nlohmann::json> AddDrive(const std::string& node, const std::string& path) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("drive path '" + path + "' must be absolute");
    }
    return CallUpNode(node, net::Method::kAddDrive, nlohmann::json{{"path", path}}, "AddDrive");
  }

  Result<nlohmann::json> ReplaceDrive(const std::string& node, uint32_t index,
                                      const std::string& path) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("drive path '" + path + "' must be absolute");
    }
    return CallUpNode(node, net::Method::kReplaceDrive,
                      nlohmann::json{{"index", index}, {"path", path}}, "ReplaceDrive");
  }

  Result<nlohmann::json> RemoveDrive(const std::string& node, uint32_t index,
                                     bool remove) override {
    CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, control::ReadMap(*etcd_, keys));
    auto it = map ? map->nodes.find(NodeId(node)) : decltype(map->nodes.end()){};
    if (!map || it == map->nodes.end()) {
      return Status::NotFound("node '" + node + "' is not in the cluster map");
    }
    if (index >= it->second.record.drives.size()) {
      return Status::NotFound("node '" + node + "' has no drive " + std::to_string(index) +
                              " (it has " + std::to_string(it->second.record.drives.size()) + ")");
    }
    const std::string key = keys.RemoveDrive(NodeId(node), index);
    if (remove) {
      const nlohmann::json record = {{"since_ms", Clock::System().WallMillis()}};
      CVFS_RETURN_IF_ERROR(etcd_->Put(key, record.dump()).status());
    } else {
      CVFS_RETURN_IF_ERROR(etcd_->Delete(key).status());
    }
    const PgMember drive{NodeId(node), index};
    const uint64_t slots = CountSlots(*map, [&](const PgMember& m) { return m == drive; });
    return nlohmann::json{{"node", node}, {"index", index}, {"removing", remove}, {"slots", slots}};
  }

  Result<nlohmann::json> ScrubStatus(const std::string& node) override {
    CVFS_ASSIGN_OR_RETURN(auto replies, CallNodes(node, net::Method::kScrubStatus));
    static const char* const kFigures[] = {
        "cells",        "bytes",      "stripes_checked", "stripes_skipped", "parity_bytes",
        "errors_found", "crc_errors", "parity_errors",   "repaired",        "unrepaired"};
    nlohmann::json totals = nlohmann::json::object();
    for (const char* f : kFigures) totals[f] = 0;
    int running = 0;
    int unanswered = 0;
    nlohmann::json nodes = nlohmann::json::array();
    for (auto& [id, reply] : replies) {
      if (!reply.ok()) {
        ++unanswered;
        nodes.push_back({{"node", id}, {"error", reply.status().ToString()}});
        continue;
      }
      auto json = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
      if (!json.is_object()) {
        ++unanswered;
        nodes.push_back({{"node", id}, {"error", "reply is not a JSON object"}});
        continue;
      }
      if (json.value("running", false)) ++running;
      const nlohmann::json total = json.value("total", nlohmann::json::object());
      for (const char* f : kFigures) {
        totals[f] = totals[f].get<uint64_t>() + total.value(f, uint64_t{0});
      }
      json["node"] = id;
      nodes.push_back(std::move(json));
    }
    return nlohmann::json{
        {"nodes", std::move(nodes)},
        {"totals", std::move(totals)},
        {"running", running},
        {"unanswered", unanswered},
    };
  }

  Result<nlohmann::json> ScrubStart(const std::string& node) override {
    CVFS_ASSIGN_OR_RETURN(auto replies, CallNodes(node, net::Method::kScrubStart));
    nlohmann::json nodes = nlohmann::json::array();
    for (auto& [id, reply] : replies) {
      if (!reply.ok()) {
        nodes.push_back({{"node", id},
                         {"error", reply.status().ToString()},
                         {"code", std::string(ErrorCodeName(reply.status().code()))}});
        continue;
      }
      auto json = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
      nodes.push_back({{"node", id}, {"pass", json.is_object() ? json.value("pass", 0ull) : 0ull}});
    }
    return nlohmann::json{{"nodes", std::move(nodes)}};
  }

 private:
  Result<nlohmann::json> MaintenanceOf(const std::string& node) {
    CVFS_ASSIGN_OR_RETURN(nlohmann::json all, Maintenance());
    return control::MaintenanceStateOf(all, node);
  }

  // Calls `method` with `request` on cvfsd `node` (it must be up in the map) and returns its
  // JSON object reply with "node" added. Drive work (labelling, measuring, opening a store)
  // may take longer than one control-plane call: the call gets kAddDriveTimeout at least.
  Result<nlohmann::json> CallUpNode(const std::string& node, net::Method method,
                                    const nlohmann::json& request, const char* what) {
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, control::ReadMap(*etcd_, keys));
    const NodeEntry* entry = nullptr;
    if (map) {
      auto it = map->nodes.find(NodeId(node));
      if (it != map->nodes.end()) entry = &it->second;
    }
    if (entry == nullptr) {
      return Status::NotFound("node '" + node + "' is not in the map of cluster '" + cluster_ +
                              "' (see `cvfs status`)");
    }
    if (entry->state != NodeState::kUp) {
      return Status::Unavailable("node '" + node + "' is " +
                                 std::string(NodeStateName(entry->state)) +
                                 ": start its cvfsd first");
    }
    net::RpcOptions rpc;
    rpc.provider = entry->record.fabric_provider;
    rpc.name = "cvfs-admin";
    rpc.munge_socket = options_.munge_socket;
    rpc.handler_threads = 1;
    CVFS_ASSIGN_OR_RETURN(std::unique_ptr<net::RpcEndpoint> endpoint,
                          net::RpcEndpoint::Create(std::move(rpc)));
    const Duration timeout = std::chrono::milliseconds(options_.timeout_ms);
    CVFS_ASSIGN_OR_RETURN(net::PeerId peer,
                          endpoint->Connect(entry->record.fabric_address, timeout));
    const Duration call_timeout = std::max<Duration>(timeout, kAddDriveTimeout);
    CVFS_ASSIGN_OR_RETURN(std::string reply,
                          endpoint->Call(peer, method, request.dump(), call_timeout));
    auto json = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) {
      return Status::MalformedMessage("node '" + node + "' sent a " + what +
                                      " reply that is not a JSON object");
    }
    json["node"] = node;
    return json;
  }

  // Slots of every filesystem in `map` whose member satisfies `held`.
  template <typename Pred>
  static uint64_t CountSlots(const ClusterMap& map, Pred held) {
    uint64_t slots = 0;
    for (const auto& [name, fs] : map.filesystems) {
      for (const auto& pg : fs.groups) {
        for (const auto& m : pg.members) slots += held(m) ? 1 : 0;
      }
    }
    return slots;
  }

  static constexpr Duration kAddDriveTimeout = std::chrono::seconds(30);

  // Calls `method` (empty request) on every up node of the map, or only on `node`; one
  // result per node, in id order. kNotFound when `node` is not in the map.
  Result<std::vector<std::pair<std::string, Result<std::string>>>> CallNodes(
      const std::string& node, net::Method method) {
    if (!node.empty()) CVFS_RETURN_IF_ERROR(ValidateNodeId(node));
    CVFS_ASSIGN_OR_RETURN(control::KeyLayout keys, ExistingCluster());
    CVFS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, control::ReadMap(*etcd_, keys));
    if (!map) return Status::Unavailable("cluster '" + cluster_ + "' has no map yet");
    if (!node.empty() && map->nodes.find(NodeId(node)) == map->nodes.end()) {
      return Status::NotFound("node '" + node + "' is not in the map of cluster '" + cluster_ +
                              "' (see `cvfs status`)");
    }
    std::vector<std::pair<std::string, Result<std::string>>> out;
    std::unique_ptr<net::RpcEndpoint> endpoint;
    const Duration timeout = std::chrono::milliseconds(options_.timeout_ms);
    for (const auto& [id, entry] : map->nodes) {
      if (!node.empty() && id.str() != node) continue;
      if (entry.state != NodeState::kUp) {
        if (!node.empty()) {
          out.emplace_back(id.str(), Status::Unavailable("node '" + node + "' is " +
                                                         std::string(NodeStateName(entry.state))));
        }
        continue;
      }
      if (endpoint == nullptr) {
        net::RpcOptions rpc;
        rpc.provider = entry.record.fabric_provider;
        rpc.name = "cvfs-admin";
        rpc.munge_socket = options_.munge_socket;
        rpc.handler_threads = 1;
        CVFS_ASSIGN_OR_RETURN(endpoint, net::RpcEndpoint::Create(std::move(rpc)));
      }
      Result<net::PeerId> peer = endpoint->Connect(entry.record.fabric_address, timeout);
      if (!peer.ok()) {
        out.emplace_back(id.str(), peer.status());
        continue;
      }
      out.emplace_back(id.str(), endpoint->Call(*peer, method, "{}", timeout));
    }
    return out;
  }

  // The key layout of the configured cluster; kNotFound when it was never created.
  Result<control::KeyLayout> ExistingCluster() {
    CVFS_RETURN_IF_ERROR(control::ValidateClusterName(cluster_));
    control::KeyLayout keys(cluster_);
    CVFS_ASSIGN_OR_RETURN(control::RangeResponse config, etcd_->Get(keys.Config()));
    if (config.kvs.empty()) {
      return Status::NotFound("cluster '" + cluster_ +
                              "' does not exist: run `cvfs cluster create " + cluster_ + "`");
    }
    return keys;
  }

  // Const after construction; EtcdClient is thread-safe, so this class is too.
  const std::shared_ptr<control::EtcdClient> etcd_;
  const AdminOptions options_;
  const std::string cluster_;
};

}  // namespace

Result<std::unique_ptr<AdminClient>> AdminClient::Connect(const AdminOptions& options) {
  if (options.timeout_ms <= 0) return Status::InvalidArgument("timeout_ms must be positive");
  control::EtcdOptions etcd_options;
  etcd_options.endpoints = options.etcd_endpoints;
  etcd_options.request_timeout = std::chrono::milliseconds(options.timeout_ms);
  if (etcd_options.connect_timeout > etcd_options.request_timeout) {
    etcd_options.connect_timeout = etcd_options.request_timeout;
  }
  CVFS_ASSIGN_OR_RETURN(std::shared_ptr<control::EtcdClient> etcd,
                        control::EtcdClient::Create(std::move(etcd_options)));
  // One cheap read proves an endpoint answers (kUnavailable otherwise).
  auto probe = etcd->Get(control::kKeyRoot);
  if (!probe.ok()) return probe.status();
  return std::unique_ptr<AdminClient>(new EtcdAdminClient(std::move(etcd), options));
}

Status ValidateClusterName(const std::string& name) { return control::ValidateClusterName(name); }

Status ValidateFilesystemCreateOptions(const FilesystemCreateOptions& options) {
  return SpecOf(options).status();
}

}  // namespace cvfs
