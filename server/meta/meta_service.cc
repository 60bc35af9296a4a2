// MetaService plumbing: map, PG resolution and the takeover check, per-PG mutexes,
// replication of batches, identities, cross-PG step sending, registration.
#include "server/meta/meta_service.h"

#include <algorithm>
#include <thread>

#include "core/logging.h"
#include "core/random.h"
#include "core/stripe_routing.h"
#include "server/meta/meta_parts.h"

namespace cvfs::server::meta {

namespace wire = net::wire;

namespace {

uint64_t RandomClientId() {
  Random random(std::random_device{}() ^
                static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return random.Next64() | (uint64_t{1} << 63);  // steps never collide with client ids < 2^63
}

bool IsRetryable(const Status& s) {
  return s.code() == ErrorCode::kUnavailable || s.code() == ErrorCode::kDeadlineExceeded ||
         s.code() == ErrorCode::kNotPrimary || s.code() == ErrorCode::kResourceExhausted;
}

}  // namespace

MetaService::MetaService(net::RpcEndpoint& endpoint, MetaStore& store, MetaServiceOptions options,
                         const Clock& clock)
    : endpoint_(endpoint),
      store_(store),
      options_(std::move(options)),
      clock_(clock),
      peers_(endpoint),
      step_client_id_(RandomClientId()) {}

void MetaService::Register() {
  auto bind = [this](Handler h) {
    return [this, h](const net::RpcContext& c, std::string_view p) { return (this->*h)(c, p); };
  };
  using net::Method;
  constexpr auto kCoordinator = net::HandlerMode::kCoordinator;
  endpoint_.RegisterHandler(Method::kMetaLookup, bind(&MetaService::HandleLookup), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaGetAttr, bind(&MetaService::HandleGetAttr), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaSetAttr, bind(&MetaService::HandleSetAttr), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaCreate, bind(&MetaService::HandleCreate), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaMkdir, bind(&MetaService::HandleMkdir), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaUnlink, bind(&MetaService::HandleUnlink), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaRmdir, bind(&MetaService::HandleRmdir), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaRename, bind(&MetaService::HandleRename), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaLink, bind(&MetaService::HandleLink), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaReaddir, bind(&MetaService::HandleReaddir), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaReadlink, bind(&MetaService::HandleReadlink),
                            kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaStatFs, bind(&MetaService::HandleStatFs), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaOpen, bind(&MetaService::HandleOpen), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaRelease, bind(&MetaService::HandleRelease), kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaCommitSize, bind(&MetaService::HandleCommitSize),
                            kCoordinator);
  endpoint_.RegisterHandler(Method::kMetaFsck, bind(&MetaService::HandleFsck), kCoordinator);
  // Tiers (net/rpc.h): client requests (kCoordinator) wait on parts (kStep), which wait only
  // on Apply and Sequence (kWorker), which wait on nothing remote: no cycle of full pools.
  endpoint_.RegisterHandler(Method::kMetaPart, bind(&MetaService::HandlePart),
                            net::HandlerMode::kStep);
  endpoint_.RegisterHandler(Method::kMetaSequence, bind(&MetaService::HandleSequence));
  endpoint_.RegisterHandler(Method::kMetaDump, bind(&MetaService::HandleDump));
  endpoint_.RegisterHandler(Method::kMetaInstall, bind(&MetaService::HandleInstall));
  endpoint_.RegisterHandler(Method::kMetaApply, bind(&MetaService::HandleApply));
}

void MetaService::SetMap(const ClusterMap& map) {
  auto shared = std::make_shared<const ClusterMap>(map);
  std::lock_guard lock(map_mu_);
  if (map_ != nullptr && map_->epoch.value > map.epoch.value) return;
  map_ = std::move(shared);
}

MetaServiceStats MetaService::stats() const {
  MetaServiceStats s;
  s.mutations = counters_.mutations;
  s.replayed = counters_.replayed;
  s.replica_failures = counters_.replica_failures;
  s.batches_applied = counters_.batches_applied;
  s.stale_refusals = counters_.stale_refusals;
  s.catch_ups = counters_.catch_ups;
  s.groups_shipped = counters_.groups_shipped;
  return s;
}

Result<MetaService::Pg> MetaService::Resolve(uint32_t fs_id, uint32_t pg_id) {
  Pg pg;
  {
    std::lock_guard lock(map_mu_);
    pg.map = map_;
  }
  if (pg.map == nullptr) return Status::Unavailable("this node has no cluster map yet");
  pg.fs = FindFilesystemById(*pg.map, fs_id);
  if (pg.fs == nullptr) {
    return Status::NotFound("filesystem " + std::to_string(fs_id) + " is not in the map");
  }
  CVFS_ASSIGN_OR_RETURN(pg.route, RouteMetaPg(*pg.map, *pg.fs, pg_id));
  pg.id = pg_id;
  CVFS_RETURN_IF_ERROR(pg.route.CheckAvailable());
  const NodeId& primary = pg.route.member(pg.route.primary).node;
  if (primary != options_.self) {
    return Status(ErrorCode::kNotPrimary,
                  "node " + options_.self.str() + " is not the metadata primary of PG " +
                      std::to_string(pg_id) + " at epoch " + std::to_string(pg.map->epoch.value) +
                      " (" + primary.str() + " is)");
  }
  pg.slot = &SlotOf(fs_id, pg_id);
  return pg;
}

MetaService::PgSlot& MetaService::SlotOf(uint32_t fs_id, uint32_t pg) {
  std::lock_guard lock(pgs_mu_);
  auto& slot = slots_[{fs_id, pg}];
  if (slot == nullptr) slot = std::make_unique<PgSlot>();
  return *slot;
}

NamespaceEngine MetaService::EngineFor(const Pg& pg) const {
  return NamespaceEngine(store_, pg.fs->id, pg.id, pg.fs->pg_count, clock_);
}

bool MetaService::IsReady(const Pg& pg) {
  std::lock_guard lock(pgs_mu_);
  return ready_.count(std::make_tuple(pg.fs->id, pg.id, pg.map->epoch.value)) != 0;
}

Status MetaService::EnsureReady(const Pg& pg) {
  const auto key = std::make_tuple(pg.fs->id, pg.id, pg.map->epoch.value);
  if (IsReady(pg)) return Status::Ok();
  // Takeover check: no other up replica may be ahead of this node; when one is (this node
  // missed batches while it was down), copy the PG from the most advanced one first.
  CVFS_ASSIGN_OR_RETURN(uint64_t mine, store_.LastSequence(pg.fs->id, pg.id));
  uint64_t best = mine;
  int best_member = -1;
  for (size_t i = 0; i < pg.route.replicas.size(); ++i) {
    const int member = pg.route.replicas[i];
    if (!pg.route.up[i] || member == pg.route.primary) continue;
    auto theirs = AskReplica(pg, member, net::Method::kMetaSequence, "");
    if (!theirs.ok()) {
      LOG_WARN("meta.takeover_unchecked fs={} pg={} replica={} error=\"{}\"", pg.fs->id, pg.id,
               pg.route.member(member).node.str(), theirs.status().ToString());
      continue;
    }
    const uint64_t seq = std::strtoull(theirs->c_str(), nullptr, 10);
    if (seq > best) {
      best = seq;
      best_member = member;
    }
  }
  if (best_member >= 0) {
    Status copied = CatchUp(pg, best_member);
    if (!copied.ok()) {
      counters_.stale_refusals++;
      return Status::Unavailable("metadata of PG " + std::to_string(pg.id) + " on " +
                                 options_.self.str() + " is behind replica " +
                                 pg.route.member(best_member).node.str() + " (sequence " +
                                 std::to_string(mine) + " < " + std::to_string(best) +
                                 ") and copying it failed: " + copied.ToString());
    }
  }
  if (pg.id == 0) {
    NamespaceEngine engine = EngineFor(pg);
    auto root = engine.GetAttr(kRootInode);
    if (!root.ok() && root.status().code() == ErrorCode::kNotFound) {
      CVFS_ASSIGN_OR_RETURN(MetaBatch batch, engine.Bootstrap(0755, 0, 0));
      CVFS_RETURN_IF_ERROR(Commit(pg, batch));
      LOG_INFO("meta.root_created fs={} name={}", pg.fs->id, pg.fs->name);
    } else if (!root.ok()) {
      return root.status();
    }
  }
  std::lock_guard lock(pgs_mu_);
  ready_.insert(key);
  return Status::Ok();
}

Result<std::string> MetaService::AskReplica(const Pg& pg, int member, net::Method method,
                                            const std::string& body) {
  CVFS_ASSIGN_OR_RETURN(
      net::PeerId peer,
      peers_.Get(NodeAddress(*pg.map, pg.route.member(member).node), options_.replica_timeout));
  wire::PartRequest request;
  request.header.fs_id = pg.fs->id;
  request.header.pg = pg.id;
  request.header.epoch = pg.map->epoch.value;
  request.body = body;
  CVFS_ASSIGN_OR_RETURN(
      std::string reply,
      endpoint_.Call(peer, method, wire::EncodePartRequest(request), options_.replica_timeout));
  CVFS_ASSIGN_OR_RETURN(wire::PartReply decoded, wire::DecodePartReply(reply));
  return std::string(decoded.body);
}

Status MetaService::CatchUp(const Pg& pg, int member) {
  std::vector<MetaStore::KeyValue> records;
  std::string after;
  size_t bytes = 0;
  for (int page = 0;; ++page) {
    if (page > 1'000'000) return Status::Internal("endless PG dump");
    CVFS_ASSIGN_OR_RETURN(std::string body, AskReplica(pg, member, net::Method::kMetaDump, after));
    CVFS_ASSIGN_OR_RETURN(DumpPage decoded, DecodeDumpPage(body));
    for (auto& kv : decoded.records) {
      bytes += kv.first.size() + kv.second.size();
      records.push_back(std::move(kv));
    }
    if (decoded.done || records.empty()) break;
    after = records.back().first;
  }
  CVFS_RETURN_IF_ERROR(store_.ReplacePg(pg.fs->id, pg.id, records));
  counters_.catch_ups++;
  CVFS_ASSIGN_OR_RETURN(uint64_t now, store_.LastSequence(pg.fs->id, pg.id));
  LOG_INFO("meta.caught_up fs={} pg={} from={} records={} bytes={} sequence={}", pg.fs->id, pg.id,
           pg.route.member(member).node.str(), records.size(), bytes, now);
  return Status::Ok();
}

Result<Mutation> MetaService::Mutate(
    const Pg& pg, const std::function<Result<Mutation>(const NamespaceEngine&)>& op) {
  uint64_t ticket = 0;
  Mutation m;
  {
    std::lock_guard lock(pg.slot->mutex);
    CVFS_RETURN_IF_ERROR(EnsureReady(pg));
    NamespaceEngine engine = EngineFor(pg);
    CVFS_ASSIGN_OR_RETURN(m, op(engine));
    if (m.replayed) {
      // The first answer may still be on its way to the replicas: this one waits for it.
      counters_.replayed++;
      ticket = LatestTicket(pg);
    } else if (!m.batch.empty()) {
      CVFS_ASSIGN_OR_RETURN(ticket, ApplyLocally(pg, m.batch));
      ticket = std::max(ticket, TrimDedupSometimes(pg, engine));
    }
  }
  // Outside the PG mutex: the next mutations of the PG are evaluated and queued while
  // this one's group is replicated.
  if (ticket != 0) CVFS_RETURN_IF_ERROR(AwaitReplicated(pg, ticket));
  return m;
}

uint64_t MetaService::TrimDedupSometimes(const Pg& pg, const NamespaceEngine& engine) {
  // Every mutation leaves a dedup record; records older than a client could still retry
  // (its deadline is 30 s) are dropped now and then, in the PG's own sequence.
  if (counters_.mutations % kTrimEveryMutations != 0) return 0;
  const int64_t older_than = engine.NowNs() - kDedupKeepNs;
  std::string& cursor = pg.slot->trim_cursor;  // under the PG mutex
  auto batch = engine.TrimDedup(older_than, &cursor, kTrimScanRecords);
  if (!batch.ok()) {
    LOG_WARN("meta.trim_failed fs={} pg={} error=\"{}\"", pg.fs->id, pg.id,
             batch.status().ToString());
    return 0;
  }
  if (batch->empty()) return 0;
  auto ticket = ApplyLocally(pg, *batch);
  if (!ticket.ok()) {
    LOG_WARN("meta.trim_failed fs={} pg={} error=\"{}\"", pg.fs->id, pg.id,
             ticket.status().ToString());
    return 0;
  }
  return *ticket;
}

Result<Caller> MetaService::CallerOf(const net::RpcContext& context,
                                     const wire::MetaHeader& header) const {
  FilesystemInfo fs;  // root_squash of the request's filesystem (false when unknown)
  {
    std::lock_guard lock(map_mu_);
    if (map_ != nullptr) {
      if (const FilesystemInfo* found = FindFilesystemById(*map_, header.fs_id)) {
        fs.root_squash = found->root_squash;
      }
    }
  }
  Caller caller;
  caller.uid = context.peer_uid;
  caller.gid = context.peer_gid;
  if (header.has_on_behalf) {
    if (context.peer_uid != 0) {
      return Status(ErrorCode::kNotPermitted,
                    "only root may act for another user (connection uid " +
                        std::to_string(context.peer_uid) + ")");
    }
    caller.uid = header.on_behalf.uid;
    caller.gid = header.on_behalf.gid;
    caller.groups = header.on_behalf.groups;
  }
  if (caller.uid == 0 && fs.root_squash) {
    caller.uid = kNobody;
    caller.gid = kNobody;
    caller.groups.clear();
  }
  return caller;
}

RequestKey MetaService::NextStepKey() { return RequestKey{step_client_id_, next_step_++}; }

Result<std::string> MetaService::SendPart(uint32_t fs_id, uint32_t pg_id, uint8_t kind,
                                          const RequestKey& key, const std::string& body) {
  const TimePoint deadline = clock_.Now() + options_.part_timeout;
  Duration backoff = std::chrono::milliseconds(20);
  Status last;
  while (true) {
    std::shared_ptr<const ClusterMap> map;
    {
      std::lock_guard lock(map_mu_);
      map = map_;
    }
    const FilesystemInfo* fs = map ? FindFilesystemById(*map, fs_id) : nullptr;
    if (fs == nullptr) return Status::NotFound("filesystem " + std::to_string(fs_id));
    CVFS_ASSIGN_OR_RETURN(MetaRoute route, RouteMetaPg(*map, *fs, pg_id));
    // kSequence asks one given replica (its member index is the body), not the primary.
    int target = route.primary;
    if (kind == static_cast<uint8_t>(PartKind::kSequence)) target = std::stoi(body);
    if (target < 0) {
      last = route.CheckAvailable();
    } else {
      auto peer = peers_.Get(NodeAddress(*map, route.member(target).node),
                             std::min<Duration>(deadline - clock_.Now(), std::chrono::seconds(2)));
      if (peer.ok()) {
        wire::PartRequest request;
        request.header.fs_id = fs_id;
        request.header.pg = pg_id;
        request.header.epoch = map->epoch.value;
        request.header.client_id = key.client_id;
        request.header.request_id = key.request_id;
        request.kind = kind;
        request.intent_id = key.request_id;
        request.body = body;
        const net::Method method = kind == static_cast<uint8_t>(PartKind::kSequence)
                                       ? net::Method::kMetaSequence
                                       : net::Method::kMetaPart;
        auto reply = endpoint_.Call(
            *peer, method, wire::EncodePartRequest(request),
            std::max<Duration>(deadline - clock_.Now(), std::chrono::milliseconds(1)));
        if (reply.ok()) {
          CVFS_ASSIGN_OR_RETURN(wire::PartReply decoded, wire::DecodePartReply(*reply));
          return std::string(decoded.body);
        }
        if (!IsRetryable(reply.status())) return reply.status();
        last = reply.status();
      } else {
        last = peer.status();
      }
    }
    if (kind == static_cast<uint8_t>(PartKind::kSequence)) return last;
    if (clock_.Now() + backoff >= deadline) {
      return Status::Unavailable("PG " + std::to_string(pg_id) +
                                 " did not take a cross-PG step in time: " + last.ToString());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace cvfs::server::meta
