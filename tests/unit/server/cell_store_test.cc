// CellStore on real files, a real RocksDB and a real io_uring: round trips, versions,
// reopen, corruption, full drives (allocator and a real full tmpfs), concurrency.
#include <catch2/catch.hpp>

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/stripe_layout.h"
#include "server/store/cell_store.h"
#include "server/store/group_sync.h"
#include "tests/cluster/child_process.h"

namespace cvfs::server {
namespace {

namespace fs = std::filesystem;

// A temporary directory under $TMPDIR (or /tmp), removed with everything in it.
bool OnTmpfs(const std::string& path) {
  struct statfs sfs {};
  return ::statfs(path.c_str(), &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

class TempDir {
 public:
  // `on_disk`: for behaviour a tmpfs does not have (preallocation). When $TMPDIR is a tmpfs
  // (scripts/test's scratch on a machine short of disk), the directory goes to /var/tmp.
  explicit TempDir(bool on_disk = false) {
    const char* env = getenv("TMPDIR");
    const std::string tmp = env != nullptr && *env != '\0' ? env : "/tmp";
    const std::string base = on_disk && OnTmpfs(tmp) ? "/var/tmp" : "";
    auto dir = cvfs::testing::MakeTempDir("cvfs-store", base);
    REQUIRE(dir.ok());
    path_ = *dir;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A tmpfs of `size` mounted on a fresh directory; mounted() is false when mount is refused.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& size) {
    dir_ = dir_holder_.path() + "/mnt";
    fs::create_directories(dir_);
    const std::string opts = "size=" + size;
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) WARN("cannot mount a tmpfs (" << std::strerror(errno) << "): skipping");
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }

 private:
  TempDir dir_holder_;
  std::string dir_;
  bool mounted_ = false;
};

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

CellStoreOptions OptionsIn(const std::string& dir, bool direct = true) {
  CellStoreOptions o;
  o.data_path = dir + "/data";
  o.index_path = dir + "/index";
  o.allow_direct_io = direct;
  fs::create_directories(o.data_path);
  return o;
}

std::unique_ptr<CellStore> OpenOrDie(const CellStoreOptions& o) {
  auto store = CellStore::Open(o);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

CellKey Key(uint64_t inode, uint64_t stripe, uint16_t cell = 0) {
  return CellKey{1, inode, stripe, cell};
}

std::vector<uint8_t> ReadAll(CellStore& store, const CellKey& key, uint64_t version, size_t n) {
  std::vector<uint8_t> out(n, 0xEE);
  auto r = store.Read(key, version, 0, out);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return out;
}

// Runs `body` on the store opened in a forked child that then dies without closing anything
// (a crash, as far as the files are concerned). The child's exit code: body's, 2 when the
// open failed.
int ExitCodeOfChild(const CellStoreOptions& options, const std::function<int(CellStore&)>& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto store = CellStore::Open(options);
    ::_exit(store.ok() ? body(**store) : 2);
  }
  int wstatus = 0;
  if (child < 0 || ::waitpid(child, &wstatus, 0) != child || !WIFEXITED(wstatus)) return -1;
  return WEXITSTATUS(wstatus);
}

TEST_CASE("cell store: write/read round trip at random lengths and offsets", "[store]") {
  for (int mode = 0; mode < 4; ++mode) {
    const bool direct = mode % 2 == 0;
    const bool ring = mode >= 2;
    DYNAMIC_SECTION((direct ? "direct" : "buffered") << (ring ? " io_uring" : " pread/pwrite")) {
      TempDir dir;
      CellStoreOptions options = OptionsIn(dir.path(), direct);
      options.use_io_uring = ring;
      auto store = OpenOrDie(options);
      std::mt19937_64 rng(42);
      std::vector<std::vector<uint8_t>> cells;
      for (int i = 0; i < 40; ++i) {
        size_t len = rng() % (300 * 1024);
        if (i == 0) len = 0;
        if (i == 1) len = 4096;
        if (i == 2) len = 1;
        cells.push_back(RandomBytes(rng, len));
        REQUIRE(store->WritePending(Key(7, i), 3, cells.back()).ok());
        REQUIRE(store->Commit(Key(7, i), 3, i % 2 == 0).ok());
      }
      for (int round = 0; round < 400; ++round) {
        const int i = static_cast<int>(rng() % cells.size());
        const auto& want = cells[i];
        const uint64_t offset = rng() % (want.size() + 9000);
        const size_t size = rng() % 70000;
        std::vector<uint8_t> out(size, 0xAB);
        auto r = store->Read(Key(7, i), round % 2 ? 0 : 3, offset, out);
        INFO(r.status().ToString());
        REQUIRE(r.ok());
        CHECK(r->version == 3);
        CHECK(r->state == CellState::kCommitted);
        CHECK(r->length == want.size());
        for (size_t b = 0; b < size; ++b) {
          const uint8_t expect = offset + b < want.size() ? want[offset + b] : 0;
          if (out[b] != expect) {
            FAIL("cell " << i << " offset " << offset << " byte " << b);
          }
        }
      }
      // An aligned destination at an aligned offset reads in place.
      void* raw = nullptr;
      REQUIRE(::posix_memalign(&raw, 4096, 64 * 1024) == 0);
      std::span<uint8_t> aligned(static_cast<uint8_t*>(raw), 64 * 1024);
      const auto& want = cells[5];
      REQUIRE(store->Read(Key(7, 5), 0, 4096, aligned).ok());
      for (size_t b = 0; b < aligned.size(); ++b) {
        REQUIRE(aligned[b] == (4096 + b < want.size() ? want[4096 + b] : 0));
      }
      std::free(raw);
      CHECK(store->stats().direct_io == direct);
      CHECK(store->stats().cells == cells.size());
      CHECK(store->stats().pending == 0);
      CHECK(store->stats().checksum_failures == 0);
    }
  }
}

TEST_CASE("cell store: pending versions, commit drops old, abort, versions list", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  std::mt19937_64 rng(1);
  const CellKey key = Key(42, 7, 3);
  const auto v1 = RandomBytes(rng, 10000);
  const auto v2 = RandomBytes(rng, 20000);

  auto none = store->Versions(key);
  REQUIRE(none.ok());
  CHECK(none->empty());
  std::vector<uint8_t> buf(100);
  CHECK(store->Read(key, 0, 0, buf).status().code() == ErrorCode::kNotFound);

  REQUIRE(store->WritePending(key, 1, v1).ok());
  // Pending is readable by its number but not as "the committed version".
  CHECK(store->Read(key, 0, 0, buf).status().code() == ErrorCode::kNotFound);
  CHECK(ReadAll(*store, key, 1, v1.size()) == v1);
  REQUIRE(store->Commit(key, 1, true).ok());
  REQUIRE(store->Commit(key, 1, true).ok());  // idempotent

  REQUIRE(store->WritePending(key, 2, v2).ok());
  auto versions = store->Versions(key);
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 2);
  CHECK((*versions)[0].state == CellState::kPending);
  CHECK((*versions)[0].length == v2.size());
  CHECK((*versions)[1].version == 1);
  CHECK((*versions)[1].state == CellState::kCommitted);
  // Readers still see v1 as the committed content.
  CHECK(ReadAll(*store, key, 0, v1.size()) == v1);
  const uint64_t used_before = store->stats().used_bytes;

  REQUIRE(store->Commit(key, 2, false).ok());
  versions = store->Versions(key);
  REQUIRE(versions->size() == 1);
  CHECK((*versions)[0].version == 2);
  CHECK((*versions)[0].state == CellState::kCommitted);
  CHECK(ReadAll(*store, key, 0, v2.size()) == v2);
  CHECK(store->Read(key, 1, 0, buf).status().code() == ErrorCode::kNotFound);
  CHECK(store->Commit(key, 1, true).code() == ErrorCode::kNotFound);
  // v1's blocks are released (at the latest at the next synced index write).
  REQUIRE(store->WritePending(Key(1, 1), 1, RandomBytes(rng, 10)).ok());
  CHECK(store->stats().used_bytes == used_before - 12288 + 4096);

  // Abort drops a pending version, never a committed one; absent is OK.
  REQUIRE(store->WritePending(key, 3, RandomBytes(rng, 5000)).ok());
  REQUIRE(store->Abort(key, 3).ok());
  REQUIRE(store->Abort(key, 3).ok());
  REQUIRE(store->Abort(key, 2).ok());
  versions = store->Versions(key);
  REQUIRE(versions->size() == 1);
  CHECK((*versions)[0].version == 2);

  // WritePending drops older pendings; a same-version rewrite replaces the bytes.
  REQUIRE(store->WritePending(key, 4, RandomBytes(rng, 5000)).ok());
  const auto v5a = RandomBytes(rng, 6000);
  const auto v5b = RandomBytes(rng, 7000);
  REQUIRE(store->WritePending(key, 5, v5a).ok());
  REQUIRE(store->WritePending(key, 5, v5b).ok());
  versions = store->Versions(key);
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 5);
  CHECK((*versions)[0].length == v5b.size());
  CHECK((*versions)[1].version == 2);
  CHECK(ReadAll(*store, key, 5, v5b.size()) == v5b);
  CHECK(store->stats().pending == 2);  // key v5 + Key(1,1) v1
  CHECK(store->stats().cells == 3);    // key v2, v5 + Key(1,1)

  // Rewrite (repair) replaces the bytes of a stored version; absent -> kNotFound.
  const auto repaired = RandomBytes(rng, 9000);
  REQUIRE(store->Rewrite(key, 2, repaired).ok());
  CHECK(ReadAll(*store, key, 0, repaired.size()) == repaired);
  CHECK(store->Rewrite(key, 9, repaired).code() == ErrorCode::kNotFound);
}

// A prepare of a version the cell holds committed is another writer's (fault suite seed 787:
// a former primary's prepare delivered after a partition healed, same version number as the
// new primary's acknowledged write): refused, and the committed bytes stay readable.
TEST_CASE("cell store: a prepare never replaces a committed version", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  std::mt19937_64 rng(787);
  const CellKey key = Key(4, 2);
  const auto committed = RandomBytes(rng, 12000);
  REQUIRE(store->WritePending(key, 1, committed).ok());
  REQUIRE(store->Commit(key, 1, false).ok());
  const auto used = store->stats().used_bytes;
  const Status late = store->WritePending(key, 1, RandomBytes(rng, 32768));
  INFO(late.ToString());
  CHECK(late.code() == ErrorCode::kAlreadyExists);
  auto versions = store->Versions(key);
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  CHECK((*versions)[0].version == 1);
  CHECK((*versions)[0].state == CellState::kCommitted);
  CHECK((*versions)[0].length == committed.size());
  CHECK(ReadAll(*store, key, 0, committed.size()) == committed);
  CHECK(store->stats().pending == 0);
  CHECK(store->stats().used_bytes == used);  // the refused prepare's blocks were released
  // Newer versions are prepared as before, and a same-version pending retry still replaces.
  const auto v2 = RandomBytes(rng, 5000);
  REQUIRE(store->WritePending(key, 2, RandomBytes(rng, 7000)).ok());
  REQUIRE(store->WritePending(key, 2, v2).ok());
  REQUIRE(store->Commit(key, 2, true).ok());
  CHECK(ReadAll(*store, key, 0, v2.size()) == v2);
}

TEST_CASE("cell store: bad arguments", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  std::vector<uint8_t> small(10, 1);
  std::vector<uint8_t> huge(kMaxCellBytes + 1);
  CHECK(store->WritePending(Key(1, 1), 0, small).code() == ErrorCode::kInvalidArgument);
  CHECK(store->WritePending(Key(1, 1), 1, huge).code() == ErrorCode::kInvalidArgument);
  CHECK(store->Commit(Key(1, 1), 0, true).code() == ErrorCode::kInvalidArgument);
  CHECK(store->Rewrite(Key(1, 1), 0, small).code() == ErrorCode::kInvalidArgument);
  std::vector<uint8_t> out(4096);
  CHECK(store->Read(Key(1, 1), 0, kMaxCellBytes, out).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(store->stats().cells == 0);

  CellStoreOptions missing;
  missing.data_path = dir.path() + "/does-not-exist";
  missing.index_path = dir.path() + "/index2";
  CHECK(CellStore::Open(missing).status().code() == ErrorCode::kConfigError);
}

TEST_CASE("cell store: reopen keeps everything and never reuses used blocks", "[store]") {
  TempDir dir;
  const CellStoreOptions options = OptionsIn(dir.path());
  std::mt19937_64 rng(7);
  std::vector<std::vector<uint8_t>> cells;
  uint64_t used = 0;
  {
    auto store = OpenOrDie(options);
    for (int i = 0; i < 30; ++i) {
      cells.push_back(RandomBytes(rng, 1 + rng() % 200000));
      REQUIRE(store->WritePending(Key(9, i), 1, cells.back()).ok());
      if (i % 3 != 0) REQUIRE(store->Commit(Key(9, i), 1, true).ok());
    }
    // Holes in the allocation: overwrite some committed cells with new versions.
    for (int i = 1; i < 30; i += 4) {
      cells[i] = RandomBytes(rng, 1 + rng() % 100000);
      REQUIRE(store->WritePending(Key(9, i), 2, cells[i]).ok());
      REQUIRE(store->Commit(Key(9, i), 2, true).ok());
    }
    used = store->stats().used_bytes;
  }
  {
    auto store = OpenOrDie(options);
    CHECK(store->stats().used_bytes == used);
    CHECK(store->stats().cells == 30);
    CHECK(store->stats().pending == 8);  // i % 3 == 0, less 9 and 21 committed at v2
    for (int i = 30; i < 60; ++i) {
      cells.push_back(RandomBytes(rng, 1 + rng() % 200000));
      REQUIRE(store->WritePending(Key(9, i), 1, cells.back()).ok());
      REQUIRE(store->Commit(Key(9, i), 1, i % 2 == 0).ok());
    }
  }
  auto store = OpenOrDie(options);
  for (int i = 0; i < 60; ++i) {
    const uint64_t version = (i < 30 && i % 4 == 1) ? 2 : 1;
    INFO("cell " << i);
    CHECK(ReadAll(*store, Key(9, i), version, cells[i].size()) == cells[i]);
  }
  CHECK(store->stats().checksum_failures == 0);
}

TEST_CASE("cell store: a crash before commit leaves the old version committed", "[store]") {
  TempDir dir;
  const CellStoreOptions options = OptionsIn(dir.path());
  std::mt19937_64 rng(11);
  const auto old_bytes = RandomBytes(rng, 50000);
  const auto new_bytes = RandomBytes(rng, 60000);
  {
    auto store = OpenOrDie(options);
    REQUIRE(store->WritePending(Key(3, 0), 1, old_bytes).ok());
    REQUIRE(store->Commit(Key(3, 0), 1, true).ok());
  }
  // The child prepares v2 and dies without commit and without closing anything.
  REQUIRE(ExitCodeOfChild(options, [&](CellStore& store) {
            return store.WritePending(Key(3, 0), 2, new_bytes).ok() ? 0 : 3;
          }) == 0);

  auto store = OpenOrDie(options);
  auto versions = store->Versions(Key(3, 0));
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 2);
  CHECK((*versions)[0].state == CellState::kPending);
  CHECK(ReadAll(*store, Key(3, 0), 0, old_bytes.size()) == old_bytes);
  CHECK(ReadAll(*store, Key(3, 0), 2, new_bytes.size()) == new_bytes);
  // Recovery may roll either way.
  REQUIRE(store->Commit(Key(3, 0), 2, true).ok());
  CHECK(ReadAll(*store, Key(3, 0), 0, new_bytes.size()) == new_bytes);
}

// Offset of the only occurrence of `pattern` in the file, or -1.
int64_t FindUnique(const std::string& file, const std::string& pattern) {
  std::ifstream in(file, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = all.find(pattern);
  if (at == std::string::npos || all.find(pattern, at + 1) != std::string::npos) return -1;
  return static_cast<int64_t>(at);
}

TEST_CASE("cell store: ListCommitted pages through committed cells in key order", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  // Committed cells over two filesystems, inodes, stripes and cell indexes, written out of
  // order; a cell with only a pending version; a cell with a committed and a newer pending
  // version; a committed cell of length 0.
  std::vector<CellKey> committed;
  for (uint32_t fs : {2u, 1u}) {
    for (uint64_t inode : {9ull, 3ull}) {
      for (uint64_t stripe : {5ull, 0ull, 1ull}) {
        for (uint16_t cell : {uint16_t(4), uint16_t(0)}) {
          const CellKey key{fs, inode, stripe, cell};
          REQUIRE(store->WritePending(key, 2, std::vector<uint8_t>(4096 * (cell + 1), 7)).ok());
          REQUIRE(store->Commit(key, 2, false).ok());
          committed.push_back(key);
        }
      }
    }
  }
  const CellKey pending_only{1, 3, 7, 0};
  REQUIRE(store->WritePending(pending_only, 1, std::vector<uint8_t>(4096, 1)).ok());
  const CellKey with_newer{1, 9, 0, 0};
  REQUIRE(store->WritePending(with_newer, 3, std::vector<uint8_t>(100, 3)).ok());
  const CellKey empty{2, 3, 9, 2};
  REQUIRE(store->WritePending(empty, 1, {}).ok());
  REQUIRE(store->Commit(empty, 1, false).ok());
  committed.push_back(empty);
  std::sort(committed.begin(), committed.end());

  for (size_t page : {size_t(1), size_t(5), size_t(24), size_t(25), size_t(1000)}) {
    DYNAMIC_SECTION("page " << page) {
      std::vector<StoredCell> all;
      std::optional<CellKey> after;
      int pages = 0;
      for (;;) {
        auto got = store->ListCommitted(after, page);
        REQUIRE(got.ok());
        ++pages;
        REQUIRE(got->size() <= page);
        all.insert(all.end(), got->begin(), got->end());
        if (got->size() < page) break;
        after = got->back().key;
      }
      REQUIRE(all.size() == committed.size());
      for (size_t i = 0; i < all.size(); ++i) {
        INFO(DescribeCellKey(all[i].key));
        CHECK(all[i].key == committed[i]);
        CHECK(all[i].version == (all[i].key == empty ? 1u : 2u));
        CHECK(all[i].length == (all[i].key == empty ? 0u : 4096u * (all[i].key.cell_index + 1)));
      }
      CHECK(pages == static_cast<int>(committed.size() / page) + 1);
    }
  }
  CHECK(store->ListCommitted(std::nullopt, 0)->empty());
  CHECK(store->ListCommitted(committed.back(), 10)->empty());
  // A cell committed meanwhile after the page's last key shows up on the next page.
  auto first = store->ListCommitted(std::nullopt, 3);
  REQUIRE(first.ok());
  REQUIRE(store->Commit(pending_only, 1, false).ok());
  auto rest = store->ListCommitted(first->back().key, 1000);
  REQUIRE(rest.ok());
  CHECK(std::any_of(rest->begin(), rest->end(),
                    [&](const StoredCell& c) { return c.key == pending_only; }));
}

TEST_CASE("cell store: Verify checks every block of a cell", "[store]") {
  TempDir dir;
  const CellStoreOptions options = OptionsIn(dir.path());
  const CellKey key{1, 42, 7, 3};
  std::vector<uint8_t> data(6 * 4096, 0x5A);
  const std::string pattern = "cvfs-unique-verify-pattern";
  std::copy(pattern.begin(), pattern.end(), data.begin() + 5 * 4096 + 17);
  {
    auto store = OpenOrDie(options);
    REQUIRE(store->WritePending(key, 4, data).ok());
    REQUIRE(store->Commit(key, 4, true).ok());
    auto ok = store->Verify(key, 0);
    REQUIRE(ok.ok());
    CHECK(ok->version == 4);
    CHECK(ok->length == data.size());
    CHECK(store->Verify(key, 9).status().code() == ErrorCode::kNotFound);
    CHECK(store->Verify(CellKey{1, 42, 7, 4}, 0).status().code() == ErrorCode::kNotFound);
  }
  const std::string file = options.data_path + "/cells.dat";
  const int64_t at = FindUnique(file, pattern);
  REQUIRE(at >= 0);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(at);
    f.put('X');
  }
  auto store = OpenOrDie(options);
  // Only the last block is bad: a read of the first blocks passes, Verify does not.
  std::vector<uint8_t> head(4096);
  REQUIRE(store->Read(key, 0, 0, head).ok());
  auto bad = store->Verify(key, 0);
  REQUIRE(bad.status().code() == ErrorCode::kCorruption);
  CHECK(std::string(bad.status().message()) ==
        "checksum mismatch in cell fs1/ino42/s7/c3 v4 block 5");
  CHECK(store->stats().checksum_failures == 1);
  REQUIRE(store->Rewrite(key, 4, data).ok());
  CHECK(store->Verify(key, 4).ok());
}

TEST_CASE("cell store: a flipped byte on disk is reported as corruption", "[store]") {
  for (bool direct : {true, false}) {
    DYNAMIC_SECTION((direct ? "direct" : "buffered")) {
      TempDir dir;
      const CellStoreOptions options = OptionsIn(dir.path(), direct);
      const CellKey key{1, 42, 7, 3};
      std::vector<uint8_t> data(5 * 4096 + 100, 0x5A);
      const std::string pattern = "cvfs-unique-corruption-pattern";
      std::copy(pattern.begin(), pattern.end(), data.begin() + 2 * 4096 + 500);
      {
        auto store = OpenOrDie(options);
        REQUIRE(store->WritePending(Key(1, 1), 1, std::vector<uint8_t>(9000, 1)).ok());
        REQUIRE(store->WritePending(key, 5, data).ok());
        REQUIRE(store->Commit(key, 5, true).ok());
      }
      const std::string file = options.data_path + "/cells.dat";
      const int64_t at = FindUnique(file, pattern);
      REQUIRE(at >= 0);
      {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(at + 3);
        f.put('X');
      }
      auto store = OpenOrDie(options);
      std::vector<uint8_t> out(data.size());
      auto r = store->Read(key, 0, 0, out);
      REQUIRE(r.status().code() == ErrorCode::kCorruption);
      CHECK(std::string(r.status().message()) ==
            "checksum mismatch in cell fs1/ino42/s7/c3 v5 block 2");
      CHECK(store->stats().checksum_failures == 1);
      // Blocks that do not touch block 2 still read.
      std::vector<uint8_t> head(2 * 4096);
      REQUIRE(store->Read(key, 5, 0, head).ok());
      CHECK(std::all_of(head.begin(), head.end(), [](uint8_t b) { return b == 0x5A; }));
      std::vector<uint8_t> tail(4096);
      REQUIRE(store->Read(key, 0, 3 * 4096 + 10, tail).ok());
      CHECK(store->Read(key, 5, 2 * 4096 + 4000, tail).status().code() == ErrorCode::kCorruption);
      CHECK(store->stats().checksum_failures == 2);
      // Repair from parity: rewrite the version.
      REQUIRE(store->Rewrite(key, 5, data).ok());
      CHECK(ReadAll(*store, key, 0, data.size()) == data);
    }
  }
}

// Writes and commits cells Key(inode, 0..max-1) of `bytes` random bytes until a write
// fails; the bytes of every committed cell go to `cells`. Returns the failed write's status
// (OK when all `max` fitted). `after_each` runs after each committed cell.
Status FillDrive(
    CellStore& store, uint64_t inode, size_t bytes, int max, std::mt19937_64& rng,
    std::vector<std::vector<uint8_t>>* cells, const std::function<void()>& after_each = [] {}) {
  for (int i = 0; i < max; ++i) {
    auto data = RandomBytes(rng, bytes);
    Status s = store.WritePending(Key(inode, i), 1, data);
    if (!s.ok()) return s;
    REQUIRE(store.Commit(Key(inode, i), 1, i % 2 == 0).ok());
    cells->push_back(std::move(data));
    after_each();
  }
  return Status::Ok();
}

TEST_CASE("cell store: a full drive (capacity) fails with kNoSpace and keeps earlier cells",
          "[store]") {
  TempDir dir;
  CellStoreOptions options = OptionsIn(dir.path());
  options.capacity_bytes = 1 << 20;
  auto store = OpenOrDie(options);
  std::mt19937_64 rng(5);
  std::vector<std::vector<uint8_t>> cells;
  const Status last = FillDrive(*store, 2, 128 * 1024 - 1000, 20, rng, &cells);
  REQUIRE(last.code() == ErrorCode::kNoSpace);
  CHECK(cells.size() == 8);
  CHECK(std::string(last.message()) ==
        "drive " + options.data_path + " is full: 0 bytes free, cell needs 131072");
  CHECK(store->stats().no_space_errors == 1);
  CHECK(store->stats().free_bytes == 0);
  CHECK(store->Versions(Key(2, 8))->empty());
  for (size_t i = 0; i < cells.size(); ++i) {
    CHECK(ReadAll(*store, Key(2, i), 0, cells[i].size()) == cells[i]);
  }
  // A smaller cell still fits once space is released.
  REQUIRE(store->DeleteStripes(1, 2, 7).ok());
  REQUIRE(store->WritePending(Key(2, 9), 1, RandomBytes(rng, 4096)).ok());
}

TEST_CASE("cell store: a really full file system (4 MiB tmpfs) yields kNoSpace", "[store]") {
  for (bool fixed_capacity : {true, false}) {
    DYNAMIC_SECTION((fixed_capacity ? "capacity larger than the tmpfs" : "capacity from statvfs")) {
      TmpfsMount tmpfs("4m");
      if (!tmpfs.mounted()) return;
      TempDir index_dir;  // the index lives elsewhere: this test is about the data area
      CellStoreOptions options;
      options.data_path = tmpfs.dir();
      options.index_path = index_dir.path() + "/index";
      if (fixed_capacity) options.capacity_bytes = 64 << 20;
      auto store = OpenOrDie(options);
      INFO("tmpfs direct_io=" << store->stats().direct_io);
      std::mt19937_64 rng(6);
      std::vector<std::vector<uint8_t>> cells;
      const Status last = FillDrive(*store, 4, 256 * 1024, 100, rng, &cells);
      INFO(last.ToString());
      REQUIRE(last.code() == ErrorCode::kNoSpace);
      CHECK(cells.size() >= 10);
      CHECK(std::string(last.message()).find("drive " + tmpfs.dir() + " is full") == 0);
      if (fixed_capacity) {
        // The allocator had room: the kernel's ENOSPC was mapped.
        CHECK(std::string(last.message()).find("file system has no room") != std::string::npos);
      }
      CHECK(store->Versions(Key(4, cells.size()))->empty());
      for (size_t i = 0; i < cells.size(); ++i) {
        INFO("cell " << i);
        CHECK(ReadAll(*store, Key(4, i), 0, cells[i].size()) == cells[i]);
      }
      store.reset();
      store = OpenOrDie(options);
      for (size_t i = 0; i < cells.size(); ++i) {
        CHECK(ReadAll(*store, Key(4, i), 0, cells[i].size()) == cells[i]);
      }
    }
  }
}

TEST_CASE("cell store: tmpfs drive round trip (direct if the kernel allows, and buffered)",
          "[store]") {
  TmpfsMount tmpfs("64m");
  if (!tmpfs.mounted()) return;
  for (bool direct : {true, false}) {
    TempDir index_dir;
    CellStoreOptions options;
    options.data_path = tmpfs.dir() + (direct ? "/d" : "/b");
    options.index_path = tmpfs.dir() + (direct ? "/di" : "/bi");
    options.allow_direct_io = direct;
    fs::create_directories(options.data_path);
    auto store = OpenOrDie(options);
    if (!direct) CHECK_FALSE(store->stats().direct_io);
    std::mt19937_64 rng(8);
    for (int i = 0; i < 20; ++i) {
      const auto data = RandomBytes(rng, rng() % 150000);
      REQUIRE(store->WritePending(Key(5, i), 2, data).ok());
      REQUIRE(store->Commit(Key(5, i), 2, false).ok());
      CHECK(ReadAll(*store, Key(5, i), 0, data.size()) == data);
    }
  }
}

TEST_CASE("cell store: DeleteStripes drops every version from a stripe on", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  std::vector<uint8_t> data(10000, 7);
  for (uint64_t inode : {5, 6}) {
    for (uint64_t s = 0; s < 10; ++s) {
      for (uint16_t c = 0; c < 3; ++c) {
        const CellKey k{1, inode, s, c};
        REQUIRE(store->WritePending(k, 1, data).ok());
        REQUIRE(store->Commit(k, 1, true).ok());
        if (s % 2 == 0) REQUIRE(store->WritePending(k, 2, data).ok());
      }
    }
  }
  // Same inode number in another file system is untouched.
  REQUIRE(store->WritePending(CellKey{2, 5, 8, 0}, 1, data).ok());
  const uint64_t free_before = store->stats().free_bytes;
  auto dropped = store->DeleteStripes(1, 5, 4);
  REQUIRE(dropped.ok());
  CHECK(*dropped == 6 * 3 + 3 * 3);  // stripes 4..9: 6 stripes x 3 cells, +3 pending stripes
  CHECK(store->stats().free_bytes == free_before + *dropped * 12288);
  for (uint64_t s = 0; s < 10; ++s) {
    CHECK(store->Versions(CellKey{1, 5, s, 1})->empty() == (s >= 4));
    CHECK_FALSE(store->Versions(CellKey{1, 6, s, 1})->empty());
  }
  CHECK_FALSE(store->Versions(CellKey{2, 5, 8, 0})->empty());
  auto again = store->DeleteStripes(1, 5, 4);
  REQUIRE(again.ok());
  CHECK(*again == 0);
  CHECK(*store->DeleteStripes(1, 5, 0) == 4 * 3 + 2 * 3);
  CHECK(store->stats().cells == 10 * 3 + 5 * 3 + 1);
}

TEST_CASE("cell store: 8 threads write, commit and read distinct and shared cells", "[store]") {
  TempDir dir;
  auto store = OpenOrDie(OptionsIn(dir.path()));
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  // One shared cell rewritten continuously: readers must always see a whole version
  // (every byte == the version number), never a mix, and never a false corruption.
  const CellKey shared = Key(99, 0);
  REQUIRE(store->WritePending(shared, 1, std::vector<uint8_t>(64 * 1024, 1)).ok());
  REQUIRE(store->Commit(shared, 1, true).ok());
  std::thread updater([&] {
    for (uint64_t v = 2; v < 200 && !stop; ++v) {
      if (!store->WritePending(shared, v, std::vector<uint8_t>(64 * 1024, uint8_t(v))).ok() ||
          !store->Commit(shared, v, v % 2 == 0).ok()) {
        ++failures;
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 40; ++i) {
        const CellKey k = Key(1000 + t, i);
        const auto data = RandomBytes(rng, 1 + rng() % 140000);
        for (uint64_t v = 1; v <= 2; ++v) {
          if (!store->WritePending(k, v, data).ok() || !store->Commit(k, v, v == 2).ok()) {
            ++failures;
          }
        }
        std::vector<uint8_t> out(data.size());
        auto r = store->Read(k, 0, 0, out);
        if (!r.ok() || r->version != 2 || out != data) ++failures;
        std::vector<uint8_t> s(5000);
        auto rs = store->Read(shared, 0, rng() % 60000, s);
        if (!rs.ok()) {
          ++failures;
        } else {
          for (uint8_t b : s) {
            if (b != 0 && b != uint8_t(rs->version)) {
              ++failures;
              break;
            }
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  updater.join();
  CHECK(failures == 0);
  CHECK(store->stats().checksum_failures == 0);
  CHECK(store->stats().cells == 8 * 40 + 1);
}

TEST_CASE("group sync: every caller is covered by a sync that started after it, syncs shared",
          "[store]") {
  std::atomic<uint64_t> clock{0};  // logical time: caller entries and sync starts
  std::mutex mu;
  std::vector<uint64_t> sync_starts;  // guarded by mu
  GroupSync group(
      [&] {
        {
          std::lock_guard lock(mu);
          sync_starts.push_back(++clock);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return 0;
      },
      "test");
  constexpr int kThreads = 8;
  constexpr int kCalls = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        const uint64_t entered = ++clock;
        if (!group.Sync().ok()) ++failures;
        // Some sync started after `entered` and finished before Sync returned.
        std::lock_guard lock(mu);
        if (std::none_of(sync_starts.begin(), sync_starts.end(),
                         [&](uint64_t s) { return s > entered; })) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  INFO("syncs " << group.syncs());
  CHECK(group.syncs() < kThreads * kCalls / 2);  // shared, not one per call
  CHECK(group.syncs() == sync_starts.size());
}

TEST_CASE("group sync: a failed sync fails its callers and every later one", "[store]") {
  int calls = 0;
  GroupSync group([&] { return ++calls == 2 ? EIO : 0; }, "test file");
  CHECK(group.Sync().ok());
  const Status failed = group.Sync();
  CHECK(failed.code() == ErrorCode::kIoError);
  CHECK(std::string(failed.message()).find("fdatasync of test file failed") == 0);
  CHECK(group.Sync().code() == ErrorCode::kIoError);  // sticky
}

TEST_CASE("cell store: 8 concurrent writers share data syncs and survive a crash", "[store]") {
  for (bool direct : {true, false}) {
    DYNAMIC_SECTION((direct ? "direct" : "buffered")) {
      TempDir dir;
      const CellStoreOptions options = OptionsIn(dir.path(), direct);
      constexpr int kThreads = 8;
      constexpr int kCells = 30;
      auto bytes_of = [](int t, int i) {
        std::mt19937_64 rng(t * 1000 + i);
        return RandomBytes(rng, 1 + rng() % 140000);
      };
      // The child writes with 8 threads and dies without closing anything: whatever
      // WritePending/Commit(sync) acknowledged must be readable after the reopen.
      REQUIRE(ExitCodeOfChild(options, [&](CellStore& store) {
                std::atomic<int> failures{0};
                std::vector<std::thread> threads;
                for (int t = 0; t < kThreads; ++t) {
                  threads.emplace_back([&, t] {
                    for (int i = 0; i < kCells; ++i) {
                      const CellKey k = Key(500 + t, i);
                      if (!store.WritePending(k, 1, bytes_of(t, i)).ok() ||
                          !store.Commit(k, 1, i % 2 == 0).ok()) {
                        ++failures;
                      }
                    }
                    // A last synced write makes the unsynced commits before it durable too.
                    if (!store.WritePending(Key(600 + t, 0), 1, bytes_of(t, 99)).ok()) ++failures;
                  });
                }
                for (auto& th : threads) th.join();
                const CellStoreStats st = store.stats();
                if (failures != 0) return 3;
                if (st.data_syncs == 0 || st.data_syncs > st.writes) return 4;
                return 0;
              }) == 0);

      auto store = OpenOrDie(options);
      CHECK(store->stats().cells == kThreads * (kCells + 1));
      for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kCells; ++i) {
          INFO("thread " << t << " cell " << i);
          const auto want = bytes_of(t, i);
          CHECK(ReadAll(*store, Key(500 + t, i), 0, want.size()) == want);
        }
        const auto last = bytes_of(t, 99);
        CHECK(ReadAll(*store, Key(600 + t, 0), 1, last.size()) == last);
      }
      CHECK(store->stats().checksum_failures == 0);
    }
  }
}

TEST_CASE("cell store: cells.dat is preallocated in steps within the capacity", "[store]") {
  TempDir dir(/*on_disk=*/true);
  if (OnTmpfs(dir.path())) {
    WARN("no disk file system to test preallocation on (" << dir.path() << " is a tmpfs)");
    return;
  }
  CellStoreOptions options = OptionsIn(dir.path());
  options.capacity_bytes = 64 << 20;  // steps of 64 MiB / 16 = 4 MiB
  options.preallocate_bytes = 4 << 20;
  const std::string file = options.data_path + "/cells.dat";
  auto store = OpenOrDie(options);
  std::mt19937_64 rng(21);
  std::vector<std::vector<uint8_t>> cells;
  const Status last = FillDrive(*store, 8, 1 << 20, 100, rng, &cells, [&] {
    const uint64_t size = fs::file_size(file);
    const uint64_t written = cells.size() << 20;
    INFO("cells " << cells.size() << " file size " << size);
    CHECK(size >= std::min<uint64_t>(written + (2 << 20), 64 << 20));  // half a step ahead
    CHECK(size <= 64 << 20);                                           // never past capacity
    CHECK(size % (4 << 20) == 0);                                      // whole steps
  });
  REQUIRE(last.code() == ErrorCode::kNoSpace);
  CHECK(cells.size() == 64);
  CHECK(std::string(last.message()).find("drive " + options.data_path + " is full: 0 bytes") == 0);
  CHECK(fs::file_size(file) == 64 << 20);
  store.reset();
  store = OpenOrDie(options);
  for (size_t i = 0; i < cells.size(); ++i) {
    CHECK(ReadAll(*store, Key(8, i), 0, cells[i].size()) == cells[i]);
  }

  // Preallocation off: the file grows by the writes only.
  TempDir plain(/*on_disk=*/true);
  CellStoreOptions off = OptionsIn(plain.path());
  off.preallocate_bytes = 0;
  auto unallocated = OpenOrDie(off);
  REQUIRE(unallocated->WritePending(Key(8, 0), 1, cells[0]).ok());
  CHECK(fs::file_size(off.data_path + "/cells.dat") == 1 << 20);
}

TEST_CASE("cell store: the committed-entry cache stays exact under commit/rewrite/delete",
          "[store]") {
  for (size_t cache_entries : {size_t{0}, size_t{3}, size_t{1} << 18}) {
    DYNAMIC_SECTION("cache entries " << cache_entries) {
      TempDir dir;
      CellStoreOptions options = OptionsIn(dir.path());
      options.index_cache_entries = cache_entries;
      auto store = OpenOrDie(options);
      constexpr int kCells = 6;
      constexpr size_t kBytes = 20000;
      auto key_of = [](int c) { return Key(700 + c % 2, c / 2); };  // inodes 700 and 701
      std::atomic<bool> stop{false};
      std::atomic<int> failures{0};
      std::atomic<uint64_t> whole_reads{0};
      std::thread writer([&] {
        std::mt19937_64 rng(3);
        for (uint64_t v = 1; v <= 300; ++v) {
          const CellKey k = key_of(static_cast<int>(rng() % kCells));
          const std::vector<uint8_t> bytes(kBytes, static_cast<uint8_t>(v));
          if (!store->WritePending(k, v, bytes).ok() || !store->Commit(k, v, v % 2 == 0).ok()) {
            ++failures;
          }
          switch (rng() % 8) {
            case 0:  // repair: the same version's bytes again, in new blocks
              if (!store->Rewrite(k, v, bytes).ok()) ++failures;
              break;
            case 1:  // truncate one inode
              if (!store->DeleteStripes(1, k.inode, 0).ok()) ++failures;
              break;
            case 2:  // a newer pending that is aborted: the committed version stays
              if (!store->WritePending(k, v + 1000, bytes).ok() || !store->Abort(k, v + 1000).ok())
                ++failures;
              break;
            case 3:  // re-prepare of the committed version: refused, the version stays
              if (store->WritePending(k, v, bytes).code() != ErrorCode::kAlreadyExists ||
                  !store->Commit(k, v, false).ok())
                ++failures;
              break;
            default:
              break;
          }
        }
        stop = true;
      });
      std::vector<std::thread> readers;
      for (int t = 0; t < 3; ++t) {
        readers.emplace_back([&, t] {
          std::mt19937_64 rng(50 + t);
          std::vector<uint8_t> out(kBytes);
          while (!stop) {
            auto r = store->Read(key_of(static_cast<int>(rng() % kCells)), 0, 0, out);
            if (r.status().code() == ErrorCode::kNotFound) continue;
            if (!r.ok()) {
              ++failures;
              continue;
            }
            const uint8_t want = static_cast<uint8_t>(r->version);
            if (std::any_of(out.begin(), out.end(), [&](uint8_t b) { return b != want; })) {
              ++failures;
            } else {
              ++whole_reads;
            }
          }
        });
      }
      writer.join();
      for (auto& th : readers) th.join();
      CHECK(failures == 0);
      CHECK(whole_reads > 0);
      CHECK(store->stats().checksum_failures == 0);
      // Quiet now: every cell reads exactly what the index says is committed.
      for (int c = 0; c < kCells; ++c) {
        auto versions = store->Versions(key_of(c));
        REQUIRE(versions.ok());
        uint64_t committed = 0;
        for (const CellVersion& cv : *versions) {
          if (cv.state == CellState::kCommitted) committed = cv.version;
        }
        std::vector<uint8_t> out(kBytes);
        auto r = store->Read(key_of(c), 0, 0, out);
        INFO("cell " << c);
        if (committed == 0) {
          CHECK(r.status().code() == ErrorCode::kNotFound);
        } else {
          REQUIRE(r.ok());
          CHECK(r->version == committed);
        }
      }
      if (cache_entries > 0) CHECK(store->stats().index_cache_hits > 0);
    }
  }
}

TEST_CASE("cell store: a full 16 MiB tmpfs holding data and index leaves the index usable",
          "[store]") {
  TmpfsMount tmpfs("16m");
  if (!tmpfs.mounted()) return;
  CellStoreOptions options;
  options.data_path = tmpfs.dir() + "/data";
  options.index_path = tmpfs.dir() + "/index";
  fs::create_directories(options.data_path);
  auto store = OpenOrDie(options);
  // 16 MiB less the 8 MiB index reserve.
  CHECK(store->stats().capacity_bytes <= 8 << 20);
  CHECK(store->stats().capacity_bytes >= 6 << 20);
  std::mt19937_64 rng(17);
  std::vector<std::vector<uint8_t>> cells;
  const Status last = FillDrive(*store, 9, 100 * 1024, 200, rng, &cells);
  INFO(last.ToString());
  REQUIRE(last.code() == ErrorCode::kNoSpace);
  CHECK(cells.size() >= 50);
  // The index still takes writes: synced commits of new versions, truncation, new cells.
  const auto replacement = RandomBytes(rng, 1000);
  REQUIRE(store->DeleteStripes(1, 9, cells.size() - 4).ok());
  cells.resize(cells.size() - 4);
  REQUIRE(store->WritePending(Key(9, 0), 2, replacement).ok());
  REQUIRE(store->Commit(Key(9, 0), 2, true).ok());
  cells[0] = replacement;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(store->WritePending(Key(10, i), 1, replacement).ok());
    REQUIRE(store->Commit(Key(10, i), 1, true).ok());
  }
  store.reset();
  store = OpenOrDie(options);
  for (size_t i = 0; i < cells.size(); ++i) {
    INFO("cell " << i);
    CHECK(ReadAll(*store, Key(9, i), 0, cells[i].size()) == cells[i]);
  }
  CHECK(ReadAll(*store, Key(10, 2), 0, replacement.size()) == replacement);
}

}  // namespace
}  // namespace cvfs::server
