// StripeOp and the member fan-out: internal to the stripe coordinator (server/data/).
// A StripeOp is one coordinator operation on one stripe under one map snapshot: the route
// (PG, which members are up), the connected peer of each remote member, and the local store
// of each member that lives on this node.
// Thread-safety: owned by the handler thread that runs the operation.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cluster_map.h"
#include "core/stripe_routing.h"
#include "net/call_group.h"
#include "net/wire/data_messages.h"
#include "server/data/member_service.h"
#include "server/data/stripe_coordinator.h"

namespace cvfs::server {

struct StripeCoordinator::StripeOp {
  std::shared_ptr<const ClusterMap> map;
  StripeRoute route;
  StripeId id;
  StripeGeometry geometry;
  TimePoint deadline;
  Duration member_timeout{};
  std::vector<CellStore*> local;                 // per cell: this node's store, or nullptr
  std::vector<std::optional<net::PeerId>> peer;  // per cell: connected remote member
  std::vector<std::string> address;              // per cell: the member's fabric address
  net::PeerCache* peers = nullptr;               // to skip members that stop answering
  MemberService* members = nullptr;              // this node's: local calls pass its fence too
  bool discard_staging = false;  // a remote call failed: a late RMA may still hit staging

  int width() const { return geometry.width(); }
  int data_cells() const { return geometry.data_cells; }
  // The wire address of cell `k` on its member.
  net::wire::CellAddress Address(int k) const {
    return {id.fs_id,
            id.inode,
            id.stripe,
            static_cast<uint16_t>(k),
            static_cast<uint16_t>(route.member(k).drive_index),
            map->epoch.value,
            route.pg->id};
  }
  CellKey Key(int k) const {
    return CellKey{id.fs_id, id.inode, id.stripe, static_cast<uint16_t>(k)};
  }
  // Reachable: local, or remote with a connected peer (and up in the map).
  bool Reachable(int k) const { return local[k] != nullptr || peer[k].has_value(); }
  Duration CallTimeout() const { return std::min(member_timeout, Remaining(deadline)); }
};

// Runs one member operation on every cell in `cells`, in parallel: remote members get
// `method` with `payload(k)`, local ones run `local(k, store)` on this thread meanwhile
// (past this node's PrimaryFence, as the member handlers do, for the fenced methods),
// then `meanwhile` (if any) runs on this thread while the remote calls are still out.
// Returns one result per cell (unset cells: kUnavailable "not asked").
std::vector<Result<std::string>> FanOut(
    StripeCoordinator::StripeOp& op, net::RpcEndpoint& endpoint, const std::vector<bool>& cells,
    net::Method method, const std::function<std::string(int)>& payload,
    const std::function<Result<std::string>(int, CellStore*)>& local,
    const std::function<void()>& meanwhile = {});

// CommitCell (`commit`) or AbortCell of `version` on every cell in `cells`, in parallel;
// `sync` makes commits durable before they are acknowledged.
std::vector<Result<std::string>> CommitOrAbort(StripeCoordinator::StripeOp& op,
                                               net::RpcEndpoint& endpoint,
                                               const std::vector<bool>& cells, bool commit,
                                               uint64_t version, bool sync);

// The PrepareCell request for cell `k`: `length` bytes at k * cell_bytes of `staging`.
std::string PrepareRequestFor(const StripeCoordinator::StripeOp& op, int k, uint64_t version,
                              uint32_t length, std::span<const uint32_t> crcs,
                              const net::RegisteredBufferPool::Lease& staging, bool repair);

}  // namespace cvfs::server
