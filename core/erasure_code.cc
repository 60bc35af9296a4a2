#include "core/erasure_code.h"

#include <isa-l/erasure_code.h>

#include <array>
#include <cassert>
#include <string>

namespace cvfs {

ErasureCode::ErasureCode(int data_cells, int parity_cells)
    : data_cells_(data_cells), parity_cells_(parity_cells) {
  const int n = data_cells_;
  const int m = n + parity_cells_;
  encode_matrix_.resize(static_cast<size_t>(m) * n);
  // Rows 0..N-1 are the identity (the code is systematic); rows N.. are Cauchy
  // 1/(i ^ j), so every N x N row subset is invertible.
  gf_gen_cauchy1_matrix(encode_matrix_.data(), m, n);
  encode_tables_.resize(32 * static_cast<size_t>(n) * parity_cells_);
  ec_init_tables(n, parity_cells_, &encode_matrix_[static_cast<size_t>(n) * n],
                 encode_tables_.data());
}

Result<ErasureCode> ErasureCode::Create(int data_cells, int parity_cells) {
  if (data_cells < kMinDataCells || data_cells > kMaxDataCells) {
    return Status::InvalidArgument("erasure code: data cells N=" + std::to_string(data_cells) +
                                   " out of range; N must be in [2, 16]");
  }
  if (parity_cells != 2 && parity_cells != 4) {
    return Status::InvalidArgument("erasure code: parity cells P=" + std::to_string(parity_cells) +
                                   " unsupported; P must be 2 or 4");
  }
  return ErasureCode(data_cells, parity_cells);
}

Status ErasureCode::CheckCellBytes(size_t cell_bytes) const {
  if (cell_bytes == 0 || cell_bytes > kMaxCellBytes) {
    return Status::InvalidArgument("erasure code: cell_bytes=" + std::to_string(cell_bytes) +
                                   " must be in [1, " + std::to_string(kMaxCellBytes) + "]");
  }
  return Status::Ok();
}

Status ErasureCode::Encode(const uint8_t* const* data, uint8_t* const* parity,
                           size_t cell_bytes) const {
  CVFS_RETURN_IF_ERROR(CheckCellBytes(cell_bytes));
  if (data == nullptr || parity == nullptr) {
    return Status::InvalidArgument("erasure code: null cell array");
  }
  // ISA-L's signature is not const-correct: it only reads sources and tables.
  std::array<unsigned char*, kMaxDataCells> src;
  std::array<unsigned char*, kMaxParityCells> dst;
  for (int i = 0; i < data_cells_; ++i) {
    if (data[i] == nullptr) {
      return Status::InvalidArgument("erasure code: data cell " + std::to_string(i) + " is null");
    }
    src[i] = const_cast<unsigned char*>(data[i]);
  }
  for (int i = 0; i < parity_cells_; ++i) {
    if (parity[i] == nullptr) {
      return Status::InvalidArgument("erasure code: parity cell " + std::to_string(i) + " is null");
    }
    dst[i] = parity[i];
  }
  ec_encode_data(static_cast<int>(cell_bytes), data_cells_, parity_cells_,
                 const_cast<unsigned char*>(encode_tables_.data()), src.data(), dst.data());
  return Status::Ok();
}

Status ErasureCode::Encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
                           size_t cell_bytes) const {
  if (data.size() != static_cast<size_t>(data_cells_) ||
      parity.size() != static_cast<size_t>(parity_cells_)) {
    return Status::InvalidArgument("erasure code: got " + std::to_string(data.size()) + "+" +
                                   std::to_string(parity.size()) + " cells for a " +
                                   std::to_string(data_cells_) + "+" +
                                   std::to_string(parity_cells_) + " code");
  }
  return Encode(data.data(), parity.data(), cell_bytes);
}

Status ErasureCode::Decode(std::span<uint8_t* const> cells, std::span<const int> erased,
                           size_t cell_bytes) const {
  const int n = data_cells_;
  const int m = total_cells();
  CVFS_RETURN_IF_ERROR(CheckCellBytes(cell_bytes));
  if (cells.size() != static_cast<size_t>(m)) {
    return Status::InvalidArgument("erasure code: decode got " + std::to_string(cells.size()) +
                                   " cells, expected N+P=" + std::to_string(m));
  }
  if (erased.size() > static_cast<size_t>(parity_cells_)) {
    return Status::InvalidArgument("erasure code: " + std::to_string(erased.size()) +
                                   " cells erased, a " + std::to_string(n) + "+" +
                                   std::to_string(parity_cells_) + " stripe survives at most " +
                                   std::to_string(parity_cells_));
  }
  uint32_t erased_mask = 0;
  for (int e : erased) {
    if (e < 0 || e >= m) {
      return Status::InvalidArgument("erasure code: erased index " + std::to_string(e) +
                                     " out of range [0, " + std::to_string(m) + ")");
    }
    if (erased_mask & (1u << e)) {
      return Status::InvalidArgument("erasure code: erased index " + std::to_string(e) +
                                     " listed twice");
    }
    erased_mask |= 1u << e;
  }
  for (int i = 0; i < m; ++i) {
    if (cells[i] == nullptr) {
      return Status::InvalidArgument("erasure code: cell " + std::to_string(i) + " is null");
    }
  }
  if (erased.empty()) return Status::Ok();

  // Sources: the first N surviving cells by index; their generator rows form the N x N
  // matrix B with survivors = B * data, so data = B^-1 * survivors.
  std::array<unsigned char*, kMaxDataCells> src;
  std::array<uint8_t, kMaxDataCells * kMaxDataCells> b;
  std::array<uint8_t, kMaxDataCells * kMaxDataCells> b_inv;
  int r = 0;
  for (int i = 0; r < n; ++i) {
    // Invariant: at most P erased, so N survivors exist among the N+P cells.
    assert(i < m);
    if (erased_mask & (1u << i)) continue;
    src[r] = cells[i];
    for (int j = 0; j < n; ++j) b[r * n + j] = encode_matrix_[i * n + j];
    ++r;
  }
  if (gf_invert_matrix(b.data(), b_inv.data(), n) != 0) {
    // Impossible for a Cauchy generator: any N rows are independent.
    return Status::Internal("erasure code: surviving rows not invertible");
  }

  // Decode row for erased cell e: data cell e is row e of B^-1; parity cell e is its
  // generator row times B^-1 (so it is computed straight from the survivors).
  std::array<uint8_t, kMaxParityCells * kMaxDataCells> decode_matrix;
  std::array<unsigned char*, kMaxParityCells> dst;
  const int nerrs = static_cast<int>(erased.size());
  for (int k = 0; k < nerrs; ++k) {
    const int e = erased[k];
    dst[k] = cells[e];
    uint8_t* row = &decode_matrix[k * n];
    if (e < n) {
      for (int j = 0; j < n; ++j) row[j] = b_inv[e * n + j];
    } else {
      for (int j = 0; j < n; ++j) {
        uint8_t s = 0;
        for (int t = 0; t < n; ++t) s ^= gf_mul(encode_matrix_[e * n + t], b_inv[t * n + j]);
        row[j] = s;
      }
    }
  }
  std::array<uint8_t, 32 * kMaxDataCells * kMaxParityCells> tables;
  ec_init_tables(n, nerrs, decode_matrix.data(), tables.data());
  ec_encode_data(static_cast<int>(cell_bytes), n, nerrs, tables.data(), src.data(), dst.data());
  return Status::Ok();
}

}  // namespace cvfs
