// The `cvfs` tool's contract for scripts: --help everywhere, documented exit codes for bad
// arguments, an unreachable etcd, a missing cluster and a duplicate create, and a stable
// `status --json` shape.
#include <catch2/catch.hpp>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/cluster/child_process.h"
#include "tests/cluster/cluster.h"
#include "tests/cluster/services.h"

namespace cvfs::testing {
namespace {

int Cvfs(const std::string& args, std::string* out) {
  return RunCommand(BinPath("cvfs") + " " + args, out);
}

TEST_CASE("cvfs --help and bad arguments") {
  std::string out;
  CHECK(Cvfs("--help", &out) == 0);
  CHECK(out.find("status") != std::string::npos);
  CHECK(out.find("doctor") != std::string::npos);
  CHECK(Cvfs("status --help", &out) == 0);
  CHECK(out.find("--json") != std::string::npos);
  CHECK(Cvfs("cluster create --help", &out) == 0);
  CHECK(Cvfs("no-such-command", &out) == 2);
  CHECK(Cvfs("status --no-such-flag", &out) == 2);
  CHECK(Cvfs("--timeout-ms -5 status", &out) == 2);
  CHECK(Cvfs("cluster create 'bad/name'", &out) == 2);
  CHECK(out.find("cluster name") != std::string::npos);
  CHECK(RunCommand(BinPath("cvfsd") + " --help", &out) == 0);
  CHECK(out.find("--config") != std::string::npos);
  CHECK(RunCommand(BinPath("cvfsd") + " --lease-ttl 0 --cluster x", &out) == 2);
  CHECK(out.find("lease_ttl_s") != std::string::npos);
  CHECK(RunCommand(BinPath("cvfsd") + " --config /nonexistent.toml", &out) == 2);
}

TEST_CASE("cvfs against an unreachable etcd, a missing and a duplicate cluster") {
  std::string out;
  // Port 9 on loopback: nothing listens there.
  CHECK(Cvfs("--etcd http://127.0.0.1:9 --cluster x --timeout-ms 1000 status", &out) == 3);
  CHECK(out.find("etcd") != std::string::npos);

  auto dir = MakeTempDir("cvfs-cli");
  REQUIRE(dir.ok());
  auto etcd = EtcdServer::Start(*dir + "/etcd");
  REQUIRE(etcd.ok());
  const std::string base = "--etcd " + (*etcd)->endpoint() + " ";
  CHECK(Cvfs(base + "--cluster nosuch status", &out) == 4);
  CHECK(out.find("nosuch") != std::string::npos);
  CHECK(Cvfs(base + "cluster create alpha", &out) == 0);
  CHECK(Cvfs(base + "cluster create alpha", &out) == 5);
  CHECK(out.find("exists") != std::string::npos);
  // A created cluster with no nodes: status answers, unhealthy (no manager, no nodes).
  const int rc = Cvfs(base + "--cluster alpha status --json 2>/dev/null", &out);
  CHECK(rc == 1);
  auto json = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  CHECK(json["cluster"] == "alpha");
  CHECK(json["nodes"].is_array());
  CHECK(json["nodes"].empty());
  CHECK(json.contains("epoch"));
  CHECK(json.contains("manager"));
  etcd->reset();
  std::error_code ec;
  std::filesystem::remove_all(*dir, ec);
}

TEST_CASE("status --json shape on a running cluster") {
  ClusterOptions opts;
  opts.nodes = 2;
  auto cluster = TestCluster::Start(opts);
  REQUIRE(cluster.ok());
  auto status = (*cluster)->StatusJson();
  REQUIRE(status.ok());
  INFO(status->dump(2));
  CHECK((*status)["cluster"] == "test");
  CHECK((*status)["epoch"].get<uint64_t>() >= 1);
  CHECK_FALSE((*status)["manager"].get<std::string>().empty());
  REQUIRE((*status)["nodes"].size() == 2);
  for (const auto& node : (*status)["nodes"]) {
    CHECK(node["state"] == "up");
    CHECK(node["failure_domain"].get<std::string>().rfind("fd", 0) == 0);
    CHECK_FALSE(node["address"].get<std::string>().empty());
  }
  std::string out;
  CHECK((*cluster)->RunCli("status", &out) == 0);
  CHECK(out.find("n1") != std::string::npos);
  CHECK(out.find("up") != std::string::npos);
  CHECK((*cluster)->RunCli("status --wait-up 2 --timeout 10", &out) == 0);
  CHECK((*cluster)->RunCli("status --wait-up 3 --timeout 1", &out) == 6);
}

}  // namespace
}  // namespace cvfs::testing
