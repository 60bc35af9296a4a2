#include "tests/cluster/services.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace cvfs::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Result<std::unique_ptr<EtcdServer>> EtcdServer::Start(const std::string& dir,
                                                      const std::vector<std::string>& extra_hosts) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("mkdir " + dir + ": " + ec.message());
  auto server = std::unique_ptr<EtcdServer>(new EtcdServer());
  server->dir_ = dir;
  CVFS_ASSIGN_OR_RETURN(uint16_t client_port, FindFreePort());
  CVFS_ASSIGN_OR_RETURN(uint16_t peer_port, FindFreePort());
  server->endpoint_ = "http://127.0.0.1:" + std::to_string(client_port);
  server->port_ = client_port;
  std::string listen = server->endpoint_;
  for (const auto& host : extra_hosts)
    listen += ",http://" + host + ":" + std::to_string(client_port);
  server->peer_ = "http://127.0.0.1:" + std::to_string(peer_port);
  server->listen_ = listen;
  CVFS_RETURN_IF_ERROR(server->Spawn());
  return server;
}

Status EtcdServer::Spawn() {
  SpawnOptions opts;
  opts.argv = {"/usr/bin/etcd",
               "--name=cvfs-test",
               "--data-dir=" + dir_ + "/data",
               "--listen-client-urls=" + listen_,
               "--advertise-client-urls=" + endpoint_,
               "--listen-peer-urls=" + peer_,
               "--initial-advertise-peer-urls=" + peer_,
               "--initial-cluster=cvfs-test=" + peer_,
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

Status EtcdServer::Restart() {
  process_.Kill();
  return Spawn();
}

EtcdServer::~EtcdServer() { process_.Kill(); }

Result<std::unique_ptr<MungeDaemon>> MungeDaemon::Start(const std::string& dir,
                                                        const std::string& key_file) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("mkdir " + dir + ": " + ec.message());
  chmod(dir.c_str(), 0755);  // munged insists its socket directory is not writable by others
  auto munge = std::unique_ptr<MungeDaemon>(new MungeDaemon());
  munge->dir_ = dir;
  munge->socket_ = dir + "/munge.socket";
  munge->key_ = key_file;
  if (munge->key_.empty()) {
    munge->key_ = dir + "/munge.key";
    std::string out;
    if (RunCommand("dd if=/dev/urandom of=" + munge->key_ +
                       " bs=1024 count=1 status=none && chmod 0400 " + munge->key_,
                   &out) != 0) {
      return Status::IoError("cannot create munge key: " + out);
    }
  }
  SpawnOptions opts;
  opts.argv = {"/usr/sbin/munged",
               "--foreground",
               "--force",
               "--key-file=" + munge->key_,
               "--socket=" + munge->socket_,
               "--pid-file=" + dir + "/munged.pid",
               "--log-file=" + dir + "/munged.log",
               "--seed-file=" + dir + "/munged.seed",
               "--num-threads=2"};
  opts.log_path = dir + "/munged.out";
  CVFS_ASSIGN_OR_RETURN(munge->process_, ChildProcess::Spawn(opts));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!munge->process_.Running()) {
      return Status::Unavailable("munged exited at start:\n" + TailFile(opts.log_path, 20) +
                                 TailFile(dir + "/munged.log", 20));
    }
    if (fs::exists(munge->socket_)) {
      std::string out;
      if (RunCommand("/usr/bin/munge -n -S " + munge->socket_ + " >/dev/null", &out) == 0) {
        return munge;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return Status::DeadlineExceeded("munged did not answer within 10 s");
}

MungeDaemon::~MungeDaemon() { process_.Kill(); }

}  // namespace cvfs::testing
