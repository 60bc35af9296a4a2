// ExtentAllocator: best fit, merging on free, rebuild from used extents, double-free refusal.
#include <catch2/catch.hpp>

#include "server/store/extent_allocator.h"

namespace cvfs::server {
namespace {

TEST_CASE("extent allocator: sequential fill, best fit, merge", "[store]") {
  ExtentAllocator a(100);
  CHECK(a.free_blocks() == 100);
  auto e1 = a.Allocate(10);
  auto e2 = a.Allocate(20);
  auto e3 = a.Allocate(5);
  REQUIRE((e1 && e2 && e3));
  CHECK(*e1 == Extent{0, 10});
  CHECK(*e2 == Extent{10, 20});
  CHECK(*e3 == Extent{30, 5});
  REQUIRE(a.Free(*e1).ok());
  REQUIRE(a.Free(*e3).ok());  // merges with the tail run [35, 100)
  CHECK(a.largest_free_blocks() == 70);
  auto small = a.Allocate(8);  // best fit: the 10-block hole, not the big tail
  REQUIRE(small);
  CHECK(small->start == 0);
  CHECK(a.Free(*small).ok());
  CHECK(a.Free(*small).code() == ErrorCode::kInternal);          // double free
  CHECK(a.Free(Extent{95, 10}).code() == ErrorCode::kInternal);  // outside
  CHECK_FALSE(a.Allocate(71));
  REQUIRE(a.Free(*e2).ok());
  CHECK(a.free_blocks() == 100);
  CHECK(a.largest_free_blocks() == 100);
}

TEST_CASE("extent allocator: rebuild from used extents", "[store]") {
  ExtentAllocator a(50);
  REQUIRE(a.Rebuild({{10, 5}, {0, 2}, {40, 10}}).ok());
  CHECK(a.free_blocks() == 33);
  CHECK(a.largest_free_blocks() == 25);
  CHECK(a.Allocate(3)->start == 2);
  CHECK(a.Free(Extent{20, 1}).code() == ErrorCode::kInternal);  // free already
  CHECK(a.Rebuild({{0, 5}, {4, 2}}).code() == ErrorCode::kCorruption);
  CHECK(a.Rebuild({{45, 6}}).code() == ErrorCode::kCorruption);
  CHECK(a.free_blocks() == 50);  // left all-free after a refused rebuild
}

}  // namespace
}  // namespace cvfs::server
