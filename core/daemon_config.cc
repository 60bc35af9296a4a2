#include "core/daemon_config.h"

#include "core/config.h"

namespace cvfs {

const std::vector<std::string>& DaemonConfigKeys() {
  static const std::vector<std::string> keys = {"cluster",
                                                "node_id",
                                                "failure_domain",
                                                "state_dir",
                                                "drives",
                                                "etcd.endpoints",
                                                "etcd.lease_ttl_s",
                                                "net.provider",
                                                "net.host",
                                                "net.port",
                                                "net.progress_poll_us",
                                                "auth.munge_socket",
                                                "auth.require",
                                                "server.handler_threads",
                                                "server.coordinator_threads",
                                                "rebuild.node_grace_s",
                                                "rebuild.bandwidth_mib",
                                                "rebuild.rebalance_delay_s",
                                                "rebuild.drive_grace_s",
                                                "server.drive_probe_interval_s",
                                                "maintenance.window_s",
                                                "maintenance.max_domains",
                                                "maintenance.allow_degraded",
                                                "maintenance.min_spare",
                                                "debug.crash_at",
                                                "scrub.bandwidth_mib",
                                                "scrub.interval_s",
                                                "log.level",
                                                "log.file"};
  return keys;
}

namespace {

Status Assign(const ConfigFile& file, const std::string& key, std::string* out) {
  CVFS_ASSIGN_OR_RETURN(auto v, file.GetString(key));
  if (v) *out = *v;
  return Status::Ok();
}

Status Assign(const ConfigFile& file, const std::string& key, int* out) {
  CVFS_ASSIGN_OR_RETURN(auto v, file.GetInt(key));
  if (v) *out = static_cast<int>(*v);
  return Status::Ok();
}

Status Assign(const ConfigFile& file, const std::string& key, bool* out) {
  CVFS_ASSIGN_OR_RETURN(auto v, file.GetBool(key));
  if (v) *out = *v;
  return Status::Ok();
}

Status Assign(const ConfigFile& file, const std::string& key, std::vector<std::string>* out) {
  CVFS_ASSIGN_OR_RETURN(auto v, file.GetStringList(key));
  if (v) *out = *v;
  return Status::Ok();
}

}  // namespace

Status LoadDaemonConfigFile(const std::string& path, DaemonConfig* config,
                            std::vector<std::string>* warnings) {
  CVFS_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
  CVFS_RETURN_IF_ERROR(Assign(file, "cluster", &config->cluster));
  CVFS_RETURN_IF_ERROR(Assign(file, "node_id", &config->node_id));
  CVFS_RETURN_IF_ERROR(Assign(file, "failure_domain", &config->failure_domain));
  CVFS_RETURN_IF_ERROR(Assign(file, "state_dir", &config->state_dir));
  CVFS_RETURN_IF_ERROR(Assign(file, "drives", &config->drives));
  CVFS_RETURN_IF_ERROR(Assign(file, "etcd.endpoints", &config->etcd_endpoints));
  CVFS_RETURN_IF_ERROR(Assign(file, "etcd.lease_ttl_s", &config->lease_ttl_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "net.provider", &config->provider));
  CVFS_RETURN_IF_ERROR(Assign(file, "net.host", &config->host));
  CVFS_RETURN_IF_ERROR(Assign(file, "net.port", &config->port));
  CVFS_RETURN_IF_ERROR(Assign(file, "net.progress_poll_us", &config->progress_poll_us));
  CVFS_RETURN_IF_ERROR(Assign(file, "auth.munge_socket", &config->munge_socket));
  CVFS_RETURN_IF_ERROR(Assign(file, "auth.require", &config->require_auth));
  CVFS_RETURN_IF_ERROR(Assign(file, "server.handler_threads", &config->handler_threads));
  CVFS_RETURN_IF_ERROR(Assign(file, "server.coordinator_threads", &config->coordinator_threads));
  CVFS_RETURN_IF_ERROR(Assign(file, "rebuild.node_grace_s", &config->rebuild_node_grace_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "rebuild.bandwidth_mib", &config->rebuild_bandwidth_mib));
  CVFS_RETURN_IF_ERROR(
      Assign(file, "rebuild.rebalance_delay_s", &config->rebuild_rebalance_delay_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "rebuild.drive_grace_s", &config->rebuild_drive_grace_s));
  CVFS_RETURN_IF_ERROR(
      Assign(file, "server.drive_probe_interval_s", &config->drive_probe_interval_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "maintenance.window_s", &config->maintenance_window_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "maintenance.max_domains", &config->maintenance_max_domains));
  CVFS_RETURN_IF_ERROR(
      Assign(file, "maintenance.allow_degraded", &config->maintenance_allow_degraded));
  CVFS_RETURN_IF_ERROR(Assign(file, "maintenance.min_spare", &config->maintenance_min_spare));
  CVFS_RETURN_IF_ERROR(Assign(file, "debug.crash_at", &config->crash_at));
  CVFS_RETURN_IF_ERROR(Assign(file, "scrub.bandwidth_mib", &config->scrub_bandwidth_mib));
  CVFS_RETURN_IF_ERROR(Assign(file, "scrub.interval_s", &config->scrub_interval_s));
  CVFS_RETURN_IF_ERROR(Assign(file, "log.level", &config->log_level));
  CVFS_RETURN_IF_ERROR(Assign(file, "log.file", &config->log_file));
  if (warnings) {
    for (const auto& key : file.UnknownKeys(DaemonConfigKeys())) {
      warnings->push_back(path + ": unknown key '" + key + "' ignored");
    }
  }
  return Status::Ok();
}

Status DaemonConfig::Validate() const {
  auto bad = [](const std::string& msg) { return Status::ConfigError(msg); };
  if (cluster.empty()) return bad("cluster is required (config 'cluster' or --cluster)");
  if (node_id.empty()) return bad("node_id is empty");
  for (char c : node_id) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return bad("node_id '" + node_id + "' may contain only letters, digits, '-', '_', '.'");
    }
  }
  for (char c : cluster) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return bad("cluster '" + cluster + "' may contain only letters, digits, '-', '_', '.'");
    }
  }
  if (etcd_endpoints.empty()) return bad("etcd.endpoints is empty");
  if (lease_ttl_s < 1 || lease_ttl_s > 300) return bad("etcd.lease_ttl_s must be in 1..300");
  if (port < 0 || port > 65535) return bad("net.port must be in 0..65535");
  if (progress_poll_us < 0 || progress_poll_us > 1'000'000) {
    return bad("net.progress_poll_us must be in 0..1000000");
  }
  if (handler_threads < 1 || handler_threads > 256) {
    return bad("server.handler_threads must be in 1..256");
  }
  if (coordinator_threads < 1 || coordinator_threads > 256) {
    return bad("server.coordinator_threads must be in 1..256");
  }
  if (scrub_bandwidth_mib < 0 || scrub_bandwidth_mib > 1'000'000) {
    return bad("scrub.bandwidth_mib must be in 0..1000000 (0: no limit)");
  }
  if (scrub_interval_s < 0 || scrub_interval_s > 31'536'000) {
    return bad("scrub.interval_s must be in 0..31536000 (0: passes on request only)");
  }
  if (rebuild_node_grace_s < 1 || rebuild_node_grace_s > 30 * 24 * 3600) {
    return bad("rebuild.node_grace_s must be in 1..2592000");
  }
  if (rebuild_drive_grace_s < 1 || rebuild_drive_grace_s > 30 * 24 * 3600) {
    return bad("rebuild.drive_grace_s must be in 1..2592000");
  }
  if (maintenance_window_s < 1 || maintenance_window_s > 7 * 24 * 3600) {
    return bad("maintenance.window_s must be in 1..604800");
  }
  if (maintenance_max_domains < 1 || maintenance_max_domains > 64) {
    return bad("maintenance.max_domains must be in 1..64");
  }
  if (maintenance_min_spare < 0 || maintenance_min_spare > 16) {
    return bad("maintenance.min_spare must be in 0..16");
  }
  if (drive_probe_interval_s < 1 || drive_probe_interval_s > 3600) {
    return bad("server.drive_probe_interval_s must be in 1..3600");
  }
  if (rebuild_rebalance_delay_s < 0 || rebuild_rebalance_delay_s > 7 * 24 * 3600) {
    return bad("rebuild.rebalance_delay_s must be in 0..604800");
  }
  if (rebuild_bandwidth_mib < 0 || rebuild_bandwidth_mib > 1 << 20) {
    return bad("rebuild.bandwidth_mib must be in 0..1048576 (0: no limit)");
  }
  if (!crash_at.empty() && crash_at != "before_parity" && crash_at != "after_parity" &&
      crash_at != "mid_commit" && crash_at != "after_commit") {
    return bad("debug.crash_at '" + crash_at +
               "' is not one of before_parity, after_parity, mid_commit, after_commit");
  }
  if (provider != "tcp;ofi_rxm" && provider != "shm" && provider != "verbs;ofi_rxm" &&
      provider != "tcp" && provider != "sockets") {
    return bad("net.provider '" + provider + "' is not one of tcp;ofi_rxm, shm, verbs;ofi_rxm");
  }
  return Status::Ok();
}

}  // namespace cvfs
