// RPC round trips on both providers: in one process and across processes; errors
// travel; concurrency; deadlines.
#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "net/peer_cache.h"
#include "net/rpc.h"
#include "tests/unit/net/make_endpoint.h"
#include "tests/unit/net/net_test_support.h"

using namespace cvfs;
using namespace cvfs::net;
using namespace cvfs::net::testing;
using namespace std::chrono_literals;

TEST_CASE("rpc round trip between two endpoints in one process", "[net][rpc]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = MakeEndpoint(provider, "server");
  RegisterTestHandlers(*server);
  auto client = MakeEndpoint(provider, "client");
  CHECK(server->address().rfind(provider + "://", 0) == 0);

  auto peer = client->Connect(server->address(), 5s);
  REQUIRE(peer.ok());
  auto pong = client->Call(*peer, Method::kPing, "hello", 5s);
  REQUIRE(pong.ok());
  CHECK(*pong == "hello");

  std::string big(60 * 1024, 'x');
  auto echo = client->Call(*peer, kEcho, big, 5s);
  REQUIRE(echo.ok());
  CHECK(*echo == big);

  SECTION("the handler's status travels") {
    auto r = client->Call(*peer, kFail, "abc", 5s);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == ErrorCode::kConflict);
    CHECK(r.status().message() == "conflict: abc");
  }
  SECTION("unknown method is kNotFound") {
    auto r = client->Call(*peer, 60999, "", 5s);
    CHECK(r.status().code() == ErrorCode::kNotFound);
    CHECK(server->stats().unknown_method == 1);
  }
  SECTION("oversized payload is refused locally") {
    auto r = client->Call(*peer, kEcho, std::string(65 * 1024, 'y'), 5s);
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  }
  SECTION("a slow handler yields kDeadlineExceeded, and the late reply is counted") {
    const auto start = std::chrono::steady_clock::now();
    auto r = client->Call(*peer, kSleepMs, "700", 200ms);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status().code() == ErrorCode::kDeadlineExceeded);
    CHECK(took < 200ms + 1s);
    std::this_thread::sleep_for(900ms);
    CHECK(client->stats().late_replies == 1);
    CHECK(client->Call(*peer, Method::kPing, "still", 5s).value_or("") == "still");
  }
  SECTION("Shutdown fails calls in flight with kUnavailable") {
    std::thread t([&] {
      std::this_thread::sleep_for(100ms);
      client->Shutdown();
    });
    auto r = client->Call(*peer, kSleepMs, "2000", 10s);
    t.join();
    CHECK(r.status().code() == ErrorCode::kUnavailable);
    CHECK(client->Call(*peer, Method::kPing, "", 1s).status().code() == ErrorCode::kUnavailable);
  }
}

TEST_CASE("inline handlers answer on the reading thread, worker handlers still block",
          "[net][rpc]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = MakeEndpoint(provider, "server");
  RegisterTestHandlers(*server);
  constexpr uint16_t kInlineUpper = 60900;
  std::atomic<int> inline_runs{0};
  server->RegisterHandler(
      kInlineUpper,
      [&](const RpcContext& ctx, std::string_view p) -> Result<std::string> {
        inline_runs++;
        if (p == "fail") return Status::Conflict("inline refused");
        std::string out(p);
        for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return out + ":" + std::to_string(ctx.method);
      },
      HandlerMode::kInline);
  auto client = MakeEndpoint(provider, "client");
  auto peer = client->Connect(server->address(), 5s);
  REQUIRE(peer.ok());
  // Worker handlers sleeping on both workers do not delay inline requests.
  std::atomic<int> slow_done{0};
  for (int i = 0; i < 2; ++i) {
    client->CallAsync(*peer, kSleepMs, "2000", 5s, [&](Result<std::string>) { slow_done++; });
  }
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 100; ++i) {
    auto r = client->Call(*peer, kInlineUpper, "abc" + std::to_string(i), 5s);
    REQUIRE(r.ok());
    CHECK(*r == "ABC" + std::to_string(i) + ":" + std::to_string(kInlineUpper));
  }
  // Both workers were asleep the whole time: the inline calls did not wait for them.
  CHECK(slow_done == 0);
  auto bad = client->Call(*peer, kInlineUpper, "fail", 5s);
  CHECK(bad.status().code() == ErrorCode::kConflict);
  CHECK(bad.status().message() == "inline refused");
  CHECK(inline_runs == 101);
  for (int i = 0; i < 400 && slow_done < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(slow_done == 2);
}

TEST_CASE("coordinator handlers calling each other's workers cannot deadlock", "[net][rpc]") {
  // Two nodes, one worker and one coordinator thread each. Each node's coordinator handler
  // calls the other node's worker handler and waits. With coordinators on the worker pool,
  // both workers would wait on each other until the deadline; on their own pool they finish.
  const std::string provider = "tcp;ofi_rxm";
  constexpr uint16_t kRelay = 60901;
  constexpr uint16_t kLeaf = 60902;
  std::unique_ptr<RpcEndpoint> nodes[2];
  for (auto& n : nodes) {
    RpcOptions options;
    options.provider = provider;
    options.name = "node";
    options.require_auth = false;
    options.handler_threads = 1;
    options.coordinator_threads = 1;
    auto e = RpcEndpoint::Create(options);
    REQUIRE(e.ok());
    n = std::move(e).value();
  }
  PeerId to_other[2];
  for (int i = 0; i < 2; ++i) {
    auto p = nodes[i]->Connect(nodes[1 - i]->address(), 5s);
    REQUIRE(p.ok());
    to_other[i] = *p;
  }
  for (int i = 0; i < 2; ++i) {
    RpcEndpoint* self = nodes[i].get();
    const PeerId other = to_other[i];
    self->RegisterHandler(kLeaf, [](const RpcContext&, std::string_view p) -> Result<std::string> {
      std::this_thread::sleep_for(20ms);
      return "leaf:" + std::string(p);
    });
    self->RegisterHandler(
        kRelay,
        [self, other](const RpcContext&, std::string_view p) -> Result<std::string> {
          return self->Call(other, kLeaf, p, 3s);
        },
        HandlerMode::kCoordinator);
  }
  auto client = MakeEndpoint(provider, "client");
  PeerId to_node[2];
  for (int i = 0; i < 2; ++i) {
    auto p = client->Connect(nodes[i]->address(), 5s);
    REQUIRE(p.ok());
    to_node[i] = *p;
  }
  // Both coordinators busy at once, each waiting on the other's worker; and a worker kept
  // busy by a direct call too.
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 2; ++i) {
      client->CallAsync(to_node[i], kRelay, "r" + std::to_string(round), 10s,
                        [&](Result<std::string> r) { (r.ok() ? ok : failed)++; });
      client->CallAsync(to_node[i], kLeaf, "direct", 10s,
                        [&](Result<std::string> r) { (r.ok() ? ok : failed)++; });
    }
  }
  for (int i = 0; i < 1000 && ok + failed < 40; ++i) std::this_thread::sleep_for(10ms);
  CHECK(failed == 0);
  CHECK(ok == 40);
}

TEST_CASE("rpc round trip with a server in another process", "[net][rpc]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = ServerProcess::Start(provider, /*require_auth=*/false, "");
  if (!server.ok()) FAIL(server.status().ToString());
  auto client = MakeEndpoint(provider, "client");
  auto peer = client->Connect((*server)->address(), 5s);
  REQUIRE(peer.ok());
  for (int i = 0; i < 100; ++i) {
    const std::string msg = "m" + std::to_string(i);
    auto r = client->Call(*peer, kEcho, msg, 5s);
    REQUIRE(r.ok());
    CHECK(*r == msg);
  }
  auto r = client->Call(*peer, kFail, "x", 5s);
  CHECK(r.status().code() == ErrorCode::kConflict);
}

TEST_CASE("1000 concurrent CallAsync requests are all answered correctly", "[net][rpc]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = ServerProcess::Start(provider, false, "");
  if (!server.ok()) FAIL(server.status().ToString());
  auto client = MakeEndpoint(provider, "client");
  auto peer = client->Connect((*server)->address(), 5s);
  REQUIRE(peer.ok());
  constexpr int kCalls = 1000;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, correct = 0;
  std::vector<std::string> errors;
  for (int i = 0; i < kCalls; ++i) {
    std::string msg = "req-" + std::to_string(i) + std::string(i % 97, 'z');
    client->CallAsync(*peer, kEcho, msg, 20s, [&, msg](Result<std::string> r) {
      std::lock_guard<std::mutex> lock(mu);
      if (r.ok() && *r == msg) {
        correct++;
      } else if (errors.size() < 5) {
        errors.push_back(r.ok() ? "wrong payload" : r.status().ToString());
      }
      done++;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, 60s, [&] { return done == kCalls; }));
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(correct == kCalls);
}

TEST_CASE("a peer held unresponsive is tried again once it is heard from", "[net][rpc]") {
  // PeerCache::MarkUnresponsive after a call ran into its deadline; the hold ends early when
  // any message from the peer arrives after it began (a node resumed after SIGSTOP).
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = MakeEndpoint(provider, "server");
  RegisterTestHandlers(*server);
  auto client = MakeEndpoint(provider, "client");
  PeerCache peers(*client);
  auto peer = peers.Get(server->address(), 5s);
  REQUIRE(peer.ok());
  REQUIRE(client->Call(*peer, kEcho, "before", 5s).ok());
  const TimePoint heard_before = client->LastHeardFrom(*peer);
  CHECK(heard_before > TimePoint{});

  peers.MarkUnresponsive(server->address(), std::chrono::seconds(60));
  auto held = peers.Get(server->address(), 5s);
  CHECK(held.status().code() == ErrorCode::kUnavailable);
  // A reply heard before the hold began does not end it.
  CHECK(peers.Get(server->address(), 5s).status().code() == ErrorCode::kUnavailable);

  // Anything from the peer after the hold began (here the reply to a call made with the
  // handle directly, as another component sharing the endpoint would) ends it.
  REQUIRE(client->Call(*peer, kEcho, "after", 5s).ok());
  CHECK(client->LastHeardFrom(*peer) > heard_before);
  auto again = peers.Get(server->address(), 5s);
  REQUIRE(again.ok());
  CHECK(*again == *peer);
  // And it stays ended.
  CHECK(peers.Get(server->address(), 5s).ok());
}
