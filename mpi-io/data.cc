// Independent transfers through the view, the file size, and the atomic-mode lock.
#include <sys/stat.h>

#include <thread>

#include "mpi-io/cvfs_file.h"

namespace cvfs::mpiio {
namespace {

// The bytes of `count` x `type` at `buf` as one contiguous run: the buffer itself when
// the type is dense, else a packed copy in *storage.
const char* Packed(const FlatType& mem, const void* buf, int64_t count,
                   std::vector<char>* storage) {
  const char* base = static_cast<const char*>(buf);
  if (mem.dense()) return base + mem.lb;
  storage->resize(static_cast<size_t>(mem.size * count));
  Gather(mem, count, base, storage->data());
  return storage->data();
}

int WriteSegments(CvfsFile* f, const std::vector<Segment>& segments, const char* data,
                  int64_t* bytes) {
  int64_t done = 0;
  for (const Segment& s : segments) {
    int64_t at = 0;
    while (at < s.length) {
      const ssize_t n = cvfs_pwrite(f->fs, f->fd, data + done + at,
                                    static_cast<size_t>(s.length - at), s.offset + at);
      if (n < 0) {
        *bytes = done + at;
        return ErrorClassOf(static_cast<int>(n));
      }
      at += n;
    }
    done += s.length;
  }
  *bytes = done;
  return MPI_SUCCESS;
}

// Reads the segments in order into `data`; stops at the first short read (end of file).
int ReadSegments(CvfsFile* f, const std::vector<Segment>& segments, char* data, int64_t* bytes) {
  int64_t done = 0;
  for (const Segment& s : segments) {
    int64_t at = 0;
    while (at < s.length) {
      const ssize_t n = cvfs_pread(f->fs, f->fd, data + done + at,
                                   static_cast<size_t>(s.length - at), s.offset + at);
      if (n < 0) {
        *bytes = done + at;
        return ErrorClassOf(static_cast<int>(n));
      }
      if (n == 0) {
        *bytes = done + at;
        return MPI_SUCCESS;
      }
      at += n;
    }
    done += s.length;
  }
  *bytes = done;
  return MPI_SUCCESS;
}

}  // namespace

int WriteView(CvfsFile* f, int64_t pos, const void* buf, int64_t count, MPI_Datatype type,
              int64_t* bytes) {
  *bytes = 0;
  if ((f->amode & MPI_MODE_RDONLY) != 0) return MPI_ERR_READ_ONLY;
  if (count < 0) return MPI_ERR_COUNT;
  FlatType mem;
  if (int rc = Flatten(type, &mem); rc != MPI_SUCCESS) return rc;
  const int64_t total = mem.size * count;
  if (total == 0) return MPI_SUCCESS;
  std::vector<char> storage;
  const char* data = Packed(mem, buf, count, &storage);
  std::vector<Segment> segments;
  f->view.Map(pos, total, &segments);
  if (!f->atomic) return WriteSegments(f, segments, data, bytes);
  // Atomic mode: the write and its size are visible to every rank when the lock goes.
  LockFile(f);
  int rc = WriteSegments(f, segments, data, bytes);
  if (rc == MPI_SUCCESS) {
    const int synced = cvfs_fsync(f->fs, f->fd);
    if (synced != 0) rc = ErrorClassOf(synced);
  }
  UnlockFile(f);
  return rc;
}

int ReadView(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
             int64_t* bytes) {
  *bytes = 0;
  if ((f->amode & MPI_MODE_WRONLY) != 0) return MPI_ERR_ACCESS;
  if (count < 0) return MPI_ERR_COUNT;
  FlatType mem;
  if (int rc = Flatten(type, &mem); rc != MPI_SUCCESS) return rc;
  const int64_t total = mem.size * count;
  if (total == 0) return MPI_SUCCESS;
  std::vector<Segment> segments;
  f->view.Map(pos, total, &segments);
  char* base = static_cast<char*>(buf);
  std::vector<char> storage;
  char* data = nullptr;
  if (mem.dense()) {
    data = base + mem.lb;
  } else {
    storage.resize(static_cast<size_t>(total));
    data = storage.data();
  }
  int rc = MPI_SUCCESS;
  if (f->atomic) {
    LockFile(f);
    const int synced = cvfs_fsync(f->fs, f->fd);  // sees every size committed before
    rc = synced == 0 ? ReadSegments(f, segments, data, bytes) : ErrorClassOf(synced);
    UnlockFile(f);
  } else {
    rc = ReadSegments(f, segments, data, bytes);
  }
  if (!mem.dense()) Scatter(mem, count, data, *bytes, base);
  return rc;
}

int FileSize(CvfsFile* f, MPI_Offset* size) {
  struct stat st;
  const int rc = cvfs_fstat(f->fs, f->fd, &st);
  if (rc != 0) return ErrorClassOf(rc);
  *size = st.st_size;
  return MPI_SUCCESS;
}

namespace {

MPI_Offset FetchAdd(CvfsFile* f, int slot, MPI_Offset add, MPI_Op op) {
  MPI_Offset old = 0;
  MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, f->shared_win);
  MPI_Fetch_and_op(&add, &old, MPI_OFFSET, 0, slot, op, f->shared_win);
  MPI_Win_unlock(0, f->shared_win);
  return old;
}

}  // namespace

void LockFile(CvfsFile* f) {
  // A ticket lock in rank 0's window: slot 1 hands out tickets, slot 2 is the ticket being
  // served (fetch-and-add only: Open MPI 4.1's compare-and-swap over shared memory crashes).
  const MPI_Offset ticket = FetchAdd(f, 1, 1, MPI_SUM);
  int backoff_us = 1;
  while (FetchAdd(f, 2, 0, MPI_NO_OP) != ticket) {
    std::this_thread::sleep_for(std::chrono::microseconds(backoff_us));
    backoff_us = std::min(backoff_us * 2, 1000);
  }
}

void UnlockFile(CvfsFile* f) { FetchAdd(f, 2, 1, MPI_SUM); }

}  // namespace cvfs::mpiio
