// The intercepted MPI-IO API (MPI-3.1 chapter 13): files the adapter serves are handled
// here, every other call goes to PMPI_File_* untouched. Exported with C linkage; the
// library is linked before libmpi or LD_PRELOADed.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "mpi-io/cvfs_file.h"

using namespace cvfs::mpiio;  // NOLINT: the extern "C" entry points below

namespace {

constexpr int kKnownModes = MPI_MODE_RDONLY | MPI_MODE_RDWR | MPI_MODE_WRONLY | MPI_MODE_CREATE |
                            MPI_MODE_EXCL | MPI_MODE_DELETE_ON_CLOSE | MPI_MODE_UNIQUE_OPEN |
                            MPI_MODE_SEQUENTIAL | MPI_MODE_APPEND;

int CheckAmode(int amode) {
  if ((amode & ~kKnownModes) != 0) return MPI_ERR_AMODE;
  const int access = amode & (MPI_MODE_RDONLY | MPI_MODE_RDWR | MPI_MODE_WRONLY);
  if (access != MPI_MODE_RDONLY && access != MPI_MODE_RDWR && access != MPI_MODE_WRONLY) {
    return MPI_ERR_AMODE;
  }
  if ((amode & MPI_MODE_RDONLY) && (amode & (MPI_MODE_CREATE | MPI_MODE_EXCL))) {
    return MPI_ERR_AMODE;
  }
  if ((amode & MPI_MODE_RDWR) && (amode & MPI_MODE_SEQUENTIAL)) return MPI_ERR_AMODE;
  return MPI_SUCCESS;
}

int OpenFlags(int amode) {
  if (amode & MPI_MODE_RDONLY) return O_RDONLY;
  if (amode & MPI_MODE_WRONLY) return O_WRONLY;
  return O_RDWR;
}

// Agrees on an error across the communicator: the first failing rank's class.
int Agree(MPI_Comm comm, int rc) {
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, comm);
  return worst;
}

bool IsNamed(MPI_Datatype type) {
  int ni = 0, na = 0, nd = 0, combiner = 0;
  MPI_Type_get_envelope(type, &ni, &na, &nd, &combiner);
  return combiner == MPI_COMBINER_NAMED;
}

MPI_Datatype Keep(MPI_Datatype type) {
  if (IsNamed(type)) return type;
  MPI_Datatype copy = MPI_DATATYPE_NULL;
  MPI_Type_dup(type, &copy);
  return copy;
}

void Drop(MPI_Datatype* type) {
  if (*type != MPI_DATATYPE_NULL && !IsNamed(*type)) MPI_Type_free(type);
  *type = MPI_DATATYPE_NULL;
}

int64_t ParseSize(const char* text, int64_t fallback) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  return end != text && v > 0 ? v : fallback;
}

// Reads the hints the adapter honours from `info` into f->hints.
void ApplyHints(CvfsFile* f, MPI_Info info) {
  if (info == MPI_INFO_NULL) return;
  char value[MPI_MAX_INFO_VAL + 1];
  int flag = 0;
  auto get = [&](const char* key) {
    MPI_Info_get(info, key, MPI_MAX_INFO_VAL, value, &flag);
    return flag != 0;
  };
  if (get("cb_nodes")) f->hints.cb_nodes = static_cast<int>(ParseSize(value, 0));
  if (get("cb_buffer_size")) f->hints.cb_buffer_size = ParseSize(value, f->hints.cb_buffer_size);
  if (get("romio_cb_write")) f->hints.cb_write = value;
  if (get("romio_cb_read")) f->hints.cb_read = value;
  if (get("striping_unit")) f->hints.striping_unit = ParseSize(value, f->hints.striping_unit);
  if (f->info == MPI_INFO_NULL) MPI_Info_create(&f->info);
  int nkeys = 0;
  MPI_Info_get_nkeys(info, &nkeys);
  for (int i = 0; i < nkeys; ++i) {
    char key[MPI_MAX_INFO_KEY + 1];
    MPI_Info_get_nthkey(info, i, key);
    if (get(key)) MPI_Info_set(f->info, key, value);
  }
}

// Aggregators: the first rank of each node (cb_nodes of them when set, spread evenly).
void ChooseAggregators(CvfsFile* f) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(f->comm, MPI_COMM_TYPE_SHARED, f->rank, MPI_INFO_NULL, &node);
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_free(&node);
  const int leader = node_rank == 0 ? 1 : 0;
  std::vector<int> leaders(f->size);
  MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, f->comm);
  std::vector<int> chosen;
  for (int r = 0; r < f->size; ++r) {
    if (leaders[r]) chosen.push_back(r);
  }
  const int want = f->hints.cb_nodes;
  if (want > 0 && want != static_cast<int>(chosen.size())) {
    const int n = std::min(want, f->size);
    if (n < static_cast<int>(chosen.size())) {
      chosen.resize(n);
    } else {
      chosen.clear();
      for (int i = 0; i < n; ++i) chosen.push_back(static_cast<int>(int64_t{i} * f->size / n));
    }
  }
  f->aggregators = chosen;
  f->hints.cb_nodes = static_cast<int>(chosen.size());
}

void FreeFile(CvfsFile* f) {
  if (f->errhandler != MPI_ERRHANDLER_NULL) MPI_Errhandler_free(&f->errhandler);
  if (f->shared_win != MPI_WIN_NULL) MPI_Win_free(&f->shared_win);
  if (f->info != MPI_INFO_NULL) MPI_Info_free(&f->info);
  Drop(&f->view.etype);
  Drop(&f->view.filetype);
  if (f->comm != MPI_COMM_NULL) MPI_Comm_free(&f->comm);
  delete f;
}

// --- the shared file pointer (slot 0 of rank 0's window) ---
MPI_Offset SharedFetchAdd(CvfsFile* f, MPI_Offset add, MPI_Op op = MPI_SUM) {
  MPI_Offset old = 0;
  MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, f->shared_win);
  MPI_Fetch_and_op(&add, &old, MPI_OFFSET, 0, 0, op, f->shared_win);
  MPI_Win_unlock(0, f->shared_win);
  return old;
}

// --- completed requests for the non-blocking calls ---
struct Completed {
  int64_t bytes;
};
int QueryCompleted(void* extra, MPI_Status* status) {
  SetStatusBytes(status, static_cast<Completed*>(extra)->bytes);
  status->MPI_ERROR = MPI_SUCCESS;
  return MPI_SUCCESS;
}
int FreeCompleted(void* extra) {
  delete static_cast<Completed*>(extra);
  return MPI_SUCCESS;
}
int CancelCompleted(void*, int) { return MPI_SUCCESS; }
int CompletedRequest(int64_t bytes, MPI_Request* request) {
  int rc = MPI_Grequest_start(QueryCompleted, FreeCompleted, CancelCompleted, new Completed{bytes},
                              request);
  if (rc == MPI_SUCCESS) rc = MPI_Grequest_complete(*request);
  return rc;
}

int64_t TypeSize(MPI_Datatype type) {
  MPI_Count size = 0;
  MPI_Type_size_x(type, &size);
  return size;
}

// --- the common shapes of the data calls ---
using Transfer = int (*)(CvfsFile*, int64_t, void*, int64_t, MPI_Datatype, int64_t*);

int WriteInd(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
             int64_t* bytes) {
  return WriteView(f, pos, buf, count, type, bytes);
}
int WriteAll(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
             int64_t* bytes) {
  return WriteViewAll(f, pos, buf, count, type, bytes);
}

int AtOffset(MPI_File fh, MPI_Offset offset, void* buf, int count, MPI_Datatype type,
             MPI_Status* status, Transfer transfer, bool collective) {
  CvfsFile* f = Ours(fh);
  int64_t bytes = 0;
  int rc = offset < 0 ? MPI_ERR_ARG : MPI_SUCCESS;
  if ((f->amode & MPI_MODE_SEQUENTIAL) != 0) rc = MPI_ERR_UNSUPPORTED_OPERATION;
  if (rc != MPI_SUCCESS && !collective) return Raise(f, rc);
  // A collective call with bad arguments still takes part (with nothing to move).
  if (rc == MPI_SUCCESS || collective) {
    const int t = transfer(f, rc == MPI_SUCCESS ? offset * f->view.etype_size : 0, buf,
                           rc == MPI_SUCCESS ? count : 0, type, &bytes);
    if (rc == MPI_SUCCESS) rc = t;
  }
  SetStatusBytes(status, bytes);
  return Raise(f, rc);
}

int AtPointer(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status,
              Transfer transfer) {
  CvfsFile* f = Ours(fh);
  int64_t bytes = 0;
  const int rc = transfer(f, f->pointer * f->view.etype_size, buf, count, type, &bytes);
  f->pointer += bytes / f->view.etype_size;
  SetStatusBytes(status, bytes);
  return Raise(f, rc);
}

int Shared(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status,
           Transfer transfer) {
  CvfsFile* f = Ours(fh);
  const int64_t etypes = TypeSize(type) * count / f->view.etype_size;
  const MPI_Offset at = SharedFetchAdd(f, etypes);
  int64_t bytes = 0;
  const int rc = transfer(f, at * f->view.etype_size, buf, count, type, &bytes);
  SetStatusBytes(status, bytes);
  return Raise(f, rc);
}

int Ordered(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status,
            Transfer transfer) {
  CvfsFile* f = Ours(fh);
  const MPI_Offset mine = TypeSize(type) * count / f->view.etype_size;
  MPI_Offset before = 0, total = 0;
  MPI_Exscan(&mine, &before, 1, MPI_OFFSET, MPI_SUM, f->comm);
  if (f->rank == 0) before = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_OFFSET, MPI_SUM, f->comm);
  MPI_Offset base = 0;
  if (f->rank == 0) base = SharedFetchAdd(f, total);
  MPI_Bcast(&base, 1, MPI_OFFSET, 0, f->comm);
  int64_t bytes = 0;
  const int rc = transfer(f, (base + before) * f->view.etype_size, buf, count, type, &bytes);
  SetStatusBytes(status, bytes);
  return Raise(f, rc);
}

int ReadIndT(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
             int64_t* bytes) {
  return ReadView(f, pos, buf, count, type, bytes);
}
int ReadAllT(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
             int64_t* bytes) {
  return ReadViewAll(f, pos, buf, count, type, bytes);
}

// Split collectives: the begin does the whole transfer; the end reports it.
int Begin(CvfsFile* f, bool read, int rc, int64_t bytes) {
  if (f->split_bytes) return Raise(f, MPI_ERR_IO);  // one split collective at a time
  f->split_bytes = bytes;
  f->split_is_read = read;
  return Raise(f, rc);
}
int End(MPI_File fh, bool read, MPI_Status* status) {
  CvfsFile* f = Ours(fh);
  if (!f->split_bytes || f->split_is_read != read) return Raise(f, MPI_ERR_IO);
  SetStatusBytes(status, *f->split_bytes);
  f->split_bytes.reset();
  return MPI_SUCCESS;
}

int Status_Bytes(MPI_Status* status) {
  MPI_Count n = 0;
  MPI_Get_elements_x(status, MPI_BYTE, &n);
  return static_cast<int>(n);
}

// $CVFS_MPIIO_LOG=1: rank 0 of each open prints one line to stderr.
bool LogEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("CVFS_MPIIO_LOG");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

// Fortran handles of our files: indices far above Open MPI's own.
constexpr MPI_Fint kFirstFortranHandle = 1 << 24;
std::mutex g_fortran_mu;
std::vector<CvfsFile*> g_fortran;

}  // namespace

extern "C" {

int MPI_File_open(MPI_Comm comm, const char* filename, int amode, MPI_Info info, MPI_File* fh) {
  const auto path = CvfsPath(filename);
  if (!path) return PMPI_File_open(comm, filename, amode, info, fh);
  *fh = MPI_FILE_NULL;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int rc = CheckAmode(amode);
  int mount_error = MPI_SUCCESS;
  cvfs_fs* fs = rc == MPI_SUCCESS ? Mount(&mount_error) : nullptr;
  if (rc == MPI_SUCCESS && fs == nullptr) rc = mount_error;
  rc = Agree(comm, rc);
  if (rc != MPI_SUCCESS) return Raise(nullptr, rc);
  // Rank 0 creates (exclusively when asked); then everyone opens the file that exists.
  int fd = -1;
  if (rank == 0) {
    int flags = OpenFlags(amode);
    if (amode & MPI_MODE_CREATE) flags |= O_CREAT;
    if (amode & MPI_MODE_EXCL) flags |= O_EXCL;
    const mode_t mask = ::umask(0);
    ::umask(mask);
    fd = cvfs_open(fs, path->c_str(), flags, 0666 & ~mask);
    rc = fd < 0 ? ErrorClassOf(fd) : MPI_SUCCESS;
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != MPI_SUCCESS) return Raise(nullptr, rc);
  if (rank != 0) {
    fd = cvfs_open(fs, path->c_str(), OpenFlags(amode), 0);
    rc = fd < 0 ? ErrorClassOf(fd) : MPI_SUCCESS;
  }
  rc = Agree(comm, rc);
  if (rc != MPI_SUCCESS) {
    if (fd >= 0) cvfs_close(fs, fd);
    return Raise(nullptr, rc);
  }
  auto* f = new CvfsFile;
  MPI_Comm_dup(comm, &f->comm);
  f->rank = rank;
  f->size = size;
  f->fs = fs;
  f->fd = fd;
  f->path = *path;
  f->name = filename;
  f->amode = amode;
  PMPI_File_get_errhandler(MPI_FILE_NULL, &f->errhandler);
  ApplyHints(f, info);
  ChooseAggregators(f);
  f->view.SetFiletype(FlatType{{{0, 1}}, 1, 0, 1});
  // Rank 0's window: the shared file pointer and the atomic-mode ticket lock.
  MPI_Win_allocate(rank == 0 ? 3 * sizeof(MPI_Offset) : 0, sizeof(MPI_Offset), MPI_INFO_NULL,
                   f->comm, &f->shared_base, &f->shared_win);
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, f->shared_win);
    for (int i = 0; i < 3; ++i) f->shared_base[i] = 0;
    MPI_Win_unlock(0, f->shared_win);
  }
  MPI_Barrier(f->comm);  // the window is initialized before anyone uses it
  if (amode & MPI_MODE_APPEND) {
    MPI_Offset end = 0;
    FileSize(f, &end);
    f->pointer = end;
    if (rank == 0) SharedFetchAdd(f, end, MPI_REPLACE);
  }
  MPI_Barrier(f->comm);
  *fh = Register(f);
  if (rank == 0 && LogEnabled()) {
    std::fprintf(stderr, "cvfs mpiio.open name=%s path=%s ranks=%d aggregators=%d amode=0x%x\n",
                 filename, path->c_str(), size, static_cast<int>(f->aggregators.size()), amode);
  }
  return MPI_SUCCESS;
}

int MPI_File_close(MPI_File* fh) {
  CvfsFile* f = Ours(*fh);
  if (f == nullptr) return PMPI_File_close(fh);
  int rc = cvfs_close(f->fs, f->fd);
  rc = rc == 0 ? MPI_SUCCESS : ErrorClassOf(rc);
  MPI_Barrier(f->comm);  // every rank's writes are committed before the delete
  if ((f->amode & MPI_MODE_DELETE_ON_CLOSE) && f->rank == 0) {
    const int gone = cvfs_unlink(f->fs, f->path.c_str());
    if (gone != 0 && rc == MPI_SUCCESS) rc = ErrorClassOf(gone);
  }
  MPI_Barrier(f->comm);
  Unregister(f);
  const int result = rc == MPI_SUCCESS ? rc : Raise(f, rc);
  FreeFile(f);
  *fh = MPI_FILE_NULL;
  return result;
}

int MPI_File_delete(const char* filename, MPI_Info info) {
  const auto path = CvfsPath(filename);
  if (!path) return PMPI_File_delete(filename, info);
  int error = MPI_SUCCESS;
  cvfs_fs* fs = Mount(&error);
  if (fs == nullptr) return Raise(nullptr, error);
  const int rc = cvfs_unlink(fs, path->c_str());
  return rc == 0 ? MPI_SUCCESS : Raise(nullptr, ErrorClassOf(rc));
}

int MPI_File_set_size(MPI_File fh, MPI_Offset size) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_set_size(fh, size);
  int rc = size < 0 ? MPI_ERR_ARG : MPI_SUCCESS;
  if (rc == MPI_SUCCESS && (f->amode & MPI_MODE_RDONLY)) rc = MPI_ERR_READ_ONLY;
  if (rc == MPI_SUCCESS && cvfs_fsync(f->fs, f->fd) != 0) rc = MPI_ERR_IO;
  rc = Agree(f->comm, rc);
  if (rc != MPI_SUCCESS) return Raise(f, rc);
  // Every rank truncates (the same size, so the order does not matter): each drops what
  // it remembered writing past the new end.
  const int t = cvfs_ftruncate(f->fs, f->fd, size);
  rc = Agree(f->comm, t == 0 ? MPI_SUCCESS : ErrorClassOf(t));
  return Raise(f, rc);
}

int MPI_File_preallocate(MPI_File fh, MPI_Offset size) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_preallocate(fh, size);
  int rc = size < 0 ? MPI_ERR_ARG : MPI_SUCCESS;
  if (rc == MPI_SUCCESS && (f->amode & MPI_MODE_RDONLY)) rc = MPI_ERR_READ_ONLY;
  if (rc == MPI_SUCCESS && cvfs_fsync(f->fs, f->fd) != 0) rc = MPI_ERR_IO;
  rc = Agree(f->comm, rc);
  if (rc != MPI_SUCCESS) return Raise(f, rc);
  if (f->rank == 0) {
    MPI_Offset now = 0;
    rc = FileSize(f, &now);
    if (rc == MPI_SUCCESS && now < size) {
      const int t = cvfs_ftruncate(f->fs, f->fd, size);
      if (t != 0) rc = ErrorClassOf(t);
    }
  }
  rc = Agree(f->comm, rc);
  if (rc == MPI_SUCCESS && cvfs_fsync(f->fs, f->fd) != 0) rc = MPI_ERR_IO;  // see the new size
  return Raise(f, rc);
}

int MPI_File_get_size(MPI_File fh, MPI_Offset* size) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_size(fh, size);
  return Raise(f, FileSize(f, size));
}

int MPI_File_get_group(MPI_File fh, MPI_Group* group) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_group(fh, group);
  return MPI_Comm_group(f->comm, group);
}

int MPI_File_get_amode(MPI_File fh, int* amode) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_amode(fh, amode);
  *amode = f->amode;
  return MPI_SUCCESS;
}

int MPI_File_set_info(MPI_File fh, MPI_Info info) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_set_info(fh, info);
  const int cb_nodes = f->hints.cb_nodes;
  ApplyHints(f, info);
  if (f->hints.cb_nodes != cb_nodes) ChooseAggregators(f);
  return MPI_SUCCESS;
}

int MPI_File_get_info(MPI_File fh, MPI_Info* info_used) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_info(fh, info_used);
  if (f->info != MPI_INFO_NULL) {
    MPI_Info_dup(f->info, info_used);
  } else {
    MPI_Info_create(info_used);
  }
  MPI_Info_set(*info_used, "cb_nodes", std::to_string(f->hints.cb_nodes).c_str());
  MPI_Info_set(*info_used, "cb_buffer_size", std::to_string(f->hints.cb_buffer_size).c_str());
  MPI_Info_set(*info_used, "romio_cb_write", f->hints.cb_write.c_str());
  MPI_Info_set(*info_used, "romio_cb_read", f->hints.cb_read.c_str());
  MPI_Info_set(*info_used, "striping_unit", std::to_string(f->hints.striping_unit).c_str());
  return MPI_SUCCESS;
}

int MPI_File_set_view(MPI_File fh, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype filetype,
                      const char* datarep, MPI_Info info) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_set_view(fh, disp, etype, filetype, datarep, info);
  int rc = MPI_SUCCESS;
  if (datarep == nullptr || std::strcmp(datarep, "native") != 0) {
    rc = MPI_ERR_UNSUPPORTED_DATAREP;
  }
  if (disp == MPI_DISPLACEMENT_CURRENT) {
    rc = (f->amode & MPI_MODE_SEQUENTIAL) ? MPI_ERR_UNSUPPORTED_OPERATION : MPI_ERR_ARG;
  } else if (disp < 0) {
    rc = MPI_ERR_ARG;
  }
  FlatType etype_flat, file_flat;
  if (rc == MPI_SUCCESS) rc = Flatten(etype, &etype_flat);
  if (rc == MPI_SUCCESS) rc = Flatten(filetype, &file_flat);
  if (rc == MPI_SUCCESS) {
    if (etype_flat.size <= 0 || file_flat.size % etype_flat.size != 0) rc = MPI_ERR_ARG;
    if (!file_flat.monotonic()) rc = MPI_ERR_ARG;
    for (const Block& b : file_flat.blocks) {
      if (b.offset < 0) rc = MPI_ERR_ARG;
    }
  }
  rc = Agree(f->comm, rc);
  if (rc != MPI_SUCCESS) return Raise(f, rc);
  Drop(&f->view.etype);
  Drop(&f->view.filetype);
  f->view.disp = disp;
  f->view.etype = Keep(etype);
  f->view.filetype = Keep(filetype);
  f->view.etype_size = etype_flat.size;
  f->view.SetFiletype(std::move(file_flat));
  f->pointer = 0;
  if (f->rank == 0) SharedFetchAdd(f, 0, MPI_REPLACE);
  ApplyHints(f, info);
  MPI_Barrier(f->comm);
  return MPI_SUCCESS;
}

int MPI_File_get_view(MPI_File fh, MPI_Offset* disp, MPI_Datatype* etype, MPI_Datatype* filetype,
                      char* datarep) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_view(fh, disp, etype, filetype, datarep);
  *disp = f->view.disp;
  *etype = Keep(f->view.etype);
  *filetype = Keep(f->view.filetype);
  std::strcpy(datarep, f->view.datarep.c_str());
  return MPI_SUCCESS;
}

int MPI_File_read_at(MPI_File fh, MPI_Offset offset, void* buf, int count, MPI_Datatype type,
                     MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_at(fh, offset, buf, count, type, status);
  return AtOffset(fh, offset, buf, count, type, status, ReadIndT, false);
}

int MPI_File_read_at_all(MPI_File fh, MPI_Offset offset, void* buf, int count, MPI_Datatype type,
                         MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_at_all(fh, offset, buf, count, type, status);
  return AtOffset(fh, offset, buf, count, type, status, ReadAllT, true);
}

int MPI_File_write_at(MPI_File fh, MPI_Offset offset, const void* buf, int count, MPI_Datatype type,
                      MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_at(fh, offset, buf, count, type, status);
  return AtOffset(fh, offset, const_cast<void*>(buf), count, type, status, WriteInd, false);
}

int MPI_File_write_at_all(MPI_File fh, MPI_Offset offset, const void* buf, int count,
                          MPI_Datatype type, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_at_all(fh, offset, buf, count, type, status);
  return AtOffset(fh, offset, const_cast<void*>(buf), count, type, status, WriteAll, true);
}

int MPI_File_read(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read(fh, buf, count, type, status);
  return AtPointer(fh, buf, count, type, status, ReadIndT);
}

int MPI_File_read_all(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_all(fh, buf, count, type, status);
  return AtPointer(fh, buf, count, type, status, ReadAllT);
}

int MPI_File_write(MPI_File fh, const void* buf, int count, MPI_Datatype type, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write(fh, buf, count, type, status);
  return AtPointer(fh, const_cast<void*>(buf), count, type, status, WriteInd);
}

int MPI_File_write_all(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                       MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_all(fh, buf, count, type, status);
  return AtPointer(fh, const_cast<void*>(buf), count, type, status, WriteAll);
}

// Non-blocking calls complete before they return (MPI allows it): the request they hand
// back is a generalized request that is already complete and reports the byte count.
#define CVFS_NONBLOCKING(call)      \
  MPI_Status status;                \
  const int rc = (call);            \
  if (rc != MPI_SUCCESS) return rc; \
  return CompletedRequest(Status_Bytes(&status), request)

int MPI_File_iread_at(MPI_File fh, MPI_Offset offset, void* buf, int count, MPI_Datatype type,
                      MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iread_at(fh, offset, buf, count, type, request);
  CVFS_NONBLOCKING(AtOffset(fh, offset, buf, count, type, &status, ReadIndT, false));
}

int MPI_File_iwrite_at(MPI_File fh, MPI_Offset offset, const void* buf, int count,
                       MPI_Datatype type, MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iwrite_at(fh, offset, buf, count, type, request);
  CVFS_NONBLOCKING(
      AtOffset(fh, offset, const_cast<void*>(buf), count, type, &status, WriteInd, false));
}

int MPI_File_iread_at_all(MPI_File fh, MPI_Offset offset, void* buf, int count, MPI_Datatype type,
                          MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iread_at_all(fh, offset, buf, count, type, request);
  CVFS_NONBLOCKING(AtOffset(fh, offset, buf, count, type, &status, ReadAllT, true));
}

int MPI_File_iwrite_at_all(MPI_File fh, MPI_Offset offset, const void* buf, int count,
                           MPI_Datatype type, MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iwrite_at_all(fh, offset, buf, count, type, request);
  CVFS_NONBLOCKING(
      AtOffset(fh, offset, const_cast<void*>(buf), count, type, &status, WriteAll, true));
}

int MPI_File_iread(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iread(fh, buf, count, type, request);
  CVFS_NONBLOCKING(AtPointer(fh, buf, count, type, &status, ReadIndT));
}

int MPI_File_iwrite(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                    MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iwrite(fh, buf, count, type, request);
  CVFS_NONBLOCKING(AtPointer(fh, const_cast<void*>(buf), count, type, &status, WriteInd));
}

int MPI_File_iread_all(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iread_all(fh, buf, count, type, request);
  CVFS_NONBLOCKING(AtPointer(fh, buf, count, type, &status, ReadAllT));
}

int MPI_File_iwrite_all(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                        MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iwrite_all(fh, buf, count, type, request);
  CVFS_NONBLOCKING(AtPointer(fh, const_cast<void*>(buf), count, type, &status, WriteAll));
}

int MPI_File_iread_shared(MPI_File fh, void* buf, int count, MPI_Datatype type,
                          MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iread_shared(fh, buf, count, type, request);
  CVFS_NONBLOCKING(Shared(fh, buf, count, type, &status, ReadIndT));
}

int MPI_File_iwrite_shared(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                           MPI_Request* request) {
  if (Ours(fh) == nullptr) return PMPI_File_iwrite_shared(fh, buf, count, type, request);
  CVFS_NONBLOCKING(Shared(fh, const_cast<void*>(buf), count, type, &status, WriteInd));
}

int MPI_File_seek(MPI_File fh, MPI_Offset offset, int whence) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_seek(fh, offset, whence);
  MPI_Offset next = 0;
  if (whence == MPI_SEEK_SET) {
    next = offset;
  } else if (whence == MPI_SEEK_CUR) {
    next = f->pointer + offset;
  } else if (whence == MPI_SEEK_END) {
    MPI_Offset size = 0;
    if (int rc = FileSize(f, &size); rc != MPI_SUCCESS) return Raise(f, rc);
    const int64_t bytes = f->view.ViewBytesBefore(size);
    next = (bytes + f->view.etype_size - 1) / f->view.etype_size + offset;
  } else {
    return Raise(f, MPI_ERR_ARG);
  }
  if (next < 0) return Raise(f, MPI_ERR_ARG);
  f->pointer = next;
  return MPI_SUCCESS;
}

int MPI_File_get_position(MPI_File fh, MPI_Offset* offset) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_position(fh, offset);
  *offset = f->pointer;
  return MPI_SUCCESS;
}

int MPI_File_get_byte_offset(MPI_File fh, MPI_Offset offset, MPI_Offset* disp) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_byte_offset(fh, offset, disp);
  if (offset < 0) return Raise(f, MPI_ERR_ARG);
  std::vector<Segment> where;
  f->view.Map(offset * f->view.etype_size, 1, &where);
  *disp = where.empty() ? f->view.disp : where.front().offset;
  return MPI_SUCCESS;
}

int MPI_File_read_shared(MPI_File fh, void* buf, int count, MPI_Datatype type, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_shared(fh, buf, count, type, status);
  return Shared(fh, buf, count, type, status, ReadIndT);
}

int MPI_File_write_shared(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                          MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_shared(fh, buf, count, type, status);
  return Shared(fh, const_cast<void*>(buf), count, type, status, WriteInd);
}

int MPI_File_read_ordered(MPI_File fh, void* buf, int count, MPI_Datatype type,
                          MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_ordered(fh, buf, count, type, status);
  return Ordered(fh, buf, count, type, status, ReadAllT);
}

int MPI_File_write_ordered(MPI_File fh, const void* buf, int count, MPI_Datatype type,
                           MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_ordered(fh, buf, count, type, status);
  return Ordered(fh, const_cast<void*>(buf), count, type, status, WriteAll);
}

int MPI_File_seek_shared(MPI_File fh, MPI_Offset offset, int whence) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_seek_shared(fh, offset, whence);
  int rc = MPI_SUCCESS;
  if (f->rank == 0) {
    MPI_Offset next = 0;
    if (whence == MPI_SEEK_SET) {
      next = offset;
    } else if (whence == MPI_SEEK_CUR) {
      next = SharedFetchAdd(f, 0) + offset;
    } else if (whence == MPI_SEEK_END) {
      MPI_Offset size = 0;
      rc = FileSize(f, &size);
      const int64_t bytes = f->view.ViewBytesBefore(size);
      next = (bytes + f->view.etype_size - 1) / f->view.etype_size + offset;
    } else {
      rc = MPI_ERR_ARG;
    }
    if (rc == MPI_SUCCESS && next < 0) rc = MPI_ERR_ARG;
    if (rc == MPI_SUCCESS) SharedFetchAdd(f, next, MPI_REPLACE);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, f->comm);
  return Raise(f, rc);
}

int MPI_File_get_position_shared(MPI_File fh, MPI_Offset* offset) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_position_shared(fh, offset);
  *offset = SharedFetchAdd(f, 0, MPI_NO_OP);
  return MPI_SUCCESS;
}

int MPI_File_read_at_all_begin(MPI_File fh, MPI_Offset offset, void* buf, int count,
                               MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_read_at_all_begin(fh, offset, buf, count, type);
  MPI_Status status;
  const int rc = AtOffset(fh, offset, buf, count, type, &status, ReadAllT, true);
  return Begin(f, true, rc, Status_Bytes(&status));
}

int MPI_File_read_at_all_end(MPI_File fh, void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_at_all_end(fh, buf, status);
  return End(fh, true, status);
}

int MPI_File_write_at_all_begin(MPI_File fh, MPI_Offset offset, const void* buf, int count,
                                MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_write_at_all_begin(fh, offset, buf, count, type);
  MPI_Status status;
  const int rc = AtOffset(fh, offset, const_cast<void*>(buf), count, type, &status, WriteAll, true);
  return Begin(f, false, rc, Status_Bytes(&status));
}

int MPI_File_write_at_all_end(MPI_File fh, const void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_at_all_end(fh, buf, status);
  return End(fh, false, status);
}

int MPI_File_read_all_begin(MPI_File fh, void* buf, int count, MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_read_all_begin(fh, buf, count, type);
  MPI_Status status;
  const int rc = AtPointer(fh, buf, count, type, &status, ReadAllT);
  return Begin(f, true, rc, Status_Bytes(&status));
}

int MPI_File_read_all_end(MPI_File fh, void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_all_end(fh, buf, status);
  return End(fh, true, status);
}

int MPI_File_write_all_begin(MPI_File fh, const void* buf, int count, MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_write_all_begin(fh, buf, count, type);
  MPI_Status status;
  const int rc = AtPointer(fh, const_cast<void*>(buf), count, type, &status, WriteAll);
  return Begin(f, false, rc, Status_Bytes(&status));
}

int MPI_File_write_all_end(MPI_File fh, const void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_all_end(fh, buf, status);
  return End(fh, false, status);
}

int MPI_File_read_ordered_begin(MPI_File fh, void* buf, int count, MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_read_ordered_begin(fh, buf, count, type);
  MPI_Status status;
  const int rc = Ordered(fh, buf, count, type, &status, ReadAllT);
  return Begin(f, true, rc, Status_Bytes(&status));
}

int MPI_File_read_ordered_end(MPI_File fh, void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_read_ordered_end(fh, buf, status);
  return End(fh, true, status);
}

int MPI_File_write_ordered_begin(MPI_File fh, const void* buf, int count, MPI_Datatype type) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_write_ordered_begin(fh, buf, count, type);
  MPI_Status status;
  const int rc = Ordered(fh, const_cast<void*>(buf), count, type, &status, WriteAll);
  return Begin(f, false, rc, Status_Bytes(&status));
}

int MPI_File_write_ordered_end(MPI_File fh, const void* buf, MPI_Status* status) {
  if (Ours(fh) == nullptr) return PMPI_File_write_ordered_end(fh, buf, status);
  return End(fh, false, status);
}

int MPI_File_get_type_extent(MPI_File fh, MPI_Datatype type, MPI_Aint* extent) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_type_extent(fh, type, extent);
  MPI_Aint lb = 0;
  return MPI_Type_get_extent(type, &lb, extent);
}

int MPI_File_set_atomicity(MPI_File fh, int flag) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_set_atomicity(fh, flag);
  int all_same = flag != 0 ? 1 : 0, min = 0, max = 0;
  MPI_Allreduce(&all_same, &min, 1, MPI_INT, MPI_MIN, f->comm);
  MPI_Allreduce(&all_same, &max, 1, MPI_INT, MPI_MAX, f->comm);
  if (min != max) return Raise(f, MPI_ERR_ARG);  // the flag must be the same everywhere
  f->atomic = flag != 0;
  return MPI_SUCCESS;
}

int MPI_File_get_atomicity(MPI_File fh, int* flag) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_atomicity(fh, flag);
  *flag = f->atomic ? 1 : 0;
  return MPI_SUCCESS;
}

int MPI_File_sync(MPI_File fh) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_sync(fh);
  // Commits this rank's writes and revalidates the size; MPI's sync-barrier-sync then makes
  // every rank's writes readable everywhere.
  const int rc = cvfs_fsync(f->fs, f->fd);
  return rc == 0 ? MPI_SUCCESS : Raise(f, ErrorClassOf(rc));
}

int MPI_File_set_errhandler(MPI_File fh, MPI_Errhandler errhandler) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_set_errhandler(fh, errhandler);
  // The file holds its own reference: the application may free its handle meanwhile.
  MPI_Errhandler old = f->errhandler;
  f->errhandler = RetainErrhandler(errhandler);
  MPI_Errhandler_free(&old);
  return MPI_SUCCESS;
}

int MPI_File_get_errhandler(MPI_File fh, MPI_Errhandler* errhandler) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_get_errhandler(fh, errhandler);
  *errhandler = RetainErrhandler(f->errhandler);  // a new reference, as MPI specifies
  return MPI_SUCCESS;
}

int MPI_File_call_errhandler(MPI_File fh, int errorcode) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_call_errhandler(fh, errorcode);
  Raise(f, errorcode);
  return MPI_SUCCESS;
}

int MPI_File_create_errhandler(MPI_File_errhandler_function* function, MPI_Errhandler* errhandler) {
  const int rc = PMPI_File_create_errhandler(function, errhandler);
  if (rc == MPI_SUCCESS) RememberErrhandler(*errhandler, function);
  return rc;
}

MPI_Fint MPI_File_c2f(MPI_File fh) {
  CvfsFile* f = Ours(fh);
  if (f == nullptr) return PMPI_File_c2f(fh);
  std::lock_guard lock(g_fortran_mu);
  for (size_t i = 0; i < g_fortran.size(); ++i) {
    if (g_fortran[i] == f) return kFirstFortranHandle + static_cast<MPI_Fint>(i);
  }
  g_fortran.push_back(f);
  return kFirstFortranHandle + static_cast<MPI_Fint>(g_fortran.size() - 1);
}

MPI_File MPI_File_f2c(MPI_Fint handle) {
  if (handle >= kFirstFortranHandle) {
    std::lock_guard lock(g_fortran_mu);
    const size_t i = static_cast<size_t>(handle - kFirstFortranHandle);
    if (i < g_fortran.size() && Ours(reinterpret_cast<MPI_File>(g_fortran[i])) != nullptr) {
      return reinterpret_cast<MPI_File>(g_fortran[i]);
    }
    return MPI_FILE_NULL;
  }
  return PMPI_File_f2c(handle);
}

// With $CVFS_MPIIO_FS set, the filesystem is mounted at MPI_Init (job start-up), not inside
// the first MPI_File_open; a failure is reported by that open.
int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  int error = MPI_SUCCESS;
  if (rc == MPI_SUCCESS && std::getenv("CVFS_MPIIO_FS") != nullptr) (void)Mount(&error);
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  int error = MPI_SUCCESS;
  if (rc == MPI_SUCCESS && std::getenv("CVFS_MPIIO_FS") != nullptr) (void)Mount(&error);
  return rc;
}

int MPI_Finalize(void) {
  UnmountAll();
  return PMPI_Finalize();
}

}  // extern "C"
