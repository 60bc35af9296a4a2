#include "mpi-io/datatype_flatten.h"

#include <algorithm>
#include <cstring>

namespace cvfs::mpiio {
namespace {

struct Builder {
  std::vector<Block>* blocks;
  size_t max_blocks;
  bool overflow = false;

  void Add(int64_t offset, int64_t length) {
    if (length <= 0) return;
    if (!blocks->empty()) {
      Block& last = blocks->back();
      if (last.offset + last.length == offset) {
        last.length += length;
        return;
      }
    }
    if (blocks->size() >= max_blocks) {
      overflow = true;
      return;
    }
    blocks->push_back({offset, length});
  }
  // `count` instances of `inner` from `base`, extent apart.
  void AddType(const FlatType& inner, int64_t base, int64_t count) {
    if (inner.dense()) {
      Add(base + inner.lb, inner.size * count);
      return;
    }
    for (int64_t i = 0; i < count && !overflow; ++i) {
      for (const Block& b : inner.blocks) Add(base + i * inner.extent + b.offset, b.length);
    }
  }
};

bool IsNamed(MPI_Datatype type) {
  int ni = 0, na = 0, nd = 0, combiner = 0;
  MPI_Type_get_envelope(type, &ni, &na, &nd, &combiner);
  return combiner == MPI_COMBINER_NAMED;
}

// The runs of global indices (start, length) that process coordinate `coord` of `procs`
// owns along one darray dimension.
std::vector<std::pair<int64_t, int64_t>> DarrayRuns(int gsize, int distrib, int darg, int procs,
                                                    int coord) {
  std::vector<std::pair<int64_t, int64_t>> runs;
  if (distrib == MPI_DISTRIBUTE_NONE) {
    runs.emplace_back(0, gsize);
  } else if (distrib == MPI_DISTRIBUTE_BLOCK) {
    const int64_t b = darg == MPI_DISTRIBUTE_DFLT_DARG ? (gsize + procs - 1) / procs : darg;
    const int64_t start = coord * b;
    const int64_t end = std::min<int64_t>(start + b, gsize);
    if (end > start) runs.emplace_back(start, end - start);
  } else {  // MPI_DISTRIBUTE_CYCLIC
    const int64_t b = darg == MPI_DISTRIBUTE_DFLT_DARG ? 1 : darg;
    for (int64_t k = coord * b; k < gsize; k += int64_t{procs} * b) {
      runs.emplace_back(k, std::min<int64_t>(b, gsize - k));
    }
  }
  return runs;
}

// Subarray and darray: per dimension (C order, last fastest), the runs of indices taken;
// the innermost runs become blocks of `inner` elements.
void AddGrid(Builder& out, const FlatType& inner, const std::vector<int64_t>& sizes,
             const std::vector<std::vector<std::pair<int64_t, int64_t>>>& runs) {
  const size_t nd = sizes.size();
  if (nd == 0) return;
  for (const auto& r : runs) {
    if (r.empty()) return;
  }
  std::vector<int64_t> stride(nd, 1);  // in elements
  for (size_t d = nd - 1; d > 0; --d) stride[d - 1] = stride[d] * sizes[d];
  // Odometer over (run, index within run) of the outer dimensions.
  std::vector<size_t> run(nd, 0);
  std::vector<int64_t> idx(nd, 0);
  while (!out.overflow) {
    int64_t base = 0;
    for (size_t d = 0; d + 1 < nd; ++d) base += (runs[d][run[d]].first + idx[d]) * stride[d];
    for (const auto& [start, length] : runs[nd - 1]) {
      out.AddType(inner, (base + start) * inner.extent, length);
    }
    // Advance the outer odometer.
    size_t d = nd - 1;
    while (d > 0) {
      --d;
      if (++idx[d] < runs[d][run[d]].second) break;
      idx[d] = 0;
      if (++run[d] < runs[d].size()) break;
      run[d] = 0;
      if (d == 0) return;
    }
    if (nd == 1) return;
  }
}

int FlattenInto(MPI_Datatype type, FlatType* out, size_t max_blocks, int depth);

int FlattenChild(MPI_Datatype child, FlatType* out, size_t max_blocks, int depth) {
  const int rc = FlattenInto(child, out, max_blocks, depth + 1);
  if (!IsNamed(child)) MPI_Type_free(&child);
  return rc;
}

int FlattenInto(MPI_Datatype type, FlatType* out, size_t max_blocks, int depth) {
  if (depth > 64) return MPI_ERR_TYPE;
  *out = FlatType{};
  int size = 0;
  MPI_Count size_x = 0, lb = 0, extent = 0;
  if (MPI_Type_size_x(type, &size_x) != MPI_SUCCESS) return MPI_ERR_TYPE;
  (void)size;
  MPI_Type_get_extent_x(type, &lb, &extent);
  out->size = size_x;
  out->lb = lb;
  out->extent = extent;
  int ni = 0, na = 0, nd = 0, combiner = 0;
  MPI_Type_get_envelope(type, &ni, &na, &nd, &combiner);
  Builder b{&out->blocks, max_blocks};
  if (combiner == MPI_COMBINER_NAMED) {
    // Predefined types with gaps (MPI_DOUBLE_INT, ...) hold their bytes from offset 0.
    b.Add(0, size_x);
    return MPI_SUCCESS;
  }
  std::vector<int> ints(std::max(ni, 1));
  std::vector<MPI_Aint> aints(std::max(na, 1));
  std::vector<MPI_Datatype> types(std::max(nd, 1));
  MPI_Type_get_contents(type, ni, na, nd, ints.data(), aints.data(), types.data());
  // The children, flattened (and freed when derived).
  std::vector<FlatType> kids(nd);
  int rc = MPI_SUCCESS;
  for (int i = 0; i < nd; ++i) {
    const int r = FlattenChild(types[i], &kids[i], max_blocks, depth);
    if (r != MPI_SUCCESS) rc = r;
  }
  if (rc != MPI_SUCCESS) return rc;
  switch (combiner) {
    case MPI_COMBINER_DUP:
    case MPI_COMBINER_RESIZED:
      out->blocks = kids[0].blocks;
      break;
    case MPI_COMBINER_CONTIGUOUS:
      b.AddType(kids[0], 0, ints[0]);
      break;
    case MPI_COMBINER_VECTOR:
    case MPI_COMBINER_HVECTOR: {
      const int64_t stride =
          combiner == MPI_COMBINER_VECTOR ? int64_t{ints[2]} * kids[0].extent : aints[0];
      for (int i = 0; i < ints[0] && !b.overflow; ++i) b.AddType(kids[0], i * stride, ints[1]);
      break;
    }
    case MPI_COMBINER_INDEXED:
      for (int i = 0; i < ints[0] && !b.overflow; ++i) {
        b.AddType(kids[0], int64_t{ints[1 + ints[0] + i]} * kids[0].extent, ints[1 + i]);
      }
      break;
    case MPI_COMBINER_HINDEXED:
      for (int i = 0; i < ints[0] && !b.overflow; ++i) b.AddType(kids[0], aints[i], ints[1 + i]);
      break;
    case MPI_COMBINER_INDEXED_BLOCK:
      for (int i = 0; i < ints[0] && !b.overflow; ++i) {
        b.AddType(kids[0], int64_t{ints[2 + i]} * kids[0].extent, ints[1]);
      }
      break;
    case MPI_COMBINER_HINDEXED_BLOCK:
      for (int i = 0; i < ints[0] && !b.overflow; ++i) b.AddType(kids[0], aints[i], ints[1]);
      break;
    case MPI_COMBINER_STRUCT:
      for (int i = 0; i < ints[0] && !b.overflow; ++i) b.AddType(kids[i], aints[i], ints[1 + i]);
      break;
    case MPI_COMBINER_SUBARRAY: {
      const int n = ints[0];
      std::vector<int64_t> sizes(n);
      std::vector<std::vector<std::pair<int64_t, int64_t>>> runs(n);
      for (int d = 0; d < n; ++d) {
        sizes[d] = ints[1 + d];
        runs[d] = {{ints[1 + 2 * n + d], ints[1 + n + d]}};
        if (ints[1 + n + d] == 0) runs[d].clear();
      }
      if (ints[1 + 3 * n] == MPI_ORDER_FORTRAN) {
        std::reverse(sizes.begin(), sizes.end());
        std::reverse(runs.begin(), runs.end());
      }
      AddGrid(b, kids[0], sizes, runs);
      break;
    }
    case MPI_COMBINER_DARRAY: {
      const int procs = ints[0], rank = ints[1], n = ints[2];
      const int* gsizes = &ints[3];
      const int* distribs = &ints[3 + n];
      const int* dargs = &ints[3 + 2 * n];
      const int* psizes = &ints[3 + 3 * n];
      const int order = ints[3 + 4 * n];
      (void)procs;
      // Process coordinates: the grid is row-major whatever the array order.
      std::vector<int> coords(n);
      int rest = rank;
      for (int d = n - 1; d >= 0; --d) {
        coords[d] = rest % psizes[d];
        rest /= psizes[d];
      }
      std::vector<int64_t> sizes(n);
      std::vector<std::vector<std::pair<int64_t, int64_t>>> runs(n);
      for (int d = 0; d < n; ++d) {
        sizes[d] = gsizes[d];
        runs[d] = DarrayRuns(gsizes[d], distribs[d], dargs[d], psizes[d], coords[d]);
      }
      if (order == MPI_ORDER_FORTRAN) {
        std::reverse(sizes.begin(), sizes.end());
        std::reverse(runs.begin(), runs.end());
      }
      AddGrid(b, kids[0], sizes, runs);
      break;
    }
    default:
      return MPI_ERR_TYPE;  // Fortran-90 parameterized types, deprecated combiners
  }
  return b.overflow ? MPI_ERR_NO_MEM : MPI_SUCCESS;
}

}  // namespace

bool FlatType::monotonic() const {
  for (size_t i = 1; i < blocks.size(); ++i) {
    if (blocks[i].offset < blocks[i - 1].offset + blocks[i - 1].length) return false;
  }
  return true;
}

int Flatten(MPI_Datatype type, FlatType* out, size_t max_blocks) {
  if (type == MPI_DATATYPE_NULL) return MPI_ERR_TYPE;
  return FlattenInto(type, out, max_blocks, 0);
}

void Scatter(const FlatType& flat, int64_t count, const char* packed, int64_t bytes, char* base) {
  int64_t done = 0;
  ForEachRun(flat, count, [&](int64_t offset, int64_t length) {
    const int64_t n = std::min(length, bytes - done);
    if (n > 0) std::memcpy(base + offset, packed + done, static_cast<size_t>(n));
    done += n;
    return done < bytes;
  });
}

void Gather(const FlatType& flat, int64_t count, const char* base, char* packed) {
  int64_t done = 0;
  ForEachRun(flat, count, [&](int64_t offset, int64_t length) {
    std::memcpy(packed + done, base + offset, static_cast<size_t>(length));
    done += length;
    return true;
  });
}

}  // namespace cvfs::mpiio
