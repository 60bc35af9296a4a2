// Hostile input: random bytes, truncated envelopes, foreign versions and oversized
// messages sent verbatim are refused with error replies and counted, and the endpoint
// keeps answering normal calls.
#include <catch2/catch.hpp>

#include <random>
#include <thread>

#include "net/fabric/address.h"
#include "net/rpc.h"
#include "net/wire/envelope.h"
#include "tests/unit/net/make_endpoint.h"
#include "tests/unit/net/net_test_support.h"

using namespace cvfs;
using namespace cvfs::net;
using namespace cvfs::net::testing;
using namespace std::chrono_literals;

namespace {

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("garbage, truncated and foreign-version messages get error replies", "[net][rpc]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto server = MakeEndpoint(provider, "server");
  auto client = MakeEndpoint(provider, "client");
  auto peer = client->Connect(server->address(), 5s);
  REQUIRE(peer.ok());
  REQUIRE(client->Call(*peer, Method::kPing, "warm", 5s).ok());

  std::mt19937_64 rng(1234);
  auto raw_self = fabric::ParseAddress(client->address(), provider);
  REQUIRE(raw_self.ok());
  wire::EnvelopeFields good;
  good.kind = wire::EnvelopeKind::kRequest;
  good.request_id = 777;
  good.method = MethodId(Method::kPing);
  good.payload = "payload";
  good.sender_address = *raw_self;
  const std::string good_bytes = wire::EncodeEnvelope(good);

  int sent = 0;
  for (int i = 0; i < 200; ++i) {  // random bytes, some with the right identifier
    std::string junk(1 + rng() % 512, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 8) junk.replace(4, 4, "CVFS");
    REQUIRE(client->SendRawForTesting(*peer, junk).ok());
    sent++;
  }
  for (size_t len = 1; len + 8 <= good_bytes.size(); len += 3) {  // truncations
    REQUIRE(client->SendRawForTesting(*peer, good_bytes.substr(0, len)).ok());
    sent++;
  }
  wire::EnvelopeFields future = good;
  future.version = wire::kProtocolVersion + 5;
  REQUIRE(client->SendRawForTesting(*peer, wire::EncodeEnvelope(future)).ok());
  sent++;

  CHECK(WaitFor([&] { return server->stats().malformed_messages >= uint64_t(sent); }));
  CHECK(server->stats().malformed_messages == uint64_t(sent));
  // Every one was answered (the transport names the sender), and the client dropped the
  // answers as replies to calls it never made.
  CHECK(WaitFor([&] { return client->stats().late_replies >= uint64_t(sent); }));
  CHECK(server->stats().error_replies_sent == uint64_t(sent));
  CHECK(server->stats().requests_served == 1);

  // A valid envelope sent raw is served like any call.
  REQUIRE(client->SendRawForTesting(*peer, good_bytes).ok());
  CHECK(WaitFor([&] { return server->stats().requests_served == 2; }));

  auto pong = client->Call(*peer, Method::kPing, "after the storm", 5s);
  REQUIRE(pong.ok());
  CHECK(*pong == "after the storm");
}

// tcp;ofi_rxm only: with libfabric 1.17's shm, a message larger than the receiver's posted
// buffer stalls the *sender's* progress thread inside the provider (see
// docs/design/transport.md, limits). All endpoints of a cluster share max_message_bytes.
TEST_CASE("a message larger than any receive buffer is counted and dropped", "[net][rpc]") {
  const std::string provider = "tcp;ofi_rxm";
  RpcOptions so;
  so.provider = provider;
  so.name = "small-server";
  so.require_auth = false;
  so.max_message_bytes = 1024;  // receive buffers of 1 KiB + overhead
  auto server = RpcEndpoint::Create(so);
  REQUIRE(server.ok());
  auto client = MakeEndpoint(provider, "client");
  auto peer = client->Connect((*server)->address(), 5s);
  REQUIRE(peer.ok());
  REQUIRE(client->SendRawForTesting(*peer, std::string(32 * 1024, 'A')).ok());
  CHECK(WaitFor([&] { return (*server)->stats().malformed_messages == 1; }));
  auto pong = client->Call(*peer, Method::kPing, "fine", 5s);
  REQUIRE(pong.ok());
  CHECK(*pong == "fine");
}
