// The command line of `cvfs-mount` and of `mount.cvfs` (the mount(8) helper) turned into a
// MountConfig: the filesystem to mount, where, how to reach the cluster, and the libfuse
// options. Pure functions without I/O, so every rule here is unit-tested (fuse_test).
// Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::fuse {

inline constexpr uint32_t kDefaultMaxWriteBytes = 1u << 20;  // one FUSE write: 1 MiB
inline constexpr uint32_t kMaxWriteBytesLimit = 1u << 20;    // libfuse's buffer holds 1 MiB
inline constexpr unsigned kDefaultMaxThreads = 16;  // FUSE workers: most wait on the network
inline constexpr unsigned kMaxThreadsLimit = 256;

struct MountConfig {
  std::string cluster;     // "CLUSTER" of CLUSTER:FS
  std::string filesystem;  // "FS" of CLUSTER:FS
  std::string mountpoint;

  // Cluster access. Empty etcd_endpoints: $CVFS_ETCD or the library default.
  std::vector<std::string> etcd_endpoints;
  std::string provider;      // "": $CVFS_PROVIDER or the library default
  std::string munge_socket;  // "": $CVFS_MUNGE_SOCKET or munged's default
  int deadline_ms = 30000;   // per FileSystem call, retries included

  // Kernel caching (docs: client/fuse/README.md, "Consistency").
  double attr_timeout_s = 1.0;
  double entry_timeout_s = 1.0;
  bool entry_timeout_set = false;  // given by -o entry_timeout=
  bool writeback_cache = false;
  bool allow_other = false;
  uint32_t max_write_bytes = kDefaultMaxWriteBytes;
  uint32_t max_read_bytes = 0;  // 0: libfuse's default (no limit beyond max_pages)
  unsigned max_threads = kDefaultMaxThreads;
  bool clone_fd = false;

  // Process.
  bool foreground = false;
  bool json_status = false;
  std::string log_level = "info";
  std::string log_file;  // "": stderr in the foreground, DefaultLogFile() when daemonized

  // Options for libfuse's fuse_session_new ("fsname=...", "subtype=cvfs", "ro", ...).
  std::vector<std::string> fuse_options;
};

// Splits "CLUSTER:FS" into config->cluster and config->filesystem (kInvalidArgument when
// either part is empty or a second ':' follows).
Status ParseSpec(const std::string& spec, MountConfig* config);

// Applies `-o` arguments (each a comma-separated list) to `config`. ConvergeFS options
// (etcd=, provider=, munge_socket=, attr_timeout=, entry_timeout=, writeback_cache,
// allow_other, max_write=, max_read=, max_threads=, clone_fd, log_level=, log_file=,
// deadline_ms=) are taken; kernel mount flags (ro, rw, nosuid, nodev, noexec, noatime, ...)
// and default_permissions go to libfuse; fstab-only words (defaults, auto, noauto, _netdev,
// nofail, user, x-*, comment=...) are ignored. kInvalidArgument names an unknown option or
// a bad value; `config` may be partly updated then.
Status ApplyMountOptions(const std::vector<std::string>& option_lists, MountConfig* config);

// Adds fsname=CLUSTER:FS and subtype=cvfs (the type shows as "fuse.cvfs") and the options
// that follow from the config (allow_other, max_read) to config->fuse_options.
void FinishFuseOptions(MountConfig* config);

// "opt1,opt2": what fuse_session_new takes after "-o".
std::string JoinFuseOptions(const MountConfig& config);

// The log file of a daemonized mount without log_file=: one per mounted filesystem.
std::string DefaultLogFile(const MountConfig& config);

// mount(8) runs `mount.cvfs SPEC DIR [-sfnv] [-o OPTIONS] [-t TYPE]`. Returns the
// equivalent cvfs-mount argument list (without argv[0]): SPEC DIR [-o OPTIONS]. `*fake`
// is set for -f (mount(8)'s "fake": do everything but mount). -s, -n and -v are ignored.
Result<std::vector<std::string>> TranslateHelperArgs(const std::vector<std::string>& args,
                                                     bool* fake);

}  // namespace cvfs::fuse
