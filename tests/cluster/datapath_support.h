// What the data-path integration tests and benchmarks share on top of TestCluster: the
// cluster map as the daemons see it, ObjectClients pointed at the cluster, the members of a
// stripe, and a byte-exact reference model of objects. Test-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cluster_map.h"
#include "core/random.h"
#include "core/status.h"
#include "cvfs/filesystem.h"
#include "cvfs/object_client.h"
#include "tests/cluster/cluster.h"

namespace cvfs::testing {

// The map as stored in the cluster's etcd.
Result<ClusterMap> ReadMap(const TestCluster& cluster);

// Waits until the map holds filesystem `name` placed; returns it.
Result<FilesystemInfo> WaitFilesystemPlaced(const TestCluster& cluster, const std::string& name);

// An ObjectClient on `filesystem` of this cluster, over the cluster's provider and munged.
Result<std::unique_ptr<ObjectClient>> OpenObjectClient(const TestCluster& cluster,
                                                       const std::string& filesystem,
                                                       const std::string& name = "test-client");

// A started cluster with one placed filesystem and a client on it.
struct FilesystemCluster {
  std::unique_ptr<TestCluster> cluster;
  FilesystemInfo fs;
  std::unique_ptr<ObjectClient> client;
};
// Starts a cluster with `options`, creates filesystem `name` (`cvfs fs create NAME
// --protection PROTECTION --cell CELL`), waits until the manager placed it, opens a client.
Result<FilesystemCluster> StartWithFilesystem(const ClusterOptions& options,
                                              const std::string& name,
                                              const std::string& protection,
                                              const std::string& cell);

// Waits until filesystem `name` is fully protected ("state": "full" in `cvfs status --json`):
// every member up and nothing left to rebuild or resync. With `restarted` >= 0, first until
// the map holds that node's current process (a node restarted within its lease never shows
// down, so until the manager sees the new registration the map still looks full).
Status WaitFilesystemFull(const TestCluster& cluster, const std::string& name, int restarted = -1,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Index in `cluster` of the node holding cell `cell` of (inode, stripe), or -1.
int CellHolder(const TestCluster& cluster, const FilesystemInfo& fs, uint64_t inode,
               uint64_t stripe, int cell);

// Reference content of objects: what every byte should read as (zeros where never written).
class ObjectModel {
 public:
  void Write(uint64_t offset, const std::vector<std::byte>& data);
  void Truncate(uint64_t new_size);
  std::vector<std::byte> Read(uint64_t offset, uint64_t length) const;
  uint64_t size() const { return bytes_.size(); }

 private:
  std::vector<std::byte> bytes_;
};

std::vector<std::byte> RandomBytes(Random& random, size_t length);

// cvfs::FileSystem::Mount of `filesystem` on this cluster (its etcd, provider and munged).
Result<std::unique_ptr<FileSystem>> MountFileSystem(const TestCluster& cluster,
                                                    const std::string& filesystem,
                                                    const std::string& name);

// Waits until node `node`'s process has exited (a crash point, a kill); false on timeout.
bool WaitNodeExited(TestCluster& cluster, int node, std::chrono::milliseconds timeout);

// Lines of the file at `path` that contain `needle` (0 when it cannot be read).
int CountInFile(const std::string& path, const std::string& needle);

// Index of the first differing byte, or -1 when equal (sizes must match).
int64_t FirstDifference(const std::vector<std::byte>& a, const std::vector<std::byte>& b);

}  // namespace cvfs::testing
