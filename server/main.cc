// cvfsd: the ConvergeFS backend daemon. Parses its configuration, starts the Daemon and
// waits for SIGTERM/SIGINT (clean shutdown: the lease is revoked so the node shows as down
// at once). Exit codes are documented in docs/admin/cvfsd.md.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "core/daemon_config.h"
#include "core/host_name.h"
#include "core/logging.h"
#include "server/daemon.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitConfig = 2;
constexpr int kExitUnavailable = 3;
constexpr int kExitInternal = 10;

}  // namespace

int main(int argc, char** argv) {
  using cvfs::DaemonConfig;
  CLI::App app{
      "cvfsd: the ConvergeFS backend. Registers this node in the cluster (etcd), campaigns\n"
      "for manager, and serves clients and peers over libfabric with MUNGE-authenticated\n"
      "sessions. Flags override the configuration file."};
  app.set_version_flag("--version", "cvfsd " CVFS_VERSION);
  std::string config_path;
  DaemonConfig flags;
  std::string etcd_csv;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option("--cluster", flags.cluster, "cluster name");
  app.add_option("--node-id", flags.node_id, "node id (default: host name)");
  app.add_option("--failure-domain", flags.failure_domain,
                 "failure domain label (default: node id)");
  app.add_option("--state-dir", flags.state_dir, "local state directory");
  app.add_option("--drive", flags.drives, "a drive directory (repeatable)");
  app.add_option("--etcd", etcd_csv, "etcd endpoints, comma-separated");
  app.add_option("--lease-ttl", flags.lease_ttl_s, "membership lease TTL in seconds");
  app.add_option("--provider", flags.provider,
                 "libfabric provider: tcp;ofi_rxm, shm, verbs;ofi_rxm");
  app.add_option("--host", flags.host, "fabric address to bind");
  app.add_option("--port", flags.port, "fabric port (0: any)");
  app.add_option("--progress-poll-us", flags.progress_poll_us,
                 "0: block on the completion queue when idle; N: poll every <= N us");
  app.add_option("--munge-socket", flags.munge_socket, "munged socket path");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-file", flags.log_file, "log file (default: stderr)");
  app.add_option("--rebuild-grace", flags.rebuild_node_grace_s,
                 "seconds a node may be down before its data is rebuilt elsewhere (manager)");
  app.add_option("--rebuild-bandwidth", flags.rebuild_bandwidth_mib,
                 "MiB/s this node may write while rebuilding (0: no limit)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitConfig;
  }

  // File first, then every flag given on the command line.
  DaemonConfig config;
  config.node_id = cvfs::ShortHostName();
  std::vector<std::string> warnings;
  if (!config_path.empty()) {
    cvfs::Status st = cvfs::LoadDaemonConfigFile(config_path, &config, &warnings);
    if (!st.ok()) {
      std::cerr << "cvfsd: " << st.ToString() << "\n";
      return kExitConfig;
    }
  }
  auto given = [&](const char* name) { return app.count(name) > 0; };
  if (given("--cluster")) config.cluster = flags.cluster;
  if (given("--node-id")) config.node_id = flags.node_id;
  if (given("--failure-domain")) config.failure_domain = flags.failure_domain;
  if (given("--state-dir")) config.state_dir = flags.state_dir;
  if (given("--drive")) config.drives = flags.drives;
  if (given("--etcd")) {
    config.etcd_endpoints.clear();
    std::stringstream in(etcd_csv);
    for (std::string item; std::getline(in, item, ',');) {
      if (!item.empty()) config.etcd_endpoints.push_back(item);
    }
  }
  if (given("--lease-ttl")) config.lease_ttl_s = flags.lease_ttl_s;
  if (given("--provider")) config.provider = flags.provider;
  if (given("--host")) config.host = flags.host;
  if (given("--port")) config.port = flags.port;
  if (given("--progress-poll-us")) config.progress_poll_us = flags.progress_poll_us;
  if (given("--munge-socket")) config.munge_socket = flags.munge_socket;
  if (given("--log-level")) config.log_level = flags.log_level;
  if (given("--log-file")) config.log_file = flags.log_file;
  if (given("--rebuild-grace")) config.rebuild_node_grace_s = flags.rebuild_node_grace_s;
  if (given("--rebuild-bandwidth")) config.rebuild_bandwidth_mib = flags.rebuild_bandwidth_mib;
  if (config.failure_domain.empty()) config.failure_domain = config.node_id;

  if (cvfs::Status st = config.Validate(); !st.ok()) {
    std::cerr << "cvfsd: " << st.ToString() << "\n";
    return kExitConfig;
  }
  if (cvfs::Status st = cvfs::InitLogging({"cvfsd", config.log_level, config.log_file}); !st.ok()) {
    std::cerr << "cvfsd: " << st.ToString() << "\n";
    return kExitConfig;
  }
  for (const auto& w : warnings) LOG_WARN("config.warning {}", w);

  // Signals are taken synchronously by this thread; every thread the daemon starts
  // inherits the blocked mask, so no handler ever runs inside library code.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto daemon = cvfs::server::Daemon::Start(config);
  if (!daemon.ok()) {
    LOG_ERROR("daemon.start_failed error=\"{}\"", daemon.status().ToString());
    std::cerr << "cvfsd: cannot start: " << daemon.status().ToString() << "\n";
    const auto code = daemon.status().code();
    if (code == cvfs::ErrorCode::kUnavailable || code == cvfs::ErrorCode::kNotFound) {
      return kExitUnavailable;
    }
    // Restarting will not help with these: the configuration (or another daemon holding
    // this node's identity, state directory or drives) must change first.
    if (code == cvfs::ErrorCode::kConfigError || code == cvfs::ErrorCode::kInvalidArgument ||
        code == cvfs::ErrorCode::kConflict || code == cvfs::ErrorCode::kAlreadyExists ||
        code == cvfs::ErrorCode::kNotSupported) {
      return kExitConfig;
    }
    return kExitInternal;
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LOG_INFO("daemon.stopping signal={}", strsignal(sig));
  (*daemon)->Shutdown();
  LOG_INFO("daemon.stopped node={}", config.node_id);
  return kExitOk;
}
