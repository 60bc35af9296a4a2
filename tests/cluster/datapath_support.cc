#include "tests/cluster/datapath_support.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/stripe_layout.h"

namespace cvfs::testing {

using namespace std::chrono_literals;

Result<ClusterMap> ReadMap(const TestCluster& cluster) {
  control::EtcdOptions options;
  options.endpoints = {cluster.etcd_endpoint()};
  CVFS_ASSIGN_OR_RETURN(auto etcd, control::EtcdClient::Create(options));
  control::KeyLayout keys(cluster.cluster_name());
  CVFS_ASSIGN_OR_RETURN(control::RangeResponse range, etcd->Get(keys.Map()));
  if (range.kvs.empty()) return Status::NotFound("no map yet");
  return ParseClusterMap(range.kvs[0].value);
}

Result<FilesystemInfo> WaitFilesystemPlaced(const TestCluster& cluster, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  Status last = Status::NotFound("filesystem " + name + " not in the map");
  while (std::chrono::steady_clock::now() < deadline) {
    auto map = ReadMap(cluster);
    if (map.ok()) {
      auto it = map->filesystems.find(name);
      if (it != map->filesystems.end() && it->second.placed()) return it->second;
    } else {
      last = map.status();
    }
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

namespace {

// Client options (ObjectClientOptions, FileSystemOptions) pointing at `cluster`.
template <typename Options>
Options ClientOptionsFor(const TestCluster& cluster, const std::string& filesystem,
                         const std::string& name) {
  Options options;
  options.etcd_endpoints = {cluster.etcd_endpoint()};
  options.cluster = cluster.cluster_name();
  options.filesystem = filesystem;
  options.provider = cluster.provider();
  options.munge_socket = cluster.munge_socket();
  options.name = name;
  options.host = cluster.client_host();
  return options;
}

}  // namespace

Result<std::unique_ptr<ObjectClient>> OpenObjectClient(const TestCluster& cluster,
                                                       const std::string& filesystem,
                                                       const std::string& name) {
  return ObjectClient::Open(ClientOptionsFor<ObjectClientOptions>(cluster, filesystem, name));
}

Result<FilesystemCluster> StartWithFilesystem(const ClusterOptions& options,
                                              const std::string& name,
                                              const std::string& protection,
                                              const std::string& cell) {
  FilesystemCluster out;
  CVFS_ASSIGN_OR_RETURN(out.cluster, TestCluster::Start(options));
  CVFS_RETURN_IF_ERROR(out.cluster->CreateFilesystem(name, protection, cell));
  CVFS_ASSIGN_OR_RETURN(out.fs, WaitFilesystemPlaced(*out.cluster, name));
  CVFS_ASSIGN_OR_RETURN(out.client, OpenObjectClient(*out.cluster, name));
  return out;
}

Status WaitFilesystemFull(const TestCluster& cluster, const std::string& name, int restarted,
                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (restarted >= 0) {
    auto map = ReadMap(cluster);
    if (map.ok()) {
      auto it = map->nodes.find(NodeId(cluster.node_id(restarted)));
      if (it != map->nodes.end() && it->second.record.pid == cluster.pid(restarted)) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::DeadlineExceeded("the map never showed " + cluster.node_id(restarted) +
                                      "'s new process");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto status = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        for (const auto& fs : s.value("filesystems", nlohmann::json::array())) {
          if (fs.value("name", "") == name) return fs.value("state", "") == "full";
        }
        return false;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                            std::chrono::steady_clock::now()));
  return status.status();
}

int CellHolder(const TestCluster& cluster, const FilesystemInfo& fs, uint64_t inode,
               uint64_t stripe, int cell) {
  const uint32_t pg = PlacementGroupOf(inode, stripe, fs.pg_count);
  if (pg >= fs.groups.size() || cell >= static_cast<int>(fs.groups[pg].members.size())) return -1;
  return IndexOfNode(cluster, fs.groups[pg].members[cell].node.str());
}

void ObjectModel::Write(uint64_t offset, const std::vector<std::byte>& data) {
  if (offset + data.size() > bytes_.size()) bytes_.resize(offset + data.size(), std::byte{0});
  std::copy(data.begin(), data.end(), bytes_.begin() + static_cast<int64_t>(offset));
}

void ObjectModel::Truncate(uint64_t new_size) { bytes_.resize(new_size, std::byte{0}); }

std::vector<std::byte> ObjectModel::Read(uint64_t offset, uint64_t length) const {
  std::vector<std::byte> out(length, std::byte{0});
  for (uint64_t i = 0; i < length && offset + i < bytes_.size(); ++i) out[i] = bytes_[offset + i];
  return out;
}

std::vector<std::byte> RandomBytes(Random& random, size_t length) {
  std::vector<std::byte> out(length);
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    const uint64_t v = random.Next64();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < length; ++i) out[i] = static_cast<std::byte>(random.Next64());
  return out;
}

int64_t FirstDifference(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  if (a.size() != b.size()) return static_cast<int64_t>(std::min(a.size(), b.size()));
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

Result<std::unique_ptr<FileSystem>> MountFileSystem(const TestCluster& cluster,
                                                    const std::string& filesystem,
                                                    const std::string& name) {
  return FileSystem::Mount(ClientOptionsFor<FileSystemOptions>(cluster, filesystem, name));
}

bool WaitNodeExited(TestCluster& cluster, int node, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (cluster.running(node)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

int CountInFile(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace cvfs::testing
