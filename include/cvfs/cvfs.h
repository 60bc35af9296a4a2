/* libcvfs: the C API of a ConvergeFS client (issue #4, docs/design/namespace.md).
 *
 * Conventions:
 *  - Every call returns 0 (or a non-negative count / descriptor) on success and a negative
 *    errno on failure (-ENOENT, -EACCES, ...); errno itself is left untouched.
 *  - Paths are absolute within the filesystem ("/dir/file"); ".", ".." and repeated slashes
 *    are resolved by the library; symbolic links are followed except in the last component
 *    of lstat/readlink/unlink/rename/symlink/link targets, at most 40 per path (-ELOOP).
 *  - Identity: calls act as the process's uid/gid, proven to the backends by MUNGE. A
 *    root process may act for another user with cvfs_set_identity (the FUSE mount does).
 *  - Consistency (close-to-open): cvfs_open revalidates the file's attributes with its
 *    metadata server; data written through a descriptor is visible to every client that
 *    opens the file after cvfs_close or cvfs_fsync returned; attributes and directory
 *    entries are otherwise cached for at most `attr_cache_ms` (default 1000 ms). A process
 *    sees its own writes at once: a stat, read, truncate or open of a file it has written
 *    to first commits the sizes it wrote (an fsync of its dirty descriptors on that file).
 *  - Thread-safety: every function may be called from many threads at once on one
 *    cvfs_fs; one descriptor may be used by several threads (pread/pwrite carry offsets).
 */
#ifndef CVFS_CVFS_H
#define CVFS_CVFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CVFS_API_VERSION 1

typedef struct cvfs_fs cvfs_fs;
typedef struct cvfs_dir cvfs_dir;

typedef struct cvfs_mount_options {
  /* Comma-separated etcd client URLs; NULL: $CVFS_ETCD or http://127.0.0.1:2379. */
  const char* etcd_endpoints;
  /* Fabric provider; NULL: $CVFS_PROVIDER or "tcp;ofi_rxm". */
  const char* provider;
  /* munged socket; NULL: $CVFS_MUNGE_SOCKET or munged's default. */
  const char* munge_socket;
  /* Attribute and entry cache lifetime; 0: the default (1000 ms); -1: no cache. The
   * library itself caches only the directories met while walking paths (per identity,
   * dropped when this process renames, removes or changes the mode or owner of one). */
  int attr_cache_ms;
  /* Per-call deadline in milliseconds; 0: the default (30000). */
  int deadline_ms;
} cvfs_mount_options;

/* Connects to filesystem `spec` ("CLUSTER:FS"; -EINVAL when malformed). `options` may be
 * NULL. Unless the program configured spdlog itself, the library logs to stderr at
 * $CVFS_LOG_LEVEL (default warn), or to the file $CVFS_LOG_FILE. -ENOENT when the filesystem does not exist or is not placed yet, -EAGAIN when etcd
 * cannot be reached. */
int cvfs_mount(const char* spec, const cvfs_mount_options* options, cvfs_fs** out);
/* Flushes and releases everything; descriptors still open are closed. Directory streams
 * must be closed before (a cvfs_dir does not outlive its cvfs_fs). */
int cvfs_unmount(cvfs_fs* fs);

/* Root only: later calls of this thread on `fs` act as uid/gid/groups (uid (uid_t)-1:
 * the process's own identity again). -EPERM for non-root callers. Other threads, and this
 * thread on another cvfs_fs, are unaffected. A cvfs_dir keeps the identity of its
 * cvfs_opendir. */
int cvfs_set_identity(cvfs_fs* fs, uid_t uid, gid_t gid, int ngroups, const gid_t* groups);

/* Files. flags: O_RDONLY/O_WRONLY/O_RDWR with O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
 * O_DIRECTORY, O_NOFOLLOW. Returns a descriptor >= 0 (private to this cvfs_fs; at most
 * 65536 open, -EMFILE beyond). `mode` is used as given: the library applies no umask
 * (as FUSE's low-level create). A directory may be opened O_RDONLY (for cvfs_fstat). */
int cvfs_open(cvfs_fs* fs, const char* path, int flags, mode_t mode);
int cvfs_close(cvfs_fs* fs, int fd);
ssize_t cvfs_pread(cvfs_fs* fs, int fd, void* buf, size_t count, off_t offset);
/* With O_APPEND the offset is ignored and the data goes to the end of the file. Appends
 * are atomic between the threads of one process (a per-file lock), NOT between processes
 * or clients: each reads the size, then writes there. */
ssize_t cvfs_pwrite(cvfs_fs* fs, int fd, const void* buf, size_t count, off_t offset);
/* Data and size durable on every live member and visible to new opens; then the size
 * other clients committed (by their fsync or close) is readable through `fd` too. */
int cvfs_fsync(cvfs_fs* fs, int fd);
int cvfs_ftruncate(cvfs_fs* fs, int fd, off_t length);
int cvfs_truncate(cvfs_fs* fs, const char* path, off_t length);
int cvfs_fstat(cvfs_fs* fs, int fd, struct stat* st);

/* Names. */
int cvfs_stat(cvfs_fs* fs, const char* path, struct stat* st);
int cvfs_lstat(cvfs_fs* fs, const char* path, struct stat* st);
int cvfs_mkdir(cvfs_fs* fs, const char* path, mode_t mode);
int cvfs_rmdir(cvfs_fs* fs, const char* path);
int cvfs_unlink(cvfs_fs* fs, const char* path);
/* Atomic replacement of `to`; never -EXDEV within one filesystem. */
int cvfs_rename(cvfs_fs* fs, const char* from, const char* to);
int cvfs_link(cvfs_fs* fs, const char* existing, const char* new_path);
int cvfs_symlink(cvfs_fs* fs, const char* target, const char* link_path);
/* Returns the number of bytes placed in `buf`: the target, truncated to `size` and never
 * NUL-terminated (as readlink(2)). -EINVAL when `path` is not a symlink or size is 0. */
ssize_t cvfs_readlink(cvfs_fs* fs, const char* path, char* buf, size_t size);
int cvfs_chmod(cvfs_fs* fs, const char* path, mode_t mode);
int cvfs_chown(cvfs_fs* fs, const char* path, uid_t uid, gid_t gid);
/* times[0] = atime, times[1] = mtime; UTIME_NOW and UTIME_OMIT as for utimensat. */
int cvfs_utimens(cvfs_fs* fs, const char* path, const struct timespec times[2]);
int cvfs_access(cvfs_fs* fs, const char* path, int mode);
int cvfs_statfs(cvfs_fs* fs, struct statvfs* out);

/* Directories: entries come in a stable order; an entry present for the whole listing is
 * returned exactly once, even while others are created and removed. "." and ".." are not
 * returned. */
typedef struct cvfs_dirent {
  uint64_t inode;
  unsigned char type; /* DT_REG, DT_DIR, DT_LNK */
  char name[256];
} cvfs_dirent;
int cvfs_opendir(cvfs_fs* fs, const char* path, cvfs_dir** out);
/* 1: *entry filled; 0: end of directory; < 0: -errno. */
int cvfs_readdir(cvfs_dir* dir, cvfs_dirent* entry);
int cvfs_closedir(cvfs_dir* dir);

/* A short description of an error code returned by this API ("No such file or directory"). */
const char* cvfs_strerror(int negative_errno);

#ifdef __cplusplus
}
#endif

#endif /* CVFS_CVFS_H */
