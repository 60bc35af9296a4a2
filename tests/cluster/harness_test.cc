// The harness's own pieces against the real programs: a child is reaped and killed for
// real, etcd and munged start privately and answer.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/cluster/child_process.h"
#include "tests/cluster/services.h"
#include "tests/cluster/test_network.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

TEST_CASE("ChildProcess reports exit and kills what is still running") {
  auto dir = MakeTempDir("cvfs-harness");
  REQUIRE(dir.ok());
  auto quick = ChildProcess::Spawn({{"/bin/sh", "-c", "echo hello; exit 3"}, {}, *dir + "/q.log"});
  REQUIRE(quick.ok());
  REQUIRE(quick->WaitExit(5000ms));
  REQUIRE(quick->wait_status().has_value());
  CHECK(WEXITSTATUS(*quick->wait_status()) == 3);
  CHECK(TailFile(*dir + "/q.log") == "hello\n");

  auto sleeper = ChildProcess::Spawn({{"/bin/sleep", "60"}, {}, ""});
  REQUIRE(sleeper.ok());
  CHECK(sleeper->Running());
  sleeper->Kill();
  CHECK_FALSE(sleeper->Running());
  CHECK(WTERMSIG(*sleeper->wait_status()) == SIGKILL);

  auto missing = ChildProcess::Spawn({{"/nonexistent/program"}, {}, ""});
  REQUIRE(missing.ok());
  REQUIRE(missing->WaitExit(5000ms));
  CHECK(WEXITSTATUS(*missing->wait_status()) == 127);
  std::filesystem::remove_all(*dir);
}

TEST_CASE("private etcd and munged start, answer and stop") {
  auto dir = MakeTempDir("cvfs-harness");
  REQUIRE(dir.ok());
  {
    auto etcd = EtcdServer::Start(*dir + "/etcd");
    REQUIRE(etcd.ok());
    std::string out;
    CHECK(RunCommand(
              "curl -sf -m 2 -X POST -d '{}' " + (*etcd)->endpoint() + "/v3/maintenance/status",
              &out) == 0);
    auto munge = MungeDaemon::Start(*dir + "/munge");
    REQUIRE(munge.ok());
    CHECK(RunCommand("/usr/bin/munge -n -S " + (*munge)->socket_path() + " | /usr/bin/unmunge -S " +
                         (*munge)->socket_path(),
                     &out) == 0);
    CHECK(out.find("STATUS:") != std::string::npos);
    CHECK(out.find("Success") != std::string::npos);
  }
  std::filesystem::remove_all(*dir);
}

TEST_CASE("test network: namespaces reach the host and each other until disconnected") {
  auto net = TestNetwork::Create(2);
  REQUIRE(net.ok());
  TestNetwork& n = **net;
  std::string out;
  auto ping = [&](int from, const std::string& to) {
    return RunCommand("ip netns exec " + n.namespace_name(from) + " ping -c1 -W1 " + to, &out);
  };
  CHECK(ping(0, n.host_address()) == 0);
  CHECK(ping(0, n.node_address(1)) == 0);
  REQUIRE(n.Disconnect(1).ok());
  CHECK(ping(1, n.host_address()) != 0);
  CHECK(ping(0, n.node_address(1)) != 0);
  CHECK(ping(0, n.host_address()) == 0);  // only node 1 is cut off
  REQUIRE(n.Reconnect(1).ok());
  // The bridge port needs a moment to forward again after the link comes up.
  bool healed = false;
  for (int attempt = 0; attempt < 20 && !healed; ++attempt) healed = ping(1, n.host_address()) == 0;
  CHECK(healed);
  const std::string ns = n.namespace_name(0);
  net->reset();
  CHECK(RunCommand("ip netns list | grep -qw " + ns, &out) != 0);  // cleaned up
}

}  // namespace
}  // namespace cvfs::testing
