// datapath_bench: the erasure-coded data path end to end, through ObjectClient against a
// real 6-backend cluster (TestCluster: etcd, munged, 6 cvfsd on loopback), 4+2 with 128 KiB
// cells. Every figure is printed beside baselines measured in the same run (these machines
// are noisy, so the ratios are what to compare):
//   (a) the same I/O (block size, streams, total bytes) to plain local files on the same
//       file system as the drives (O_DIRECT where it is accepted);
//   (b) ISA-L 4+2 encode speed on one thread (user bytes/s).
// Not a ctest. Run it twice: drives on the local disk (default) and on tmpfs (--tmpfs), the
// software path alone. Figures go to docs/design/datapath.md.
//
// Usage: datapath_bench [--tmpfs] [--mib-per-stream 256] [--streams 4] [--random-seconds 3]
//                       [--random-threads 4] [--dir DIR] [--provider tcp;ofi_rxm]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/erasure_code.h"
#include "core/random.h"
#include "net/rpc.h"
#include "tests/cluster/datapath_support.h"

namespace cvfs::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

struct Settings {
  bool tmpfs = false;
  uint64_t mib_per_stream = 256;
  int streams = 4;
  double random_seconds = 3;
  int random_threads = 4;
  std::string dir = "/tmp";
  std::string provider = "tcp;ofi_rxm";
  bool phase_times = false;  // print CLOCK_MONOTONIC phase boundaries (for perf record -k mono)
};

// With --phase-times: "phase NAME start|end SECONDS" on stderr, CLOCK_MONOTONIC, the clock
// `perf record -k mono` stamps samples with, so `perf report --time A,B` isolates a phase.
void PhaseMark(const Settings& s, const std::string& name, const char* edge) {
  if (!s.phase_times) return;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::fprintf(stderr, "phase %s %s %ld.%06ld\n", name.c_str(), edge, static_cast<long>(ts.tv_sec),
               ts.tv_nsec / 1000);
}

// Runs `body(stream)` on `streams` threads; returns the wall time.
double RunStreams(int streams, const std::function<void(int)>& body) {
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) threads.emplace_back(body, s);
  for (auto& t : threads) t.join();
  return Seconds(t0);
}

void* AlignedBuffer(size_t bytes, uint8_t fill) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0) std::abort();
  std::memset(p, fill, bytes);
  return p;
}

// (a) Plain files: one per stream, O_DIRECT when the file system takes it.
struct LocalFigures {
  double write_gbps[2] = {0, 0};  // 1 MiB, 4 MiB
  double read_gbps[2] = {0, 0};
  double random_iops = 0;
  bool direct = false;
};

LocalFigures MeasureLocal(const Settings& s, const std::string& dir) {
  LocalFigures f;
  const uint64_t per_stream = s.mib_per_stream << 20;
  std::vector<std::string> paths;
  for (int i = 0; i < s.streams; ++i) paths.push_back(dir + "/baseline-" + std::to_string(i));
  auto open_file = [&](const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
    if (fd >= 0) {
      f.direct = true;
      return fd;
    }
    f.direct = false;
    return ::open(path.c_str(), flags, 0644);
  };
  const size_t blocks[2] = {1u << 20, 4u << 20};
  for (int b = 0; b < 2; ++b) {
    const size_t block = blocks[b];
    const double wt = RunStreams(s.streams, [&](int i) {
      int fd = open_file(paths[i], O_WRONLY | O_CREAT | O_TRUNC);
      void* buf = AlignedBuffer(block, static_cast<uint8_t>(i + 1));
      for (uint64_t off = 0; off < per_stream; off += block) {
        if (::pwrite(fd, buf, block, static_cast<off_t>(off)) != static_cast<ssize_t>(block)) {
          std::perror("pwrite");
          std::exit(1);
        }
      }
      ::fdatasync(fd);
      ::close(fd);
      std::free(buf);
    });
    f.write_gbps[b] = double(per_stream) * s.streams / wt / 1e9;
    const double rt = RunStreams(s.streams, [&](int i) {
      int fd = open_file(paths[i], O_RDONLY);
      void* buf = AlignedBuffer(block, 0);
      for (uint64_t off = 0; off < per_stream; off += block) {
        if (::pread(fd, buf, block, static_cast<off_t>(off)) != static_cast<ssize_t>(block)) {
          std::perror("pread");
          std::exit(1);
        }
      }
      ::close(fd);
      std::free(buf);
    });
    f.read_gbps[b] = double(per_stream) * s.streams / rt / 1e9;
  }
  std::atomic<uint64_t> ops{0};
  const double t = RunStreams(s.random_threads, [&](int i) {
    int fd = open_file(paths[i % s.streams], O_RDONLY);
    void* buf = AlignedBuffer(4096, 0);
    Random random(100 + i);
    const uint64_t blocks4k = per_stream / 4096;
    const auto t0 = SteadyClock::now();
    uint64_t n = 0;
    while (Seconds(t0) < s.random_seconds) {
      const off_t off = static_cast<off_t>(random.Uniform(blocks4k) * 4096);
      if (::pread(fd, buf, 4096, off) != 4096) std::exit(1);
      ++n;
    }
    ops += n;
    ::close(fd);
    std::free(buf);
  });
  f.random_iops = double(ops) / t;
  for (const auto& p : paths) ::unlink(p.c_str());
  return f;
}

// (b) ISA-L 4+2 encode, user bytes/s, one thread.
double MeasureEncode() {
  auto ec = ErasureCode::Create(4, 2);
  const size_t cell = 128 * 1024;
  std::vector<std::vector<uint8_t>> cells(6, std::vector<uint8_t>(cell, 7));
  const uint8_t* data[4];
  uint8_t* parity[2];
  for (int i = 0; i < 4; ++i) data[i] = cells[i].data();
  for (int i = 0; i < 2; ++i) parity[i] = cells[4 + i].data();
  const auto t0 = SteadyClock::now();
  uint64_t n = 0;
  while (Seconds(t0) < 0.5) {
    for (int i = 0; i < 64; ++i) (void)ec->Encode(data, parity, cell);
    n += 64;
  }
  return double(n) * 4 * cell / Seconds(t0) / 1e9;
}

// (c) The CPU floor of this design on this machine, measured in the same run: what moving
// and storing the bytes alone costs, with no protocol, no thread hand-offs and no other
// process competing. A 4+2 write moves each user byte client -> primary (1) and the five
// remote cells primary -> members (5/4), and stores 6/4 of it; a read moves 1 and loads 1.
// The ceiling is the machine's cores divided by that CPU cost: no implementation of this
// data path on this transport can exceed it, and on disk the device bounds it too.
struct Floor {
  double move_cpu_s_per_gb = 0;   // RMA of 128 KiB segments between two endpoints
  double move_gbps = 0;           // the same transfer's wall-clock rate
  double store_cpu_s_per_gb = 0;  // pwrite of 128 KiB cells (+ fdatasync) on the drives' fs
  double load_cpu_s_per_gb = 0;   // pread of the same
  // Small request, 4 KiB reply, answered inline, `random_threads` callers: the transport's
  // own rate for what a 4 KiB random read needs at least (one round trip).
  double small_calls_per_s = 0;
  int cores = 1;
};

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

Floor MeasureFloor(const Settings& s, const std::string& dir) {
  Floor f;
  f.cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  constexpr size_t kSegment = 128 * 1024;
  constexpr size_t kBatch = 16;
  const size_t region = 64u << 20;
  const size_t total = 512u << 20;
  {
    net::RpcOptions o;
    o.provider = s.provider;
    o.require_auth = false;
    o.name = "floor-a";
    auto a = net::RpcEndpoint::Create(o);
    o.name = "floor-b";
    auto b = net::RpcEndpoint::Create(o);
    if (!a.ok() || !b.ok()) return f;
    auto peer = (*a)->Connect((*b)->address(), std::chrono::seconds(5));
    std::vector<char> local(region, 1), remote(region, 2);
    auto lmr = (*a)->RegisterMemory(local.data(), region);
    auto rmr = (*b)->RegisterMemory(remote.data(), region);
    if (!peer.ok() || !lmr.ok() || !rmr.ok()) return f;
    std::vector<net::RmaSegment> segs(kBatch);
    const double cpu0 = ProcessCpuSeconds();
    const auto t0 = SteadyClock::now();
    size_t off = 0;
    for (size_t done = 0; done < total; done += kSegment * kBatch) {
      for (auto& seg : segs) {
        seg = net::RmaSegment{*peer, off, kSegment, (*rmr)->remote(), off};
        off = (off + kSegment) % region;
      }
      if (!(*a)->RmaReadBatch(**lmr, segs, std::chrono::seconds(10)).ok()) return f;
    }
    f.move_gbps = double(total) / Seconds(t0) / 1e9;
    f.move_cpu_s_per_gb = (ProcessCpuSeconds() - cpu0) / (double(total) / 1e9);

    constexpr uint16_t kFourKiBMethod = 60001;  // this benchmark's own handler
    (*b)->RegisterHandler(
        kFourKiBMethod,
        [](const net::RpcContext&, std::string_view) -> Result<std::string> {
          return std::string(4096, 'r');
        },
        net::HandlerMode::kInline);
    std::atomic<uint64_t> calls{0};
    const double seconds = RunStreams(s.random_threads, [&](int) {
      const std::string request(96, 'q');  // about a ReadCellRequest
      const auto t_start = SteadyClock::now();
      uint64_t n = 0;
      while (Seconds(t_start) < 1.0) {
        if (!(*a)->Call(*peer, kFourKiBMethod, request, std::chrono::seconds(5)).ok()) return;
        ++n;
      }
      calls += n;
    });
    f.small_calls_per_s = double(calls) / seconds;
  }
  const std::string path = dir + "/floor-cells";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return f;
  const size_t file_bytes = 256u << 20;
  void* buf = AlignedBuffer(kSegment, 3);
  double cpu0 = ProcessCpuSeconds();
  for (size_t o = 0; o < file_bytes; o += kSegment) {
    if (::pwrite(fd, buf, kSegment, static_cast<off_t>(o)) != static_cast<ssize_t>(kSegment)) {
      break;
    }
  }
  ::fdatasync(fd);
  f.store_cpu_s_per_gb = (ProcessCpuSeconds() - cpu0) / (double(file_bytes) / 1e9);
  cpu0 = ProcessCpuSeconds();
  for (size_t o = 0; o < file_bytes; o += kSegment) {
    if (::pread(fd, buf, kSegment, static_cast<off_t>(o)) != static_cast<ssize_t>(kSegment)) {
      break;
    }
  }
  f.load_cpu_s_per_gb = (ProcessCpuSeconds() - cpu0) / (double(file_bytes) / 1e9);
  ::close(fd);
  ::unlink(path.c_str());
  std::free(buf);
  return f;
}

struct ClusterFigures {
  double write_gbps[2] = {0, 0};
  double read_gbps[2] = {0, 0};
  double random_iops = 0;
};

int Run(const Settings& s) {
  ClusterOptions options;
  options.nodes = 6;
  options.provider = s.provider;
  options.base_dir = s.dir;
  const uint64_t per_stream = s.mib_per_stream << 20;
  const uint64_t total = per_stream * s.streams;
  // Cells of both block sizes, plus room for the local-file baseline on drive 0.
  if (s.tmpfs) options.drive_tmpfs_bytes = total * 2 / 6 * 2 + total + (256ull << 20);
  std::printf(
      "datapath_bench: 6 cvfsd on loopback (%s), 4+2, 128 KiB cells, drives on %s, "
      "%d streams x %llu MiB\n",
      s.provider.c_str(), s.tmpfs ? "tmpfs" : s.dir.c_str(), s.streams,
      static_cast<unsigned long long>(s.mib_per_stream));
  auto cluster_or = TestCluster::Start(options);
  if (!cluster_or.ok()) {
    std::fprintf(stderr, "cluster: %s\n", cluster_or.status().ToString().c_str());
    return 1;
  }
  auto& cluster = **cluster_or;
  if (Status st = cluster.CreateFilesystem("bench", "4+2", "128K"); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  if (auto fs = WaitFilesystemPlaced(cluster, "bench"); !fs.ok()) {
    std::fprintf(stderr, "%s\n", fs.status().ToString().c_str());
    return 1;
  }
  auto client_or = OpenObjectClient(cluster, "bench", "bench");
  if (!client_or.ok()) {
    std::fprintf(stderr, "client: %s\n", client_or.status().ToString().c_str());
    return 1;
  }
  ObjectClient& client = **client_or;

  ClusterFigures c;
  const size_t blocks[2] = {1u << 20, 4u << 20};
  std::atomic<int> errors{0};
  for (int b = 0; b < 2; ++b) {
    const size_t block = blocks[b];
    const uint64_t inode_base = 1000 * (b + 1);
    const std::string size_name = b == 0 ? "1MiB" : "4MiB";
    PhaseMark(s, "write" + size_name, "start");
    const double wt = RunStreams(s.streams, [&](int i) {
      std::vector<std::byte> buf(block, std::byte(i + 1));
      for (uint64_t off = 0; off < per_stream; off += block) {
        if (Status st = client.Write(inode_base + i, off, buf); !st.ok()) {
          if (errors++ == 0) std::fprintf(stderr, "write: %s\n", st.ToString().c_str());
          return;
        }
      }
    });
    c.write_gbps[b] = double(total) / wt / 1e9;
    PhaseMark(s, "write" + size_name, "end");
    PhaseMark(s, "read" + size_name, "start");
    const double rt = RunStreams(s.streams, [&](int i) {
      std::vector<std::byte> buf(block);
      for (uint64_t off = 0; off < per_stream; off += block) {
        if (Status st = client.Read(inode_base + i, off, buf); !st.ok()) {
          if (errors++ == 0) std::fprintf(stderr, "read: %s\n", st.ToString().c_str());
          return;
        }
        if (buf[block / 2] != std::byte(i + 1)) {
          if (errors++ == 0) std::fprintf(stderr, "read returned wrong bytes\n");
          return;
        }
      }
    });
    c.read_gbps[b] = double(total) / rt / 1e9;
    PhaseMark(s, "read" + size_name, "end");
  }
  std::atomic<uint64_t> ops{0};
  PhaseMark(s, "random4k", "start");
  const double t = RunStreams(s.random_threads, [&](int i) {
    std::vector<std::byte> buf(4096);
    Random random(200 + i);
    const uint64_t blocks4k = per_stream / 4096;
    const auto t0 = SteadyClock::now();
    uint64_t n = 0;
    while (Seconds(t0) < s.random_seconds) {
      const uint64_t off = random.Uniform(blocks4k) * 4096;
      if (Status st = client.Read(1000 + i % s.streams, off, buf); !st.ok()) {
        if (errors++ == 0) std::fprintf(stderr, "random read: %s\n", st.ToString().c_str());
        return;
      }
      ++n;
    }
    ops += n;
  });
  c.random_iops = double(ops) / t;
  PhaseMark(s, "random4k", "end");
  if (errors > 0) {
    std::fprintf(stderr, "%d errors: figures invalid\n%s\n", errors.load(),
                 cluster.DumpLogs(20).c_str());
    return 1;
  }

  // Baselines, same file system as the drives.
  const std::string local_dir = s.tmpfs ? cluster.drive_path(0) : cluster.dir();
  const LocalFigures local = MeasureLocal(s, local_dir);
  const double encode = MeasureEncode();
  const Floor floor = MeasureFloor(s, local_dir);
  const double n_over_np = 4.0 / 6.0;

  std::printf("\n%-28s %10s %12s %8s %12s %8s\n", "", "cvfs", "local file", "ratio", "ISA-L enc",
              "ratio");
  const char* names[2] = {"1 MiB", "4 MiB"};
  for (int b = 0; b < 2; ++b) {
    std::printf("%-28s %7.2f GB/s %7.2f GB/s %7.2f %7.2f GB/s %7.3f\n",
                (std::string("seq write ") + names[b]).c_str(), c.write_gbps[b],
                local.write_gbps[b], c.write_gbps[b] / local.write_gbps[b], encode,
                c.write_gbps[b] / encode);
  }
  for (int b = 0; b < 2; ++b) {
    std::printf("%-28s %7.2f GB/s %7.2f GB/s %7.2f\n",
                (std::string("seq read ") + names[b]).c_str(), c.read_gbps[b], local.read_gbps[b],
                c.read_gbps[b] / local.read_gbps[b]);
  }
  std::printf("%-28s %9.0f/s %10.0f/s %7.2f\n",
              ("4 KiB random read x" + std::to_string(s.random_threads)).c_str(), c.random_iops,
              local.random_iops, c.random_iops / local.random_iops);
  std::printf("\nlocal baseline used %s I/O\n", local.direct ? "O_DIRECT" : "buffered");
  const double write = std::max(c.write_gbps[0], c.write_gbps[1]);
  const double read = std::max(c.read_gbps[0], c.read_gbps[1]);
  if (s.tmpfs) {
    std::printf(
        "targets (tmpfs): seq write %.2f GB/s vs >= 2 GB/s; seq read %.2f vs >= 3 GB/s; "
        "4 KiB random %.0f/s vs >= 40k/s\n",
        write, read, c.random_iops);
  } else {
    const double target = 0.8 * local.write_gbps[0] * n_over_np;
    std::printf(
        "targets (disk): seq write %.2f GB/s vs >= 0.8 x %.2f x 4/6 = %.2f GB/s "
        "(ratio %.2f); 4 KiB random %.0f/s vs >= 40k/s\n",
        write, local.write_gbps[0], target, write / (local.write_gbps[0] * n_over_np),
        c.random_iops);
  }
  if (floor.move_cpu_s_per_gb > 0) {
    // Per user byte: 4+2 write moves 1 + 5/4 and stores 6/4; a read moves 1 and loads 1.
    const double write_cost = 2.25 * floor.move_cpu_s_per_gb + 1.5 * floor.store_cpu_s_per_gb;
    const double read_cost = floor.move_cpu_s_per_gb + floor.load_cpu_s_per_gb;
    double write_ceiling = floor.cores / write_cost;
    double read_ceiling = floor.cores / read_cost;
    if (!s.tmpfs) {
      write_ceiling = std::min(write_ceiling, local.write_gbps[0] * n_over_np);
      read_ceiling = std::min(read_ceiling, local.read_gbps[0]);
    }
    std::printf(
        "\nCPU floor, same run (%d cores): RMA of 128 KiB cells %.2f CPU-s/GB (%.2f GB/s), "
        "store %.2f CPU-s/GB, load %.2f CPU-s/GB\n"
        "ceiling of this design here: write %.2f GB/s (cvfs reaches %.0f%%), "
        "read %.2f GB/s (cvfs reaches %.0f%%)\n",
        floor.cores, floor.move_cpu_s_per_gb, floor.move_gbps, floor.store_cpu_s_per_gb,
        floor.load_cpu_s_per_gb, write_ceiling, 100 * write / write_ceiling, read_ceiling,
        100 * read / read_ceiling);
    std::printf(
        "bare round trips (small request, 4 KiB inline reply, %d callers, two endpoints of one "
        "process): %.0f/s; cvfs 4 KiB random reads reach %.0f%% of it\n",
        s.random_threads, floor.small_calls_per_s, 100 * c.random_iops / floor.small_calls_per_s);
  }
  const auto stats = client.stats();
  std::printf("client: %llu degraded reads, %llu version retries, %llu write retries\n",
              static_cast<unsigned long long>(stats.degraded_reads),
              static_cast<unsigned long long>(stats.version_retries),
              static_cast<unsigned long long>(stats.write_retries));
  return 0;
}

}  // namespace
}  // namespace cvfs::testing

int main(int argc, char** argv) {
  cvfs::testing::Settings s;
  CLI::App app{
      "datapath_bench: ObjectClient against 6 local cvfsd (4+2) vs local files and "
      "ISA-L encode"};
  app.add_flag("--tmpfs", s.tmpfs, "drives on tmpfs (the software path alone)");
  app.add_option("--mib-per-stream", s.mib_per_stream, "MiB written then read per stream");
  app.add_option("--streams", s.streams, "concurrent sequential streams");
  app.add_option("--random-seconds", s.random_seconds, "duration of the 4 KiB random reads");
  app.add_option("--random-threads", s.random_threads, "threads doing 4 KiB random reads");
  app.add_option("--dir", s.dir, "where the cluster (and its disk drives) live");
  app.add_option("--provider", s.provider, "fabric provider");
  app.add_flag("--phase-times", s.phase_times,
               "print CLOCK_MONOTONIC phase boundaries on stderr (perf record -k mono)");
  CLI11_PARSE(app, argc, argv);
  return cvfs::testing::Run(s);
}
