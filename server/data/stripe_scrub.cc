// Scrub's parity check of one stripe on its primary (docs/design/datapath.md, "Scrub").
#include <algorithm>
#include <cstring>

#include "core/logging.h"
#include "server/data/stripe_coordinator.h"
#include "server/data/stripe_op.h"

namespace cvfs::server {

namespace wire = net::wire;

Result<StripeCoordinator::ParityCheck> StripeCoordinator::CheckParity(uint32_t fs_id,
                                                                      uint64_t inode,
                                                                      uint64_t stripe,
                                                                      TimePoint deadline) {
  CVFS_ASSIGN_OR_RETURN(StripeOp op, Begin(fs_id, inode, stripe, deadline));
  StripeLocks::Guard guard(locks_, op.id);
  CVFS_ASSIGN_OR_RETURN(StripeState state, LoadState(op));
  ParityCheck check;
  check.version = state.version;
  if (state.version == 0) return check;
  const int width = op.width();
  const int n = op.data_cells();
  const uint32_t cell_bytes = op.geometry.cell_bytes;
  for (int k = 0; k < width; ++k) {
    if (!state.current[k] || !op.Reachable(k)) {
      check.skipped = "cell " + std::to_string(k) +
                      (op.Reachable(k) ? " misses version " + std::to_string(state.version)
                                       : " is unreachable");
      return check;
    }
  }
  const uint32_t longest = *std::max_element(state.lengths.begin(), state.lengths.end());
  if (longest == 0) {
    check.checked = true;  // every cell empty: nothing to compare
    return check;
  }
  CVFS_ASSIGN_OR_RETURN(auto staging, pool_.Acquire(size_t(width) * cell_bytes));
  const std::vector<bool> all(width, true);
  auto results = FanOut(
      op, endpoint_, all, net::Method::kReadCell,
      [&](int k) {
        wire::ReadCellRequest m;
        m.cell = op.Address(k);
        m.version = state.version;
        m.offset = 0;
        m.length = longest;
        m.has_target = true;
        m.target = staging.remote();
        m.target_offset = uint64_t(k) * cell_bytes;
        return wire::EncodeReadCellRequest(m);
      },
      [&](int k, CellStore* store) -> Result<std::string> {
        CVFS_RETURN_IF_ERROR(
            store
                ->Read(op.Key(k), state.version, 0,
                       std::span<uint8_t>(staging.data() + size_t(k) * cell_bytes, longest))
                .status());
        return std::string();
      });
  for (int k = 0; k < width; ++k) {
    if (!results[k].ok()) {
      // A corrupt cell is its holder's scrub to find and report; an unreachable one is the
      // next pass's.
      check.skipped = "cell " + std::to_string(k) + ": " + results[k].status().ToString();
      if (op.discard_staging) staging.Discard();
      return check;
    }
  }
  check.bytes_read = uint64_t(width) * longest;
  CVFS_ASSIGN_OR_RETURN(ErasureCode code, ErasureCode::Create(n, width - n));
  std::vector<uint8_t> expected(size_t(width - n) * longest);
  const uint8_t* data[ErasureCode::kMaxCells];
  uint8_t* parity[ErasureCode::kMaxCells];
  for (int k = 0; k < n; ++k) data[k] = staging.data() + size_t(k) * cell_bytes;
  for (int j = 0; j < width - n; ++j) parity[j] = expected.data() + size_t(j) * longest;
  CVFS_RETURN_IF_ERROR(code.Encode(data, parity, longest));
  for (int j = 0; j < width - n; ++j) {
    const uint8_t* stored = staging.data() + size_t(n + j) * cell_bytes;
    if (std::memcmp(stored, parity[j], longest) != 0) check.mismatched.push_back(n + j);
  }
  if (op.discard_staging) staging.Discard();
  check.checked = true;
  for (int k : check.mismatched) {
    LOG_ERROR("scrub.parity_mismatch node={} cell={} version={}", options_.self.str(),
              DescribeCellKey(op.Key(k)), state.version);
    // The data cells passed their CRCs: they are the truth, the parity is rebuilt from them
    // (RepairCell decodes from the first N cells that hold the version: the data cells).
    if (Status st = RepairCell(op, state, k); st.ok()) {
      check.repaired.push_back(k);
    } else {
      LOG_ERROR("scrub.parity_repair_failed cell={} error=\"{}\"", DescribeCellKey(op.Key(k)),
                st.ToString());
    }
  }
  return check;
}

}  // namespace cvfs::server
