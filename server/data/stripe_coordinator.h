// StripeCoordinator: the primary's side of the stripe protocol (docs/design/datapath.md).
// For each stripe whose PG has this node as its first up member it
//   - serializes writers (StripeLocks), so the versions of a stripe are totally ordered;
//   - knows the stripe's committed version from a cache or by asking every up member
//     (CellVersions), resolving a write a crash interrupted first (StripeStateCache +
//     ResolveVersions: roll forward if any member committed w or >= N hold it, else roll
//     back and never reuse w);
//   - runs the two-step write: read-modify-write of the old data (degraded decode around
//     missing cells), ISA-L parity, PrepareCell on every up member in parallel (the
//     primary's own cell straight into its store), then CommitCell, then the reply;
//   - truncates objects and repairs cells readers report (ReportCell).
// Its handlers call other nodes and therefore run on the coordinator pool
// (HandlerMode::kCoordinator): member handlers never wait on them, so nothing deadlocks.
//
// Errors: kUnavailable when this node is not the stripe's primary under its map, or fewer
// than N members are up / answered; kNoSpace when a member's drive is full (every prepared
// cell is aborted, the stripe keeps its old content); kCorruption when the old data cannot
// be decoded for a read-modify-write; kMalformedMessage / kInvalidArgument for bad requests.
// Thread-safety: handlers run concurrently on the coordinator pool; SetMap from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/cluster_map.h"
#include "core/erasure_code.h"
#include "core/status.h"
#include "core/stripe_routing.h"
#include "net/peer_cache.h"
#include "net/registered_pool.h"
#include "net/rpc.h"
#include "server/data/crash_points.h"
#include "server/data/member_service.h"
#include "server/data/stripe_locks.h"
#include "server/data/stripe_state_cache.h"

namespace cvfs::server {

// How long a member whose call ran into its deadline is treated as down (sends to a dead
// peer can block until the deadline; the map marks it down within its lease TTL).
inline constexpr auto kUnresponsiveMemberHold = std::chrono::seconds(10);

struct CoordinatorOptions {
  NodeId self;
  CrashPoints crash_points;
  // Bound on one member call (also bounded by the client's deadline).
  Duration member_timeout = std::chrono::seconds(5);
  size_t version_cache_entries = 1 << 20;
};

struct CoordinatorStats {
  uint64_t writes = 0;
  uint64_t full_stripe_writes = 0;
  uint64_t rmw_reads = 0;       // old cells read for a read-modify-write
  uint64_t degraded_rmw = 0;    // RMWs that decoded around a missing cell
  uint64_t discoveries = 0;     // version-cache misses resolved by asking members
  uint64_t rolled_forward = 0;  // interrupted writes committed by recovery
  uint64_t rolled_back = 0;     // interrupted writes aborted by recovery
  uint64_t no_space_aborts = 0;
  uint64_t repairs = 0;  // cells rewritten after a corruption report
  uint64_t truncates = 0;
};

class StripeCoordinator {
 public:
  StripeCoordinator(net::RpcEndpoint& endpoint, MemberService& local,
                    net::RegisteredBufferPool& pool, net::PeerCache& peers,
                    CoordinatorOptions options);

  // Registers WriteStripe, TruncateObject and ReportCell (HandlerMode::kCoordinator).
  void Register();

  // Adopts a newer map; a new epoch invalidates every cached stripe version.
  void SetMap(const ClusterMap& map);
  // The local member dropped stripes >= first of (fs_id, inode): forget their versions.
  void ForgetStripes(uint32_t fs_id, uint64_t inode, uint64_t first_stripe);

  Result<std::string> WriteStripe(const net::RpcContext& context, std::string_view payload);
  Result<std::string> TruncateObject(const net::RpcContext& context, std::string_view payload);
  Result<std::string> ReportCell(const net::RpcContext& context, std::string_view payload);

  // Cells written by RepairStaleCells / RebuildStripe.
  struct StaleRepair {
    uint64_t cells = 0;
    uint64_t bytes = 0;
    uint64_t failed = 0;
    Status first_error;
  };
  // The rebuild of one stripe (server/data/rebuild_worker.h): under the stripe lock,
  // rediscovers its version from every member and rewrites, from N current cells, every
  // reachable member that does not hold it committed. OK with zero cells when all are
  // current or the stripe no longer exists; kUnavailable when this node is not its primary
  // or fewer than N members answer; the first repair error otherwise.
  Result<StaleRepair> RebuildStripe(uint32_t fs_id, uint64_t inode, uint64_t stripe,
                                    TimePoint deadline);

  CoordinatorStats stats() const;

  // Called (on the handler thread, so it must not block) for each member that was up in the
  // map but did not take a write this node committed, or whose stale cell a repair could not
  // reach: its cell of that stripe is older than the committed version
  // (server/missed_member_reporter.h). Set once, before the first map.
  using MissedMemberListener =
      std::function<void(uint32_t fs_id, uint32_t pg, uint16_t index, const NodeId& node)>;
  void SetMissedMemberListener(MissedMemberListener listener);

  // Scrub (server/data/scrubber.h, stripe_scrub.cc): the parity check of one stripe this
  // node is the primary of. Under the stripe lock, reads every cell at the committed
  // version, re-encodes the parity from the data cells and compares; a parity cell that
  // differs is rewritten from the data cells (the data cells passed their CRCs on this very
  // read). kUnavailable when this node is not the stripe's primary.
  struct ParityCheck {
    uint64_t version = 0;         // the stripe's committed version; 0: never written
    bool checked = false;         // every cell was read and the parity compared
    std::string skipped;          // why not (a member down, a cell unreadable), when not
    uint64_t bytes_read = 0;      // over all members
    std::vector<int> mismatched;  // parity cells whose bytes differed
    std::vector<int> repaired;    // of those, rewritten from the data cells
  };
  Result<ParityCheck> CheckParity(uint32_t fs_id, uint64_t inode, uint64_t stripe,
                                  TimePoint deadline);

  struct StripeOp;  // one operation on one stripe (stripe_coordinator.cc)

 private:
  void NoteMissed(const StripeOp& op, int k);
  // Resolves the stripe under the current map; kUnavailable unless this node is its primary.
  Result<StripeOp> Begin(uint32_t fs_id, uint64_t inode, uint64_t stripe, TimePoint deadline);
  // The stripe's committed state: cached, or discovered (and recovered) from the members.
  // `meanwhile` (if any) runs exactly once on this thread: while the members are asked, or
  // at once on a cache hit. Requires the stripe lock.
  Result<StripeState> LoadState(StripeOp& op, const std::function<void()>& meanwhile = {});
  Result<StripeState> Discover(StripeOp& op, const std::function<void()>& meanwhile);
  // Writes [offset, +length) of the stripe; `fill` puts the new bytes into the staging
  // buffer at their stripe offsets (after the old data is in place). Requires the lock.
  // `staging`: a buffer (width x cell_bytes) that already holds the new bytes, for a write
  // of the whole stripe only (no old byte to read first); empty: acquired here.
  using FillNewBytes = std::function<Status(net::RegisteredBufferPool::Lease& staging)>;
  Result<uint64_t> WriteRange(StripeOp& op, StripeState& state, uint64_t offset, uint64_t length,
                              const FillNewBytes& fill,
                              net::RegisteredBufferPool::Lease staging = {});
  // Reads the first `length` bytes of every cell listed in `wanted` at `state.version` into
  // the staging buffer (cell k at k * cell_bytes), decoding around cells that cannot be read.
  Status ReadOldCells(StripeOp& op, const StripeState& state, const std::vector<bool>& wanted,
                      uint32_t length, net::RegisteredBufferPool::Lease& staging);
  // PrepareCell everywhere up, then CommitCell; returns the new version.
  Result<uint64_t> PrepareAndCommit(StripeOp& op, StripeState& state,
                                    const std::vector<uint32_t>& lengths,
                                    net::RegisteredBufferPool::Lease& staging);
  Status RepairCell(StripeOp& op, StripeState& state, int cell);
  // RepairCell for every reachable member not current at state.version. Requires the lock.
  StaleRepair RepairStaleCells(StripeOp& op, StripeState& state);

  std::shared_ptr<const ClusterMap> map() const;

  // Const after construction.
  net::RpcEndpoint& endpoint_;
  MemberService& local_;
  net::RegisteredBufferPool& pool_;
  net::PeerCache& peers_;
  const CoordinatorOptions options_;

  StripeLocks locks_;
  StripeStateCache cache_;

  mutable std::mutex mu_;
  std::shared_ptr<const ClusterMap> map_;  // guarded by mu_
  CoordinatorStats stats_;                 // guarded by mu_
  MissedMemberListener missed_listener_;   // guarded by mu_
};

}  // namespace cvfs::server
