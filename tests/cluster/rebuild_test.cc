// Acceptance (issue #6): degraded operation and rebuild on real cvfsd processes.
//  - 8 backends, 4+2: a multi-client write+verify workload (files through FileSystem, so
//    metadata and data) runs while two backends are killed with -9; it sees no error, every
//    file verifies, and the status returns to "full" by itself once the grace period has
//    passed and the lost slots are rebuilt on the six survivors. The rebuild does the PGs
//    that lost two cells before any PG that lost one (asserted from the daemons' logs).
//    Then two more are killed: reads decode and writes continue, the status says critical;
//    with a fifth down writes fail with a clear error, and once a node is back every
//    acknowledged byte reads back.
//  - A node killed and restarted within the grace period resyncs only what it missed.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/cluster/datapath_support.h"
#include "tests/cluster/workload_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

struct PgDone {
  int missing = 0;
  int64_t finished_ms = 0;
  uint64_t bytes = 0;
  bool resync = false;
};

// Every `rebuild.pg_done` line of the daemons' logs.
std::vector<PgDone> ReadPgDone(const TestCluster& cluster) {
  std::vector<PgDone> out;
  const std::regex re(
      "rebuild\\.pg_done .* missing=(\\d+) slots=(\\S+) .* bytes=(\\d+) .* finished_ms=(\\d+)");
  for (int i = 0; i < cluster.size(); ++i) {
    std::ifstream in(cluster.log_path(i));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, re)) continue;
      out.push_back({std::stoi(m[1]), std::stoll(m[4]), std::stoull(m[3]),
                     m[2].str().find(":resync") != std::string::npos});
    }
  }
  return out;
}

}  // namespace

TEST_CASE("8 backends 4+2: kill two during a workload, rebuilt by itself, two more degrade",
          "[fault][rebuild]") {
  ClusterOptions options;
  options.nodes = 8;
  options.extra_config = {"[rebuild]", "node_grace_s = 4", "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 64");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount_a = MountFileSystem(cluster, "scratch", "client-a");
  auto mount_b = MountFileSystem(cluster, "scratch", "client-b");
  REQUIRE(mount_a.ok());
  REQUIRE(mount_b.ok());
  Workload a(**mount_a, "a", 1), b(**mount_b, "b", 2);
  constexpr size_t kFileBytes = 300 * 1024 + 123;  // several stripes and a partial one
  for (int i = 0; i < 10; ++i) {
    REQUIRE(a.WriteAndVerify(kFileBytes).ok());
    REQUIRE(b.WriteAndVerify(kFileBytes).ok());
  }

  // Kill two backends while both clients write and verify: the manager's node and another,
  // so the rebuild is planned by a manager elected after the failure.
  auto before_kill = cluster.StatusJson();
  REQUIRE(before_kill.ok());
  int first = -1;
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.node_id(i) == before_kill->value("manager", "")) first = i;
  }
  REQUIRE(first >= 0);
  const int second = (first + 3) % cluster.size();
  std::vector<int> alive;
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != first && i != second) alive.push_back(i);
  }
  const auto t_kill = Clock_::now();
  {
    BackgroundWorkload workload({&a, &b}, kFileBytes);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    cluster.KillNode(first);
    cluster.KillNode(second);
    auto full = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          return TestCluster::NodeState(s, cluster.node_id(first)) == "down" &&
                 TestCluster::NodeState(s, cluster.node_id(second)) == "down" &&
                 FsState(s) == "full";
        },
        std::chrono::seconds(240));
    workload.Stop();
    INFO(cluster.DumpLogs(20));
    INFO((full.ok() ? full->dump(1) : full.status().ToString()));
    REQUIRE(full.ok());
    const auto errors = workload.errors();
    INFO("workload errors: " << (errors.empty() ? std::string("none") : errors.front()));
    CHECK(errors.empty());
    WARN("two backends killed (" << cluster.node_id(first) << ", the manager, and "
                                 << cluster.node_id(second)
                                 << "): fully protected again on 6 failure domains after "
                                 << std::chrono::duration<double>(Clock_::now() - t_kill).count()
                                 << " s (grace 4 s); " << workload.ops()
                                 << " files written and verified meanwhile");
  }
  REQUIRE(a.VerifyAll().ok());
  REQUIRE(b.VerifyAll().ok());

  // Prioritization: every PG that lacked two cells finished before any that lacked one.
  const auto done = ReadPgDone(cluster);
  int64_t last_two = 0, first_one = INT64_MAX;
  int twos = 0, ones = 0;
  uint64_t rebuilt_bytes = 0;
  for (const auto& d : done) {
    rebuilt_bytes += d.bytes;
    if (d.missing >= 2) {
      ++twos;
      last_two = std::max(last_two, d.finished_ms);
    } else {
      ++ones;
      first_one = std::min(first_one, d.finished_ms);
    }
  }
  WARN("rebuild: " << twos << " PGs lacking 2 cells, then " << ones << " lacking 1; "
                   << rebuilt_bytes << " bytes rebuilt");
  CHECK(twos > 0);
  CHECK(ones > 0);
  CHECK(last_two <= first_one);

  // Two more down: 4 of 6 failure domains left. Reads decode, writes go on, critical.
  cluster.KillNode(alive[0]);
  cluster.KillNode(alive[1]);
  auto critical = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, cluster.node_id(alive[0])) == "down" &&
               TestCluster::NodeState(s, cluster.node_id(alive[1])) == "down" &&
               FsState(s) == "critical";
      },
      std::chrono::seconds(30));
  INFO((critical.ok() ? critical->dump(1) : critical.status().ToString()));
  REQUIRE(critical.ok());
  CHECK(critical->value("protection", "") == "critical");
  REQUIRE(a.VerifyAll().ok());
  for (int i = 0; i < 3; ++i) {
    Status st = b.WriteAndVerify(kFileBytes);
    INFO(st.ToString());
    REQUIRE(st.ok());
  }

  // A fifth down: fewer than N live domains. Writes fail clearly; nothing acknowledged lost.
  const int fifth = alive[2];
  cluster.KillNode(fifth);
  auto gone = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return TestCluster::NodeState(s, cluster.node_id(fifth)) == "down";
      },
      std::chrono::seconds(30));
  REQUIRE(gone.ok());
  CHECK(FsState(*gone) == "unavailable");
  {
    auto object = OpenObjectClient(cluster, "scratch", "late");
    REQUIRE(object.ok());
    std::vector<std::byte> bytes(128 * 1024, std::byte{7});
    // Inode 999 of the filesystem, any stripe: each PG has at most 3 of 6 members up.
    Status st = (*object)->Write(999, 0, bytes);
    INFO(st.ToString());
    CHECK(st.code() == ErrorCode::kUnavailable);
    CHECK(st.message().find("needs 4") != std::string::npos);
  }
  REQUIRE(cluster.StartNode(fifth).ok());
  REQUIRE(cluster.WaitNodeUp(fifth).ok());
  // Its slots resync first (it missed nothing acknowledged); until then PGs with fewer
  // than N current members stay unreadable.
  auto back = cluster.WaitForStatus(
      [&](const nlohmann::json& s) { return FsState(s) == "critical"; }, std::chrono::seconds(60));
  INFO((back.ok() ? back->dump(1) : back.status().ToString()));
  REQUIRE(back.ok());
  Status all_a = a.VerifyAll();
  Status all_b = b.VerifyAll();
  INFO(all_a.ToString() << " / " << all_b.ToString());
  CHECK(all_a.ok());
  CHECK(all_b.ok());
}

TEST_CASE("a node back within its grace period resyncs only what it missed", "[fault][rebuild]") {
  ClusterOptions options;
  options.nodes = 6;
  options.extra_config = {"[rebuild]", "node_grace_s = 600", "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 32");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount = MountFileSystem(cluster, "scratch", "client");
  REQUIRE(mount.ok());
  Workload before(**mount, "before", 3);
  constexpr size_t kFileBytes = 512 * 1024;
  for (int i = 0; i < 24; ++i) REQUIRE(before.WriteAndVerify(kFileBytes).ok());

  cluster.KillNode(3);
  REQUIRE(cluster
              .WaitForStatus(
                  [&](const nlohmann::json& s) {
                    return TestCluster::NodeState(s, cluster.node_id(3)) == "down";
                  },
                  std::chrono::seconds(15))
              .ok());
  Workload away(**mount, "away", 4);
  for (int i = 0; i < 2; ++i) REQUIRE(away.WriteAndVerify(kFileBytes).ok());
  REQUIRE(cluster.StartNode(3).ok());
  REQUIRE(cluster.WaitNodeUp(3).ok());
  auto full = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        return FsState(s) == "full" && TestCluster::NodeState(s, cluster.node_id(3)) == "up";
      },
      std::chrono::seconds(120));
  INFO(cluster.DumpLogs(20));
  REQUIRE(full.ok());
  uint64_t resynced = 0;
  int pgs = 0;
  for (const auto& d : ReadPgDone(cluster)) {
    if (!d.resync) continue;
    resynced += d.bytes;
    ++pgs;
  }
  // What a full rebuild of that node would move: its share (1/6 of cells) of everything.
  const uint64_t stored = (before.bytes() + away.bytes()) * 6 / 4;
  const uint64_t full_rebuild = stored / 6;
  const uint64_t missed = away.bytes() * 6 / 4 / 6;
  WARN("resync after a restart within the grace period: "
       << resynced << " bytes in " << pgs << " PGs; written while away: about " << missed
       << " bytes of its share; a full rebuild: " << full_rebuild << " bytes");
  CHECK(pgs > 0);
  CHECK(resynced > 0);
  CHECK(resynced * 4 < full_rebuild);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(away.VerifyAll().ok());
  // Reads from the resynced node are current: kill two others so its cells are needed.
  cluster.KillNode(0);
  cluster.KillNode(1);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(away.VerifyAll().ok());
}

TEST_CASE("a node resumed after SIGSTOP resyncs at once, not after the primaries' hold",
          "[fault][rebuild]") {
  // The fault suite's seed 16: a node stopped while writes go on. The primaries' calls to it
  // run into their deadlines and they hold it unresponsive (kUnresponsiveMemberHold, 10 s);
  // when it is resumed right after, its resync must start as soon as it talks again, not
  // when the hold runs out (nor be held again for timeouts that were not its fault).
  ClusterOptions options;
  options.nodes = 6;
  options.extra_config = {"[rebuild]", "node_grace_s = 600", "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 32");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto& client = *started->client;
  constexpr uint64_t kStripeBytes = 4 * 32 * 1024;
  constexpr uint64_t kObjects = 8, kStripes = 12;
  Random random(16);
  std::vector<ObjectModel> models(kObjects);
  auto write_all = [&](uint64_t round) -> Status {
    for (uint64_t i = 0; i < kObjects; ++i) {
      auto bytes = RandomBytes(random, kStripes * kStripeBytes);
      CVFS_RETURN_IF_ERROR(client.Write(100 + i, 0, bytes)
                               .WithContext("round " + std::to_string(round) + " object " +
                                            std::to_string(100 + i)));
      models[i].Write(0, bytes);
    }
    return Status::Ok();
  };
  REQUIRE(write_all(0).ok());

  constexpr int kStopped = 3;
  const auto t_stop = Clock_::now();
  cluster.PauseNode(kStopped);
  // Writes while it is stopped, all at once, to stripes it holds a cell of but is not the
  // primary of: the primaries' prepares to it run into their deadlines (5 s), the writes
  // complete without it, and the primaries hold it unresponsive for 10 s from then. It is
  // resumed 6.5 s after the stop, once every write returned (a write still in flight when a
  // node returns can skip it after its resync: a known gap, docs/design/rebuild.md) and the
  // map shows it down (so that it resyncs): without the fix its resync would wait out most
  // of those 10 s.
  struct StripeWrite {
    uint64_t object = 0;
    uint64_t stripe = 0;
    std::vector<std::byte> bytes;
    Status status;
  };
  std::vector<StripeWrite> writes;
  for (uint64_t i = 0; i < kObjects; ++i) {
    for (uint64_t stripe = 0; stripe < kStripes; ++stripe) {
      if (CellHolder(cluster, started->fs, 100 + i, stripe, 0) == kStopped) continue;
      bool member = false;
      for (int cell = 1; cell < 6; ++cell) {
        member = member || CellHolder(cluster, started->fs, 100 + i, stripe, cell) == kStopped;
      }
      if (member) writes.push_back({i, stripe, RandomBytes(random, kStripeBytes), Status::Ok()});
    }
  }
  REQUIRE(writes.size() >= 8);
  std::vector<std::thread> writers;
  for (auto& w : writes) {
    writers.emplace_back(
        [&] { w.status = client.Write(100 + w.object, w.stripe * kStripeBytes, w.bytes); });
  }
  for (auto& t : writers) t.join();
  for (auto& w : writes) {
    INFO(w.status.ToString());
    REQUIRE(w.status.ok());
    models[w.object].Write(w.stripe * kStripeBytes, w.bytes);
  }
  REQUIRE(cluster
              .WaitForStatus(
                  [&](const nlohmann::json& s) {
                    return TestCluster::NodeState(s, cluster.node_id(kStopped)) == "down";
                  },
                  std::chrono::seconds(15))
              .ok());
  std::this_thread::sleep_until(t_stop + std::chrono::milliseconds(6500));
  cluster.ResumeNode(kStopped);
  const auto t_resume = Clock_::now();
  const double stopped_s = std::chrono::duration<double>(t_resume - t_stop).count();
  Status full = WaitFilesystemFull(cluster, "scratch", -1, std::chrono::seconds(60));
  const double resync_s = std::chrono::duration<double>(Clock_::now() - t_resume).count();
  INFO(cluster.DumpLogs(20));
  REQUIRE(full.ok());
  int holds = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    holds += CountInFile(cluster.log_path(i), "data.member_unresponsive");
  }
  WARN("node stopped " << stopped_s << " s during writes, then resumed: full again after "
                       << resync_s << " s (" << holds << " members held unresponsive)");
  // The primaries' holds outlast the resume by several seconds; the resync takes ~1 s.
  CHECK(resync_s < 5.0);
  for (uint64_t i = 0; i < kObjects; ++i) {
    std::vector<std::byte> got(kStripes * kStripeBytes);
    REQUIRE(client.Read(100 + i, 0, got).ok());
    CHECK(FirstDifference(got, models[i].Read(0, got.size())) == -1);
  }
}

TEST_CASE("adding 3 nodes to 6 moves about their share, while I/O goes on", "[fault][rebuild]") {
  ClusterOptions options;
  options.nodes = 9;
  options.started_nodes = 6;
  options.extra_config = {"[rebuild]", "node_grace_s = 600", "bandwidth_mib = 0",
                          "rebalance_delay_s = 3"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 64");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount_a = MountFileSystem(cluster, "scratch", "client-a");
  auto mount_b = MountFileSystem(cluster, "scratch", "client-b");
  REQUIRE(mount_a.ok());
  REQUIRE(mount_b.ok());
  Workload a(**mount_a, "a", 5), b(**mount_b, "b", 6);
  // Whole stripes (4 x 32 KiB), so every cell stored is exactly a quarter stripe.
  constexpr size_t kFileBytes = 8 * 128 * 1024;
  for (int i = 0; i < 12; ++i) {
    REQUIRE(a.WriteAndVerify(kFileBytes).ok());
    REQUIRE(b.WriteAndVerify(kFileBytes).ok());
  }
  const uint64_t before_bytes = a.bytes() + b.bytes();

  uint64_t during_bytes = 0;
  {
    BackgroundWorkload workload({&a, &b}, kFileBytes, std::chrono::milliseconds(500));
    for (int i = 6; i < 9; ++i) REQUIRE(cluster.StartNode(i).ok());
    for (int i = 6; i < 9; ++i) REQUIRE(cluster.WaitNodeUp(i).ok());
    // The new nodes hold slots, and the filesystem is whole again.
    auto moved = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          if (FsState(s) != "full") return false;
          auto map = ReadMap(cluster);
          if (!map.ok()) return false;
          const auto& fs = map->filesystems.at("scratch");
          for (int i = 6; i < 9; ++i) {
            bool holds = false;
            for (const auto& pg : fs.groups) {
              for (const auto& m : pg.members) holds = holds || m.node.str() == cluster.node_id(i);
            }
            if (!holds) return false;
          }
          return true;
        },
        std::chrono::seconds(180));
    workload.Stop();
    INFO(cluster.DumpLogs(20));
    REQUIRE(moved.ok());
    const auto errors = workload.errors();
    INFO("workload errors: " << (errors.empty() ? std::string("none") : errors.front()));
    CHECK(errors.empty());
    during_bytes = a.bytes() + b.bytes() - before_bytes;
    WARN(workload.ops() << " files written and verified while the data moved");
  }
  uint64_t moved_bytes = 0;
  int pgs = 0;
  for (const auto& d : ReadPgDone(cluster)) {
    if (d.resync) continue;
    moved_bytes += d.bytes;
    ++pgs;
  }
  // The share the new nodes should own: 3/9 of every cell stored (data x 6/4) at the end.
  // (Files written during the move land on the new slots directly or are moved with their
  // PG, depending on when they come; the light load keeps them a small part.)
  const double ideal = (before_bytes + during_bytes) * 6.0 / 4.0 * 3.0 / 9.0;
  const double ceiling = ideal * 1.5;
  WARN("scale-out 6 -> 9 nodes: moved "
       << moved_bytes << " bytes in " << pgs << " PGs; ideal (3/9 of what is stored) "
       << static_cast<uint64_t>(ideal) << " bytes; ratio " << moved_bytes / ideal);
  CHECK(moved_bytes > 0);
  CHECK(moved_bytes <= ceiling);
  REQUIRE(a.VerifyAll().ok());
  REQUIRE(b.VerifyAll().ok());
  // The old holders dropped the moved cells.
  bool dropped = false;
  for (int i = 0; i < 6; ++i)
    dropped = dropped || CountInFile(cluster.log_path(i), "rebuild.cells_dropped") > 0;
  CHECK(dropped);
}

TEST_CASE("cvfs node drain moves a node's data off it online", "[fault][rebuild]") {
  ClusterOptions options;
  options.nodes = 7;
  options.extra_config = {"[rebuild]", "node_grace_s = 600", "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 32");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount = MountFileSystem(cluster, "scratch", "client");
  REQUIRE(mount.ok());
  Workload files(**mount, "f", 7);
  for (int i = 0; i < 16; ++i) REQUIRE(files.WriteAndVerify(256 * 1024 + 99).ok());

  std::string out;
  CHECK(cluster.RunCli("node drain nosuchnode", &out) == 4);
  {
    BackgroundWorkload workload({&files}, 256 * 1024, std::chrono::milliseconds(200));
    const int rc =
        cluster.RunCli("node drain " + cluster.node_id(0) + " --wait --timeout 240", &out);
    workload.Stop();
    INFO(out << cluster.DumpLogs(10));
    REQUIRE(rc == 0);
    CHECK(out.find("holds no data") != std::string::npos);
    const auto errors = workload.errors();
    INFO("workload errors: " << (errors.empty() ? std::string("none") : errors.front()));
    CHECK(errors.empty());
  }
  auto status = cluster.StatusJson();
  REQUIRE(status.ok());
  for (const auto& n : (*status)["nodes"]) {
    if (n["id"] == cluster.node_id(0)) {
      CHECK(n["slots"] == 0);
      CHECK(n["draining"] == true);
    }
  }
  // The drained node and two more gone: every PG still has 4 of its 6 members (it would
  // lose a third cell wherever the drained node had been a member).
  cluster.KillNode(0);
  cluster.KillNode(1);
  cluster.KillNode(2);
  Status all = files.VerifyAll();
  INFO(all.ToString());
  CHECK(all.ok());
}

// A member that stays up in the map but misses writes (it hangs for a while: its primaries'
// calls to it time out and they hold it unresponsive, then write around it) must be resynced
// before anyone reads it: the primaries report it (rebuild/stale), the manager lists its
// slots resync. Without that the member looks current with stale cells and a later double
// failure leaves those stripes unreadable (the fault suite's seed 20).
TEST_CASE("a member up in the map that misses writes is resynced before it is read",
          "[fault][rebuild]") {
  ClusterOptions options;
  options.nodes = 6;
  options.lease_ttl_s = 12;  // the hung node stays up in the map
  options.extra_config = {"[rebuild]", "node_grace_s = 600", "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 16");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount = MountFileSystem(cluster, "scratch", "client");
  REQUIRE(mount.ok());
  Workload before(**mount, "before", 5);
  for (int i = 0; i < 4; ++i) REQUIRE(before.WriteAndVerify(256 * 1024).ok());
  auto node_since = [&](const nlohmann::json& s) -> int64_t {
    for (const auto& n : s.value("nodes", nlohmann::json::array())) {
      if (n.value("id", "") == cluster.node_id(3)) return n.value("since_ms", int64_t{-1});
    }
    return -1;
  };
  auto s0 = cluster.StatusJson();
  REQUIRE(s0.ok());
  const int64_t since = node_since(*s0);

  Workload during(**mount, "during", 6);
  {
    BackgroundWorkload load({&during}, 256 * 1024);
    cluster.PauseNode(3);
    std::this_thread::sleep_for(std::chrono::seconds(7));  // > the 5 s member call timeout
    cluster.ResumeNode(3);
    std::this_thread::sleep_for(std::chrono::seconds(4));  // still held unresponsive
    load.Stop();
    INFO(cluster.DumpLogs(20));
    REQUIRE(load.errors().empty());
  }
  REQUIRE(during.files() > 0);
  auto s1 = cluster.StatusJson();
  REQUIRE(s1.ok());
  // The test only shows the fault if the node never left the map (else its return resyncs).
  REQUIRE(TestCluster::NodeState(*s1, cluster.node_id(3)) == "up");
  REQUIRE(node_since(*s1) == since);

  int missed_lines = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    std::ifstream in(cluster.log_path(i));
    for (std::string line; std::getline(in, line);) {
      if (line.find("rebuild.member_missed_write") != std::string::npos &&
          line.find("node=" + cluster.node_id(3)) != std::string::npos) {
        ++missed_lines;
      }
    }
  }
  auto full = cluster.WaitForStatus([&](const nlohmann::json& s) { return FsState(s) == "full"; },
                                    std::chrono::seconds(120));
  INFO(cluster.DumpLogs(20));
  REQUIRE(full.ok());
  WARN("member hung 7 s and up in the map: " << during.files() << " files written meanwhile, "
                                             << missed_lines
                                             << " slots reported stale and resynced");
  CHECK(missed_lines > 0);
  // Two others leave: every stripe now needs the once-hung member's cells.
  cluster.StopNode(0);
  cluster.StopNode(1);
  REQUIRE(before.VerifyAll().ok());
  Status verified = during.VerifyAll();
  INFO(verified.ToString());
  REQUIRE(verified.ok());
}
