// mpiio_bench: N MPI ranks writing (then reading back and verifying) one shared file, in
// interleaved (strided view) and segmented patterns, with independent and collective calls,
// (a) through the MPI-IO adapter (libcvfs_mpiio.so preloaded, `cvfs:` names) and (b) in the
// same run through Open MPI's own MPI-IO (ompio) on a FUSE mount of the same filesystem:
// bandwidths and the ratio. Target (issue #5): the adapter at least 2x faster for
// collective interleaved writes. A real 6-backend cluster (4+2) on loopback, real mpirun.
// Not a ctest; run as root (FUSE).
//
// Usage: mpiio_bench [--ranks 4] [--mib-per-rank 16] [--interleave-kib 64]
//                    [--segment-block-kib 1024] [--dir /tmp]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cvfs/cvfs.h"
#include "tests/cluster/datapath_support.h"
#include "tests/cluster/fuse_mount.h"
#include "tests/cluster/libcvfs_cluster.h"

namespace cvfs::testing {
namespace {

struct Settings {
  int ranks = 4;
  int mib_per_rank = 16;
  int interleave_kib = 64;
  int segment_block_kib = 1024;
  std::string dir = "/tmp";
};

struct Figures {
  double write = -1, read = -1;  // MB/s
  bool verified = false;
};

Figures Parse(const std::string& out) {
  Figures f;
  const auto w = out.find("write_MBps=");
  const auto r = out.find("read_MBps=");
  if (w != std::string::npos) f.write = std::atof(out.c_str() + w + 11);
  if (r != std::string::npos) f.read = std::atof(out.c_str() + r + 10);
  f.verified = out.find("verified=yes") != std::string::npos;
  return f;
}

Figures RunOnce(const TestCluster& cluster, const Settings& s, bool adapter,
                const std::string& file, const std::string& pattern, const std::string& mode,
                int cb_nodes) {
  const int block_kib = pattern == "interleaved" ? s.interleave_kib : s.segment_block_kib;
  const long long block = int64_t{block_kib} << 10;
  const long long blocks = (int64_t{s.mib_per_rank} << 20) / block;
  std::string env;
  if (adapter) {
    env = " -x LD_PRELOAD=" + BinPath("../lib/libcvfs_mpiio.so") +
          " -x CVFS_MPIIO_FS=" + cluster.cluster_name() +
          ":bench -x CVFS_ETCD=" + cluster.etcd_endpoint() +
          " -x CVFS_MUNGE_SOCKET=" + cluster.munge_socket();
  }
  const std::string command =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 900 mpirun "
      "--oversubscribe -np " +
      std::to_string(s.ranks) + env + " " + BinPath("mpiio_bench_rank") + " " + file + " " +
      pattern + " " + mode + " " + std::to_string(block) + " " + std::to_string(blocks) +
      (cb_nodes > 0 ? " " + std::to_string(cb_nodes) : std::string()) + " 2>/dev/null";
  std::string out;
  const int rc = RunCommand(command, &out);
  Figures f = Parse(out);
  if (rc != 0 || !f.verified) {
    std::fprintf(stderr, "mpiio_bench: %s %s %s failed (exit %d): %s\n",
                 adapter ? "adapter" : "ompio/FUSE", pattern.c_str(), mode.c_str(), rc,
                 out.c_str());
    f.verified = false;
  }
  return f;
}

using SteadyClock = std::chrono::steady_clock;

// The ceiling of one aggregator: one process writing `mib` MiB sequentially in 16 MiB calls
// through libcvfs (what the adapter's aggregator does), and in 1 MiB calls through the FUSE
// mount (what ompio's aggregator does there). MB/s, -1 on error.
double LibcvfsStream(const TestCluster& cluster, const std::string& path, int mib) {
  cvfs_fs* fs = nullptr;
  if (MountCvfs(cluster, "bench", &fs) != 0) return -1;
  std::vector<char> buf(16 << 20, 'c');
  const auto t0 = SteadyClock::now();
  int fd = cvfs_open(fs, path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  bool ok = fd >= 0;
  for (int64_t at = 0; ok && at < (int64_t{mib} << 20); at += buf.size()) {
    ok = cvfs_pwrite(fs, fd, buf.data(), buf.size(), at) == static_cast<ssize_t>(buf.size());
  }
  if (fd >= 0) ok = cvfs_close(fs, fd) == 0 && ok;
  const double seconds = SecondsSince(t0);
  cvfs_unmount(fs);
  return ok ? (int64_t{mib} << 20) / seconds / 1e6 : -1;
}

double FuseStream(const std::string& path, int mib) {
  std::vector<char> buf(1 << 20, 'f');
  const auto t0 = SteadyClock::now();
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  for (int64_t at = 0; ok && at < (int64_t{mib} << 20); at += buf.size()) {
    ok = ::pwrite(fd, buf.data(), buf.size(), at) == static_cast<ssize_t>(buf.size());
  }
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  return ok ? (int64_t{mib} << 20) / SecondsSince(t0) / 1e6 : -1;
}

int Run(const Settings& s) {
  ClusterOptions options;
  options.nodes = 6;
  options.base_dir = s.dir;
  auto started = StartWithFilesystem(options, "bench", "4+2", "128K");
  if (!started.ok()) {
    std::fprintf(stderr, "cluster: %s\n", started.status().ToString().c_str());
    return 1;
  }
  TestCluster& cluster = *started->cluster;
  const std::string mnt = cluster.dir() + "/mnt";
  std::filesystem::create_directories(mnt);
  ForegroundMount mount(cluster, "bench", mnt, "", cluster.dir() + "/mount.log");
  if (!mount.error().empty()) {
    std::fprintf(stderr, "fuse: %s\n", mount.error().c_str());
    return 1;
  }
  std::printf(
      "mpiio_bench: %d ranks x %d MiB, 6 cvfsd on loopback (4+2), interleaved blocks %d KiB, "
      "segmented blocks %d KiB; MB/s from barrier to barrier, open and close included\n\n",
      s.ranks, s.mib_per_rank, s.interleave_kib, s.segment_block_kib);
  std::printf("%-12s %-15s %14s %14s %7s %14s %14s %7s\n", "pattern", "calls", "adapter write",
              "ompio/FUSE", "ratio", "adapter read", "ompio/FUSE", "ratio");
  bool all_ok = true;
  double target_ratio = 0;
  int n = 0;
  // Collective runs use the default aggregators (one per node: one here) and, again, one
  // aggregator per rank (cb_nodes = ranks) for both.
  struct Case {
    std::string pattern, mode;
    int cb_nodes;
  };
  const std::vector<Case> cases = {
      {"interleaved", "collective", 0},     {"interleaved", "collective", s.ranks},
      {"interleaved", "independent", 0},    {"segmented", "collective", 0},
      {"segmented", "collective", s.ranks}, {"segmented", "independent", 0}};
  for (const Case& c : cases) {
    const std::string name = c.pattern + "-" + c.mode + "-" + std::to_string(n++);
    const Figures ours = RunOnce(cluster, s, true, "cvfs:/" + name, c.pattern, c.mode, c.cb_nodes);
    const Figures theirs =
        RunOnce(cluster, s, false, mnt + "/" + name + ".fuse", c.pattern, c.mode, c.cb_nodes);
    all_ok = all_ok && ours.verified && theirs.verified;
    const std::string calls = c.mode + (c.cb_nodes > 0 ? " cb" + std::to_string(c.cb_nodes) : "");
    std::printf("%-12s %-15s %11.1f/s %11.1f/s %7.2f %11.1f/s %11.1f/s %7.2f\n", c.pattern.c_str(),
                calls.c_str(), ours.write, theirs.write, ours.write / theirs.write, ours.read,
                theirs.read, ours.read / theirs.read);
    std::fflush(stdout);
    if (c.pattern == "interleaved" && c.mode == "collective" && c.cb_nodes == 0) {
      target_ratio = ours.write / theirs.write;
    }
  }
  std::printf("\ncollective interleaved writes: adapter / ompio on FUSE = %.2f (target >= 2: %s)\n",
              target_ratio, target_ratio >= 2 ? "MET" : "MISSED");
  // With one aggregator per node, each side's collective write is one process streaming
  // the file: the most either can do is that stream's rate.
  const int total_mib = s.ranks * s.mib_per_rank;
  const double direct = LibcvfsStream(cluster, "/stream-libcvfs", total_mib);
  const double fuse = FuseStream(mnt + "/stream-fuse", total_mib);
  std::printf(
      "one process streaming %d MiB: libcvfs (16 MiB calls) %.1f MB/s, FUSE mount (1 MiB "
      "calls) %.1f MB/s: ratio %.2f, the most one aggregator per node can gain here\n",
      total_mib, direct, fuse, direct / fuse);
  if (!all_ok) std::printf("some runs failed or did not verify: figures invalid\n");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace cvfs::testing

int main(int argc, char** argv) {
  CLI::App app{
      "mpiio_bench: shared-file MPI-IO through the ConvergeFS adapter vs Open MPI's ompio on "
      "a FUSE mount, same cluster, same run"};
  cvfs::testing::Settings s;
  app.add_option("--ranks", s.ranks, "MPI ranks (mpirun --oversubscribe)");
  app.add_option("--mib-per-rank", s.mib_per_rank, "MiB each rank writes");
  app.add_option("--interleave-kib", s.interleave_kib, "block of the interleaved pattern");
  app.add_option("--segment-block-kib", s.segment_block_kib, "call size of the segmented pattern");
  app.add_option("--dir", s.dir, "where the cluster's directories (drives) go");
  CLI11_PARSE(app, argc, argv);
  return cvfs::testing::Run(s);
}
