// fuse_passthrough: the FUSE baseline of meta_bench. A bare libfuse3 (high-level API,
// multithreaded) filesystem that forwards each call to the same path under SOURCE, doing
// nothing else, so meta_bench can show in the same run what FUSE itself allows on this
// machine (kernel round trips, the parent directory's lock held across lookup + create).
// Not part of ConvergeFS; only the calls meta_bench makes (and listing) are forwarded.
//
// Usage: fuse_passthrough SOURCE MOUNTPOINT [fuse options, e.g. -f]
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_source;

std::string Under(const char* path) { return g_source + path; }

int Errno(int rc) { return rc < 0 ? -errno : rc; }

void* Init(fuse_conn_info*, fuse_config* config) {
  config->use_ino = 1;
  config->entry_timeout = 1;  // as cvfs-mount's defaults
  config->attr_timeout = 1;
  config->negative_timeout = 0;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info*) {
  return Errno(::lstat(Under(path).c_str(), st));
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  const int fd = ::open(Under(path).c_str(), fi->flags | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Open(const char* path, fuse_file_info* fi) {
  const int fd = ::open(Under(path).c_str(), fi->flags | O_CLOEXEC);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Read(const char*, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  const ssize_t n = ::pread(static_cast<int>(fi->fh), buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int Write(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  const ssize_t n = ::pwrite(static_cast<int>(fi->fh), buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int Release(const char*, fuse_file_info* fi) { return Errno(::close(static_cast<int>(fi->fh))); }

int Unlink(const char* path) { return Errno(::unlink(Under(path).c_str())); }

int Mkdir(const char* path, mode_t mode) { return Errno(::mkdir(Under(path).c_str(), mode)); }

int Rmdir(const char* path) { return Errno(::rmdir(Under(path).c_str())); }

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  DIR* dir = ::opendir(Under(path).c_str());
  if (dir == nullptr) return -errno;
  while (dirent* e = ::readdir(dir)) {
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  ::closedir(dir);
  return 0;
}

int StatFs(const char* path, struct statvfs* st) {
  return Errno(::statvfs(Under(path).c_str(), st));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr,
                 "usage: fuse_passthrough SOURCE MOUNTPOINT [fuse options]\n"
                 "  a bare FUSE filesystem forwarding to SOURCE: meta_bench's FUSE baseline\n");
    return argc < 3 ? 2 : 0;
  }
  char resolved[PATH_MAX];
  if (::realpath(argv[1], resolved) == nullptr) {
    std::fprintf(stderr, "fuse_passthrough: %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  g_source = resolved;
  fuse_operations ops{};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.create = Create;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.release = Release;
  ops.unlink = Unlink;
  ops.mkdir = Mkdir;
  ops.rmdir = Rmdir;
  ops.readdir = ReadDir;
  ops.statfs = StatFs;
  // fuse_main sees the program name, the mount point and the options.
  std::vector<char*> args{argv[0]};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
