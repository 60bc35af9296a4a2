#include "server/daemon.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/host_name.h"
#include "core/logging.h"
#include "net/wire/methods.h"
#include "server/admin_service.h"

namespace cvfs::server {

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonConfig& config) {
  std::unique_ptr<Daemon> daemon(new Daemon(config));
  if (Status st = daemon->Init(); !st.ok()) {
    daemon->Shutdown();
    return st;
  }
  return daemon;
}

Status Daemon::Init() {
  start_time_ms_ = clock_.WallMillis();
  const auto t0 = clock_.Now();
  CVFS_ASSIGN_OR_RETURN(state_dir_,
                        StateDir::Open(config_.state_dir, config_.cluster, config_.node_id));
  CVFS_ASSIGN_OR_RETURN(
      drives_, DriveSet::Open(config_.drives, config_.cluster, config_.node_id, config_.state_dir));
  LOG_INFO(
      "daemon.local node={} state_dir={} first_start={} drives={} capacity_bytes={} "
      "free_bytes={}",
      config_.node_id, config_.state_dir, state_dir_->first_start(), config_.drives.size(),
      drives_->capacity_bytes(), drives_->free_bytes());

  CVFS_RETURN_IF_ERROR(OpenCellStores());
  CVFS_ASSIGN_OR_RETURN(CrashPoints crash_points, CrashPoints::FromConfig(config_.crash_at));

  net::RpcOptions rpc;
  rpc.provider = config_.provider;
  rpc.host = config_.host;
  rpc.port = static_cast<uint16_t>(config_.port);
  rpc.name = config_.node_id;
  rpc.require_auth = config_.require_auth;
  rpc.munge_socket = config_.munge_socket;
  rpc.progress_poll_us = config_.progress_poll_us;
  rpc.handler_threads = config_.handler_threads;
  rpc.coordinator_threads = config_.coordinator_threads;
  rpc.step_threads = config_.coordinator_threads;  // cross-PG metadata steps
  CVFS_ASSIGN_OR_RETURN(endpoint_, net::RpcEndpoint::Create(rpc));
  DataServiceOptions data;
  data.self = NodeId(config_.node_id);
  for (const auto& store : stores_) data.stores.push_back(store.get());
  data.crash_points = crash_points;
  data_ = std::make_unique<DataService>(*endpoint_, std::move(data));
  data_->Register();
  ScrubOptions scrub;
  scrub.self = NodeId(config_.node_id);
  scrub.bandwidth_bytes_per_s = uint64_t(config_.scrub_bandwidth_mib) << 20;
  scrub.interval = std::chrono::seconds(config_.scrub_interval_s);
  scrubber_ = std::make_unique<Scrubber>(
      scrub,
      [this] {
        std::lock_guard<std::mutex> lock(add_drive_mu_);
        std::vector<CellStore*> stores;
        for (const auto& store : stores_) stores.push_back(store.get());
        return stores;
      },
      data_->coordinator(), *endpoint_, data_->peers());
  CVFS_ASSIGN_OR_RETURN(meta_store_, meta::MetaStore::Open(config_.state_dir + "/meta"));
  meta::MetaServiceOptions meta_options;
  meta_options.self = NodeId(config_.node_id);
  meta_options.crash_points = crash_points;
  meta_ = std::make_unique<meta::MetaService>(*endpoint_, *meta_store_, std::move(meta_options));
  meta_->Register();
  endpoint_->RegisterHandler(static_cast<uint16_t>(net::Method::kNodeInfo),
                             [this](const net::RpcContext& context, std::string_view request) {
                               return HandleNodeInfo(context, request);
                             });
  LOG_INFO("daemon.fabric provider={} address={} auth={}", endpoint_->provider(),
           endpoint_->address(), config_.require_auth ? "munge" : "off");

  control::ControlAgentOptions agent;
  auto etcd = control::ParseEtcdEndpoints([&] {
    std::string csv;
    for (const auto& e : config_.etcd_endpoints) csv += (csv.empty() ? "" : ",") + e;
    return csv;
  }());
  if (!etcd.ok()) return Status(ErrorCode::kConfigError, std::string(etcd.status().message()));
  agent.etcd = *etcd;
  agent.cluster = config_.cluster;
  agent.self = BuildRecord();
  agent.lease_ttl_s = config_.lease_ttl_s;
  agent.recovery.node_grace_ms = int64_t{config_.rebuild_node_grace_s} * 1000;
  agent.recovery.rebalance_delay_ms = int64_t{config_.rebuild_rebalance_delay_s} * 1000;
  agent.recovery.drive_grace_ms = int64_t{config_.rebuild_drive_grace_s} * 1000;
  agent.maintenance.window_ms = int64_t{config_.maintenance_window_s} * 1000;
  agent.maintenance.max_domains = config_.maintenance_max_domains;
  agent.maintenance.allow_degraded = config_.maintenance_allow_degraded;
  agent.maintenance.min_spare = config_.maintenance_min_spare;
  CVFS_ASSIGN_OR_RETURN(agent_, control::ControlAgent::Start(std::move(agent)));
  RebuildWorkerOptions rebuild;
  rebuild.self = NodeId(config_.node_id);
  rebuild.bandwidth_bytes_per_s = uint64_t(config_.rebuild_bandwidth_mib) << 20;
  rebuild.report_done = [this](const control::RebuildDoneRecord& record) -> Status {
    const std::string value = control::RebuildDoneToJson(record).dump();
    return agent_->etcd()->Put(agent_->keys().RebuildDone(record.fs_id, record.pg), value).status();
  };
  rebuild.publish_progress = [this](const nlohmann::json& progress) {
    auto put = agent_->etcd()->Put(agent_->keys().RebuildProgress(NodeId(config_.node_id)),
                                   progress.dump(), agent_->registration_lease());
    if (!put.ok()) LOG_DEBUG("rebuild.progress_not_published error={}", put.status().ToString());
  };
  rebuild_ =
      std::make_unique<RebuildWorker>(*endpoint_, *data_, *meta_, clock_, std::move(rebuild));
  rebuild_->Start();
  missed_ = std::make_unique<MissedMemberReporter>(
      NodeId(config_.node_id), clock_, [this](const control::StaleSlotRecord& record) -> Status {
        return agent_->etcd()
            ->Put(agent_->keys().RebuildStale(record.fs_id, record.pg, record.index),
                  control::StaleSlotToJson(record).dump())
            .status();
      });
  missed_->Start();
  auto note_missed = [reporter = missed_.get()](uint32_t fs_id, uint32_t pg, uint16_t index,
                                                const NodeId& node) {
    reporter->Note(MissedMember{fs_id, pg, index, node});
  };
  data_->coordinator().SetMissedMemberListener(note_missed);
  meta_->SetMissedReplicaListener(note_missed);
  agent_->SetMapCallback([this, node = config_.node_id](const ClusterMap& map) {
    data_->SetMap(map);
    meta_->SetMap(map);
    scrubber_->SetMap(map);
    rebuild_->SetMap(map);
    int up = 0, down = 0;
    for (const auto& [id, entry] : map.nodes) {
      if (entry.state == NodeState::kUp) ++up;
      if (entry.state == NodeState::kDown) ++down;
    }
    LOG_INFO("map.update node={} epoch={} manager={} up={} down={}", node, map.epoch.value,
             map.manager.str(), up, down);
  });

  // `cvfs drive add`: registered once the control agent exists, since an added drive is
  // announced through a new registration.
  AdminServiceHooks hooks;
  hooks.add_drive = [this](const std::string& path) { return AddDrive(path); };
  hooks.replace_drive = [this](size_t index, const std::string& path) {
    return ReplaceDrive(index, path);
  };
  hooks.scrub_status = [this] { return scrubber_->StateJson().dump(); };
  hooks.scrub_start = [this] { return scrubber_->RequestPass(); };
  RegisterAdminService(*endpoint_, std::move(hooks));
  scrubber_->Start();
  LOG_INFO("daemon.scrub bandwidth_mib={} interval_s={}", config_.scrub_bandwidth_mib,
           config_.scrub_interval_s);

  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  LOG_INFO("daemon.ready node={} cluster={} failure_domain={} startup_ms={}", config_.node_id,
           config_.cluster, config_.failure_domain,
           std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - t0).count());
  return Status::Ok();
}

Result<std::unique_ptr<CellStore>> Daemon::OpenCellStore(const std::string& drive_path) {
  CellStoreOptions options;
  options.data_path = drive_path;
  options.index_path = drive_path + "/.cvfs-index";
  auto store = CellStore::Open(options);
  if (!store.ok()) return store.status().WithContext("drive " + drive_path);
  return store;
}

Status Daemon::OpenCellStores() {
  for (const DriveInfo& drive : drives_->Snapshot()) {
    if (drive.state == DriveState::kFailed) {  // found failed at start: nothing to serve
      stores_.push_back(nullptr);
      continue;
    }
    CVFS_ASSIGN_OR_RETURN(auto store, OpenCellStore(drive.path));
    stores_.push_back(std::move(store));
  }
  return Status::Ok();
}

Result<AddedDrive> Daemon::AddDrive(const std::string& path) {
  std::lock_guard<std::mutex> lock(add_drive_mu_);
  CVFS_ASSIGN_OR_RETURN(AddedDrive added, drives_->Add(path));
  // The drive is labelled and persisted: it is part of this node from now on (and at the next
  // start). Serve its cells before announcing it, so no PG can name it before it answers.
  auto store = OpenCellStore(added.drive.path);
  if (!store.ok()) {
    LOG_ERROR("daemon.add_drive_store_failed path={} error=\"{}\"", added.drive.path,
              store.status().ToString());
    return store.status().WithContext(
        "drive added but its cell store did not open; restart "
        "cvfsd after fixing it");
  }
  if (Status st = data_->AddStore(added.index, store->get()); !st.ok()) return st;
  stores_.push_back(std::move(store).value());
  if (Status st = agent_->UpdateSelf(BuildRecord()); !st.ok()) {
    LOG_WARN("daemon.update_registration_failed error=\"{}\"", st.ToString());
  }
  LOG_INFO("daemon.drive_added index={} path={} capacity_bytes={}", added.index, added.drive.path,
           added.drive.capacity_bytes);
  return added;
}

Result<AddedDrive> Daemon::ReplaceDrive(size_t index, const std::string& path) {
  std::lock_guard<std::mutex> lock(add_drive_mu_);
  CVFS_ASSIGN_OR_RETURN(AddedDrive replaced, drives_->Replace(index, path));
  // Serve the new, empty store at the index before announcing the new serial: the manager
  // then lists every slot of the drive for rebuild here.
  auto store = OpenCellStore(replaced.drive.path);
  if (!store.ok()) {
    LOG_ERROR("daemon.replace_drive_store_failed path={} error=\"{}\"", replaced.drive.path,
              store.status().ToString());
    return store.status().WithContext(
        "drive replaced but its cell store did not open; restart cvfsd after fixing it");
  }
  if (Status st = data_->ReplaceStore(index, store->get()); !st.ok()) return st;
  // The old store may still be used by an operation in flight: it stays open (and its memory
  // held) until the daemon stops.
  retired_stores_.push_back(std::move(stores_[index]));
  stores_[index] = std::move(store).value();
  if (Status st = agent_->UpdateSelf(BuildRecord()); !st.ok()) {
    LOG_WARN("daemon.update_registration_failed error=\"{}\"", st.ToString());
  }
  LOG_INFO("daemon.drive_replaced index={} path={} serial={}", index, replaced.drive.path,
           replaced.drive.serial);
  return replaced;
}

NodeRecord Daemon::BuildRecord() const {
  NodeRecord record;
  record.id = NodeId(config_.node_id);
  record.failure_domain = config_.failure_domain;
  record.host = ShortHostName();
  record.fabric_provider = endpoint_->provider();
  record.fabric_address = endpoint_->address();
  record.drives = drives_->Snapshot();
  record.version = CVFS_VERSION;
  record.pid = ::getpid();
  record.start_time_ms = start_time_ms_;
  return record;
}

Result<std::string> Daemon::HandleNodeInfo(const net::RpcContext& context,
                                           std::string_view request) {
  nlohmann::json info = {
      {"node_id", config_.node_id},
      {"cluster", config_.cluster},
      {"failure_domain", config_.failure_domain},
      {"version", CVFS_VERSION},
      {"pid", ::getpid()},
      {"start_time_ms", start_time_ms_},
      {"peer", context.peer_name},
      {"peer_uid", context.peer_uid},
  };
  nlohmann::json drives = nlohmann::json::array();
  for (const auto& d : drives_->Snapshot()) drives.push_back(DriveInfoToJson(d));
  info["drives"] = std::move(drives);
  if (agent_ != nullptr) {
    info["is_manager"] = agent_->is_manager();
    if (auto map = agent_->map()) {
      info["epoch"] = map->epoch.value;
      info["manager"] = map->manager.str();
    }
  }
  const auto stats = endpoint_->stats();
  info["rpc"] = {{"requests_served", stats.requests_served},
                 {"malformed_messages", stats.malformed_messages},
                 {"auth_failures", stats.auth_failures},
                 {"error_replies_sent", stats.error_replies_sent},
                 {"hellos_accepted", stats.hellos_accepted}};
  return info.dump();
}

void Daemon::MaintenanceLoop() {
  const auto probe_interval = std::chrono::seconds(config_.drive_probe_interval_s);
  auto next_refresh = std::chrono::steady_clock::now() + kDriveRefreshInterval;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (stop_cv_.wait_for(lock, probe_interval, [this] { return stopping_; })) break;
    lock.unlock();
    bool update = false;
    {
      // Under add_drive_mu_: a Replace in progress must not be probed half-way.
      std::lock_guard<std::mutex> drives_lock(add_drive_mu_);
      update = !drives_->Probe(clock_.WallMillis()).empty();
    }
    if (std::chrono::steady_clock::now() >= next_refresh) {
      next_refresh = std::chrono::steady_clock::now() + kDriveRefreshInterval;
      if (Status st = drives_->Refresh(); !st.ok()) {
        LOG_ERROR("drive.refresh_failed error=\"{}\"", st.ToString());
      } else {
        update = true;
      }
    }
    // A failed drive is announced at once: routes then skip its cells and the manager's
    // drive grace period starts.
    if (update) {
      if (Status up = agent_->UpdateSelf(BuildRecord()); !up.ok()) {
        LOG_WARN("daemon.update_registration_failed error=\"{}\"", up.ToString());
      }
    }
    lock.lock();
  }
}

void Daemon::Shutdown() {
  if (shut_down_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (scrubber_ != nullptr) scrubber_->Stop();  // it calls peers and reads the stores
  if (rebuild_ != nullptr) rebuild_->Stop();
  if (missed_ != nullptr) missed_->Stop();  // reports what is pending while etcd is there
  // Leave the cluster first: peers see this node down now rather than at lease expiry.
  if (agent_ != nullptr) agent_->Stop();
  if (endpoint_ != nullptr) endpoint_->Shutdown();
  rebuild_.reset();
  agent_.reset();
  scrubber_.reset();
  data_.reset();  // after the endpoint: no handler runs any more
  meta_.reset();
  meta_store_.reset();
  endpoint_.reset();
  missed_.reset();  // no handler can note any more
  stores_.clear();
  drives_.reset();
  state_dir_.reset();
}

Daemon::~Daemon() { Shutdown(); }

}  // namespace cvfs::server
