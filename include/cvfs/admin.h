// The administrative side of the ConvergeFS client library: create a cluster, read its
// status, and run the node health checks of `cvfs doctor`. The `cvfs` CLI, the Slurm hooks
// and monitoring are built only on this header (and cvfs.h), never on daemon internals.
//
// Status JSON (ClusterStatus) is a stable, documented interface (docs/admin/cli.md):
//   cluster, epoch, manager, nodes[] {id, state, failure_domain, host, address, provider,
//   drives[], capacity_bytes, free_bytes, since_ms}, failure_domains[], counts{}, healthy.
// Thread-safety: an AdminClient may be used from several threads.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs {

struct AdminOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string cluster;
  int timeout_ms = 5000;  // per control-plane call
};

class AdminClient {
 public:
  // Connects to the control plane. Fails with kUnavailable when no etcd endpoint answers.
  static Result<std::unique_ptr<AdminClient>> Connect(const AdminOptions& options);
  virtual ~AdminClient() = default;

  // Creates the cluster record. kAlreadyExists when it exists; kInvalidArgument on a bad name.
  virtual Status CreateCluster(const std::string& name) = 0;

  // The status JSON of the configured cluster. kNotFound when it was never created.
  virtual Result<nlohmann::json> ClusterStatus() = 0;
};

// Cluster names: 1-64 characters of letters, digits, '-', '_', '.'.
Status ValidateClusterName(const std::string& name);

struct DoctorOptions {
  std::vector<std::string> etcd_endpoints;  // empty: skip the etcd and registration checks
  // When true and a cvfsd config is read, its [etcd] endpoints replace etcd_endpoints (the
  // tool was not told which etcd to use; the node's own config knows).
  bool etcd_from_config = false;
  std::string cluster;
  std::string munge_socket;  // empty: munged's default
  std::string config_path;   // a cvfsd config; empty: this node runs a client only
  std::string provider;      // fabric provider this node must support; empty: from config
  int timeout_ms = 3000;
};

// Runs every node check and returns the report:
//   {"ok": bool, "node": id, "role": "backend"|"client", "checks": [{"name", "ok", "severity"
//   ("ok"|"info"|"warning"|"error"), "summary", "detail"}], ...}
// "ok" is false when any check has severity "error". Never fails: a check that cannot run
// is itself reported as an error.
nlohmann::json RunDoctor(const DoctorOptions& options);

}  // namespace cvfs
