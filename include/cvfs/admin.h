// The administrative side of the ConvergeFS client library: create a cluster, read its
// status, and run the node health checks of `cvfs doctor`. The `cvfs` CLI, the Slurm hooks
// and monitoring are built only on this header (and cvfs.h), never on daemon internals.
//
// Status JSON (ClusterStatus) is a stable, documented interface (docs/admin/cli.md):
//   cluster, epoch, manager, nodes[] {id, state, failure_domain, host, address, provider,
//   drives[], capacity_bytes, free_bytes, since_ms}, failure_domains[], counts{}, healthy.
// Filesystem status JSON (FilesystemStatus, ListFilesystems, CreateFilesystem), also stable:
//   name, id, protection "4+2", data_cells, parity_cells, cell_bytes, stripe_bytes, pg_count,
//   created_ms, placed, placement {drives, max_cells, min_cells, mean_cells, max_over_mean,
//   nodes, max_primaries, mean_primaries} (null until placed), pgs_degraded, pgs_unavailable,
//   members_down.
// Thread-safety: an AdminClient may be used from several threads.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs {

struct AdminOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string cluster;
  int timeout_ms = 5000;     // per control-plane call
  std::string munge_socket;  // for calls to a cvfsd (AddDrive); "": munged's default
};

// PGs of a new filesystem unless told otherwise: 256 keeps the map small (~27 KB of JSON for
// a 6-wide table; ~110 KB at 1024, and every process re-reads the whole map on each epoch)
// and still spreads cells within a few percent of the mean on small clusters.
inline constexpr uint32_t kDefaultFilesystemPgCount = 256;

struct FilesystemCreateOptions {
  std::string name;  // 1-64 of letters, digits, '-', '_', '.'
  int data_cells = 4;
  int parity_cells = 2;
  uint64_t cell_bytes = 128 * 1024;
  uint32_t pg_count = kDefaultFilesystemPgCount;
  // Requests from uid 0 act as nobody (65534) in the namespace (login nodes' root users
  // get no special rights on the shared filesystem).
  bool root_squash = false;
  int wait_timeout_ms = 30000;  // how long to wait for the manager to place it
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

  // Defines a filesystem and waits until the manager placed it; returns its status JSON.
  // Nothing is written on: kInvalidArgument (bad name, protection, cell size or PG count, or
  // N+P above the failure domains that have an up node with a drive: "4+2 needs 6 failure
  // domains; the cluster has 5 with an up node and a drive"), kAlreadyExists (the name is
  // taken), kNotFound (no such cluster). kDeadlineExceeded when it was defined but not placed
  // within wait_timeout_ms (it stays defined; the manager places it when it can).
  virtual Result<nlohmann::json> CreateFilesystem(const FilesystemCreateOptions& options) = 0;
  // Every filesystem's status JSON, by name (an empty array when none).
  virtual Result<nlohmann::json> ListFilesystems() = 0;
  // One filesystem's status JSON; kNotFound when it is not defined.
  virtual Result<nlohmann::json> FilesystemStatus(const std::string& name) = 0;

  // Asks cvfsd `node` (found in the map; it must be up) to add the drive directory `path`
  // (on that node) and returns its reply {index, path, capacity_bytes, free_bytes}. The call
  // is MUNGE-authenticated; cvfsd accepts it only from uid 0 (kPermissionDenied otherwise).
  // kNotFound for an unknown node, kUnavailable when it is not up or does not answer, and
  // cvfsd's own error (kConfigError for a path it cannot use, kAlreadyExists for a drive it
  // has) otherwise.
  virtual Result<nlohmann::json> AddDrive(const std::string& node, const std::string& path) = 0;

  // `cvfs drive replace`: asks cvfsd `node` (up) to serve drive `index` from the fresh,
  // empty directory `path` from now on; the manager then rebuilds every slot of that drive
  // there. Returns {node, index, path, serial, capacity_bytes, free_bytes}. Errors as
  // AddDrive, and kInvalidArgument for an index the node does not have.
  virtual Result<nlohmann::json> ReplaceDrive(const std::string& node, uint32_t index,
                                              const std::string& path) = 0;

  // `cvfs drive remove`: with `remove`, records that drive `index` of `node` is to give up
  // its slots (moved elsewhere one per PG at a time, like a drain); without, cancels that.
  // Returns {node, index, removing, slots}. kNotFound for an unknown node or drive.
  virtual Result<nlohmann::json> RemoveDrive(const std::string& node, uint32_t index,
                                             bool remove) = 0;

  // `cvfs node drain` (docs/design/rebuild.md): with `drain`, records that `node` (it must be
  // in the map) is to give up its slots: the manager moves them to other nodes one per PG at
  // a time while the node keeps serving; without, cancels that (slots already moved stay
  // moved). Returns {node, draining, slots} (slots the node still holds). kNotFound for an
  // unknown node.
  virtual Result<nlohmann::json> DrainNode(const std::string& node, bool drain) = 0;

  // Planned maintenance (docs/admin/maintenance.md). RequestMaintenance records a request
  // for `node` (it must be in the map) with `reason` (at most 256 bytes) and its own window
  // (`window_s` 0: the manager's [maintenance] window_s); asking again keeps the request's
  // place in the queue. Returns {node, state "queued"|"granted", position, waiting_for}.
  // kNotFound for an unknown node, kInvalidArgument for a bad reason or window.
  virtual Result<nlohmann::json> RequestMaintenance(const std::string& node,
                                                    const std::string& reason, int window_s) = 0;
  // Withdraws `node`'s request, or ends its grant (the node, if running, then resyncs what
  // it missed and the grant ends once it has). Returns {node, was "queued"|"granted"|"none"}.
  virtual Result<nlohmann::json> EndMaintenance(const std::string& node) = 0;
  // {granted, queue, recent} as in `cvfs status --json`'s "maintenance".
  virtual Result<nlohmann::json> Maintenance() = 0;

  // Scrub (docs/admin/cli.md, `cvfs scrub`). ScrubStatus asks every up node (or only `node`)
  // for its scrubber's state and returns {nodes[] {node, pass, running, started_ms,
  // finished_ms, next_pass_ms, rate_bytes_per_s, bandwidth_limit_bytes_per_s, current{...},
  // total{...}} or {node, error}, totals{cells, bytes, stripes_checked, stripes_skipped,
  // parity_bytes, errors_found, crc_errors, parity_errors, repaired, unrepaired}, running,
  // unanswered}; figures are {cells, bytes, ...} as in totals. `totals` sums every node's
  // `total` (every pass since each daemon started). kNotFound for an unknown node.
  virtual Result<nlohmann::json> ScrubStatus(const std::string& node = "") = 0;
  // Asks every up node (or only `node`) to start a pass now; returns {nodes[] {node, pass}
  // or {node, error}}. cvfsd accepts it only from uid 0 (the error says so otherwise).
  virtual Result<nlohmann::json> ScrubStart(const std::string& node = "") = 0;
};

// Cluster names: 1-64 characters of letters, digits, '-', '_', '.'.
Status ValidateClusterName(const std::string& name);
// OK when a filesystem of `options` could be defined on a large enough cluster: name, N+P,
// cell size and PG count within bounds (kInvalidArgument naming the bad value otherwise).
// No I/O: tools check arguments before contacting the cluster.
Status ValidateFilesystemCreateOptions(const FilesystemCreateOptions& options);

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
