// MUNGE authentication of RPC sessions against real private munged instances: a valid
// Hello is accepted; no Hello, a credential from another key, garbage, a replayed
// credential and a credential bound to another address are all refused; a peer restarted
// at the same address is said Hello to again.
#include <catch2/catch.hpp>

#include <future>
#include <thread>

#include "net/auth/munge_credential.h"
#include "net/fabric/address.h"
#include "net/rpc.h"
#include "net/wire/envelope.h"
#include "tests/cluster/child_process.h"
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
    CHECK(r.status().code() == ErrorCode::kUnauthenticated);
    CHECK(client->stats().sessions_renewed == 0);  // it never had a session to renew
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
          ErrorCode::kUnauthenticated);
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
          ErrorCode::kUnauthenticated);

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

namespace {

// An rpc_test_server process on `port` (retried for a while: the port may still be held
// for a moment after the previous process was killed).
std::unique_ptr<ServerProcess> ServerOnPort(uint16_t port, const std::string& munge_socket) {
  Result<std::unique_ptr<ServerProcess>> server = Status::Unavailable("not tried");
  for (int attempt = 0; attempt < 50; ++attempt) {
    server = ServerProcess::Start("tcp;ofi_rxm", /*require_auth=*/true, munge_socket, port);
    if (server.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  return std::move(server).value();
}

// Calls kEcho on `peer` until it answers something other than kUnavailable (the first sends
// after a restart may find the old connection gone: a transport matter callers retry).
// `async`: through CallAsync, the data path's form.
Result<std::string> EchoAfterRestart(RpcEndpoint& client, PeerId peer, bool async) {
  Result<std::string> r = Status::Unavailable("not called");
  for (int attempt = 0; attempt < 30; ++attempt) {
    if (async) {
      std::promise<Result<std::string>> promise;
      client.CallAsync(peer, kEcho, "again", 5s,
                       [&promise](Result<std::string> got) { promise.set_value(std::move(got)); });
      r = promise.get_future().get();
    } else {
      r = client.Call(peer, kEcho, "again", 5s);
    }
    if (r.status().code() != ErrorCode::kUnavailable) break;
    std::this_thread::sleep_for(100ms);
  }
  return r;
}

}  // namespace

TEST_CASE("a peer restarted at the same address is said Hello to again, and the call goes through",
          "[net][security]") {
  // Fault run seed 2119: a cvfsd restarted on a port one of its earlier processes had used,
  // so at an address the clients' connection caches still held; the new process had no
  // session for them and refused every call with "no authenticated session" until the
  // clients restarted. A daemon on a fixed port (cvfsd --port) does this at every restart.
  auto munged = PrivateMunged::Start();
  if (!munged.ok()) FAIL(munged.status().ToString());
  auto free_port = cvfs::testing::FindFreePort();
  REQUIRE(free_port.ok());
  const uint16_t port = *free_port;
  auto server = ServerOnPort(port, (*munged)->socket());
  const std::string address = server->address();
  auto client = MakeEndpoint("tcp;ofi_rxm", "client", true, (*munged)->socket());
  auto peer = client->Connect(address, 5s);
  REQUIRE(peer.ok());
  auto first = client->Call(*peer, kEcho, "first", 5s);
  REQUIRE(first.ok());
  CHECK(*first == "first");

  // kill -9 and a new process at the same address. The same PeerId, no new Connect: the
  // new server refuses the call (it never saw our Hello); the client says Hello again and
  // resends the call once.
  for (const bool async : {false, true}) {
    INFO((async ? "CallAsync" : "Call"));
    server->Kill();
    server = ServerOnPort(port, (*munged)->socket());
    REQUIRE(server->address() == address);
    const uint64_t renewed_before = client->stats().sessions_renewed;
    auto again = EchoAfterRestart(*client, *peer, async);
    INFO(again.status().ToString());
    REQUIRE(again.ok());
    CHECK(*again == "again");
    CHECK(client->stats().sessions_renewed == renewed_before + 1);
  }

  // A server with another MUNGE key at that address: the renewed Hello is refused and the
  // caller gets that refusal, after one Hello, not a loop of them.
  auto foreign = PrivateMunged::Start();
  if (!foreign.ok()) FAIL(foreign.status().ToString());
  server->Kill();
  server = ServerOnPort(port, (*foreign)->socket());
  const uint64_t renewed_before = client->stats().sessions_renewed;
  auto refused = EchoAfterRestart(*client, *peer, /*async=*/false);
  INFO(refused.status().ToString());
  CHECK(refused.status().code() == ErrorCode::kPermissionDenied);
  CHECK(client->stats().sessions_renewed == renewed_before);
}
