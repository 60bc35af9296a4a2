// cvfsd refuses to start half-configured, with a clear message and the documented exit
// code (docs/admin/cvfsd.md): 2 when the configuration must change (bad flag or value,
// missing drive, a state directory, drive or node id held by another live daemon),
// 3 when etcd or the cluster record is missing (a restart later may help).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

namespace fs = std::filesystem;

struct Run {
  int rc = -1;
  std::string out;
};

// Runs cvfsd with `args` (bounded by `timeout 20`), returns exit code and output.
Run Cvfsd(const std::string& args) {
  Run r;
  r.rc = RunCommand("timeout 20 " + BinPath("cvfsd") + " " + args + " 2>&1", &r.out);
  return r;
}

// A config for node `id` of `cluster` in `dir`, optionally with a different drive list.
std::string WriteConfig(const std::string& dir, const std::string& id, const TestCluster& c,
                        const std::string& cluster_name, const std::string& extra = "") {
  fs::create_directories(dir + "/drive0");
  const std::string path = dir + "/cvfsd.toml";
  std::ofstream cfg(path);
  cfg << "cluster = \"" << cluster_name << "\"\nnode_id = \"" << id << "\"\n"
      << "state_dir = \"" << dir << "\"\ndrives = [\"" << dir << "/drive0\"]\n"
      << extra << "[etcd]\nendpoints = [\"" << c.etcd_endpoint() << "\"]\nlease_ttl_s = 2\n"
      << "[auth]\nmunge_socket = \"" << c.munge_socket() << "\"\n";
  return path;
}

TEST_CASE("cvfsd start-up refusals: exit codes and messages") {
  ClusterOptions opts;
  opts.nodes = 1;
  auto started = TestCluster::Start(opts);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;
  const std::string base = cluster.dir() + "/extra";

  auto help = Cvfsd("--help");
  CHECK(help.rc == 0);
  CHECK(help.out.find("--config") != std::string::npos);

  auto bad_flag = Cvfsd("--no-such-flag");
  CHECK(bad_flag.rc == 2);

  auto no_file = Cvfsd("--config /nonexistent/cvfsd.toml");
  CHECK(no_file.rc == 2);

  auto bad_value =
      Cvfsd("--config " + WriteConfig(base + "/a", "a1", cluster, "test") + " --lease-ttl 0");
  CHECK(bad_value.rc == 2);
  CHECK(bad_value.out.find("lease_ttl") != std::string::npos);

  // Typed wrongly in the file: an error naming the key, not a silent default.
  {
    std::ofstream bad(base + "/bad.toml");
    bad << "cluster = \"test\"\n[etcd]\nlease_ttl_s = \"five\"\n";
  }
  auto bad_type = Cvfsd("--config " + base + "/bad.toml");
  CHECK(bad_type.rc == 2);
  CHECK(bad_type.out.find("lease_ttl_s") != std::string::npos);

  // The cluster was never created: 3, and the message says how to create it.
  auto no_cluster = Cvfsd("--config " + WriteConfig(base + "/b", "b1", cluster, "nosuch"));
  CHECK(no_cluster.rc == 3);
  CHECK(no_cluster.out.find("cvfs cluster create nosuch") != std::string::npos);

  // A drive that is not there (an unmounted SSD): 2, nothing written to the root fs.
  const std::string c_config = WriteConfig(base + "/c", "c1", cluster, "test");
  fs::remove_all(base + "/c/drive0");
  auto no_drive = Cvfsd("--config " + c_config);
  CHECK(no_drive.rc == 2);
  CHECK(no_drive.out.find("does not exist") != std::string::npos);
  CHECK_FALSE(fs::exists(base + "/c/drive0"));

  // The running node's state directory: in use.
  auto same_state = Cvfsd("--config " + cluster.config_path(0) + " --node-id n1");
  CHECK(same_state.rc == 2);
  CHECK(same_state.out.find("in use") != std::string::npos);

  // The running node's id from another state directory: a duplicate identity.
  auto duplicate = Cvfsd("--config " + WriteConfig(base + "/d", "n1", cluster, "test"));
  CHECK(duplicate.rc == 2);
  CHECK(duplicate.out.find("already registered") != std::string::npos);

  // The running node's drive, claimed by another node: refused by its label.
  auto stolen_drive = Cvfsd("--config " + WriteConfig(base + "/e", "e1", cluster, "test") +
                            " --drive " + cluster.dir() + "/n1/drive0");
  CHECK(stolen_drive.rc == 2);
  CHECK(stolen_drive.out.find("belongs to node 'n1'") != std::string::npos);

  // etcd unreachable: 3 within a bound.
  auto t0 = std::chrono::steady_clock::now();
  auto no_etcd = Cvfsd("--config " + WriteConfig(base + "/f", "f1", cluster, "test") +
                       " --etcd http://127.0.0.1:1");
  CHECK(no_etcd.rc == 3);
  CHECK(SecondsSince(t0) < 15);

  // None of the refused starts disturbed the running node.
  CHECK(cluster.running(0));
  auto status = cluster.StatusJson();
  REQUIRE(status.ok());
  CHECK((*status)["nodes"].size() == 1);
  CHECK(TestCluster::NodeState(*status, "n1") == "up");
}

}  // namespace
}  // namespace cvfs::testing
