// `cvfs fs` and `cvfs drive add` against a real cluster (etcd, munged, cvfsd processes):
//   - on 6 nodes `fs create scratch --protection 4+2 --cell 128K` places 256 PGs whose 6
//     members lie in 6 distinct failure domains, prints the balance, and `fs list/status
//     --json` have the documented shape;
//   - 8+4 on 6 nodes is refused with the numbers and exit 2, writing nothing; a duplicate name
//     exits 5; bad --protection/--cell/--pgs values exit 2; an unknown filesystem exits 4;
//   - a killed node makes PGs degraded in `fs status` while the PG table stays as it was.
//   - `cvfs drive add` (root only) adds a drive to a running node: the map lists it, a
//     filesystem created afterwards stores cells on it, and it stays across a restart.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "control/cluster_manager.h"
#include "control/etcd_client.h"
#include "control/keys.h"
#include "tests/cluster/child_process.h"
#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

Result<ClusterMap> ReadMap(const TestCluster& cluster) {
  control::EtcdOptions options;
  options.endpoints = {cluster.etcd_endpoint()};
  CVFS_ASSIGN_OR_RETURN(auto etcd, control::EtcdClient::Create(options));
  CVFS_ASSIGN_OR_RETURN(auto map,
                        control::ReadMap(*etcd, control::KeyLayout(cluster.cluster_name())));
  if (!map) return Status::NotFound("no map");
  return std::move(*map);
}

Result<nlohmann::json> CliJson(const TestCluster& cluster, const std::string& args, int* rc) {
  std::string out;
  *rc = cluster.RunCli(args + " 2>/dev/null", &out);
  auto json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::MalformedMessage("`cvfs " + args + "` printed: " + out);
  return json;
}

void CheckStatusShape(const nlohmann::json& fs) {
  for (const char* key : {"name", "id", "protection", "data_cells", "parity_cells", "cell_bytes",
                          "stripe_bytes", "pg_count", "created_ms", "placed", "placement",
                          "pgs_degraded", "pgs_unavailable", "members_down"}) {
    INFO(key);
    CHECK(fs.contains(key));
  }
  for (const char* key :
       {"drives", "max_cells", "mean_cells", "max_over_mean", "max_primaries", "mean_primaries"}) {
    INFO(key);
    CHECK(fs["placement"].contains(key));
  }
}

TEST_CASE("cvfs fs create/list/status on 6 nodes; refusals; a node down keeps the table") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = TestCluster::Start(options);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;
  INFO(cluster.DumpLogs());
  std::string out;

  for (const char* help : {"fs --help", "fs create --help", "fs list --help", "fs status --help",
                           "drive --help", "drive add --help"}) {
    INFO(help);
    CHECK(cluster.RunCli(help, &out) == 0);
  }

  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(cluster.RunCli("fs create scratch --protection 4+2 --cell 128K 2>&1", &out) == 0);
  std::printf("fs create scratch 4+2 on 6 nodes: %.2f s\n%s", SecondsSince(t0), out.c_str());
  CHECK(out.find("created filesystem scratch (id 1): 4+2, cell 128 KiB, 256 PGs") !=
        std::string::npos);
  CHECK(out.find("max/mean") != std::string::npos);

  auto map = ReadMap(cluster);
  REQUIRE(map.ok());
  REQUIRE(map->filesystems.count("scratch") == 1);
  const FilesystemInfo& fs = map->filesystems.at("scratch");
  CHECK(fs.id == 1);
  CHECK(fs.geometry == StripeGeometry{4, 2, 128 * 1024});
  REQUIRE(fs.groups.size() == 256);
  for (const auto& pg : fs.groups) {
    std::set<std::string> domains;
    for (const auto& m : pg.members) {
      REQUIRE(map->nodes.count(m.node) == 1);
      domains.insert(map->nodes.at(m.node).record.failure_domain);
    }
    CHECK(domains.size() == 6);
  }
  const auto table = fs.groups;

  int rc = 0;
  auto list = CliJson(cluster, "fs list --json", &rc);
  REQUIRE(list.ok());
  CHECK(rc == 0);
  REQUIRE(list->is_array());
  REQUIRE(list->size() == 1);
  CheckStatusShape((*list)[0]);
  auto status = CliJson(cluster, "fs status scratch --json", &rc);
  REQUIRE(status.ok());
  CHECK(rc == 0);
  CheckStatusShape(*status);
  CHECK((*status)["protection"] == "4+2");
  CHECK((*status)["pg_count"] == 256);
  CHECK((*status)["stripe_bytes"] == 4 * 128 * 1024);
  CHECK((*status)["placed"] == true);
  CHECK((*status)["pgs_degraded"] == 0);
  CHECK((*status)["placement"]["max_over_mean"].get<double>() < 1.25);
  CHECK(cluster.RunCli("fs list", &out) == 0);
  CHECK(out.find("scratch") != std::string::npos);
  CHECK(cluster.RunCli("fs status scratch", &out) == 0);
  CHECK(out.find("max/mean") != std::string::npos);

  // Too wide for the cluster: exit 2 with the numbers, nothing written.
  CHECK(cluster.RunCli("fs create wide --protection 8+4 --cell 128K 2>&1", &out) == 2);
  CHECK(out.find("8+4 needs 12 failure domains; the cluster has 6 with an up node and a drive") !=
        std::string::npos);
  CHECK(cluster.RunCli("fs status wide 2>&1", &out) == 4);
  // Duplicate, bad arguments, unknown filesystem.
  CHECK(cluster.RunCli("fs create scratch --protection 4+2 --cell 128K 2>&1", &out) == 5);
  CHECK(out.find("exists") != std::string::npos);
  for (const char* bad :
       {"--protection 4+3", "--protection x", "--protection 1+2", "--protection 4+2 --cell 5000",
        "--protection 4+2 --cell 12Q", "--protection 4+2 --cell 32M", "--protection 4+2 --pgs 0",
        "--protection 4+2 --pgs 70000", "", "--protection 4+2 --cell"}) {
    INFO(bad);
    CHECK(cluster.RunCli(std::string("fs create bad ") + bad + " 2>&1", &out) == 2);
  }
  CHECK(cluster.RunCli("fs create 'bad/name' --protection 4+2 2>&1", &out) == 2);
  CHECK(cluster.RunCli("fs status nosuch 2>&1", &out) == 4);
  CHECK(cluster.RunCli("drive add nosuch /tmp 2>&1", &out) == 4);
  list = CliJson(cluster, "fs list --json", &rc);
  REQUIRE(list.ok());
  CHECK(list->size() == 1);  // none of the refused creates wrote anything

  // A node dies: its PGs are degraded, none unavailable, and the table is not recomputed.
  cluster.KillNode(5);
  auto down = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, cluster.node_id(5)) == "down";
      },
      20s);
  REQUIRE(down.ok());
  status = CliJson(cluster, "fs status scratch --json", &rc);
  REQUIRE(status.ok());
  INFO(status->dump(2));
  CHECK(rc == 1);  // degraded
  CHECK((*status)["pgs_degraded"].get<int>() > 0);
  CHECK((*status)["pgs_unavailable"] == 0);
  CHECK((*status)["members_down"] == (*status)["pgs_degraded"]);
  auto after = ReadMap(cluster);
  REQUIRE(after.ok());
  CHECK(after->epoch > map->epoch);
  CHECK(after->filesystems.at("scratch").groups == table);
  // With 5 failure domains left, 4+2 is refused.
  CHECK(cluster.RunCli("fs create second --protection 4+2 2>&1", &out) == 2);
  CHECK(out.find("4+2 needs 6 failure domains; the cluster has 5 with an up node and a drive") !=
        std::string::npos);
}

TEST_CASE("cvfs drive add: root adds a drive that serves cells and stays across a restart",
          "[datapath]") {
  ClusterOptions options;
  options.nodes = 4;
  auto started = TestCluster::Start(options);
  REQUIRE(started.ok());
  TestCluster& cluster = **started;
  INFO(cluster.DumpLogs());
  const std::string node = cluster.node_id(0);
  const std::string extra = cluster.dir() + "/extra-drive";
  std::filesystem::create_directories(extra);
  std::string out;

  int rc = 0;
  auto added = CliJson(cluster, "drive add " + node + " " + extra + " --json", &rc);
  REQUIRE(added.ok());
  CHECK(rc == 0);
  CHECK((*added)["index"] == 1);
  CHECK((*added)["path"] == extra);
  CHECK((*added)["capacity_bytes"].get<uint64_t>() > 0);
  CHECK(std::filesystem::exists(extra + "/.cvfs-drive"));
  auto drives_of = [&](const nlohmann::json& s) {
    for (const auto& n : s["nodes"]) {
      if (n.value("id", "") == node) return n["drives"].size();
    }
    return size_t{0};
  };
  REQUIRE(
      cluster.WaitForStatus([&](const nlohmann::json& s) { return drives_of(s) == 2; }, 10s).ok());
  // Again: already a drive.
  CHECK(cluster.RunCli("drive add " + node + " " + extra + " 2>&1", &out) == 5);
  // A missing directory: cvfsd refuses it as a configuration error (exit 2).
  CHECK(cluster.RunCli("drive add " + node + " " + extra + "-missing 2>&1", &out) == 2);
  // Not root: refused by cvfsd (exit 7).
  std::string env;
  for (const auto& e : cluster.ToolEnv()) env += e + " ";
  CHECK(RunCommand("setpriv --reuid 65534 --regid 65534 --clear-groups env " + env +
                       BinPath("cvfs") + " drive add " + node + " " + extra + "-2 2>&1",
                   &out) == 7);

  // A filesystem created now places cells on the new drive, and it serves them.
  REQUIRE(cluster.CreateFilesystem("after", "2+2", "16K").ok());
  const std::string in = cluster.dir() + "/in.bin";
  const std::string back = cluster.dir() + "/back.bin";
  REQUIRE(RunCommand("head -c 2000000 /dev/urandom > " + in) == 0);
  REQUIRE(cluster.RunCli("object put after 5 " + in + " 2>&1", &out) == 0);
  REQUIRE(cluster.RunCli("object get after 5 " + back + " --length 2000000 2>&1", &out) == 0);
  CHECK(RunCommand("cmp " + in + " " + back) == 0);
  std::error_code ec;
  const auto used = std::filesystem::file_size(extra + "/cells.dat", ec);
  INFO(ec.message());
  CHECK(used > 0);

  // A restart keeps the added drive and its cells.
  cluster.StopNode(0);
  REQUIRE(cluster.StartNode(0).ok());
  REQUIRE(cluster.WaitNodeUp(0).ok());
  REQUIRE(
      cluster.WaitForStatus([&](const nlohmann::json& s) { return drives_of(s) == 2; }, 10s).ok());
  std::filesystem::remove(back);
  REQUIRE(cluster.RunCli("object get after 5 " + back + " --length 2000000 2>&1", &out) == 0);
  CHECK(RunCommand("cmp " + in + " " + back) == 0);
}

}  // namespace
}  // namespace cvfs::testing
