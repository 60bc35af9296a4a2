// NodeRegistrar: keeps a cvfsd's registration (KeyLayout::Node(id) = its NodeRecord JSON)
// alive in etcd, bound to a lease. The key's presence IS the node's liveness: when the
// process dies the lease lapses after lease_ttl_s and the key disappears; a clean Stop()
// revokes the lease so the departure is seen at once.
//
// Contract:
//  - Start refuses with kAlreadyExists when the key is held by another live process (a
//    different pid/host/start_time): a duplicate node id is an administrator error. A
//    registration left by a dead process of the same id on THIS host (pid gone) is taken
//    over at once (its lease is revoked) so a restart after kill -9 need not wait a TTL.
//  - A background thread renews the lease every ttl/3. If etcd says the lease is gone
//    (kNotFound: expired during a partition or revoked), it grants a new lease and
//    registers again, logging `node.lease_lost`.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/cluster_map.h"

namespace cvfs::control {

class NodeRegistrar {
 public:
  // Grants the lease and writes the registration; on failure nothing is left behind.
  static Result<std::unique_ptr<NodeRegistrar>> Start(std::shared_ptr<EtcdClient> etcd,
                                                      KeyLayout keys, NodeRecord record,
                                                      int64_t lease_ttl_s);
  ~NodeRegistrar();  // Stop()
  NodeRegistrar(const NodeRegistrar&) = delete;
  NodeRegistrar& operator=(const NodeRegistrar&) = delete;

  // Rewrites the registration (e.g. free space changed). The record's id must not change
  // (kInvalidArgument). On error the previous registration stays; the next lease renewal
  // or re-registration writes the new record anyway.
  Status UpdateRecord(const NodeRecord& record);

  // Stops renewing and revokes the lease (the key vanishes at once). Idempotent.
  void Stop();

  LeaseId lease() const;
  NodeRecord record() const;
  // How many times the lease was found lost and the node re-registered.
  int64_t reregistrations() const;

 private:
  NodeRegistrar(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeRecord record,
                int64_t lease_ttl_s);
  Status Register();  // grants a lease and writes the key; mu_ must NOT be held
  void Run();

  // Const after construction.
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;
  const int64_t lease_ttl_s_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  NodeRecord record_;            // guarded by mu_
  LeaseId lease_;                // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  bool stopped_ = false;         // guarded by mu_
  int64_t reregistrations_ = 0;  // guarded by mu_
  std::thread thread_;
};

// True when `other` (a registration found in etcd) was written by the same process as
// `self` (same host, pid and start time).
bool SameProcess(const NodeRecord& self, const NodeRecord& other);

}  // namespace cvfs::control
