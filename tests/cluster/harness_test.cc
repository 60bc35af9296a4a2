// The harness's own pieces against the real programs: a child is reaped and killed for
// real, etcd and munged start privately and answer.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/cluster/child_process.h"
#include "tests/cluster/services.h"

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
    CHECK(RunCommand("curl -sf -m 2 -X POST -d '{}' " + (*etcd)->endpoint() +
                         "/v3/maintenance/status",
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

}  // namespace
}  // namespace cvfs::testing
