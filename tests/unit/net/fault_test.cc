// Dead peers: calls to a process killed with SIGKILL end with an error within their
// deadline, and the endpoint keeps working for other peers.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "net/rpc.h"
#include "tests/unit/net/net_test_support.h"

using namespace cvfs;
using namespace cvfs::net;
using namespace cvfs::net::testing;
using namespace std::chrono_literals;

namespace {

// `count` rpc_test_server processes and a client endpoint connected to each of them.
struct Rig {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::unique_ptr<RpcEndpoint> client;
  std::vector<PeerId> peers;  // peers[i] is servers[i]
};

Rig StartRig(const std::string& provider, int count) {
  Rig rig;
  for (int i = 0; i < count; ++i) {
    auto server = ServerProcess::Start(provider, false, "");
    if (!server.ok()) FAIL(server.status().ToString());
    rig.servers.push_back(std::move(server).value());
  }
  RpcOptions o;
  o.provider = provider;
  o.name = "client";
  o.require_auth = false;
  auto client = RpcEndpoint::Create(o);
  REQUIRE(client.ok());
  rig.client = std::move(client).value();
  for (auto& server : rig.servers) {
    auto peer = rig.client->Connect(server->address(), 5s);
    REQUIRE(peer.ok());
    rig.peers.push_back(*peer);
  }
  return rig;
}

}  // namespace

TEST_CASE("a call to a killed peer fails within its deadline", "[net][fault]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  Rig rig = StartRig(provider, 2);
  auto& victim = rig.servers[0];
  auto& client = rig.client;
  const PeerId dead = rig.peers[0];
  const PeerId alive = rig.peers[1];
  REQUIRE(client->Call(dead, Method::kPing, "x", 5s).ok());

  victim->Kill();
  const auto deadline = 2s;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = client->Call(dead, Method::kPing, "x", deadline);
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("attempt " << i << ": " << r.status().ToString());
    REQUIRE(!r.ok());
    CHECK((r.status().code() == ErrorCode::kDeadlineExceeded ||
           r.status().code() == ErrorCode::kUnavailable));
    CHECK(took < deadline + 1s);
  }
  // A call in flight when the peer dies also ends by its deadline.
  auto victim2 = ServerProcess::Start(provider, false, "");
  if (!victim2.ok()) FAIL(victim2.status().ToString());
  auto dead2 = client->Connect((*victim2)->address(), 5s);
  REQUIRE(dead2.ok());
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    (*victim2)->Kill();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = client->Call(*dead2, kSleepMs, "5000", deadline);
  const auto took = std::chrono::steady_clock::now() - start;
  killer.join();
  CHECK(!r.ok());
  CHECK(took < deadline + 1s);

  // Connect to the dead address: kUnavailable within the deadline.
  const auto cstart = std::chrono::steady_clock::now();
  auto again = client->Connect(victim->address(), 1s);
  CHECK(again.status().code() == ErrorCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - cstart < 2s);

  // Other peers are unaffected.
  auto ok = client->Call(alive, Method::kPing, "still here", 5s);
  REQUIRE(ok.ok());
  CHECK(*ok == "still here");
}

TEST_CASE("many calls to killed peers do not starve calls to live ones", "[net][fault]") {
  // A client reading a stripe while four of its members are dead sends to every dead member
  // at once, again and again. Those sends must not hold the endpoint's send buffers past
  // their deadlines, or calls to the live members queue behind them ("send queue full").
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  Rig rig = StartRig(provider, 5);  // four victims, then the survivor
  auto& client = rig.client;
  const std::vector<PeerId> dead(rig.peers.begin(), rig.peers.begin() + 4);
  const PeerId alive = rig.peers[4];
  for (int i = 0; i < 4; ++i) rig.servers[i]->Kill();

  std::atomic<int> finished{0};
  std::atomic<int> unavailable{0};
  const int kCalls = 600;  // well over the send buffers
  const auto flood_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    client->CallAsync(dead[i % dead.size()], MethodId(Method::kPing), std::string(1000, 'x'), 1s,
                      [&](Result<std::string> r) {
                        if (r.status().code() == ErrorCode::kUnavailable) unavailable++;
                        finished++;
                      });
  }
  // Broken peers fail new calls at once: the flood does not block its caller per call.
  const auto flood_took = std::chrono::steady_clock::now() - flood_start;
  CHECK(flood_took < 3s);
  // Live calls during and after the flood finish promptly.
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = client->Call(alive, Method::kPing, "live", 3s);
    INFO("live call " << i << ": " << r.status().ToString());
    REQUIRE(r.ok());
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  for (int i = 0; i < 500 && finished < kCalls; ++i) std::this_thread::sleep_for(10ms);
  CHECK(finished == kCalls);
  // tcp;ofi_rxm refuses sends to a dead peer, which breaks it (kUnavailable at once); shm
  // accepts them and the calls end at their deadlines.
  if (provider == "tcp;ofi_rxm") CHECK(unavailable > kCalls / 2);
}

TEST_CASE("a peer restarted at the same address is reachable again", "[net][fault]") {
  // tcp only: a shm address names one endpoint and is never reused.
  const std::string provider = "tcp;ofi_rxm";
  RpcOptions so;
  so.provider = provider;
  so.name = "server";
  so.require_auth = false;
  auto server = RpcEndpoint::Create(so);
  REQUIRE(server.ok());
  const std::string address = (*server)->address();
  RpcOptions co = so;
  co.name = "client";
  auto created = RpcEndpoint::Create(co);
  REQUIRE(created.ok());
  auto& client = *created;
  auto peer = client->Connect(address, 5s);
  REQUIRE(peer.ok());
  REQUIRE(client->Call(*peer, Method::kPing, "x", 5s).ok());
  const std::string raw_hex = address.substr(address.find("://") + 3);
  // sockaddr_in: family (2 bytes), port (2 bytes, network order).
  const uint16_t port = static_cast<uint16_t>(std::stoul(raw_hex.substr(4, 4), nullptr, 16));
  (*server)->Shutdown();
  server->reset();

  // Calls to the dead address fail (and break the peer) within their deadlines.
  for (int i = 0; i < 50; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = client->Call(*peer, Method::kPing, "x", 1s);
    CHECK(!r.ok());
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  auto r = client->Call(*peer, Method::kPing, "x", 1s);
  INFO(r.status().ToString());
  CHECK(r.status().code() == ErrorCode::kUnavailable);

  // The same address comes back: Connect re-admits it and the old handle works again.
  so.port = port;
  auto restarted = RpcEndpoint::Create(so);
  REQUIRE(restarted.ok());
  REQUIRE((*restarted)->address() == address);
  // rxm may still hold the connection to the old process for a moment: the first attempts
  // can fail with kUnavailable ("Transport endpoint is not connected"); a retry within a few
  // seconds must succeed (seen in about 1 run of 6 under load).
  Result<PeerId> again = Status::Unavailable("not tried");
  Result<std::string> ok = Status::Unavailable("not tried");
  const auto retry_until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < retry_until) {
    again = client->Connect(address, 5s);
    if (again.ok()) ok = client->Call(*peer, Method::kPing, "back", 5s);
    if (again.ok() && ok.ok()) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(*again == *peer);
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  CHECK(*ok == "back");
}

TEST_CASE("a stopped peer's stuck sends are released and it recovers", "[net][fault]") {
  // A peer that stops reading (SIGSTOP) with large messages queued to it: the provider
  // accepts sends it cannot complete. They must not pin the send buffers past their
  // deadlines, and the peer must be usable again once it runs and we Connect.
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  Rig rig = StartRig(provider, 2);
  auto& stopped = rig.servers[0];
  auto& client = rig.client;
  const PeerId frozen = rig.peers[0];
  const PeerId alive = rig.peers[1];
  REQUIRE(::kill(stopped->pid(), SIGSTOP) == 0);

  std::atomic<int> finished{0};
  const int kCalls = 300;  // 300 x 60 KB: far more than socket buffers hold
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    client->CallAsync(frozen, MethodId(Method::kPing), std::string(60000, 'y'), 2s,
                      [&](Result<std::string>) { finished++; });
  }
  CHECK(std::chrono::steady_clock::now() - start < 4s);
  for (int i = 0; i < 10; ++i) {
    const auto live_start = std::chrono::steady_clock::now();
    auto r = client->Call(alive, Method::kPing, "live", 3s);
    INFO("live call " << i << ": " << r.status().ToString());
    REQUIRE(r.ok());
    CHECK(std::chrono::steady_clock::now() - live_start < 2s);
  }
  for (int i = 0; i < 500 && finished < kCalls; ++i) std::this_thread::sleep_for(10ms);
  CHECK(finished == kCalls);

  // Orphaned sends (still in the provider when the peer broke) are released by their own
  // completions once the peer reads again (see transport.md, "Dead peers").
  std::this_thread::sleep_for(1500ms);
  REQUIRE(::kill(stopped->pid(), SIGCONT) == 0);
  Result<std::string> back = Status::Unavailable("not tried");
  for (int i = 0; i < 10 && !back.ok(); ++i) {
    auto again = client->Connect(stopped->address(), 3s);
    if (again.ok()) back = client->Call(*again, Method::kPing, "back", 3s);
  }
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(*back == "back");
}

// A process killed with SIGKILL leaves its shm regions (/dev/shm/<pid>:...); a later process
// that gets the same pid must still open shm endpoints. The leftover is made for real by
// name (what a killed process leaves); the child then opens an endpoint.
TEST_CASE("an shm endpoint opens over the leftovers of a dead process with its pid",
          "[net][fault]") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string stale = "/dev/shm/" + std::to_string(getpid()) + ":0:0";
    FILE* f = fopen(stale.c_str(), "w");
    if (f == nullptr) _exit(3);
    fputs("left behind by a killed process", f);
    fclose(f);
    RpcOptions o;
    o.provider = "shm";
    o.require_auth = false;
    o.name = "reborn";
    auto endpoint = RpcEndpoint::Create(o);
    const bool ok = endpoint.ok();
    if (ok) (*endpoint)->Shutdown();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  const std::string prefix = std::to_string(child) + ":";
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/dev/shm", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) {
      std::error_code ignored;
      std::filesystem::remove(it->path(), ignored);
    }
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
