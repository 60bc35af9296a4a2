#include "core/stripe_layout.h"

#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include "core/random.h"

namespace cvfs {
namespace {

TEST_CASE("ValidateStripeGeometry accepts the issue's schemes and refuses the rest") {
  CHECK(ValidateStripeGeometry({4, 2, 128 * 1024}).ok());
  CHECK(ValidateStripeGeometry({16, 4, 1 << 20}).ok());
  CHECK(ValidateStripeGeometry({2, 2, 4096}).ok());
  CHECK_FALSE(ValidateStripeGeometry({1, 2, 4096}).ok());
  CHECK_FALSE(ValidateStripeGeometry({17, 2, 4096}).ok());
  CHECK_FALSE(ValidateStripeGeometry({4, 3, 4096}).ok());
  CHECK_FALSE(ValidateStripeGeometry({4, 2, 4000}).ok());
  CHECK_FALSE(ValidateStripeGeometry({4, 2, 32u << 20}).ok());
}

TEST_CASE("ParseProtection and ParseByteSize") {
  int n = 0, p = 0;
  REQUIRE(ParseProtection("8+4", &n, &p).ok());
  CHECK(n == 8);
  CHECK(p == 4);
  for (const char* bad : {"", "4", "4+", "+2", "4+3", "x+2", "4+2+1", "40+2", "-4+2"}) {
    INFO(bad);
    CHECK(ParseProtection(bad, &n, &p).code() == ErrorCode::kInvalidArgument);
  }
  CHECK(*ParseByteSize("128K") == 128 * 1024);
  CHECK(*ParseByteSize("1m") == 1 << 20);
  CHECK(*ParseByteSize("2G") == 2ull << 30);
  CHECK(*ParseByteSize("65536") == 65536);
  for (const char* bad : {"", "K", "12Q", "1.5M", "-1", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(ParseByteSize(bad).ok());
  }
}

TEST_CASE("PlacementGroupOf is stable and spreads stripes evenly") {
  // Fixed values: changing the hash would move every stored stripe.
  CHECK(PlacementGroupOf(1, 0, 1024) == PlacementGroupOf(1, 0, 1024));
  const uint32_t pgs = 256;
  std::vector<int> counts(pgs, 0);
  for (uint64_t inode = 1; inode <= 64; ++inode) {
    for (uint64_t s = 0; s < 1024; ++s) counts[PlacementGroupOf(inode, s, pgs)]++;
  }
  const double mean = 64.0 * 1024 / pgs;
  for (int c : counts) {
    CHECK(c > mean * 0.75);
    CHECK(c < mean * 1.25);
  }
}

TEST_CASE("SplitObjectRange and SplitStripeRange cover a range exactly once, in order") {
  const StripeGeometry g{4, 2, 8192};
  Random random(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const uint64_t offset = random.Uniform(200001);
    const uint64_t length = random.Uniform(150001);
    uint64_t next = offset;
    uint64_t buffer = 0;
    for (const StripeExtent& e : SplitObjectRange(g, offset, length)) {
      REQUIRE(e.length > 0);
      REQUIRE(e.stripe * g.stripe_bytes() + e.offset_in_stripe == next);
      REQUIRE(e.offset_in_stripe + e.length <= g.stripe_bytes());
      REQUIRE(e.buffer_offset == buffer);
      uint64_t in_stripe = e.offset_in_stripe;
      for (const CellExtent& c : SplitStripeRange(g, e.offset_in_stripe, e.length)) {
        REQUIRE(c.cell_index >= 0);
        REQUIRE(c.cell_index < g.data_cells);
        REQUIRE(uint64_t(c.cell_index) * g.cell_bytes + c.offset_in_cell == in_stripe);
        REQUIRE(c.offset_in_stripe == in_stripe);
        REQUIRE(c.offset_in_cell + c.length <= g.cell_bytes);
        in_stripe += c.length;
      }
      REQUIRE(in_stripe == e.offset_in_stripe + e.length);
      next += e.length;
      buffer += e.length;
    }
    REQUIRE(next == offset + length);
  }
}

}  // namespace
}  // namespace cvfs
