// net_bench: transport figures for docs/design/transport.md, per provider:
//  - RPC round trip (Call of the built-in Ping) p50/p99 for 64 B and 4 KiB payloads;
//  - raw fabric send/recv ping-pong on bare FabricEndpoints (no RPC layer), the baseline
//    the RPC layer is compared with;
//  - RMA write/read latency and bandwidth for 4 KiB, 64 KiB and 1 MiB, one blocking
//    transfer at a time and pipelined (16 per RmaWriteBatch/RmaReadBatch), against memcpy
//    in the same run;
//  - CPU used by two idle endpoints (progress threads blocked/polling).
// Both endpoints live in this process (threads), so the figures include no process
// boundary but do include real provider paths (tcp loopback sockets, shm regions).
// Usage: net_bench [provider...]   (default: tcp;ofi_rxm shm)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "core/logging.h"
#include "net/fabric/address.h"
#include "net/fabric/fabric_endpoint.h"
#include "net/rpc.h"
#include "net/wire/envelope.h"

using namespace cvfs;
using namespace cvfs::net;
using Clk = std::chrono::steady_clock;

namespace {

double Us(Clk::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Percentiles {
  double p50, p99;
};

Percentiles Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 99 / 100]};
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Raw ping-pong: one fi_send/fi_recv each way, both sides busy-polling their CQ.
Result<Percentiles> RawPingPong(const std::string& provider, size_t size, int iters) {
  fabric::FabricOptions o;
  o.provider = provider;
  CVFS_ASSIGN_OR_RETURN(auto a, fabric::FabricEndpoint::Open(o));
  CVFS_ASSIGN_OR_RETURN(auto b, fabric::FabricEndpoint::Open(o));
  CVFS_ASSIGN_OR_RETURN(uint64_t a_to_b, a->InsertAddress(b->name()));
  CVFS_ASSIGN_OR_RETURN(uint64_t b_to_a, b->InsertAddress(a->name()));
  std::vector<char> abuf(2 * size + 64), bbuf(2 * size + 64);
  CVFS_ASSIGN_OR_RETURN(auto amr, a->Register(abuf.data(), abuf.size()));
  CVFS_ASSIGN_OR_RETURN(auto bmr, b->Register(bbuf.data(), bbuf.size()));
  fabric::OpContextStorage actx_s{}, actx_r{}, bctx_s{}, bctx_r{};
  std::atomic<bool> stop{false};
  // Waits until both contexts completed (either may come first).
  auto wait_two = [](fabric::FabricEndpoint& ep, fabric::OpContextStorage* x,
                     fabric::OpContextStorage* y) {
    bool got_x = false, got_y = false;
    fabric::Completion c[8];
    while (!got_x || !got_y) {
      int n = ep.Poll(c, 8, 0);
      for (int i = 0; i < n; ++i) {
        got_x |= c[i].context == x;
        got_y |= c[i].context == y;
      }
    }
  };
  std::thread echo([&] {
    for (int i = 0; i < iters + 10 && !stop; ++i) {
      b->PostRecv(bbuf.data(), size, bmr->desc(), &bctx_r);
      wait_two(*b, &bctx_r, &bctx_r);
      while (b->PostSend(b_to_a, bbuf.data() + size, size, bmr->desc(), &bctx_s) != 0) {
      }
      wait_two(*b, &bctx_s, &bctx_s);
    }
  });
  std::vector<double> rtt;
  for (int i = 0; i < iters + 10; ++i) {
    const auto t0 = Clk::now();
    a->PostRecv(abuf.data(), size, amr->desc(), &actx_r);
    while (a->PostSend(a_to_b, abuf.data() + size, size, amr->desc(), &actx_s) != 0) {
    }
    wait_two(*a, &actx_s, &actx_r);
    if (i >= 10) rtt.push_back(Us(Clk::now() - t0));
  }
  echo.join();
  return Summarize(rtt);
}

double MemcpyGBs(size_t size) {
  std::vector<char> src(size, 1), dst(size, 0);
  const size_t total = std::max<size_t>(size, 512u << 20);
  const auto t0 = Clk::now();
  for (size_t done = 0; done < total; done += size) {
    std::memcpy(dst.data(), src.data(), size);
    src[done % size] ^= dst[(done + 7) % size];  // keep the copies observable
  }
  return total / std::chrono::duration<double>(Clk::now() - t0).count() / 1e9;
}

void BenchProvider(const std::string& provider) {
  RpcOptions o;
  o.provider = provider;
  o.require_auth = false;
  o.name = "bench-server";
  auto server = RpcEndpoint::Create(o);
  o.name = "bench-client";
  auto client = RpcEndpoint::Create(o);
  if (!server.ok() || !client.ok()) {
    std::printf("%s: unavailable (%s)\n", provider.c_str(),
                (server.ok() ? client.status() : server.status()).ToString().c_str());
    return;
  }
  auto peer = (*client)->Connect((*server)->address(), std::chrono::seconds(5));
  if (!peer.ok()) {
    std::printf("%s: connect failed: %s\n", provider.c_str(), peer.status().ToString().c_str());
    return;
  }
  std::printf("== provider %s ==\n", provider.c_str());
  constexpr int kIters = 3000;
  for (size_t size : {size_t{64}, size_t{4096}}) {
    const std::string payload(size, 'p');
    std::vector<double> rtt;
    for (int i = 0; i < kIters + 100; ++i) {
      const auto t0 = Clk::now();
      auto r = (*client)->Call(*peer, Method::kPing, payload, std::chrono::seconds(5));
      if (!r.ok()) {
        std::printf("  rpc failed: %s\n", r.status().ToString().c_str());
        return;
      }
      if (i >= 100) rtt.push_back(Us(Clk::now() - t0));
    }
    const Percentiles rpc = Summarize(rtt);
    auto raw = RawPingPong(provider, size, kIters);
    if (!raw.ok()) {
      std::printf("  raw ping-pong failed: %s\n", raw.status().ToString().c_str());
      continue;
    }
    std::printf(
        "  %5zu B  rpc round trip p50 %7.1f us p99 %7.1f us | raw fabric round trip p50 %6.1f "
        "us p99 %6.1f us | raw/rpc %.2f\n",
        size, rpc.p50, rpc.p99, raw->p50, raw->p99, raw->p50 / rpc.p50);
    // Like for like: a raw ping-pong of as many bytes as the RPC request puts on the wire
    // (payload plus envelope). For shm this matters at 4 KiB: 4096 bytes ride its inline
    // (inject) path, anything larger its out-of-line path.
    wire::EnvelopeFields req;
    req.kind = wire::EnvelopeKind::kRequest;
    req.request_id = 1ull << 40;
    req.method = MethodId(Method::kPing);
    req.deadline_ms = 5000;
    req.payload = payload;
    if (auto raw_addr = fabric::ParseAddress((*client)->address(), provider); raw_addr.ok()) {
      req.sender_address = *raw_addr;
    }
    const size_t wire_bytes = wire::EncodeEnvelope(req).size();
    auto same = RawPingPong(provider, wire_bytes, kIters);
    if (same.ok()) {
      std::printf(
          "         raw fabric round trip of %zu B (the request's wire size) p50 %6.1f us | "
          "raw/rpc %.2f\n",
          wire_bytes, same->p50, same->p50 / rpc.p50);
    }
  }

  const size_t kRegion = 64u << 20;
  std::vector<char> remote_buf(kRegion, 1), local_buf(kRegion, 2);
  auto rmr = (*server)->RegisterMemory(remote_buf.data(), kRegion);
  auto lmr = (*client)->RegisterMemory(local_buf.data(), kRegion);
  if (!rmr.ok() || !lmr.ok()) {
    std::printf("  register failed\n");
    return;
  }
  constexpr size_t kPipelineDepth = 16;  // transfers per RmaWriteBatch/RmaReadBatch
  for (size_t size : {size_t{4096}, size_t{65536}, size_t{1} << 20}) {
    const double mc = MemcpyGBs(size);
    for (bool write : {true, false}) {
      const size_t total = std::max<size_t>(size * 200, 256u << 20);
      std::vector<double> lat;
      auto t0 = Clk::now();
      size_t off = 0;
      for (size_t done = 0; done < total; done += size) {
        const auto s0 = Clk::now();
        Status st = write ? (*client)->RmaWrite(*peer, **lmr, off, size, (*rmr)->remote(), off,
                                                std::chrono::seconds(10))
                          : (*client)->RmaRead(*peer, **lmr, off, size, (*rmr)->remote(), off,
                                               std::chrono::seconds(10));
        if (!st.ok()) {
          std::printf("  rma failed: %s\n", st.ToString().c_str());
          return;
        }
        lat.push_back(Us(Clk::now() - s0));
        off = (off + size) % kRegion;
      }
      const double gbs = total / std::chrono::duration<double>(Clk::now() - t0).count() / 1e9;
      // Pipelined: kPipelineDepth transfers of `size` per batch call (up to 8 chunks in
      // flight), as a data path moving many blocks or a stripe's cells does.
      std::vector<RmaSegment> segs(kPipelineDepth);
      t0 = Clk::now();
      off = 0;
      for (size_t done = 0; done < total; done += size * kPipelineDepth) {
        for (RmaSegment& seg : segs) {
          seg = RmaSegment{*peer, off, size, (*rmr)->remote(), off};
          off = (off + size) % kRegion;
        }
        Status st = write ? (*client)->RmaWriteBatch(**lmr, segs, std::chrono::seconds(10))
                          : (*client)->RmaReadBatch(**lmr, segs, std::chrono::seconds(10));
        if (!st.ok()) {
          std::printf("  rma batch failed: %s\n", st.ToString().c_str());
          return;
        }
      }
      const size_t piped_total =
          (total + size * kPipelineDepth - 1) / (size * kPipelineDepth) * size * kPipelineDepth;
      const double piped =
          piped_total / std::chrono::duration<double>(Clk::now() - t0).count() / 1e9;
      std::printf(
          "  rma %-5s %7zu B: p50 %7.1f us, %5.2f GB/s one at a time, %5.2f GB/s pipelined | "
          "memcpy %6.2f GB/s | rma/memcpy %.2f / %.2f\n",
          write ? "write" : "read", size, Summarize(lat).p50, gbs, piped, mc, gbs / mc, piped / mc);
    }
  }
  // Idle cost: both endpoints idle for 2 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double c0 = CpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double cpu = (CpuSeconds() - c0) / 2.0 * 100.0;
  std::printf("  idle: two endpoints use %.2f%% of one core\n", cpu);
}

}  // namespace

int main(int argc, char** argv) {
  (void)InitLogging({"net_bench", "warn", ""});
  std::vector<std::string> providers;
  for (int i = 1; i < argc; ++i) providers.push_back(argv[i]);
  if (providers.empty()) providers = {"tcp;ofi_rxm", "shm"};
  for (const auto& p : providers) BenchProvider(p);
  return 0;
}
