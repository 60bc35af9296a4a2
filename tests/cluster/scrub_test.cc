// Scrub (issue #6): on a real 4+2 cluster of 6 cvfsd,
//   - a byte flipped on disk in a data cell (cells.dat, behind the daemon's back) is found
//     by `cvfs scrub start`, reported to the stripe's primary, rewritten from the other cells,
//     and counted in `cvfs scrub status --json`; the object reads back right without a
//     degraded read, and the next pass finds nothing;
//   - a parity cell whose bytes are wrong but whose CRCs match them (silent corruption that
//     CRC cannot catch; made by rewriting the cell through CellStore::Rewrite while its
//     daemon is stopped) is found by the primary's parity check and rewritten from the data
//     cells; the parity cell read straight from the member's drive is then the parity of the
//     data.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/erasure_code.h"
#include "server/store/cell_store.h"
#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

// Offset of the only occurrence of `pattern` in `file`, or -1 (none or several).
int64_t FindUnique(const std::string& file, const std::vector<std::byte>& pattern) {
  std::ifstream in(file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string needle(reinterpret_cast<const char*>(pattern.data()), pattern.size());
  const size_t at = data.find(needle);
  if (at == std::string::npos || data.find(needle, at + 1) != std::string::npos) return -1;
  return static_cast<int64_t>(at);
}

// Flips every bit of the byte at `offset` of `file`, durably.
bool FlipByte(const std::string& file, int64_t offset) {
  const int fd = ::open(file.c_str(), O_RDWR);
  if (fd < 0) return false;
  uint8_t b = 0;
  bool ok = ::pread(fd, &b, 1, offset) == 1;
  b = static_cast<uint8_t>(~b);
  ok = ok && ::pwrite(fd, &b, 1, offset) == 1 && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// `cvfs <args> --json`, parsed; the exit code in *rc.
nlohmann::json CliJson(const TestCluster& cluster, const std::string& args, int* rc) {
  std::string out;
  *rc = cluster.RunCli(args + " --json 2>/dev/null", &out);
  auto json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  INFO("cvfs " << args << " printed: " << out);
  REQUIRE(json.is_object());
  return json;
}

uint64_t Total(const nlohmann::json& status, const char* figure) {
  return status["totals"].value(figure, uint64_t{0});
}

// The current (last) pass's figure summed over the nodes.
uint64_t LastPass(const nlohmann::json& status, const char* figure) {
  uint64_t sum = 0;
  for (const auto& n : status["nodes"]) sum += n["current"].value(figure, uint64_t{0});
  return sum;
}

server::CellStoreOptions DriveStore(const TestCluster& cluster, int node) {
  server::CellStoreOptions o;
  o.data_path = cluster.drive_path(node);
  o.index_path = cluster.drive_path(node) + "/.cvfs-index";
  return o;
}

}  // namespace

TEST_CASE("scrub finds and repairs a flipped byte and a silently wrong parity cell",
          "[scrub][fault]") {
  ClusterOptions options;
  options.nodes = 6;
  // Passes only on request; a low bandwidth limit, so the throttle visibly paces a pass
  // (each node reads ~0.35 MiB per pass: ~0.2 s at 2 MiB/s).
  constexpr uint64_t kLimit = 2ull << 20;
  options.extra_config = {"[scrub]", "bandwidth_mib = 2", "interval_s = 0"};
  auto started = StartWithFilesystem(options, "scratch", "4+2", "32K");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  TestCluster& cluster = *started->cluster;
  const FilesystemInfo& fs = started->fs;
  ObjectClient& client = *started->client;
  const uint64_t cell_bytes = fs.geometry.cell_bytes;
  const uint64_t stripe_bytes = fs.geometry.stripe_bytes();

  Random random(7);
  const uint64_t kInode = 21;
  const auto object = RandomBytes(random, stripe_bytes * 3 + 5000);
  REQUIRE(client.Write(kInode, 0, object).ok());
  const uint64_t kParityInode = 22;
  const auto parity_object = RandomBytes(random, stripe_bytes);  // one full stripe
  REQUIRE(client.Write(kParityInode, 0, parity_object).ok());

  // A clean pass first: every cell verifies, every stripe's parity matches.
  int rc = -1;
  auto clean = CliJson(cluster, "scrub start --wait", &rc);
  CHECK(rc == 0);
  CHECK(Total(clean, "errors_found") == 0);
  CHECK(Total(clean, "cells") >= 6 * 5);  // 4 stripes of inode 21 and 1 of 22, 6 cells each
  CHECK(Total(clean, "stripes_checked") == 5);
  CHECK(clean.value("unanswered", -1) == 0);
  // The throttle: no node read faster than the limit, and each pass lasted at least as long
  // as its bytes take at that rate.
  for (const auto& n : clean["nodes"]) {
    INFO(n.dump());
    CHECK(n.value("bandwidth_limit_bytes_per_s", 0ull) == kLimit);
    CHECK(n.value("rate_bytes_per_s", 1e12) <= kLimit * 1.05);
    const uint64_t read =
        n["current"].value("bytes", 0ull) + n["current"].value("parity_bytes", 0ull);
    CHECK(read > 0);
    const int64_t ms = n.value("finished_ms", int64_t{0}) - n.value("started_ms", int64_t{0});
    CHECK(ms + 5 >= static_cast<int64_t>(read * 1000 / kLimit));
  }

  SECTION("a flipped byte in a data cell") {
    // Data cell 1 of stripe 1: object bytes [stripe + cell, +cell).
    const int holder = CellHolder(cluster, fs, kInode, 1, 1);
    REQUIRE(holder >= 0);
    const uint64_t at_in_object = stripe_bytes + cell_bytes + 8192;
    const std::vector<std::byte> pattern(object.begin() + at_in_object,
                                         object.begin() + at_in_object + 64);
    const std::string file = cluster.drive_path(holder) + "/cells.dat";
    const int64_t at = FindUnique(file, pattern);
    REQUIRE(at >= 0);
    REQUIRE(FlipByte(file, at + 10));
    const uint64_t degraded_before = client.stats().degraded_reads;

    auto scrubbed = CliJson(cluster, "scrub start --wait", &rc);
    INFO(scrubbed.dump(2) << cluster.DumpLogs(15));
    CHECK(rc == 0);  // found and repaired: nothing left
    CHECK(Total(scrubbed, "errors_found") >= 1);
    CHECK(Total(scrubbed, "crc_errors") >= 1);
    CHECK(Total(scrubbed, "repaired") >= 1);
    CHECK(Total(scrubbed, "unrepaired") == 0);
    CHECK(CountInFile(cluster.log_path(holder), "scrub.crc_error") >= 1);
    CHECK(CountInFile(cluster.log_path(holder), "scrub.repaired") >= 1);
    // Reported to the stripe's primary (member 0: every member is up), which rewrote it.
    const int primary = CellHolder(cluster, fs, kInode, 1, 0);
    const std::string cell = "fs" + std::to_string(fs.id) + "/ino21/s1/c1";
    CHECK(CountInFile(cluster.log_path(primary),
                      "data.cell_reported cell=" + cell + " kind=corrupt") == 1);
    CHECK(CountInFile(cluster.log_path(primary), "data.cell_repaired cell=" + cell) == 1);

    auto status = CliJson(cluster, "scrub status", &rc);
    CHECK(rc == 0);
    CHECK(Total(status, "errors_found") >= 1);
    CHECK(Total(status, "repaired") >= 1);

    // Read straight from the members: the repaired cell verifies (no degraded read).
    std::vector<std::byte> got(object.size());
    REQUIRE(client.Read(kInode, 0, got).ok());
    CHECK(FirstDifference(got, object) == -1);
    CHECK(client.stats().degraded_reads == degraded_before);
    // The next pass reads every cell again on its member: nothing left to find.
    auto again = CliJson(cluster, "scrub start --wait", &rc);
    CHECK(rc == 0);
    CHECK(LastPass(again, "errors_found") == 0);
    CHECK(LastPass(again, "cells") >= 6 * 5);
  }

  SECTION("a parity cell whose CRCs match its wrong bytes") {
    // Silent corruption CRC cannot catch: the bytes of parity cell 4 of stripe 0 change and
    // the CRCs are recomputed for them (CellStore::Rewrite, with the daemon stopped; the
    // only way to make it happen for real without a faulty disk).
    const int holder = CellHolder(cluster, fs, kParityInode, 0, 4);
    REQUIRE(holder >= 0);
    const server::CellKey key{fs.id, kParityInode, 0, 4};
    cluster.StopNode(holder);
    REQUIRE(WaitNodeExited(cluster, holder, std::chrono::seconds(20)));
    {
      auto store = server::CellStore::Open(DriveStore(cluster, holder));
      INFO(store.status().ToString());
      REQUIRE(store.ok());
      std::vector<uint8_t> bytes(cell_bytes);
      auto read = (*store)->Read(key, 0, 0, bytes);
      REQUIRE(read.ok());
      REQUIRE(read->length == cell_bytes);
      bytes[100] ^= 0x5A;
      bytes[cell_bytes - 1] ^= 0x01;
      REQUIRE((*store)->Rewrite(key, read->version, bytes).ok());
      REQUIRE((*store)->Verify(key, 0).ok());  // the CRCs agree with the wrong bytes
    }
    REQUIRE(cluster.StartNode(holder).ok());
    REQUIRE(cluster.WaitNodeUp(holder).ok());

    auto scrubbed = CliJson(cluster, "scrub start --wait", &rc);
    INFO(scrubbed.dump(2) << cluster.DumpLogs(15));
    CHECK(rc == 0);
    CHECK(Total(scrubbed, "crc_errors") == 0);
    CHECK(Total(scrubbed, "parity_errors") == 1);
    CHECK(Total(scrubbed, "errors_found") >= 1);
    CHECK(Total(scrubbed, "repaired") >= 1);
    CHECK(Total(scrubbed, "unrepaired") == 0);
    const int primary = CellHolder(cluster, fs, kParityInode, 0, 0);
    CHECK(CountInFile(cluster.log_path(primary), "scrub.parity_mismatch") == 1);

    auto again = CliJson(cluster, "scrub start --wait", &rc);
    CHECK(rc == 0);
    CHECK(LastPass(again, "errors_found") == 0);

    // Read the parity cell straight from the member's drive: it is the parity of the data.
    cluster.StopNode(holder);
    REQUIRE(WaitNodeExited(cluster, holder, std::chrono::seconds(20)));
    auto store = server::CellStore::Open(DriveStore(cluster, holder));
    REQUIRE(store.ok());
    std::vector<uint8_t> stored(cell_bytes);
    REQUIRE((*store)->Read(key, 0, 0, stored).ok());
    auto code = ErasureCode::Create(4, 2);
    REQUIRE(code.ok());
    std::vector<uint8_t> parity(2 * cell_bytes);
    const uint8_t* data[4];
    for (int k = 0; k < 4; ++k) {
      data[k] = reinterpret_cast<const uint8_t*>(parity_object.data()) + k * cell_bytes;
    }
    uint8_t* out[2] = {parity.data(), parity.data() + cell_bytes};
    REQUIRE(code->Encode(data, out, cell_bytes).ok());
    CHECK(std::memcmp(stored.data(), parity.data(), cell_bytes) == 0);
  }
}

TEST_CASE("cvfs scrub: --help, bad arguments and unknown nodes", "[scrub]") {
  ClusterOptions options;
  options.nodes = 1;
  auto cluster = TestCluster::Start(options);
  INFO((cluster.ok() ? std::string() : cluster.status().ToString()));
  REQUIRE(cluster.ok());
  std::string out;
  for (const char* help : {"scrub --help", "scrub status --help", "scrub start --help"}) {
    CHECK((*cluster)->RunCli(help, &out) == 0);
    CHECK(out.find("Usage") != std::string::npos);
  }
  CHECK((*cluster)->RunCli("scrub 2>&1", &out) == 2);
  CHECK((*cluster)->RunCli("scrub status --node nosuchnode 2>&1", &out) == 4);
  CHECK((*cluster)->RunCli("scrub start --node nosuchnode 2>&1", &out) == 4);
  // A node with no cells: a pass finds nothing, and the status says so.
  int rc = -1;
  auto status = CliJson(**cluster, "scrub start --wait", &rc);
  CHECK(rc == 0);
  CHECK(status["nodes"].size() == 1);
  CHECK(status["nodes"][0].value("pass", 0) >= 1);
  CHECK(Total(status, "errors_found") == 0);
  CHECK(Total(status, "cells") == 0);
  CHECK(status["nodes"][0].value("bandwidth_limit_bytes_per_s", 0ull) == 50ull << 20);
  // The table for people.
  std::string table;
  CHECK((*cluster)->RunCli("scrub status 2>&1", &table) == 0);
  INFO(table);
  CHECK(table.find("NODE") != std::string::npos);
  CHECK(table.find("finished") != std::string::npos);
  CHECK(table.find("0 errors found") != std::string::npos);
}
