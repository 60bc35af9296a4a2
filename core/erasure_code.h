// ErasureCode: Reed-Solomon N+P over GF(2^8) with a Cauchy generator matrix, computed by
// ISA-L (ec_encode_data, which picks the SSE/AVX2/AVX-512/GFNI kernel at run time).
//
// A stripe is N data cells and P parity cells, all `cell_bytes` long; cell i of the stripe
// is index i in [0, N+P): data cells are 0..N-1, parity cells N..N+P-1. The generator is the
// (N+P) x N matrix [I; C] with C an ISA-L Cauchy matrix (gf_gen_cauchy1_matrix), so every
// N x N submatrix of rows is invertible: ANY N surviving cells rebuild ANY <= P missing ones,
// data or parity. (A Vandermonde-derived [I; V] lacks this guarantee for some N, P.)
// The matrix is part of the on-disk format: parity written by one version must decode in
// the next, so the generator for a given (N, P) must never change.
//
// Alignment: none required; any cell_bytes >= 1 works (ISA-L uses unaligned loads and a
// scalar tail). Cells aligned to 64 bytes with cell_bytes a multiple of 64 run fastest.
// cell_bytes must fit in an int (ISA-L's length type): at most kMaxCellBytes.
//
// Thread-safety: immutable after Create(). Encode() and Decode() are const, keep no shared
// mutable state and allocate nothing, so one ErasureCode may be used from any number of
// threads at once. Decode tables are recomputed per call (no cache): for 16+4 that costs
// about a microsecond, well under 1% of decoding one 128 KiB-cell stripe (see
// docs/design/erasure-coding.md for the measurement).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace cvfs {

class ErasureCode {
 public:
  static constexpr int kMinDataCells = 2;
  static constexpr int kMaxDataCells = 16;
  static constexpr int kMaxParityCells = 4;
  static constexpr int kMaxCells = kMaxDataCells + kMaxParityCells;
  static constexpr size_t kMaxCellBytes = size_t{1} << 30;

  // N in [2, 16] and P in {2, 4} (the schemes a filesystem may choose); anything else is
  // kInvalidArgument naming the bad value.
  static Result<ErasureCode> Create(int data_cells, int parity_cells);

  int data_cells() const { return data_cells_; }
  int parity_cells() const { return parity_cells_; }
  int total_cells() const { return data_cells_ + parity_cells_; }

  // Computes the P parity cells from the N data cells. `data` holds N pointers to readable
  // cells, `parity` P pointers to writable ones, each cell `cell_bytes` long; parity must
  // not overlap data. On success every parity cell is fully written. On failure
  // (kInvalidArgument: null pointer, cell_bytes 0 or > kMaxCellBytes) nothing is written.
  Status Encode(const uint8_t* const* data, uint8_t* const* parity, size_t cell_bytes) const;
  Status Encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
                size_t cell_bytes) const;

  // Rebuilds the cells listed in `erased` (indices in [0, N+P), distinct, in any order, at
  // most P of them) from the others. `cells` holds N+P pointers, one per stripe index:
  // the erased ones are writable output buffers, every other one must hold that cell's
  // valid contents (only the first N of them by index are read). On success every erased
  // cell holds exactly the bytes Encode() produced (for parity) or that were encoded (for
  // data); an empty `erased` is a no-op. On failure (kInvalidArgument: more than P
  // erasures, duplicate or out-of-range index, null pointer, bad cell_bytes, wrong number
  // of cells) nothing is written.
  Status Decode(std::span<uint8_t* const> cells, std::span<const int> erased,
                size_t cell_bytes) const;

 private:
  ErasureCode(int data_cells, int parity_cells);

  Status CheckCellBytes(size_t cell_bytes) const;

  // Const after construction.
  int data_cells_;
  int parity_cells_;
  // Row-major (N+P) x N generator [I; C].
  std::vector<uint8_t> encode_matrix_;
  // ec_init_tables() expansion of the P parity rows: 32 * N * P bytes.
  std::vector<uint8_t> encode_tables_;
};

}  // namespace cvfs
