// cvfs-mount and mount.cvfs: mount a ConvergeFS filesystem with FUSE (client/fuse/README.md,
// docs/admin/mount.md). One program: started as `mount.cvfs` it takes mount(8)'s helper
// arguments. Exit codes: 0 mounted (and, in the foreground, unmounted cleanly), 1 runtime
// failure (cluster unreachable, filesystem missing, mount refused), 2 bad arguments.
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "client/fuse/daemon.h"
#include "client/fuse/fuse_ops.h"
#include "client/fuse/mount_options.h"
#include "core/logging.h"
#include "cvfs/filesystem.h"

namespace {

using cvfs::Status;
using cvfs::fuse::MountConfig;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kDescription =
    "cvfs-mount: mount a ConvergeFS filesystem with FUSE.\n"
    "\n"
    "  cvfs-mount CLUSTER:FS MOUNTPOINT [-o opt,opt...] [-f]\n"
    "  mount -t cvfs CLUSTER:FS MOUNTPOINT -o etcd=http://host:2379,allow_other\n"
    "\n"
    "Mount options (-o, comma-separated, repeatable):\n"
    "  etcd=URL             etcd endpoint of the cluster (repeat for several)\n"
    "  provider=P           fabric provider (default tcp;ofi_rxm)\n"
    "  munge_socket=PATH    munged socket\n"
    "  allow_other          let every user use the mount (login nodes); the cluster checks\n"
    "                       each request's uid/gid/groups against the file modes\n"
    "  attr_timeout=S       seconds the kernel caches attributes (default 1)\n"
    "  entry_timeout=S      seconds the kernel caches names (default 1; 0 with allow_other)\n"
    "  writeback_cache      let the kernel gather small writes (default off)\n"
    "  max_write=BYTES      largest FUSE write (default and limit 1048576)\n"
    "  max_read=BYTES       largest FUSE read\n"
    "  max_threads=N        FUSE worker threads (default 16)\n"
    "  clone_fd             one /dev/fuse descriptor per worker thread\n"
    "  deadline_ms=MS       deadline of each filesystem call, retries included (default 30000)\n"
    "  log_level=L, log_file=PATH   logging (daemon default /var/log/cvfs/mount-CLUSTER-FS.log)\n"
    "  ro, rw, nosuid, nodev, noexec, noatime, sync, dirsync, default_permissions, auto_unmount\n"
    "  fstab words (defaults, noauto, _netdev, nofail, user, x-*, ...) are ignored\n"
    "\n"
    "Exit codes: 0 mounted, 1 runtime failure, 2 bad arguments. Unmount: fusermount3 -u DIR\n"
    "or umount DIR.";

struct CommandLine {
  std::string spec;
  std::string mountpoint;
  std::vector<std::string> option_lists;
  bool foreground = false;
  bool json_status = false;
  std::string etcd;  // comma-separated; overrides etcd= options
  std::string provider;
  std::string munge_socket;
  std::string log_level;
};

std::vector<std::string> SplitCommas(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Fills `config` from the command line and the environment (CVFS_ETCD, CVFS_PROVIDER,
// CVFS_MUNGE_SOCKET, used when neither a flag nor an option gives the value).
Status BuildConfig(const CommandLine& cl, MountConfig* config) {
  CVFS_RETURN_IF_ERROR(cvfs::fuse::ParseSpec(cl.spec, config));
  config->mountpoint = cl.mountpoint;
  config->foreground = cl.foreground;
  config->json_status = cl.json_status;
  CVFS_RETURN_IF_ERROR(cvfs::fuse::ApplyMountOptions(cl.option_lists, config));
  if (!cl.etcd.empty()) config->etcd_endpoints = SplitCommas(cl.etcd);
  if (!cl.provider.empty()) config->provider = cl.provider;
  if (!cl.munge_socket.empty()) config->munge_socket = cl.munge_socket;
  if (!cl.log_level.empty()) config->log_level = cl.log_level;
  if (config->etcd_endpoints.empty()) {
    if (const char* v = std::getenv("CVFS_ETCD")) config->etcd_endpoints = SplitCommas(v);
  }
  if (config->provider.empty()) {
    if (const char* v = std::getenv("CVFS_PROVIDER")) config->provider = v;
  }
  if (config->munge_socket.empty()) {
    if (const char* v = std::getenv("CVFS_MUNGE_SOCKET")) config->munge_socket = v;
  }
  struct stat st {};
  if (stat(config->mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("mount point " + config->mountpoint +
                                   " is not an existing directory");
  }
  config->mountpoint = std::filesystem::absolute(config->mountpoint).lexically_normal();
  if (config->mountpoint.size() > 1 && config->mountpoint.back() == '/') {
    config->mountpoint.pop_back();
  }
  cvfs::fuse::FinishFuseOptions(config);
  return Status::Ok();
}

void PrintJsonStatus(const MountConfig& config, bool mounted, const std::string& error) {
  if (!config.json_status) return;
  nlohmann::json j;
  j["mounted"] = mounted;
  j["filesystem"] = config.cluster + ":" + config.filesystem;
  j["mountpoint"] = config.mountpoint;
  if (mounted) {
    j["pid"] = static_cast<int64_t>(getpid());
  } else {
    j["error"] = error;
  }
  std::cout << j.dump() << std::endl;
}

// Prints the failure where the user sees it (stderr, and stdout as JSON with
// --json-status) and returns `code`.
int Fail(const MountConfig& config, int code, const std::string& message) {
  std::fprintf(stderr, "cvfs-mount: %s\n", message.c_str());
  PrintJsonStatus(config, false, message);
  return code;
}

Status SetUpLogging(const MountConfig& config) {
  cvfs::LoggingOptions logging;
  logging.program = "cvfs-mount";
  logging.level = config.log_level;
  logging.file = config.log_file;
  if (logging.file.empty() && !config.foreground) {
    logging.file = cvfs::fuse::DefaultLogFile(config);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(logging.file).parent_path(), ec);
    if (!cvfs::InitLogging(logging).ok()) {
      // A daemon without a writable log directory still mounts; its log is lost.
      std::fprintf(stderr, "cvfs-mount: warning: cannot write %s; the daemon will not log\n",
                   logging.file.c_str());
      logging.file.clear();
    } else {
      return Status::Ok();
    }
  }
  return cvfs::InitLogging(logging);
}

// Connects, mounts, serves until unmounted. Runs in the daemon child unless foreground.
int Serve(const MountConfig& config, cvfs::fuse::DaemonLink* link) {
  auto fail = [&](int code, const std::string& message) {
    const int rc = Fail(config, code, message);
    if (link != nullptr) link->ReportFailed(rc);
    return rc;
  };
  if (Status s = SetUpLogging(config); !s.ok()) return fail(kExitUsage, s.ToString());

  cvfs::FileSystemOptions options;
  options.cluster = config.cluster;
  options.filesystem = config.filesystem;
  if (!config.etcd_endpoints.empty()) options.etcd_endpoints = config.etcd_endpoints;
  if (!config.provider.empty()) options.provider = config.provider;
  options.munge_socket = config.munge_socket;
  options.name = "cvfs-mount";
  options.deadline = std::chrono::milliseconds(config.deadline_ms);
  auto fs = cvfs::FileSystem::Mount(options);
  if (!fs.ok()) {
    return fail(kExitFailure, "cannot open " + config.cluster + ":" + config.filesystem + ": " +
                                  fs.status().ToString());
  }

  // The root answers before the kernel is involved: a cluster that cannot serve the
  // filesystem fails the mount here, with its reason.
  auto root = (*fs)->GetAttr(nullptr, cvfs::kRootInode);
  if (!root.ok()) {
    return fail(kExitFailure, "cannot read the root of " + config.cluster + ":" +
                                  config.filesystem + ": " + root.status().ToString());
  }
  cvfs::fuse::FuseMount state;
  state.dir_modes.Note(*root);
  state.fs = fs->get();
  state.attr_timeout_s = config.attr_timeout_s;
  // A multi-user mount (allow_other) caches no names unless told to: the kernel walks a
  // cached name without asking the cluster, so a chmod that takes search permission away
  // would not apply to other users until the name expired.
  state.entry_timeout_s =
      config.allow_other && !config.entry_timeout_set ? 0.0 : config.entry_timeout_s;
  state.writeback_cache = config.writeback_cache;
  state.max_write_bytes = config.max_write_bytes;

  const std::string fuse_options = cvfs::fuse::JoinFuseOptions(config);
  std::vector<std::string> fuse_argv_storage = {"cvfs-mount", "-o", fuse_options};
  std::vector<char*> fuse_argv;
  for (auto& a : fuse_argv_storage) fuse_argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  fuse_session* se =
      fuse_session_new(&args, &cvfs::fuse::CvfsLowLevelOps(), sizeof(fuse_lowlevel_ops), &state);
  if (se == nullptr) return fail(kExitUsage, "libfuse refused the options: " + fuse_options);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return fail(kExitFailure, "cannot install signal handlers");
  }
  if (fuse_session_mount(se, config.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return fail(kExitFailure, "cannot mount on " + config.mountpoint +
                                  " (libfuse's reason above; is /dev/fuse present and the "
                                  "mount point not in use?)");
  }
  LOG_INFO("mount.up filesystem={}:{} mountpoint={} options={} threads={}", config.cluster,
           config.filesystem, config.mountpoint, fuse_options, config.max_threads);
  PrintJsonStatus(config, true, "");
  if (link != nullptr) link->ReportMounted();

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop, config.max_threads);
  fuse_loop_cfg_set_idle_threads(loop, std::min(config.max_threads, 10u));
  fuse_loop_cfg_set_clone_fd(loop, config.clone_fd ? 1 : 0);
  const int loop_rc = fuse_session_loop_mt(se, loop);
  fuse_loop_cfg_destroy(loop);

  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fs->reset();  // after the session: no request can reach the FileSystem any more
  if (loop_rc != 0) {
    LOG_ERROR("mount.loop_failed mountpoint={} rc={}", config.mountpoint, loop_rc);
    return kExitFailure;
  }
  LOG_INFO("mount.down mountpoint={}", config.mountpoint);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::string program = std::filesystem::path(argv[0]).filename();
  if (program == "mount.cvfs") {
    bool fake = false;
    auto translated = cvfs::fuse::TranslateHelperArgs(args, &fake);
    if (!translated.ok()) {
      std::fprintf(stderr, "mount.cvfs: %s\n", std::string(translated.status().message()).c_str());
      return kExitUsage;
    }
    if (fake) return kExitOk;
    args = *std::move(translated);
  }

  CommandLine cl;
  CLI::App app{kDescription};
  app.set_version_flag("--version", "cvfs-mount " CVFS_VERSION);
  app.add_option("spec", cl.spec, "CLUSTER:FS")->required();
  app.add_option("mountpoint", cl.mountpoint, "an existing directory")->required();
  app.add_option("-o", cl.option_lists, "mount options, comma-separated (above)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("-f,--foreground", cl.foreground, "stay in the foreground (log to stderr)");
  app.add_option("--etcd", cl.etcd, "etcd endpoints, comma-separated (env CVFS_ETCD)");
  app.add_option("--provider", cl.provider, "fabric provider (env CVFS_PROVIDER)");
  app.add_option("--munge-socket", cl.munge_socket, "munged socket (env CVFS_MUNGE_SOCKET)");
  app.add_option("--log-level", cl.log_level, "trace, debug, info, warn, error");
  app.add_flag("--json-status", cl.json_status,
               "print one JSON line on stdout once mounted (or why not)");
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  MountConfig config;
  if (Status s = BuildConfig(cl, &config); !s.ok()) {
    config.json_status = cl.json_status;
    return Fail(config, kExitUsage, std::string(s.message()));
  }
  if (config.foreground) return Serve(config, nullptr);
  bool fork_failed = false;
  cvfs::fuse::DaemonLink link = cvfs::fuse::DaemonLink::Start(&fork_failed);
  if (fork_failed) return kExitFailure;
  return Serve(config, &link);
}
