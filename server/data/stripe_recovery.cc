// The primary's knowledge of a stripe: version discovery and recovery of interrupted
// writes (docs/design/datapath.md, "Recovery of an interrupted write"), reads of the old
// cells for a read-modify-write (degraded decode around missing ones), and repair of a
// cell a reader reported corrupt.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/logging.h"
#include "server/data/stripe_coordinator.h"
#include "server/data/stripe_op.h"

namespace cvfs::server {

namespace wire = net::wire;

namespace {

std::string Describe(const StripeId& id) {
  return "fs" + std::to_string(id.fs_id) + "/ino" + std::to_string(id.inode) + "/s" +
         std::to_string(id.stripe);
}

}  // namespace

Result<StripeState> StripeCoordinator::LoadState(StripeOp& op,
                                                 const std::function<void()>& meanwhile) {
  std::optional<StripeState> cached = cache_.Get(op.id);
  if (cached && cached->valid) {
    if (meanwhile) meanwhile();
    cached->from_cache = true;
    return *cached;
  }
  CVFS_ASSIGN_OR_RETURN(StripeState state, Discover(op, meanwhile));
  if (cached) state.next_version = std::max(state.next_version, cached->next_version);
  state.from_cache = false;
  cache_.Put(op.id, state);
  return state;
}

Result<StripeState> StripeCoordinator::Discover(StripeOp& op,
                                                const std::function<void()>& meanwhile) {
  const int width = op.width();
  const int n = op.data_cells();
  std::vector<bool> targets(width);
  for (int k = 0; k < width; ++k) targets[k] = op.Reachable(k);
  auto replies = FanOut(
      op, endpoint_, targets, net::Method::kCellVersions,
      [&](int k) { return wire::EncodeCellVersionsRequest({op.Address(k)}); },
      [&](int k, CellStore* store) -> Result<std::string> {
        CVFS_ASSIGN_OR_RETURN(std::vector<CellVersion> versions, store->Versions(op.Key(k)));
        wire::CellVersionsReply reply;
        for (const CellVersion& v : versions) {
          reply.versions.push_back({v.version, v.length, v.state == CellState::kCommitted});
        }
        return wire::EncodeCellVersionsReply(reply);
      },
      meanwhile);
  std::vector<std::vector<wire::StoredVersion>> held(width);
  std::vector<bool> answered(width, false);
  int answered_count = 0;
  std::set<uint64_t, std::greater<>> seen;
  for (int k = 0; k < width; ++k) {
    if (!targets[k]) continue;
    if (!replies[k].ok()) {
      LOG_WARN("data.versions_failed stripe={} cell={} error=\"{}\"", Describe(op.id), k,
               replies[k].status().ToString());
      continue;
    }
    auto decoded = wire::DecodeCellVersionsReply(*replies[k]);
    if (!decoded.ok()) continue;
    held[k] = std::move(decoded->versions);
    answered[k] = true;
    ++answered_count;
    for (const auto& v : held[k]) seen.insert(v.version);
  }
  if (answered_count < n) {
    return Status::Unavailable("stripe " + Describe(op.id) + ": only " +
                               std::to_string(answered_count) + " of " + std::to_string(width) +
                               " members answered; " + std::to_string(n) + " needed");
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.discoveries;
  }
  auto find = [&](int k, uint64_t version) -> const wire::StoredVersion* {
    for (const auto& v : held[k]) {
      if (v.version == version) return &v;
    }
    return nullptr;
  };

  // Newest first: the first version committed somewhere and held by >= N members is the
  // stripe's; every newer one is an interrupted write that never reached that point.
  uint64_t chosen = 0;
  for (uint64_t version : seen) {
    int holders = 0;
    bool committed_somewhere = false;
    std::vector<bool> pending(width, false);
    for (int k = 0; k < width; ++k) {
      const wire::StoredVersion* v = answered[k] ? find(k, version) : nullptr;
      if (v == nullptr) continue;
      ++holders;
      committed_somewhere = committed_somewhere || v->committed;
      pending[k] = !v->committed;
    }
    // Roll forward only a version whose commit had begun (a member committed it: the writer
    // had every prepare durable) and that N members still hold; a version prepared
    // everywhere but committed nowhere is rolled back, because readers saw the old version
    // meanwhile and must not see the stripe change without a write.
    if (committed_somewhere && holders >= n) {
      chosen = version;
      break;
    }
    LOG_WARN("data.recovery_roll_back stripe={} version={} holders={} needed={}", Describe(op.id),
             version, holders, n);
    CommitOrAbort(op, endpoint_, pending, /*commit=*/false, version, /*sync=*/false);
    std::lock_guard lock(mu_);
    ++stats_.rolled_back;
  }

  StripeState state;
  state.version = chosen;
  state.next_version = seen.empty() ? 1 : *seen.begin() + 1;
  state.lengths.assign(width, 0);
  state.current.assign(width, false);
  state.valid = true;
  if (chosen == 0) return state;

  std::vector<bool> to_commit(width, false);
  bool any_pending = false;
  for (int k = 0; k < width; ++k) {
    const wire::StoredVersion* v = answered[k] ? find(k, chosen) : nullptr;
    if (v == nullptr) continue;
    state.lengths[k] = v->length;
    state.current[k] = v->committed;
    to_commit[k] = !v->committed;
    any_pending = any_pending || !v->committed;
  }
  if (any_pending) {
    LOG_WARN("data.recovery_roll_forward stripe={} version={}", Describe(op.id), chosen);
    auto commits = CommitOrAbort(op, endpoint_, to_commit, /*commit=*/true, chosen, true);
    for (int k = 0; k < width; ++k) {
      if (to_commit[k]) state.current[k] = commits[k].ok();
    }
    std::lock_guard lock(mu_);
    ++stats_.rolled_forward;
  }
  // Cells whose member does not hold the version have an unknown length: the longest cell
  // (the parity length) bounds it, and bytes past a data cell's end are zeros anyway.
  const uint32_t longest = *std::max_element(state.lengths.begin(), state.lengths.end());
  for (int k = 0; k < width; ++k) {
    if (!state.current[k]) state.lengths[k] = longest;
  }
  return state;
}

Status StripeCoordinator::ReadOldCells(StripeOp& op, const StripeState& state,
                                       const std::vector<bool>& wanted, uint32_t length,
                                       net::RegisteredBufferPool::Lease& staging) {
  if (length == 0 || state.version == 0) return Status::Ok();
  const int width = op.width();
  const uint32_t cell_bytes = op.geometry.cell_bytes;
  std::vector<bool> have(width, false);
  auto read = [&](const std::vector<bool>& cells) {
    auto results = FanOut(
        op, endpoint_, cells, net::Method::kReadCell,
        [&](int k) {
          wire::ReadCellRequest m;
          m.cell = op.Address(k);
          m.version = state.version;
          m.offset = 0;
          m.length = length;
          m.has_target = true;
          m.target = staging.remote();
          m.target_offset = uint64_t(k) * cell_bytes;
          return wire::EncodeReadCellRequest(m);
        },
        [&](int k, CellStore* store) -> Result<std::string> {
          CVFS_RETURN_IF_ERROR(
              store
                  ->Read(op.Key(k), state.version, 0,
                         std::span<uint8_t>(staging.data() + size_t(k) * cell_bytes, length))
                  .status());
          return std::string();
        });
    for (int k = 0; k < width; ++k) {
      if (!cells[k]) continue;
      if (results[k].ok()) {
        have[k] = true;
      } else {
        LOG_WARN("data.rmw_read_failed stripe={} cell={} version={} error=\"{}\"", Describe(op.id),
                 k, state.version, results[k].status().ToString());
      }
    }
  };
  std::vector<bool> first(width, false);
  bool missing = false;
  for (int k = 0; k < width; ++k) {
    if (!wanted[k]) continue;
    first[k] = state.current[k] && op.Reachable(k);
    missing = missing || !first[k];
  }
  read(first);
  for (int k = 0; k < width; ++k) missing = missing || (wanted[k] && !have[k]);
  {
    std::lock_guard lock(mu_);
    stats_.rmw_reads += std::count(have.begin(), have.end(), true);
    if (missing) ++stats_.degraded_rmw;
  }
  if (!missing) return Status::Ok();

  // Degraded: read every other cell that holds the version, then decode the rest.
  std::vector<bool> more(width, false);
  for (int k = 0; k < width; ++k)
    more[k] = !have[k] && !first[k] && state.current[k] && op.Reachable(k);
  read(more);
  std::vector<int> erased;
  for (int k = 0; k < width; ++k) {
    if (!have[k]) erased.push_back(k);
  }
  const int parity = width - op.data_cells();
  if (static_cast<int>(erased.size()) > parity) {
    return Status::Corruption("stripe " + Describe(op.id) + " v" + std::to_string(state.version) +
                              ": only " + std::to_string(width - erased.size()) + " of " +
                              std::to_string(width) + " cells readable; " +
                              std::to_string(op.data_cells()) + " needed");
  }
  uint8_t* cells[ErasureCode::kMaxCells];
  for (int k = 0; k < width; ++k) cells[k] = staging.data() + size_t(k) * cell_bytes;
  CVFS_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(op.data_cells(), parity));
  return code.Decode(std::span<uint8_t* const>(cells, width), erased, length);
}

Status StripeCoordinator::RepairCell(StripeOp& op, StripeState& state, int cell) {
  const int width = op.width();
  const uint32_t cell_bytes = op.geometry.cell_bytes;
  if (!op.Reachable(cell)) return Status::Ok();  // nothing to rewrite on a member that is down
  const uint32_t longest = *std::max_element(state.lengths.begin(), state.lengths.end());
  if (longest == 0) return Status::Ok();
  CVFS_ASSIGN_OR_RETURN(auto staging, pool_.Acquire(size_t(width) * cell_bytes));
  // Decode the reported cell from the others, never trusting its own bytes.
  StripeState without = state;
  without.current[cell] = false;
  std::vector<bool> wanted(width, false);
  wanted[cell] = true;
  Status st = ReadOldCells(op, without, wanted, longest, staging);
  if (!st.ok()) {
    if (op.discard_staging) staging.Discard();
    return st.WithContext("repair of " + DescribeCellKey(op.Key(cell)));
  }
  const uint32_t length = state.lengths[cell];
  const uint8_t* bytes = staging.data() + size_t(cell) * cell_bytes;
  std::vector<uint32_t> crcs;
  BlockCrcs(bytes, length, &crcs);
  std::vector<bool> target(width, false);
  target[cell] = true;
  const bool had_version = state.current[cell];
  auto results = FanOut(
      op, endpoint_, target, net::Method::kPrepareCell,
      [&](int k) {
        return PrepareRequestFor(op, k, state.version, length, crcs, staging, had_version);
      },
      [&](int k, CellStore* store) -> Result<std::string> {
        std::span<const uint8_t> data(bytes, length);
        if (had_version) {
          CVFS_RETURN_IF_ERROR(store->Rewrite(op.Key(k), state.version, data));
        } else {
          CVFS_RETURN_IF_ERROR(store->WritePending(op.Key(k), state.version, data));
        }
        return std::string();
      });
  if (op.discard_staging) staging.Discard();
  CVFS_RETURN_IF_ERROR(results[cell].status());
  if (!had_version) {
    // A stale cell got the current version pending: make it the committed one.
    CVFS_RETURN_IF_ERROR(
        CommitOrAbort(op, endpoint_, target, /*commit=*/true, state.version, true)[cell].status());
  }
  state.current[cell] = true;
  cache_.Put(op.id, state);
  LOG_INFO("data.cell_repaired cell={} version={} length={}", DescribeCellKey(op.Key(cell)),
           state.version, length);
  std::lock_guard lock(mu_);
  ++stats_.repairs;
  return Status::Ok();
}

}  // namespace cvfs::server
