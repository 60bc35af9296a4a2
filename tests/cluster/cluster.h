// TestCluster: a whole ConvergeFS cluster on one machine for integration and fault tests:
// a private etcd, a private munged (fresh key) and K real `cvfsd` processes on loopback,
// all under one temporary directory. Nodes can be killed (-9), stopped, paused (SIGSTOP, a
// hang), restarted. Status is read through the real `cvfs status --json` tool, so every
// test also exercises the CLI. The destructor stops everything and removes the directory
// (kept when CVFS_KEEP_TEST_DIR is set, for post-mortems).
// Thread-safety: one owner thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tests/cluster/child_process.h"
#include "tests/cluster/services.h"
#include "tests/cluster/test_network.h"

namespace cvfs::testing {

struct ClusterOptions {
  int nodes = 3;
  int started_nodes = 0;    // 0: all; otherwise nodes >= this are configured but not started
  int failure_domains = 0;  // 0: one per node; otherwise node i is in domain i % failure_domains
  std::string cluster_name = "test";
  std::string provider = "tcp;ofi_rxm";
  int lease_ttl_s = 2;
  bool create_cluster = true;             // run `cvfs cluster create` before starting nodes
  bool wait_until_up = true;              // Start() returns once every node is up with a manager
  std::vector<std::string> extra_config;  // extra TOML lines for every cvfsd config
  // Run every cvfsd in its own network namespace (a separate "host" on a test bridge) so
  // PartitionNode can cut it off. Needs root.
  bool network_namespaces = false;
  // >0: each node's drive is a tmpfs of this many bytes mounted by the test (root), e.g. a
  // small drive that fills, or RAM drives for the software path alone. 0: a plain
  // directory under the test directory (the local disk).
  uint64_t drive_tmpfs_bytes = 0;
  // Where node directories go; "": under $TMPDIR. Lets a benchmark put drives on a chosen disk.
  std::string base_dir;
};

class TestCluster {
 public:
  static Result<std::unique_ptr<TestCluster>> Start(const ClusterOptions& options);
  ~TestCluster();

  int size() const { return static_cast<int>(nodes_.size()); }
  std::string node_id(int i) const;
  const std::string& dir() const { return dir_; }
  const std::string& etcd_endpoint() const { return etcd_->endpoint(); }
  const std::string& munge_socket() const { return munge_->socket_path(); }
  const std::string& cluster_name() const { return options_.cluster_name; }
  const std::string& provider() const { return options_.provider; }
  // The address clients in this process listen on so that every backend reaches them: the
  // bridge's host address with network namespaces, else loopback.
  std::string client_host() const;
  std::string config_path(int i) const;
  pid_t pid(int i) const { return nodes_[i].process.pid(); }
  bool running(int i) { return nodes_[i].process.Running(); }

  // Starts node i (again). It keeps its id, config and state directory. `env` adds
  // "KEY=VALUE" entries for this start only (e.g. CVFS_CRASH_AT for fault injection).
  Status StartNode(int i, const std::vector<std::string>& env = {});
  // Waits until node i is up in the map (after a restart), or kDeadlineExceeded.
  Status WaitNodeUp(int i, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The drive directory of node i, and its log.
  std::string drive_path(int i) const;
  std::string log_path(int i) const { return nodes_[i].log_path; }
  // The exit status (waitpid form) of node i once it has exited.
  std::optional<int> wait_status(int i) { return nodes_[i].process.wait_status(); }
  // Runs `cvfs fs create NAME --protection PROTECTION --cell CELL [more]`; the CLI's output
  // goes into the error on failure.
  Status CreateFilesystem(const std::string& name, const std::string& protection,
                          const std::string& cell, const std::string& more = "");
  void KillNode(int i);    // SIGKILL: a crash
  void StopNode(int i);    // SIGTERM: a clean shutdown
  void PauseNode(int i);   // SIGSTOP: a hang (no keepalives, no replies)
  void ResumeNode(int i);  // SIGCONT
  // Cut node i off the network (etcd and peers) while it keeps running, and heal it.
  // Only with ClusterOptions::network_namespaces; kNotSupported otherwise.
  Status PartitionNode(int i);
  Status HealNode(int i);
  void KillEtcd() { etcd_->Kill(); }

  // Runs the `cvfs` CLI against this cluster with `args`; returns its exit code, output in *out.
  int RunCli(const std::string& args, std::string* out) const;
  // `cvfs status --json`, parsed.
  Result<nlohmann::json> StatusJson() const;
  // Polls StatusJson until `pred` holds or `timeout` passes (kDeadlineExceeded with last status).
  Result<nlohmann::json> WaitForStatus(const std::function<bool(const nlohmann::json&)>& pred,
                                       std::chrono::milliseconds timeout) const;
  // State of node `id` in a status JSON ("up", "down", ...), or "" if absent.
  static std::string NodeState(const nlohmann::json& status, const std::string& id);

  // Last lines of every daemon's log, for a failing test's output.
  std::string DumpLogs(int lines = 30) const;
  // Environment lines ("CVFS_ETCD=...") that point tools at this cluster.
  std::vector<std::string> ToolEnv() const;

 private:
  struct Node {
    std::string id;
    std::string config_path;
    std::string log_path;
    ChildProcess process;
  };
  TestCluster() = default;
  Status WriteNodeConfig(int i);

  ClusterOptions options_;
  std::string dir_;
  std::unique_ptr<EtcdServer> etcd_;
  std::unique_ptr<MungeDaemon> munge_;
  std::unique_ptr<TestNetwork> network_;  // only with options_.network_namespaces
  std::vector<Node> nodes_;
  std::vector<std::string> tmpfs_mounts_;  // unmounted by the destructor
};

// Seconds elapsed since `t0` (steady clock), for the figures tests print.
double SecondsSince(std::chrono::steady_clock::time_point t0);
// Index of the node with id `id` in `cluster`, or -1.
int IndexOfNode(const TestCluster& cluster, const std::string& id);

// Path of a built program ("cvfsd", "cvfs").
std::string BinPath(const std::string& name);

}  // namespace cvfs::testing
