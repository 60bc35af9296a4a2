// rebuild_bench (issue #6): rebuild throughput after losing one backend, beside the raw
// drive bandwidth measured in the same run on the same file system.
//
// 7 cvfsd on loopback, 4+2 (one spare failure domain, so the lost node's slots have somewhere
// to go), 128 KiB cells. It writes --gib of data (x 1.5 stored, about 1/7 of it on each
// node), kills one node with -9, and times from its grace period's end (the manager moves
// its slots) until the filesystem is fully protected again. Printed: bytes rebuilt (the
// cells written by the rebuild), seconds, rebuild rate, and the same machine's raw
// sequential write bandwidth to a plain file on the drives' file system (O_DIRECT where
// accepted) and a sequential read, measured in this run. Not a ctest: run it by hand
// (as root), e.g. `build/bin/rebuild_bench --gib 3`.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

// Sequential write then read of `bytes` to a file in `dir`, 1 MiB blocks; GB/s each.
std::pair<double, double> RawDrive(const std::string& dir, uint64_t bytes) {
  const std::string path = dir + "/raw-baseline";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  const bool direct = fd >= 0;
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return {0, 0};
  constexpr size_t kBlock = 1 << 20;
  void* buf = nullptr;
  if (::posix_memalign(&buf, 4096, kBlock) != 0) return {0, 0};
  std::memset(buf, 7, kBlock);
  auto t0 = SteadyClock::now();
  for (uint64_t o = 0; o < bytes; o += kBlock) {
    if (::pwrite(fd, buf, kBlock, static_cast<off_t>(o)) != static_cast<ssize_t>(kBlock)) break;
  }
  ::fdatasync(fd);
  const double write = bytes / Seconds(t0) / 1e9;
  if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  t0 = SteadyClock::now();
  for (uint64_t o = 0; o < bytes; o += kBlock) {
    if (::pread(fd, buf, kBlock, static_cast<off_t>(o)) != static_cast<ssize_t>(kBlock)) break;
  }
  const double read = bytes / Seconds(t0) / 1e9;
  ::close(fd);
  ::unlink(path.c_str());
  std::free(buf);
  return {write, read};
}

// Sum of `bytes=` of every rebuild.pg_done line (rebuilds, not resyncs) in the logs.
uint64_t RebuiltBytes(const TestCluster& cluster) {
  const std::regex re("rebuild\\.pg_done .* slots=(\\S+) .* bytes=(\\d+) ");
  uint64_t total = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    std::ifstream in(cluster.log_path(i));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, re) && m[1].str().find(":rebuild") != std::string::npos) {
        total += std::stoull(m[2]);
      }
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rebuild_bench: rebuild throughput after losing one backend"};
  double gib = 1.0;
  int bandwidth_mib = 0;
  std::string dir;
  app.add_option("--gib", gib, "data written before the failure, GiB (stored x 1.5)")
      ->check(CLI::Range(0.01, 64.0));
  app.add_option("--rebuild-bandwidth", bandwidth_mib, "per-node rebuild limit, MiB/s (0: none)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--dir", dir, "where the node directories go (default $TMPDIR)");
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "rebuild_bench: run as root (MUNGE and the test harness need it)\n");
    return 2;
  }

  ClusterOptions options;
  options.nodes = 7;
  options.base_dir = dir;
  options.extra_config = {"[rebuild]", "node_grace_s = 3",
                          "bandwidth_mib = " + std::to_string(bandwidth_mib)};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "128K --pgs 128");
  if (!started.ok()) {
    std::fprintf(stderr, "rebuild_bench: %s\n", started.status().ToString().c_str());
    return 1;
  }
  auto& cluster = *started->cluster;
  ObjectClient& client = *started->client;
  const uint64_t total = static_cast<uint64_t>(gib * (1ull << 30));
  constexpr uint64_t kBlock = 4ull << 20;  // whole stripes (4 x 128 KiB) x 8
  constexpr int kStreams = 4;
  std::printf("rebuild_bench: 7 cvfsd, 4+2, 128 KiB cells, %.2f GiB written (%.2f GiB stored)\n",
              gib, gib * 1.5);
  std::atomic<int> errors{0};
  auto t0 = SteadyClock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < kStreams; ++w) {
    writers.emplace_back([&, w] {
      std::vector<std::byte> buf(kBlock, std::byte(w + 1));
      for (uint64_t off = 0; off < total / kStreams; off += kBlock) {
        if (Status st = client.Write(100 + w, off, buf); !st.ok()) {
          if (errors++ == 0) std::fprintf(stderr, "write: %s\n", st.ToString().c_str());
          return;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  if (errors > 0) return 1;
  std::printf("filled in %.1f s (%.3f GB/s of data)\n", Seconds(t0), total / Seconds(t0) / 1e9);

  const int victim = 3;
  cluster.KillNode(victim);
  const auto killed = SteadyClock::now();
  // Rebuild starts when the grace period ends and the map moves the slots.
  auto moved = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return s.value("rebuild", nlohmann::json::object()).value("active", false);
      },
      std::chrono::seconds(60));
  if (!moved.ok()) {
    std::fprintf(stderr, "rebuild never started: %s\n", moved.status().ToString().c_str());
    return 1;
  }
  const auto rebuild_start = SteadyClock::now();
  std::printf("slots reassigned %.1f s after the kill (grace 3 s, lease 2 s)\n", Seconds(killed));
  Status full = WaitFilesystemFull(cluster, "scratch", -1, std::chrono::minutes(60));
  if (!full.ok()) {
    std::fprintf(stderr, "rebuild did not finish: %s\n%s\n", full.ToString().c_str(),
                 cluster.DumpLogs(20).c_str());
    return 1;
  }
  const double rebuild_s = Seconds(rebuild_start);
  const uint64_t rebuilt = RebuiltBytes(cluster);

  // Every byte still reads back.
  std::vector<std::byte> buf(kBlock);
  for (int w = 0; w < kStreams && errors == 0; ++w) {
    for (uint64_t off = 0; off < total / kStreams; off += kBlock) {
      if (!client.Read(100 + w, off, buf).ok() || buf[kBlock / 2] != std::byte(w + 1)) {
        ++errors;
        break;
      }
    }
  }
  const auto [raw_write, raw_read] =
      RawDrive(cluster.drive_path(0), std::min<uint64_t>(total, 1ull << 30));
  std::printf("\n%-34s %12s\n", "", "figure");
  std::printf("%-34s %12.3f\n", "rebuilt (GB of cells)", rebuilt / 1e9);
  std::printf("%-34s %12.1f\n", "rebuild time (s)", rebuild_s);
  std::printf("%-34s %12.3f\n", "rebuild rate (GB/s written)", rebuilt / rebuild_s / 1e9);
  std::printf("%-34s %12.3f\n", "raw drive seq write, same fs (GB/s)", raw_write);
  std::printf("%-34s %12.3f\n", "raw drive seq read, same fs (GB/s)", raw_read);
  std::printf("%-34s %12.2f\n", "rebuild / raw write", rebuilt / rebuild_s / 1e9 / raw_write);
  std::printf("data verified after the rebuild: %s\n", errors == 0 ? "yes" : "NO");
  return errors == 0 ? 0 : 1;
}
