#include "core/checksum.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "core/random.h"

namespace cvfs {
namespace {

// Bit-at-a-time CRC-32C (reflected 0x82F63B78, pre/post inverted): the definition the
// ISA-L-backed Crc32c must agree with.
uint32_t ReferenceCrc32c(const uint8_t* p, size_t n, uint32_t seed) {
  uint32_t crc = ~seed;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

TEST_CASE("Crc32c matches the standard check value and RFC 3720 vectors") {
  const std::string check = "123456789";
  CHECK(Crc32c(check.data(), check.size()) == 0xE3069283u);

  std::vector<uint8_t> buf(32, 0x00);
  CHECK(Crc32c(buf.data(), buf.size()) == 0x8A9136AAu);
  std::fill(buf.begin(), buf.end(), 0xFF);
  CHECK(Crc32c(buf.data(), buf.size()) == 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  CHECK(Crc32c(buf.data(), buf.size()) == 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  CHECK(Crc32c(buf.data(), buf.size()) == 0x113FDB5Cu);
}

TEST_CASE("Crc32c of nothing leaves the seed unchanged") {
  CHECK(Crc32c(nullptr, 0) == 0u);
  CHECK(Crc32c(nullptr, 0, 0xDEADBEEFu) == 0xDEADBEEFu);
}

TEST_CASE("Crc32c incremental equals one-shot at every split point") {
  Random rng(20261127);
  INFO("seed " << rng.seed());
  const std::string data = rng.Bytes(1000);
  const uint32_t whole = Crc32c(data.data(), data.size());
  CHECK(whole == ReferenceCrc32c(reinterpret_cast<const uint8_t*>(data.data()), data.size(), 0));
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Crc32c(data.data(), split);
    REQUIRE(Crc32c(data.data() + split, data.size() - split, first) == whole);
  }
  // Many small pieces, including one-byte ones.
  for (int round = 0; round < 100; ++round) {
    uint32_t crc = 0;
    size_t off = 0;
    while (off < data.size()) {
      const size_t len = std::min<size_t>(data.size() - off, rng.Range(0, 70));
      crc = Crc32c(data.data() + off, len, crc);
      off += len;
    }
    REQUIRE(crc == whole);
  }
}

TEST_CASE("Crc32c agrees with the bitwise reference on unaligned, odd-length buffers") {
  Random rng(7);
  INFO("seed " << rng.seed());
  const std::string data = rng.Bytes(70000);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  for (int i = 0; i < 300; ++i) {
    const size_t off = rng.Uniform(16);
    const size_t len = rng.OneIn(4) ? rng.Uniform(69000) : rng.Uniform(300);
    const uint32_t seed = rng.OneIn(2) ? 0 : static_cast<uint32_t>(rng.Next64());
    REQUIRE(Crc32c(p + off, len, seed) == ReferenceCrc32c(p + off, len, seed));
  }
}

TEST_CASE("Crc32c detects a single flipped bit") {
  Random rng(11);
  std::string data = rng.Bytes(4096);
  const uint32_t before = Crc32c(data.data(), data.size());
  for (size_t i = 0; i < data.size(); i += 97) {
    data[i] ^= 0x10;
    CHECK(Crc32c(data.data(), data.size()) != before);
    data[i] ^= 0x10;
  }
  CHECK(Crc32c(data.data(), data.size()) == before);
}

}  // namespace
}  // namespace cvfs
