// AdminClient over the control plane (control::EtcdClient + cluster_admin). The status
// JSON itself is built by control::ClusterStatusToJson so that its shape is tested next to
// the code that reads etcd.
#include <chrono>
#include <memory>
#include <utility>

#include "control/cluster_admin.h"
#include "control/etcd_client.h"
#include "control/keys.h"
#include "cvfs/admin.h"
#include "net/fabric/address.h"

namespace cvfs {
namespace {

class EtcdAdminClient final : public AdminClient {
 public:
  EtcdAdminClient(std::shared_ptr<control::EtcdClient> etcd, std::string cluster)
      : etcd_(std::move(etcd)), cluster_(std::move(cluster)) {}

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

 private:
  // Const after construction; EtcdClient is thread-safe, so this class is too.
  const std::shared_ptr<control::EtcdClient> etcd_;
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
  return std::unique_ptr<AdminClient>(new EtcdAdminClient(std::move(etcd), options.cluster));
}

Status ValidateClusterName(const std::string& name) { return control::ValidateClusterName(name); }

}  // namespace cvfs
