// NamespaceEngine on a real MetaStore (RocksDB in a temp dir) with a ManualClock: every
// operation's success path and error codes, permissions, dedup replay, cross-PG steps
// between two engines of one store, sequenced apply, a 100k-entry readdir under change.
#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "server/meta/meta_store.h"
#include "server/meta/namespace_engine.h"
#include "tests/unit/server/meta/meta_temp_dir.h"

namespace cvfs::server::meta {
namespace {

using testing::MetaTempDir;

constexpr uint32_t kFs = 9;
constexpr uint32_t kPgCount = 2;

const Caller kRoot{0, 0, {}};
const Caller kAlice{1000, 1000, {50}};
const Caller kBob{1001, 1001, {}};

// Two engines (PG 0 and PG 1) over one store, the root bootstrapped 0777.
class Fs {
 public:
  explicit Fs(const std::string& path) { Open(path); }

  void Open(const std::string& path) {
    engines_.clear();
    store_.reset();
    auto store = MetaStore::Open(path, {.sync = false});
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    for (uint32_t pg = 0; pg < kPgCount; ++pg) {
      engines_.push_back(std::make_unique<NamespaceEngine>(*store_, kFs, pg, kPgCount, clock));
    }
  }
  void Bootstrap() {
    auto batch = pg(0).Bootstrap(0777);
    REQUIRE(batch.ok());
    REQUIRE(store_->Apply(*batch).ok());
  }

  NamespaceEngine& pg(uint32_t n) { return *engines_[n]; }
  NamespaceEngine& of(uint64_t inode) { return *engines_[PgOfInode(inode)]; }
  MetaStore& store() { return *store_; }
  RequestKey Key() { return {77, next_request_++}; }

  // Applies a successful mutation's batch and returns its reply.
  MutationReply Do(Result<Mutation> m) {
    INFO(m.status().ToString());
    REQUIRE(m.ok());
    if (!m->batch.empty()) {
      const Status applied = store_->Apply(m->batch);
      INFO(applied.ToString());
      REQUIRE(applied.ok());
    }
    return m->reply;
  }
  static ErrorCode Fails(const Result<Mutation>& m) { return m.status().code(); }

  uint64_t File(const Caller& who, uint64_t parent, const std::string& name, uint32_t mode = 0644) {
    return Do(of(parent).Create(who, Key(), parent, name, FileType::kRegular, mode, true, ""))
        .attr.inode;
  }
  // mkdir as the coordinator runs it: check at the parent's PG, inode at `inode_pg`
  // (DirectoryPg by default), entry at the parent's PG.
  uint64_t Dir(const Caller& who, uint64_t parent, const std::string& name, uint32_t mode = 0755,
               int inode_pg = -1) {
    auto parent_attr = of(parent).CheckCreate(who, parent, name);
    REQUIRE(parent_attr.ok());
    const uint32_t target = inode_pg >= 0 ? inode_pg : DirectoryPg(parent, name, kPgCount);
    const uint64_t inode =
        Do(pg(target).MakeDirectoryInode(who, Key(), *parent_attr, mode)).attr.inode;
    Do(of(parent).AddEntry(Key(), parent, name, inode, FileType::kDirectory));
    return inode;
  }
  InodeAttr Attr(uint64_t inode) {
    auto attr = of(inode).GetAttr(inode);
    REQUIRE(attr.ok());
    return *attr;
  }

  ManualClock clock;

 private:
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<NamespaceEngine>> engines_;
  uint64_t next_request_ = 1;
};

struct Fixture {
  Fixture() : fs(dir.db()) { fs.Bootstrap(); }
  MetaTempDir dir;
  Fs fs;
};

TEST_CASE_METHOD(Fixture, "bootstrap creates the root once, in PG 0", "[namespace]") {
  const InodeAttr root = fs.Attr(kRootInode);
  CHECK(root.type == FileType::kDirectory);
  CHECK(root.mode == 0777);
  CHECK(root.nlink == 2);
  CHECK(root.parent == kRootInode);
  CHECK(root.next_cookie == kFirstEntryCookie);
  CHECK(fs.pg(0).Bootstrap().status().code() == ErrorCode::kAlreadyExists);
  CHECK(fs.pg(1).Bootstrap().status().code() == ErrorCode::kInvalidArgument);
  CHECK(fs.pg(0).GetAttr(MakeInodeId(0, 99)).status().code() == ErrorCode::kNotFound);
  CHECK(fs.pg(0).GetAttr(MakeInodeId(1, 1)).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "create, lookup, getattr and the create rules", "[namespace]") {
  fs.clock.Advance(std::chrono::seconds(5));
  const auto created = fs.Do(
      fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "f", FileType::kRegular, 0640, false, ""));
  CHECK(created.created);
  CHECK(PgOfInode(created.attr.inode) == 0);
  CHECK(created.attr.uid == 1000);
  CHECK(created.attr.gid == 1000);
  CHECK(created.attr.mode == 0640);
  CHECK(created.attr.nlink == 1);
  CHECK(created.attr.mtime_ns == fs.pg(0).NowNs());
  CHECK(fs.Attr(kRootInode).entries == 1);
  CHECK(fs.Attr(kRootInode).mtime_ns == fs.pg(0).NowNs());

  auto found = fs.pg(0).Lookup(kBob, kRootInode, "f");
  REQUIRE(found.ok());
  CHECK(found->inode == created.attr.inode);
  CHECK(found->has_attr);
  CHECK(found->attr == created.attr);

  // Existing name: non-exclusive returns it, exclusive refuses, a directory is EISDIR.
  const auto again = fs.Do(
      fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "f", FileType::kRegular, 0600, false, ""));
  CHECK_FALSE(again.created);
  CHECK(again.attr.inode == created.attr.inode);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "f", FileType::kRegular, 0600, true,
                                  "")) == ErrorCode::kAlreadyExists);
  fs.Dir(kAlice, kRootInode, "d", 0755, 0);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "d", FileType::kRegular, 0600,
                                  false, "")) == ErrorCode::kIsADirectory);

  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "nope").status().code() == ErrorCode::kNotFound);
  CHECK(fs.pg(0).Lookup(kAlice, created.attr.inode, "x").status().code() ==
        ErrorCode::kNotADirectory);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), created.attr.inode, "x", FileType::kRegular,
                                  0600, false, "")) == ErrorCode::kNotADirectory);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "x", FileType::kDirectory, 0600,
                                  false, "")) == ErrorCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "names are validated", "[namespace]") {
  for (const std::string& name :
       std::vector<std::string>{"", ".", "..", "a/b", std::string("a\0b", 3)}) {
    CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, name, FileType::kRegular, 0600,
                                    false, "")) == ErrorCode::kInvalidArgument);
    CHECK(fs.pg(0).Lookup(kAlice, kRootInode, name).status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, std::string(256, 'n'),
                                  FileType::kRegular, 0600, false, "")) == ErrorCode::kNameTooLong);
  CHECK(fs.File(kAlice, kRootInode, std::string(255, 'n')) != 0);
  CHECK(Fs::Fails(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, std::string(256, 'n'))) ==
        ErrorCode::kNameTooLong);
}

TEST_CASE_METHOD(Fixture, "symlinks and readlink", "[namespace]") {
  const auto link = fs.Do(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "l", FileType::kSymlink, 0,
                                          true, "some/target"));
  CHECK(link.attr.type == FileType::kSymlink);
  CHECK(link.attr.size == 11);
  CHECK(*fs.pg(0).Readlink(link.attr.inode) == "some/target");
  const uint64_t file = fs.File(kAlice, kRootInode, "f");
  CHECK(fs.pg(0).Readlink(file).status().code() == ErrorCode::kInvalidArgument);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "l2", FileType::kSymlink, 0, true,
                                  "")) == ErrorCode::kInvalidArgument);
  CHECK(Fs::Fails(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "l", FileType::kRegular, 0600,
                                  false, "")) == ErrorCode::kAlreadyExists);
}

TEST_CASE_METHOD(Fixture, "permission bits: EACCES for other users", "[namespace]") {
  const uint64_t private_dir = fs.Dir(kAlice, kRootInode, "private", 0700, 0);
  const uint64_t inside = fs.File(kAlice, private_dir, "x");
  CHECK(fs.pg(0).Lookup(kBob, private_dir, "x").status().code() == ErrorCode::kPermissionDenied);
  CHECK(Fs::Fails(fs.pg(0).Create(kBob, fs.Key(), private_dir, "y", FileType::kRegular, 0600, false,
                                  "")) == ErrorCode::kPermissionDenied);
  CHECK(fs.pg(0).Readdir(kBob, private_dir, 0, 10).status().code() == ErrorCode::kPermissionDenied);
  CHECK(Fs::Fails(fs.pg(0).Unlink(kBob, fs.Key(), private_dir, "x")) ==
        ErrorCode::kPermissionDenied);
  CHECK(fs.pg(0).Lookup(kRoot, private_dir, "x")->inode == inside);
  CHECK(fs.pg(0).Lookup(kAlice, private_dir, "x")->inode == inside);

  const uint64_t secret = fs.File(kAlice, kRootInode, "secret", 0600);
  CHECK(fs.pg(0).Access(kBob, secret, kMayRead).code() == ErrorCode::kPermissionDenied);
  CHECK(fs.pg(0).Access(kBob, secret, kMayWrite).code() == ErrorCode::kPermissionDenied);
  CHECK(fs.pg(0).Access(kAlice, secret, kMayRead | kMayWrite).ok());
  CHECK(fs.pg(0).Access(kRoot, secret, kMayRead | kMayWrite).ok());
  CHECK(fs.pg(0).Access(kRoot, secret, kMayExec).code() == ErrorCode::kPermissionDenied);
  CHECK(fs.pg(0).Readdir(kAlice, secret, 0, 10).status().code() == ErrorCode::kNotADirectory);
  InodeAttr values;
  values.size = 0;
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kBob, fs.Key(), secret, kSetSize, values)) ==
        ErrorCode::kPermissionDenied);
  values.size = 4096;
  CHECK(fs.Do(fs.pg(0).SetAttr(kAlice, fs.Key(), secret, kSetSize, values)).attr.size == 4096);
  CHECK(fs.Do(fs.pg(0).SetAttr(kRoot, fs.Key(), secret, kSetSize, values)).attr.size == 4096);

  // Group bits apply to supplementary groups.
  const uint64_t shared = fs.File(kRoot, kRootInode, "shared", 0060);
  values.gid = 50;
  fs.Do(fs.pg(0).SetAttr(kRoot, fs.Key(), shared, kSetGid, values));
  CHECK(fs.Do(fs.pg(0).SetAttr(kAlice, fs.Key(), shared, kSetSize, values)).attr.size == 4096);
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kBob, fs.Key(), shared, kSetSize, values)) ==
        ErrorCode::kPermissionDenied);
}

TEST_CASE_METHOD(Fixture, "setattr: chmod, chown, truncate and times", "[namespace]") {
  const uint64_t file = fs.File(kAlice, kRootInode, "f", 0644);
  InodeAttr v;
  v.mode = 04755;
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kBob, fs.Key(), file, kSetMode, v)) == ErrorCode::kNotPermitted);
  fs.clock.Advance(std::chrono::seconds(1));
  auto chmod = fs.Do(fs.pg(0).SetAttr(kAlice, fs.Key(), file, kSetMode, v));
  CHECK(chmod.attr.mode == 04755);
  CHECK(chmod.attr.ctime_ns == fs.pg(0).NowNs());

  v.uid = 1001;
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kAlice, fs.Key(), file, kSetUid, v)) ==
        ErrorCode::kNotPermitted);
  v.gid = 51;  // not one of alice's groups
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kAlice, fs.Key(), file, kSetGid, v)) ==
        ErrorCode::kNotPermitted);
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kBob, fs.Key(), file, kSetGid, v)) == ErrorCode::kNotPermitted);
  v.gid = 50;
  auto chgrp = fs.Do(fs.pg(0).SetAttr(kAlice, fs.Key(), file, kSetGid, v));
  CHECK(chgrp.attr.gid == 50);
  CHECK(chgrp.attr.mode == 0755);  // suid dropped by a non-root chown
  v.uid = 1001;
  v.gid = 1001;
  auto chown = fs.Do(fs.pg(0).SetAttr(kRoot, fs.Key(), file, kSetUid | kSetGid, v));
  CHECK(chown.attr.uid == 1001);
  CHECK(chown.attr.gid == 1001);

  const uint64_t dir = fs.Dir(kAlice, kRootInode, "d", 0755, 0);
  v.size = 1;
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kAlice, fs.Key(), dir, kSetSize, v)) ==
        ErrorCode::kIsADirectory);

  v.atime_ns = 111;
  v.mtime_ns = 222;
  CHECK(Fs::Fails(fs.pg(0).SetAttr(kAlice, fs.Key(), file, kSetAtime | kSetMtime, v)) ==
        ErrorCode::kNotPermitted);
  auto times = fs.Do(fs.pg(0).SetAttr(kBob, fs.Key(), file, kSetAtime | kSetMtime, v));
  CHECK(times.attr.atime_ns == 111);
  CHECK(times.attr.mtime_ns == 222);
  fs.clock.Advance(std::chrono::seconds(1));
  auto now = fs.Do(fs.pg(0).SetAttr(kBob, fs.Key(), file, kSetMtimeNow, v));
  CHECK(now.attr.mtime_ns == fs.pg(0).NowNs());
  CHECK(fs.Attr(file) == now.attr);
}

TEST_CASE_METHOD(Fixture, "setgid directories pass their group on", "[namespace]") {
  const uint64_t dir = fs.Dir(kRoot, kRootInode, "g", 02777, 0);
  InodeAttr v;
  v.gid = 50;
  fs.Do(fs.pg(0).SetAttr(kRoot, fs.Key(), dir, kSetGid, v));
  const uint64_t file = fs.File(kBob, dir, "f");
  CHECK(fs.Attr(file).gid == 50);
  const uint64_t sub = fs.Dir(kBob, dir, "sub", 0755, 1);
  CHECK(fs.Attr(sub).gid == 50);
  CHECK((fs.Attr(sub).mode & 02000) != 0);
}

TEST_CASE_METHOD(Fixture, "unlink and link", "[namespace]") {
  const uint64_t file = fs.File(kAlice, kRootInode, "f");
  const auto linked = fs.Do(fs.pg(0).Link(kAlice, fs.Key(), file, kRootInode, "g"));
  CHECK(linked.attr.nlink == 2);
  CHECK(Fs::Fails(fs.pg(0).Link(kAlice, fs.Key(), file, kRootInode, "g")) ==
        ErrorCode::kAlreadyExists);
  const uint64_t dir = fs.Dir(kAlice, kRootInode, "d", 0755, 0);
  CHECK(Fs::Fails(fs.pg(0).Link(kAlice, fs.Key(), dir, kRootInode, "d2")) ==
        ErrorCode::kNotPermitted);
  CHECK(Fs::Fails(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, "d")) == ErrorCode::kIsADirectory);
  CHECK(Fs::Fails(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, "nope")) == ErrorCode::kNotFound);

  const auto first = fs.Do(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, "f"));
  CHECK(first.freed_inode == 0);
  CHECK(first.attr.nlink == 1);
  const auto last = fs.Do(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, "g"));
  CHECK(last.freed_inode == file);
  CHECK(fs.pg(0).GetAttr(file).status().code() == ErrorCode::kNotFound);
  CHECK(fs.Attr(kRootInode).entries == 1);
  CHECK(fs.pg(0).StatFs()->inodes == 2);  // root and d
  CHECK(fs.pg(0).StatFs()->entries == 1);
}

TEST_CASE_METHOD(Fixture, "sticky directories protect other users' entries", "[namespace]") {
  const uint64_t tmp = fs.Dir(kRoot, kRootInode, "tmp", 01777, 0);
  fs.File(kAlice, tmp, "alices");
  CHECK(Fs::Fails(fs.pg(0).Unlink(kBob, fs.Key(), tmp, "alices")) == ErrorCode::kNotPermitted);
  CHECK(Fs::Fails(fs.pg(0).Rename(kBob, fs.Key(), tmp, "alices", tmp, "mine", false)) ==
        ErrorCode::kNotPermitted);
  fs.Do(fs.pg(0).Unlink(kAlice, fs.Key(), tmp, "alices"));
}

TEST_CASE_METHOD(Fixture, "mkdir and rmdir across PGs", "[namespace]") {
  const uint64_t remote = fs.Dir(kAlice, kRootInode, "remote", 0755, 1);
  CHECK(PgOfInode(remote) == 1);
  const InodeAttr remote_attr = fs.Attr(remote);
  CHECK(remote_attr.nlink == 2);
  CHECK(remote_attr.parent == kRootInode);
  CHECK(fs.Attr(kRootInode).nlink == 3);
  auto looked = fs.pg(0).Lookup(kAlice, kRootInode, "remote");
  REQUIRE(looked.ok());
  CHECK(looked->type == FileType::kDirectory);
  CHECK_FALSE(looked->has_attr);
  CHECK(fs.pg(0).CheckCreate(kAlice, kRootInode, "remote").status().code() ==
        ErrorCode::kAlreadyExists);
  CHECK(Fs::Fails(fs.pg(0).AddEntry(fs.Key(), kRootInode, "remote", remote,
                                    FileType::kDirectory)) == ErrorCode::kAlreadyExists);

  // A file inside the remote directory lives in PG 1 with it.
  const uint64_t inner = fs.File(kAlice, remote, "inner");
  CHECK(PgOfInode(inner) == 1);
  CHECK(fs.pg(1).CheckRmdirTarget(remote).code() == ErrorCode::kNotEmpty);
  CHECK(fs.pg(1).CheckRmdirTarget(inner).code() == ErrorCode::kNotADirectory);
  CHECK(Fs::Fails(fs.pg(0).Rmdir(kAlice, fs.Key(), kRootInode, "nope")) == ErrorCode::kNotFound);

  // A local non-empty directory: ENOTEMPTY; a file: ENOTDIR.
  const uint64_t local = fs.Dir(kAlice, kRootInode, "local", 0755, 0);
  fs.File(kAlice, local, "x");
  CHECK(Fs::Fails(fs.pg(0).Rmdir(kAlice, fs.Key(), kRootInode, "local")) == ErrorCode::kNotEmpty);
  fs.File(kAlice, kRootInode, "file");
  CHECK(Fs::Fails(fs.pg(0).Rmdir(kAlice, fs.Key(), kRootInode, "file")) ==
        ErrorCode::kNotADirectory);
  fs.Do(fs.pg(0).Unlink(kAlice, fs.Key(), local, "x"));
  const auto removed_local = fs.Do(fs.pg(0).Rmdir(kAlice, fs.Key(), kRootInode, "local"));
  CHECK(removed_local.attr.inode == kRootInode);
  CHECK(fs.pg(0).GetAttr(local).status().code() == ErrorCode::kNotFound);

  // The remote one: check at its PG, remove the entry, then drop the inode there.
  fs.Do(fs.pg(1).Unlink(kAlice, fs.Key(), remote, "inner"));
  REQUIRE(fs.pg(1).CheckRmdirTarget(remote).ok());
  const auto removed = fs.Do(fs.pg(0).Rmdir(kAlice, fs.Key(), kRootInode, "remote"));
  CHECK(removed.remote_unlink_inode == remote);
  CHECK(removed.remote_unlink_type == FileType::kDirectory);
  CHECK(fs.Attr(kRootInode).nlink == 2);
  const auto dropped = fs.Do(fs.pg(1).AdjustLinks(fs.Key(), remote, -2));
  CHECK(dropped.freed_inode == 0);
  CHECK(fs.pg(1).GetAttr(remote).status().code() == ErrorCode::kNotFound);
  CHECK(fs.pg(1).StatFs()->inodes == 0);
}

TEST_CASE_METHOD(Fixture, "cross-PG link, unlink and entry steps", "[namespace]") {
  const uint64_t remote_dir = fs.Dir(kAlice, kRootInode, "r", 0755, 1);
  const uint64_t file = fs.File(kAlice, remote_dir, "f");  // PG 1
  // link /r/f to /g: nlink at PG 1, entry at PG 0.
  CHECK(fs.Do(fs.pg(1).AdjustLinks(fs.Key(), file, +1)).attr.nlink == 2);
  fs.Do(fs.pg(0).AddEntry(fs.Key(), kRootInode, "g", file, FileType::kRegular));
  auto lookup = fs.pg(0).Lookup(kAlice, kRootInode, "g");
  CHECK(lookup->inode == file);
  CHECK_FALSE(lookup->has_attr);
  // Unlink at PG 0 reports the remote inode; the caller drops the link at PG 1.
  const auto unlinked = fs.Do(fs.pg(0).Unlink(kAlice, fs.Key(), kRootInode, "g"));
  CHECK(unlinked.remote_unlink_inode == file);
  CHECK(fs.Do(fs.pg(1).AdjustLinks(fs.Key(), file, -1)).attr.nlink == 1);
  CHECK(Fs::Fails(fs.pg(1).AdjustLinks(fs.Key(), file, -2)) == ErrorCode::kInvalidArgument);
  CHECK(Fs::Fails(fs.pg(1).AdjustLinks(fs.Key(), file, 70000)) == ErrorCode::kTooManyLinks);
  CHECK(Fs::Fails(fs.pg(1).AdjustLinks(fs.Key(), remote_dir, -2)) == ErrorCode::kNotEmpty);

  fs.Do(fs.pg(0).AddEntry(fs.Key(), kRootInode, "h", file, FileType::kRegular));
  CHECK(Fs::Fails(fs.pg(0).RemoveEntry(fs.Key(), kRootInode, "h", file + 1)) ==
        ErrorCode::kNotFound);
  fs.Do(fs.pg(0).RemoveEntry(fs.Key(), kRootInode, "h", file));
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "h").status().code() == ErrorCode::kNotFound);
  const auto freed = fs.Do(fs.pg(1).Unlink(kAlice, fs.Key(), remote_dir, "f"));
  CHECK(freed.freed_inode == file);

  CHECK(fs.Do(fs.pg(1).SetParent(fs.Key(), remote_dir, 12345)).attr.parent == 12345);
}

TEST_CASE_METHOD(Fixture, "rename replacement rules", "[namespace]") {
  const uint64_t a = fs.File(kAlice, kRootInode, "a");
  const uint64_t b = fs.File(kAlice, kRootInode, "b");
  const uint64_t d1 = fs.Dir(kAlice, kRootInode, "d1", 0755, 0);
  const uint64_t d2 = fs.Dir(kAlice, kRootInode, "d2", 0755, 0);
  const uint64_t full = fs.Dir(kAlice, kRootInode, "full", 0755, 0);
  fs.File(kAlice, full, "x");

  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "nope", kRootInode, "z", false)) ==
        ErrorCode::kNotFound);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "a", kRootInode, "b", true)) ==
        ErrorCode::kAlreadyExists);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "a", kRootInode, "d1", false)) ==
        ErrorCode::kIsADirectory);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "d1", kRootInode, "a", false)) ==
        ErrorCode::kNotADirectory);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "d1", kRootInode, "full", false)) ==
        ErrorCode::kNotEmpty);

  // File over file: the old target is freed.
  const auto over =
      fs.Do(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "a", kRootInode, "b", false));
  CHECK(over.freed_inode == b);
  CHECK(over.attr.inode == a);
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "b")->inode == a);
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "a").status().code() == ErrorCode::kNotFound);

  // Directory over an empty directory.
  const uint32_t nlink_before = fs.Attr(kRootInode).nlink;
  fs.Do(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "d1", kRootInode, "d2", false));
  CHECK(fs.pg(0).GetAttr(d2).status().code() == ErrorCode::kNotFound);
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "d2")->inode == d1);
  CHECK(fs.Attr(kRootInode).nlink == nlink_before - 1);

  // Same inode under both names: nothing happens.
  fs.Do(fs.pg(0).Link(kAlice, fs.Key(), a, kRootInode, "a2"));
  fs.Do(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "a2", kRootInode, "b", false));
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "a2")->inode == a);
  CHECK(fs.Attr(a).nlink == 2);
}

TEST_CASE_METHOD(Fixture, "rename moves directories and refuses their own subtree", "[namespace]") {
  const uint64_t top = fs.Dir(kAlice, kRootInode, "top", 0755, 0);
  const uint64_t mid = fs.Dir(kAlice, top, "mid", 0755, 0);
  const uint64_t low = fs.Dir(kAlice, mid, "low", 0755, 0);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "top", low, "x", false)) ==
        ErrorCode::kInvalidArgument);
  CHECK(Fs::Fails(fs.pg(0).Rename(kAlice, fs.Key(), kRootInode, "top", top, "x", false)) ==
        ErrorCode::kInvalidArgument);

  const auto moved =
      fs.Do(fs.pg(0).Rename(kAlice, fs.Key(), mid, "low", kRootInode, "low2", false));
  CHECK(moved.attr.parent == kRootInode);
  CHECK(fs.Attr(low).parent == kRootInode);
  CHECK(fs.Attr(mid).nlink == 2);
  CHECK(fs.Attr(mid).entries == 0);
  CHECK(fs.Attr(kRootInode).nlink == 4);  // top, low2 and the root's own two

  // A directory in another PG moved between parents: the caller repoints it there.
  const uint64_t remote = fs.Dir(kAlice, top, "remote", 0755, 1);
  const auto repoint =
      fs.Do(fs.pg(0).Rename(kAlice, fs.Key(), top, "remote", mid, "remote", false));
  CHECK(repoint.reparent_inode == remote);
  CHECK(repoint.reparent_to == mid);
  fs.Do(fs.pg(1).SetParent(fs.Key(), remote, mid));
  CHECK(fs.Attr(remote).parent == mid);
}

TEST_CASE_METHOD(Fixture, "a retried request replays its reply with an empty batch",
                 "[namespace]") {
  const RequestKey key = fs.Key();
  auto first = fs.pg(0).Create(kAlice, key, kRootInode, "once", FileType::kRegular, 0600, true, "");
  REQUIRE(first.ok());
  REQUIRE(fs.store().Apply(first->batch).ok());
  auto retry = fs.pg(0).Create(kAlice, key, kRootInode, "once", FileType::kRegular, 0600, true, "");
  REQUIRE(retry.ok());
  CHECK(retry->replayed);
  CHECK(retry->batch.empty());
  CHECK(retry->reply == first->reply);

  const RequestKey unlink_key = fs.Key();
  const auto unlinked = fs.Do(fs.pg(0).Unlink(kAlice, unlink_key, kRootInode, "once"));
  auto unlink_retry = fs.pg(0).Unlink(kAlice, unlink_key, kRootInode, "once");
  REQUIRE(unlink_retry.ok());
  CHECK(unlink_retry->replayed);
  CHECK(unlink_retry->reply == unlinked);

  // Trimmed after ten minutes: the retry then runs again (and fails: the name is gone).
  fs.clock.Advance(std::chrono::minutes(11));
  auto trim = fs.pg(0).TrimDedup(fs.pg(0).NowNs() - int64_t{600} * 1'000'000'000);
  REQUIRE(trim.ok());
  CHECK(trim->deletes.size() >= 2);
  REQUIRE(fs.store().Apply(*trim).ok());
  CHECK(Fs::Fails(fs.pg(0).Unlink(kAlice, unlink_key, kRootInode, "once")) == ErrorCode::kNotFound);
  CHECK(fs.pg(0).TrimDedup(fs.pg(0).NowNs() - 1)->empty());

  // With a cursor, each call looks at a bounded slice and resumes after it.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(fs.Do(fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "c" + std::to_string(i),
                                  FileType::kRegular, 0600, true, ""))
                .created);
  }
  fs.clock.Advance(std::chrono::minutes(11));
  std::string cursor;
  size_t trimmed = 0;
  int calls = 0;
  do {
    auto slice = fs.pg(0).TrimDedup(fs.pg(0).NowNs() - int64_t{600} * 1'000'000'000, &cursor, 2);
    REQUIRE(slice.ok());
    CHECK(slice->deletes.size() <= 2);
    trimmed += slice->deletes.size();
    if (!slice->empty()) REQUIRE(fs.store().Apply(*slice).ok());
    ++calls;
  } while (!cursor.empty() && calls < 10);
  CHECK(trimmed == 5);
  CHECK(calls == 3);  // 2 + 2 + 1, the last one reaching the end
}

TEST_CASE_METHOD(Fixture, "batches apply in sequence only", "[namespace]") {
  auto m1 = fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "a", FileType::kRegular, 0600, true, "");
  REQUIRE(m1.ok());
  MetaBatch skipped = m1->batch;
  skipped.sequence += 1;
  const Status gap = fs.store().Apply(skipped);
  CHECK(gap.code() == ErrorCode::kConflict);
  CHECK(std::string(gap.message()).find("expected sequence") != std::string::npos);
  REQUIRE(fs.store().Apply(m1->batch).ok());
  CHECK(fs.store().Apply(m1->batch).code() == ErrorCode::kConflict);
  // The encoded form applies the same way on a replica.
  auto m2 = fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "b", FileType::kRegular, 0600, true, "");
  REQUIRE(m2.ok());
  auto decoded = MetaBatch::Decode(m2->batch.Encode());
  REQUIRE(decoded.ok());
  REQUIRE(fs.store().Apply(*decoded).ok());
  CHECK(fs.pg(0).Lookup(kAlice, kRootInode, "b")->inode == m2->reply.attr.inode);
  CHECK(*fs.store().LastSequence(kFs, 0) == m2->batch.sequence);
}

TEST_CASE_METHOD(Fixture, "intents are stored, listed and deleted", "[namespace]") {
  auto put = fs.pg(0).PutIntent(5, "mkdir /a");
  REQUIRE(put.ok());
  REQUIRE(fs.store().Apply(*put).ok());
  auto put2 = fs.pg(0).PutIntent(6, "rmdir /b");
  REQUIRE(fs.store().Apply(*put2).ok());
  auto listed = fs.pg(0).ListIntents();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0] == std::make_pair(uint64_t{5}, std::string("mkdir /a")));
  CHECK(fs.pg(1).ListIntents()->empty());

  auto del = fs.pg(0).DeleteIntent(5);
  REQUIRE(fs.store().Apply(*del).ok());
  auto local =
      fs.pg(0).Create(kAlice, fs.Key(), kRootInode, "x", FileType::kRegular, 0600, true, "");
  REQUIRE(local.ok());
  fs.pg(0).AttachIntentDelete(local->batch, 6);
  REQUIRE(fs.store().Apply(local->batch).ok());
  CHECK(fs.pg(0).ListIntents()->empty());
  CHECK(fs.pg(0).PutIntent(7, std::string(kMaxIntentBytes + 1, 'x')).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "the store keeps the namespace across reopen", "[namespace]") {
  const uint64_t sub = fs.Dir(kAlice, kRootInode, "d", 0755, 1);
  const uint64_t file = fs.File(kAlice, sub, "f");
  const InodeAttr before = fs.Attr(file);
  const uint64_t seq0 = *fs.store().LastSequence(kFs, 0);
  fs.Open(dir.db());
  CHECK(fs.Attr(file) == before);
  CHECK(*fs.store().LastSequence(kFs, 0) == seq0);
  CHECK(fs.pg(1).Lookup(kAlice, sub, "f")->inode == file);
  // The inode counter survived: the next file gets a new id.
  CHECK(fs.File(kAlice, sub, "g") > file);
}

TEST_CASE_METHOD(Fixture, "readdir of 100k entries resumes by cookie while entries change",
                 "[namespace][readdir]") {
  constexpr int kEntries = 100'000;
  const uint64_t dir = fs.Dir(kRoot, kRootInode, "big", 0755, 0);
  for (int i = 0; i < kEntries; ++i) fs.File(kRoot, dir, "e" + std::to_string(i));
  CHECK(fs.Attr(dir).entries == kEntries);

  std::set<std::string> removed;  // removed during the listing
  std::set<std::string> seen;
  uint64_t cookie = 0;
  uint64_t last_cookie = 0;
  int pages = 0;
  for (bool eof = false; !eof; ++pages) {
    auto page = fs.pg(0).Readdir(kRoot, dir, cookie, 1000);
    REQUIRE(page.ok());
    for (const DirEntry& e : page->entries) {
      REQUIRE(e.cookie > last_cookie);
      last_cookie = e.cookie;
      CHECK(seen.insert(e.name).second);  // no duplicates
    }
    if (!page->entries.empty()) cookie = page->entries.back().cookie;
    eof = page->eof;
    // Between pages: remove an entry already listed and one not yet listed, add two.
    for (const int index : {pages * 1000, pages * 1000 + 1500}) {
      if (index >= kEntries) continue;
      const std::string name = "e" + std::to_string(index);
      fs.Do(fs.pg(0).Unlink(kRoot, fs.Key(), dir, name));
      removed.insert(name);
    }
    fs.File(kRoot, dir, "new" + std::to_string(2 * pages));
    fs.File(kRoot, dir, "new" + std::to_string(2 * pages + 1));
  }
  CHECK(pages >= 100);
  for (int i = 0; i < kEntries; ++i) {  // every entry present throughout was listed
    const std::string name = "e" + std::to_string(i);
    if (!removed.contains(name)) REQUIRE(seen.contains(name));
  }
  for (const std::string& name : removed) {
    // listed only if it was removed after its page
    if (seen.contains(name)) CHECK(std::stoi(name.substr(1)) % 1000 == 0);
  }
  CHECK(fs.pg(0).Readdir(kRoot, dir, last_cookie, 1000)->entries.size() <= 2);
  CHECK(fs.pg(0).StatFs()->entries == fs.Attr(kRootInode).entries + fs.Attr(dir).entries);
}

}  // namespace
}  // namespace cvfs::server::meta
