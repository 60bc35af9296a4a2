// Strong identifier types shared by the control plane, the server and the client:
// NodeId (a cvfsd's stable, admin-chosen name) and Epoch (the cluster-map version).
// Being distinct types, a node id can never be passed where a host name or a path is
// expected, and an epoch never mixes with an etcd revision.
// Thread-safety: value types; distinct objects may be used from distinct threads.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace cvfs {

// Longest node id accepted. Ids appear inside etcd keys and log lines, so they stay short.
inline constexpr size_t kMaxNodeIdLength = 64;

// A node's id: 1..kMaxNodeIdLength characters of [A-Za-z0-9._-], starting with a letter or
// digit. Construction does not validate (so literals stay cheap in tests); everything that
// accepts an id from outside (config, JSON, etcd keys) calls ValidateNodeId.
class NodeId {
 public:
  NodeId() = default;
  explicit NodeId(std::string id) : id_(std::move(id)) {}

  const std::string& str() const { return id_; }
  bool empty() const { return id_.empty(); }

  auto operator<=>(const NodeId&) const = default;
  bool operator==(const NodeId&) const = default;

 private:
  std::string id_;
};

// OK if `id` is a well-formed node id; kInvalidArgument naming the offending character or
// length otherwise.
Status ValidateNodeId(std::string_view id);

// The version of the cluster map. Starts at 1 when a cluster is created and grows by
// exactly one on every map change; 0 means "no map seen yet".
struct Epoch {
  uint64_t value = 0;

  Epoch Next() const { return Epoch{value + 1}; }
  auto operator<=>(const Epoch&) const = default;
  bool operator==(const Epoch&) const = default;
};

}  // namespace cvfs

template <>
struct std::hash<cvfs::NodeId> {
  size_t operator()(const cvfs::NodeId& id) const noexcept {
    return std::hash<std::string>()(id.str());
  }
};
