#!/usr/bin/python3
"""mpi4py_subarray.py PATH_PREFIX: collective MPI-IO through mpi4py on a subarray view.

Every rank owns a block of a 2-d global array of int32 (a Dims_create grid), sets a view with
Create_subarray, writes its block with Write_all, reads its neighbour's block back with
Read_all through the neighbour's view, and rank 0 reopens the file alone and hashes it whole.
Rank 0 prints one line per observation (in rank order), so the output of a run on a local
directory and of a run through the ConvergeFS adapter (PATH_PREFIX cvfs:/dir) can be compared.
Run with 4 ranks (any count works).
"""
import hashlib
import sys

import numpy as np
from mpi4py import MPI


def sha(buf):
    return hashlib.sha256(memoryview(buf).cast("B")).hexdigest()[:16]


def block(rank, dims, gsizes):
    row, col = divmod(rank, dims[1])
    sizes, starts = [], []
    for d, c in zip(range(2), (row, col)):
        base, extra = divmod(gsizes[d], dims[d])
        sizes.append(base + (1 if c < extra else 0))
        starts.append(c * base + min(c, extra))
    return sizes, starts


def main():
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    path = sys.argv[1] + "/mpi4py_subarray.dat"
    lines = []
    dims = MPI.Compute_dims(size, 2)
    gsizes = [4 * dims[0] + 1, 6 * dims[1] + 3]

    def filetype_of(r):
        sizes, starts = block(r, dims, gsizes)
        t = MPI.INT32_T.Create_subarray(gsizes, sizes, starts, order=MPI.ORDER_C)
        t.Commit()
        return t, sizes

    if rank == 0:
        try:
            MPI.File.Delete(path)
        except MPI.Exception:
            pass
    comm.Barrier()

    mine, sizes = filetype_of(rank)
    data = (np.arange(sizes[0] * sizes[1], dtype=np.int32) * 7919 + rank * 1000003 + 17).reshape(
        sizes)
    fh = MPI.File.Open(comm, path, MPI.MODE_CREATE | MPI.MODE_RDWR)
    fh.Set_view(8, MPI.INT32_T, mine)
    status = MPI.Status()
    fh.Write_all(data, status=status)
    lines.append("r%d write_all count=%d sha=%s" % (rank, status.Get_count(MPI.INT32_T), sha(data)))
    lines.append("r%d position=%d byte=%d" % (rank, fh.Get_position(),
                                               fh.Get_byte_offset(fh.Get_position())))
    fh.Sync()
    comm.Barrier()
    fh.Sync()

    peer = (rank + 1) % size
    theirs, psizes = filetype_of(peer)
    fh.Set_view(8, MPI.INT32_T, theirs)
    back = np.zeros(psizes, dtype=np.int32)
    fh.Read_all(back, status=status)
    expect = (np.arange(psizes[0] * psizes[1], dtype=np.int32) * 7919 + peer * 1000003 +
              17).reshape(psizes)
    lines.append("r%d read_all peer=%d count=%d sha=%s equal=%d" %
                 (rank, peer, status.Get_count(MPI.INT32_T), sha(back),
                  int(np.array_equal(back, expect))))
    # The whole array through a plain view, collectively (every rank reads it all).
    fh.Set_view(8, MPI.INT32_T, MPI.INT32_T)
    whole = np.zeros(gsizes, dtype=np.int32)
    fh.Read_at_all(0, whole, status=status)
    lines.append("r%d read_at_all whole count=%d sha=%s" %
                 (rank, status.Get_count(MPI.INT32_T), sha(whole)))
    fh.Close()
    theirs.Free()
    mine.Free()

    gathered = comm.gather(lines, root=0)
    if rank == 0:
        for rank_lines in gathered:
            for line in rank_lines:
                print("mpi4py_subarray " + line)
        fh = MPI.File.Open(MPI.COMM_SELF, path, MPI.MODE_RDONLY)
        n = fh.Get_size()
        content = bytearray(n)
        fh.Read_at(0, content, status=status)
        fh.Close()
        print("mpi4py_subarray file size=%d read=%d sha=%s" %
              (n, status.Get_count(MPI.BYTE), sha(content)))
        sys.stdout.flush()
    comm.Barrier()


if __name__ == "__main__":
    main()
