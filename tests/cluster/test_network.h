// TestNetwork: separate "hosts" on one machine for partition tests. Creates a Linux bridge
// on the host and, per node, a network namespace joined to the bridge by a veth pair:
//
//   host: bridge cvbr<tag>  10.<a>.<b>.1/24   (etcd also listens here)
//   node i: netns cvfs-<tag>-<i>, eth0 = 10.<a>.<b>.<i+2>/24, lo up
//
// Disconnect(i) takes the host side of node i's veth down: the node can reach neither
// etcd nor any peer (a partition), while the process keeps running. Reconnect(i) heals it.
// The subnet and names derive from the test's pid so concurrent tests do not collide.
// Everything is deleted in the destructor (deleting a namespace deletes its veth pair).
// Needs root (CAP_NET_ADMIN); Create() reports kNotSupported otherwise.
// Thread-safety: one owner thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::testing {

class TestNetwork {
 public:
  static Result<std::unique_ptr<TestNetwork>> Create(int nodes);
  ~TestNetwork();

  const std::string& host_address() const { return host_address_; }
  std::string node_address(int i) const;
  std::string namespace_name(int i) const;
  int size() const { return nodes_; }

  Status Disconnect(int i);
  Status Reconnect(int i);

 private:
  TestNetwork() = default;
  std::string HostVeth(int i) const;

  std::string tag_;
  std::string subnet_;  // "10.a.b."
  std::string bridge_;
  std::string host_address_;
  int nodes_ = 0;
  int created_ = 0;  // namespaces created so far (for cleanup after a partial Create)
};

}  // namespace cvfs::testing
