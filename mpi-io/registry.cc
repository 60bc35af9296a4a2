// Which MPI_File handles are ours, which names are ConvergeFS's, and the process's mount.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "mpi-io/cvfs_file.h"

namespace cvfs::mpiio {
namespace {

std::mutex g_mu;
std::unordered_set<CvfsFile*>* g_files = new std::unordered_set<CvfsFile*>;  // never freed
cvfs_fs* g_fs = nullptr;

}  // namespace

CvfsFile* Ours(MPI_File fh) {
  if (fh == MPI_FILE_NULL) return nullptr;
  auto* candidate = reinterpret_cast<CvfsFile*>(fh);
  std::lock_guard lock(g_mu);
  return g_files->count(candidate) != 0 ? candidate : nullptr;
}

MPI_File Register(CvfsFile* file) {
  std::lock_guard lock(g_mu);
  g_files->insert(file);
  return reinterpret_cast<MPI_File>(file);
}

void Unregister(CvfsFile* file) {
  std::lock_guard lock(g_mu);
  g_files->erase(file);
}

std::optional<std::string> CvfsPath(const char* filename) {
  if (filename == nullptr) return std::nullopt;
  std::string name = filename;
  if (name.rfind("cvfs:", 0) == 0) {
    std::string path = name.substr(5);
    if (path.empty() || path[0] != '/') path = "/" + path;
    return path;
  }
  if (const char* prefix = std::getenv("CVFS_MPIIO_PREFIX"); prefix != nullptr && *prefix) {
    std::string p = prefix;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (name == p) return std::string("/");
    if (name.rfind(p + "/", 0) == 0) return name.substr(p.size());
  }
  return std::nullopt;
}

cvfs_fs* Mount(int* error) {
  std::lock_guard lock(g_mu);
  if (g_fs != nullptr) return g_fs;
  const char* spec = std::getenv("CVFS_MPIIO_FS");
  if (spec == nullptr || *spec == '\0') {
    *error = MPI_ERR_NO_SUCH_FILE;  // no filesystem configured for cvfs: names
    return nullptr;
  }
  // etcd, provider and munge socket come from $CVFS_ETCD, $CVFS_PROVIDER and
  // $CVFS_MUNGE_SOCKET (cvfs_mount's defaults).
  const int rc = cvfs_mount(spec, nullptr, &g_fs);
  if (rc != 0) {
    std::fprintf(stderr, "cvfs mpiio: cannot mount %s: %s\n", spec, cvfs_strerror(rc));
    g_fs = nullptr;
    *error = rc == -ENOENT ? MPI_ERR_NO_SUCH_FILE : MPI_ERR_IO;
    return nullptr;
  }
  return g_fs;
}

void UnmountAll() {
  std::lock_guard lock(g_mu);
  if (g_fs != nullptr) cvfs_unmount(g_fs);
  g_fs = nullptr;
}

}  // namespace cvfs::mpiio
