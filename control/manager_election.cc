#include "control/manager_election.h"

#include <algorithm>
#include <utility>

#include "core/logging.h"

namespace cvfs::control {
namespace {
using SteadyClock = std::chrono::steady_clock;
TimePoint Now() { return std::chrono::time_point_cast<Duration>(SteadyClock::now()); }
}  // namespace

ManagerElection::ManagerElection(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeId self,
                                 int64_t lease_ttl_s, ElectionCallbacks callbacks)
    : etcd_(std::move(etcd)),
      keys_(std::move(keys)),
      self_(std::move(self)),
      lease_ttl_s_(lease_ttl_s),
      callbacks_(std::move(callbacks)) {}

Result<std::unique_ptr<ManagerElection>> ManagerElection::Start(std::shared_ptr<EtcdClient> etcd,
                                                                KeyLayout keys, NodeId self,
                                                                int64_t lease_ttl_s,
                                                                ElectionCallbacks callbacks) {
  CVFS_RETURN_IF_ERROR(ValidateNodeId(self.str()));
  if (lease_ttl_s <= 0) return Status::InvalidArgument("lease TTL must be positive");
  auto election = std::unique_ptr<ManagerElection>(new ManagerElection(
      std::move(etcd), std::move(keys), std::move(self), lease_ttl_s, std::move(callbacks)));
  election->thread_ = std::thread([e = election.get()] { e->Run(); });
  return election;
}

ManagerElection::~ManagerElection() { Stop(); }

void ManagerElection::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  key_changed_ = true;
  cv_.notify_all();
}

bool ManagerElection::is_manager() const {
  std::lock_guard<std::mutex> lock(mu_);
  return term_ != 0;
}

int64_t ManagerElection::term() const {
  std::lock_guard<std::mutex> lock(mu_);
  return term_;
}

void ManagerElection::Lose(const char* reason) {
  int64_t term;
  {
    std::lock_guard<std::mutex> lock(mu_);
    term = term_;
    term_ = 0;
  }
  if (term == 0) return;
  LOG_WARN("manager.lost node={} term={} reason={}", self_.str(), term, reason);
  if (callbacks_.on_lost) callbacks_.on_lost(term);
}

void ManagerElection::Campaign(TimePoint waiting_since) {
  if (!lease_.valid()) {
    auto lease = etcd_->LeaseGrant(lease_ttl_s_);
    if (!lease.ok()) {
      LOG_DEBUG("manager.campaign_failed node={} error={}", self_.str(), lease.status().ToString());
      return;
    }
    lease_ = lease->id;
    last_renewal_ = Now();
  }
  const std::string key = keys_.Manager();
  auto txn = etcd_->Txn({Compare::KeyMissing(key)}, {TxnOp::Put(key, self_.str(), lease_)},
                        {TxnOp::Get(key)});
  if (!txn.ok()) {
    // Our lease expired while we were not manager: grant a fresh one next time.
    if (txn.status().code() == ErrorCode::kNotFound) lease_ = LeaseId{};
    LOG_DEBUG("manager.campaign_failed node={} error={}", self_.str(), txn.status().ToString());
    return;
  }
  int64_t term = 0;
  if (txn->succeeded) {
    term = txn->revision;
  } else if (!txn->responses.empty() && !txn->responses[0].kvs.empty()) {
    const KeyValue& kv = txn->responses[0].kvs[0];
    // Still ours from before (e.g. renewals failed for a while but the lease survived).
    if (kv.value == self_.str() && kv.lease == lease_) term = kv.create_revision;
  }
  if (term == 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    term_ = term;
  }
  const Duration waited = Now() - waiting_since;
  LOG_DEBUG("manager.elected node={} term={}", self_.str(), term);
  if (callbacks_.on_elected) callbacks_.on_elected(term, waited);
}

void ManagerElection::Run() {
  const Duration interval =
      std::chrono::milliseconds(std::max<int64_t>(lease_ttl_s_ * 1000 / 3, 100));
  const Duration ttl = std::chrono::seconds(lease_ttl_s_);
  TimePoint waiting_since = Now();
  TimePoint last_campaign{};
  while (true) {
    if (!watch_) {
      WatchOptions wo;
      wo.key = keys_.Manager();
      auto watch = etcd_->Watch(wo, [this](const WatchBatch&) { Wake(); });
      if (watch.ok()) watch_ = std::move(watch).value();
    }
    bool changed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      changed = key_changed_;
      key_changed_ = false;
    }
    const int64_t term = this->term();
    if (term == 0) {
      if (changed || !watch_ || Now() - last_campaign >= ttl) {
        if (waiting_since == TimePoint::max()) waiting_since = Now();
        last_campaign = Now();
        Campaign(waiting_since);
        // Won, or another node holds the key: the next wait starts when the key changes.
        waiting_since = TimePoint::max();
      }
    } else if (changed) {
      auto current = etcd_->Get(keys_.Manager());
      if (current.ok() && (current->kvs.empty() || current->kvs[0].create_revision != term)) {
        Lose(current->kvs.empty() ? "election key deleted" : "election key held by another term");
        waiting_since = Now();
        Wake();  // campaign again at once
        continue;
      }
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, interval, [&] { return stopping_ || key_changed_; });
      if (stopping_) return;
    }
    if (lease_.valid() && Now() - last_renewal_ >= interval) {
      auto renewed = etcd_->LeaseKeepAlive(lease_);
      if (renewed.ok()) {
        last_renewal_ = Now();
      } else if (renewed.status().code() == ErrorCode::kNotFound) {
        lease_ = LeaseId{};
        Lose("lease expired");
        waiting_since = Now();
        Wake();
      } else if (Now() - last_renewal_ >= ttl) {
        // etcd may already have expired the lease: stop acting as manager now.
        Lose("lease not renewed for a whole TTL");
        waiting_since = Now();
      }
    }
  }
}

void ManagerElection::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (watch_) watch_->Stop();
  watch_.reset();
  const int64_t term = this->term();
  Lose("resigned");
  if (term != 0) {
    const std::string key = keys_.Manager();
    auto txn = etcd_->Txn({Compare::CreateRevisionIs(key, term)}, {TxnOp::Delete(key)}, {});
    if (!txn.ok()) {
      LOG_WARN("manager.resign_failed term={} error={}", term, txn.status().ToString());
    } else {
      LOG_INFO("manager.resigned node={} term={}", self_.str(), term);
    }
  }
  if (lease_.valid()) (void)etcd_->LeaseRevoke(lease_);
  lease_ = LeaseId{};
}

}  // namespace cvfs::control
