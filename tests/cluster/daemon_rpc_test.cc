// A real cvfsd's fabric endpoint seen from outside: an authenticated client reaches its
// services and is known by its MUNGE uid; a client whose credential comes from a munged
// with another key (a forged credential) and a client that never authenticated are
// refused; random and truncated byte strings get error replies and the daemon keeps
// serving valid clients throughout.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "net/fabric/address.h"
#include "net/rpc.h"
#include "net/wire/envelope.h"
#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr Duration kDeadline = std::chrono::seconds(3);

std::string NodeAddress(const nlohmann::json& status, const std::string& id) {
  for (const auto& n : status["nodes"]) {
    if (n.value("id", "") == id) return n.value("address", "");
  }
  return "";
}

std::unique_ptr<net::RpcEndpoint> Client(const std::string& munge_socket, const std::string& name) {
  net::RpcOptions options;
  options.provider = "tcp;ofi_rxm";
  options.name = name;
  options.munge_socket = munge_socket;
  auto endpoint = net::RpcEndpoint::Create(options);
  REQUIRE(endpoint.ok());
  return std::move(*endpoint);
}

Result<nlohmann::json> NodeInfo(net::RpcEndpoint& client, net::PeerId peer) {
  auto reply = client.Call(peer, net::Method::kNodeInfo, "", kDeadline);
  INFO("NodeInfo: " << reply.status().ToString());
  CHECK(reply.ok());
  if (!reply.ok()) return reply.status();
  auto json = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::MalformedMessage("NodeInfo reply is not JSON");
  return json;
}

struct Daemon {
  std::unique_ptr<TestCluster> cluster;
  std::string address;
};

Daemon StartOneNode() {
  ClusterOptions opts;
  opts.nodes = 1;
  auto cluster = TestCluster::Start(opts);
  REQUIRE(cluster.ok());
  auto status = (*cluster)->StatusJson();
  REQUIRE(status.ok());
  Daemon d{std::move(*cluster), NodeAddress(*status, "n1")};
  REQUIRE_FALSE(d.address.empty());
  return d;
}

TEST_CASE("authenticated client reaches cvfsd; forged and missing credentials are refused") {
  Daemon d = StartOneNode();
  TestCluster& cluster = *d.cluster;
  INFO(cluster.DumpLogs());

  // Valid: the daemon answers and knows our uid from the credential.
  auto good = Client(cluster.munge_socket(), "good-client");
  auto peer = good->Connect(d.address, kDeadline);
  REQUIRE(peer.ok());
  auto info = NodeInfo(*good, *peer);
  REQUIRE(info.ok());
  CHECK((*info)["node_id"] == "n1");
  CHECK((*info)["peer"] == "good-client");
  CHECK((*info)["peer_uid"] == ::getuid());

  // Forged: a credential minted by a munged with a different key.
  auto other_dir = MakeTempDir("cvfs-forger");
  REQUIRE(other_dir.ok());
  auto forger_munge = MungeDaemon::Start(*other_dir + "/munge");
  REQUIRE(forger_munge.ok());
  auto forger = Client((*forger_munge)->socket_path(), "forger");
  auto forged = forger->Connect(d.address, kDeadline);
  REQUIRE_FALSE(forged.ok());
  CHECK(forged.status().code() == ErrorCode::kPermissionDenied);
  std::printf("forged credential refused: %s\n", forged.status().ToString().c_str());

  // Unauthenticated: a peer that never completed a Hello gets no service.
  auto anonymous = Client(cluster.munge_socket(), "anonymous");
  auto raw_peer = anonymous->ResolveForTesting(d.address);
  REQUIRE(raw_peer.ok());
  auto refused = anonymous->Call(*raw_peer, net::Method::kNodeInfo, "", kDeadline);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kUnauthenticated);
  std::printf("unauthenticated request refused: %s\n", refused.status().ToString().c_str());
  // ... and the refused forger has no session either.
  auto forger_raw = forger->ResolveForTesting(d.address);
  REQUIRE(forger_raw.ok());
  CHECK(forger->Call(*forger_raw, net::Method::kPing, "x", kDeadline).status().code() ==
        ErrorCode::kUnauthenticated);

  // The daemon counted the refusals and still serves the valid client.
  auto after = NodeInfo(*good, *peer);
  REQUIRE(after.ok());
  CHECK((*after)["rpc"]["auth_failures"].get<uint64_t>() >= 3);
  CHECK(cluster.running(0));
  std::filesystem::remove_all(*other_dir);
}

TEST_CASE("random and truncated bytes get error replies; cvfsd keeps serving") {
  Daemon d = StartOneNode();
  TestCluster& cluster = *d.cluster;
  INFO(cluster.DumpLogs());
  auto fuzzer = Client(cluster.munge_socket(), "fuzzer");
  auto fuzz_peer = fuzzer->Connect(d.address, kDeadline);
  REQUIRE(fuzz_peer.ok());
  auto good = Client(cluster.munge_socket(), "good-client");
  auto good_peer = good->Connect(d.address, kDeadline);
  REQUIRE(good_peer.ok());
  auto before = NodeInfo(*good, *good_peer);
  REQUIRE(before.ok());
  const uint64_t malformed_before = (*before)["rpc"]["malformed_messages"];

  // A valid client keeps calling while the fuzzer sends garbage.
  std::atomic<bool> stop{false};
  std::atomic<int> good_calls{0}, good_failures{0};
  std::thread valid([&] {
    while (!stop) {
      auto r = good->Call(*good_peer, net::Method::kPing, "still-there", kDeadline);
      if (r.ok() && *r == "still-there") {
        ++good_calls;
      } else {
        ++good_failures;
      }
    }
  });

  // A real request's bytes, to truncate at every length.
  std::mt19937_64 rng(20261126);
  constexpr int kRandom = 1500;
  int sent = 0;
  for (int i = 0; i < kRandom; ++i) {
    std::string bytes(rng() % 512 + 1, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (fuzzer->SendRawForTesting(*fuzz_peer, bytes).ok()) ++sent;
  }
  auto raw_self = net::fabric::ParseAddress(fuzzer->address(), "tcp;ofi_rxm");
  REQUIRE(raw_self.ok());
  net::wire::EnvelopeFields request;
  request.kind = net::wire::EnvelopeKind::kRequest;
  request.request_id = 4242;
  request.method = net::MethodId(net::Method::kPing);
  request.payload = "hello";
  request.sender_address = *raw_self;
  const std::string valid_request = net::wire::EncodeEnvelope(request);
  // Every proper prefix (the empty message included) of a valid request.
  for (size_t len = 0; len < valid_request.size(); ++len) {
    if (fuzzer->SendRawForTesting(*fuzz_peer, valid_request.substr(0, len)).ok()) ++sent;
  }
  // Error replies come back to the fuzzer as replies to calls it never made.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (fuzzer->stats().late_replies < static_cast<uint64_t>(sent) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  stop = true;
  valid.join();

  auto after = NodeInfo(*good, *good_peer);
  INFO("valid client: " << good_calls.load() << " ok, " << good_failures.load()
                        << " failed; fuzzer late replies " << fuzzer->stats().late_replies << " of "
                        << sent);
  REQUIRE(after.ok());
  const uint64_t malformed =
      (*after)["rpc"]["malformed_messages"].get<uint64_t>() - malformed_before;
  const auto fuzzer_stats = fuzzer->stats();
  std::printf(
      "fuzz: sent %d garbage messages; daemon counted %llu malformed, fuzzer got %llu "
      "error replies; valid client: %d calls ok, %d failed\n",
      sent, static_cast<unsigned long long>(malformed),
      static_cast<unsigned long long>(fuzzer_stats.late_replies), good_calls.load(),
      good_failures.load());
  CHECK(sent == kRandom + static_cast<int>(valid_request.size()));
  CHECK(malformed >= static_cast<uint64_t>(sent) * 9 / 10);
  CHECK(fuzzer_stats.late_replies >= static_cast<uint64_t>(sent) * 9 / 10);
  CHECK(good_calls > 0);
  CHECK(good_failures == 0);
  CHECK(cluster.running(0));
  // The fuzzer's own session still works: garbage does not poison a connection.
  auto ping = fuzzer->Call(*fuzz_peer, net::Method::kPing, "ok", kDeadline);
  REQUIRE(ping.ok());
  CHECK(*ping == "ok");
}

}  // namespace
}  // namespace cvfs::testing
