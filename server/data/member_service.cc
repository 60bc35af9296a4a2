#include "server/data/member_service.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/checksum.h"
#include "core/cluster_map.h"
#include "core/logging.h"
#include "core/stripe_layout.h"

namespace cvfs::server {

namespace wire = net::wire;

CellKey ToCellKey(const wire::CellAddress& cell) {
  return CellKey{cell.fs_id, cell.inode, cell.stripe, cell.cell_index};
}

void BlockCrcs(const uint8_t* cell, size_t length, std::vector<uint32_t>* out) {
  for (size_t off = 0; off < length; off += kChecksumBlockBytes) {
    out->push_back(Crc32c(cell + off, std::min<size_t>(kChecksumBlockBytes, length - off)));
  }
}

Duration Remaining(TimePoint deadline) {
  const Duration left = deadline - Clock::System().Now();
  return std::max<Duration>(left, std::chrono::milliseconds(1));
}

namespace {

// CellStore::Read of the requested range into `out`; a cell with no committed version
// (asked for version 0) reads as version 0 instead of kNotFound.
Result<CellVersion> ReadStored(CellStore& store, const wire::ReadCellRequest& request,
                               uint8_t* out) {
  auto read = store.Read(ToCellKey(request.cell), request.version, request.offset,
                         std::span<uint8_t>(out, request.length));
  if (!read.ok() && read.status().code() == ErrorCode::kNotFound && request.version == 0) {
    return CellVersion{};
  }
  return read;
}

// A corrupt cell is this node's problem to record (the reader decodes around it and the
// primary repairs it); other read errors are the caller's to log.
Status Logged(const Status& status) {
  if (status.code() == ErrorCode::kCorruption) {
    LOG_WARN("data.read_corrupt error=\"{}\"", status.ToString());
  }
  return status;
}

}  // namespace

void MemberService::Register() {
  auto bind = [this](auto method) {
    return [this, method](const net::RpcContext& c, std::string_view p) {
      return (this->*method)(c, p);
    };
  };
  endpoint_.RegisterHandler(net::Method::kPrepareCell, bind(&MemberService::PrepareCell));
  endpoint_.RegisterHandler(net::Method::kCommitCell, bind(&MemberService::CommitCell));
  endpoint_.RegisterHandler(net::Method::kAbortCell, bind(&MemberService::AbortCell));
  endpoint_.RegisterHandler(net::Method::kCellVersions, bind(&MemberService::CellVersions));
  endpoint_.RegisterHandler(net::Method::kReadCell, bind(&MemberService::ReadCell));
  endpoint_.RegisterHandler(net::Method::kDeleteStripes, bind(&MemberService::DeleteStripes));
  endpoint_.RegisterHandler(net::Method::kListStripes, bind(&MemberService::ListStripes));
}

Status MemberService::AddStore(size_t drive_index, CellStore* store) {
  if (drive_index >= kMaxDrivesPerNode || store == nullptr) {
    return Status::InvalidArgument("drive index " + std::to_string(drive_index) + " out of range");
  }
  std::unique_lock lock(stores_mu_);
  if (drive_index < stores_.size() && stores_[drive_index] != nullptr) {
    return Status::AlreadyExists("drive " + std::to_string(drive_index) + " is served already");
  }
  if (stores_.size() <= drive_index) stores_.resize(drive_index + 1, nullptr);
  stores_[drive_index] = store;
  return Status::Ok();
}

Status MemberService::ReplaceStore(size_t drive_index, CellStore* store) {
  if (store == nullptr) return Status::InvalidArgument("no store");
  std::unique_lock lock(stores_mu_);
  if (drive_index >= stores_.size()) {
    return Status::NotFound("drive " + std::to_string(drive_index) + " is not served");
  }
  stores_[drive_index] = store;  // a drive found failed at start had none
  return Status::Ok();
}

Result<CellStore*> MemberService::Store(uint16_t drive_index) const {
  std::shared_lock lock(stores_mu_);
  if (drive_index >= stores_.size() || stores_[drive_index] == nullptr) {
    return Status::InvalidArgument("drive " + std::to_string(drive_index) +
                                   " is not a drive of this node (" +
                                   std::to_string(stores_.size()) + " drives)");
  }
  return stores_[drive_index];
}

bool MemberService::Fenced(net::Method method) {
  return method == net::Method::kPrepareCell || method == net::Method::kCommitCell ||
         method == net::Method::kAbortCell || method == net::Method::kCellVersions;
}

Result<PrimaryFence::Ticket> MemberService::Admit(const wire::CellAddress& cell, net::Method method,
                                                  const std::string& node) {
  auto ticket = fence_.Admit(cell.fs_id, cell.pg, cell.epoch, node);
  if (!ticket.ok()) {
    LOG_WARN("data.fenced method={} cell={} epoch={} from={} error=\"{}\"", net::MethodId(method),
             DescribeCellKey(ToCellKey(cell)), cell.epoch, node, ticket.status().ToString());
  }
  return ticket;
}

Result<std::string> MemberService::PrepareCell(const net::RpcContext& context,
                                               std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::PrepareCellRequest request, wire::DecodePrepareCellRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.cell.drive_index));
  const CellKey key = ToCellKey(request.cell);
  if (request.version == 0 || request.length > kMaxCellBytes) {
    return Status::InvalidArgument("prepare of " + DescribeCellKey(key) + ": version " +
                                   std::to_string(request.version) + ", length " +
                                   std::to_string(request.length));
  }
  const size_t blocks = (request.length + kChecksumBlockBytes - 1) / kChecksumBlockBytes;
  if (request.block_crcs.size() != blocks) {
    return Status::InvalidArgument("prepare of " + DescribeCellKey(key) + ": " +
                                   std::to_string(request.block_crcs.size()) + " CRCs for " +
                                   std::to_string(blocks) + " blocks");
  }
  std::span<const uint8_t> cell;
  net::RegisteredBufferPool::Lease buffer;
  if (request.length > 0) {
    CVFS_ASSIGN_OR_RETURN(buffer, pool_.Acquire(request.length));
    Status pulled =
        endpoint_.RmaRead(context.peer, buffer.region(), 0, request.length, request.source,
                          request.source_offset, Remaining(context.deadline));
    if (!pulled.ok()) {
      buffer.Discard();
      return pulled.WithContext("prepare of " + DescribeCellKey(key) + ": pull from primary");
    }
    for (size_t b = 0; b < blocks; ++b) {
      const size_t off = b * kChecksumBlockBytes;
      const uint32_t crc =
          Crc32c(buffer.data() + off, std::min<size_t>(kChecksumBlockBytes, request.length - off));
      if (crc != request.block_crcs[b]) {
        return Status::Corruption("prepare of " + DescribeCellKey(key) + " v" +
                                  std::to_string(request.version) + ": block " + std::to_string(b) +
                                  " CRC mismatch after transfer");
      }
    }
    cell = std::span<const uint8_t>(buffer.data(), request.length);
  }
  CVFS_ASSIGN_OR_RETURN(PrimaryFence::Ticket ticket,
                        Admit(request.cell, net::Method::kPrepareCell, context.peer_name));
  if (request.repair) {
    CVFS_RETURN_IF_ERROR(store->Rewrite(key, request.version, cell));
  } else if (Status st = store->WritePending(key, request.version, cell); !st.ok()) {
    if (st.code() == ErrorCode::kAlreadyExists) {
      // Another writer's prepare of a version committed here (a former primary's request
      // delivered late): refused, the committed cell stays (docs/design/datapath.md).
      LOG_WARN("data.prepare_refused cell={} version={} from={} reason=committed_here",
               DescribeCellKey(key), request.version, context.peer_name);
    }
    return st;
  }
  return wire::EncodeEmptyReply();
}

Result<std::string> MemberService::CommitCell(const net::RpcContext& context,
                                              std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::CellVersionRequest request, wire::DecodeCellVersionRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.cell.drive_index));
  CVFS_ASSIGN_OR_RETURN(PrimaryFence::Ticket ticket,
                        Admit(request.cell, net::Method::kCommitCell, context.peer_name));
  CVFS_RETURN_IF_ERROR(store->Commit(ToCellKey(request.cell), request.version, request.sync));
  return wire::EncodeEmptyReply();
}

Result<std::string> MemberService::AbortCell(const net::RpcContext& context,
                                             std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::CellVersionRequest request, wire::DecodeCellVersionRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.cell.drive_index));
  CVFS_ASSIGN_OR_RETURN(PrimaryFence::Ticket ticket,
                        Admit(request.cell, net::Method::kAbortCell, context.peer_name));
  CVFS_RETURN_IF_ERROR(store->Abort(ToCellKey(request.cell), request.version));
  return wire::EncodeEmptyReply();
}

Result<std::string> MemberService::ListStripes(const net::RpcContext& context,
                                               std::string_view payload) {
  if (context.peer_uid != 0) return Status(ErrorCode::kNotPermitted, "only cvfsd lists stripes");
  CVFS_ASSIGN_OR_RETURN(wire::ListStripesRequest request, wire::DecodeListStripesRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.drive_index));
  CellStore::StripeRef from{request.after_inode, request.after_stripe};
  if (!request.from_start) {
    // Strictly after (after_inode, after_stripe).
    if (from.stripe == UINT64_MAX) {
      from = {from.inode + 1, 0};
    } else {
      from.stripe++;
    }
  }
  std::sort(request.pgs.begin(), request.pgs.end());
  wire::ListStripesReply reply;
  CVFS_ASSIGN_OR_RETURN(std::vector<CellStore::StripeRef> stripes,
                        store->ListStripes(
                            request.fs_id, from, request.max,
                            [&](uint64_t inode, uint64_t stripe) {
                              const uint32_t pg = PlacementGroupOf(inode, stripe, request.pg_count);
                              return std::binary_search(request.pgs.begin(), request.pgs.end(), pg);
                            },
                            &reply.done));
  reply.stripes.reserve(stripes.size());
  for (const auto& s : stripes) {
    reply.stripes.push_back(
        {s.inode, s.stripe, PlacementGroupOf(s.inode, s.stripe, request.pg_count)});
  }
  return wire::EncodeListStripesReply(reply);
}

Result<std::string> MemberService::CellVersions(const net::RpcContext& context,
                                                std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::CellVersionsRequest request,
                        wire::DecodeCellVersionsRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.cell.drive_index));
  CVFS_ASSIGN_OR_RETURN(PrimaryFence::Ticket ticket,
                        Admit(request.cell, net::Method::kCellVersions, context.peer_name));
  CVFS_ASSIGN_OR_RETURN(std::vector<CellVersion> versions,
                        store->Versions(ToCellKey(request.cell)));
  wire::CellVersionsReply reply;
  for (const CellVersion& v : versions) {
    reply.versions.push_back({v.version, v.length, v.state == CellState::kCommitted});
  }
  return wire::EncodeCellVersionsReply(reply);
}

Result<std::string> MemberService::ReadCell(const net::RpcContext& context,
                                            std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::ReadCellRequest request, wire::DecodeReadCellRequest(payload));
  CVFS_ASSIGN_OR_RETURN(CellStore * store, Store(request.cell.drive_index));
  const CellKey key = ToCellKey(request.cell);
  if (uint64_t(request.offset) + request.length > kMaxCellBytes) {
    return Status::InvalidArgument("read of " + DescribeCellKey(key) + " past the largest cell");
  }
  if (!request.has_target && request.length > wire::kMaxInlineReadBytes) {
    return Status::InvalidArgument("inline read of " + std::to_string(request.length) +
                                   " bytes (at most " + std::to_string(wire::kMaxInlineReadBytes) +
                                   ")");
  }
  if (request.has_target) {
    CVFS_ASSIGN_OR_RETURN(auto buffer, pool_.Acquire(std::max<uint32_t>(request.length, 1)));
    auto read = ReadStored(*store, request, buffer.data());
    if (!read.ok()) return Logged(read.status());
    if (read->version == 0) return wire::EncodeReadCellReply(0, 0, {});
    if (request.length > 0) {
      Status sent =
          endpoint_.RmaWrite(context.peer, buffer.region(), 0, request.length, request.target,
                             request.target_offset, Remaining(context.deadline));
      if (!sent.ok()) {
        buffer.Discard();  // the provider may still read it after a timed-out transfer
        return sent.WithContext("read of " + DescribeCellKey(key) + ": RMA");
      }
    }
    return wire::EncodeReadCellReply(read->version, read->length, {});
  }
  thread_local std::vector<uint8_t> inline_buffer(wire::kMaxInlineReadBytes);
  auto read = ReadStored(*store, request, inline_buffer.data());
  if (!read.ok()) return Logged(read.status());
  if (read->version == 0) return wire::EncodeReadCellReply(0, 0, {});
  return wire::EncodeReadCellReply(
      read->version, read->length,
      std::string_view(reinterpret_cast<const char*>(inline_buffer.data()), request.length));
}

Result<std::string> MemberService::DeleteStripes(const net::RpcContext&, std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(wire::DeleteStripesRequest request,
                        wire::DecodeDeleteStripesRequest(payload));
  uint64_t dropped = 0;
  DriveStores stores;
  {
    std::shared_lock lock(stores_mu_);
    stores = stores_;
  }
  for (CellStore* store : stores) {
    if (store == nullptr) continue;
    CVFS_ASSIGN_OR_RETURN(uint64_t n,
                          store->DeleteStripes(request.fs_id, request.inode, request.first_stripe));
    dropped += n;
  }
  if (on_deleted_) on_deleted_(request.fs_id, request.inode, request.first_stripe);
  LOG_DEBUG("data.delete_stripes fs={} inode={} first_stripe={} dropped={}", request.fs_id,
            request.inode, request.first_stripe, dropped);
  return wire::EncodeEmptyReply();
}

}  // namespace cvfs::server
