/* mpiio_bench_rank: the MPI side of mpiio_bench. N ranks write one shared file, then read
 * it back and verify it, in one access pattern:
 *   interleaved: rank r owns blocks r, r + N, r + 2N, ... (a strided file view, one call)
 *   segmented:   rank r owns one contiguous segment, written block by block (one call each)
 * through independent (write/write_at) or collective (write_all/write_at_all) calls.
 *
 *   mpirun -np N mpiio_bench_rank FILE PATTERN MODE BLOCK_BYTES BLOCKS_PER_RANK [CB_NODES]
 *
 * Rank 0 prints one line: "write_MBps=... read_MBps=... verified=yes|no" (the slowest rank's
 * time from a barrier to a barrier, open and close included). Exit 1 when a check fails. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Fill(char* buf, long long bytes, long long first_block, long long block, int stride,
                 long long block_bytes) {
  /* Every 8 bytes hold the file offset they belong at, so misplaced data shows. */
  for (long long b = 0; b < bytes / block_bytes; ++b) {
    const long long file_block = first_block + b * stride;
    for (long long i = 0; i < block_bytes; i += 8) {
      long long v = file_block * block_bytes + i;
      memcpy(buf + b * block_bytes + i, &v, 8);
    }
  }
  (void)block;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 6) {
    if (rank == 0) {
      fprintf(stderr,
              "usage: mpiio_bench_rank FILE interleaved|segmented independent|collective "
              "BLOCK_BYTES BLOCKS_PER_RANK\n");
    }
    MPI_Finalize();
    return 2;
  }
  const char* path = argv[1];
  const int interleaved = strcmp(argv[2], "interleaved") == 0;
  const int collective = strcmp(argv[3], "collective") == 0;
  const long long block = atoll(argv[4]);
  const long long blocks = atoll(argv[5]);
  if (block <= 0 || block % 8 != 0 || blocks <= 0) {
    if (rank == 0) fprintf(stderr, "mpiio_bench_rank: bad block size or count\n");
    MPI_Finalize();
    return 2;
  }
  const long long bytes = block * blocks;
  const char* cb_nodes = argc > 6 ? argv[6] : NULL; /* the cb_nodes hint, when given */
  char* data = malloc(bytes);
  char* back = malloc(bytes);
  if (interleaved) {
    Fill(data, bytes, rank, block, size, block);
  } else {
    Fill(data, bytes, (long long)rank * blocks, block, 1, block);
  }
  MPI_Datatype filetype = MPI_DATATYPE_NULL;
  if (interleaved) {
    MPI_Type_vector((int)blocks, (int)block, (int)(block * size), MPI_BYTE, &filetype);
    MPI_Type_commit(&filetype);
  }
  int ok = 1;
  double times[2];
  for (int phase = 0; phase < 2; ++phase) {
    const int writing = phase == 0;
    MPI_File fh;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    MPI_Info info = MPI_INFO_NULL;
    if (cb_nodes != NULL) {
      MPI_Info_create(&info);
      MPI_Info_set(info, "cb_nodes", cb_nodes);
    }
    int rc = MPI_File_open(MPI_COMM_WORLD, path,
                           writing ? MPI_MODE_CREATE | MPI_MODE_WRONLY : MPI_MODE_RDONLY, info,
                           &fh);
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
      fprintf(stderr, "mpiio_bench_rank: rank %d cannot open %s (%d)\n", rank, path, rc);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Status status;
    if (interleaved) {
      MPI_File_set_view(fh, (MPI_Offset)rank * block, MPI_BYTE, filetype, "native",
                        MPI_INFO_NULL);
      if (writing) {
        rc = collective ? MPI_File_write_all(fh, data, (int)bytes, MPI_BYTE, &status)
                        : MPI_File_write(fh, data, (int)bytes, MPI_BYTE, &status);
      } else {
        rc = collective ? MPI_File_read_all(fh, back, (int)bytes, MPI_BYTE, &status)
                        : MPI_File_read(fh, back, (int)bytes, MPI_BYTE, &status);
      }
      if (rc != MPI_SUCCESS) ok = 0;
    } else {
      for (long long b = 0; b < blocks && rc == MPI_SUCCESS; ++b) {
        const MPI_Offset at = ((MPI_Offset)rank * blocks + b) * block;
        if (writing) {
          rc = collective ? MPI_File_write_at_all(fh, at, data + b * block, (int)block, MPI_BYTE,
                                                  &status)
                          : MPI_File_write_at(fh, at, data + b * block, (int)block, MPI_BYTE,
                                              &status);
        } else {
          rc = collective
                   ? MPI_File_read_at_all(fh, at, back + b * block, (int)block, MPI_BYTE, &status)
                   : MPI_File_read_at(fh, at, back + b * block, (int)block, MPI_BYTE, &status);
        }
      }
      if (rc != MPI_SUCCESS) ok = 0;
    }
    MPI_File_close(&fh);
    MPI_Barrier(MPI_COMM_WORLD);
    times[phase] = MPI_Wtime() - t0;
  }
  if (memcmp(data, back, bytes) != 0) ok = 0;
  int all_ok = 0;
  MPI_Reduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    const double total = (double)bytes * size / 1e6;
    printf("write_MBps=%.1f read_MBps=%.1f verified=%s\n", total / times[0], total / times[1],
           all_ok ? "yes" : "no");
  }
  if (filetype != MPI_DATATYPE_NULL) MPI_Type_free(&filetype);
  free(data);
  free(back);
  MPI_Finalize();
  return rank == 0 && !all_ok ? 1 : 0;
}
