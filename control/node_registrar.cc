#include "control/node_registrar.h"

#include <fstream>
#include <string>
#include <utility>

#include "core/logging.h"

namespace cvfs::control {
namespace {

// Whether `pid` is a running (not zombie) process on this host. PID 1 here reaps orphaned
// zombies only every 1-2 s, so kill(pid, 0) is not enough: read the State line.
bool ProcessRunning(int64_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("State:", 0) == 0) {
      return line.find('Z') == std::string::npos && line.find('X') == std::string::npos;
    }
  }
  return true;
}

}  // namespace

bool SameProcess(const NodeRecord& self, const NodeRecord& other) {
  return self.host == other.host && self.pid == other.pid &&
         self.start_time_ms == other.start_time_ms;
}

NodeRegistrar::NodeRegistrar(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeRecord record,
                             int64_t lease_ttl_s)
    : etcd_(std::move(etcd)),
      keys_(std::move(keys)),
      lease_ttl_s_(lease_ttl_s),
      record_(std::move(record)) {}

Result<std::unique_ptr<NodeRegistrar>> NodeRegistrar::Start(std::shared_ptr<EtcdClient> etcd,
                                                            KeyLayout keys, NodeRecord record,
                                                            int64_t lease_ttl_s) {
  if (lease_ttl_s <= 0) return Status::InvalidArgument("lease TTL must be positive");
  CVFS_RETURN_IF_ERROR(ValidateNodeId(record.id.str()));
  const std::string key = keys.Node(record.id);
  CVFS_ASSIGN_OR_RETURN(RangeResponse existing, etcd->Get(key));
  if (!existing.kvs.empty()) {
    const KeyValue& kv = existing.kvs.front();
    auto other = ParseNodeRecord(kv.value);
    if (other.ok() && !SameProcess(record, *other)) {
      const bool same_host_dead = other->host == record.host && !ProcessRunning(other->pid);
      if (!same_host_dead) {
        return Status::AlreadyExists(
            "node id '" + record.id.str() + "' is already registered by pid " +
            std::to_string(other->pid) + " on host '" + other->host +
            "' (a duplicate node id; if that process died, its registration expires within " +
            std::to_string(lease_ttl_s) + " s)");
      }
      LOG_WARN("node.stale_registration node={} old_pid={} lease={}: taking it over",
               record.id.str(), other->pid, kv.lease.value);
    } else if (!other.ok()) {
      LOG_WARN("node.unreadable_registration node={} error={}: replacing it", record.id.str(),
               other.status().ToString());
    }
    if (kv.lease.valid()) {
      Status st = etcd->LeaseRevoke(kv.lease);
      if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
    }
    if (!kv.lease.valid()) (void)etcd->Delete(key);
  }
  auto registrar = std::unique_ptr<NodeRegistrar>(
      new NodeRegistrar(std::move(etcd), std::move(keys), std::move(record), lease_ttl_s));
  CVFS_RETURN_IF_ERROR(registrar->Register());
  registrar->thread_ = std::thread([r = registrar.get()] { r->Run(); });
  return registrar;
}

NodeRegistrar::~NodeRegistrar() { Stop(); }

Status NodeRegistrar::Register() {
  CVFS_ASSIGN_OR_RETURN(Lease lease, etcd_->LeaseGrant(lease_ttl_s_));
  NodeRecord record;
  {
    std::lock_guard<std::mutex> lock(mu_);
    record = record_;
  }
  const std::string key = keys_.Node(record.id);
  // Only create: a key that exists now belongs to someone else (ours was revoked/expired).
  auto txn =
      etcd_->Txn({Compare::KeyMissing(key)},
                 {TxnOp::Put(key, SerializeNodeRecord(record), lease.id)}, {TxnOp::Get(key)});
  if (!txn.ok()) {
    (void)etcd_->LeaseRevoke(lease.id);
    return txn.status();
  }
  if (!txn->succeeded) {
    bool ours = false;
    if (!txn->responses.empty() && !txn->responses[0].kvs.empty()) {
      auto other = ParseNodeRecord(txn->responses[0].kvs[0].value);
      ours = other.ok() && SameProcess(record, *other);
    }
    if (!ours) {
      (void)etcd_->LeaseRevoke(lease.id);
      return Status::AlreadyExists("node id '" + record.id.str() +
                                   "' was registered concurrently by another process");
    }
    auto put = etcd_->Put(key, SerializeNodeRecord(record), lease.id);
    if (!put.ok()) {
      (void)etcd_->LeaseRevoke(lease.id);
      return put.status();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  lease_ = lease.id;
  LOG_INFO("node.registered node={} lease={} ttl_s={}", record.id.str(), lease.id.value,
           lease.ttl_seconds);
  return Status::Ok();
}

void NodeRegistrar::Run() {
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(lease_ttl_s_ * 1000 / 3, 100));
  const auto retry = std::chrono::milliseconds(std::max<int64_t>(lease_ttl_s_ * 1000 / 10, 100));
  auto wait = interval;
  while (true) {
    LeaseId lease;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, wait, [&] { return stopping_; })) return;
      lease = lease_;
    }
    if (lease.valid()) {
      auto ttl = etcd_->LeaseKeepAlive(lease);
      if (ttl.ok()) {
        wait = interval;
        continue;
      }
      if (ttl.status().code() != ErrorCode::kNotFound) {
        LOG_WARN("node.keepalive_failed lease={} error={}", lease.value, ttl.status().ToString());
        wait = retry;
        continue;
      }
      LOG_WARN("node.lease_lost node={} lease={}: registration vanished, registering again",
               record().id.str(), lease.value);
      std::lock_guard<std::mutex> lock(mu_);
      if (lease_ == lease) lease_ = LeaseId{};
    }
    Status st = Register();
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++reregistrations_;
      wait = interval;
    } else {
      LOG_WARN("node.reregister_failed node={} error={}", record().id.str(), st.ToString());
      wait = retry;
    }
  }
}

Status NodeRegistrar::UpdateRecord(const NodeRecord& record) {
  LeaseId lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (record.id != record_.id) {
      return Status::InvalidArgument("UpdateRecord cannot change the node id");
    }
    if (stopped_ || stopping_) return Status::Cancelled("registrar stopped");
    record_ = record;
    lease = lease_;
  }
  if (!lease.valid()) return Status::Unavailable("not registered right now (lease lost)");
  const std::string key = keys_.Node(record.id);
  // Only rewrite a key bound to our lease: never resurrect a registration whose lease lapsed.
  Compare same_lease;
  same_lease.key = key;
  same_lease.target = Compare::Target::kLease;
  same_lease.number = lease.value;
  CVFS_ASSIGN_OR_RETURN(
      TxnResponse txn,
      etcd_->Txn({same_lease}, {TxnOp::Put(key, SerializeNodeRecord(record), lease)}, {}));
  if (!txn.succeeded) return Status::Conflict("registration is no longer bound to our lease");
  return Status::Ok();
}

void NodeRegistrar::Stop() {
  LeaseId lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease = lease_;
    lease_ = LeaseId{};
  }
  if (lease.valid()) {
    Status st = etcd_->LeaseRevoke(lease);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) {
      LOG_WARN("node.revoke_failed lease={} error={}: registration expires with its TTL",
               lease.value, st.ToString());
    } else {
      LOG_INFO("node.unregistered node={}", record().id.str());
    }
  }
}

LeaseId NodeRegistrar::lease() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lease_;
}

NodeRecord NodeRegistrar::record() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_;
}

int64_t NodeRegistrar::reregistrations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reregistrations_;
}

}  // namespace cvfs::control
