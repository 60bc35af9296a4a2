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
  CVFS_ASSIGN_OR_RETURN(uint16_t client_port, FindFreePort());
  CVFS_ASSIGN_OR_RETURN(uint16_t peer_port, FindFreePort());
  etcd->endpoint_ = "http://127.0.0.1:" + std::to_string(client_port);
  etcd->peer_ = "http://127.0.0.1:" + std::to_string(peer_port);
  CVFS_RETURN_IF_ERROR(etcd->Spawn());
  return etcd;
}

Status TestEtcd::Spawn() {
  SpawnOptions opts;
  opts.argv = {"/usr/bin/etcd",
               "--name=cvfs-control-test",
               "--data-dir=" + dir_ + "/data",
               "--listen-client-urls=" + endpoint_,
               "--advertise-client-urls=" + endpoint_,
               "--listen-peer-urls=" + peer_,
               "--initial-advertise-peer-urls=" + peer_,
               "--initial-cluster=cvfs-control-test=" + peer_,
               "--log-level=warn",
               "--logger=zap"};
  opts.env = {"ETCD_UNSUPPORTED_ARCH="};
  opts.log_path = dir_ + "/etcd.log";
  CVFS_ASSIGN_OR_RETURN(process_, ChildProcess::Spawn(opts));
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_.Running()) {
      return Status::Unavailable("etcd exited at start:\n" + TailFile(opts.log_path, 20));
    }
    std::string out;
    if (RunCommand("curl -sf -m 1 -X POST -d '{}' " + endpoint_ + "/v3/maintenance/status", &out) ==
        0) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(50ms);
  }
  return Status::DeadlineExceeded("etcd did not answer within 15 s:\n" +
                                  TailFile(opts.log_path, 20));
}

Status TestEtcd::Restart() {
  process_.Kill();
  return Spawn();
}

TestEtcd::~TestEtcd() {
  process_.Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

control::EtcdOptions TestEtcd::Options() const {
  control::EtcdOptions o;
  o.endpoints = {endpoint_};
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
