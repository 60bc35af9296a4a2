#include "control/control_agent.h"

#include <utility>

#include "core/logging.h"

namespace cvfs::control {

ControlAgent::ControlAgent(ControlAgentOptions options, std::shared_ptr<EtcdClient> etcd)
    : options_(std::move(options)), etcd_(std::move(etcd)), keys_(options_.cluster) {}

Result<std::unique_ptr<ControlAgent>> ControlAgent::Start(ControlAgentOptions options) {
  CVFS_RETURN_IF_ERROR(ValidateClusterName(options.cluster));
  CVFS_RETURN_IF_ERROR(ValidateNodeId(options.self.id.str()));
  if (options.lease_ttl_s <= 0) return Status::InvalidArgument("lease TTL must be positive");
  if (options.clock == nullptr) options.clock = &Clock::System();
  CVFS_ASSIGN_OR_RETURN(std::shared_ptr<EtcdClient> etcd, EtcdClient::Create(options.etcd));
  KeyLayout keys(options.cluster);
  CVFS_ASSIGN_OR_RETURN(RangeResponse config, etcd->Get(keys.Config()));
  if (config.kvs.empty()) {
    return Status::NotFound("cluster '" + options.cluster +
                            "' does not exist: run `cvfs cluster create " + options.cluster + "`");
  }
  auto agent = std::unique_ptr<ControlAgent>(new ControlAgent(std::move(options), etcd));
  CVFS_ASSIGN_OR_RETURN(
      agent->registrar_,
      NodeRegistrar::Start(etcd, agent->keys_, agent->options_.self, agent->options_.lease_ttl_s));
  auto watcher = MapWatcher::Start(etcd, agent->keys_);
  if (!watcher.ok()) {
    agent->Stop();
    return watcher.status();
  }
  agent->map_watcher_ = std::move(watcher).value();
  if (agent->options_.manager_eligible) {
    ControlAgent* self = agent.get();
    ElectionCallbacks callbacks;
    callbacks.on_elected = [self](int64_t term, Duration waited) { self->OnElected(term, waited); };
    callbacks.on_lost = [self](int64_t term) { self->OnLost(term); };
    auto election = ManagerElection::Start(etcd, agent->keys_, agent->options_.self.id,
                                           agent->options_.lease_ttl_s, std::move(callbacks));
    if (!election.ok()) {
      agent->Stop();
      return election.status();
    }
    agent->election_ = std::move(election).value();
  }
  LOG_INFO("control.started cluster={} node={} lease_ttl_s={} manager_eligible={}",
           agent->options_.cluster, agent->options_.self.id.str(), agent->options_.lease_ttl_s,
           agent->options_.manager_eligible);
  return agent;
}

ControlAgent::~ControlAgent() { Stop(); }

void ControlAgent::OnElected(int64_t term, Duration waited) {
  auto manager = ClusterManager::Start(etcd_, keys_, options_.self.id, term, waited, options_.clock,
                                       {}, options_.recovery, options_.maintenance);
  if (!manager.ok()) {
    LOG_ERROR("manager.start_failed term={} error={}", term, manager.status().ToString());
    return;
  }
  std::unique_ptr<ClusterManager> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(manager_);
    manager_ = std::move(manager).value();
  }
  if (old) old->Stop();
}

void ControlAgent::OnLost(int64_t term) {
  std::unique_ptr<ClusterManager> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(manager_);
  }
  if (old) old->Stop();
}

Status ControlAgent::UpdateSelf(const NodeRecord& record) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return Status::Cancelled("control agent stopped");
  }
  return registrar_->UpdateRecord(record);
}

std::optional<ClusterMap> ControlAgent::map() const {
  return map_watcher_ ? map_watcher_->latest() : std::nullopt;
}

bool ControlAgent::is_manager() const { return election_ && election_->is_manager(); }

int64_t ControlAgent::manager_term() const { return election_ ? election_->term() : 0; }

void ControlAgent::SetMapCallback(std::function<void(const ClusterMap&)> callback) {
  if (map_watcher_) map_watcher_->SetCallback(std::move(callback));
}

LeaseId ControlAgent::registration_lease() const {
  return registrar_ ? registrar_->lease() : LeaseId{};
}

void ControlAgent::Stop() {
  std::lock_guard<std::mutex> serialize(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // Resign first (others take over at once), then leave the membership.
  if (election_) election_->Stop();
  std::unique_ptr<ClusterManager> manager;
  {
    std::lock_guard<std::mutex> lock(mu_);
    manager = std::move(manager_);
  }
  if (manager) manager->Stop();
  if (map_watcher_) map_watcher_->Stop();
  if (registrar_) {
    registrar_->Stop();
    LOG_INFO("control.stopped cluster={} node={}", options_.cluster, options_.self.id.str());
  }
}

}  // namespace cvfs::control
