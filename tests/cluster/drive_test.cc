// Drives (issue #6): a drive that fails on a running node, `cvfs drive replace` and `cvfs
// drive remove`, on real cvfsd processes whose drives are tmpfs mounts made by the test
// (root). The failure is real: the drive's file system goes away under the running daemon
// (lazily unmounted: open files keep working, every new path lands in the bare mount point,
// as after a drive dropped off its bus and was unmounted); the node's probe (statvfs, its
// label, a synced 4 KiB write) sees it within `[server] drive_probe_interval_s`.
//  - A failed drive degrades its PGs at once (routes skip it), and after `[rebuild]
//    drive_grace_s` its slots are rebuilt on other drives while a workload runs; replacing
//    the drive afterwards lets it take its share back.
//  - With no spare failure domain, replacing the failed drive rebuilds its slots in place.
//  - `cvfs drive remove --wait` empties a drive online.
#include <catch2/catch.hpp>

#include <fstream>

#include "tests/cluster/datapath_support.h"
#include "tests/cluster/workload_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

constexpr size_t kFileBytes = 256 * 1024;

// The status JSON entry of drive `index` of node `node`, or null.
nlohmann::json DriveStatus(const nlohmann::json& status, const std::string& node, int index) {
  for (const auto& n : status.value("nodes", nlohmann::json::array())) {
    if (n.value("id", "") != node) continue;
    const auto& drives = n.value("drives", nlohmann::json::array());
    if (index < static_cast<int>(drives.size())) return drives[index];
  }
  return nullptr;
}

ClusterOptions DriveClusterOptions(int nodes) {
  ClusterOptions options;
  options.nodes = nodes;
  options.drive_tmpfs_bytes = 256ull << 20;
  options.extra_config = {"[rebuild]",
                          "node_grace_s = 600",
                          "drive_grace_s = 3",
                          "bandwidth_mib = 0",
                          "rebalance_delay_s = 2",
                          "[server]",
                          "drive_probe_interval_s = 1"};
  return options;
}

// A cluster of `nodes` with filesystem "scratch" (4+2, 16 PGs) and one mounted client, with
// `files` files written and verified through `before` (seed `seed`).
struct DriveCluster {
  std::unique_ptr<TestCluster> cluster;
  std::unique_ptr<ObjectClient> objects;
  std::unique_ptr<FileSystem> mount;
};
DriveCluster StartDriveCluster(int nodes) {
  auto started = StartWithFilesystem(DriveClusterOptions(nodes), "scratch", "4+2", "32K --pgs 16");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto mount = MountFileSystem(*started->cluster, "scratch", "client");
  REQUIRE(mount.ok());
  return DriveCluster{std::move(started->cluster), std::move(started->client),
                      std::move(mount).value()};
}
void WriteFiles(Workload& workload, int files) {
  for (int i = 0; i < files; ++i) REQUIRE(workload.WriteAndVerify(kFileBytes).ok());
}

// Takes node `i`'s drive away (a lazy unmount of its tmpfs).
void FailDrive(TestCluster& cluster, int i) {
  std::string out;
  const int rc = RunCommand("umount -l '" + cluster.drive_path(i) + "' 2>&1", &out);
  INFO(out);
  REQUIRE(rc == 0);
}

}  // namespace

TEST_CASE("a failed drive degrades its PGs and is rebuilt elsewhere after its grace",
          "[fault][drive]") {
  auto started = StartWithFilesystem(DriveClusterOptions(7), "scratch", "4+2", "32K --pgs 16");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto mount_a = MountFileSystem(cluster, "scratch", "client-a");
  auto mount_b = MountFileSystem(cluster, "scratch", "client-b");
  REQUIRE(mount_a.ok());
  REQUIRE(mount_b.ok());
  Workload before(**mount_a, "before", 11);
  WriteFiles(before, 12);
  const std::string victim = cluster.node_id(2);

  Workload a(**mount_a, "a", 12), b(**mount_b, "b", 13);
  {
    BackgroundWorkload load({&a, &b}, kFileBytes, std::chrono::milliseconds(20));
    const auto t0 = std::chrono::steady_clock::now();
    FailDrive(cluster, 2);
    auto failed = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          const auto d = DriveStatus(s, victim, 0);
          return d.is_object() && d.value("state", "") == "failed" && FsState(s) != "full";
        },
        std::chrono::seconds(20));
    INFO(cluster.DumpLogs(10));
    REQUIRE(failed.ok());
    const double detected_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto full = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          const auto d = DriveStatus(s, victim, 0);
          return FsState(s) == "full" && d.is_object() && d.value("slots", 1) == 0;
        },
        std::chrono::seconds(90));
    INFO(cluster.DumpLogs(20));
    REQUIRE(full.ok());
    const double full_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    load.Stop();
    INFO(cluster.DumpLogs(20));
    REQUIRE(load.errors().empty());
    WARN("drive of " << victim << " gone: reported failed after " << detected_s
                     << " s, fully protected again (its slots rebuilt elsewhere, grace 3 s) after "
                     << full_s << " s; " << a.files() + b.files()
                     << " files written meanwhile without an error");
  }
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(a.VerifyAll().ok());
  REQUIRE(b.VerifyAll().ok());

  // A new, empty drive in its place: the node takes its share back by rebalancing.
  const std::string fresh = cluster.dir() + "/replacement-drive";
  REQUIRE(std::filesystem::create_directories(fresh));
  std::string out;
  REQUIRE(cluster.RunCli("drive replace " + victim + " 0 " + fresh + " --json", &out) == 0);
  INFO(out);
  auto taken = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        const auto d = DriveStatus(s, victim, 0);
        return FsState(s) == "full" && d.is_object() && d.value("state", "") == "ok" &&
               d.value("slots", 0) > 0;
      },
      std::chrono::seconds(90));
  INFO(cluster.DumpLogs(20));
  REQUIRE(taken.ok());
  // Reads now need the replaced drive: two other nodes leave.
  cluster.StopNode(0);
  cluster.StopNode(1);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(a.VerifyAll().ok());
}

TEST_CASE("replacing a failed drive with no spare failure domain rebuilds it in place",
          "[fault][drive]") {
  DriveCluster started = StartDriveCluster(6);
  auto& cluster = *started.cluster;
  auto* mount = &started.mount;
  Workload before(**mount, "before", 21);
  WriteFiles(before, 16);
  const std::string victim = cluster.node_id(4);
  FailDrive(cluster, 4);
  auto degraded = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        const auto d = DriveStatus(s, victim, 0);
        return d.is_object() && d.value("state", "") == "failed" && FsState(s) == "degraded";
      },
      std::chrono::seconds(20));
  INFO(cluster.DumpLogs(10));
  REQUIRE(degraded.ok());
  // Six nodes, 4+2: there is nowhere else to go; writes go on degraded past the grace.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  Workload during(**mount, "during", 22);
  WriteFiles(during, 4);
  auto s = cluster.StatusJson();
  REQUIRE(s.ok());
  CHECK(FsState(*s) == "degraded");

  std::string out;
  CHECK(cluster.RunCli("drive replace " + victim + " 0 relative/path", &out) == 2);
  CHECK(cluster.RunCli("drive replace " + victim + " 7 /tmp", &out) != 0);
  const std::string fresh = cluster.dir() + "/replacement-drive";
  REQUIRE(std::filesystem::create_directories(fresh));
  REQUIRE(cluster.RunCli("drive replace " + victim + " 0 " + fresh, &out) == 0);
  INFO(out);
  CHECK(out.find("rebuilt there") != std::string::npos);
  auto full = cluster.WaitForStatus([&](const nlohmann::json& st) { return FsState(st) == "full"; },
                                    std::chrono::seconds(90));
  INFO(cluster.DumpLogs(20));
  REQUIRE(full.ok());
  const int rebuilt = CountInFile(cluster.log_path(0), "rebuild.pg_done") +
                      CountInFile(cluster.log_path(1), "rebuild.pg_done") +
                      CountInFile(cluster.log_path(2), "rebuild.pg_done") +
                      CountInFile(cluster.log_path(3), "rebuild.pg_done") +
                      CountInFile(cluster.log_path(4), "rebuild.pg_done") +
                      CountInFile(cluster.log_path(5), "rebuild.pg_done");
  WARN("failed drive of " << victim << " replaced in place: " << rebuilt
                          << " PGs rebuilt onto the new drive");
  CHECK(rebuilt > 0);
  // The replaced drive is needed for every read now: two other nodes leave.
  cluster.StopNode(0);
  cluster.StopNode(1);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(during.VerifyAll().ok());
}

TEST_CASE("cvfs drive remove --wait empties a drive online", "[fault][drive]") {
  DriveCluster started = StartDriveCluster(7);
  auto& cluster = *started.cluster;
  auto* mount = &started.mount;
  Workload before(**mount, "before", 31);
  WriteFiles(before, 12);
  const std::string node = cluster.node_id(1);
  std::string out;
  CHECK(cluster.RunCli("drive remove " + node + " 9", &out) == 4);  // no such drive
  CHECK(cluster.RunCli("drive remove no-such-node 0", &out) == 4);
  Workload during(**mount, "during", 32);
  {
    BackgroundWorkload load({&during}, kFileBytes, std::chrono::milliseconds(20));
    const int rc = cluster.RunCli("drive remove " + node + " 0 --wait --timeout 120 --json", &out);
    load.Stop();
    INFO(out);
    INFO(cluster.DumpLogs(20));
    REQUIRE(rc == 0);
    REQUIRE(load.errors().empty());
  }
  auto parsed = nlohmann::json::parse(out, nullptr, false);
  REQUIRE(parsed.is_object());
  CHECK(parsed["slots"] == 0);
  auto s = cluster.StatusJson();
  REQUIRE(s.ok());
  CHECK(FsState(*s) == "full");
  CHECK(DriveStatus(*s, node, 0).value("slots", 1) == 0);
  CHECK(DriveStatus(*s, node, 0).value("removing", false));
  WARN("drive 0 of " << node << " emptied online while " << during.files()
                     << " files were written");
  // The emptied drive holds nothing needed: its node leaves, and one more.
  cluster.StopNode(1);
  cluster.StopNode(2);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(during.VerifyAll().ok());
  REQUIRE(cluster.RunCli("drive unremove " + node + " 0", &out) == 0);
}

// A drive that fails while its node is down (the node reboots and the drive's mount is gone):
// cvfsd starts anyway with the drive failed, never labelling the bare mount point as a new
// drive, and a replacement at the same path rebuilds it in place.
TEST_CASE("a drive missing at start is failed, not relabelled; replaced at the same path",
          "[fault][drive]") {
  DriveCluster started = StartDriveCluster(6);
  auto& cluster = *started.cluster;
  auto* mount = &started.mount;
  Workload before(**mount, "before", 41);
  WriteFiles(before, 12);
  const std::string victim = cluster.node_id(3);
  cluster.StopNode(3);
  FailDrive(cluster, 3);  // the mount is gone: a bare, unlabelled directory remains
  REQUIRE(cluster.StartNode(3).ok());
  REQUIRE(cluster.WaitNodeUp(3).ok());
  auto failed = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        const auto d = DriveStatus(s, victim, 0);
        return d.is_object() && d.value("state", "") == "failed" && FsState(s) == "degraded";
      },
      std::chrono::seconds(20));
  INFO(cluster.DumpLogs(10));
  REQUIRE(failed.ok());
  CHECK_FALSE(std::filesystem::exists(cluster.drive_path(3) + "/.cvfs-drive"));
  CHECK(CountInFile(cluster.log_path(3), "drive.failed") > 0);
  Workload during(**mount, "during", 42);
  WriteFiles(during, 4);
  // The new drive is mounted where the old one was.
  std::string out;
  REQUIRE(RunCommand("mount -t tmpfs -o size=268435456 tmpfs '" + cluster.drive_path(3) + "'",
                     &out) == 0);
  REQUIRE(cluster.RunCli("drive replace " + victim + " 0 " + cluster.drive_path(3), &out) == 0);
  INFO(out);
  auto full = cluster.WaitForStatus([&](const nlohmann::json& s) { return FsState(s) == "full"; },
                                    std::chrono::seconds(90));
  INFO(cluster.DumpLogs(20));
  REQUIRE(full.ok());
  // Survives a restart: the new serial is the known one now.
  cluster.StopNode(3);
  REQUIRE(cluster.StartNode(3).ok());
  REQUIRE(cluster.WaitNodeUp(3).ok());
  REQUIRE(WaitFilesystemFull(cluster, "scratch", 3).ok());
  auto s = cluster.StatusJson();
  REQUIRE(s.ok());
  CHECK(DriveStatus(*s, victim, 0).value("state", "") == "ok");
  cluster.StopNode(0);
  cluster.StopNode(1);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(during.VerifyAll().ok());
  RunCommand("umount -l '" + cluster.drive_path(3) + "'");
}
