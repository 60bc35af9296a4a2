/* hdf5_parallel: a parallel HDF5 program as scientists write them (the MPI-IO file driver,
 * collective transfers), used by scripts/demo as its main job and by the mpiio tests.
 *
 *   mpirun -np N hdf5_parallel FILE [MiB-per-rank [FILE2 ...]]
 *
 * Creates FILE, writes two datasets collectively (each rank a block of rows): "contiguous"
 * (float64) and "chunked" (int32, chunks of 1/4 of a rank's rows), closes, reopens read-only,
 * reads every rank's rows back collectively and verifies every value. Rank 0 prints the
 * write and read bandwidth and "verified" (exit 0), or what differs (exit 1). More files:
 * the same on each in turn, in the same job (e.g. one on ConvergeFS, one local). */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kCols = 1024 };

static double ValueF(long long row, int col) { return (double)row * kCols + col + 0.5; }
static int ValueI(long long row, int col) { return (int)((row * 7919 + col * 31) & 0x7fffffff); }

static int Fail(const char* what) {
  fprintf(stderr, "hdf5_parallel: %s failed\n", what);
  MPI_Abort(MPI_COMM_WORLD, 2);
  return 2;
}

static int RunFile(const char* name, double mib);

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: hdf5_parallel FILE [MiB-per-rank [FILE2 ...]]\n");
    MPI_Finalize();
    return 2;
  }
  const double mib = argc > 2 ? atof(argv[2]) : 8;
  int rc = RunFile(argv[1], mib);
  for (int i = 3; i < argc && rc == 0; ++i) rc = RunFile(argv[i], mib);
  MPI_Finalize();
  return rc;
}

static int RunFile(const char* name, double mib) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* Rows per rank: half the MiB in each dataset (8 + 4 bytes a value, rounded to 4 rows). */
  long long rows = (long long)(mib * 1048576 / (12.0 * kCols));
  rows = rows < 4 ? 4 : rows / 4 * 4;
  const hsize_t dims[2] = {(hsize_t)(rows * size), kCols};
  const hsize_t chunk[2] = {(hsize_t)(rows / 4), kCols};
  const hsize_t start[2] = {(hsize_t)(rows * rank), 0};
  const hsize_t count[2] = {(hsize_t)rows, kCols};
  double* f64 = malloc(sizeof(double) * rows * kCols);
  int* i32 = malloc(sizeof(int) * rows * kCols);
  for (long long r = 0; r < rows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      f64[r * kCols + c] = ValueF(rows * rank + r, c);
      i32[r * kCols + c] = ValueI(rows * rank + r, c);
    }
  }
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  hid_t file = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (file < 0) return Fail("H5Fcreate");
  hid_t space = H5Screate_simple(2, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  hid_t contiguous = H5Dcreate2(file, "contiguous", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT);
  hid_t chunked =
      H5Dcreate2(file, "chunked", H5T_NATIVE_INT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (contiguous < 0 || chunked < 0) return Fail("H5Dcreate2");
  hid_t mem = H5Screate_simple(2, count, NULL);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
  if (H5Dwrite(contiguous, H5T_NATIVE_DOUBLE, mem, space, dxpl, f64) < 0) return Fail("H5Dwrite");
  if (H5Dwrite(chunked, H5T_NATIVE_INT, mem, space, dxpl, i32) < 0) return Fail("H5Dwrite");
  H5Dclose(contiguous);
  H5Dclose(chunked);
  H5Pclose(dcpl);
  H5Fclose(file);
  MPI_Barrier(MPI_COMM_WORLD);
  const double write_s = MPI_Wtime() - t0;

  memset(f64, 0, sizeof(double) * rows * kCols);
  memset(i32, 0, sizeof(int) * rows * kCols);
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();
  file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
  if (file < 0) return Fail("H5Fopen");
  contiguous = H5Dopen2(file, "contiguous", H5P_DEFAULT);
  chunked = H5Dopen2(file, "chunked", H5P_DEFAULT);
  if (contiguous < 0 || chunked < 0) return Fail("H5Dopen2");
  if (H5Dread(contiguous, H5T_NATIVE_DOUBLE, mem, space, dxpl, f64) < 0) return Fail("H5Dread");
  if (H5Dread(chunked, H5T_NATIVE_INT, mem, space, dxpl, i32) < 0) return Fail("H5Dread");
  H5Dclose(contiguous);
  H5Dclose(chunked);
  H5Fclose(file);
  MPI_Barrier(MPI_COMM_WORLD);
  const double read_s = MPI_Wtime() - t0;

  long long wrong = 0;
  for (long long r = 0; r < rows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      if (f64[r * kCols + c] != ValueF(rows * rank + r, c)) ++wrong;
      if (i32[r * kCols + c] != ValueI(rows * rank + r, c)) ++wrong;
    }
  }
  long long all_wrong = 0;
  MPI_Reduce(&wrong, &all_wrong, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    const double bytes = 12.0 * rows * kCols * size;
    printf(
        "hdf5_parallel: %s: %d ranks, %.1f MiB in 2 datasets (contiguous float64, chunked "
        "int32)\n",
        name, size, bytes / 1048576);
    printf("hdf5_parallel: write %.1f MiB/s, read %.1f MiB/s (open, collective transfer, close)\n",
           bytes / 1048576 / write_s, bytes / 1048576 / read_s);
    if (all_wrong == 0) {
      printf("hdf5_parallel: verified every value\n");
    } else {
      printf("hdf5_parallel: %lld values differ\n", all_wrong);
    }
  }
  H5Sclose(mem);
  H5Sclose(space);
  H5Pclose(dxpl);
  H5Pclose(fapl);
  free(f64);
  free(i32);
  long long verdict = all_wrong;
  MPI_Bcast(&verdict, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  return verdict == 0 ? 0 : 1;
}
