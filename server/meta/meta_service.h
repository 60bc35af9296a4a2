// MetaService: the metadata service of one cvfsd (docs/design/namespace.md).
//   - As a PG's metadata primary (the first up member among the PG's first P+1): runs each
//     request through that PG's NamespaceEngine under the PG's mutex, applies the batch
//     locally, replicates it to the other up replicas (kMetaApply) and replies. Requests for
//     a PG this node does not order get kNotPrimary (the client refreshes its map).
//   - As a replica: applies batches in sequence (MetaStore refuses gaps).
//   - As a coordinator of a cross-PG operation (mkdir, rmdir and unlink of an inode
//     elsewhere, rename between PGs, link across PGs): sends the other PG's steps as
//     kMetaPart requests to that PG's primary, never holding its own PG mutex meanwhile (two
//     coordinators waiting on each other's PGs cannot deadlock). Step order keeps every
//     visible entry pointing at an existing inode; a crash between steps can leave an
//     orphan inode (`cvfs fsck`), never a dangling entry.
//   - Identity: the MUNGE-proven uid/gid of the connection; a request's on-behalf identity
//     is honoured only from uid 0 (a FUSE mount acting for its users). On a root_squash
//     filesystem the resulting uid 0 acts as nobody (65534).
//   - Taking over a PG: the first time this node orders a PG in an epoch it asks the other
//     up replicas for their op sequence; when one is ahead (this node missed batches while
//     down) it refuses the PG (kUnavailable) instead of serving stale metadata.
// Thread-safety: handlers run on the endpoint's pools; SetMap from any thread. The store
// and the endpoint must outlive the service; shut the endpoint down first.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/clock.h"
#include "core/cluster_map.h"
#include "core/meta_routing.h"
#include "core/node_id.h"
#include "net/peer_cache.h"
#include "net/rpc.h"
#include "net/wire/meta_messages.h"
#include "server/data/crash_points.h"
#include "server/meta/meta_fsck.h"
#include "server/meta/meta_store.h"
#include "server/meta/namespace_engine.h"

namespace cvfs::server::meta {

// The identity root acts as on a root_squash filesystem.
inline constexpr uint32_t kNobody = 65534;

struct MetaServiceOptions {
  NodeId self;
  Duration replica_timeout = std::chrono::seconds(5);  // one kMetaApply
  Duration part_timeout = std::chrono::seconds(10);    // one kMetaPart
  // Readdir replies are trimmed to this many payload bytes (the transport's message cap is
  // 64 KiB).
  size_t max_readdir_reply_bytes = 48 * 1024;
  // Fault injection (server/data/crash_points.h): meta_mkdir_after_inode.
  CrashPoints crash_points;
};

struct MetaServiceStats {
  uint64_t mutations = 0;         // batches this node applied as primary
  uint64_t replayed = 0;          // retried requests answered from the dedup table
  uint64_t replica_failures = 0;  // kMetaApply a replica refused or did not answer
  uint64_t batches_applied = 0;   // as a replica
  uint64_t groups_shipped = 0;    // kMetaApply groups sent as primary (<= mutations)
  uint64_t stale_refusals = 0;    // PGs refused because a replica was ahead and copying failed
  uint64_t catch_ups = 0;         // PGs copied from a replica that was ahead
};

class MetaService {
 public:
  MetaService(net::RpcEndpoint& endpoint, MetaStore& store, MetaServiceOptions options,
              const Clock& clock = Clock::System());
  MetaService(const MetaService&) = delete;
  MetaService& operator=(const MetaService&) = delete;

  // Registers the kMeta* handlers (client requests and parts: kCoordinator; Apply: kWorker).
  void Register();
  void SetMap(const ClusterMap& map);
  MetaServiceStats stats() const;
  // Called for each metadata replica, up in the map, that a shipped group did not reach
  // (no connection, or no answer in time): it misses those batches, so the manager must list
  // its slot for resync (server/missed_member_reporter.h). Set once, before the first map;
  // must not block.
  using MissedReplicaListener =
      std::function<void(uint32_t fs_id, uint32_t pg, uint16_t index, const NodeId& node)>;
  void SetMissedReplicaListener(MissedReplicaListener listener);
  // cvfs fsck (meta_fsck.h): checks every PG of filesystem `fs_id` from its metadata primary
  // and, with `repair`, fixes the findings that two passes 2 s apart agree on.
  Result<FsckReport> RunFsck(uint32_t fs_id, bool repair);

  // Copies PG `pg_id` of `fs_id` to its replica at member index `member` (a replacement or a
  // returning node: FilesystemInfo::recovering), as of one consistent point: mutations of
  // the PG wait meanwhile and replicate to it normally afterwards. Requires this node to be
  // the PG's metadata primary (kNotPrimary otherwise). Returns the bytes sent.
  Result<uint64_t> ResyncReplica(uint32_t fs_id, uint32_t pg_id, int member);

  // One PG this node orders, resolved under one map snapshot.
  struct PgSlot;  // what this node keeps per PG (private)
  struct Pg {
    std::shared_ptr<const ClusterMap> map;
    const FilesystemInfo* fs = nullptr;
    MetaRoute route;
    uint32_t id = 0;
    PgSlot* slot = nullptr;  // this node's state of the PG (never freed)
  };

 private:
  using Handler = Result<std::string> (MetaService::*)(const net::RpcContext&, std::string_view);

  // --- meta_service.cc: plumbing ---
  // The PG `pg` of filesystem `fs_id` if this node is its metadata primary (kNotPrimary
  // naming the primary otherwise), after the takeover check.
  Result<Pg> Resolve(uint32_t fs_id, uint32_t pg);
  // The state of PG `pg` of filesystem `fs_id` (created on first use, kept for the process).
  PgSlot& SlotOf(uint32_t fs_id, uint32_t pg);
  NamespaceEngine EngineFor(const Pg& pg) const;
  // --- meta_replication.cc: the replication pipeline ---
  // Applies `batch` here (WAL written, not yet synced) and queues it for the replicas;
  // requires the PG mutex (batches queue in sequence order). The ticket to wait for.
  Result<uint64_t> ApplyLocally(const Pg& pg, const MetaBatch& batch);
  // Returns once every batch of the PG queued up to `ticket` is synced here and was sent
  // to every other up replica (replica failures are logged and counted: they are stale
  // until they catch up). The first waiter finding nothing in flight ships everything
  // queued in one kMetaApply while syncing the local WAL; the others wait for it (group
  // commit). Needs no PG mutex: mutations go on while a group is in flight.
  Status AwaitReplicated(const Pg& pg, uint64_t ticket);
  // The ticket of the PG's newest queued batch (0: none yet).
  uint64_t LatestTicket(const Pg& pg);
  // ApplyLocally + AwaitReplicated.
  Status Commit(const Pg& pg, const MetaBatch& batch);
  // Under the PG mutex: the root of PG 0 exists; this node is not behind a replica.
  Status EnsureReady(const Pg& pg);
  // True once EnsureReady passed for the PG at the PG's epoch.
  bool IsReady(const Pg& pg);
  // EnsureReady for reads, which need no PG mutex themselves: the mutex (held by a
  // mutation while it replicates) is taken only the first time in an epoch.
  Status Ready(const Pg& pg) {
    if (IsReady(pg)) return Status::Ok();
    std::lock_guard lock(pg.slot->mutex);
    return EnsureReady(pg);
  }
  // Every kTrimEveryMutations-th mutation of this node also drops the dedup records of its
  // PG older than kDedupKeepNs. Requires the PG mutex.
  static constexpr uint64_t kTrimEveryMutations = 64;
  static constexpr int64_t kDedupKeepNs = int64_t{10} * 60 * 1'000'000'000;
  // Records one trim looks at (resuming where the last stopped): 8 per mutation, more than
  // the one each mutation adds, so the table stays bounded at any rate.
  static constexpr size_t kTrimScanRecords = 8 * kTrimEveryMutations;
  // The ticket of the trim's batch, 0 when none was applied.
  uint64_t TrimDedupSometimes(const Pg& pg, const NamespaceEngine& engine);
  // Runs `op` on the PG's engine under its mutex and commits the batch.
  Result<Mutation> Mutate(const Pg& pg,
                          const std::function<Result<Mutation>(const NamespaceEngine&)>& op);
  // The identity a request acts as.
  Result<Caller> CallerOf(const net::RpcContext& context,
                          const net::wire::MetaHeader& header) const;
  // A key for this node's own cross-PG steps: unique per step, stable across its retries.
  RequestKey NextStepKey();
  // Sends one cross-PG step to the primary of `pg_id` (retrying a primary change within
  // part_timeout). The reply body.
  Result<std::string> SendPart(uint32_t fs_id, uint32_t pg_id, uint8_t kind, const RequestKey& key,
                               const std::string& body);

  // --- meta_handlers.cc: one PG's requests ---
  Result<std::string> HandleLookup(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleGetAttr(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleSetAttr(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleCreate(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleReaddir(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleReadlink(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleStatFs(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleOpen(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleRelease(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleCommitSize(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleApply(const net::RpcContext& c, std::string_view p);

  // --- meta_cross_pg_ops.cc: operations that may span PGs, and the parts they send ---
  Result<std::string> HandleMkdir(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleUnlink(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleRmdir(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleRename(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleLink(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandlePart(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleSequence(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleDump(const net::RpcContext& c, std::string_view p);
  Result<std::string> HandleInstall(const net::RpcContext& c, std::string_view p);
  // --- meta_fsck.cc: kMetaFsck (root only) ---
  Result<std::string> HandleFsck(const net::RpcContext& c, std::string_view p);
  // Copies every record of `pg` from replica member `member` (ahead of this node) and
  // replaces this node's copy. Requires the PG mutex (no mutation of the PG meanwhile).
  Status CatchUp(const Pg& pg, int member);
  // One kMetaSequence/kMetaDump exchange with member `member` of `pg`.
  Result<std::string> AskReplica(const Pg& pg, int member, net::Method method,
                                 const std::string& body);
  // Drops one link of `inode` (two for a directory) at its PG after an entry naming it went
  // away elsewhere; `key` makes the step exactly-once.
  Result<MutationReply> DropRemoteLink(uint32_t fs_id, uint64_t inode, FileType type,
                                       const RequestKey& key);
  // The remote rest of a mutation whose reply names inodes of other PGs (an entry removed
  // or replaced, a directory moved): drops their links, repoints the moved directory.
  Result<MutationReply> FinishRemote(uint32_t fs_id, MutationReply reply, const RequestKey& key);
  // Cross-PG rename (source and target parents in different PGs).
  Result<std::string> RenameAcrossPgs(const Pg& pg, const Caller& caller, const RequestKey& key,
                                      const net::wire::RenameRequest& req);

  net::RpcEndpoint& endpoint_;
  MetaStore& store_;
  const MetaServiceOptions options_;
  const Clock& clock_;
  net::PeerCache peers_;
  const uint64_t step_client_id_;  // this process's client id for its cross-PG steps
  std::atomic<uint64_t> next_step_{1};

  mutable std::mutex map_mu_;
  std::shared_ptr<const ClusterMap> map_;  // guarded by map_mu_
  MissedReplicaListener missed_listener_;  // guarded by map_mu_

  std::mutex pgs_mu_;
  // (fs, pg, epoch) this node checked as primary; pgs_mu_.
  std::set<std::tuple<uint32_t, uint32_t, uint64_t>> ready_;

  // One PG's batches applied here, in sequence order, waiting to be shipped.
  struct ReplicationQueue {
    struct Entry {
      uint64_t ticket = 0;
      Pg pg;
      uint64_t sequence = 0;
      std::string encoded;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Entry> pending;  // mu
    uint64_t last_ticket = 0;   // mu: the newest queued
    uint64_t shipped = 0;       // mu: every ticket <= shipped is done
    bool shipping = false;      // mu: a waiter is shipping a group
    // mu: groups whose local WAL sync failed ([first, last] tickets), the newest 16.
    std::deque<std::tuple<uint64_t, uint64_t, Status>> failed;
  };
  // Sends `group` (consecutive batches at one epoch) to the other up replicas while
  // syncing the local WAL; the local sync's status.
  Status Ship(const std::vector<ReplicationQueue::Entry>& group);

 public:
  struct PgSlot {
    // Held from a mutation's evaluation until its batch is applied here and queued.
    std::mutex mutex;
    std::string trim_cursor;  // where the next dedup trim resumes; under `mutex`
    ReplicationQueue queue;
  };

 private:
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<PgSlot>> slots_;  // pgs_mu_

  // Replica side of kMetaInstall: the pages received so far, per PG.
  struct Install {
    uint64_t transfer = 0;
    std::vector<MetaStore::KeyValue> records;
  };
  std::mutex installs_mu_;
  std::map<std::pair<uint32_t, uint32_t>, Install> installs_;  // installs_mu_

  struct Counters {
    std::atomic<uint64_t> mutations{0}, replayed{0}, replica_failures{0}, batches_applied{0},
        stale_refusals{0}, catch_ups{0}, groups_shipped{0};
  } counters_;
};

}  // namespace cvfs::server::meta
