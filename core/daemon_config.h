// DaemonConfig: everything a `cvfsd` needs to start, loaded from its TOML file and then
// overridden by command-line flags (a flag always wins). Validation happens here, once,
// so the daemon never starts half-configured.
// Thread-safety: a plain value; immutable after Load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs {

struct DaemonConfig {
  std::string cluster;         // cluster name (etcd prefix /cvfs/<cluster>/)
  std::string node_id;         // unique per node; default: the host name
  std::string failure_domain;  // default: the node id (each node its own domain)
  std::string state_dir = "/var/lib/cvfs";
  std::vector<std::string> drives;  // directories (or devices) this node contributes

  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  int lease_ttl_s = 5;  // lease expiry = this node is down

  std::string provider = "tcp;ofi_rxm";  // libfabric provider: tcp;ofi_rxm, shm, verbs;ofi_rxm
  std::string host = "127.0.0.1";        // address the fabric endpoint binds to
  int port = 0;                          // 0: any free port
  // 0: spin ~100 us after activity, then block on the completion queue (idle CPU ~0).
  // >0: never block; poll with sleeps backing off up to this many microseconds.
  int progress_poll_us = 0;

  std::string munge_socket;  // empty: libmunge's default socket
  bool require_auth = true;  // refuse sessions without a valid MUNGE credential

  // Request handler pools of the fabric endpoint: member requests (cell prepare/commit/read)
  // run on handler_threads, stripe coordination (a primary waiting on its members) on
  // coordinator_threads, so the two never starve each other.
  int handler_threads = 4;      // [server] handler_threads
  int coordinator_threads = 4;  // [server] coordinator_threads

  // Rebuild (docs/design/rebuild.md). The grace periods are the manager's: the elected
  // manager's configuration applies cluster-wide, so give every node the same values.
  int rebuild_node_grace_s = 600;  // [rebuild] node_grace_s: a down node's slots move after this
  // [rebuild] rebalance_delay_s: nodes that joined get their share of the PGs once every node
  // has been up this long (nodes added together move data once).
  int rebuild_rebalance_delay_s = 10;
  // [rebuild] drive_grace_s: a failed drive's slots move after this (shorter than a node's:
  // a node may only be rebooting, a failed drive's cells are gone).
  int rebuild_drive_grace_s = 60;
  // Planned maintenance (docs/design/maintenance.md), the manager's like the grace periods.
  // [maintenance] window_s: a grant still away after this becomes an ordinary failure.
  int maintenance_window_s = 1800;
  // [maintenance] max_domains: failure domains in maintenance at once.
  int maintenance_max_domains = 1;
  // [maintenance] allow_degraded: grant while a PG is degraded or recovering.
  bool maintenance_allow_degraded = false;
  // [maintenance] min_spare: failures every PG must still survive with the domain away.
  int maintenance_min_spare = 1;
  // [server] drive_probe_interval_s: how often each drive is probed (statvfs, label, a 4 KiB synced
  // write); a drive that fails is reported failed at once.
  int drive_probe_interval_s = 5;
  // [rebuild] bandwidth_mib: cells this node writes per second while rebuilding (0: no limit),
  // so that jobs keep most of the bandwidth.
  int rebuild_bandwidth_mib = 200;

  // Fault injection for tests (docs/design/datapath.md): kill the daemon with SIGKILL the
  // first time a stripe write reaches this point; "" = off. CVFS_CRASH_AT overrides it.
  std::string crash_at;  // [debug] crash_at

  // Scrub (docs/admin/cvfsd.md): background verification of every cell's CRC32C and of the
  // parity of the stripes this node is primary of.
  int scrub_bandwidth_mib = 50;  // [scrub] bandwidth_mib: MiB/s read at most; 0: no limit
  int scrub_interval_s = 86400;  // [scrub] interval_s: from one pass's end to the next's
                                 // start (and from start-up to the first); 0: on request only

  std::string log_level = "info";
  std::string log_file;  // empty: stderr

  // Checks ranges and required fields; kConfigError naming the first bad field.
  Status Validate() const;
};

// Keys accepted in the TOML file (dotted), for typo warnings.
const std::vector<std::string>& DaemonConfigKeys();

// Reads `path` into `config` (fields absent from the file keep their current values).
Status LoadDaemonConfigFile(const std::string& path, DaemonConfig* config,
                            std::vector<std::string>* warnings);

}  // namespace cvfs
