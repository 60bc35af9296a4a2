// mpi-io/datatype_flatten: Flatten's blocks, expanded to bytes, against the typemap MPI
// itself reports. The reference is built with MPI_Pack: a buffer whose bytes hold their own
// offsets (one byte of the offset per pass) is packed, so byte j of the packed data tells
// which source byte MPI put j-th. Every combiner, nested and with seeded random parameters
// (subarray and darray in both orders, every distribution). Runs as an MPI singleton.
#include <mpi.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "mpi-io/datatype_flatten.h"

using cvfs::mpiio::Flatten;
using cvfs::mpiio::FlatType;

namespace {

void EnsureMpi() {
  static const bool initialized = [] {
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
      MPI_Init(nullptr, nullptr);
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      std::atexit([] { MPI_Finalize(); });
    }
    return true;
  }();
  (void)initialized;
}

// The source offsets (from the type's origin) of the bytes of one instance of `type`, in
// the order MPI packs them.
std::vector<int64_t> ReferenceTypemap(MPI_Datatype type) {
  MPI_Aint true_lb = 0, true_extent = 0;
  MPI_Type_get_true_extent(type, &true_lb, &true_extent);
  int packed_size = 0;
  MPI_Pack_size(1, type, MPI_COMM_WORLD, &packed_size);
  if (packed_size == 0) return {};  // a type without data (a darray rank owning nothing)
  std::vector<int64_t> offsets(static_cast<size_t>(packed_size), 0);
  std::vector<unsigned char> buffer(static_cast<size_t>(true_extent) + 1);
  std::vector<unsigned char> packed(static_cast<size_t>(packed_size));
  for (int pass = 0; pass < 4; ++pass) {
    for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = (i >> (8 * pass)) & 0xff;
    int position = 0;
    // The origin lies true_lb bytes before the first byte the type touches.
    const int rc = MPI_Pack(buffer.data() - true_lb, 1, type, packed.data(), packed_size, &position,
                            MPI_COMM_WORLD);
    INFO("pass " << pass << " true_lb " << true_lb << " true_extent " << true_extent
                 << " packed_size " << packed_size);
    REQUIRE(rc == MPI_SUCCESS);
    for (int j = 0; j < position; ++j) {
      offsets[static_cast<size_t>(j)] |= int64_t{packed[static_cast<size_t>(j)]} << (8 * pass);
    }
    offsets.resize(static_cast<size_t>(position));
  }
  for (int64_t& o : offsets) o += true_lb;
  return offsets;
}

std::vector<int64_t> FlattenedBytes(MPI_Datatype type) {
  FlatType flat;
  REQUIRE(Flatten(type, &flat) == MPI_SUCCESS);
  std::vector<int64_t> bytes;
  for (const auto& b : flat.blocks) {
    for (int64_t i = 0; i < b.length; ++i) bytes.push_back(b.offset + i);
  }
  MPI_Count size = 0;
  MPI_Type_size_x(type, &size);
  CHECK(flat.size == size);
  return bytes;
}

void CheckType(MPI_Datatype type, const std::string& what) {
  MPI_Type_commit(&type);
  INFO(what);
  CHECK(FlattenedBytes(type) == ReferenceTypemap(type));
  MPI_Type_free(&type);
}

}  // namespace

TEST_CASE("Flatten matches MPI's typemap for every combiner", "[mpiio]") {
  EnsureMpi();
  MPI_Datatype t;
  MPI_Type_contiguous(7, MPI_INT, &t);
  CheckType(t, "contiguous");
  MPI_Type_vector(5, 3, 7, MPI_DOUBLE, &t);
  CheckType(t, "vector");
  MPI_Type_create_hvector(4, 2, 37, MPI_SHORT, &t);
  CheckType(t, "hvector with an odd stride");
  int lens[4] = {2, 0, 3, 1};
  int displs[4] = {9, 4, 0, 20};  // not monotonic: typemap order is kept
  MPI_Type_indexed(4, lens, displs, MPI_INT, &t);
  CheckType(t, "indexed");
  MPI_Aint hdispls[4] = {40, 3, 100, 0};
  MPI_Type_create_hindexed(4, lens, hdispls, MPI_CHAR, &t);
  CheckType(t, "hindexed");
  MPI_Type_create_indexed_block(4, 2, displs, MPI_FLOAT, &t);
  CheckType(t, "indexed_block");
  MPI_Type_create_hindexed_block(4, 3, hdispls, MPI_CHAR, &t);
  CheckType(t, "hindexed_block");
  int slens[3] = {1, 2, 3};
  MPI_Aint sdispls[3] = {0, 8, 24};
  MPI_Datatype stypes[3] = {MPI_DOUBLE, MPI_INT, MPI_CHAR};
  MPI_Type_create_struct(3, slens, sdispls, stypes, &t);
  CheckType(t, "struct");
  MPI_Datatype inner;
  MPI_Type_vector(2, 1, 3, MPI_INT, &inner);
  MPI_Type_create_resized(inner, -4, 40, &t);
  CheckType(t, "resized with a negative lb");
  MPI_Type_dup(inner, &t);
  CheckType(t, "dup");
  MPI_Type_contiguous(3, inner, &t);
  CheckType(t, "contiguous of a vector");
  MPI_Type_free(&inner);
  MPI_Type_contiguous(1, MPI_DOUBLE_INT, &t);
  CheckType(t, "a predefined pair type");
}

TEST_CASE("Flatten matches MPI for random subarrays and darrays", "[mpiio]") {
  EnsureMpi();
  std::mt19937 random(20261127);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(random); };
  for (int run = 0; run < 200; ++run) {
    const int ndims = pick(1, 3);
    const int order = pick(0, 1) ? MPI_ORDER_C : MPI_ORDER_FORTRAN;
    std::vector<int> sizes(ndims), subsizes(ndims), starts(ndims);
    for (int d = 0; d < ndims; ++d) {
      sizes[d] = pick(1, 9);
      subsizes[d] = pick(1, sizes[d]);
      starts[d] = pick(0, sizes[d] - subsizes[d]);
    }
    MPI_Datatype element = pick(0, 1) ? MPI_INT : MPI_CHAR;
    MPI_Datatype t;
    MPI_Type_create_subarray(ndims, sizes.data(), subsizes.data(), starts.data(), order, element,
                             &t);
    CheckType(t, "subarray run " + std::to_string(run));

    // darray: a process grid over the dimensions, every distribution.
    std::vector<int> gsizes(ndims), distribs(ndims), dargs(ndims), psizes(ndims);
    int procs = 1;
    for (int d = 0; d < ndims; ++d) {
      gsizes[d] = pick(1, 12);
      psizes[d] = pick(1, 3);
      const int kind = pick(0, 2);
      if (kind == 0) {
        distribs[d] = MPI_DISTRIBUTE_NONE;
        psizes[d] = 1;
        dargs[d] = MPI_DISTRIBUTE_DFLT_DARG;
      } else if (kind == 1) {
        distribs[d] = MPI_DISTRIBUTE_BLOCK;
        const int fit = (gsizes[d] + psizes[d] - 1) / psizes[d];
        dargs[d] = pick(0, 1) ? MPI_DISTRIBUTE_DFLT_DARG : fit + pick(0, 2);
      } else {
        distribs[d] = MPI_DISTRIBUTE_CYCLIC;
        dargs[d] = pick(0, 1) ? MPI_DISTRIBUTE_DFLT_DARG : pick(1, 3);
      }
      procs *= psizes[d];
    }
    const int rank = pick(0, procs - 1);
    MPI_Type_create_darray(procs, rank, ndims, gsizes.data(), distribs.data(), dargs.data(),
                           psizes.data(), order, element, &t);
    CheckType(t, "darray run " + std::to_string(run) + " rank " + std::to_string(rank) + "/" +
                     std::to_string(procs));
  }
}
