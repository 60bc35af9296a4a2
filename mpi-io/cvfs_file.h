// The adapter's state of one ConvergeFS file opened through MPI-IO, and the helpers every
// MPI_File_* implementation shares (mpi-io/README.md).
//
// An MPI_File handed to the application for a ConvergeFS file is a CvfsFile* in disguise:
// Registry() knows every live one, so each intercepted call tells ours (served here) from
// Open MPI's (passed to PMPI_File_* untouched).
// Thread-safety: MPI_THREAD_MULTIPLE callers may use different files from different
// threads; one file is used by one thread at a time (as MPI requires of collective calls;
// independent calls on one handle from several threads are serialized by CvfsFile::mu).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cvfs/cvfs.h"
#include "mpi-io/datatype_flatten.h"

namespace cvfs::mpiio {

// One contiguous piece of the file.
struct Segment {
  int64_t offset = 0;
  int64_t length = 0;
};

// A file view (MPI_File_set_view): bytes of the view map to the file through the tiled,
// flattened filetype from `disp`.
struct FileView {
  MPI_Offset disp = 0;
  MPI_Datatype etype = MPI_BYTE;     // as the application gave it (dup'ed when derived)
  MPI_Datatype filetype = MPI_BYTE;  // idem
  int64_t etype_size = 1;
  FlatType file;                // flattened filetype
  std::vector<int64_t> prefix;  // bytes of the blocks before each block
  std::string datarep = "native";

  // Sets the flattened filetype and its prefix sums.
  void SetFiletype(FlatType flat);
  // Appends the file pieces of view bytes [pos, pos + length), in view order, merged.
  void Map(int64_t pos, int64_t length, std::vector<Segment>* out) const;
  // How many view bytes lie before file offset `file_offset`.
  int64_t ViewBytesBefore(int64_t file_offset) const;
};

// Collective buffering hints (reported back by MPI_File_get_info).
struct Hints {
  int cb_nodes = 0;                    // aggregators; 0: one per node
  int64_t cb_buffer_size = 16 << 20;   // bytes an aggregator handles per round
  std::string cb_write = "automatic";  // romio_cb_write: enable | disable | automatic
  std::string cb_read = "automatic";   // romio_cb_read
  int64_t striping_unit = 1 << 20;     // file domains are aligned to this
};

struct CvfsFile {
  std::mutex mu;
  MPI_Comm comm = MPI_COMM_NULL;  // a dup of the open's communicator
  int rank = 0, size = 1;
  cvfs_fs* fs = nullptr;
  int fd = -1;
  std::string path;  // in the filesystem
  std::string name;  // as opened ("cvfs:/...")
  int amode = 0;
  bool atomic = false;
  MPI_Errhandler errhandler = MPI_ERRORS_RETURN;
  MPI_Info info = MPI_INFO_NULL;  // what the application set (for get_info)
  Hints hints;
  FileView view;
  MPI_Offset pointer = 0;  // individual file pointer, in etypes of the view
  // The shared file pointer (in etypes) lives in slot 0 of a window on rank 0; slots 1 and
  // 2 are the atomic-mode ticket lock (next ticket, ticket served).
  MPI_Win shared_win = MPI_WIN_NULL;
  MPI_Offset* shared_base = nullptr;
  // Aggregators: ranks of `comm` that do the I/O of collective calls.
  std::vector<int> aggregators;
  // A split collective begun and not ended: its byte count.
  std::optional<int64_t> split_bytes;
  bool split_is_read = false;
};

// --- registry.cc ---
// The CvfsFile behind `fh`, or nullptr when `fh` is not one of ours.
CvfsFile* Ours(MPI_File fh);
MPI_File Register(CvfsFile* file);
void Unregister(CvfsFile* file);
// The ConvergeFS path of an MPI file name ("cvfs:/p", or under $CVFS_MPIIO_PREFIX), or
// nullopt when the name is not ConvergeFS's.
std::optional<std::string> CvfsPath(const char* filename);
// The process's mount of $CVFS_MPIIO_FS (mounted at first use, unmounted by
// MPI_Finalize); nullptr with *error set (an MPI error class) when it cannot be mounted.
cvfs_fs* Mount(int* error);
void UnmountAll();

// --- errors.cc ---
// The MPI error class of a negative errno from libcvfs.
int ErrorClassOf(int negative_errno);
// Raises `code` on `file` (nullptr: on MPI_FILE_NULL, as a failed open does) through its
// error handler, and returns it (when the handler returns).
int Raise(CvfsFile* file, int code);
// A new reference to `handler` (the caller frees it with MPI_Errhandler_free).
MPI_Errhandler RetainErrhandler(MPI_Errhandler handler);
// Records the function of a file error handler the application creates.
void RememberErrhandler(MPI_Errhandler handler, MPI_File_errhandler_function* function);

// --- status ---
void SetStatusBytes(MPI_Status* status, int64_t bytes);

// --- data.cc: independent transfers at view byte `pos` ---
// Writes/reads `count` x `type` at view position `pos` (bytes). *bytes: bytes transferred
// (a short read stops at the end of the file). MPI_SUCCESS or an error class.
int WriteView(CvfsFile* f, int64_t pos, const void* buf, int64_t count, MPI_Datatype type,
              int64_t* bytes);
int ReadView(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type, int64_t* bytes);
// The same, collectively (two-phase through the aggregators when the hints allow).
int WriteViewAll(CvfsFile* f, int64_t pos, const void* buf, int64_t count, MPI_Datatype type,
                 int64_t* bytes);
int ReadViewAll(CvfsFile* f, int64_t pos, void* buf, int64_t count, MPI_Datatype type,
                int64_t* bytes);
// The file's size as all ranks should see it now (this rank's writes committed).
int FileSize(CvfsFile* f, MPI_Offset* size);

// Atomic mode: a mutex over the whole file, shared by the ranks of the file.
void LockFile(CvfsFile* f);
void UnlockFile(CvfsFile* f);

}  // namespace cvfs::mpiio
