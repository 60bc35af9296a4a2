// cell_store_bench: CellStore throughput beside a plain O_DIRECT pwrite/pread baseline of the
// same bytes in the same run, on /tmp (or the first argument) and on a freshly mounted tmpfs.
//   - write: sequential 128 KiB cells, WritePending + Commit(sync=false), 1, 4 and 16 threads;
//     baseline: pwritev2(O_DIRECT, RWF_DSYNC) of 128 KiB at consecutive offsets, same threads.
//   - read: 4 KiB random reads (random cell, random aligned offset), 4 threads;
//     baseline: pread(O_DIRECT) of 4 KiB at random aligned offsets of the baseline file.
// Not a ctest; figures go to server/store/README.md.
//
// Usage: cell_store_bench [dir=/tmp] [total_mib=512] [read_seconds=3] [preallocate_mib=default]
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/store/cell_store.h"

namespace cvfs::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kCellBytes = 128 * 1024;
constexpr size_t kReadBytes = 4096;
uint64_t g_preallocate_bytes = CellStoreOptions().preallocate_bytes;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs fn(thread) on `threads` threads and returns the wall time.
double RunThreads(int threads, const std::function<void(int)>& fn) {
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fn, t);
  for (auto& th : pool) th.join();
  return Seconds(start);
}

void Die(const std::string& what) {
  std::fprintf(stderr, "cell_store_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Figures {
  double write_gbps = 0;
  double read_iops = 0;
};

Figures BenchStore(const std::string& dir, int threads, size_t cells, double read_seconds) {
  std::filesystem::remove_all(dir + "/store");
  std::filesystem::create_directories(dir + "/store/data");
  CellStoreOptions options;
  options.data_path = dir + "/store/data";
  options.index_path = dir + "/store/index";
  options.preallocate_bytes = g_preallocate_bytes;
  auto opened = CellStore::Open(options);
  if (!opened.ok()) Die(opened.status().ToString());
  auto store = std::move(opened).value();
  std::vector<uint8_t> data(kCellBytes);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + 7);

  std::atomic<size_t> next{0};
  Figures f;
  const double write_s = RunThreads(threads, [&](int) {
    for (size_t i = next++; i < cells; i = next++) {
      const CellKey key{1, 100, i / 6, static_cast<uint16_t>(i % 6)};
      Status s = store->WritePending(key, 1, data);
      if (s.ok()) s = store->Commit(key, 1, false);
      if (!s.ok()) Die(s.ToString());
    }
  });
  f.write_gbps = cells * kCellBytes / write_s / 1e9;

  std::atomic<uint64_t> reads{0};
  std::atomic<bool> stop{false};
  const double read_s = RunThreads(4, [&](int t) {
    std::mt19937_64 rng(t);
    std::vector<uint8_t> out(kReadBytes);
    uint64_t n = 0;
    const auto start = Clock::now();
    while (!stop) {
      const size_t i = rng() % cells;
      const CellKey key{1, 100, i / 6, static_cast<uint16_t>(i % 6)};
      const uint64_t offset = (rng() % (kCellBytes / kReadBytes)) * kReadBytes;
      auto r = store->Read(key, 0, offset, out);
      if (!r.ok()) Die(r.status().ToString());
      ++n;
      if ((n & 255) == 0 && Seconds(start) > read_seconds) stop = true;
    }
    reads += n;
  });
  f.read_iops = reads / read_s;
  const bool direct = store->stats().direct_io;
  store.reset();
  std::filesystem::remove_all(dir + "/store");
  if (!direct) std::printf("  (store fell back to buffered I/O here)\n");
  return f;
}

Figures BenchBaseline(const std::string& dir, int threads, size_t cells, double read_seconds) {
  const std::string path = dir + "/baseline.dat";
  std::filesystem::remove(path);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  Figures f;
  std::atomic<size_t> next{0};
  const double write_s = RunThreads(threads, [&](int) {
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, kCellBytes) != 0) Die("posix_memalign");
    std::memset(buf, 0x5A, kCellBytes);
    for (size_t i = next++; i < cells; i = next++) {
      iovec iov{buf, kCellBytes};
      if (::pwritev2(fd, &iov, 1, static_cast<off_t>(i * kCellBytes), RWF_DSYNC) !=
          static_cast<ssize_t>(kCellBytes)) {
        Die(std::string("pwritev2: ") + std::strerror(errno));
      }
    }
    std::free(buf);
  });
  f.write_gbps = cells * kCellBytes / write_s / 1e9;

  std::atomic<uint64_t> reads{0};
  std::atomic<bool> stop{false};
  const double read_s = RunThreads(4, [&](int t) {
    std::mt19937_64 rng(t);
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, kReadBytes) != 0) Die("posix_memalign");
    uint64_t n = 0;
    const auto start = Clock::now();
    const uint64_t blocks = cells * kCellBytes / kReadBytes;
    while (!stop) {
      const off_t off = static_cast<off_t>((rng() % blocks) * kReadBytes);
      if (::pread(fd, buf, kReadBytes, off) != static_cast<ssize_t>(kReadBytes)) {
        Die(std::string("pread: ") + std::strerror(errno));
      }
      ++n;
      if ((n & 255) == 0 && Seconds(start) > read_seconds) stop = true;
    }
    std::free(buf);
    reads += n;
  });
  f.read_iops = reads / read_s;
  ::close(fd);
  std::filesystem::remove(path);
  return f;
}

void BenchDir(const std::string& label, const std::string& dir, size_t cells, double read_seconds) {
  std::printf("%s (%s), %zu x 128 KiB cells (%zu MiB):\n", label.c_str(), dir.c_str(), cells,
              cells * kCellBytes >> 20);
  for (int threads : {1, 4, 16}) {
    const Figures base = BenchBaseline(dir, threads, cells, read_seconds);
    const Figures store = BenchStore(dir, threads, cells, read_seconds);
    std::printf(
        "  write %d thr: store %.2f GB/s   baseline pwrite O_DIRECT+DSYNC %.2f GB/s  (%.0f%%)\n",
        threads, store.write_gbps, base.write_gbps, 100.0 * store.write_gbps / base.write_gbps);
    if (threads == 4) {
      std::printf(
          "  4 KiB random read 4 thr: store %.0f IOPS   baseline pread O_DIRECT %.0f IOPS"
          "  (%.0f%%)\n",
          store.read_iops, base.read_iops, 100.0 * store.read_iops / base.read_iops);
    }
  }
}

}  // namespace
}  // namespace cvfs::server

int main(int argc, char** argv) {
  using namespace cvfs::server;
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  const size_t total_mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 512;
  const double read_seconds = argc > 3 ? std::strtod(argv[3], nullptr) : 3.0;
  const size_t cells = total_mib * 1024 * 1024 / kCellBytes;
  if (argc > 4) g_preallocate_bytes = std::strtoull(argv[4], nullptr, 10) << 20;
  std::printf("store preallocation step: %llu MiB\n",
              static_cast<unsigned long long>(g_preallocate_bytes >> 20));

  char tmpl[] = "/tmp/cvfs-store-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string work = std::string(dir == "/tmp" ? tmpl : dir);
  BenchDir("disk", work, cells, read_seconds);

  const std::string mnt = std::string(tmpl) + "/tmpfs";
  std::filesystem::create_directories(mnt);
  const std::string opts = "size=" + std::to_string(total_mib * 3 + 256) + "m";
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
    BenchDir("tmpfs", mnt, cells, read_seconds);
    ::umount2(mnt.c_str(), MNT_DETACH);
  } else {
    std::printf("tmpfs: cannot mount (%s), skipped\n", std::strerror(errno));
  }
  std::filesystem::remove_all(tmpl);
  return 0;
}
