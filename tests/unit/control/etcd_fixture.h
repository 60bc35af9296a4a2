// Test support for the control-plane tests: a private etcd (one member on free loopback
// ports, data in a temp dir) that can be killed and restarted on the SAME port, plus small
// wait helpers. Each test uses its own cluster name, so one etcd serves a whole binary.
// Thread-safety: one owner thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "control/etcd_client.h"
#include "core/cluster_map.h"
#include "tests/cluster/services.h"

namespace cvfs::testing {

class TestEtcd {
 public:
  static Result<std::unique_ptr<TestEtcd>> Start();
  ~TestEtcd();

  const std::string& endpoint() const { return server_->endpoint(); }
  // SIGKILL the member (it stays down until Restart).
  void Kill() { server_->Kill(); }
  // SIGSTOP / SIGCONT: a hung member (accepts connections, never answers).
  void Signal(int signal) { server_->process().Signal(signal); }
  // Starts it again with the same data dir and port; waits until it answers.
  Status Restart() { return server_->Restart(); }

  control::EtcdOptions Options() const;
  std::shared_ptr<control::EtcdClient> Client() const;

 private:
  std::string dir_;
  std::unique_ptr<EtcdServer> server_;
};

// The etcd shared by all tests of this binary (started at first use; aborts if it can't).
TestEtcd& SharedEtcd();

// A cluster name unique within this process ("t<counter>-<tag>").
std::string UniqueCluster(const std::string& tag);

// A plausible registration for node `id` of this process.
NodeRecord MakeRecord(const std::string& id, const std::string& domain = "");

// Polls `pred` every 20 ms until true or `timeout`; returns whether it became true.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace cvfs::testing
