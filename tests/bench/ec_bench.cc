// ec_bench: ISA-L erasure-code encode/decode and CRC32C throughput, each printed beside
// memcpy throughput measured in the same run over the same bytes (the ratio is the figure
// to compare across machines). Not a ctest; figures go to docs/design/erasure-coding.md.
//
// Usage: ec_bench [cell_kib=128] [seconds_per_figure=0.5]
// Throughput is user data (N data cells per stripe) per second on one thread. The working
// set rotates over kStripes stripes (16 MiB+ of data) so it does not sit in L2.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "core/checksum.h"
#include "core/erasure_code.h"
#include "core/random.h"

namespace cvfs {
namespace {

constexpr int kStripes = 32;
constexpr int kRepeats = 3;  // best of

using Clock = std::chrono::steady_clock;

// Runs `op(stripe)` over the rotating stripes for about `seconds`, best of kRepeats;
// returns the GB/s for `bytes_per_op` bytes per call.
double Measure(double seconds, size_t bytes_per_op, const std::function<void(int)>& op) {
  double best = 0;
  for (int r = 0; r < kRepeats; ++r) {
    const auto start = Clock::now();
    uint64_t ops = 0;
    double elapsed = 0;
    do {
      for (int s = 0; s < kStripes; ++s) op(s);
      ops += kStripes;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < seconds / kRepeats);
    const double gbps = static_cast<double>(ops) * bytes_per_op / elapsed / 1e9;
    if (gbps > best) best = gbps;
  }
  return best;
}

struct Stripes {
  Stripes(int cells, size_t cell_bytes) : cell_bytes(cell_bytes) {
    ptrs.resize(kStripes);
    for (int s = 0; s < kStripes; ++s) {
      for (int c = 0; c < cells; ++c) {
        auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, cell_bytes));
        ptrs[s].push_back(p);
      }
    }
  }
  ~Stripes() {
    for (auto& v : ptrs) {
      for (uint8_t* p : v) std::free(p);
    }
  }
  size_t cell_bytes;
  std::vector<std::vector<uint8_t*>> ptrs;  // [stripe][cell]
};

bool RunScheme(int n, int p, size_t cell_bytes, double seconds) {
  auto ec_or = ErasureCode::Create(n, p);
  if (!ec_or.ok()) {
    std::fprintf(stderr, "%s\n", ec_or.status().ToString().c_str());
    return false;
  }
  const ErasureCode& ec = *ec_or;
  Stripes st(n + p, cell_bytes);
  Stripes copy_dst(n, cell_bytes);
  Random rng(1);
  for (auto& cells : st.ptrs) {
    for (int c = 0; c < n; ++c) rng.Fill(cells[c], cell_bytes);
  }
  const size_t data_bytes = static_cast<size_t>(n) * cell_bytes;
  bool ok = true;

  const double memcpy_gbps = Measure(seconds, data_bytes, [&](int s) {
    for (int c = 0; c < n; ++c) std::memcpy(copy_dst.ptrs[s][c], st.ptrs[s][c], cell_bytes);
  });
  const double encode_gbps = Measure(seconds, data_bytes, [&](int s) {
    ok &= ec.Encode(st.ptrs[s].data(), st.ptrs[s].data() + n, cell_bytes).ok();
  });
  // Worst cases: lost data cells (parity-only loss is just a re-encode of fewer rows).
  std::vector<int> one = {0};
  std::vector<int> all_p;
  for (int i = 0; i < p; ++i) all_p.push_back(i);
  const double decode1_gbps = Measure(
      seconds, data_bytes, [&](int s) { ok &= ec.Decode(st.ptrs[s], one, cell_bytes).ok(); });
  const double decodep_gbps = Measure(
      seconds, data_bytes, [&](int s) { ok &= ec.Decode(st.ptrs[s], all_p, cell_bytes).ok(); });
  // Per-call decode set-up (gf_invert_matrix + decode row + ec_init_tables): a 1-byte
  // decode is almost nothing else.
  const auto t0 = Clock::now();
  constexpr int kSetupCalls = 20000;
  for (int i = 0; i < kSetupCalls; ++i) ok &= ec.Decode(st.ptrs[0], all_p, 1).ok();
  const double setup_us =
      std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kSetupCalls;
  const double stripe_decode_us = data_bytes / (decodep_gbps * 1e9) * 1e6;

  std::printf(
      "%2d+%d cell %zu KiB | memcpy %6.2f GB/s | encode %6.2f GB/s (%.2fx memcpy) | "
      "decode 1 lost %6.2f GB/s (%.2fx) | decode %d lost %6.2f GB/s (%.2fx) | "
      "decode setup %.2f us = %.2f%% of a %d-lost stripe decode\n",
      n, p, cell_bytes / 1024, memcpy_gbps, encode_gbps, encode_gbps / memcpy_gbps, decode1_gbps,
      decode1_gbps / memcpy_gbps, p, decodep_gbps, decodep_gbps / memcpy_gbps, setup_us,
      100.0 * setup_us / stripe_decode_us, p);
  return ok;
}

void RunCrc(size_t cell_bytes, double seconds) {
  Stripes st(4, cell_bytes);
  Stripes dst(4, cell_bytes);
  Random rng(2);
  for (auto& cells : st.ptrs) {
    for (uint8_t* c : cells) rng.Fill(c, cell_bytes);
  }
  const size_t bytes = 4 * cell_bytes;
  const double memcpy_gbps = Measure(seconds, bytes, [&](int s) {
    for (int c = 0; c < 4; ++c) std::memcpy(dst.ptrs[s][c], st.ptrs[s][c], cell_bytes);
  });
  volatile uint32_t sink = 0;
  const double crc_gbps = Measure(seconds, bytes, [&](int s) {
    for (int c = 0; c < 4; ++c) sink = sink + Crc32c(st.ptrs[s][c], cell_bytes);
  });
  std::printf("crc32c cell %zu KiB | memcpy %6.2f GB/s | crc32c %6.2f GB/s (%.2fx memcpy)\n",
              cell_bytes / 1024, memcpy_gbps, crc_gbps, crc_gbps / memcpy_gbps);
}

}  // namespace
}  // namespace cvfs

int main(int argc, char** argv) {
  const size_t cell_kib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 128;
  const double seconds = argc > 2 ? std::strtod(argv[2], nullptr) : 0.5;
  if (cell_kib == 0 || seconds <= 0) {
    std::fprintf(stderr, "usage: ec_bench [cell_kib>0] [seconds>0]\n");
    return 2;
  }
  const size_t cell_bytes = cell_kib * 1024;
  bool ok = true;
  ok &= cvfs::RunScheme(4, 2, cell_bytes, seconds);
  ok &= cvfs::RunScheme(8, 4, cell_bytes, seconds);
  ok &= cvfs::RunScheme(16, 4, cell_bytes, seconds);
  cvfs::RunCrc(cell_bytes, seconds);
  if (!ok) {
    std::fprintf(stderr, "ec_bench: an encode or decode call failed\n");
    return 1;
  }
  return 0;
}
