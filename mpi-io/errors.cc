// Error classes and file error handlers for the adapter's files.
#include <cerrno>
#include <map>
#include <mutex>

#include "mpi-io/cvfs_file.h"

namespace cvfs::mpiio {
namespace {

std::mutex g_mu;
std::map<MPI_Errhandler, MPI_File_errhandler_function*>* g_functions =
    new std::map<MPI_Errhandler, MPI_File_errhandler_function*>;  // never freed

}  // namespace

int ErrorClassOf(int negative_errno) {
  switch (-negative_errno) {
    case 0:
      return MPI_SUCCESS;
    case ENOENT:
    case ENOTDIR:
      return MPI_ERR_NO_SUCH_FILE;
    case EEXIST:
      return MPI_ERR_FILE_EXISTS;
    case EACCES:
    case EPERM:
      return MPI_ERR_ACCESS;
    case EROFS:
      return MPI_ERR_READ_ONLY;
    case ENOSPC:
      return MPI_ERR_NO_SPACE;
    case EDQUOT:
      return MPI_ERR_QUOTA;
    case ENAMETOOLONG:
    case EISDIR:
    case EINVAL:
      return MPI_ERR_BAD_FILE;
    case ENOMEM:
      return MPI_ERR_NO_MEM;
    default:
      return MPI_ERR_IO;
  }
}

void RememberErrhandler(MPI_Errhandler handler, MPI_File_errhandler_function* function) {
  std::lock_guard lock(g_mu);
  (*g_functions)[handler] = function;
}

MPI_Errhandler RetainErrhandler(MPI_Errhandler handler) {
  // MPI has no call that adds a reference to a handler; MPI_FILE_NULL's get does. Park the
  // handler there for a moment and take it back with a reference of our own.
  std::lock_guard lock(g_mu);
  MPI_Errhandler saved = MPI_ERRHANDLER_NULL, retained = MPI_ERRHANDLER_NULL;
  PMPI_File_get_errhandler(MPI_FILE_NULL, &saved);
  PMPI_File_set_errhandler(MPI_FILE_NULL, handler);
  PMPI_File_get_errhandler(MPI_FILE_NULL, &retained);
  PMPI_File_set_errhandler(MPI_FILE_NULL, saved);
  MPI_Errhandler_free(&saved);
  return retained;
}

int Raise(CvfsFile* file, int code) {
  if (code == MPI_SUCCESS) return code;
  MPI_Errhandler handler = MPI_ERRORS_RETURN;
  if (file != nullptr) {
    handler = file->errhandler;
  } else {
    PMPI_File_get_errhandler(MPI_FILE_NULL, &handler);
    MPI_Errhandler reference = handler;  // MPI_FILE_NULL keeps it alive: drop ours
    MPI_Errhandler_free(&reference);
  }
  if (handler == MPI_ERRORS_RETURN) return code;
  if (handler == MPI_ERRORS_ARE_FATAL) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    fprintf(stderr, "cvfs mpi-io: fatal error on %s: %s\n",
            file != nullptr ? file->name.c_str() : "MPI_FILE_NULL", text);
    PMPI_Abort(file != nullptr ? file->comm : MPI_COMM_WORLD, code);
    return code;
  }
  MPI_File_errhandler_function* function = nullptr;
  {
    std::lock_guard lock(g_mu);
    auto it = g_functions->find(handler);
    if (it != g_functions->end()) function = it->second;
  }
  if (function != nullptr) {
    MPI_File fh = file != nullptr ? reinterpret_cast<MPI_File>(file) : MPI_FILE_NULL;
    int c = code;
    function(&fh, &c);
  }
  return code;
}

void SetStatusBytes(MPI_Status* status, int64_t bytes) {
  if (status == MPI_STATUS_IGNORE) return;
  MPI_Status_set_elements_x(status, MPI_BYTE, bytes);
  MPI_Status_set_cancelled(status, 0);
  status->MPI_SOURCE = MPI_UNDEFINED;
  status->MPI_TAG = MPI_UNDEFINED;
}

}  // namespace cvfs::mpiio
