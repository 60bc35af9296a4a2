// CellStore on real files, a real RocksDB and a real io_uring: round trips, versions,
// reopen, corruption, full drives (allocator and a real full tmpfs), concurrency.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/stripe_layout.h"
#include "server/store/cell_store.h"

namespace cvfs::server {
namespace {

namespace fs = std::filesystem;

// A temporary directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cvfs-store-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
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

TEST_CASE("cell store: write/read round trip at random lengths and offsets", "[store]") {
  for (bool direct : {true, false}) {
    DYNAMIC_SECTION((direct ? "direct" : "buffered")) {
      TempDir dir;
      auto store = OpenOrDie(OptionsIn(dir.path(), direct));
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
  CHECK(store->stats().cells == 3);  // key v2, v5 + Key(1,1)

  // Rewrite (repair) replaces the bytes of a stored version; absent -> kNotFound.
  const auto repaired = RandomBytes(rng, 9000);
  REQUIRE(store->Rewrite(key, 2, repaired).ok());
  CHECK(ReadAll(*store, key, 0, repaired.size()) == repaired);
  CHECK(store->Rewrite(key, 9, repaired).code() == ErrorCode::kNotFound);
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

}  // namespace
}  // namespace cvfs::server
