// The distributed namespace (issue #4) through cvfs::FileSystem against a real 6-backend
// cluster (etcd, munged, cvfsd on loopback), 4+2: POSIX outcomes of every operation,
// cross-PG operations (directories live in other PGs than their parents), exactly-once
// mutations under a retried request, permissions of a non-root identity, and the
// namespace surviving kill -9 of two backends.
#include <fcntl.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/meta_routing.h"
#include "core/stripe_routing.h"
#include "cvfs/filesystem.h"
#include "net/peer_cache.h"
#include "net/rpc.h"
#include "net/wire/meta_messages.h"
#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

std::unique_ptr<FileSystem> MountFs(const TestCluster& cluster, const std::string& fs,
                                    const std::string& name = "ns-test") {
  auto mounted = MountFileSystem(cluster, fs, name);
  INFO((mounted.ok() ? std::string() : mounted.status().ToString()));
  REQUIRE(mounted.ok());
  return std::move(mounted).value();
}

ErrorCode CodeOf(const Status& s) { return s.code(); }
template <typename T>
ErrorCode CodeOf(const Result<T>& r) {
  return r.status().code();
}

// Every name under `dir`, recursively, as "path type nlink size".
void Walk(FileSystem& fs, uint64_t dir, const std::string& prefix, std::vector<std::string>* out) {
  uint64_t cookie = 0;
  while (true) {
    auto page = fs.ReadDir(nullptr, dir, cookie, 1000);
    INFO(page.status().ToString());
    REQUIRE(page.ok());
    for (const DirEntry& e : page->entries) {
      auto attr = fs.GetAttr(nullptr, e.inode);
      INFO(prefix + e.name + ": " + attr.status().ToString());
      REQUIRE(attr.ok());
      out->push_back(prefix + e.name + " " + std::to_string(static_cast<int>(e.type)) + " " +
                     std::to_string(attr->nlink) + " " + std::to_string(attr->size));
      if (e.type == FileType::kDirectory) Walk(fs, e.inode, prefix + e.name + "/", out);
      cookie = e.cookie;
    }
    if (page->eof) break;
  }
}

std::vector<std::byte> Pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(i * 31 + seed + i / 4096));
  return v;
}

Status WriteFile(FileSystem& fs, uint64_t inode, const std::vector<std::byte>& data) {
  CVFS_ASSIGN_OR_RETURN(uint64_t h, fs.Open(nullptr, inode, O_WRONLY, nullptr));
  Status st = fs.Write(h, 0, data);
  Status released = fs.Release(h);
  return st.ok() ? released : st;
}

Result<std::vector<std::byte>> ReadFile(FileSystem& fs, uint64_t inode, size_t max) {
  CVFS_ASSIGN_OR_RETURN(uint64_t h, fs.Open(nullptr, inode, O_RDONLY, nullptr));
  std::vector<std::byte> out(max);
  auto n = fs.Read(h, 0, out);
  (void)fs.Release(h);
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("namespace operations through the FileSystem API on 6 backends", "[namespace]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "home", "4+2", "64K");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto fs = MountFs(cluster, "home");

  auto root = fs->GetAttr(nullptr, kRootInode);
  INFO(root.status().ToString());
  REQUIRE(root.ok());
  CHECK(root->type == FileType::kDirectory);
  CHECK(root->mode == 0755);

  // Directories land in other PGs than their parents: mkdir, lookups, nesting.
  auto a = fs->Mkdir(nullptr, kRootInode, "a", 0755);
  REQUIRE(a.ok());
  CHECK(MetaPgOfInode(a->inode) != 0);
  auto b = fs->Mkdir(nullptr, a->inode, "b", 0700);
  REQUIRE(b.ok());
  CHECK(CodeOf(fs->Mkdir(nullptr, kRootInode, "a", 0755)) == ErrorCode::kAlreadyExists);
  auto looked = fs->Lookup(nullptr, kRootInode, "a");
  REQUIRE(looked.ok());
  CHECK(looked->inode == a->inode);
  CHECK(looked->nlink == 3);  // ".", the entry in /, and b's ".."
  CHECK(CodeOf(fs->Lookup(nullptr, kRootInode, "missing")) == ErrorCode::kNotFound);

  // Files: create (exclusive and not), data, sizes at close.
  bool created = false;
  auto f = fs->Create(nullptr, b->inode, "data.bin", 0644, true, &created);
  REQUIRE(f.ok());
  CHECK(created);
  CHECK(CodeOf(fs->Create(nullptr, b->inode, "data.bin", 0644, true, &created)) ==
        ErrorCode::kAlreadyExists);
  auto again = fs->Create(nullptr, b->inode, "data.bin", 0644, false, &created);
  REQUIRE(again.ok());
  CHECK_FALSE(created);
  CHECK(again->inode == f->inode);
  const auto bytes = Pattern(3 * 1024 * 1024 + 12345, 7);
  REQUIRE(WriteFile(*fs, f->inode, bytes).ok());
  auto stat = fs->GetAttr(nullptr, f->inode);
  REQUIRE(stat.ok());
  CHECK(stat->size == bytes.size());
  auto back = ReadFile(*fs, f->inode, bytes.size() + 100);
  REQUIRE(back.ok());
  CHECK(*back == bytes);
  // Another client sees the data and size (close-to-open).
  auto other = MountFs(cluster, "home", "other");
  auto seen = other->Lookup(nullptr, b->inode, "data.bin");
  REQUIRE(seen.ok());
  CHECK(seen->size == bytes.size());
  auto other_back = ReadFile(*other, f->inode, bytes.size());
  REQUIRE(other_back.ok());
  CHECK(*other_back == bytes);

  // Truncate down then up: the tail reads as zeros.
  SetAttrRequest truncate;
  truncate.mask = kSetSize;
  truncate.size = 100000;
  REQUIRE(fs->SetAttr(nullptr, f->inode, truncate).ok());
  truncate.size = 200000;
  REQUIRE(fs->SetAttr(nullptr, f->inode, truncate).ok());
  auto truncated = ReadFile(*fs, f->inode, 300000);
  REQUIRE(truncated.ok());
  REQUIRE(truncated->size() == 200000);
  CHECK(std::equal(truncated->begin(), truncated->begin() + 100000, bytes.begin()));
  CHECK(std::all_of(truncated->begin() + 100000, truncated->end(),
                    [](std::byte x) { return x == std::byte{0}; }));

  // Errors: a file as a directory, a directory as a file, non-empty rmdir.
  CHECK(CodeOf(fs->Lookup(nullptr, f->inode, "x")) == ErrorCode::kNotADirectory);
  CHECK(CodeOf(fs->Unlink(nullptr, kRootInode, "a")) == ErrorCode::kIsADirectory);
  CHECK(CodeOf(fs->Rmdir(nullptr, a->inode, "b")) == ErrorCode::kNotEmpty);
  CHECK(CodeOf(fs->Rmdir(nullptr, b->inode, "data.bin")) == ErrorCode::kNotADirectory);
  CHECK(CodeOf(fs->Create(nullptr, kRootInode, std::string(256, 'n'), 0644, true, &created)) ==
        ErrorCode::kNameTooLong);

  // Rename within a directory and across directories (other PGs), over an existing file.
  auto c = fs->Mkdir(nullptr, kRootInode, "c", 0755);
  REQUIRE(c.ok());
  REQUIRE(fs->Rename(nullptr, b->inode, "data.bin", b->inode, "renamed.bin", false).ok());
  REQUIRE(fs->Rename(nullptr, b->inode, "renamed.bin", c->inode, "moved.bin", false).ok());
  CHECK(CodeOf(fs->Lookup(nullptr, b->inode, "renamed.bin")) == ErrorCode::kNotFound);
  auto moved = fs->Lookup(nullptr, c->inode, "moved.bin");
  REQUIRE(moved.ok());
  CHECK(moved->inode == f->inode);
  auto victim = fs->Create(nullptr, c->inode, "victim", 0644, true, &created);
  REQUIRE(victim.ok());
  REQUIRE(fs->Rename(nullptr, c->inode, "moved.bin", c->inode, "victim", false).ok());
  CHECK(CodeOf(fs->GetAttr(nullptr, victim->inode)) == ErrorCode::kNotFound);
  // A directory into its own subtree: EINVAL; a directory across PGs: its ".." follows.
  CHECK(CodeOf(fs->Rename(nullptr, kRootInode, "a", b->inode, "loop", false)) ==
        ErrorCode::kInvalidArgument);
  REQUIRE(fs->Rename(nullptr, a->inode, "b", c->inode, "b2", false).ok());
  auto b2 = fs->GetAttr(nullptr, b->inode);
  REQUIRE(b2.ok());
  auto a_after = fs->GetAttr(nullptr, a->inode);
  auto c_after = fs->GetAttr(nullptr, c->inode);
  REQUIRE(a_after.ok());
  REQUIRE(c_after.ok());
  CHECK(a_after->nlink == 2);
  CHECK(c_after->nlink == 3);

  // Hard links and symlinks.
  auto linked = fs->Link(nullptr, f->inode, kRootInode, "hard");
  REQUIRE(linked.ok());
  CHECK(linked->nlink == 2);
  CHECK(CodeOf(fs->Link(nullptr, a->inode, kRootInode, "dirlink")) == ErrorCode::kNotPermitted);
  auto sym = fs->Symlink(nullptr, kRootInode, "sym", "c/victim");
  REQUIRE(sym.ok());
  auto target = fs->Readlink(nullptr, sym->inode);
  REQUIRE(target.ok());
  CHECK(*target == "c/victim");

  // Unlink: the last link frees the inode.
  REQUIRE(fs->Unlink(nullptr, kRootInode, "hard").ok());
  auto one_left = fs->GetAttr(nullptr, f->inode);
  REQUIRE(one_left.ok());
  CHECK(one_left->nlink == 1);
  REQUIRE(fs->Unlink(nullptr, c->inode, "victim").ok());
  CHECK(CodeOf(fs->GetAttr(nullptr, f->inode)) == ErrorCode::kNotFound);
  REQUIRE(fs->Rmdir(nullptr, c->inode, "b2").ok());
  CHECK(CodeOf(fs->GetAttr(nullptr, b->inode)) == ErrorCode::kNotFound);

  // Unlink of a file open here: reads and writes through the handle go on; the name is gone
  // (lookup, readdir); the last release frees the inode.
  auto open_file = fs->Create(nullptr, kRootInode, "open-unlinked", 0644, true, &created);
  REQUIRE(open_file.ok());
  const auto kept = Pattern(70000, 9);
  REQUIRE(WriteFile(*fs, open_file->inode, kept).ok());
  auto handle = fs->Open(nullptr, open_file->inode, O_RDWR, nullptr);
  REQUIRE(handle.ok());
  REQUIRE(fs->Unlink(nullptr, kRootInode, "open-unlinked").ok());
  CHECK(CodeOf(fs->Lookup(nullptr, kRootInode, "open-unlinked")) == ErrorCode::kNotFound);
  auto listing = fs->ReadDir(nullptr, kRootInode, 0, 1000);
  REQUIRE(listing.ok());
  for (const auto& e : listing->entries) CHECK(e.inode != open_file->inode);
  auto unlinked_attr = fs->GetAttr(nullptr, open_file->inode);
  REQUIRE(unlinked_attr.ok());
  CHECK(unlinked_attr->nlink == 0);
  std::vector<std::byte> through(kept.size());
  auto got = fs->Read(*handle, 0, through);
  REQUIRE(got.ok());
  CHECK(*got == kept.size());
  CHECK(through == kept);
  REQUIRE(fs->Write(*handle, kept.size(), kept).ok());
  REQUIRE(fs->Release(*handle).ok());
  CHECK(CodeOf(fs->GetAttr(nullptr, open_file->inode)) == ErrorCode::kNotFound);

  // Readdir pages over 1500 entries of one directory: every name once.
  auto big = fs->Mkdir(nullptr, kRootInode, "big", 0755);
  REQUIRE(big.ok());
  for (int i = 0; i < 1500; ++i) {
    REQUIRE(fs->Create(nullptr, big->inode, "f" + std::to_string(i), 0644, true, &created).ok());
  }
  std::map<std::string, int> names;
  uint64_t cookie = 0;
  int pages = 0;
  while (true) {
    auto page = fs->ReadDir(nullptr, big->inode, cookie, 400);
    REQUIRE(page.ok());
    ++pages;
    for (const auto& e : page->entries) {
      names[e.name]++;
      cookie = e.cookie;
    }
    if (page->eof) break;
  }
  CHECK(pages >= 4);
  CHECK(names.size() == 1500);
  CHECK(std::all_of(names.begin(), names.end(), [](const auto& kv) { return kv.second == 1; }));
}

TEST_CASE("permissions follow the caller's identity", "[namespace][security]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "home", "4+2", "64K");
  REQUIRE(started.ok());
  auto fs = MountFs(*started->cluster, "home");
  bool created = false;
  auto secret = fs->Create(nullptr, kRootInode, "secret", 0600, true, &created);
  REQUIRE(secret.ok());
  Identity user{1000, 1000, {}};
  FileAttr attr;
  CHECK(CodeOf(fs->Open(&user, secret->inode, O_RDONLY, &attr)) == ErrorCode::kPermissionDenied);
  CHECK(CodeOf(fs->Create(&user, kRootInode, "mine", 0644, true, &created)) ==
        ErrorCode::kPermissionDenied);
  SetAttrRequest chmod;
  chmod.mask = kSetMode;
  chmod.mode = 0777;
  CHECK(CodeOf(fs->SetAttr(&user, secret->inode, chmod)) == ErrorCode::kNotPermitted);
  // A world-writable directory: the user's file is the user's.
  auto tmp = fs->Mkdir(nullptr, kRootInode, "tmp", 0777);
  REQUIRE(tmp.ok());
  REQUIRE(fs->SetAttr(nullptr, tmp->inode, chmod).ok());
  auto mine = fs->Create(&user, tmp->inode, "mine", 0600, true, &created);
  REQUIRE(mine.ok());
  CHECK(mine->uid == 1000);
  CHECK(mine->gid == 1000);
  CHECK(fs->Open(&user, mine->inode, O_RDWR, &attr).ok());
  // Root may read the user's 0600 file here; not on a root_squash filesystem.
  CHECK(fs->Open(nullptr, mine->inode, O_RDONLY, &attr).ok());

  auto& cluster = *started->cluster;
  REQUIRE(cluster.CreateFilesystem("squashed", "4+2", "64K", "--root-squash").ok());
  REQUIRE(WaitFilesystemPlaced(cluster, "squashed").ok());
  auto squashed = MountFs(cluster, "squashed");
  // The root directory is root's 0755: squashed root may not create in it...
  CHECK(CodeOf(squashed->Create(nullptr, kRootInode, "x", 0644, true, &created)) ==
        ErrorCode::kPermissionDenied);
  CHECK(CodeOf(squashed->Mkdir(nullptr, kRootInode, "d", 0755)) == ErrorCode::kPermissionDenied);
  // ...nor act for another user to get around it (the on-behalf identity is squashed too
  // when it is root).
  Identity root_again{0, 0, {}};
  CHECK(CodeOf(squashed->Mkdir(&root_again, kRootInode, "d", 0755)) ==
        ErrorCode::kPermissionDenied);
}

TEST_CASE("a retried mutation is applied once", "[namespace]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "home", "4+2", "64K");
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto fs = MountFs(cluster, "home");  // creates the root
  REQUIRE(fs->GetAttr(nullptr, kRootInode).ok());
  // The same request (client id, request id) sent twice, as a client whose reply was lost
  // sends it again: an exclusive create answers success both times, one file exists.
  auto map = ReadMap(cluster);
  REQUIRE(map.ok());
  const FilesystemInfo* info = &map->filesystems.at("home");
  auto route = RouteMetaPg(*map, *info, 0);
  REQUIRE(route.ok());
  net::RpcOptions rpc;
  rpc.provider = cluster.provider();
  rpc.munge_socket = cluster.munge_socket();
  rpc.name = "retrier";
  auto endpoint = net::RpcEndpoint::Create(rpc);
  REQUIRE(endpoint.ok());
  auto peer = (*endpoint)->Connect(NodeAddress(*map, route->member(route->primary).node),
                                   std::chrono::seconds(5));
  REQUIRE(peer.ok());
  net::wire::CreateRequest req;
  req.header.fs_id = info->id;
  req.header.pg = 0;
  req.header.client_id = 0x1234;
  req.header.request_id = 99;
  req.parent = kRootInode;
  req.name = "once";
  req.type = net::wire::InodeType::kRegular;
  req.mode = 0644;
  req.exclusive = true;
  const std::string payload = net::wire::EncodeCreateRequest(req);
  auto first = (*endpoint)->Call(*peer, net::Method::kMetaCreate, payload, std::chrono::seconds(5));
  auto second =
      (*endpoint)->Call(*peer, net::Method::kMetaCreate, payload, std::chrono::seconds(5));
  INFO(first.status().ToString() << " / " << second.status().ToString());
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  auto a1 = net::wire::DecodeAttrReply(*first);
  auto a2 = net::wire::DecodeAttrReply(*second);
  REQUIRE(a1.ok());
  REQUIRE(a2.ok());
  CHECK(a1->attr.inode == a2->attr.inode);
  CHECK(a1->created);
  // A new request id is a new request: now the name exists.
  req.header.request_id = 100;
  auto third = (*endpoint)->Call(*peer, net::Method::kMetaCreate,
                                 net::wire::EncodeCreateRequest(req), std::chrono::seconds(5));
  CHECK(third.status().code() == ErrorCode::kAlreadyExists);
  (*endpoint)->Shutdown();
}

TEST_CASE("the namespace survives kill -9 of two backends", "[namespace][fault]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "home", "4+2", "64K");
  REQUIRE(started.ok());
  auto& cluster = *started->cluster;
  auto fs = MountFs(cluster, "home");
  bool created = false;
  for (int d = 0; d < 6; ++d) {
    auto dir = fs->Mkdir(nullptr, kRootInode, "d" + std::to_string(d), 0755);
    REQUIRE(dir.ok());
    for (int i = 0; i < 20; ++i) {
      auto file = fs->Create(nullptr, dir->inode, "f" + std::to_string(i), 0644, true, &created);
      REQUIRE(file.ok());
      if (i % 5 == 0) REQUIRE(WriteFile(*fs, file->inode, Pattern(1000 + i * 100, 3)).ok());
    }
    auto sub = fs->Mkdir(nullptr, dir->inode, "sub", 0755);
    REQUIRE(sub.ok());
    REQUIRE(fs->Symlink(nullptr, sub->inode, "up", "..").ok());
  }
  std::vector<std::string> before;
  Walk(*fs, kRootInode, "/", &before);
  REQUIRE(before.size() == 6 * 23);
  std::sort(before.begin(), before.end());
  for (auto [x, y] : std::vector<std::pair<int, int>>{{0, 1}, {2, 4}}) {
    cluster.KillNode(x);
    cluster.KillNode(y);
    auto down = cluster.WaitForStatus(
        [&](const nlohmann::json& s) {
          return TestCluster::NodeState(s, cluster.node_id(x)) == "down" &&
                 TestCluster::NodeState(s, cluster.node_id(y)) == "down";
        },
        std::chrono::seconds(20));
    REQUIRE(down.ok());
    std::vector<std::string> after;
    auto fresh = MountFs(cluster, "home", "fresh");
    Walk(*fresh, kRootInode, "/", &after);
    std::sort(after.begin(), after.end());
    CHECK(after == before);
    // Mutations go on with two replicas of three.
    REQUIRE(fresh->Mkdir(nullptr, kRootInode, "while-down-" + std::to_string(x), 0755).ok());
    before.push_back("/while-down-" + std::to_string(x) + " 2 2 0");
    std::sort(before.begin(), before.end());
    std::vector<std::string> again;
    Walk(*fresh, kRootInode, "/", &again);
    std::sort(again.begin(), again.end());
    CHECK(again == before);
    if (x == 2) break;
    REQUIRE(cluster.StartNode(x).ok());
    REQUIRE(cluster.StartNode(y).ok());
    REQUIRE(cluster.WaitNodeUp(x).ok());
    REQUIRE(cluster.WaitNodeUp(y).ok());
  }
}
