// `cvfs doctor` against real pieces: a healthy backend node, a client-only node, and the
// failures a Slurm health check must catch (munged gone, a drive missing, etcd
// unreachable, cvfsd not running), each with exit code 1 and the failing check named.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

nlohmann::json Check(const nlohmann::json& report, const std::string& name) {
  for (const auto& c : report["checks"]) {
    if (c.value("name", "") == name) return c;
  }
  return nlohmann::json::object();
}

nlohmann::json RunDoctor(const TestCluster& cluster, const std::string& args, int* rc) {
  std::string out;
  *rc = cluster.RunCli("doctor --json " + args + " 2>/dev/null", &out);
  auto report = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  INFO(out);
  REQUIRE(report.is_object());
  return report;
}

TEST_CASE("cvfs doctor on backend and client-only nodes, healthy and broken") {
  ClusterOptions opts;
  opts.nodes = 1;
  auto started = TestCluster::Start(opts);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;
  const std::string config = cluster.config_path(0);

  int rc = -1;
  auto healthy = RunDoctor(cluster, "--config " + config, &rc);
  INFO(healthy.dump(2));
  CHECK(rc == 0);
  CHECK(healthy["ok"] == true);
  CHECK(healthy["role"] == "backend");
  CHECK(healthy["node"] == "n1");
  // No RDMA hardware here: said plainly, not an error.
  CHECK(Check(healthy, "rdma")["severity"] == "info");
  CHECK(Check(healthy, "rdma")["summary"].get<std::string>().find("no RDMA devices") !=
        std::string::npos);
  CHECK(Check(healthy, "fabric")["ok"] == true);
  CHECK(Check(healthy, "munge")["ok"] == true);
  CHECK(Check(healthy, "etcd")["ok"] == true);
  CHECK(Check(healthy, "cvfsd")["ok"] == true);
  CHECK(Check(healthy, "drives")["ok"] == true);

  // As a Slurm health check runs it: no CVFS_ETCD/CVFS_CLUSTER in the environment; etcd
  // and cluster come from the node's own config.
  {
    std::string out;
    rc =
        RunCommand("env -u CVFS_ETCD -u CVFS_CLUSTER CVFS_MUNGE_SOCKET=" + cluster.munge_socket() +
                       " " + BinPath("cvfs") + " doctor --json --config " + config + " 2>/dev/null",
                   &out);
    auto from_config = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    INFO(out);
    REQUIRE(from_config.is_object());
    CHECK(rc == 0);
    CHECK(Check(from_config, "etcd")["ok"] == true);
    CHECK(Check(from_config, "cvfsd")["ok"] == true);
  }

  // A client-only node: no config, no cvfsd, still healthy.
  auto client = RunDoctor(cluster, "--config ''", &rc);
  CHECK(rc == 0);
  CHECK(client["role"] == "client");
  CHECK(Check(client, "cvfsd").empty());

  // Broken munged socket.
  std::string out;
  auto no_munge =
      RunDoctor(cluster, "--config " + config + " --munge-socket /nonexistent/sock", &rc);
  CHECK(rc == 1);
  CHECK(no_munge["ok"] == false);
  CHECK(Check(no_munge, "munge")["severity"] == "error");

  // cvfsd stopped: its registration is gone.
  cluster.StopNode(0);
  auto stopped = RunDoctor(cluster, "--config " + config, &rc);
  CHECK(rc == 1);
  CHECK(Check(stopped, "cvfsd")["severity"] == "error");

  // A drive that is not there (an unmounted SSD).
  std::filesystem::remove_all(cluster.dir() + "/n1/drive0");
  auto no_drive = RunDoctor(cluster, "--config " + config, &rc);
  CHECK(rc == 1);
  CHECK(Check(no_drive, "drives")["severity"] == "error");

  // etcd gone.
  cluster.KillEtcd();
  auto no_etcd = RunDoctor(cluster, "--config " + config + " --timeout-ms 500", &rc);
  CHECK(rc == 1);
  CHECK(Check(no_etcd, "etcd")["severity"] == "error");
}

}  // namespace
}  // namespace cvfs::testing
