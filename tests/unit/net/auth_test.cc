// MUNGE authentication of RPC sessions against real private munged instances: a valid
// Hello is accepted; no Hello, a credential from another key, garbage, a replayed
// credential and a credential bound to another address are all refused.
#include <catch2/catch.hpp>

#include <thread>

#include "net/auth/munge_credential.h"
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
bool WaitFor(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Sends a Hello built by hand, as a hostile client would.
void SendHello(RpcEndpoint& from, PeerId to, const std::string& credential) {
  auto raw = fabric::ParseAddress(from.address(), from.provider());
  REQUIRE(raw.ok());
  wire::EnvelopeFields hello;
  hello.kind = wire::EnvelopeKind::kHello;
  hello.request_id = 42;
  hello.sender_address = *raw;
  hello.hello_credential = credential;
  hello.hello_node_name = "intruder";
  REQUIRE(from.SendRawForTesting(to, wire::EncodeEnvelope(hello)).ok());
}

}  // namespace

TEST_CASE("munge credentials encode and decode through a private munged", "[net][security]") {
  auto a = PrivateMunged::Start();
  if (!a.ok()) FAIL(a.status().ToString());
  auto b = PrivateMunged::Start();
  if (!b.ok()) FAIL(b.status().ToString());
  auto cred = auth::EncodeCredential((*a)->socket(), "bound-payload");
  REQUIRE(cred.ok());
  auto dec = auth::DecodeCredential((*a)->socket(), *cred);
  REQUIRE(dec.ok());
  CHECK(dec->payload == "bound-payload");
  CHECK(dec->uid == getuid());
  // Replay is refused by munged itself.
  CHECK(auth::DecodeCredential((*a)->socket(), *cred).status().code() ==
        ErrorCode::kPermissionDenied);
  // Another key: refused.
  auto foreign = auth::EncodeCredential((*b)->socket(), "x");
  REQUIRE(foreign.ok());
  CHECK(auth::DecodeCredential((*a)->socket(), *foreign).status().code() ==
        ErrorCode::kPermissionDenied);
  CHECK(auth::DecodeCredential((*a)->socket(), "MUNGE:garbage:").status().code() ==
        ErrorCode::kPermissionDenied);
  CHECK(auth::EncodeCredential("/nonexistent/socket", "x").status().code() ==
        ErrorCode::kUnavailable);
}

TEST_CASE("rpc sessions require a valid MUNGE hello", "[net][security]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto cluster = PrivateMunged::Start();
  if (!cluster.ok()) FAIL(cluster.status().ToString());
  auto other = PrivateMunged::Start();  // a different key
  if (!other.ok()) FAIL(other.status().ToString());
  auto server = MakeEndpoint(provider, "server", true, (*cluster)->socket());

  SECTION("a valid credential is accepted and identifies the caller") {
    auto client = MakeEndpoint(provider, "good", true, (*cluster)->socket());
    std::string seen;
    uint32_t uid = 12345;
    server->RegisterHandler(60010, [&](const RpcContext& ctx, std::string_view) {
      seen = ctx.peer_name;
      uid = ctx.authenticated ? ctx.peer_uid : 9999;
      return Result<std::string>(std::string("ok"));
    });
    auto peer = client->Connect(server->address(), 5s);
    REQUIRE(peer.ok());
    REQUIRE(client->Call(*peer, 60010, "", 5s).ok());
    CHECK(seen == "good");
    CHECK(uid == getuid());
    CHECK(server->stats().auth_failures == 0);
  }
  SECTION("a peer that never sent a hello is refused") {
    auto client = MakeEndpoint(provider, "nohello", true, (*cluster)->socket());
    auto peer = client->ResolveForTesting(server->address());
    REQUIRE(peer.ok());
    auto r = client->Call(*peer, Method::kPing, "let me in", 5s);
    CHECK(r.status().code() == ErrorCode::kPermissionDenied);
    CHECK(server->stats().auth_failures == 1);
    CHECK(server->stats().requests_served == 0);
  }
  SECTION("a credential from a munged with another key is refused") {
    auto client = MakeEndpoint(provider, "foreign", true, (*other)->socket());
    auto peer = client->Connect(server->address(), 5s);
    CHECK(peer.status().code() == ErrorCode::kPermissionDenied);
    CHECK(server->stats().auth_failures == 1);
    // And its requests stay refused.
    auto resolved = client->ResolveForTesting(server->address());
    REQUIRE(resolved.ok());
    CHECK(client->Call(*resolved, Method::kPing, "", 5s).status().code() ==
          ErrorCode::kPermissionDenied);
  }
  SECTION("no munged on the client side: refused") {
    auto client = MakeEndpoint(provider, "nomunge", true, "/nonexistent/munge.socket");
    auto peer = client->Connect(server->address(), 5s);
    CHECK(peer.status().code() == ErrorCode::kPermissionDenied);
  }
  SECTION("garbage, replayed and misbound credentials are refused") {
    auto client = MakeEndpoint(provider, "hostile", true, (*cluster)->socket());
    auto peer = client->ResolveForTesting(server->address());
    REQUIRE(peer.ok());
    SendHello(*client, *peer, "MUNGE:AwQDAACGarbageGarbageGarbage:");
    CHECK(WaitFor([&] { return server->stats().auth_failures == 1; }));

    // A credential minted for another client address (stolen from another node's Hello).
    auto server_raw = fabric::ParseAddress(server->address(), provider);
    REQUIRE(server_raw.ok());
    auto misbound = auth::EncodeCredential(
        (*cluster)->socket(), wire::HelloBinding("someone-else's-address", *server_raw));
    REQUIRE(misbound.ok());
    SendHello(*client, *peer, *misbound);
    CHECK(WaitFor([&] { return server->stats().auth_failures == 2; }));
    CHECK(client->Call(*peer, Method::kPing, "", 5s).status().code() ==
          ErrorCode::kPermissionDenied);

    // A correctly bound credential works once; its replay is refused.
    auto client_raw = fabric::ParseAddress(client->address(), provider);
    REQUIRE(client_raw.ok());
    auto bound =
        auth::EncodeCredential((*cluster)->socket(), wire::HelloBinding(*client_raw, *server_raw));
    REQUIRE(bound.ok());
    SendHello(*client, *peer, *bound);
    CHECK(WaitFor([&] { return server->stats().hellos_accepted == 1; }));
    CHECK(client->Call(*peer, Method::kPing, "in", 5s).ok());
    SendHello(*client, *peer, *bound);
    CHECK(WaitFor([&] { return server->stats().auth_failures == 4; }));  // +1 for the Call
  }
}

TEST_CASE("authenticated calls to a server in another process", "[net][security]") {
  const std::string provider = GENERATE(from_range(kProviders));
  INFO("provider " << provider);
  auto cluster = PrivateMunged::Start();
  if (!cluster.ok()) FAIL(cluster.status().ToString());
  auto other = PrivateMunged::Start();
  if (!other.ok()) FAIL(other.status().ToString());
  auto server = ServerProcess::Start(provider, /*require_auth=*/true, (*cluster)->socket());
  if (!server.ok()) FAIL(server.status().ToString());
  auto good = MakeEndpoint(provider, "good", true, (*cluster)->socket());
  auto peer = good->Connect((*server)->address(), 5s);
  REQUIRE(peer.ok());
  auto r = good->Call(*peer, kEcho, "authenticated", 5s);
  REQUIRE(r.ok());
  CHECK(*r == "authenticated");
  auto bad = MakeEndpoint(provider, "bad", true, (*other)->socket());
  CHECK(bad->Connect((*server)->address(), 5s).status().code() == ErrorCode::kPermissionDenied);
}
