// cvfs fsck (issue #4) on a real 6-backend 4+2 cluster: a clean tree checks clean; the
// metadata primary of the root's PG killed (CVFS_CRASH_AT=meta_mkdir_after_inode) between a
// cross-PG mkdir's inode step and its entry step never leaves a visible dangling entry: a
// client that retries finishes the mkdir, a client that gives up leaves an orphan directory
// inode, which `cvfs fsck` reports (exit 1) and `cvfs fsck --repair` drops (exit 0).
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/meta_routing.h"
#include "core/stripe_routing.h"
#include "cvfs/filesystem.h"
#include "net/rpc.h"
#include "net/wire/meta_messages.h"
#include "server/meta/meta_records.h"
#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

std::unique_ptr<FileSystem> MountFs(const TestCluster& cluster, const std::string& fs,
                                    const std::string& name) {
  auto mounted = MountFileSystem(cluster, fs, name);
  INFO((mounted.ok() ? std::string() : mounted.status().ToString()));
  REQUIRE(mounted.ok());
  return std::move(mounted).value();
}

// Every name under `dir`, recursively, as "path type nlink".
void Walk(FileSystem& fs, uint64_t dir, const std::string& prefix, std::vector<std::string>* out) {
  uint64_t cookie = 0;
  while (true) {
    auto page = fs.ReadDir(nullptr, dir, cookie, 1000);
    REQUIRE(page.ok());
    for (const DirEntry& e : page->entries) {
      auto attr = fs.GetAttr(nullptr, e.inode);
      INFO(prefix + e.name + ": " + attr.status().ToString());
      REQUIRE(attr.ok());  // no entry names a missing inode
      out->push_back(prefix + e.name + " " + std::to_string(static_cast<int>(e.type)) + " " +
                     std::to_string(attr->nlink));
      if (e.type == FileType::kDirectory) Walk(fs, e.inode, prefix + e.name + "/", out);
      cookie = e.cookie;
    }
    if (page->eof) break;
  }
}

struct FsckRun {
  int rc = -1;
  nlohmann::json report;
};

// `cvfs fsck home [more] --json`; every run must report no dangling entry.
FsckRun Fsck(const TestCluster& cluster, const std::string& more = "") {
  FsckRun run;
  std::string out;
  run.rc = cluster.RunCli("fsck home --json " + more + " 2>/dev/null", &out);
  run.report = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  INFO("cvfs fsck " << more << " exited " << run.rc << ": " << out);
  REQUIRE(!run.report.is_discarded());
  CHECK(run.report.value("dangling_entries_total", uint64_t{99}) == 0);
  CHECK(run.report.value("pgs_checked", 0) > 0);
  return run;
}

// A directory name in the root whose inode lands in another PG than the root's (PG 0).
std::string RemoteName(const std::string& stem, uint32_t pg_count) {
  for (int i = 0;; ++i) {
    std::string name = stem + std::to_string(i);
    if (server::meta::DirectoryPg(kRootInode, name, pg_count) != 0) return name;
  }
}

void WaitDied(TestCluster& cluster, int node) {
  REQUIRE(WaitNodeExited(cluster, node, std::chrono::seconds(10)));
  auto ws = cluster.wait_status(node);
  REQUIRE(ws.has_value());
  CHECK(WIFSIGNALED(*ws));
  CHECK(WTERMSIG(*ws) == SIGKILL);
  CHECK(CountInFile(cluster.log_path(node), "crash_at meta_mkdir_after_inode") >= 1);
}

// Restarts `node` with the mkdir crash point armed.
void ArmCrash(TestCluster& cluster, int node) {
  cluster.KillNode(node);
  REQUIRE(cluster.StartNode(node, {"CVFS_CRASH_AT=meta_mkdir_after_inode"}).ok());
  REQUIRE(cluster.WaitNodeUp(node).ok());
}

}  // namespace

TEST_CASE("a crash mid cross-PG mkdir leaves no dangling entry; fsck reports and repairs orphans",
          "[namespace][fault]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "home", "4+2", "64K");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto fs = MountFs(cluster, "home", "fsck-test");

  // A small tree: nested directories (other PGs), files, a hard link, a symlink.
  bool created = false;
  auto a = fs->Mkdir(nullptr, kRootInode, "a", 0755);
  REQUIRE(a.ok());
  auto b = fs->Mkdir(nullptr, a->inode, "b", 0755);
  REQUIRE(b.ok());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(fs->Create(nullptr, b->inode, "f" + std::to_string(i), 0644, true, &created).ok());
  }
  auto f = fs->Create(nullptr, a->inode, "file", 0644, true, &created);
  REQUIRE(f.ok());
  REQUIRE(fs->Link(nullptr, f->inode, kRootInode, "hard").ok());
  REQUIRE(fs->Symlink(nullptr, b->inode, "up", "..").ok());

  {
    std::string out;
    CHECK(cluster.RunCli("fsck home 2>&1", &out) == 0);  // the human summary
    INFO(out);
    CHECK(out.find("clean") != std::string::npos);
    FsckRun clean = Fsck(cluster);
    CHECK(clean.rc == 0);
    CHECK(clean.report.value("clean", false));
    CHECK(clean.report.value("inodes", 0) >= 10);
  }
  std::vector<std::string> tree;
  Walk(*fs, kRootInode, "/", &tree);

  auto map = ReadMap(cluster);
  REQUIRE(map.ok());
  const FilesystemInfo* info = &map->filesystems.at("home");
  auto route = RouteMetaPg(*map, *info, 0);
  REQUIRE(route.ok());
  const int root_primary = IndexOfNode(cluster, route->member(route->primary).node.str());
  REQUIRE(root_primary >= 0);

  // 1. A client that retries: the mkdir dies after its inode step; the retry (same request
  // id) replays the inode step and adds the entry, or the name stays absent. Until every
  // map shows the restarted node as PG 0's primary again, another node may serve a mkdir
  // (an ordinary one): try again with another name then.
  ArmCrash(cluster, root_primary);
  std::string retried;
  Result<FileAttr> made = Status::Unavailable("not tried");
  for (int attempt = 0; attempt < 20 && cluster.running(root_primary); ++attempt) {
    retried = RemoteName("x" + std::to_string(attempt) + "-", info->pg_count);
    made = fs->Mkdir(nullptr, kRootInode, retried, 0755);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (cluster.running(root_primary)) {
      REQUIRE(made.ok());
      tree.push_back("/" + retried + " 2 2");
    }
  }
  WaitDied(cluster, root_primary);
  REQUIRE(cluster.StartNode(root_primary).ok());
  REQUIRE(cluster.WaitNodeUp(root_primary).ok());
  auto seen = fs->Lookup(nullptr, kRootInode, retried);
  WARN("retrying client: mkdir " << (made.ok() ? "succeeded" : made.status().ToString())
                                 << ", lookup " << (seen.ok() ? "finds it" : "does not"));
  if (made.ok()) REQUIRE(seen.ok());
  bool retried_orphan = false;
  if (seen.ok()) {
    CHECK(seen->type == FileType::kDirectory);
    CHECK(seen->nlink == 2);
    auto listed = fs->ReadDir(nullptr, seen->inode, 0, 10);
    REQUIRE(listed.ok());  // complete: its inode exists and reads
    tree.push_back("/" + retried + " 2 2");
  } else {
    CHECK(seen.status().code() == ErrorCode::kNotFound);
    retried_orphan = true;  // its inode step finished before the crash
  }

  // 2. A client that gives up (a raw request, not retried once sent to the primary): the
  // orphan directory inode stays.
  const std::string abandoned = RemoteName("y", info->pg_count);
  ArmCrash(cluster, root_primary);
  {
    net::RpcOptions rpc;
    rpc.provider = cluster.provider();
    rpc.munge_socket = cluster.munge_socket();
    rpc.name = "gives-up";
    auto endpoint = net::RpcEndpoint::Create(rpc);
    REQUIRE(endpoint.ok());
    // The restarted node's new fabric address, and its being PG 0's primary again, reach
    // the maps shortly after it is up: connect and send until it takes the request.
    Status last = Status::Unavailable("not sent");
    for (int attempt = 0; attempt < 60 && cluster.running(root_primary); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
      auto fresh_map = ReadMap(cluster);
      if (!fresh_map.ok()) continue;
      auto peer = (*endpoint)->Connect(
          NodeAddress(*fresh_map, NodeId(cluster.node_id(root_primary))), std::chrono::seconds(2));
      if (!peer.ok()) {
        last = peer.status();
        continue;
      }
      net::wire::MkdirRequest req;
      req.header.fs_id = info->id;
      req.header.pg = 0;
      req.header.epoch = fresh_map->epoch.value;
      req.header.client_id = 0x5eed;
      req.header.request_id = 1;
      req.parent = kRootInode;
      req.name = abandoned;
      req.mode = 0755;
      auto reply = (*endpoint)->Call(*peer, net::Method::kMetaMkdir,
                                     net::wire::EncodeMkdirRequest(req), std::chrono::seconds(10));
      REQUIRE_FALSE(reply.ok());  // a mkdir this node coordinates kills it
      last = reply.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    INFO(last.ToString());
    (*endpoint)->Shutdown();
  }
  WaitDied(cluster, root_primary);
  REQUIRE(cluster.StartNode(root_primary).ok());
  REQUIRE(cluster.WaitNodeUp(root_primary).ok());
  CHECK(fs->Lookup(nullptr, kRootInode, abandoned).status().code() == ErrorCode::kNotFound);

  // fsck reports the orphan(s), never a dangling entry; --repair drops them; clean after.
  const uint64_t orphans = 1 + (retried_orphan ? 1 : 0);
  FsckRun found = Fsck(cluster);
  CHECK(found.rc == 1);
  CHECK_FALSE(found.report.value("clean", true));
  CHECK(found.report.value("passes", 0) == 2);
  REQUIRE(found.report.value("orphans_total", uint64_t{0}) == orphans);
  const uint32_t abandoned_pg = server::meta::DirectoryPg(kRootInode, abandoned, info->pg_count);
  bool listed = false;
  for (const auto& o : found.report["orphans"]) {
    CHECK(o.value("type", "") == "directory");
    CHECK(o.value("entries", 99) == 0);
    listed = listed || MetaPgOfInode(o.value("inode", uint64_t{0})) == abandoned_pg;
  }
  CHECK(listed);
  CHECK(found.report.value("nlink_mismatches_total", uint64_t{99}) == 0);

  FsckRun repaired = Fsck(cluster, "--repair");
  CHECK(repaired.rc == 0);
  CHECK(repaired.report["repaired"].value("orphans", uint64_t{0}) == orphans);
  CHECK(repaired.report["repaired"].value("failed", uint64_t{99}) == 0);

  FsckRun after = Fsck(cluster);
  CHECK(after.rc == 0);
  CHECK(after.report.value("clean", false));

  // The tree is untouched by the repair.
  std::vector<std::string> now;
  auto reader = MountFs(cluster, "home", "after-repair");
  Walk(*reader, kRootInode, "/", &now);
  std::sort(now.begin(), now.end());
  std::sort(tree.begin(), tree.end());
  CHECK(now == tree);

  // Bad arguments: exit 2.
  std::string out;
  CHECK(cluster.RunCli("fsck 2>&1", &out) == 2);
  CHECK(cluster.RunCli("fsck home --bogus 2>&1", &out) == 2);
  CHECK(cluster.RunCli("fsck missing-fs 2>&1", &out) == 4);
}
