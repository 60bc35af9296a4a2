// Daemon: one running cvfsd. Start() brings the node into the cluster in this order, and
// fails cleanly (undoing what it did) at the first step that cannot be done:
//   1. StateDir: lock the local state directory, check its identity (cluster, node id).
//   2. DriveSet: check and label every configured drive, measure capacity.
//   3. CellStores: open one per drive (data in the drive directory, RocksDB index in
//      `<drive>/.cvfs-index`).
//   4. RpcEndpoint: open the fabric endpoint (provider, host, port) with MUNGE-
//      authenticated sessions and register the node's services (Ping, NodeInfo, the data
//      path of server/data/: member handlers on the worker pool, stripe coordination on the
//      coordinator pool).
//   5. ControlAgent: check the cluster exists, register this node under its lease, campaign
//      for manager and watch the map (every new map goes to the data service).
// A maintenance thread then refreshes drive figures every kDriveRefreshInterval.
//
// Shutdown() is the clean stop: it resigns management and revokes the lease first (so
// peers see the node down at once, not after the lease TTL), then closes the endpoint.
// Thread-safety: Start/Shutdown from the owning thread; services run on net's threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control/control_agent.h"
#include "core/clock.h"
#include "core/daemon_config.h"
#include "core/status.h"
#include "net/rpc.h"
#include "server/data/data_service.h"
#include "server/data/scrubber.h"
#include "server/drive_set.h"
#include "server/meta/meta_service.h"
#include "server/meta/meta_store.h"
#include "server/missed_member_reporter.h"
#include "server/rebuild_worker.h"
#include "server/state_dir.h"
#include "server/store/cell_store.h"

namespace cvfs::server {

inline constexpr auto kDriveRefreshInterval = std::chrono::seconds(30);

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Start(const DaemonConfig& config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Idempotent.
  void Shutdown();

 private:
  explicit Daemon(DaemonConfig config) : config_(std::move(config)) {}
  Status Init();
  Status OpenCellStores();
  Result<std::unique_ptr<CellStore>> OpenCellStore(const std::string& drive_path);
  // The add_drive hook of the admin service (`cvfs drive add`): label and persist the drive,
  // open its cell store, serve it, re-register the node so the map lists it.
  Result<AddedDrive> AddDrive(const std::string& path);
  // The replace_drive hook (`cvfs drive replace`): a fresh directory at drive `index`.
  Result<AddedDrive> ReplaceDrive(size_t index, const std::string& path);
  NodeRecord BuildRecord() const;
  Result<std::string> HandleNodeInfo(const net::RpcContext& context, std::string_view request);
  void MaintenanceLoop();

  const DaemonConfig config_;
  Clock& clock_ = Clock::System();
  int64_t start_time_ms_ = 0;
  std::unique_ptr<StateDir> state_dir_;
  std::unique_ptr<DriveSet> drives_;
  std::mutex add_drive_mu_;                         // serializes AddDrive
  std::vector<std::unique_ptr<CellStore>> stores_;  // by drive index; grows under add_drive_mu_
  // Stores of replaced drives: kept open until the daemon stops (operations in flight).
  std::vector<std::unique_ptr<CellStore>> retired_stores_;  // add_drive_mu_
  std::unique_ptr<net::RpcEndpoint> endpoint_;
  std::unique_ptr<DataService> data_;
  std::unique_ptr<Scrubber> scrubber_;           // after data_: stopped and destroyed before it
  std::unique_ptr<meta::MetaStore> meta_store_;  // <state_dir>/meta
  std::unique_ptr<meta::MetaService> meta_;
  std::unique_ptr<control::ControlAgent> agent_;
  std::unique_ptr<RebuildWorker> rebuild_;
  std::unique_ptr<MissedMemberReporter> missed_;  // the coordinator's listener

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread maintenance_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace cvfs::server
