// RunDoctor: the node checks behind `cvfs doctor` (include/cvfs/admin.h). Each check is a
// small function returning one JSON entry; none throws or aborts the others.
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/daemon_config.h"
#include "core/host_name.h"
#include "cvfs/admin.h"
#include "net/probe.h"

namespace cvfs {

namespace {

nlohmann::json Check(const std::string& name, const std::string& severity,
                     const std::string& summary, const std::string& detail = "") {
  return {{"name", name},
          {"ok", severity != "error"},
          {"severity", severity},
          {"summary", summary},
          {"detail", detail}};
}

nlohmann::json CheckRdma(nlohmann::json* out) {
  auto devices = net::ListRdmaDevices();
  if (!devices.ok())
    return Check("rdma", "warning", "libibverbs failed", devices.status().ToString());
  nlohmann::json list = nlohmann::json::array();
  int active = 0;
  for (const auto& dev : *devices) {
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : dev.ports) {
      ports.push_back({{"port", p.port_num}, {"state", p.state}, {"link_layer", p.link_layer}});
      if (p.state == "active") ++active;
    }
    list.push_back({{"name", dev.name}, {"node_guid", dev.node_guid}, {"ports", ports}});
  }
  (*out)["rdma_devices"] = list;
  if (devices->empty()) {
    return Check("rdma", "info", "no RDMA devices: libibverbs sees none on this node",
                 "verbs;ofi_rxm cannot be used here; tcp;ofi_rxm carries the traffic");
  }
  if (active == 0) {
    return Check("rdma", "warning",
                 std::to_string(devices->size()) + " RDMA device(s), no port active");
  }
  return Check("rdma", "ok",
               std::to_string(devices->size()) + " RDMA device(s), " + std::to_string(active) +
                   " active port(s)");
}

nlohmann::json CheckFabric(const std::string& required, nlohmann::json* out) {
  nlohmann::json list = nlohmann::json::array();
  std::string summary;
  bool required_works = false;
  std::string required_detail;
  for (const auto& probe : net::ProbeProviders()) {
    list.push_back(
        {{"provider", probe.provider}, {"works", probe.works}, {"detail", probe.detail}});
    if (!summary.empty()) summary += ", ";
    summary += probe.provider + (probe.works ? " works" : " unavailable");
    if (probe.provider == required) {
      required_works = probe.works;
      required_detail = probe.detail;
    }
  }
  (*out)["fabric_providers"] = list;
  if (!required_works) {
    return Check("fabric", "error", "configured provider " + required + " does not work here",
                 required_detail.empty() ? summary : required_detail);
  }
  return Check("fabric", "ok", summary, "this node uses " + required);
}

nlohmann::json CheckMunge(const std::string& socket) {
  const auto probe = net::ProbeMunge(socket);
  const std::string where = socket.empty() ? "default socket" : socket;
  if (!probe.works)
    return Check("munge", "error", "munged does not answer at " + where, probe.detail);
  return Check("munge", "ok",
               "munged answers at " + where + " (uid " + std::to_string(probe.uid) + ", gid " +
                   std::to_string(probe.gid) + ")");
}

void CheckControlPlane(const DoctorOptions& options, const DaemonConfig* config,
                       const std::string& node, nlohmann::json* checks) {
  control::EtcdOptions etcd_options;
  etcd_options.endpoints = options.etcd_endpoints;
  etcd_options.request_timeout = std::chrono::milliseconds(options.timeout_ms);
  if (etcd_options.connect_timeout > etcd_options.request_timeout) {
    etcd_options.connect_timeout = etcd_options.request_timeout;
  }
  auto etcd = control::EtcdClient::Create(etcd_options);
  if (!etcd.ok()) {
    checks->push_back(
        Check("etcd", "error", "cannot use etcd endpoints", etcd.status().ToString()));
    return;
  }
  std::string endpoints;
  for (const auto& e : options.etcd_endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;
  if (options.cluster.empty()) {
    auto probe = (*etcd)->Get("/cvfs/");
    if (!probe.ok()) {
      checks->push_back(
          Check("etcd", "error", "etcd unreachable at " + endpoints, probe.status().ToString()));
    } else {
      checks->push_back(Check("etcd", "ok", "etcd answers at " + endpoints,
                              "no cluster named: cluster checks skipped"));
    }
    return;
  }
  if (!control::ValidateClusterName(options.cluster).ok()) {
    checks->push_back(Check("etcd", "error", "invalid cluster name '" + options.cluster + "'"));
    return;
  }
  control::KeyLayout keys(options.cluster);
  auto cluster = (*etcd)->Get(keys.Config());
  if (!cluster.ok()) {
    checks->push_back(
        Check("etcd", "error", "etcd unreachable at " + endpoints, cluster.status().ToString()));
    return;
  }
  if (cluster->kvs.empty()) {
    checks->push_back(Check("etcd", "error", "cluster " + options.cluster + " does not exist",
                            "create it with: cvfs cluster create " + options.cluster));
    return;
  }
  checks->push_back(Check(
      "etcd", "ok", "etcd answers at " + endpoints + "; cluster " + options.cluster + " exists"));
  if (config == nullptr) return;
  auto reg = (*etcd)->Get(keys.Node(NodeId(node)));
  if (!reg.ok()) {
    checks->push_back(Check("cvfsd", "error", "cannot read the registration of " + node,
                            reg.status().ToString()));
  } else if (reg->kvs.empty()) {
    checks->push_back(Check("cvfsd", "error", "cvfsd of node " + node + " is not registered",
                            "it is not running, or cannot reach etcd; see its log"));
  } else {
    checks->push_back(
        Check("cvfsd", "ok", "cvfsd of node " + node + " is registered (lease alive)"));
  }
}

nlohmann::json CheckDrives(const DaemonConfig& config) {
  if (config.drives.empty()) return Check("drives", "warning", "the config lists no drives");
  std::string problems;
  std::string summary;
  bool low = false;
  for (const auto& drive : config.drives) {
    std::error_code ec;
    if (!std::filesystem::is_directory(drive, ec) && !std::filesystem::is_block_file(drive, ec)) {
      problems += drive + ": missing; ";
      continue;
    }
    if (access(drive.c_str(), W_OK) != 0) {
      problems += drive + ": not writable; ";
      continue;
    }
    struct statvfs sv {};
    if (statvfs(drive.c_str(), &sv) != 0) {
      problems += drive + ": statvfs failed; ";
      continue;
    }
    const double total = static_cast<double>(sv.f_blocks) * sv.f_frsize;
    const double avail = static_cast<double>(sv.f_bavail) * sv.f_frsize;
    if (total > 0 && avail / total < 0.05) low = true;
    char buf[128];
    std::snprintf(buf, sizeof(buf), "%s%s %.1f of %.1f GiB free", summary.empty() ? "" : "; ",
                  drive.c_str(), avail / (1 << 30), total / (1 << 30));
    summary += buf;
  }
  if (!problems.empty()) return Check("drives", "error", "drive problems", problems);
  if (low) return Check("drives", "warning", "a drive is over 95% full", summary);
  return Check("drives", "ok", std::to_string(config.drives.size()) + " drive(s) usable", summary);
}

}  // namespace

nlohmann::json RunDoctor(const DoctorOptions& options) {
  nlohmann::json report;
  nlohmann::json checks = nlohmann::json::array();
  DaemonConfig config;
  config.node_id = ShortHostName();
  bool have_config = false;
  if (!options.config_path.empty()) {
    std::vector<std::string> warnings;
    Status st = LoadDaemonConfigFile(options.config_path, &config, &warnings);
    if (st.ok()) st = config.Validate();
    if (!st.ok()) {
      checks.push_back(Check("config", "error",
                             "cvfsd config " + options.config_path + " is invalid", st.ToString()));
    } else {
      have_config = true;
      std::string detail;
      for (const auto& w : warnings) detail += w + "; ";
      checks.push_back(Check("config", warnings.empty() ? "ok" : "warning",
                             "cvfsd config " + options.config_path + " is valid", detail));
    }
  }
  report["node"] = config.node_id;
  report["role"] = have_config ? "backend" : "client";
  if (!have_config && options.config_path.empty()) {
    checks.push_back(Check("role", "info", "client-only node: no cvfsd configured here"));
  }
  checks.push_back(CheckRdma(&report));
  const std::string provider = !options.provider.empty()
                                   ? options.provider
                                   : (have_config ? config.provider : "tcp;ofi_rxm");
  checks.push_back(CheckFabric(provider, &report));
  const std::string munge_socket = !options.munge_socket.empty()
                                       ? options.munge_socket
                                       : (have_config ? config.munge_socket : "");
  checks.push_back(CheckMunge(munge_socket));
  if (!options.etcd_endpoints.empty()) {
    DoctorOptions effective = options;
    if (options.etcd_from_config && have_config) effective.etcd_endpoints = config.etcd_endpoints;
    if (effective.cluster.empty() && have_config) effective.cluster = config.cluster;
    CheckControlPlane(effective, have_config ? &config : nullptr, config.node_id, &checks);
  }
  if (have_config) checks.push_back(CheckDrives(config));
  bool ok = true;
  for (const auto& c : checks) ok = ok && c.value("ok", false);
  report["checks"] = checks;
  report["ok"] = ok;
  return report;
}

}  // namespace cvfs
