// MetaService's replication pipeline (docs/design/namespace.md "Group commit"): batches are
// applied here under the PG mutex, queued in sequence order, and shipped to the replicas by
// whichever waiter finds no group in flight, many batches per kMetaApply, while the local
// WAL is synced once for all of them.
#include <algorithm>

#include "core/logging.h"
#include "core/stripe_routing.h"
#include "net/call_group.h"
#include "server/meta/meta_service.h"

namespace cvfs::server::meta {

namespace wire = net::wire;

namespace {

// A group stays well under the transport's 64 KiB message cap.
constexpr size_t kMaxGroupBytes = 48 * 1024;

}  // namespace

Result<uint64_t> MetaService::ApplyLocally(const Pg& pg, const MetaBatch& batch) {
  CVFS_RETURN_IF_ERROR(store_.ApplyAll({&batch, 1}, /*sync=*/false));
  counters_.mutations++;
  ReplicationQueue& queue = pg.slot->queue;
  std::lock_guard lock(queue.mu);
  ReplicationQueue::Entry entry;
  entry.ticket = ++queue.last_ticket;
  entry.pg = pg;
  entry.sequence = batch.sequence;
  entry.encoded = batch.Encode();
  queue.pending.push_back(std::move(entry));
  return queue.last_ticket;
}

uint64_t MetaService::LatestTicket(const Pg& pg) {
  ReplicationQueue& queue = pg.slot->queue;
  std::lock_guard lock(queue.mu);
  return queue.last_ticket;
}

Status MetaService::Commit(const Pg& pg, const MetaBatch& batch) {
  CVFS_ASSIGN_OR_RETURN(uint64_t ticket, ApplyLocally(pg, batch));
  return AwaitReplicated(pg, ticket);
}

Status MetaService::AwaitReplicated(const Pg& pg, uint64_t ticket) {
  ReplicationQueue& queue = pg.slot->queue;
  std::unique_lock lock(queue.mu);
  while (queue.shipped < ticket) {
    if (queue.shipping || queue.pending.empty()) {
      queue.cv.wait(lock);
      continue;
    }
    // Ship the queue's head: consecutive batches of one epoch, within one message.
    std::vector<ReplicationQueue::Entry> group;
    size_t bytes = 0;
    const uint64_t epoch = queue.pending.front().pg.map->epoch.value;
    while (!queue.pending.empty() && group.size() <= wire::kMaxApplyMoreBatches) {
      ReplicationQueue::Entry& next = queue.pending.front();
      if (next.pg.map->epoch.value != epoch) break;
      if (!group.empty() && bytes + next.encoded.size() > kMaxGroupBytes) break;
      bytes += next.encoded.size();
      group.push_back(std::move(next));
      queue.pending.pop_front();
    }
    queue.shipping = true;
    lock.unlock();
    const Status local = Ship(group);
    lock.lock();
    queue.shipping = false;
    queue.shipped = group.back().ticket;
    if (!local.ok()) {
      queue.failed.emplace_back(group.front().ticket, group.back().ticket, local);
      if (queue.failed.size() > 16) queue.failed.pop_front();
    }
    queue.cv.notify_all();
  }
  for (const auto& [first, last, status] : queue.failed) {
    if (first <= ticket && ticket <= last) return status;
  }
  return Status::Ok();
}

void MetaService::SetMissedReplicaListener(MissedReplicaListener listener) {
  std::lock_guard<std::mutex> lock(map_mu_);
  missed_listener_ = std::move(listener);
}

Status MetaService::Ship(const std::vector<ReplicationQueue::Entry>& group) {
  const Pg& pg = group.front().pg;
  wire::ApplyRequest request;
  request.fs_id = pg.fs->id;
  request.pg = pg.id;
  request.sequence = group.front().sequence;
  request.epoch = pg.map->epoch.value;
  request.batch = group.front().encoded;
  for (size_t i = 1; i < group.size(); ++i) request.more.push_back(group[i].encoded);
  request.sync = store_.syncs();
  const std::string payload = wire::EncodeApplyRequest(request);
  counters_.groups_shipped++;

  net::CallGroup calls(endpoint_, pg.route.replicas.size());
  const TimePoint deadline = clock_.Now() + options_.replica_timeout;
  for (size_t i = 0; i < pg.route.replicas.size(); ++i) {
    const int member = pg.route.replicas[i];
    if (!pg.route.up[i] || member == pg.route.primary) continue;
    auto peer =
        peers_.Get(NodeAddress(*pg.map, pg.route.member(member).node), options_.replica_timeout);
    if (!peer.ok()) {
      calls.Set(i, peer.status());
      continue;
    }
    calls.Start(i, *peer, net::Method::kMetaApply, payload, options_.replica_timeout);
  }
  // The local WAL sync overlaps the replicas' work.
  const Status local = store_.Sync();
  if (!local.ok()) {
    LOG_ERROR("meta.sync_failed fs={} pg={} sequences={}..{} error=\"{}\"", pg.fs->id, pg.id,
              group.front().sequence, group.back().sequence, local.ToString());
  }
  calls.WaitUntil(deadline + std::chrono::milliseconds(100));
  for (size_t i = 0; i < pg.route.replicas.size(); ++i) {
    if (!calls.started(i)) continue;
    const Status st = calls.done(i) ? calls.result(i).status()
                                    : Status::DeadlineExceeded("no answer to kMetaApply");
    if (!st.ok()) {
      counters_.replica_failures++;
      LOG_WARN("meta.replica_failed fs={} pg={} sequences={}..{} replica={} error=\"{}\"",
               pg.fs->id, pg.id, group.front().sequence, group.back().sequence,
               pg.route.member(pg.route.replicas[i]).node.str(), st.ToString());
      // It misses these batches (and, as it expects them first, refuses every later one with
      // kConflict) while a failover may still trust it: have it resynced.
      {
        MissedReplicaListener listener;
        {
          std::lock_guard<std::mutex> lock(map_mu_);
          listener = missed_listener_;
        }
        const int member = pg.route.replicas[i];
        if (listener) {
          listener(pg.fs->id, pg.id, static_cast<uint16_t>(member), pg.route.member(member).node);
        }
      }
    }
  }
  return local;
}

}  // namespace cvfs::server::meta
