// MemberService: the handlers a PG member runs for the stripe protocol
// (docs/design/datapath.md): PrepareCell, CommitCell, AbortCell, CellVersions, ReadCell,
// DeleteStripes. Each works on the CellStore of the drive the request names and never calls
// another node (only RMA back to the caller), so these run on the worker pool and can never
// deadlock against a primary waiting for them.
//
// Contract per handler:
//   - PrepareCell: pulls the cell by RMA from the primary's staging buffer into a registered
//     buffer, verifies one CRC32C per 4 KiB block (kCorruption on a mismatch: damaged in
//     transit), then CellStore::WritePending (or Rewrite for a repair). OK = durable.
//   - CommitCell / AbortCell: CellStore::Commit / Abort.
//   - CellVersions: every stored version (pending and committed) of the cell.
//   - PrepareCell, CommitCell, AbortCell and CellVersions first pass the PrimaryFence with the
//     epoch and PG the cell address carries: kConflict for a deposed primary's call.
//   - ReadCell: CellStore::Read of the range (verifying block CRCs), then RMA into the
//     caller's region, or inline in the reply for <= 16 KiB. A cell with no committed version
//     answers version 0 and sends nothing (the caller fills zeros).
//   - DeleteStripes: CellStore::DeleteStripes on every drive of this node.
// Every payload is verified (kMalformedMessage); a drive index this node lacks is
// kInvalidArgument.
// Thread-safety: handlers run concurrently; the stores and the pool are thread-safe.
#pragma once

#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "net/registered_pool.h"
#include "net/rpc.h"
#include "net/wire/data_messages.h"
#include "server/data/primary_fence.h"
#include "server/store/cell_store.h"

namespace cvfs::server {

struct DataServiceStats;

// The CellStores of this node, by drive index (the index in its NodeRecord::drives).
using DriveStores = std::vector<CellStore*>;

// `key` of the cell a request addresses.
CellKey ToCellKey(const net::wire::CellAddress& cell);

class MemberService {
 public:
  // Called after DeleteStripes dropped cells, so the local coordinator forgets them.
  using StripesDeleted = std::function<void(uint32_t fs_id, uint64_t inode, uint64_t first)>;

  MemberService(net::RpcEndpoint& endpoint, DriveStores stores, net::RegisteredBufferPool& pool,
                StripesDeleted on_deleted)
      : endpoint_(endpoint),
        stores_(std::move(stores)),
        pool_(pool),
        on_deleted_(std::move(on_deleted)) {}

  // Registers every member handler on the endpoint (HandlerMode::kWorker).
  void Register();

  // Serves drive `drive_index` from `store` from now on (a drive added at run time by
  // `cvfs drive add`). kAlreadyExists when that index already has a store; kInvalidArgument
  // beyond kMaxDrivesPerNode. `store` must outlive the service.
  Status AddStore(size_t drive_index, CellStore* store);
  // Serves drive `drive_index` from `store` instead of its current store (`cvfs drive
  // replace`). kNotFound beyond the drives the service knows (a drive found failed at start
  // has a null store, which this fills). The old store must stay alive for the
  // operations that may still use it.
  Status ReplaceStore(size_t drive_index, CellStore* store);

  Result<std::string> PrepareCell(const net::RpcContext& context, std::string_view payload);
  Result<std::string> CommitCell(const net::RpcContext& context, std::string_view payload);
  Result<std::string> AbortCell(const net::RpcContext& context, std::string_view payload);
  Result<std::string> CellVersions(const net::RpcContext& context, std::string_view payload);
  Result<std::string> ReadCell(const net::RpcContext& context, std::string_view payload);
  Result<std::string> DeleteStripes(const net::RpcContext& context, std::string_view payload);
  // kListStripes: the stripes of given PGs a drive holds (the rebuild's work list).
  Result<std::string> ListStripes(const net::RpcContext& context, std::string_view payload);

  // The store of `drive_index`, or kInvalidArgument.
  Result<CellStore*> Store(uint16_t drive_index) const;

  // Passes a call on `cell` from `node` (the authenticated peer, or this node's own
  // coordinator on its local stores) through this node's fence against deposed primaries;
  // logs a refusal. Only the methods Fenced() names are checked.
  static bool Fenced(net::Method method);
  Result<PrimaryFence::Ticket> Admit(const net::wire::CellAddress& cell, net::Method method,
                                     const std::string& node);

 private:
  net::RpcEndpoint& endpoint_;
  PrimaryFence fence_;
  mutable std::shared_mutex stores_mu_;
  DriveStores stores_;  // guarded by stores_mu_; grows only (AddStore)
  net::RegisteredBufferPool& pool_;
  const StripesDeleted on_deleted_;
};

// The CRC32C of each 4 KiB block of `cell` (length a multiple of 4 KiB, or the last block
// short), appended to `out`.
void BlockCrcs(const uint8_t* cell, size_t length, std::vector<uint32_t>* out);

// Remaining budget until `deadline` (at least 1 ms, so a call always gets a chance).
Duration Remaining(TimePoint deadline);

}  // namespace cvfs::server
