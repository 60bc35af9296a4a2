// The stripe protocol end to end inside one process: six real endpoints with real
// CellStores and DataServices, real DataObjectClients, a map built by the test
// (tests/unit/server/datapath_cluster.h). Covers writes/reads against a reference model
// (full stripes, partial stripes, holes, unaligned ranges), degraded reads with one and two
// members down and a clear error with three, recovery of interrupted writes left on the
// members, a flipped byte caught and repaired, kNoSpace with the old content kept, truncate,
// and malformed payloads on every data-path method.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "core/erasure_code.h"
#include "net/wire/data_messages.h"
#include "net/wire/methods.h"
#include "server/data/member_service.h"
#include "tests/unit/server/datapath_cluster.h"

using namespace cvfs;
using namespace cvfs::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

// Byte-exact reference content of one object.
struct Model {
  std::vector<std::byte> bytes;
  void Write(uint64_t offset, const std::vector<std::byte>& data) {
    if (bytes.size() < offset + data.size()) bytes.resize(offset + data.size());
    std::copy(data.begin(), data.end(), bytes.begin() + offset);
  }
  std::vector<std::byte> Read(uint64_t offset, uint64_t length) const {
    std::vector<std::byte> out(length);
    for (uint64_t i = 0; i < length; ++i) {
      if (offset + i < bytes.size()) out[i] = bytes[offset + i];
    }
    return out;
  }
};

int64_t FirstDifference(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

std::vector<std::byte> ReadAll(ObjectClient& client, uint64_t inode, uint64_t offset,
                               uint64_t length) {
  std::vector<std::byte> out(length, std::byte{0xee});
  Status st = client.Read(inode, offset, out);
  INFO(st.ToString());
  REQUIRE(st.ok());
  return out;
}

std::unique_ptr<InProcessDataCluster> StartCluster(InProcessOptions options = {}) {
  auto cluster = InProcessDataCluster::Start(options);
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  return std::move(cluster).value();
}

// Sends, as the node behind `caller`, the prepare of cell `address` at `version` whose bytes
// are at `source_offset` (cell_bytes long) in the caller's registered `staging` region: what a
// primary's FanOut sends, but from a node the test chooses (a former primary) and with the
// epoch the test puts in `address`.
Status SendPrepare(net::RpcEndpoint& caller, net::RpcEndpoint& member,
                   const net::MemoryRegion& staging, const net::wire::CellAddress& address,
                   uint64_t version, uint64_t source_offset, uint32_t cell_bytes) {
  std::vector<uint32_t> crcs;
  server::BlockCrcs(static_cast<const uint8_t*>(staging.data()) + source_offset, cell_bytes, &crcs);
  net::wire::PrepareCellRequest prepare;
  prepare.cell = address;
  prepare.version = version;
  prepare.length = cell_bytes;
  prepare.block_crcs = crcs;
  prepare.source = staging.remote();
  prepare.source_offset = source_offset;
  auto peer = caller.Connect(member.address(), 5s);
  if (!peer.ok()) return peer.status();
  return caller
      .Call(*peer, net::Method::kPrepareCell, net::wire::EncodePrepareCellRequest(prepare), 5s)
      .status();
}

}  // namespace

TEST_CASE("writes and reads match a reference model", "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const uint64_t stripe = cluster->fs().geometry.stripe_bytes();
  std::mt19937_64 rng(1);
  Model model;
  const uint64_t inode = 42;
  // Whole stripes, then a partial tail, then unaligned overwrites across cells and stripes.
  auto whole = RandomBytes(rng, 3 * stripe);
  REQUIRE((*client)->Write(inode, 0, whole).ok());
  model.Write(0, whole);
  CHECK(FirstDifference(ReadAll(**client, inode, 0, 3 * stripe), model.Read(0, 3 * stripe)) == -1);
  for (int i = 0; i < 30; ++i) {
    const uint64_t offset = rng() % (5 * stripe);
    const uint64_t length = 1 + rng() % (stripe + stripe / 2);
    auto data = RandomBytes(rng, length);
    Status st = (*client)->Write(inode, offset, data);
    INFO("write " << offset << " +" << length << ": " << st.ToString());
    REQUIRE(st.ok());
    model.Write(offset, data);
    const uint64_t r_off = rng() % (6 * stripe);
    const uint64_t r_len = 1 + rng() % (2 * stripe);
    INFO("read " << r_off << " +" << r_len);
    CHECK(FirstDifference(ReadAll(**client, inode, r_off, r_len), model.Read(r_off, r_len)) == -1);
  }
  const uint64_t size = model.bytes.size() + stripe;
  CHECK(FirstDifference(ReadAll(**client, inode, 0, size), model.Read(0, size)) == -1);
  // A never-written object and a hole far out read as zeros.
  CHECK(FirstDifference(ReadAll(**client, 43, 0, 100000), std::vector<std::byte>(100000)) == -1);
  CHECK(FirstDifference(ReadAll(**client, inode, 100 * stripe, 5000),
                        std::vector<std::byte>(5000)) == -1);
  // A 10 KiB object costs its cell rounded to 4 KiB on three members, not whole cells.
  const auto stats = (*client)->stats();
  CHECK(stats.degraded_reads == 0);
  CHECK(stats.writes == 31);
  // A second client sees everything the first wrote.
  auto other = cluster->OpenClient("other");
  REQUIRE(other.ok());
  CHECK(FirstDifference(ReadAll(**other, inode, 0, size), model.Read(0, size)) == -1);
}

TEST_CASE("reads decode around one and two stopped members; three is an error", "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const uint64_t stripe = cluster->fs().geometry.stripe_bytes();
  std::mt19937_64 rng(2);
  Model model;
  auto data = RandomBytes(rng, 7 * stripe + 12345);
  REQUIRE((*client)->Write(5, 0, data).ok());
  model.Write(0, data);
  auto middle = RandomBytes(rng, stripe / 3 + 77);
  REQUIRE((*client)->Write(5, 2 * stripe + 1001, middle).ok());
  model.Write(2 * stripe + 1001, middle);
  const uint64_t size = model.bytes.size();

  // Stopped but still up in the map: the client meets a dead peer.
  cluster->StopNode(1, /*mark_down=*/false);
  CHECK(FirstDifference(ReadAll(**client, 5, 0, size), model.Read(0, size)) == -1);
  CHECK((*client)->stats().degraded_reads > 0);
  cluster->SetNodeState(1, NodeState::kDown);
  CHECK(FirstDifference(ReadAll(**client, 5, 0, size), model.Read(0, size)) == -1);
  // Writes go on with five members (the stopped one misses them).
  auto more = RandomBytes(rng, stripe + 999);
  REQUIRE((*client)->Write(5, stripe / 2, more).ok());
  model.Write(stripe / 2, more);
  cluster->StopNode(4, /*mark_down=*/true);
  CHECK(FirstDifference(ReadAll(**client, 5, 0, size), model.Read(0, size)) == -1);
  // A partial-stripe write with two members down: RMW decodes the missing old cells.
  auto small = RandomBytes(rng, 5000);
  Status st = (*client)->Write(5, 3 * stripe + 7, small);
  INFO(st.ToString());
  REQUIRE(st.ok());
  model.Write(3 * stripe + 7, small);
  CHECK(FirstDifference(ReadAll(**client, 5, 0, size), model.Read(0, size)) == -1);

  cluster->StopNode(2, /*mark_down=*/true);
  std::vector<std::byte> out(size);
  Status three = (*client)->Read(5, 0, out);
  INFO(three.ToString());
  CHECK(three.code() == ErrorCode::kUnavailable);
  Status write = (*client)->Write(5, 0, small);
  INFO(write.ToString());
  CHECK(write.code() == ErrorCode::kUnavailable);
  CHECK(write.message().find("needs 4") != std::string_view::npos);
}

TEST_CASE("interrupted writes left on members are rolled back or forward", "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const auto& geometry = cluster->fs().geometry;
  const uint64_t stripe = geometry.stripe_bytes();
  std::mt19937_64 rng(3);
  auto old_bytes = RandomBytes(rng, stripe);
  REQUIRE((*client)->Write(9, 0, old_bytes).ok());

  SECTION("a pending version on fewer than N members is rolled back, never reused") {
    // Garbage prepared as version 50 on two members (a primary died while preparing).
    std::vector<uint8_t> garbage(geometry.cell_bytes, 0xab);
    for (int cell : {0, 4}) {
      server::CellKey key{cluster->fs().id, 9, 0, static_cast<uint16_t>(cell)};
      REQUIRE(cluster->store(cluster->CellHolder(9, 0, cell)).WritePending(key, 50, garbage).ok());
    }
    // A new client and fresh coordinators (new epoch) must not trust any cache.
    cluster->SetNodeState(0, NodeState::kUp);
    CHECK(FirstDifference(ReadAll(**client, 9, 0, stripe), old_bytes) == -1);
    auto update = RandomBytes(rng, 3000);
    REQUIRE((*client)->Write(9, 100, update).ok());
    Model model;
    model.Write(0, old_bytes);
    model.Write(100, update);
    CHECK(FirstDifference(ReadAll(**client, 9, 0, stripe), model.Read(0, stripe)) == -1);
    for (int cell = 0; cell < geometry.width(); ++cell) {
      server::CellKey key{cluster->fs().id, 9, 0, static_cast<uint16_t>(cell)};
      auto versions = cluster->store(cluster->CellHolder(9, 0, cell)).Versions(key);
      REQUIRE(versions.ok());
      REQUIRE(!versions->empty());
      CHECK(versions->front().version > 50);  // 50 was skipped, not reused
      CHECK(versions->front().state == server::CellState::kCommitted);
    }
    const auto stats = cluster->service(cluster->CellHolder(9, 0, 0)).coordinator_stats();
    CHECK(stats.rolled_back >= 1);
  }

  SECTION("a version committed on one member is rolled forward everywhere") {
    // Every member holds version 60 pending (its current bytes, as a real prepare would
    // leave them) and one committed it: the primary died in the middle of the commit.
    for (int cell = 0; cell < geometry.width(); ++cell) {
      server::CellKey key{cluster->fs().id, 9, 0, static_cast<uint16_t>(cell)};
      auto& store = cluster->store(cluster->CellHolder(9, 0, cell));
      auto versions = store.Versions(key);
      REQUIRE(versions.ok());
      REQUIRE(!versions->empty());
      std::vector<uint8_t> bytes(versions->front().length);
      REQUIRE(store.Read(key, 0, 0, bytes).ok());
      REQUIRE(store.WritePending(key, 60, bytes).ok());
      if (cell == 3) REQUIRE(store.Commit(key, 60, true).ok());
    }
    cluster->SetNodeState(0, NodeState::kUp);  // new epoch: coordinators rediscover
    auto update = RandomBytes(rng, 3000);
    REQUIRE((*client)->Write(9, 5000, update).ok());
    Model model;
    model.Write(0, old_bytes);
    model.Write(5000, update);
    CHECK(FirstDifference(ReadAll(**client, 9, 0, stripe), model.Read(0, stripe)) == -1);
    for (int cell = 0; cell < geometry.width(); ++cell) {
      server::CellKey key{cluster->fs().id, 9, 0, static_cast<uint16_t>(cell)};
      auto versions = cluster->store(cluster->CellHolder(9, 0, cell)).Versions(key);
      REQUIRE(versions.ok());
      CHECK(versions->front().version == 61);  // 60 rolled forward, then the write
    }
    const auto stats = cluster->service(cluster->CellHolder(9, 0, 0)).coordinator_stats();
    CHECK(stats.rolled_forward >= 1);
  }
}

// Fault suite seed 787: a primary partitioned in the middle of a write had sent PrepareCell
// (version 1) to every member; its calls timed out, the client retried through the next
// primary, which found no version and committed its own version 1. After the heal the old
// prepares were delivered (a delayed request runs with a fresh budget) and replaced the
// committed cells with pending ones: the acknowledged stripe read as never written (zeros).
TEST_CASE("a former primary's prepare delivered late never un-commits an acknowledged stripe",
          "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const auto& geometry = cluster->fs().geometry;
  const uint64_t stripe = geometry.stripe_bytes();
  const uint32_t cell_bytes = geometry.cell_bytes;
  const uint64_t inode = 31;
  std::mt19937_64 rng(31);
  auto data = RandomBytes(rng, stripe);
  REQUIRE((*client)->Write(inode, 0, data).ok());
  server::CellKey key0{cluster->fs().id, inode, 0, 0};
  auto versions = cluster->store(cluster->CellHolder(inode, 0, 0)).Versions(key0);
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  const uint64_t version = versions->front().version;

  SECTION("the old primary's prepare of the same version is refused on every member") {
    // The old primary's staging buffer: its own cells of a write that it never committed.
    const int old_primary = cluster->CellHolder(inode, 0, 0);
    std::vector<uint8_t> staging(size_t(geometry.width()) * cell_bytes);
    for (auto& b : staging) b = static_cast<uint8_t>(rng());
    auto& caller = cluster->endpoint(old_primary);
    auto region = caller.RegisterMemory(staging.data(), staging.size());
    REQUIRE(region.ok());
    for (int k = 0; k < geometry.width(); ++k) {
      const int holder = cluster->CellHolder(inode, 0, k);
      const uint8_t* cell = staging.data() + size_t(k) * cell_bytes;
      server::CellKey key{cluster->fs().id, inode, 0, static_cast<uint16_t>(k)};
      Status st;
      if (holder == old_primary) {
        st = cluster->store(holder).WritePending(key, version, {cell, cell_bytes});
      } else {
        st = SendPrepare(caller, cluster->endpoint(holder), **region,
                         {cluster->fs().id, inode, 0, static_cast<uint16_t>(k), 0}, version,
                         uint64_t(k) * cell_bytes, cell_bytes);
      }
      INFO("cell " << k << ": " << st.ToString());
      CHECK(st.code() == ErrorCode::kAlreadyExists);
      auto now = cluster->store(holder).Versions(key);
      REQUIRE(now.ok());
      REQUIRE(!now->empty());
      CHECK(now->front().version == version);
      CHECK(now->front().state == server::CellState::kCommitted);
    }
    // Every reader still gets the acknowledged bytes, never zeros (before the fix every cell
    // was left pending only, and the stripe read as never written).
    auto fresh = cluster->OpenClient("fresh");
    REQUIRE(fresh.ok());
    const auto read = ReadAll(**fresh, inode, 0, stripe);
    const bool all_zeros =
        std::all_of(read.begin(), read.end(), [](std::byte b) { return b == std::byte{0}; });
    CHECK_FALSE(all_zeros);
    CHECK(FirstDifference(read, data) == -1);
    CHECK(FirstDifference(ReadAll(**client, inode, 0, stripe), data) == -1);
  }

  SECTION("a primary whose next version is committed on a member aborts and retries above it") {
    // Another primary committed version + 1 on one member meanwhile (this primary's cache
    // still says `version`): committing version + 1 here too would mix two writes' cells.
    const int other = cluster->CellHolder(inode, 0, 2);
    server::CellKey key2{cluster->fs().id, inode, 0, 2};
    std::vector<uint8_t> foreign(cell_bytes, 0x5c);
    REQUIRE(cluster->store(other).WritePending(key2, version + 1, foreign).ok());
    REQUIRE(cluster->store(other).Commit(key2, version + 1, true).ok());
    Model model;
    model.Write(0, data);
    auto update = RandomBytes(rng, 3000);
    Status st = (*client)->Write(inode, 100, update);
    INFO(st.ToString());
    REQUIRE(st.ok());
    model.Write(100, update);
    CHECK(FirstDifference(ReadAll(**client, inode, 0, stripe), model.Read(0, stripe)) == -1);
    for (int k = 0; k < geometry.width(); ++k) {
      server::CellKey key{cluster->fs().id, inode, 0, static_cast<uint16_t>(k)};
      auto now = cluster->store(cluster->CellHolder(inode, 0, k)).Versions(key);
      REQUIRE(now.ok());
      REQUIRE(now->size() == 1);
      CHECK(now->front().version > version + 1);
      CHECK(now->front().state == server::CellState::kCommitted);
    }
  }
}

TEST_CASE("a primary whose cached view went stale rediscovers instead of failing the write",
          "[datapath]") {
  // Fault run seed 1329: a primary's cache said the stripe was at v892 while its cells had
  // moved on under another primary, and every partial write failed its read of the old
  // cells ("only 0 of 6 cells readable") until the next map epoch.
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const auto& geometry = cluster->fs().geometry;
  const uint64_t stripe = geometry.stripe_bytes();
  const uint32_t cell_bytes = geometry.cell_bytes;
  const int n = geometry.data_cells;
  const int width = geometry.width();
  const uint64_t inode = 37;
  std::mt19937_64 rng(37);
  auto data = RandomBytes(rng, stripe);
  REQUIRE((*client)->Write(inode, 0, data).ok());  // the primary caches this version
  server::CellKey key0{cluster->fs().id, inode, 0, 0};
  auto versions = cluster->store(cluster->CellHolder(inode, 0, 0)).Versions(key0);
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  const uint64_t version = versions->front().version;

  // Another primary's whole-stripe write, committed on every member at a version above the
  // cached one; committing it drops the cached version's cells.
  std::vector<uint8_t> foreign(size_t(width) * cell_bytes);
  for (size_t i = 0; i < size_t(n) * cell_bytes; ++i) foreign[i] = static_cast<uint8_t>(rng());
  std::vector<const uint8_t*> data_cells;
  std::vector<uint8_t*> parity_cells;
  for (int k = 0; k < width; ++k) {
    if (k < n) data_cells.push_back(foreign.data() + size_t(k) * cell_bytes);
    if (k >= n) parity_cells.push_back(foreign.data() + size_t(k) * cell_bytes);
  }
  auto code = ErasureCode::Create(n, width - n);
  REQUIRE(code.ok());
  REQUIRE(code->Encode(data_cells.data(), parity_cells.data(), cell_bytes).ok());
  for (int k = 0; k < width; ++k) {
    server::CellKey key{cluster->fs().id, inode, 0, static_cast<uint16_t>(k)};
    auto& store = cluster->store(cluster->CellHolder(inode, 0, k));
    REQUIRE(
        store.WritePending(key, version + 5, {foreign.data() + size_t(k) * cell_bytes, cell_bytes})
            .ok());
    REQUIRE(store.Commit(key, version + 5, true).ok());
    auto now = store.Versions(key);
    REQUIRE(now.ok());
    REQUIRE(now->size() == 1);  // the cached version is gone from every member
  }

  // A partial write through the primary with the stale view: it must rediscover and land on
  // top of the other primary's write (before the fix: kCorruption, every time).
  Model model;
  model.Write(0, std::vector<std::byte>(
                     reinterpret_cast<const std::byte*>(foreign.data()),
                     reinterpret_cast<const std::byte*>(foreign.data()) + size_t(n) * cell_bytes));
  auto update = RandomBytes(rng, 5000);
  Status st = (*client)->Write(inode, 1234, update);
  INFO(st.ToString());
  REQUIRE(st.ok());
  model.Write(1234, update);
  CHECK(FirstDifference(ReadAll(**client, inode, 0, stripe), model.Read(0, stripe)) == -1);
  for (int k = 0; k < width; ++k) {
    server::CellKey key{cluster->fs().id, inode, 0, static_cast<uint16_t>(k)};
    auto now = cluster->store(cluster->CellHolder(inode, 0, k)).Versions(key);
    REQUIRE(now.ok());
    REQUIRE(now->size() == 1);
    CHECK(now->front().version > version + 5);
  }
}

TEST_CASE(
    "a deposed primary's late prepare and commit are refused by members that saw its "
    "successor",
    "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const auto& geometry = cluster->fs().geometry;
  const uint64_t stripe = geometry.stripe_bytes();
  const uint32_t cell_bytes = geometry.cell_bytes;
  const uint64_t inode = 41;
  std::mt19937_64 rng(41);
  auto first = RandomBytes(rng, stripe);
  REQUIRE((*client)->Write(inode, 0, first).ok());
  const uint64_t old_epoch = cluster->map().epoch.value;
  const uint32_t pg = PlacementGroupOf(inode, 0, cluster->fs().pg_count);

  // The primary is cut off: the map says it is down and a new primary takes the PG over and
  // acknowledges a write of the whole stripe.
  const int old_primary = cluster->CellHolder(inode, 0, 0);
  cluster->SetNodeState(old_primary, NodeState::kDown);
  auto second = RandomBytes(rng, stripe);
  REQUIRE((*client)->Write(inode, 0, second).ok());
  server::CellKey key1{cluster->fs().id, inode, 0, 1};
  auto versions = cluster->store(cluster->CellHolder(inode, 0, 1)).Versions(key1);
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  const uint64_t acknowledged = versions->front().version;

  // The old primary, still on its old map, delivers a write it had begun: a prepare of a
  // version above the acknowledged one (its floor was raised by earlier attempts), then the
  // commit. Without the fence the commit replaces the acknowledged version on every member.
  const uint64_t late = acknowledged + 1;
  std::vector<uint8_t> staging(size_t(geometry.width()) * cell_bytes);
  for (auto& b : staging) b = static_cast<uint8_t>(rng());
  auto& caller = cluster->endpoint(old_primary);
  auto region = caller.RegisterMemory(staging.data(), staging.size());
  REQUIRE(region.ok());
  int refused = 0;
  for (int k = 0; k < geometry.width(); ++k) {
    const int holder = cluster->CellHolder(inode, 0, k);
    if (holder == old_primary) continue;
    auto peer = caller.Connect(cluster->endpoint(holder).address(), 5s);
    REQUIRE(peer.ok());
    net::wire::CellAddress address{cluster->fs().id, inode, 0, static_cast<uint16_t>(k), 0,
                                   old_epoch,        pg};
    Status prepared = SendPrepare(caller, cluster->endpoint(holder), **region, address, late,
                                  uint64_t(k) * cell_bytes, cell_bytes);
    Status committed = caller
                           .Call(*peer, net::Method::kCommitCell,
                                 net::wire::EncodeCellVersionRequest({address, late, true}), 5s)
                           .status();
    INFO("cell " << k << ": prepare " << prepared.ToString() << ", commit "
                 << committed.ToString());
    CHECK(prepared.code() == ErrorCode::kConflict);
    CHECK(committed.code() == ErrorCode::kConflict);
    refused += prepared.code() == ErrorCode::kConflict;
    server::CellKey key{cluster->fs().id, inode, 0, static_cast<uint16_t>(k)};
    auto now = cluster->store(holder).Versions(key);
    REQUIRE(now.ok());
    REQUIRE(now->size() == 1);
    CHECK(now->front().version == acknowledged);
    CHECK(now->front().state == server::CellState::kCommitted);
  }
  CHECK(refused >= geometry.width() - 1);
  // Every reader gets the acknowledged write, not the deposed primary's bytes.
  auto fresh = cluster->OpenClient("fresh");
  REQUIRE(fresh.ok());
  CHECK(FirstDifference(ReadAll(**fresh, inode, 0, stripe), second) == -1);
}

TEST_CASE("a flipped byte is caught by CRC32C, read around, reported and repaired", "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const auto& geometry = cluster->fs().geometry;
  const uint64_t stripe = geometry.stripe_bytes();
  std::mt19937_64 rng(4);
  auto data = RandomBytes(rng, 2 * stripe);
  REQUIRE((*client)->Write(21, 0, data).ok());
  // Flip one byte of data cell 1 of stripe 1 in its member's data file.
  const uint64_t at = stripe + geometry.cell_bytes + 8192;
  const int holder = cluster->CellHolder(21, 1, 1);
  std::string found;
  uint64_t found_at = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(cluster->drive_dir(holder))) {
    if (!entry.is_regular_file() ||
        entry.path().string().find(".cvfs-index") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> file((std::istreambuf_iterator<char>(in)), {});
    auto it = std::search(file.begin(), file.end(), reinterpret_cast<const char*>(&data[at]),
                          reinterpret_cast<const char*>(&data[at]) + 4096);
    if (it != file.end()) {
      found = entry.path().string();
      found_at = static_cast<uint64_t>(it - file.begin());
    }
  }
  REQUIRE(!found.empty());
  {
    const int fd = ::open(found.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char b = 0;
    REQUIRE(::pread(fd, &b, 1, static_cast<off_t>(found_at + 100)) == 1);
    b = static_cast<char>(b ^ 0x5a);
    REQUIRE(::pwrite(fd, &b, 1, static_cast<off_t>(found_at + 100)) == 1);
    ::fsync(fd);
    ::close(fd);
  }
  CHECK(FirstDifference(ReadAll(**client, 21, 0, 2 * stripe), data) == -1);
  auto stats = (*client)->stats();
  CHECK(stats.checksum_failures >= 1);
  CHECK(stats.bad_cells_reported >= 1);
  CHECK(stats.degraded_reads >= 1);
  // The primary rewrites the cell from the others (asynchronously after the report).
  bool repaired = false;
  for (int i = 0; i < 50 && !repaired; ++i) {
    auto fresh = cluster->OpenClient("fresh");
    REQUIRE(fresh.ok());
    CHECK(FirstDifference(ReadAll(**fresh, 21, 0, 2 * stripe), data) == -1);
    repaired = (*fresh)->stats().checksum_failures == 0;
    if (!repaired) std::this_thread::sleep_for(100ms);
  }
  CHECK(repaired);
}

TEST_CASE("a full drive fails the write with kNoSpace and keeps the old content", "[datapath]") {
  InProcessOptions options;
  options.drive_capacity_bytes = 4u << 20;  // 4 MiB per drive
  auto cluster = StartCluster(options);
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  std::mt19937_64 rng(5);
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> acknowledged;
  Status failure;
  for (uint64_t inode = 1; inode < 100; ++inode) {
    auto data = RandomBytes(rng, 1 << 20);
    failure = (*client)->Write(inode, 0, data);
    if (!failure.ok()) break;
    acknowledged.emplace_back(inode, std::move(data));
  }
  INFO(failure.ToString());
  CHECK(failure.code() == ErrorCode::kNoSpace);
  REQUIRE(acknowledged.size() >= 5);
  for (const auto& [inode, data] : acknowledged) {
    CHECK(FirstDifference(ReadAll(**client, inode, 0, data.size()), data) == -1);
  }
  // Truncating frees cells; the write then fits.
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE((*client)->Truncate(acknowledged[i].first, 0, 1 << 20).ok());
  }
  auto data = RandomBytes(rng, 1 << 20);
  Status again = (*client)->Write(1000, 0, data);
  INFO(again.ToString());
  CHECK(again.ok());
}

TEST_CASE("truncate zeroes the tail and drops whole stripes", "[datapath]") {
  auto cluster = StartCluster();
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  const uint64_t stripe = cluster->fs().geometry.stripe_bytes();
  std::mt19937_64 rng(6);
  auto data = RandomBytes(rng, 4 * stripe);
  REQUIRE((*client)->Write(77, 0, data).ok());
  const uint64_t new_size = stripe + stripe / 2 + 123;
  REQUIRE((*client)->Truncate(77, new_size, 4 * stripe).ok());
  Model model;
  model.Write(0, std::vector<std::byte>(data.begin(), data.begin() + new_size));
  CHECK(FirstDifference(ReadAll(**client, 77, 0, 4 * stripe), model.Read(0, 4 * stripe)) == -1);
  // Stripes 2 and 3 are gone from every member.
  for (int cell = 0; cell < cluster->fs().geometry.width(); ++cell) {
    server::CellKey key{cluster->fs().id, 77, 3, static_cast<uint16_t>(cell)};
    auto versions = cluster->store(cluster->CellHolder(77, 3, cell)).Versions(key);
    REQUIRE(versions.ok());
    CHECK(versions->empty());
  }
  // Extending again works.
  auto more = RandomBytes(rng, 2 * stripe);
  REQUIRE((*client)->Write(77, 2 * stripe, more).ok());
  model.Write(2 * stripe, more);
  CHECK(FirstDifference(ReadAll(**client, 77, 0, 4 * stripe), model.Read(0, 4 * stripe)) == -1);
}

TEST_CASE("every data-path method answers a malformed payload with kMalformedMessage",
          "[datapath]") {
  auto cluster = StartCluster();
  auto& caller = cluster->endpoint(0);
  auto peer = caller.Connect(cluster->endpoint(1).address(), 5s);
  REQUIRE(peer.ok());
  const std::vector<std::string> payloads = {
      "", "x", std::string(7, '\0'), std::string(64, '\xff'), std::string(1000, 'A'),
      // A valid table of another message type is not this one's.
      net::wire::EncodeDeleteStripesRequest({1, 2, 3}).substr(0, 10)};
  for (auto method :
       {net::Method::kWriteStripe, net::Method::kPrepareCell, net::Method::kCommitCell,
        net::Method::kAbortCell, net::Method::kCellVersions, net::Method::kReadCell,
        net::Method::kReportCell, net::Method::kTruncateObject, net::Method::kDeleteStripes}) {
    for (const auto& payload : payloads) {
      auto reply = caller.Call(*peer, method, payload, 5s);
      INFO("method " << net::MethodId(method) << " payload size " << payload.size() << ": "
                     << reply.status().ToString());
      CHECK(reply.status().code() == ErrorCode::kMalformedMessage);
    }
  }
  // The node still serves.
  auto client = cluster->OpenClient();
  REQUIRE(client.ok());
  std::vector<std::byte> data(10000, std::byte{7});
  CHECK((*client)->Write(1, 0, data).ok());
}
