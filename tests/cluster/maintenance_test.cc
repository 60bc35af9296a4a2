// Planned maintenance (issue #7, docs/design/maintenance.md) on real cvfsd processes, through
// the real `cvfs maintenance` CLI:
//  - two nodes asked at once are granted one after the other, never both; each "reboots"
//    (SIGKILL, restarted a few seconds later, a new pid), resyncs only what it missed and
//    leaves maintenance by itself, while a write+verify workload runs throughout;
//  - a request made while a PG is degraded waits until the rebuild completes;
//  - a node that never comes back within its window is treated as failed and rebuilt.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "tests/cluster/datapath_support.h"
#include "tests/cluster/workload_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

constexpr size_t kFileBytes = 256 * 1024;

// `cvfs maintenance list --json`, parsed (null on failure).
nlohmann::json MaintenanceList(const TestCluster& cluster) {
  std::string out;
  if (cluster.RunCli("maintenance list --json", &out) != 0) return nullptr;
  auto parsed = nlohmann::json::parse(out, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

// The node's entry in a list's "recent" (null when absent).
nlohmann::json Recent(const nlohmann::json& list, const std::string& node) {
  if (!list.is_object()) return nullptr;
  for (const auto& r : list.value("recent", nlohmann::json::array())) {
    if (r.value("node", "") == node) return r;
  }
  return nullptr;
}

// The node's last outcome in a list's "recent" ("" when absent).
std::string Outcome(const nlohmann::json& list, const std::string& node) {
  const auto recent = Recent(list, node);
  return recent.is_object() ? recent.value("outcome", "") : "";
}

bool Granted(const nlohmann::json& list, const std::string& node) {
  if (!list.is_object()) return false;
  for (const auto& g : list.value("granted", nlohmann::json::array())) {
    if (g.value("node", "") == node) return true;
  }
  return false;
}

// Polls `cvfs maintenance list --json` until `pred` holds (kDeadlineExceeded otherwise).
Result<nlohmann::json> WaitForList(const TestCluster& cluster,
                                   const std::function<bool(const nlohmann::json&)>& pred,
                                   std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = MaintenanceList(cluster);
    if (last.is_object() && pred(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::DeadlineExceeded("maintenance list: " + last.dump());
}

// A reboot as the storage sees it: the process dies at once, and a new one (new pid) starts
// from the same drives after `down`.
void Reboot(TestCluster& cluster, int i, std::chrono::milliseconds down) {
  cluster.KillNode(i);
  std::this_thread::sleep_for(down);
  REQUIRE(cluster.StartNode(i).ok());
}

// A cluster of `nodes` (4+2 filesystem "scratch", 32 PGs, the given node grace period) with a
// client and 40 files of 512 KiB written and verified through `before`.
struct MaintenanceCluster {
  FilesystemCluster started;
  std::unique_ptr<FileSystem> mount;
  std::unique_ptr<Workload> before;
};
MaintenanceCluster StartMaintenanceCluster(int nodes, int node_grace_s) {
  ClusterOptions options;
  options.nodes = nodes;
  options.extra_config = {"[rebuild]", "node_grace_s = " + std::to_string(node_grace_s),
                          "bandwidth_mib = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 32");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  MaintenanceCluster c{std::move(started).value(), nullptr, nullptr};
  auto mount = MountFileSystem(*c.started.cluster, "scratch", "client");
  REQUIRE(mount.ok());
  c.mount = std::move(mount).value();
  c.before = std::make_unique<Workload>(*c.mount, "before", 3);
  for (int i = 0; i < 40; ++i) REQUIRE(c.before->WriteAndVerify(512 * 1024).ok());
  return c;
}

}  // namespace

TEST_CASE(
    "two nodes asked at once enter maintenance one after the other and resync only what "
    "they missed",
    "[fault][maintenance]") {
  MaintenanceCluster c = StartMaintenanceCluster(6, 600);
  auto& cluster = *c.started.cluster;
  Workload& before = *c.before;

  Workload during_a(*c.mount, "during-a", 4), during_b(*c.mount, "during-b", 5);
  BackgroundWorkload workload({&during_a, &during_b}, kFileBytes, std::chrono::milliseconds(50));

  // Both ask at once, each through its own `cvfs maintenance enter --wait`.
  const int a = 1, b = 4;
  std::atomic<int> rc_a{-1}, rc_b{-1};
  std::string out_a, out_b;
  std::thread ask_a([&] {
    rc_a = cluster.RunCli("maintenance enter " + cluster.node_id(a) +
                              " --reason 'kernel update' --wait --timeout 120 --json",
                          &out_a);
  });
  std::thread ask_b([&] {
    rc_b = cluster.RunCli("maintenance enter " + cluster.node_id(b) +
                              " --reason 'kernel update' --wait --timeout 120 --json",
                          &out_b);
  });
  // A watcher records how many nodes are ever in maintenance at once.
  std::atomic<bool> watching{true};
  std::atomic<int> most_granted{0}, samples{0};
  std::mutex progress_mu;
  std::vector<std::pair<int64_t, uint64_t>> progress;  // (wall ms, files written)
  std::thread watcher([&] {
    while (watching) {
      {
        std::lock_guard lock(progress_mu);
        progress.emplace_back(Clock::System().WallMillis(), workload.ops());
      }
      const auto list = MaintenanceList(cluster);
      if (list.is_object()) {
        samples++;
        const int granted = static_cast<int>(list["granted"].size());
        if (granted > most_granted) most_granted = granted;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // Whichever is granted first reboots; the other must still be waiting meanwhile.
  auto first = WaitForList(
      cluster,
      [&](const nlohmann::json& l) {
        return Granted(l, cluster.node_id(a)) || Granted(l, cluster.node_id(b));
      },
      std::chrono::seconds(60));
  REQUIRE(first.ok());
  const int one = Granted(*first, cluster.node_id(a)) ? a : b;
  const int other = one == a ? b : a;
  CHECK_FALSE(Granted(*first, cluster.node_id(other)));
  {
    auto status = cluster.StatusJson();
    REQUIRE(status.ok());
    CHECK(TestCluster::NodeState(*status, cluster.node_id(one)) == "maintenance");
    // People see the grant, its reason and the queue in `cvfs status`.
    std::string human;
    cluster.RunCli("status", &human);
    INFO(human);
    CHECK(human.find("maintenance: " + cluster.node_id(one)) != std::string::npos);
    CHECK(human.find("kernel update") != std::string::npos);
    CHECK(human.find("queued 1. " + cluster.node_id(other)) != std::string::npos);
  }
  const auto t_first = std::chrono::steady_clock::now();
  Reboot(cluster, one, std::chrono::seconds(3));
  auto second = WaitForList(
      cluster, [&](const nlohmann::json& l) { return Granted(l, cluster.node_id(other)); },
      std::chrono::seconds(90));
  INFO(cluster.DumpLogs(15));
  REQUIRE(second.ok());
  // By the time the second is granted, the first has left maintenance, resynced.
  CHECK(Outcome(*second, cluster.node_id(one)) == "resynced");
  Reboot(cluster, other, std::chrono::seconds(3));
  auto both = WaitForList(
      cluster,
      [&](const nlohmann::json& l) {
        return l["granted"].empty() && !Recent(l, cluster.node_id(other)).is_null();
      },
      std::chrono::seconds(90));
  REQUIRE(both.ok());
  const double sequence_s = SecondsSince(t_first);
  watching = false;
  watcher.join();
  ask_a.join();
  ask_b.join();
  workload.Stop();
  CHECK(rc_a == 0);
  CHECK(rc_b == 0);

  INFO("workload errors: " << (workload.errors().empty() ? "" : workload.errors()[0]));
  CHECK(workload.errors().empty());
  CHECK(workload.ops() > 0);
  CHECK(most_granted == 1);
  CHECK(samples > 10);
  REQUIRE(WaitFilesystemFull(cluster, "scratch").ok());
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(during_a.VerifyAll().ok());
  REQUIRE(during_b.VerifyAll().ok());

  // Only what was written while away is resynced: about the node's share (one cell in six
  // of 4+2 stripes, i.e. a quarter of the data bytes) of what the workload wrote between the
  // grant and the end of the catch-up, and far below its share of all the data.
  const uint64_t share = (before.bytes() + during_a.bytes() + during_b.bytes()) / 4;
  auto files_at = [&](int64_t ms) {
    std::lock_guard lock(progress_mu);
    uint64_t files = 0;
    for (const auto& [t, n] : progress) {
      if (t <= ms) files = n;
    }
    return files;
  };
  for (int node : {one, other}) {
    const auto recent = Recent(*both, cluster.node_id(node));
    REQUIRE(recent.is_object());
    const uint64_t resynced = recent.value("resynced_bytes", uint64_t{0});
    const int64_t granted_ms = recent.value("granted_ms", int64_t{0});
    const int64_t returned_ms = recent.value("returned_ms", int64_t{0});
    const int64_t ended_ms = recent.value("ended_ms", int64_t{0});
    const uint64_t missed =
        (files_at(ended_ms + 500) - files_at(granted_ms - 500)) * kFileBytes / 4;
    WARN("node " << cluster.node_id(node) << ": away " << returned_ms - granted_ms
                 << " ms, caught up in " << ended_ms - returned_ms << " ms; resynced " << resynced
                 << " bytes; its share of what was written meanwhile: " << missed
                 << " bytes; its share of all data: " << share << " bytes");
    CHECK(recent.value("outcome", "") == "resynced");
    CHECK(resynced > 0);
    CHECK(resynced <= missed + missed / 2 + (1 << 20));
    CHECK(resynced * 2 < share);
  }
  WARN("two maintenances in sequence: " << sequence_s << " s; " << workload.ops()
                                        << " files written and verified meanwhile");
  // The resynced nodes serve current data: two others stopped, everything still reads.
  cluster.KillNode(0);
  cluster.KillNode(2);
  REQUIRE(before.VerifyAll().ok());
  REQUIRE(during_a.VerifyAll().ok());
}

TEST_CASE("maintenance waits for a rebuild, and a node that outstays its window is rebuilt",
          "[fault][maintenance]") {
  MaintenanceCluster c = StartMaintenanceCluster(8, 3);
  auto& cluster = *c.started.cluster;
  Workload& data = *c.before;

  // A node fails: its PGs are degraded, then rebuilt after the grace period.
  cluster.KillNode(7);
  REQUIRE(cluster
              .WaitForStatus(
                  [&](const nlohmann::json& s) {
                    return TestCluster::NodeState(s, cluster.node_id(7)) == "down";
                  },
                  std::chrono::seconds(15))
              .ok());
  const std::string asked = cluster.node_id(0);
  std::string out;
  REQUIRE(cluster.RunCli("maintenance enter " + asked + " --window 4 --reason bios", &out) == 0);
  // It waits, saying why, as long as the filesystem is not fully protected.
  bool saw_why = false;
  std::string grant_state;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto status = cluster.StatusJson();
    REQUIRE(status.ok());
    const bool full = FsState(*status) == "full";
    const auto& m = (*status)["maintenance"];
    const bool granted = Granted(m, asked);
    if (!full && !granted) {
      for (const auto& q : m["queue"]) {
        saw_why = saw_why || q.value("waiting_for", "").find("degraded") != std::string::npos;
      }
    }
    if (granted) {
      grant_state = TestCluster::NodeState(*status, asked);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(cluster.DumpLogs(15));
  CHECK(saw_why);
  REQUIRE(grant_state == "maintenance");
  // Granted only after the last PG of the rebuild was done.
  auto list = MaintenanceList(cluster);
  REQUIRE(Granted(list, asked));
  int64_t granted_ms = 0;
  for (const auto& g : list["granted"]) granted_ms = g.value("granted_ms", int64_t{0});
  const std::regex done_re("rebuild\\.pg_done .* slots=\\S*:rebuild\\S* .* finished_ms=(\\d+)");
  int64_t last_rebuilt_ms = 0;
  int rebuilt_pgs = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    std::ifstream in(cluster.log_path(i));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, done_re)) continue;
      rebuilt_pgs++;
      last_rebuilt_ms = std::max<int64_t>(last_rebuilt_ms, std::stoll(m[1]));
    }
  }
  WARN("rebuild of " << rebuilt_pgs << " PGs done at " << last_rebuilt_ms
                     << "; maintenance granted " << granted_ms - last_rebuilt_ms << " ms later");
  CHECK(rebuilt_pgs > 0);
  CHECK(last_rebuilt_ms <= granted_ms);

  // It goes away and never comes back: after its 4 s window it is an ordinary failure, and
  // after the 3 s grace its slots are rebuilt on the 6 nodes left.
  cluster.KillNode(0);
  auto expired = WaitForList(
      cluster,
      [&](const nlohmann::json& l) {
        return Outcome(l, asked) == "expired" && l["granted"].empty();
      },
      std::chrono::seconds(30));
  REQUIRE(expired.ok());
  int expiry_lines = 0;  // in the log of whichever node manages
  for (int i = 1; i < cluster.size(); ++i) {
    expiry_lines += CountInFile(cluster.log_path(i), "outlasted its window");
  }
  CHECK(expiry_lines > 0);
  auto rebuilt = cluster.WaitForStatus(
      [&](const nlohmann::json& s) {
        if (FsState(s) != "full") return false;
        for (const auto& n : s["nodes"]) {
          if (n.value("id", "") == asked) return n.value("slots", 1) == 0;
        }
        return false;
      },
      std::chrono::seconds(120));
  REQUIRE(rebuilt.ok());
  REQUIRE(data.VerifyAll().ok());
}
