// Flattening MPI datatypes into byte blocks (the adapter's view of a typemap).
//
// A FlatType lists the bytes one instance of a datatype covers, in typemap order, as
// (offset from the type's origin, length) blocks; adjacent blocks are merged. It is built
// from MPI_Type_get_envelope/get_contents for every combiner of MPI-3.1 except the
// Fortran-90 ones (contiguous, vector, hvector, indexed, hindexed, indexed_block,
// hindexed_block, struct, subarray, darray, resized, dup, named), so any derived type an
// application builds for a buffer, an etype or a filetype is understood.
// Thread-safety: pure functions of their arguments.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace cvfs::mpiio {

struct Block {
  int64_t offset = 0;  // bytes from the type's origin (negative allowed in memory types)
  int64_t length = 0;
};

struct FlatType {
  std::vector<Block> blocks;  // typemap order, adjacent blocks merged
  int64_t size = 0;           // MPI_Type_size: bytes of data in one instance
  int64_t lb = 0;             // MPI_Type_get_extent
  int64_t extent = 0;
  // True when one instance is `size` bytes at offset lb with no gap and the extent equals
  // the size: `count` instances are then one contiguous run.
  bool dense() const {
    return size == extent && (blocks.empty() || (blocks.size() == 1 && blocks[0].offset == lb));
  }
  // True when the blocks' offsets never decrease (required of etypes and filetypes).
  bool monotonic() const;
};

// Flattens `type`. MPI_SUCCESS, or an MPI error class (MPI_ERR_TYPE for a combiner this
// code does not know, MPI_ERR_NO_MEM past `max_blocks` blocks).
int Flatten(MPI_Datatype type, FlatType* out, size_t max_blocks = size_t{1} << 26);

// Visits the bytes of `count` instances of `flat` laid out from `base` (extent apart), in
// order, as runs: fn(offset_from_base, length) for each; stops early when fn returns false.
template <typename Fn>
void ForEachRun(const FlatType& flat, int64_t count, Fn&& fn) {
  if (flat.dense()) {
    if (count > 0 && flat.size > 0) fn(flat.lb, flat.size * count);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    for (const Block& b : flat.blocks) {
      if (!fn(i * flat.extent + b.offset, b.length)) return;
    }
  }
}

// Copies `bytes` bytes from a contiguous buffer into `count` instances of the memory type
// at `base` (in typemap order), or the reverse with Gather. `bytes` may be less than the
// instances hold (a short read): later bytes are left as they are.
void Scatter(const FlatType& flat, int64_t count, const char* packed, int64_t bytes, char* base);
void Gather(const FlatType& flat, int64_t count, const char* base, char* packed);

}  // namespace cvfs::mpiio
