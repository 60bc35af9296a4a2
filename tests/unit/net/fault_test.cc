// Dead peers: calls to a process killed with SIGKILL end with an error within their
// deadline, and the endpoint keeps working for other peers.
#include <catch2/catch.hpp>

#include <chrono>

#include "net/rpc.h"
#include "tests/unit/net/net_test_support.h"

using namespace cvfs;
using namespace cvfs::net;
using namespace cvfs::net::testing;
using namespace std::chrono_literals;

TEST_CASE("a call to a killed peer fails within its deadline", "[net][fault]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto victim = ServerProcess::Start(provider, false, "");
  if (!victim.ok()) FAIL(victim.status().ToString());
  auto survivor = ServerProcess::Start(provider, false, "");
  if (!survivor.ok()) FAIL(survivor.status().ToString());
  RpcOptions o;
  o.provider = provider;
  o.name = "client";
  o.require_auth = false;
  auto client = RpcEndpoint::Create(o);
  REQUIRE(client.ok());
  auto dead = (*client)->Connect((*victim)->address(), 5s);
  REQUIRE(dead.ok());
  auto alive = (*client)->Connect((*survivor)->address(), 5s);
  REQUIRE(alive.ok());
  REQUIRE((*client)->Call(*dead, Method::kPing, "x", 5s).ok());

  (*victim)->Kill();
  const auto deadline = 2s;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = (*client)->Call(*dead, Method::kPing, "x", deadline);
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
  auto dead2 = (*client)->Connect((*victim2)->address(), 5s);
  REQUIRE(dead2.ok());
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    (*victim2)->Kill();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = (*client)->Call(*dead2, kSleepMs, "5000", deadline);
  const auto took = std::chrono::steady_clock::now() - start;
  killer.join();
  CHECK(!r.ok());
  CHECK(took < deadline + 1s);

  // Connect to the dead address: kUnavailable within the deadline.
  const auto cstart = std::chrono::steady_clock::now();
  auto again = (*client)->Connect((*victim)->address(), 1s);
  CHECK(again.status().code() == ErrorCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - cstart < 2s);

  // Other peers are unaffected.
  auto ok = (*client)->Call(*alive, Method::kPing, "still here", 5s);
  REQUIRE(ok.ok());
  CHECK(*ok == "still here");
}
