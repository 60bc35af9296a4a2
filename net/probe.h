// Fabric probes for `cvfs doctor`: what RDMA hardware this node sees (libibverbs) and which
// libfabric providers can open a reliable-datagram endpoint with RMA here. Read-only: no
// memory is registered and nothing is sent.
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::net {

struct RdmaPort {
  int port_num = 0;
  std::string state;       // "active", "down", "init", ...
  std::string link_layer;  // "InfiniBand", "Ethernet"
};

struct RdmaDevice {
  std::string name;  // "mlx5_0"
  std::string node_guid;
  std::vector<RdmaPort> ports;
};

// The RDMA devices libibverbs reports; an empty list is not an error (no hardware).
// kUnavailable only when libibverbs itself fails.
Result<std::vector<RdmaDevice>> ListRdmaDevices();

struct ProviderProbe {
  std::string provider;  // "tcp;ofi_rxm"
  bool works = false;    // an FI_EP_RDM endpoint with FI_MSG|FI_RMA opened and enabled
  std::string detail;    // fabric/domain names when it works, the failing call when not
};

// Tries each provider in `providers` (default: the ones ConvergeFS supports).
std::vector<ProviderProbe> ProbeProviders(const std::vector<std::string>& providers = {
                                              "verbs;ofi_rxm", "tcp;ofi_rxm", "shm"});

}  // namespace cvfs::net

namespace cvfs::net {

struct MungeProbe {
  bool works = false;
  uint32_t uid = 0;  // the identity munged vouched for (this process's)
  uint32_t gid = 0;
  std::string detail;  // the failing step and munge's message when it does not work
};

// Encodes a credential through munged at `socket` (empty: libmunge's default) and decodes
// it again: proves munged runs, its key is readable and its clock sane.
MungeProbe ProbeMunge(const std::string& socket);

}  // namespace cvfs::net
