// meta_bench: metadata operations through the libcvfs C API against a real 6-backend
// cluster (TestCluster: etcd, munged, 6 cvfsd on loopback, 4+2), each figure printed beside
// baselines measured in the same run (these machines are noisy: compare the ratios):
//   (a) creates (open O_CREAT|O_EXCL + close), stats and unlinks per second, `threads`
//       threads in ONE directory, through the C API and on a local directory (the same
//       file system as the drives);
//   (b) when the FUSE mount program `cvfs-mount` is in the bin directory: the same through
//       a FUSE mount of the same filesystem, and sequential 1 MiB writes through FUSE vs
//       the C API;
//   (c) the same phases through `fuse_passthrough` (a bare FUSE filesystem forwarding to a
//       local directory): what FUSE itself allows on this machine;
//   (d) the whole machine's CPU time per op in each phase, and how busy the cores were.
// Targets (issue #4): >= 10k creates/s through the C API with 4 threads, >= 1.8k/s through
// FUSE, FUSE sequential writes >= 70% of the C API's. Not a ctest; run as root (FUSE).
//
// Usage: meta_bench [--threads 4] [--files-per-thread 10000] [--write-mib 256] [--dir DIR]
//                   [--provider tcp;ofi_rxm] [--no-fuse]
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "cvfs/cvfs.h"
#include "tests/cluster/datapath_support.h"
#include "tests/cluster/libcvfs_cluster.h"

namespace cvfs::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Settings {
  int threads = 4;
  int files_per_thread = 10000;
  uint64_t write_mib = 256;
  std::string dir = "/tmp";
  std::string provider = "tcp;ofi_rxm";
  bool fuse = true;
};

// The calls a metadata phase makes: 0 on success, else a negative errno.
struct MetaOps {
  std::function<int(const std::string&)> create;  // O_CREAT|O_EXCL|O_WRONLY 0644, close
  std::function<int(const std::string&)> stat;
  std::function<int(const std::string&)> unlink;
};

struct MetaFigures {
  double creates = 0, stats = 0, unlinks = 0;  // per second
  // CPU time of the whole machine (every process: client, cvfsd, kernel) per op, in
  // microseconds, and the share of the machine's cores busy during the phase.
  double create_cpu_us = 0, stat_cpu_us = 0, unlink_cpu_us = 0;
  double create_busy = 0, stat_busy = 0, unlink_busy = 0;
  int errors = 0;
  std::string first_error;
};

// Busy CPU seconds of the machine so far (/proc/stat: all but idle and iowait), or -1.
double MachineBusySeconds() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  unsigned long long v[10] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
  std::fclose(f);
  if (n < 8) return -1;
  const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // not idle, iowait
  return double(busy) / double(sysconf(_SC_CLK_TCK));
}

// Runs `op` on every file of every thread; returns ops/s, counting failures in *f and
// setting the machine's CPU microseconds per op and busy share.
double Phase(const Settings& s, const std::string& dir, const char* what,
             const std::function<int(const std::string&)>& op, MetaFigures* f, double* cpu_us,
             double* busy) {
  std::atomic<int> errors{0};
  std::string first;
  std::mutex mu;
  const double busy0 = MachineBusySeconds();
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < s.threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < s.files_per_thread; ++i) {
        const std::string path = dir + "/t" + std::to_string(t) + "-" + std::to_string(i);
        if (int rc = op(path); rc != 0) {
          if (errors++ == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first = std::string(what) + " " + path + ": " + std::strerror(-rc);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds = SecondsSince(t0);
  const double busy_seconds = MachineBusySeconds() - busy0;
  const double ops = double(s.threads) * s.files_per_thread;
  *cpu_us = busy_seconds / ops * 1e6;
  *busy = busy_seconds / seconds / double(std::thread::hardware_concurrency());
  f->errors += errors;
  if (f->first_error.empty()) f->first_error = first;
  return ops / seconds;
}

MetaFigures MeasureMeta(const Settings& s, const std::string& dir, const MetaOps& ops) {
  MetaFigures f;
  f.creates = Phase(s, dir, "create", ops.create, &f, &f.create_cpu_us, &f.create_busy);
  f.stats = Phase(s, dir, "stat", ops.stat, &f, &f.stat_cpu_us, &f.stat_busy);
  f.unlinks = Phase(s, dir, "unlink", ops.unlink, &f, &f.unlink_cpu_us, &f.unlink_busy);
  return f;
}

// One thread's synced 4 KiB appends (pwrite + fdatasync, as a WAL append) to a file in
// `dir`: the latency and the machine's CPU per append, in microseconds.
struct SyncedWrite {
  double latency_us = 0, cpu_us = 0;
};
SyncedWrite MeasureSyncedWrites(const std::string& dir, int count) {
  SyncedWrite out;
  const std::string path = dir + "/synced-writes";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return out;
  std::vector<char> block(4096, 's');
  const double busy0 = MachineBusySeconds();
  const auto t0 = SteadyClock::now();
  int done = 0;
  for (; done < count; ++done) {
    if (::pwrite(fd, block.data(), block.size(), off_t{4096} * done) != 4096) break;
    if (::fdatasync(fd) != 0) break;
  }
  const double seconds = SecondsSince(t0);
  const double busy = MachineBusySeconds() - busy0;
  ::close(fd);
  ::unlink(path.c_str());
  if (done == 0) return out;
  out.latency_us = seconds / done * 1e6;
  out.cpu_us = busy / done * 1e6;
  return out;
}

// One thread's metadata round trips (cvfs_stat of one path): microseconds each.
double StatLatencyUs(cvfs_fs* fs, const std::string& path, int count) {
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < count; ++i) {
    struct stat st;
    if (cvfs_stat(fs, path.c_str(), &st) != 0) return -1;
  }
  return SecondsSince(t0) / count * 1e6;
}

MetaOps SyscallOps() {
  MetaOps ops;
  ops.create = [](const std::string& p) {
    int fd = ::open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    return ::close(fd) == 0 ? 0 : -errno;
  };
  ops.stat = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 ? 0 : -errno;
  };
  ops.unlink = [](const std::string& p) { return ::unlink(p.c_str()) == 0 ? 0 : -errno; };
  return ops;
}

MetaOps CvfsOps(cvfs_fs* fs) {
  MetaOps ops;
  ops.create = [fs](const std::string& p) {
    int fd = cvfs_open(fs, p.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) return fd;
    return cvfs_close(fs, fd);
  };
  ops.stat = [fs](const std::string& p) {
    struct stat st;
    return cvfs_stat(fs, p.c_str(), &st);
  };
  ops.unlink = [fs](const std::string& p) { return cvfs_unlink(fs, p.c_str()); };
  return ops;
}

// One stream of sequential 1 MiB writes (then close, which commits): GB/s, or -1 on error.
double SeqWriteCvfs(cvfs_fs* fs, const std::string& path, uint64_t mib) {
  std::vector<char> buf(1 << 20, 'w');
  const auto t0 = SteadyClock::now();
  int fd = cvfs_open(fs, path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) return -1;
  for (uint64_t i = 0; i < mib; ++i) {
    if (cvfs_pwrite(fs, fd, buf.data(), buf.size(), static_cast<off_t>(i << 20)) !=
        static_cast<ssize_t>(buf.size())) {
      cvfs_close(fs, fd);
      return -1;
    }
  }
  if (cvfs_close(fs, fd) != 0) return -1;
  return double(mib << 20) / SecondsSince(t0) / 1e9;
}

double SeqWriteSyscall(const std::string& path, uint64_t mib) {
  std::vector<char> buf(1 << 20, 'w');
  const auto t0 = SteadyClock::now();
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  for (uint64_t i = 0; i < mib; ++i) {
    if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(i << 20)) !=
        static_cast<ssize_t>(buf.size())) {
      ::close(fd);
      return -1;
    }
  }
  if (::close(fd) != 0) return -1;
  return double(mib << 20) / SecondsSince(t0) / 1e9;
}

// A FUSE mount of the cluster's filesystem at `mountpoint` through bin/cvfs-mount.
class FuseMount {
 public:
  static std::unique_ptr<FuseMount> Start(const TestCluster& cluster, const std::string& spec,
                                          const std::string& mountpoint) {
    const std::string program = BinPath("cvfs-mount");
    if (!std::filesystem::exists(program)) return nullptr;
    return Run("'" + program + "' '" + spec + "' '" + mountpoint + "' --etcd '" +
                   cluster.etcd_endpoint() + "' --provider '" + cluster.provider() +
                   "' --munge-socket '" + cluster.munge_socket() + "'",
               mountpoint);
  }
  // The bare passthrough of `source` (fuse_passthrough, beside this program).
  static std::unique_ptr<FuseMount> Passthrough(const std::string& source,
                                                const std::string& mountpoint) {
    const std::string program = BinPath("fuse_passthrough");
    if (!std::filesystem::exists(program)) return nullptr;
    std::filesystem::create_directories(source);
    return Run("'" + program + "' '" + source + "' '" + mountpoint + "'", mountpoint);
  }

 private:
  static std::unique_ptr<FuseMount> Run(const std::string& command, const std::string& mountpoint) {
    std::filesystem::create_directories(mountpoint);
    struct stat before;
    if (::stat(mountpoint.c_str(), &before) != 0) return nullptr;
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "fuse: %s failed\n", command.c_str());
      return nullptr;
    }
    for (int i = 0; i < 100; ++i) {  // mounted when the directory's device changes
      struct stat now;
      if (::stat(mountpoint.c_str(), &now) == 0 && now.st_dev != before.st_dev) {
        return std::unique_ptr<FuseMount>(new FuseMount(mountpoint));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "fuse: %s did not become a mount\n", mountpoint.c_str());
    return nullptr;
  }

 public:
  ~FuseMount() {
    const std::string command =
        "fusermount3 -u '" + mountpoint_ + "' || umount -l '" + mountpoint_ + "'";
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "fuse: unmount failed\n");
  }

 private:
  explicit FuseMount(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}
  const std::string mountpoint_;
};

void PrintRow(const char* name, double cvfs, double local, double fuse, double passthrough,
              double target_cvfs, double target_fuse) {
  std::printf("%-8s %9.0f/s %10.0f/s %6.3f", name, cvfs, local, cvfs / local);
  if (fuse > 0) {
    std::printf(" %9.0f/s %6.3f", fuse, fuse / cvfs);
  } else {
    std::printf(" %11s %6s", "-", "-");
  }
  if (passthrough > 0) {
    std::printf(" %9.0f/s %6.3f", passthrough, fuse / passthrough);
  } else {
    std::printf(" %11s %6s", "-", "-");
  }
  if (target_cvfs > 0) {
    std::printf("  target C API >= %.0f/s %s", target_cvfs, cvfs >= target_cvfs ? "MET" : "MISSED");
  }
  if (target_fuse > 0 && fuse > 0) {
    std::printf(", FUSE >= %.0f/s %s", target_fuse, fuse >= target_fuse ? "MET" : "MISSED");
  }
  std::printf("\n");
}

int Run(const Settings& s) {
  ClusterOptions options;
  options.nodes = 6;
  options.provider = s.provider;
  options.base_dir = s.dir;
  std::printf(
      "meta_bench: 6 cvfsd on loopback (%s), 4+2, %d threads x %d files in one directory, "
      "drives under %s\n",
      s.provider.c_str(), s.threads, s.files_per_thread, s.dir.c_str());
  auto started = StartWithFilesystem(options, "meta", "4+2", "128K");
  if (!started.ok()) {
    std::fprintf(stderr, "cluster: %s\n", started.status().ToString().c_str());
    return 1;
  }
  TestCluster& cluster = *started->cluster;
  const std::string spec = cluster.cluster_name() + ":meta";
  cvfs_fs* fs = nullptr;
  if (int rc = MountCvfs(cluster, "meta", &fs); rc != 0) {
    std::fprintf(stderr, "cvfs_mount %s: %s\n", spec.c_str(), cvfs_strerror(rc));
    return 1;
  }

  if (cvfs_mkdir(fs, "/capi", 0755) != 0) return 1;
  const MetaFigures capi = MeasureMeta(s, "/capi", CvfsOps(fs));
  // A file in the root directory: its stat is one Lookup round trip (the entry and the
  // inode are in the same PG, the root comes from the walker's cache).
  double stat_latency_us = -1;
  if (int fd = cvfs_open(fs, "/round-trip-probe", O_CREAT | O_WRONLY, 0644); fd >= 0) {
    cvfs_close(fs, fd);
    stat_latency_us = StatLatencyUs(fs, "/round-trip-probe", 2000);
  }
  const SyncedWrite synced = MeasureSyncedWrites(cluster.dir(), 1000);

  const std::string local_dir = cluster.dir() + "/meta-baseline";
  std::filesystem::create_directories(local_dir);
  const MetaFigures local = MeasureMeta(s, local_dir, SyscallOps());
  std::filesystem::remove_all(local_dir);

  MetaFigures fuse_figures;
  double capi_write = SeqWriteCvfs(fs, "/seq-capi", s.write_mib);
  double fuse_write = 0;
  std::unique_ptr<FuseMount> mount;
  const std::string mountpoint = cluster.dir() + "/fuse";
  if (s.fuse) mount = FuseMount::Start(cluster, spec, mountpoint);
  if (mount) {
    std::filesystem::create_directories(mountpoint + "/fuse");
    fuse_figures = MeasureMeta(s, mountpoint + "/fuse", SyscallOps());
    fuse_write = SeqWriteSyscall(mountpoint + "/seq-fuse", s.write_mib);
  } else {
    std::printf("(no FUSE figures: %s)\n",
                s.fuse ? "bin/cvfs-mount missing or not mounted" : "--no-fuse");
  }
  mount.reset();
  cvfs_unmount(fs);

  // What FUSE itself allows here: the same phases through a bare passthrough to a local
  // directory on the drives' file system.
  MetaFigures passthrough;
  if (s.fuse) {
    auto bare = FuseMount::Passthrough(cluster.dir() + "/passthrough-source",
                                       cluster.dir() + "/passthrough");
    if (bare) {
      std::filesystem::create_directories(cluster.dir() + "/passthrough/p");
      passthrough = MeasureMeta(s, cluster.dir() + "/passthrough/p", SyscallOps());
    } else {
      std::printf("(no FUSE passthrough figures: bin/fuse_passthrough missing or not mounted)\n");
    }
  }

  const MetaFigures& fuse = fuse_figures;
  for (const MetaFigures* f :
       std::initializer_list<const MetaFigures*>{&capi, &local, &fuse, &passthrough}) {
    if (f->errors > 0) {
      std::fprintf(stderr, "%d errors (first: %s): figures invalid\n", f->errors,
                   f->first_error.c_str());
      return 1;
    }
  }
  std::printf("\n%-8s %11s %12s %6s %11s %6s %11s %6s\n", "", "C API", "local dir", "ratio", "FUSE",
              "F/C", "bare FUSE", "F/bare");
  PrintRow("create", capi.creates, local.creates, fuse.creates, passthrough.creates, 10000, 1800);
  PrintRow("stat", capi.stats, local.stats, fuse.stats, passthrough.stats, 0, 0);
  PrintRow("unlink", capi.unlinks, local.unlinks, fuse.unlinks, passthrough.unlinks, 0, 0);
  // Where the time goes: the whole machine's CPU per op. When the cores are (nearly) all
  // busy, the rate is what the CPU allows: cores x 1e6 / (CPU us per op).
  std::printf("\nmachine CPU per op (all processes, %u cores), busy share of the cores:\n",
              std::thread::hardware_concurrency());
  auto cpu_row = [](const char* name, double capi_us, double capi_busy, double fuse_us,
                    double fuse_busy, double bare_us, double bare_busy) {
    std::printf("%-8s C API %6.0f us (busy %3.0f%%)", name, capi_us, 100 * capi_busy);
    if (fuse_us > 0) std::printf("  FUSE %6.0f us (busy %3.0f%%)", fuse_us, 100 * fuse_busy);
    if (bare_us > 0) std::printf("  bare FUSE %6.0f us (busy %3.0f%%)", bare_us, 100 * bare_busy);
    std::printf("\n");
  };
  cpu_row("create", capi.create_cpu_us, capi.create_busy, fuse.create_cpu_us, fuse.create_busy,
          passthrough.create_cpu_us, passthrough.create_busy);
  cpu_row("stat", capi.stat_cpu_us, capi.stat_busy, fuse.stat_cpu_us, fuse.stat_busy,
          passthrough.stat_cpu_us, passthrough.stat_busy);
  cpu_row("unlink", capi.unlink_cpu_us, capi.unlink_busy, fuse.unlink_cpu_us, fuse.unlink_busy,
          passthrough.unlink_cpu_us, passthrough.unlink_busy);
  const unsigned cores = std::thread::hardware_concurrency();
  std::printf(
      "\nceiling ingredients, same run: one metadata round trip (1-thread stat of a file) %.0f us; "
      "a "
      "synced 4 KiB append on the drives' file system %.0f us, %.0f us of CPU\n",
      stat_latency_us, synced.latency_us, synced.cpu_us);
  std::printf(
      "C API: the creates ran at %.0f%% busy: at 100%% they would reach %.0f/s. 10k/s "
      "allows %.0f us of machine CPU per create; a stat (one round trip, nothing written) "
      "costs %.0f us, a create adds its batch's trip to %s replicas and a synced WAL append "
      "on each of them\n",
      100 * capi.create_busy, cores * 1e6 / capi.create_cpu_us, cores * 1e6 / 10000,
      capi.stat_cpu_us, "2 (4+2: P+1 = 3 copies)");
  // The least a replicated create can cost with the best grouping 4 threads allow (4
  // creates per group): its own round trip, a quarter of the two replica round trips and of
  // the three synced appends (primary and both replicas).
  const double floor_us = capi.stat_cpu_us * (1 + 2.0 / 4) + 3 * synced.cpu_us / 4;
  std::printf(
      "floor with 4 creates per group: %.0f + 2 x %.0f / 4 + 3 x %.0f / 4 = %.0f us per create "
      "-> at most %.0f creates/s on %u cores\n",
      capi.stat_cpu_us, capi.stat_cpu_us, synced.cpu_us, floor_us, cores * 1e6 / floor_us, cores);
  if (passthrough.creates > 0) {
    const double budget_us = 1e6 / 1800 - 1e6 / passthrough.creates;
    std::printf(
        "FUSE: the kernel holds the directory's lock across lookup + create, so creates in one "
        "directory are serial: at the bare passthrough's %.0f/s, 1.8k/s leaves the file system "
        "%.0f us per create for a lookup round trip and a replicated, synced create\n",
        passthrough.creates, budget_us);
  }

  std::printf("\nsequential 1 MiB writes, one stream, %llu MiB: C API %.3f GB/s",
              static_cast<unsigned long long>(s.write_mib), capi_write);
  if (fuse_write > 0) {
    std::printf(", FUSE %.3f GB/s, FUSE/C API %.3f (target >= 0.70 %s)", fuse_write,
                fuse_write / capi_write, fuse_write >= 0.7 * capi_write ? "MET" : "MISSED");
  }
  std::printf("\n");
  return capi_write < 0 || fuse_write < 0 ? 1 : 0;
}

}  // namespace
}  // namespace cvfs::testing

int main(int argc, char** argv) {
  CLI::App app{
      "meta_bench: creates, stats and unlinks per second through the libcvfs C API "
      "(and FUSE) on a 6-backend cluster, beside a local directory"};
  cvfs::testing::Settings s;
  bool no_fuse = false;
  app.add_option("--threads", s.threads, "threads, all in one directory");
  app.add_option("--files-per-thread", s.files_per_thread, "files each thread creates");
  app.add_option("--write-mib", s.write_mib, "MiB of the sequential write stream");
  app.add_option("--dir", s.dir, "where the cluster's directories (drives) go");
  app.add_option("--provider", s.provider, "fabric provider");
  app.add_flag("--no-fuse", no_fuse, "skip the FUSE figures");
  CLI11_PARSE(app, argc, argv);
  s.fuse = !no_fuse;
  return cvfs::testing::Run(s);
}
