// Stripe layout: how the bytes of an object (a file's data, named by inode id) map onto
// stripes, cells and placement groups. Pure arithmetic shared by the client and the backends;
// both must agree bit for bit, so this is the only place that spells it.
//
// Layout of one object under geometry N+P with cell size C (bytes):
//   - stripe s covers object bytes [s*N*C, (s+1)*N*C);
//   - data cell i (0 <= i < N) of stripe s covers [s*N*C + i*C, +C);
//   - parity cells N..N+P-1 are ISA-L Cauchy parity over the N data cells (core/erasure_code.h),
//     computed over the first `cell_length` bytes of every cell, zero-padded;
//   - stripe s of inode i lives in placement group PlacementGroupOf(i, s, pg_count), and cell k
//     of it on member k of that PG.
// Invariants: C is a multiple of kCellAlignment; N, P within core/placement.h bounds.
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace cvfs {

// Cells are stored and checksummed in blocks of this many bytes.
inline constexpr uint32_t kChecksumBlockBytes = 4096;
inline constexpr uint32_t kCellAlignment = 4096;
inline constexpr uint32_t kMinCellBytes = 4096;
inline constexpr uint32_t kMaxCellBytes = 16u << 20;

struct StripeGeometry {
  int data_cells = 4;                // N
  int parity_cells = 2;              // P
  uint32_t cell_bytes = 128 * 1024;  // C

  int width() const { return data_cells + parity_cells; }
  uint64_t stripe_bytes() const { return uint64_t(data_cells) * cell_bytes; }
  bool operator==(const StripeGeometry&) const = default;
};

// OK for N in 2..16, P in {2,4}, C a multiple of 4096 in [4 KiB, 16 MiB]; kInvalidArgument
// naming the bad value otherwise.
Status ValidateStripeGeometry(const StripeGeometry& geometry);

// Parses "4+2" into (4, 2); kInvalidArgument for anything else or out-of-range values.
Status ParseProtection(std::string_view text, int* data_cells, int* parity_cells);
// Parses a size such as "128K", "1M", "65536" (K/M/G are powers of 1024); kInvalidArgument
// for anything else.
Result<uint64_t> ParseByteSize(std::string_view text);

// The PG of stripe `stripe` of inode `inode`: a fixed 64-bit mix (splitmix64 of both) modulo
// pg_count. Stable across versions and platforms: changing it moves every stripe.
uint32_t PlacementGroupOf(uint64_t inode, uint64_t stripe, uint32_t pg_count);

// The part of an object byte range that falls in one stripe.
struct StripeExtent {
  uint64_t stripe = 0;
  uint64_t offset_in_stripe = 0;
  uint64_t length = 0;
  uint64_t buffer_offset = 0;  // where this part starts in the caller's buffer
};
// Splits [offset, offset+length) of an object into per-stripe extents, in order.
std::vector<StripeExtent> SplitObjectRange(const StripeGeometry& geometry, uint64_t offset,
                                           uint64_t length);

// The part of a stripe byte range that falls in one data cell.
struct CellExtent {
  int cell_index = 0;
  uint32_t offset_in_cell = 0;
  uint32_t length = 0;
  uint64_t offset_in_stripe = 0;
};
// Splits [offset_in_stripe, +length) of one stripe into per-data-cell extents, in order.
// Requires offset_in_stripe + length <= stripe_bytes (asserted).
std::vector<CellExtent> SplitStripeRange(const StripeGeometry& geometry, uint64_t offset_in_stripe,
                                         uint64_t length);

}  // namespace cvfs
