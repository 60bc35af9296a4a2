// Acceptance (issue #3): the same data reads back after kill -9 of any two backends of a
// 4+2 filesystem on 6 cvfsd (degraded decode), and of four backends of 8+4 on 12.
#include <catch2/catch.hpp>

#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

struct Written {
  uint64_t inode;
  std::vector<std::byte> bytes;
};

// Writes a few objects (whole stripes, a partial tail, an unaligned middle).
std::vector<Written> WriteObjects(ObjectClient& client, uint64_t stripe_bytes) {
  Random random(42);
  std::vector<Written> out;
  for (uint64_t inode : {11ull, 12ull, 13ull}) {
    ObjectModel model;
    auto all = RandomBytes(random, stripe_bytes * 9 + 12345);
    REQUIRE(client.Write(inode, 0, all).ok());
    model.Write(0, all);
    auto middle = RandomBytes(random, stripe_bytes / 3 + 77);
    REQUIRE(client.Write(inode, stripe_bytes * 2 + 1001, middle).ok());
    model.Write(stripe_bytes * 2 + 1001, middle);
    out.push_back({inode, model.Read(0, model.size())});
  }
  return out;
}

void CheckAll(ObjectClient& client, const std::vector<Written>& objects, const std::string& what) {
  for (const auto& o : objects) {
    std::vector<std::byte> got(o.bytes.size());
    Status st = client.Read(o.inode, 0, got);
    INFO(what << ": inode " << o.inode << ": " << st.ToString());
    REQUIRE(st.ok());
    INFO("first difference at " << FirstDifference(got, o.bytes));
    REQUIRE(FirstDifference(got, o.bytes) == -1);
  }
}

}  // namespace

TEST_CASE("4+2 on 6 backends: reads survive kill -9 of any two backends", "[datapath][fault]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  const FilesystemInfo* fs = &started->fs;
  auto* client = &started->client;
  const auto objects = WriteObjects(**client, fs->geometry.stripe_bytes());
  CheckAll(**client, objects, "all up");
  CHECK((*client)->stats().degraded_reads == 0);

  // Three different pairs, each read at once after the kill (before the leases expire: the
  // client meets dead peers) and again once the map shows them down.
  const std::vector<std::pair<int, int>> pairs = {{0, 1}, {2, 5}, {3, 4}};
  for (auto [a, b] : pairs) {
    const std::string what = "killed " + cluster.node_id(a) + " and " + cluster.node_id(b);
    cluster.KillNode(a);
    cluster.KillNode(b);
    const auto t0 = std::chrono::steady_clock::now();
    CheckAll(**client, objects, what + " (just now)");
    WARN(what << ": degraded read of " << objects.size() << " objects right after the kill took "
              << SecondsSince(t0) << " s");
    auto down = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          return TestCluster::NodeState(s, cluster.node_id(a)) == "down" &&
                 TestCluster::NodeState(s, cluster.node_id(b)) == "down";
        },
        std::chrono::seconds(15));
    REQUIRE(down.ok());
    CheckAll(**client, objects, what + " (marked down)");
    // A fresh client that never saw them up.
    auto fresh = OpenObjectClient(cluster, "scratch", "fresh");
    REQUIRE(fresh.ok());
    CheckAll(**fresh, objects, what + " (fresh client)");
    CHECK((*client)->stats().degraded_reads > 0);
    REQUIRE(cluster.StartNode(a).ok());
    REQUIRE(cluster.StartNode(b).ok());
    REQUIRE(cluster.WaitNodeUp(a).ok());
    REQUIRE(cluster.WaitNodeUp(b).ok());
  }
  // Three down is one more than 4+2 tolerates: a clear error, never wrong data.
  cluster.KillNode(0);
  cluster.KillNode(1);
  cluster.KillNode(2);
  std::vector<std::byte> got(objects[0].bytes.size());
  Status st = (*client)->Read(objects[0].inode, 0, got);
  INFO(st.ToString());
  CHECK_FALSE(st.ok());
}

TEST_CASE("8+4 on 12 backends: reads survive kill -9 of four backends", "[datapath][fault]") {
  ClusterOptions options;
  options.nodes = 12;
  auto started = StartWithFilesystem(options, "wide", "8+4", "16K");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  const FilesystemInfo* fs = &started->fs;
  auto* client = &started->client;
  const auto objects = WriteObjects(**client, fs->geometry.stripe_bytes());
  CheckAll(**client, objects, "all up");
  for (int i : {1, 4, 7, 10}) cluster.KillNode(i);
  CheckAll(**client, objects, "four killed (just now)");
  auto fresh = OpenObjectClient(cluster, "wide", "fresh");
  REQUIRE(fresh.ok());
  CheckAll(**fresh, objects, "four killed (fresh client)");
  CHECK((*client)->stats().degraded_reads > 0);
}
