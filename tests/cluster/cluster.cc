#include "tests/cluster/cluster.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace cvfs::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string BinPath(const std::string& name) {
  if (const char* dir = getenv("CVFS_BIN_DIR")) return std::string(dir) + "/" + name;
#ifdef CVFS_BIN_DIR
  return std::string(CVFS_BIN_DIR) + "/" + name;
#else
  return name;
#endif
}

Result<std::unique_ptr<TestCluster>> TestCluster::Start(const ClusterOptions& options) {
  auto cluster = std::unique_ptr<TestCluster>(new TestCluster());
  cluster->options_ = options;
  if (!options.base_dir.empty()) {
    std::error_code ec;
    fs::create_directories(options.base_dir, ec);
  }
  CVFS_ASSIGN_OR_RETURN(cluster->dir_, MakeTempDir("cvfs-cluster", options.base_dir));
  std::vector<std::string> etcd_hosts;
  if (options.network_namespaces) {
    CVFS_ASSIGN_OR_RETURN(cluster->network_, TestNetwork::Create(options.nodes));
    etcd_hosts.push_back(cluster->network_->host_address());
  }
  CVFS_ASSIGN_OR_RETURN(cluster->etcd_, EtcdServer::Start(cluster->dir_ + "/etcd", etcd_hosts));
  CVFS_ASSIGN_OR_RETURN(cluster->munge_, MungeDaemon::Start(cluster->dir_ + "/munge"));
  if (options.create_cluster) {
    std::string out;
    if (cluster->RunCli("cluster create " + options.cluster_name, &out) != 0) {
      return Status::Internal("cvfs cluster create failed: " + out);
    }
  }
  cluster->nodes_.resize(options.nodes);
  for (int i = 0; i < options.nodes; ++i) {
    CVFS_RETURN_IF_ERROR(cluster->WriteNodeConfig(i));
    if (options.started_nodes > 0 && i >= options.started_nodes) continue;
    CVFS_RETURN_IF_ERROR(cluster->StartNode(i));
  }
  if (options.wait_until_up) {
    const int want = options.started_nodes > 0 ? options.started_nodes : options.nodes;
    auto status = cluster->WaitForStatus(
        [want](const nlohmann::json& s) {
          int up = 0;
          for (const auto& n : s.value("nodes", nlohmann::json::array())) {
            if (n.value("state", "") == "up") ++up;
          }
          return up == want && !s.value("manager", "").empty();
        },
        30s);
    if (!status.ok()) {
      return status.status().WithContext("cluster did not come up\n" + cluster->DumpLogs());
    }
  }
  return cluster;
}

TestCluster::~TestCluster() {
  for (auto& node : nodes_) node.process.Stop(2000ms);
  for (const auto& mount : tmpfs_mounts_) RunCommand("umount -l '" + mount + "' 2>&1");
  munge_.reset();
  etcd_.reset();
  network_.reset();
  if (!dir_.empty() && getenv("CVFS_KEEP_TEST_DIR") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string TestCluster::node_id(int i) const { return nodes_[i].id; }
std::string TestCluster::client_host() const {
  return network_ != nullptr ? network_->host_address() : "127.0.0.1";
}
std::string TestCluster::config_path(int i) const { return nodes_[i].config_path; }

Status TestCluster::WriteNodeConfig(int i) {
  Node& node = nodes_[i];
  node.id = "n" + std::to_string(i + 1);
  const std::string node_dir = dir_ + "/" + node.id;
  std::error_code ec;
  fs::create_directories(node_dir + "/drive0", ec);
  if (ec) return Status::IoError("mkdir " + node_dir + ": " + ec.message());
  if (options_.drive_tmpfs_bytes > 0) {
    const std::string drive = node_dir + "/drive0";
    std::string out;
    if (RunCommand("mount -t tmpfs -o size=" + std::to_string(options_.drive_tmpfs_bytes) +
                       " cvfs-test-drive '" + drive + "' 2>&1",
                   &out) != 0) {
      return Status::NotSupported("cannot mount a tmpfs drive (needs root): " + out);
    }
    tmpfs_mounts_.push_back(drive);
  }
  node.config_path = node_dir + "/cvfsd.toml";
  node.log_path = node_dir + "/cvfsd.log";
  const int domains = options_.failure_domains > 0 ? options_.failure_domains : options_.nodes;
  std::string etcd = etcd_->endpoint();
  std::string host = "127.0.0.1";
  if (network_ != nullptr) {
    etcd = "http://" + network_->host_address() + ":" + std::to_string(etcd_->port());
    host = network_->node_address(i);
  }
  std::ofstream cfg(node.config_path);
  cfg << "cluster = \"" << options_.cluster_name << "\"\n"
      << "node_id = \"" << node.id << "\"\n"
      << "failure_domain = \"fd" << (i % domains + 1) << "\"\n"
      << "state_dir = \"" << node_dir << "\"\n"
      << "drives = [\"" << node_dir << "/drive0\"]\n"
      << "[etcd]\nendpoints = [\"" << etcd << "\"]\n"
      << "lease_ttl_s = " << options_.lease_ttl_s << "\n"
      << "[net]\nprovider = \"" << options_.provider << "\"\nhost = \"" << host << "\"\n"
      << "[auth]\nmunge_socket = \"" << munge_->socket_path() << "\"\n"
      << "[log]\nlevel = \"debug\"\n";
  for (const auto& line : options_.extra_config) cfg << line << "\n";
  if (!cfg) return Status::IoError("cannot write " + node.config_path);
  return Status::Ok();
}

Status TestCluster::StartNode(int i, const std::vector<std::string>& env) {
  Node& node = nodes_[i];
  if (node.process.Running()) return Status::AlreadyExists(node.id + " is running");
  SpawnOptions opts;
  opts.argv = {BinPath("cvfsd"), "--config", node.config_path};
  opts.env = env;
  opts.log_path = node.log_path;
  if (network_ != nullptr) opts.netns = network_->namespace_name(i);
  CVFS_ASSIGN_OR_RETURN(node.process, ChildProcess::Spawn(opts));
  return Status::Ok();
}

std::string TestCluster::drive_path(int i) const { return dir_ + "/" + nodes_[i].id + "/drive0"; }

Status TestCluster::WaitNodeUp(int i, std::chrono::milliseconds timeout) {
  const std::string id = nodes_[i].id;
  auto status =
      WaitForStatus([&](const nlohmann::json& s) { return NodeState(s, id) == "up"; }, timeout);
  if (!status.ok()) return status.status().WithContext(id + " did not come up\n" + DumpLogs());
  return Status::Ok();
}

Status TestCluster::CreateFilesystem(const std::string& name, const std::string& protection,
                                     const std::string& cell, const std::string& more) {
  std::string out;
  const int rc = RunCli("fs create " + name + " --protection " + protection + " --cell " + cell +
                            " " + more + " 2>&1",
                        &out);
  if (rc != 0) {
    return Status::Internal("cvfs fs create exited " + std::to_string(rc) + ": " + out);
  }
  return Status::Ok();
}

void TestCluster::KillNode(int i) { nodes_[i].process.Kill(); }
void TestCluster::StopNode(int i) { nodes_[i].process.Stop(); }
void TestCluster::PauseNode(int i) { nodes_[i].process.Signal(SIGSTOP); }
void TestCluster::ResumeNode(int i) { nodes_[i].process.Signal(SIGCONT); }

Status TestCluster::PartitionNode(int i) {
  if (network_ == nullptr)
    return Status::NotSupported("cluster started without network namespaces");
  return network_->Disconnect(i);
}

Status TestCluster::HealNode(int i) {
  if (network_ == nullptr)
    return Status::NotSupported("cluster started without network namespaces");
  return network_->Reconnect(i);
}

std::vector<std::string> TestCluster::ToolEnv() const {
  return {"CVFS_ETCD=" + etcd_->endpoint(), "CVFS_CLUSTER=" + options_.cluster_name,
          "CVFS_MUNGE_SOCKET=" + munge_->socket_path()};
}

int TestCluster::RunCli(const std::string& args, std::string* out) const {
  std::string command;
  for (const auto& e : ToolEnv()) command += e + " ";
  command += BinPath("cvfs") + " " + args;
  return RunCommand(command, out);
}

Result<nlohmann::json> TestCluster::StatusJson() const {
  std::string out;
  const int rc = RunCli("status --json 2>/dev/null", &out);
  // Exit code 0: healthy; 1: degraded but answered; others: could not read the status.
  if (rc != 0 && rc != 1)
    return Status::Unavailable("cvfs status exited " + std::to_string(rc) + ": " + out);
  auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::MalformedMessage("cvfs status --json printed: " + out);
  return parsed;
}

Result<nlohmann::json> TestCluster::WaitForStatus(
    const std::function<bool(const nlohmann::json&)>& pred,
    std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "(none)";
  while (true) {
    auto status = StatusJson();
    if (status.ok()) {
      if (pred(*status)) return status;
      last = status->dump();
    } else {
      last = status.status().ToString();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::DeadlineExceeded("condition not met in time; last status: " + last);
    }
    std::this_thread::sleep_for(100ms);
  }
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int IndexOfNode(const TestCluster& cluster, const std::string& id) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.node_id(i) == id) return i;
  }
  return -1;
}

std::string TestCluster::NodeState(const nlohmann::json& status, const std::string& id) {
  for (const auto& n : status.value("nodes", nlohmann::json::array())) {
    if (n.value("id", "") == id) return n.value("state", "");
  }
  return "";
}

std::string TestCluster::DumpLogs(int lines) const {
  std::ostringstream out;
  for (const auto& node : nodes_) {
    out << "---- " << node.id << " (" << node.log_path << ")\n" << TailFile(node.log_path, lines);
  }
  return out.str();
}

}  // namespace cvfs::testing
