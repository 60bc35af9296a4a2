// DataObjectClient::Read: direct cell reads, version agreement, and the degraded read
// (docs/design/datapath.md, "Reads"): read the same byte range of every cell of the stripe,
// take the highest version at least N cells agree on (asking for a pending version
// explicitly when a commit is caught half-way), decode the others with ISA-L, and report
// corrupt and stale cells to the stripe's primary.
#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "client/data/data_object_client.h"
#include "core/erasure_code.h"
#include "core/logging.h"
#include "net/call_group.h"
#include "net/wire/data_messages.h"

namespace cvfs::client {

namespace wire = net::wire;

namespace {

// How often a degraded read starts over when no version has N agreeing cells (a write is
// committing meanwhile), before it gives up.
constexpr int kMaxVersionRounds = 20;

TimePoint Now() { return Clock::System().Now(); }

wire::CellAddress AddressOf(const StripeRoute& route, uint64_t inode, uint64_t stripe, int cell) {
  return {route.fs->id, inode, stripe, static_cast<uint16_t>(cell),
          static_cast<uint16_t>(route.member(cell).drive_index)};
}

// One ReadCell of the fast path.
struct CellRead {
  size_t stripe = 0;  // index in the batch
  int cell = 0;
  uint32_t offset_in_cell = 0;
  uint32_t length = 0;
  size_t out_offset = 0;
};

}  // namespace

void DataObjectClient::StartCellRead(net::CallGroup& group, size_t slot,
                                     const MapSnapshot& snapshot, const NodeId& node,
                                     net::PeerId peer, const wire::ReadCellRequest& request,
                                     Duration left, bool alone) {
  // A cell slower than slow_cell_timeout is read around anyway, so no call waits longer.
  const Duration timeout = std::min<Duration>(left, options_.slow_cell_timeout);
  const TimePoint t0 = Now();
  if (alone && !request.has_target) {
    // The only cell of the call, answered inline: a synchronous Call drives the endpoint's
    // progress on this thread, saving two thread hand-offs per small read (no RMA can come
    // late, so a timed-out call leaves nothing behind).
    group.Set(slot, endpoint_->Call(peer, net::Method::kReadCell,
                                    wire::EncodeReadCellRequest(request), timeout));
  } else {
    group.Start(slot, peer, net::Method::kReadCell, wire::EncodeReadCellRequest(request), timeout);
  }
  // A send to a dead peer blocks the caller until the call's deadline (or fails at once):
  // either way, skip that peer for a while instead of paying it again for every cell.
  if (Now() - t0 >= timeout / 2 ||
      (group.done(slot) && IsTransportFailure(group.result(slot).status()))) {
    MarkUnresponsive(snapshot, node);
  }
}

Status DataObjectClient::Read(uint64_t inode, uint64_t offset, std::span<std::byte> out) {
  if (out.empty()) return Status::Ok();
  const TimePoint deadline = Now() + options_.deadline;
  MapSnapshot snapshot = Snapshot();
  if (snapshot.fs == nullptr) return Status::NotFound("filesystem vanished from the map");
  const auto stripes = SplitObjectRange(snapshot.fs->geometry, offset, out.size());
  // The caller's buffer takes the RMA of every cell range too large to come inline. The
  // registration ends before this call returns (and earlier when a slow member may still
  // write: ReadStripes drops it), so a late RMA can never reach memory the caller reuses.
  std::unique_ptr<net::MemoryRegion> region;
  const size_t batch = static_cast<size_t>(options_.max_stripes_in_flight);
  for (size_t first = 0; first < stripes.size(); first += batch) {
    if (region == nullptr && out.size() > wire::kMaxInlineReadBytes) {
      CVFS_ASSIGN_OR_RETURN(region, endpoint_->RegisterMemory(out.data(), out.size()));
    }
    const size_t count = std::min(batch, stripes.size() - first);
    // A newer map (a node marked down) helps the next batch at once.
    MapSnapshot latest = Snapshot();
    if (latest.fs != nullptr && latest.fs->id == snapshot.fs->id) snapshot = std::move(latest);
    CVFS_RETURN_IF_ERROR(ReadStripes(snapshot, inode,
                                     std::span<const StripeExtent>(stripes).subspan(first, count),
                                     out, region, deadline));
  }
  counters_.reads++;
  counters_.bytes_read += out.size();
  return Status::Ok();
}

Status DataObjectClient::ReadStripes(const MapSnapshot& snapshot, uint64_t inode,
                                     std::span<const StripeExtent> stripes,
                                     std::span<std::byte> out,
                                     std::unique_ptr<net::MemoryRegion>& region,
                                     TimePoint deadline) {
  const StripeGeometry& geometry = snapshot.fs->geometry;
  std::vector<StripeRoute> routes;
  routes.reserve(stripes.size());
  std::vector<CellRead> reads;
  for (size_t i = 0; i < stripes.size(); ++i) {
    const StripeExtent& e = stripes[i];
    CVFS_ASSIGN_OR_RETURN(StripeRoute route,
                          RouteStripe(*snapshot.map, *snapshot.fs, inode, e.stripe));
    routes.push_back(std::move(route));
    for (const CellExtent& c : SplitStripeRange(geometry, e.offset_in_stripe, e.length)) {
      reads.push_back(
          {i, c.cell_index, c.offset_in_cell, c.length,
           static_cast<size_t>(e.buffer_offset + c.offset_in_stripe - e.offset_in_stripe)});
    }
  }
  std::vector<bool> degraded(stripes.size(), false);
  net::CallGroup group(*endpoint_, reads.size());
  const Duration left = deadline - Now();
  if (left <= Duration::zero()) return Status::DeadlineExceeded("read deadline passed");
  for (size_t r = 0; r < reads.size(); ++r) {
    const CellRead& read = reads[r];
    const StripeRoute& route = routes[read.stripe];
    if (!route.readable[read.cell]) {  // down, or recovering: its cell may be missing or stale
      degraded[read.stripe] = true;
      continue;
    }
    auto peer = PeerOf(snapshot, route.member(read.cell).node, deadline);
    if (!peer.ok()) {
      degraded[read.stripe] = true;
      continue;
    }
    wire::ReadCellRequest request;
    request.cell = AddressOf(route, inode, stripes[read.stripe].stripe, read.cell);
    request.offset = read.offset_in_cell;
    request.length = read.length;
    if (read.length > wire::kMaxInlineReadBytes) {
      request.has_target = true;
      request.target = region->remote();
      request.target_offset = read.out_offset;
    }
    StartCellRead(group, r, snapshot, route.member(read.cell).node, *peer, request, left,
                  reads.size() == 1);
  }
  const bool all_answered = group.WaitUntil(std::min(deadline, Now() + options_.slow_cell_timeout));
  if (!all_answered) {
    // A slow member may still RMA into `out`: revoke the window before anything else writes
    // there (Read registers again for the next batch).
    region.reset();
    for (size_t r = 0; r < reads.size(); ++r) {
      if (group.started(r) && !group.done(r)) {
        MarkUnresponsive(snapshot, routes[reads[r].stripe].member(reads[r].cell).node);
      }
    }
  }
  // Fast path: every cell answered with one version.
  std::vector<uint64_t> version(stripes.size(), UINT64_MAX);
  for (size_t r = 0; r < reads.size(); ++r) {
    const CellRead& read = reads[r];
    if (degraded[read.stripe]) continue;
    if (!group.started(r) || !group.done(r) || !group.result(r).ok()) {
      degraded[read.stripe] = true;
      continue;
    }
    auto reply = wire::DecodeReadCellReply(*group.result(r));
    if (!reply.ok() ||
        (version[read.stripe] != UINT64_MAX && version[read.stripe] != reply->version)) {
      degraded[read.stripe] = true;
      continue;
    }
    version[read.stripe] = reply->version;
    std::byte* target = out.data() + read.out_offset;
    if (reply->version == 0) {
      std::memset(target, 0, read.length);  // never written: a hole
    } else if (read.length <= wire::kMaxInlineReadBytes) {
      if (reply->data.size() != read.length) {
        degraded[read.stripe] = true;
        continue;
      }
      std::memcpy(target, reply->data.data(), read.length);
    }
  }
  for (size_t i = 0; i < stripes.size(); ++i) {
    if (!degraded[i]) continue;
    counters_.degraded_reads++;
    const StripeExtent& e = stripes[i];
    CVFS_RETURN_IF_ERROR(ReadStripeDegraded(snapshot, routes[i], inode, e,
                                            out.subspan(e.buffer_offset, e.length), deadline));
  }
  return Status::Ok();
}

Status DataObjectClient::ReadStripeDegraded(MapSnapshot snapshot, StripeRoute route, uint64_t inode,
                                            const StripeExtent& extent, std::span<std::byte> out,
                                            TimePoint deadline) {
  const StripeGeometry& geometry = snapshot.fs->geometry;
  const int width = geometry.width();
  const int n = geometry.data_cells;
  const auto cells = SplitStripeRange(geometry, extent.offset_in_stripe, extent.length);
  // One byte range, in cell coordinates, that covers every data cell the caller wants.
  uint32_t begin = UINT32_MAX, end = 0;
  for (const CellExtent& c : cells) {
    begin = std::min(begin, c.offset_in_cell);
    end = std::max(end, c.offset_in_cell + c.length);
  }
  const uint32_t length = end - begin;
  CVFS_ASSIGN_OR_RETURN(auto scratch, pool_->Acquire(size_t(width) * length));
  Duration backoff = kFirstBackoff;
  Status last;
  for (int round = 0; round < kMaxVersionRounds; ++round) {
    if (round > 0) {
      // Members may have been marked down meanwhile.
      MapSnapshot latest = Snapshot();
      if (latest.fs != nullptr && latest.fs->id == snapshot.fs->id) {
        auto rerouted = RouteStripe(*latest.map, *latest.fs, inode, extent.stripe);
        if (rerouted.ok()) {
          snapshot = std::move(latest);
          route = std::move(rerouted).value();
        }
      }
    }
    std::vector<uint64_t> held(width, UINT64_MAX);  // version read per cell; MAX: none
    std::vector<bool> corrupt(width, false);
    bool abandoned = false;
    int answered = 0;
    // Reads [begin, end) of `version` (0: committed) from each cell in `cells_to_read`.
    auto read_cells = [&](const std::vector<bool>& cells_to_read, uint64_t version) {
      net::CallGroup group(*endpoint_, width);
      for (int k = 0; k < width; ++k) {
        if (!cells_to_read[k] || !route.readable[k]) continue;
        auto peer = PeerOf(snapshot, route.member(k).node, deadline);
        if (!peer.ok()) continue;
        wire::ReadCellRequest request;
        request.cell = AddressOf(route, inode, extent.stripe, k);
        request.version = version;
        request.offset = begin;
        request.length = length;
        request.has_target = true;
        request.target = scratch.remote();
        request.target_offset = uint64_t(k) * length;
        StartCellRead(group, k, snapshot, route.member(k).node, *peer, request, deadline - Now(),
                      /*alone=*/false);
      }
      if (!group.WaitUntil(std::min(deadline, Now() + options_.slow_cell_timeout))) {
        abandoned = true;
        for (int k = 0; k < width; ++k) {
          if (group.started(k) && !group.done(k)) MarkUnresponsive(snapshot, route.member(k).node);
        }
      }
      for (int k = 0; k < width; ++k) {
        if (!group.started(k) || !group.done(k)) continue;
        const auto& result = group.result(k);
        if (!result.ok()) {
          if (result.status().code() == ErrorCode::kCorruption && version == 0) {
            corrupt[k] = true;
            counters_.checksum_failures++;
          }
          last = result.status();
          continue;
        }
        auto reply = wire::DecodeReadCellReply(*result);
        if (!reply.ok()) continue;
        if (held[k] == UINT64_MAX) ++answered;
        held[k] = reply->version;
        if (reply->version == 0) std::memset(scratch.data() + size_t(k) * length, 0, length);
      }
    };
    read_cells(std::vector<bool>(width, true), 0);
    if (answered < n) {
      if (abandoned) {
        scratch.Discard();
        CVFS_ASSIGN_OR_RETURN(scratch, pool_->Acquire(size_t(width) * length));
      }
      // Sends to live members can stall too while sends to a dead one hold the endpoint's
      // send buffers, and such members are then skipped for a while (kUnresponsiveHold).
      // While the map says N members are up, try again until the deadline.
      const int candidates =
          static_cast<int>(std::count(route.readable.begin(), route.readable.end(), true));
      if (candidates >= n && Now() + backoff < deadline) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
        continue;
      }
      return Status::Unavailable("stripe " + std::to_string(extent.stripe) + " of inode " +
                                 std::to_string(inode) + ": only " + std::to_string(answered) +
                                 " of " + std::to_string(width) + " cells readable, " +
                                 std::to_string(n) + " needed; last error: " + last.ToString());
    }
    auto agreeing = [&](uint64_t v) {
      return static_cast<int>(std::count(held.begin(), held.end(), v));
    };
    // The highest version N cells agree on.
    std::map<uint64_t, int, std::greater<>> counts;
    for (uint64_t v : held) {
      if (v != UINT64_MAX) ++counts[v];
    }
    uint64_t chosen = UINT64_MAX;
    for (const auto& [v, c] : counts) {
      if (c >= n) {
        chosen = v;
        break;
      }
    }
    const uint64_t newest = counts.begin()->first;
    if (chosen != newest) {
      // A newer version is committed somewhere but not yet on N cells: a commit caught
      // half-way, or a write another reader interrupted. The other cells may hold it pending.
      std::vector<bool> others(width, false);
      for (int k = 0; k < width; ++k) others[k] = held[k] != newest && !corrupt[k];
      read_cells(others, newest);
      if (agreeing(newest) >= n) chosen = newest;
    }
    if (chosen == UINT64_MAX) {
      if (abandoned) {
        scratch.Discard();
        CVFS_ASSIGN_OR_RETURN(scratch, pool_->Acquire(size_t(width) * length));
      }
      counters_.version_retries++;
      if (Now() + backoff >= deadline) break;
      std::this_thread::sleep_for(backoff);
      backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
      continue;
    }
    // Decode every cell that does not hold the chosen version.
    std::vector<int> erased;
    for (int k = 0; k < width; ++k) {
      if (held[k] != chosen) erased.push_back(k);
    }
    if (chosen > 0 && !erased.empty()) {
      uint8_t* pointers[ErasureCode::kMaxCells];
      for (int k = 0; k < width; ++k) pointers[k] = scratch.data() + size_t(k) * length;
      CVFS_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(n, width - n));
      CVFS_RETURN_IF_ERROR(code.Decode(std::span<uint8_t* const>(pointers, width), erased, length));
    }
    for (const CellExtent& c : cells) {
      std::byte* target = out.data() + (c.offset_in_stripe - extent.offset_in_stripe);
      if (chosen == 0) {
        std::memset(target, 0, c.length);
      } else {
        std::memcpy(target,
                    scratch.data() + size_t(c.cell_index) * length + (c.offset_in_cell - begin),
                    c.length);
      }
    }
    if (abandoned) scratch.Discard();
    // Tell the primary about corrupt cells and cells of an up member at another version.
    bool reported_disagreement = false;
    for (int k = 0; k < width; ++k) {
      if (corrupt[k]) {
        Report(snapshot, route, inode, extent.stripe, k, /*corrupt=*/true, chosen);
      } else if (!reported_disagreement && held[k] != UINT64_MAX && held[k] != chosen) {
        Report(snapshot, route, inode, extent.stripe, k, /*corrupt=*/false, chosen);
        reported_disagreement = true;
      }
    }
    return Status::Ok();
  }
  return Status::Unavailable("stripe " + std::to_string(extent.stripe) + " of inode " +
                             std::to_string(inode) +
                             ": no version held by enough cells before the deadline; last "
                             "error: " +
                             last.ToString());
}

void DataObjectClient::Report(const MapSnapshot& snapshot, const StripeRoute& route, uint64_t inode,
                              uint64_t stripe, int cell, bool corrupt, uint64_t version) {
  if (route.primary < 0) return;
  auto peer = PeerOf(snapshot, route.member(route.primary).node, Now() + std::chrono::seconds(2));
  if (!peer.ok()) return;
  wire::ReportCellRequest report;
  report.cell = AddressOf(route, inode, stripe, cell);
  report.kind =
      corrupt ? wire::CellReportKind::kCorrupt : wire::CellReportKind::kVersionDisagreement;
  report.version = version;
  counters_.bad_cells_reported++;
  LOG_DEBUG("client.report_cell inode={} stripe={} cell={} kind={} version={}", inode, stripe, cell,
            corrupt ? "corrupt" : "version_disagreement", version);
  // Fire and forget: the repair is the primary's business; the read is already answered.
  endpoint_->CallAsync(*peer, net::MethodId(net::Method::kReportCell),
                       wire::EncodeReportCellRequest(report), std::chrono::seconds(30),
                       [](Result<std::string>) {});
}

}  // namespace cvfs::client
