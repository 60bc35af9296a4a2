// Records, MetaBatch encoding and MetaStore on a real RocksDB in a temp dir: key order,
// strict decoding (random bytes never crash), sequenced atomic apply, scans, reopen.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "server/meta/meta_batch.h"
#include "server/meta/meta_records.h"
#include "server/meta/meta_store.h"
#include "server/meta/mutation_reply.h"
#include "tests/unit/server/meta/meta_temp_dir.h"

namespace cvfs::server::meta {
namespace {

using testing::MetaTempDir;

std::string RandomBytes(std::mt19937_64& rng, size_t max_len) {
  std::string out(rng() % (max_len + 1), '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

MetaBatch SampleBatch(uint64_t sequence) {
  MetaBatch batch;
  batch.fs_id = 7;
  batch.pg = 3;
  batch.sequence = sequence;
  batch.puts = {{InodeKey(7, 5), "five"}, {InodeKey(7, 6), std::string(1000, 'x')}};
  batch.deletes = {InodeKey(7, 9)};
  return batch;
}

InodeAttr SampleInode() {
  InodeAttr a;
  a.inode = MakeInodeId(3, 77);
  a.type = FileType::kSymlink;
  a.mode = 0777;
  a.uid = 1000;
  a.gid = 100;
  a.nlink = 1;
  a.size = 6;
  a.atime_ns = 1;
  a.mtime_ns = 2;
  a.ctime_ns = -3;
  a.symlink_target = "target";
  return a;
}

TEST_CASE("inode ids carry their PG and keys sort numerically", "[meta_records]") {
  CHECK(MakeInodeId(0, 1) == kRootInode);
  CHECK(PgOfInode(MakeInodeId(513, 12345)) == 513);
  CHECK((MakeInodeId(513, 12345) & kMaxInodeSeq) == 12345);
  CHECK(InodeKey(1, 255) < InodeKey(1, 256));
  CHECK(InodeKey(1, uint64_t{1} << 40) > InodeKey(1, 0xffffffff));
  CHECK(CookieKey(1, 9, 3) < CookieKey(1, 9, 1000));
  CHECK(CookieKey(1, 9, 1000).starts_with(CookiePrefix(1, 9)));
  CHECK(*CookieOfKey(CookieKey(1, 9, 123456789)) == 123456789);
  CHECK(*IntentIdOfKey(IntentKey(1, 2, 99)) == 99);
  CHECK(IntentIdOfKey(InodeKey(1, 2)).status().code() == ErrorCode::kCorruption);
  CHECK(DedupKey(1, 2, 3, 4).starts_with(DedupPrefix(1, 2)));
}

TEST_CASE("DirectoryPg is stable and spreads names", "[meta_records]") {
  CHECK(DirectoryPg(1, "a", 64) == DirectoryPg(1, "a", 64));
  CHECK(DirectoryPg(1, "a", 1) == 0);
  std::vector<int> hits(16);
  for (int i = 0; i < 1600; ++i) {
    const uint32_t pg = DirectoryPg(1, "dir" + std::to_string(i), 16);
    REQUIRE(pg < 16);
    ++hits[pg];
  }
  for (int h : hits) CHECK(h > 50);
  // Pinned values: a change of the hash would move every directory of existing filesystems.
  CHECK(DirectoryPg(1, "home", 1u << 20) == 650980);
  CHECK(DirectoryPg(kRootInode, "a", 4096) == 3987);
  CHECK(DirectoryPg(MakeInodeId(7, 99), "projects", 1000) == 870);
}

TEST_CASE("records round-trip and reject garbage", "[meta_records]") {
  const InodeAttr inode = SampleInode();
  CHECK(*DecodeInode(EncodeInode(inode)) == inode);
  const DentryRecord dentry{MakeInodeId(2, 5), FileType::kDirectory, 17};
  CHECK(*DecodeDentry(EncodeDentry(dentry)) == dentry);
  const auto cookie = DecodeCookie(EncodeCookie({"name", 12, FileType::kRegular}));
  REQUIRE(cookie.ok());
  CHECK(cookie->name == "name");
  const PgMetaState state{10, 20, 30, 40};
  CHECK(*DecodePgState(EncodePgState(state)) == state);
  MutationReply reply;
  reply.attr = inode;
  reply.created = true;
  reply.freed_inode = 4;
  reply.remote_unlink_inode = 5;
  reply.remote_unlink_type = FileType::kDirectory;
  CHECK(*DecodeReply(EncodeReply(reply)) == reply);

  std::string bytes = EncodeInode(inode);
  for (size_t len = 0; len < bytes.size(); ++len) {
    CHECK(DecodeInode(bytes.substr(0, len)).status().code() == ErrorCode::kCorruption);
  }
  CHECK(DecodeInode(bytes + "x").status().code() == ErrorCode::kCorruption);
  bytes[9] = 9;  // type
  CHECK(DecodeInode(bytes).status().code() == ErrorCode::kCorruption);

  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; ++i) {
    const std::string junk = RandomBytes(rng, 128);
    (void)DecodeInode(junk);
    (void)DecodeDentry(junk);
    (void)DecodeCookie(junk);
    (void)DecodePgState(junk);
    (void)DecodeDedup(junk);
    (void)DecodeReply(junk);
  }
}

TEST_CASE("MetaBatch round-trips and rejects garbage", "[meta_batch]") {
  const MetaBatch batch = SampleBatch(12);
  const std::string bytes = batch.Encode();
  auto decoded = MetaBatch::Decode(bytes);
  REQUIRE(decoded.ok());
  CHECK(decoded->fs_id == 7);
  CHECK(decoded->pg == 3);
  CHECK(decoded->sequence == 12);
  CHECK(decoded->puts == batch.puts);
  CHECK(decoded->deletes == batch.deletes);

  for (size_t len = 0; len < bytes.size(); ++len) {
    CHECK(MetaBatch::Decode(bytes.substr(0, len)).status().code() == ErrorCode::kMalformedMessage);
  }
  CHECK(MetaBatch::Decode(bytes + "x").status().code() == ErrorCode::kMalformedMessage);
  CHECK(MetaBatch::Decode(std::string(kMaxBatchBytes + 1, '\1')).status().code() ==
        ErrorCode::kMalformedMessage);

  MetaBatch huge;
  for (size_t i = 0; i <= kMaxBatchOps; ++i) huge.deletes.push_back("k" + std::to_string(i));
  CHECK(MetaBatch::Decode(huge.Encode()).status().code() == ErrorCode::kMalformedMessage);
  CHECK(huge.CheckLimits().code() == ErrorCode::kInvalidArgument);

  std::mt19937_64 rng(2);
  for (int i = 0; i < 20000; ++i) {
    std::string junk = RandomBytes(rng, 256);
    if (i % 2 == 0 && !junk.empty()) junk[0] = 1;  // get past the format byte
    auto r = MetaBatch::Decode(junk);
    if (!r.ok()) CHECK(r.status().code() == ErrorCode::kMalformedMessage);
  }
  for (int i = 0; i < 5000; ++i) {  // corrupt one byte of a valid encoding
    std::string flipped = bytes;
    flipped[rng() % flipped.size()] = static_cast<char>(rng());
    (void)MetaBatch::Decode(flipped);
  }
}

TEST_CASE("MetaStore applies batches in sequence, atomically", "[meta_store]") {
  MetaTempDir dir;
  auto store = MetaStore::Open(dir.db());
  REQUIRE(store.ok());
  MetaStore& s = **store;
  CHECK(*s.LastSequence(7, 3) == 0);

  REQUIRE(s.Apply(SampleBatch(1)).ok());
  CHECK(*s.LastSequence(7, 3) == 1);
  CHECK(*s.LastSequence(7, 4) == 0);
  CHECK(**s.Get(InodeKey(7, 5)) == "five");

  const Status gap = s.Apply(SampleBatch(3));
  CHECK(gap.code() == ErrorCode::kConflict);
  CHECK(std::string(gap.message()).find("expected sequence 2, got 3") != std::string::npos);
  CHECK(s.Apply(SampleBatch(1)).code() == ErrorCode::kConflict);

  MetaBatch second;
  second.fs_id = 7;
  second.pg = 3;
  second.sequence = 2;
  second.deletes = {InodeKey(7, 5)};
  second.puts = {{InodeKey(7, 7), "seven"}};
  REQUIRE(s.Apply(second).ok());
  CHECK(!s.Get(InodeKey(7, 5))->has_value());
  CHECK(*s.LastSequence(7, 3) == 2);

  MetaBatch bad_p = second;
  bad_p.sequence = 3;
  bad_p.deletes = {PgStateKey(7, 3)};
  CHECK(s.Apply(bad_p).code() == ErrorCode::kInvalidArgument);
  CHECK(**s.Get(InodeKey(7, 7)) == "seven");
  CHECK(*s.LastSequence(7, 3) == 2);
}

TEST_CASE("MetaStore applies consecutive batches in one write, or none of them", "[meta_store]") {
  MetaTempDir dir;
  auto store = MetaStore::Open(dir.db());
  REQUIRE(store.ok());
  MetaStore& s = **store;
  REQUIRE(s.Apply(SampleBatch(1)).ok());

  // 2..4 at once: later batches see (and override) the earlier ones' records.
  std::vector<MetaBatch> group;
  for (uint64_t seq = 2; seq <= 4; ++seq) {
    MetaBatch b;
    b.fs_id = 7;
    b.pg = 3;
    b.sequence = seq;
    b.puts = {{InodeKey(7, 100 + seq), "v" + std::to_string(seq)}, {InodeKey(7, 5), "five"}};
    if (seq == 4) b.deletes = {InodeKey(7, 102)};
    group.push_back(std::move(b));
  }
  REQUIRE(s.ApplyAll(group, /*sync=*/false).ok());
  CHECK(*s.LastSequence(7, 3) == 4);
  CHECK(!s.Get(InodeKey(7, 102))->has_value());
  CHECK(**s.Get(InodeKey(7, 103)) == "v3");
  CHECK(**s.Get(InodeKey(7, 104)) == "v4");
  REQUIRE(s.Sync().ok());

  // A gap anywhere in the group, or another PG's batch in it, applies nothing.
  std::vector<MetaBatch> gapped(2, SampleBatch(5));
  gapped[1].sequence = 7;
  gapped[1].puts = {{InodeKey(7, 200), "never"}};
  const Status gap = s.ApplyAll(gapped, true);
  CHECK(gap.code() == ErrorCode::kConflict);
  CHECK(std::string(gap.message()).find("expected sequence 6, got 7") != std::string::npos);
  std::vector<MetaBatch> mixed(2, SampleBatch(5));
  mixed[1].sequence = 6;
  mixed[1].pg = 4;
  CHECK(s.ApplyAll(mixed, true).code() == ErrorCode::kInvalidArgument);
  CHECK(*s.LastSequence(7, 3) == 4);
  CHECK(*s.LastSequence(7, 4) == 0);
  CHECK(!s.Get(InodeKey(7, 200))->has_value());
  CHECK(s.ApplyAll({}, true).ok());
}

TEST_CASE("MetaStore scans a prefix from a key, bounded", "[meta_store]") {
  MetaTempDir dir;
  auto store = MetaStore::Open(dir.db(), {.sync = false});
  REQUIRE(store.ok());
  MetaBatch batch;
  batch.fs_id = 1;
  batch.sequence = 1;
  for (uint64_t c = 3; c < 103; ++c) batch.puts.emplace_back(CookieKey(1, 50, c), "v");
  batch.puts.emplace_back(CookieKey(1, 51, 3), "other dir");
  REQUIRE((*store)->Apply(batch).ok());

  auto all = (*store)->Scan(CookiePrefix(1, 50), "", 1000);
  REQUIRE(all.ok());
  CHECK(all->size() == 100);
  auto page = (*store)->Scan(CookiePrefix(1, 50), CookieKey(1, 50, 10), 5);
  REQUIRE(page->size() == 5);
  CHECK(*CookieOfKey((*page)[0].first) == 11);
  CHECK(*CookieOfKey((*page)[4].first) == 15);
  auto tail = (*store)->Scan(CookiePrefix(1, 50), CookieKey(1, 50, 100), 50);
  CHECK(tail->size() == 2);
  auto before = (*store)->Scan(CookiePrefix(1, 50), CookiePrefix(1, 49), 1000);
  CHECK(before->size() == 100);
}

TEST_CASE("MetaStore keeps records and sequences across reopen", "[meta_store]") {
  MetaTempDir dir;
  {
    auto store = MetaStore::Open(dir.db());
    REQUIRE(store.ok());
    REQUIRE((*store)->Apply(SampleBatch(1)).ok());
    auto again = MetaStore::Open(dir.db());  // locked by the first
    CHECK(again.status().code() == ErrorCode::kIoError);
  }
  auto store = MetaStore::Open(dir.db());
  REQUIRE(store.ok());
  CHECK(*(*store)->LastSequence(7, 3) == 1);
  CHECK(**(*store)->Get(InodeKey(7, 5)) == "five");
  CHECK((*store)->Apply(SampleBatch(2)).ok());
}

}  // namespace
}  // namespace cvfs::server::meta
