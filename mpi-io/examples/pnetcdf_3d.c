/* pnetcdf_3d: a PnetCDF program writing and reading one 3-D variable collectively.
 *
 *   mpirun -np N pnetcdf_3d FILE
 *
 * Defines temperature(z, y, x) as doubles, each rank owning a slab of z (put_vara_all),
 * closes, reopens read-only, reads its slab and a second, strided view of the whole
 * variable (every rank its own x columns, get_vara_all) and verifies every value. Rank 0
 * prints "verified" (exit 0) or what differs (exit 1). */
#include <mpi.h>
#include <pnetcdf.h>
#include <stdio.h>
#include <stdlib.h>

enum { kZPerRank = 4, kY = 32, kX = 48 };

static double Value(MPI_Offset z, MPI_Offset y, MPI_Offset x) {
  return z * 10000.0 + y * 100.0 + x;
}

static void Check(int status, const char* what) {
  if (status != NC_NOERR) {
    fprintf(stderr, "pnetcdf_3d: %s: %s\n", what, ncmpi_strerror(status));
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: pnetcdf_3d FILE\n");
    MPI_Finalize();
    return 2;
  }
  const MPI_Offset nz = (MPI_Offset)kZPerRank * size;
  int ncid = 0, dims[3], var = 0;
  Check(ncmpi_create(MPI_COMM_WORLD, argv[1], NC_CLOBBER | NC_64BIT_DATA, MPI_INFO_NULL, &ncid),
        "create");
  Check(ncmpi_def_dim(ncid, "z", nz, &dims[0]), "def_dim z");
  Check(ncmpi_def_dim(ncid, "y", kY, &dims[1]), "def_dim y");
  Check(ncmpi_def_dim(ncid, "x", kX, &dims[2]), "def_dim x");
  Check(ncmpi_def_var(ncid, "temperature", NC_DOUBLE, 3, dims, &var), "def_var");
  Check(ncmpi_put_att_text(ncid, var, "units", 6, "kelvin"), "put_att");
  Check(ncmpi_enddef(ncid), "enddef");
  MPI_Offset start[3] = {(MPI_Offset)kZPerRank * rank, 0, 0};
  MPI_Offset count[3] = {kZPerRank, kY, kX};
  double* slab = malloc(sizeof(double) * kZPerRank * kY * kX);
  for (int z = 0; z < kZPerRank; ++z)
    for (int y = 0; y < kY; ++y)
      for (int x = 0; x < kX; ++x) slab[(z * kY + y) * kX + x] = Value(start[0] + z, y, x);
  Check(ncmpi_put_vara_double_all(ncid, var, start, count, slab), "put_vara_double_all");
  Check(ncmpi_close(ncid), "close");

  long long wrong = 0;
  Check(ncmpi_open(MPI_COMM_WORLD, argv[1], NC_NOWRITE, MPI_INFO_NULL, &ncid), "open");
  Check(ncmpi_inq_varid(ncid, "temperature", &var), "inq_varid");
  for (int i = 0; i < kZPerRank * kY * kX; ++i) slab[i] = -1;
  Check(ncmpi_get_vara_double_all(ncid, var, start, count, slab), "get_vara_double_all");
  for (int z = 0; z < kZPerRank; ++z)
    for (int y = 0; y < kY; ++y)
      for (int x = 0; x < kX; ++x)
        if (slab[(z * kY + y) * kX + x] != Value(start[0] + z, y, x)) ++wrong;
  /* A second view: every z and y, this rank's share of the x columns. */
  const MPI_Offset xs = kX / size, x0 = xs * rank, xn = rank == size - 1 ? kX - x0 : xs;
  MPI_Offset start2[3] = {0, 0, x0}, count2[3] = {nz, kY, xn};
  double* cols = malloc(sizeof(double) * nz * kY * (xn > 0 ? xn : 1));
  Check(ncmpi_get_vara_double_all(ncid, var, start2, count2, cols), "get_vara_double_all x");
  for (MPI_Offset z = 0; z < nz; ++z)
    for (MPI_Offset y = 0; y < kY; ++y)
      for (MPI_Offset x = 0; x < xn; ++x)
        if (cols[(z * kY + y) * xn + x] != Value(z, y, x0 + x)) ++wrong;
  Check(ncmpi_close(ncid), "close");
  long long all = 0;
  MPI_Reduce(&wrong, &all, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    if (all == 0) {
      printf("pnetcdf_3d: %d ranks, temperature(%lld, %d, %d) written and read back: verified\n",
             size, (long long)nz, kY, kX);
    } else {
      printf("pnetcdf_3d: %lld values differ\n", all);
    }
  }
  free(slab);
  free(cols);
  MPI_Finalize();
  return all == 0 ? 0 : 1;
}
