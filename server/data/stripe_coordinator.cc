// The primary's write path: routing, the two-step write, truncate and the handlers.
// Version discovery, recovery, old-data reads and repair: stripe_recovery.cc.
#include "server/data/stripe_coordinator.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/logging.h"
#include "server/data/stripe_op.h"

namespace cvfs::server {

namespace wire = net::wire;

namespace {

uint32_t RoundUpBlock(uint64_t bytes) {
  return static_cast<uint32_t>((bytes + kChecksumBlockBytes - 1) / kChecksumBlockBytes *
                               kChecksumBlockBytes);
}

std::string Describe(const StripeId& id) {
  return "fs" + std::to_string(id.fs_id) + "/ino" + std::to_string(id.inode) + "/s" +
         std::to_string(id.stripe);
}

// Whether a member whose call ran into its deadline may be held unresponsive: only when the
// call had the whole per-member budget (a call cut short by its operation's deadline, e.g.
// after a wait for the stripe lock on a loaded node, says nothing about the member) and
// nothing at all arrived from the member since the call was sent (a member that replied,
// even with kDeadlineExceeded of its own, or that sent anything else, is running; and a
// call that expired while this process itself was stopped is not the member's fault).
bool SilentForWholeTimeout(net::RpcEndpoint& endpoint, net::PeerId peer, TimePoint sent,
                           Duration timeout, const StripeCoordinator::StripeOp& op) {
  return timeout >= op.member_timeout && endpoint.LastHeardFrom(peer) < sent;
}

}  // namespace

std::vector<Result<std::string>> FanOut(
    StripeCoordinator::StripeOp& op, net::RpcEndpoint& endpoint, const std::vector<bool>& cells,
    net::Method method, const std::function<std::string(int)>& payload,
    const std::function<Result<std::string>(int, CellStore*)>& local,
    const std::function<void()>& meanwhile) {
  const int width = op.width();
  net::CallGroup group(endpoint, width);
  const Duration timeout = op.CallTimeout();
  const TimePoint sent = Clock::System().Now();
  for (int k = 0; k < width; ++k) {
    if (!cells[k] || op.local[k] != nullptr) continue;
    if (!op.peer[k]) {
      group.Set(k, Status::Unavailable("member of cell " + std::to_string(k) + " unreachable"));
      continue;
    }
    group.Start(k, *op.peer[k], method, payload(k), timeout);
  }
  const bool fenced = op.members != nullptr && MemberService::Fenced(method);
  for (int k = 0; k < width; ++k) {
    if (!cells[k] || op.local[k] == nullptr) continue;
    PrimaryFence::Ticket ticket;
    if (fenced) {
      auto admitted = op.members->Admit(op.Address(k), method, endpoint.options().name);
      if (!admitted.ok()) {
        group.Set(k, admitted.status());
        continue;
      }
      ticket = std::move(admitted).value();
    }
    group.Set(k, local(k, op.local[k]));
  }
  if (meanwhile) meanwhile();
  group.Wait();
  std::vector<Result<std::string>> results;
  results.reserve(width);
  for (int k = 0; k < width; ++k) {
    if (!group.started(k)) {
      results.emplace_back(Status::Unavailable("not asked"));
      continue;
    }
    results.push_back(group.result(k));
    if (!results.back().ok() && op.local[k] == nullptr) {
      op.discard_staging = true;
      if (results.back().status().code() == ErrorCode::kDeadlineExceeded && op.peer[k]) {
        if (op.peers != nullptr &&
            SilentForWholeTimeout(endpoint, *op.peer[k], sent, timeout, op)) {
          // Dead or hung: later operations treat it as down until the hold ends.
          LOG_WARN("data.member_unresponsive stripe={} cell={} node={} method={} timeout_ms={}",
                   Describe(op.id), k, op.route.member(k).node.str(), net::MethodId(method),
                   std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
          op.peers->MarkUnresponsive(op.address[k], kUnresponsiveMemberHold);
        }
        op.peer[k].reset();  // this operation does not wait on it again either way
      }
    }
  }
  return results;
}

std::vector<Result<std::string>> CommitOrAbort(StripeCoordinator::StripeOp& op,
                                               net::RpcEndpoint& endpoint,
                                               const std::vector<bool>& cells, bool commit,
                                               uint64_t version, bool sync) {
  return FanOut(
      op, endpoint, cells, commit ? net::Method::kCommitCell : net::Method::kAbortCell,
      [&](int k) {
        return wire::EncodeCellVersionRequest({op.Address(k), version, sync});
      },
      [&](int k, CellStore* store) -> Result<std::string> {
        CVFS_RETURN_IF_ERROR(commit ? store->Commit(op.Key(k), version, sync)
                                    : store->Abort(op.Key(k), version));
        return std::string();
      });
}

std::string PrepareRequestFor(const StripeCoordinator::StripeOp& op, int k, uint64_t version,
                              uint32_t length, std::span<const uint32_t> crcs,
                              const net::RegisteredBufferPool::Lease& staging, bool repair) {
  wire::PrepareCellRequest m;
  m.cell = op.Address(k);
  m.version = version;
  m.length = length;
  m.block_crcs = crcs;
  m.source = staging.remote();
  m.source_offset = uint64_t(k) * op.geometry.cell_bytes;
  m.repair = repair;
  return wire::EncodePrepareCellRequest(m);
}

StripeCoordinator::StripeCoordinator(net::RpcEndpoint& endpoint, MemberService& local,
                                     net::RegisteredBufferPool& pool, net::PeerCache& peers,
                                     CoordinatorOptions options)
    : endpoint_(endpoint),
      local_(local),
      pool_(pool),
      peers_(peers),
      options_(std::move(options)),
      cache_(options_.version_cache_entries) {}

void StripeCoordinator::Register() {
  auto bind = [this](auto method) {
    return [this, method](const net::RpcContext& c, std::string_view p) {
      return (this->*method)(c, p);
    };
  };
  endpoint_.RegisterHandler(net::Method::kWriteStripe, bind(&StripeCoordinator::WriteStripe),
                            net::HandlerMode::kCoordinator);
  endpoint_.RegisterHandler(net::Method::kTruncateObject, bind(&StripeCoordinator::TruncateObject),
                            net::HandlerMode::kCoordinator);
  endpoint_.RegisterHandler(net::Method::kReportCell, bind(&StripeCoordinator::ReportCell),
                            net::HandlerMode::kCoordinator);
}

void StripeCoordinator::SetMap(const ClusterMap& map) {
  auto snapshot = std::make_shared<const ClusterMap>(map);
  bool new_epoch = false;
  {
    std::lock_guard lock(mu_);
    if (map_ != nullptr && map_->epoch >= map.epoch) return;
    new_epoch = map_ != nullptr;
    map_ = std::move(snapshot);
  }
  if (new_epoch) cache_.InvalidateAll();
}

std::shared_ptr<const ClusterMap> StripeCoordinator::map() const {
  std::lock_guard lock(mu_);
  return map_;
}

void StripeCoordinator::ForgetStripes(uint32_t fs_id, uint64_t inode, uint64_t first_stripe) {
  cache_.Forget(fs_id, inode, first_stripe);
}

CoordinatorStats StripeCoordinator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void StripeCoordinator::SetMissedMemberListener(MissedMemberListener listener) {
  std::lock_guard lock(mu_);
  missed_listener_ = std::move(listener);
}

void StripeCoordinator::NoteMissed(const StripeOp& op, int k) {
  MissedMemberListener listener;
  {
    std::lock_guard lock(mu_);
    listener = missed_listener_;
  }
  LOG_DEBUG("data.member_missed_write stripe={} cell={} node={}", Describe(op.id), k,
            op.route.member(k).node.str());
  if (listener) {
    listener(op.id.fs_id, op.route.pg->id, static_cast<uint16_t>(k), op.route.member(k).node);
  }
}

Result<StripeCoordinator::StripeOp> StripeCoordinator::Begin(uint32_t fs_id, uint64_t inode,
                                                             uint64_t stripe, TimePoint deadline) {
  StripeOp op;
  op.map = map();
  if (op.map == nullptr) return Status::Unavailable("no cluster map yet");
  const FilesystemInfo* fs = FindFilesystemById(*op.map, fs_id);
  if (fs == nullptr) {
    return Status::NotFound("filesystem id " + std::to_string(fs_id) + " is not in map epoch " +
                            std::to_string(op.map->epoch.value));
  }
  CVFS_ASSIGN_OR_RETURN(op.route, RouteStripe(*op.map, *fs, inode, stripe));
  op.id = StripeId{fs_id, inode, stripe};
  op.geometry = fs->geometry;
  op.deadline = deadline;
  op.member_timeout = options_.member_timeout;
  if (op.route.primary < 0 || op.route.member(op.route.primary).node != options_.self) {
    return Status::Unavailable("not the primary of PG " + std::to_string(op.route.pg->id) +
                               " at epoch " + std::to_string(op.map->epoch.value) + " (primary: " +
                               (op.route.primary < 0
                                    ? std::string("none up")
                                    : op.route.member(op.route.primary).node.str()) +
                               ")");
  }
  CVFS_RETURN_IF_ERROR(op.route.CheckWritable());
  const int width = op.width();
  op.local.assign(width, nullptr);
  op.peer.assign(width, std::nullopt);
  op.address.assign(width, std::string());
  op.peers = &peers_;
  op.members = &local_;
  for (int k = 0; k < width; ++k) {
    if (!op.route.up[k]) continue;
    const PgMember& member = op.route.member(k);
    if (member.node == options_.self) {
      CVFS_ASSIGN_OR_RETURN(op.local[k], local_.Store(static_cast<uint16_t>(member.drive_index)));
      continue;
    }
    op.address[k] = NodeAddress(*op.map, member.node);
    auto peer = peers_.Get(op.address[k], op.CallTimeout());
    if (peer.ok()) {
      op.peer[k] = *peer;
    } else {
      LOG_WARN("data.member_unreachable stripe={} cell={} node={} error=\"{}\"", Describe(op.id), k,
               member.node.str(), peer.status().ToString());
    }
  }
  return op;
}

Result<std::string> StripeCoordinator::WriteStripe(const net::RpcContext& context,
                                                   std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::WriteStripeRequest request, wire::DecodeWriteStripeRequest(payload));
  CVFS_ASSIGN_OR_RETURN(StripeOp op,
                        Begin(request.fs_id, request.inode, request.stripe, context.deadline));
  if (request.length == 0 ||
      request.offset_in_stripe + request.length > op.geometry.stripe_bytes()) {
    return Status::InvalidArgument("write of [" + std::to_string(request.offset_in_stripe) + ", +" +
                                   std::to_string(request.length) + ") does not fit a " +
                                   std::to_string(op.geometry.stripe_bytes()) + "-byte stripe");
  }
  auto pull = [&](net::RegisteredBufferPool::Lease& staging) {
    return endpoint_.RmaRead(context.peer, staging.region(), request.offset_in_stripe,
                             request.length, request.source, request.source_offset,
                             Remaining(context.deadline));
  };
  StripeLocks::Guard guard(locks_, op.id);
  if (request.offset_in_stripe != 0 || request.length != op.geometry.stripe_bytes()) {
    CVFS_ASSIGN_OR_RETURN(StripeState state, LoadState(op));
    CVFS_ASSIGN_OR_RETURN(uint64_t version,
                          WriteRange(op, state, request.offset_in_stripe, request.length, pull));
    return wire::EncodeWriteStripeReply({version});
  }
  // A full stripe keeps no old byte, whatever the stripe's state: pull the new bytes while
  // the members are asked for their versions (a cache miss), not after (one round less on
  // the critical path of every new stripe).
  CVFS_ASSIGN_OR_RETURN(auto staging, pool_.Acquire(size_t(op.width()) * op.geometry.cell_bytes));
  Status pulled = Status::Unavailable("new bytes not pulled");
  auto state = LoadState(op, [&] { pulled = pull(staging); });
  if (!pulled.ok()) {
    staging.Discard();  // a late RMA may still land in it
    return pulled.WithContext("write of " + Describe(op.id) + ": new bytes");
  }
  if (!state.ok()) return state.status();
  auto prefilled = [](net::RegisteredBufferPool::Lease&) { return Status::Ok(); };
  CVFS_ASSIGN_OR_RETURN(uint64_t version,
                        WriteRange(op, *state, 0, request.length, prefilled, std::move(staging)));
  return wire::EncodeWriteStripeReply({version});
}

Result<uint64_t> StripeCoordinator::WriteRange(StripeOp& op, StripeState& state, uint64_t offset,
                                               uint64_t length, const FillNewBytes& fill,
                                               net::RegisteredBufferPool::Lease staging) {
  const int n = op.data_cells();
  const int width = op.width();
  const uint32_t cell_bytes = op.geometry.cell_bytes;
  // New length of each data cell: its old length, extended to cover the written bytes.
  std::vector<uint32_t> lengths(width, 0);
  std::vector<uint32_t> write_begin(n, 0), write_end(n, 0);  // cell-relative written range
  bool any_old = false;  // some data cell keeps old bytes the write does not replace
  uint32_t old_max = 0;
  for (int k = 0; k < n; ++k) {
    const uint32_t old_len = state.version > 0 ? state.lengths[k] : 0;
    old_max = std::max(old_max, old_len);
    const uint64_t cell_start = uint64_t(k) * cell_bytes;
    const uint64_t begin = std::max(offset, cell_start);
    const uint64_t end = std::min(offset + length, cell_start + cell_bytes);
    bool covers_old = old_len == 0;
    if (begin < end) {
      write_begin[k] = static_cast<uint32_t>(begin - cell_start);
      write_end[k] = static_cast<uint32_t>(end - cell_start);
      covers_old = covers_old || (write_begin[k] == 0 && write_end[k] >= old_len);
    }
    lengths[k] = std::max(old_len, write_end[k] > 0 ? RoundUpBlock(write_end[k]) : 0u);
    any_old = any_old || !covers_old;
  }
  const uint32_t parity_len = *std::max_element(lengths.begin(), lengths.begin() + n);
  for (int k = n; k < width; ++k) lengths[k] = parity_len;

  if (staging) {
    // Filled before the state was known: only a write that keeps no old byte may do that
    // (the zeroing below then touches none of the new bytes either).
    assert(!any_old && offset == 0 && length == op.geometry.stripe_bytes());
    if (any_old) return Status::Internal("prefilled staging for a read-modify-write");
  } else {
    CVFS_ASSIGN_OR_RETURN(staging, pool_.Acquire(size_t(width) * cell_bytes));
  }
  // Every byte of [0, parity_len) of each data cell must hold the old data, the new data or
  // zeros: the parity is computed over all of them. Old data (when any is kept) is read for
  // [0, old_max) of every cell; zero what neither that read nor the write fills.
  const uint32_t filled = any_old ? old_max : 0;
  for (int k = 0; k < n; ++k) {
    uint8_t* cell = staging.data() + size_t(k) * cell_bytes;
    const uint32_t gap_end = std::max(filled, std::min(write_begin[k], parity_len));
    if (write_end[k] == 0) {
      if (parity_len > filled) std::memset(cell + filled, 0, parity_len - filled);
      continue;
    }
    if (gap_end > filled) std::memset(cell + filled, 0, gap_end - filled);
    const uint32_t tail = std::max(filled, write_end[k]);
    if (parity_len > tail) std::memset(cell + tail, 0, parity_len - tail);
  }
  if (any_old) {
    // Read every data cell's old bytes (the parity needs all of them), in one fan-out.
    std::vector<bool> wanted(width, false);
    for (int k = 0; k < n; ++k) wanted[k] = true;
    Status st = ReadOldCells(op, state, wanted, old_max, staging);
    if (!st.ok()) {
      if (op.discard_staging) staging.Discard();
      // Whatever failed, the cached view of this stripe is suspect: never let it make the
      // failure sticky. A cached view may be stale (the cells moved to a newer version under
      // another primary while this one was cut off): ask the members once more and redo the
      // write on what they hold now. A view just discovered is not asked about again.
      cache_.Invalidate(op.id);
      if (state.from_cache) {
        LOG_WARN("data.rmw_stale_view stripe={} version={} error=\"{}\"; rediscovering",
                 Describe(op.id), state.version, st.ToString());
        staging = {};
        CVFS_ASSIGN_OR_RETURN(state, LoadState(op));
        return WriteRange(op, state, offset, length, fill);
      }
      return st.WithContext("read-modify-write of " + Describe(op.id));
    }
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.writes;
    if (offset == 0 && length == op.geometry.stripe_bytes()) ++stats_.full_stripe_writes;
  }
  if (Status st = fill(staging); !st.ok()) {
    staging.Discard();
    return st.WithContext("write of " + Describe(op.id) + ": new bytes");
  }
  options_.crash_points.Reach(CrashPoint::kBeforeParity, Describe(op.id));
  if (parity_len > 0) {
    const uint8_t* data[ErasureCode::kMaxCells];
    uint8_t* parity[ErasureCode::kMaxCells];
    for (int k = 0; k < n; ++k) data[k] = staging.data() + size_t(k) * cell_bytes;
    for (int k = n; k < width; ++k) parity[k - n] = staging.data() + size_t(k) * cell_bytes;
    CVFS_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(n, width - n));
    CVFS_RETURN_IF_ERROR(code.Encode(data, parity, parity_len));
  }
  auto version = PrepareAndCommit(op, state, lengths, staging);
  if (op.discard_staging) staging.Discard();
  return version;
}

Result<uint64_t> StripeCoordinator::PrepareAndCommit(StripeOp& op, StripeState& state,
                                                     const std::vector<uint32_t>& lengths,
                                                     net::RegisteredBufferPool::Lease& staging) {
  const int width = op.width();
  const uint32_t cell_bytes = op.geometry.cell_bytes;
  const uint64_t version = state.next_version;
  // Raise the floor first: whatever happens below, this version is never used again.
  state.next_version = version + 1;
  state.valid = false;
  cache_.Put(op.id, state);

  std::vector<uint32_t> crcs;
  std::vector<size_t> crc_begin(width + 1, 0);
  for (int k = 0; k < width; ++k) {
    crc_begin[k] = crcs.size();
    BlockCrcs(staging.data() + size_t(k) * cell_bytes, lengths[k], &crcs);
  }
  crc_begin[width] = crcs.size();
  auto cell_span = [&](int k) {
    return std::span<const uint8_t>(staging.data() + size_t(k) * cell_bytes, lengths[k]);
  };

  std::vector<bool> targets(width);
  for (int k = 0; k < width; ++k) targets[k] = op.Reachable(k);
  auto prepared = FanOut(
      op, endpoint_, targets, net::Method::kPrepareCell,
      [&](int k) {
        return PrepareRequestFor(
            op, k, version, lengths[k],
            std::span<const uint32_t>(crcs.data() + crc_begin[k], crc_begin[k + 1] - crc_begin[k]),
            staging, /*repair=*/false);
      },
      [&](int k, CellStore* store) -> Result<std::string> {
        CVFS_RETURN_IF_ERROR(store->WritePending(op.Key(k), version, cell_span(k)));
        return std::string();
      });

  std::vector<bool> ok(width, false);
  int ok_count = 0;
  const Status* no_space = nullptr;
  const Status* collision = nullptr;
  const Status* first_error = nullptr;
  for (int k = 0; k < width; ++k) {
    if (!targets[k]) continue;
    if (prepared[k].ok()) {
      ok[k] = true;
      ++ok_count;
      continue;
    }
    const Status& st = prepared[k].status();
    if (st.code() == ErrorCode::kNoSpace && no_space == nullptr) no_space = &st;
    if (st.code() == ErrorCode::kAlreadyExists && collision == nullptr) collision = &st;
    if (first_error == nullptr) first_error = &st;
    LOG_WARN("data.prepare_failed stripe={} cell={} version={} error=\"{}\"", Describe(op.id), k,
             version, st.ToString());
  }
  if (collision != nullptr) {
    // A member holds this version committed: another primary wrote the stripe meanwhile
    // (this node's view of it is stale). Committing here would put two writes' cells under
    // one version number; abort, and let the retry rediscover a version above both (the
    // floor is already past this one).
    CommitOrAbort(op, endpoint_, ok, /*commit=*/false, version, /*sync=*/false);
    cache_.Invalidate(op.id);
    return Status::Unavailable("write of " + Describe(op.id) + " v" + std::to_string(version) +
                               " aborted: a member already holds that version committed (" +
                               collision->ToString() + "); retry");
  }
  if (no_space != nullptr || ok_count < op.data_cells()) {
    // Abort what was prepared: the stripe keeps its old version everywhere.
    CommitOrAbort(op, endpoint_, ok, /*commit=*/false, version, /*sync=*/false);
    if (no_space != nullptr) {
      std::lock_guard lock(mu_);
      ++stats_.no_space_aborts;
      return no_space->WithContext("write of " + Describe(op.id) + " aborted");
    }
    return Status::Unavailable("write of " + Describe(op.id) + ": only " +
                               std::to_string(ok_count) + " of " + std::to_string(width) +
                               " members prepared (" + std::to_string(op.data_cells()) +
                               " needed); first error: " + first_error->ToString());
  }
  // Fencing against a table change: when the PG's members changed while this write was
  // prepared (a slot moved to a member being rebuilt), the new member may already have
  // listed its work and would miss this stripe. Abort; the client retries under the new map.
  if (auto latest = map(); latest != nullptr && latest->epoch != op.map->epoch) {
    const FilesystemInfo* fs = FindFilesystemById(*latest, op.id.fs_id);
    if (fs == nullptr || op.route.pg->id >= fs->groups.size() ||
        fs->groups[op.route.pg->id].members != op.route.pg->members) {
      CommitOrAbort(op, endpoint_, ok, /*commit=*/false, version, /*sync=*/false);
      return Status::Unavailable(
          "write of " + Describe(op.id) + ": PG " + std::to_string(op.route.pg->id) +
          " changed members meanwhile (epoch " + std::to_string(op.map->epoch.value) + " -> " +
          std::to_string(latest->epoch.value) + "); retry");
    }
  }
  options_.crash_points.Reach(CrashPoint::kAfterParity, Describe(op.id));

  // Commit: the primary's own cell first, so a commit is never lost by recovery.
  std::vector<bool> remote(width, false);
  std::vector<bool> committed(width, false);
  for (int k = 0; k < width; ++k) {
    if (!ok[k]) continue;
    if (op.local[k] != nullptr) {
      Status st = op.local[k]->Commit(op.Key(k), version, /*sync=*/false);
      committed[k] = st.ok();
      if (!st.ok()) {
        LOG_ERROR("data.commit_failed stripe={} cell={} version={} error=\"{}\"", Describe(op.id),
                  k, version, st.ToString());
      }
    } else {
      remote[k] = true;
    }
  }
  if (options_.crash_points.Armed(CrashPoint::kMidCommit)) {
    // Commit on exactly one remote member, then die: some committed, some only prepared.
    for (int k = 0; k < width; ++k) {
      if (!remote[k]) continue;
      (void)endpoint_.Call(*op.peer[k], net::Method::kCommitCell,
                           wire::EncodeCellVersionRequest({op.Address(k), version, false}),
                           op.CallTimeout());
      break;
    }
    options_.crash_points.Reach(CrashPoint::kMidCommit, Describe(op.id));
  }
  auto commits = CommitOrAbort(op, endpoint_, remote, /*commit=*/true, version, /*sync=*/false);
  for (int k = 0; k < width; ++k) {
    if (!remote[k]) continue;
    committed[k] = commits[k].ok();
    if (!commits[k].ok()) {
      LOG_WARN("data.commit_failed stripe={} cell={} version={} error=\"{}\"", Describe(op.id), k,
               version, commits[k].status().ToString());
    }
  }
  options_.crash_points.Reach(CrashPoint::kAfterCommit, Describe(op.id));

  // A member up in the map that did not commit is stale for this stripe while it still looks
  // current to readers: have the manager list it for resync.
  for (int k = 0; k < width; ++k) {
    if (op.route.up[k] && !committed[k]) NoteMissed(op, k);
  }

  // Acknowledge only a write that survives any P failures: recovery rolls a version forward
  // only if a member that answers holds it committed, so at least P + 1 members (or every
  // member that prepared, when fewer did) must have confirmed their commit. Otherwise the
  // primary could be the only committed member, and its loss would roll the acknowledged
  // write back. The client retries; the retry's discovery settles this version first.
  const int confirmed = static_cast<int>(std::count(committed.begin(), committed.end(), true));
  const int needed = std::min(op.width() - op.data_cells() + 1, ok_count);
  if (confirmed < needed) {
    cache_.Invalidate(op.id);
    return Status::Unavailable(
        "write of " + Describe(op.id) + " v" + std::to_string(version) + ": only " +
        std::to_string(confirmed) + " members confirmed the commit (" + std::to_string(needed) +
        " needed to survive " + std::to_string(op.width() - op.data_cells()) + " failures); retry");
  }
  state.version = version;
  state.lengths = lengths;
  state.current = committed;
  // A member that prepared but did not confirm its commit is resolved by the next discovery.
  state.valid = confirmed == ok_count;
  cache_.Put(op.id, state);
  return version;
}

Result<std::string> StripeCoordinator::TruncateObject(const net::RpcContext& context,
                                                      std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::TruncateObjectRequest request,
                        wire::DecodeTruncateObjectRequest(payload));
  auto snapshot = map();
  if (snapshot == nullptr) return Status::Unavailable("no cluster map yet");
  const FilesystemInfo* fs = FindFilesystemById(*snapshot, request.fs_id);
  if (fs == nullptr) {
    return Status::NotFound("filesystem id " + std::to_string(request.fs_id) +
                            " is not in the map");
  }
  const uint64_t stripe_bytes = fs->geometry.stripe_bytes();
  if (request.new_size >= request.old_size) return wire::EncodeEmptyReply();
  // 1. Zero the tail of the stripe holding new_size (a normal two-step write of zeros).
  const uint64_t tail_stripe = request.new_size / stripe_bytes;
  const uint64_t tail_offset = request.new_size % stripe_bytes;
  if (tail_offset != 0) {
    CVFS_ASSIGN_OR_RETURN(StripeOp op,
                          Begin(request.fs_id, request.inode, tail_stripe, context.deadline));
    const uint64_t end = std::min(stripe_bytes, request.old_size - tail_stripe * stripe_bytes);
    StripeLocks::Guard guard(locks_, op.id);
    CVFS_ASSIGN_OR_RETURN(StripeState state, LoadState(op));
    if (state.version > 0) {
      auto zero = [&](net::RegisteredBufferPool::Lease& staging) {
        std::memset(staging.data() + tail_offset, 0, end - tail_offset);
        return Status::Ok();
      };
      CVFS_RETURN_IF_ERROR(WriteRange(op, state, tail_offset, end - tail_offset, zero).status());
    }
  }
  // 2. Drop the stripes wholly past new_size on every node holding cells of the filesystem.
  const uint64_t first = (request.new_size + stripe_bytes - 1) / stripe_bytes;
  if (first * stripe_bytes < request.old_size) {
    std::vector<NodeId> nodes;
    for (const auto& pg : fs->groups) {
      for (const auto& m : pg.members) nodes.push_back(m.node);
    }
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    net::CallGroup group(endpoint_, nodes.size());
    const std::string del = wire::EncodeDeleteStripesRequest({request.fs_id, request.inode, first});
    const Duration timeout = std::min(options_.member_timeout, Remaining(context.deadline));
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!NodeIsUp(*snapshot, nodes[i])) continue;
      if (nodes[i] == options_.self) {
        group.Set(i, local_.DeleteStripes(context, del));
        continue;
      }
      auto peer = peers_.Get(NodeAddress(*snapshot, nodes[i]), timeout);
      if (!peer.ok()) {
        group.Set(i, peer.status());
        continue;
      }
      group.Start(i, *peer, net::Method::kDeleteStripes, del, timeout);
    }
    group.Wait();
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (group.started(i) && !group.result(i).ok()) {
        // Cells left on a node that missed the delete are older versions: stale by version.
        LOG_WARN("data.truncate_delete_failed fs={} inode={} node={} error=\"{}\"", request.fs_id,
                 request.inode, nodes[i].str(), group.result(i).status().ToString());
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.truncates;
  }
  return wire::EncodeEmptyReply();
}

Result<std::string> StripeCoordinator::ReportCell(const net::RpcContext& context,
                                                  std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::ReportCellRequest request, wire::DecodeReportCellRequest(payload));
  CVFS_ASSIGN_OR_RETURN(StripeOp op, Begin(request.cell.fs_id, request.cell.inode,
                                           request.cell.stripe, context.deadline));
  if (request.cell.cell_index >= op.width()) {
    return Status::InvalidArgument("report of cell " + std::to_string(request.cell.cell_index) +
                                   " of a " + std::to_string(op.width()) + "-cell stripe");
  }
  StripeLocks::Guard guard(locks_, op.id);
  // A report means the cached view may be wrong: always ask the members again.
  cache_.Invalidate(op.id);
  CVFS_ASSIGN_OR_RETURN(StripeState state, LoadState(op));
  LOG_INFO("data.cell_reported cell={} kind={} reader_version={} stripe_version={}",
           DescribeCellKey(op.Key(request.cell.cell_index)),
           request.kind == wire::CellReportKind::kCorrupt ? "corrupt" : "version_disagreement",
           request.version, state.version);
  if (state.version == 0) return wire::EncodeEmptyReply();
  if (request.kind == wire::CellReportKind::kCorrupt) {
    CVFS_RETURN_IF_ERROR(RepairCell(op, state, request.cell.cell_index));
  }
  RepairStaleCells(op, state);
  return wire::EncodeEmptyReply();
}

StripeCoordinator::StaleRepair StripeCoordinator::RepairStaleCells(StripeOp& op,
                                                                   StripeState& state) {
  // Bring every reachable member that misses the stripe's version (it was down during a
  // write, a commit did not reach it, or it is a replacement being rebuilt) up to date.
  StaleRepair result;
  for (int k = 0; k < op.width(); ++k) {
    if (state.current[k]) continue;
    if (!op.Reachable(k)) {
      // An up, readable member that cannot be reached to repair: readers must not trust it.
      if (op.route.up[k] && op.route.readable[k]) NoteMissed(op, k);
      continue;
    }
    const uint32_t length = state.lengths[k];
    if (Status st = RepairCell(op, state, k); !st.ok()) {
      if (op.route.readable[k]) NoteMissed(op, k);
      LOG_WARN("data.stale_cell_repair_failed cell={} error=\"{}\"", DescribeCellKey(op.Key(k)),
               st.ToString());
      result.failed++;
      if (result.first_error.ok()) result.first_error = st;
      continue;
    }
    result.cells++;
    result.bytes += length;
  }
  return result;
}

Result<StripeCoordinator::StaleRepair> StripeCoordinator::RebuildStripe(uint32_t fs_id,
                                                                        uint64_t inode,
                                                                        uint64_t stripe,
                                                                        TimePoint deadline) {
  CVFS_ASSIGN_OR_RETURN(StripeOp op, Begin(fs_id, inode, stripe, deadline));
  StripeLocks::Guard guard(locks_, op.id);
  // The cache may predate the member's return: ask every member.
  cache_.Invalidate(op.id);
  CVFS_ASSIGN_OR_RETURN(StripeState state, LoadState(op));
  if (state.version == 0) return StaleRepair{};  // deleted (or never committed) meanwhile
  StaleRepair result = RepairStaleCells(op, state);
  if (result.failed > 0) return result.first_error;
  // Every member that is up must now hold the version: one that could not be reached is not
  // current, and reporting its slot done would let readers trust a missing cell.
  for (int k = 0; k < op.width(); ++k) {
    if (op.route.up[k] && !state.current[k]) {
      return Status::Unavailable("stripe " + Describe(op.id) + ": member " +
                                 op.route.member(k).node.str() + " (cell " + std::to_string(k) +
                                 ") could not be reached to rebuild it");
    }
  }
  return result;
}

}  // namespace cvfs::server
