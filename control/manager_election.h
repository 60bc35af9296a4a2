// ManagerElection: one cvfsd at a time holds KeyLayout::Manager(), the election key.
//
// Every eligible cvfsd campaigns with one transaction: if the key is missing, put
// Manager() = its node id bound to the election's own lease (TTL lease_ttl_s, renewed every
// ttl/3). The winner's term is the key's create_revision: it grows with every new holder,
// so it is the fencing token the manager attaches to its map writes
// (Compare::CreateRevisionIs(Manager(), term)). Non-winners watch the key and campaign
// again as soon as it is deleted: its holder revoked its lease (clean Stop) or the lease
// expired (kill -9, partition).
//
// A manager that cannot renew its lease for a whole TTL, or sees the key deleted or held
// by another term, calls on_lost() at once: it must stop acting as manager. (Its writes are
// fenced anyway: a deposed term can never overwrite the map.)
//
// Thread-safety: public methods are thread-safe. Callbacks run on the election thread,
// one at a time, never concurrently with each other; they must not call Stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "control/etcd_client.h"
#include "control/keys.h"

namespace cvfs::control {

struct ElectionCallbacks {
  // This node became manager with `term`; `waited` is how long the campaign took since
  // the election started or the previous holder's key was seen gone.
  std::function<void(int64_t term, Duration waited)> on_elected;
  // This node is no longer manager (lease lost, key deleted, or Stop()).
  std::function<void(int64_t term)> on_lost;
};

class ManagerElection {
 public:
  // Starts campaigning in the background; returns at once. kInvalidArgument on a bad id.
  static Result<std::unique_ptr<ManagerElection>> Start(std::shared_ptr<EtcdClient> etcd,
                                                        KeyLayout keys, NodeId self,
                                                        int64_t lease_ttl_s,
                                                        ElectionCallbacks callbacks);
  ~ManagerElection();  // Stop()
  ManagerElection(const ManagerElection&) = delete;
  ManagerElection& operator=(const ManagerElection&) = delete;

  // Resigns: stops campaigning, calls on_lost if manager, deletes the manager key if it is
  // still ours (so others take over at once) and revokes the lease. Idempotent.
  void Stop();

  bool is_manager() const;
  int64_t term() const;  // 0 when not manager

 private:
  ManagerElection(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeId self,
                  int64_t lease_ttl_s, ElectionCallbacks callbacks);
  void Run();
  void Lose(const char* reason);           // election thread only
  void Campaign(TimePoint waiting_since);  // election thread only
  void Wake();

  // Const after construction.
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;
  const NodeId self_;
  const int64_t lease_ttl_s_;
  const ElectionCallbacks callbacks_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;    // guarded by mu_
  bool stopped_ = false;     // guarded by mu_
  bool key_changed_ = true;  // guarded by mu_: the watch saw the manager key change
  int64_t term_ = 0;         // guarded by mu_: 0 when not manager

  // Election thread only.
  LeaseId lease_;
  TimePoint last_renewal_{};
  std::unique_ptr<EtcdWatch> watch_;
  std::thread thread_;
};

}  // namespace cvfs::control
