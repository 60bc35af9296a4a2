#include "tests/unit/control/etcd_fixture.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace cvfs::testing {

using namespace std::chrono_literals;

Result<std::unique_ptr<TestEtcd>> TestEtcd::Start() {
  auto etcd = std::unique_ptr<TestEtcd>(new TestEtcd());
  CVFS_ASSIGN_OR_RETURN(etcd->dir_, MakeTempDir("cvfs-control-etcd"));
  CVFS_ASSIGN_OR_RETURN(etcd->server_, EtcdServer::Start(etcd->dir_));
  return etcd;
}

TestEtcd::~TestEtcd() {
  server_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

control::EtcdOptions TestEtcd::Options() const {
  control::EtcdOptions o;
  o.endpoints = {endpoint()};
  o.request_timeout = 2s;
  o.connect_timeout = 300ms;
  return o;
}

std::shared_ptr<control::EtcdClient> TestEtcd::Client() const {
  auto client = control::EtcdClient::Create(Options());
  if (!client.ok()) {
    std::fprintf(stderr, "EtcdClient::Create: %s\n", client.status().ToString().c_str());
    std::abort();
  }
  return *client;
}

TestEtcd& SharedEtcd() {
  static std::unique_ptr<TestEtcd> etcd = [] {
    auto started = TestEtcd::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start etcd: %s\n", started.status().ToString().c_str());
      std::abort();
    }
    return std::move(started).value();
  }();
  return *etcd;
}

std::string UniqueCluster(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" + tag;
}

NodeRecord MakeRecord(const std::string& id, const std::string& domain) {
  NodeRecord r;
  r.id = NodeId(id);
  r.failure_domain = domain.empty() ? "fd-" + id : domain;
  r.host = "testhost";
  r.fabric_provider = "tcp;ofi_rxm";
  r.fabric_address = "fi_sockaddr_in://127.0.0.1:" + std::to_string(7000 + id.size());
  r.drives = {DriveInfo{"/tmp/" + id + "/d0", 1000, 600},
              DriveInfo{"/tmp/" + id + "/d1", 2000, 500}};
  r.version = "test";
  r.pid = getpid();
  r.start_time_ms = 1'700'000'000'000 + static_cast<int64_t>(std::hash<std::string>()(id) % 1000);
  return r;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace cvfs::testing
