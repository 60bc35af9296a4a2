// PrimaryFence: a member refuses the calls of a deposed primary (an older map epoch for the
// same PG), admits unfenced calls (epoch 0), keeps PGs apart, and a newer epoch waits for
// the older epoch's calls still running before it goes on.
#include "server/data/primary_fence.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace cvfs;
using namespace cvfs::server;
using namespace std::chrono_literals;

TEST_CASE("primary fence: an older epoch is refused once a newer one was seen", "[fence]") {
  PrimaryFence fence;
  REQUIRE(fence.Admit(1, 7, 10).ok());
  CHECK(fence.Seen(1, 7) == 10);
  REQUIRE(fence.Admit(1, 7, 10).ok());  // same epoch: the same primary again
  REQUIRE(fence.Admit(1, 7, 12).ok());
  auto old = fence.Admit(1, 7, 11);
  REQUIRE_FALSE(old.ok());
  CHECK(old.status().code() == ErrorCode::kConflict);
  CHECK(std::string(old.status().message()).find("epoch 11") != std::string::npos);
  CHECK(std::string(old.status().message()).find("epoch 12 seen") != std::string::npos);
  CHECK(fence.refused() == 1);
  CHECK(fence.Seen(1, 7) == 12);  // a refusal changes nothing
  // Other PGs and other filesystems have their own fence.
  CHECK(fence.Admit(1, 8, 11).ok());
  CHECK(fence.Admit(2, 7, 11).ok());
  // Epoch 0 is not fenced and does not raise anything.
  CHECK(fence.Admit(1, 7, 0).ok());
  CHECK(fence.Seen(1, 7) == 12);
  CHECK(fence.Seen(3, 3) == 0);
}

TEST_CASE("primary fence: a newer epoch waits for the older epoch's running calls", "[fence]") {
  PrimaryFence fence(5s);
  auto running = fence.Admit(1, 1, 4);  // a call of the old primary, mid store operation
  REQUIRE(running.ok());
  std::atomic<bool> admitted{false};
  std::thread newer([&] {
    auto ticket = fence.Admit(1, 1, 5);
    CHECK(ticket.ok());
    admitted = true;
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(admitted.load());  // still waiting for the old call
  // Meanwhile the old epoch is refused already: nothing new of it starts.
  CHECK(fence.Admit(1, 1, 4).status().code() == ErrorCode::kConflict);
  { auto done = std::move(running).value(); }  // the old call finishes
  newer.join();
  CHECK(admitted.load());
}

TEST_CASE("primary fence: a raise that cannot drain in time is unavailable, stays raised",
          "[fence]") {
  PrimaryFence fence(100ms);
  auto stuck = fence.Admit(1, 1, 4);
  REQUIRE(stuck.ok());
  auto raise = fence.Admit(1, 1, 6);
  REQUIRE_FALSE(raise.ok());
  CHECK(raise.status().code() == ErrorCode::kUnavailable);
  CHECK(fence.Seen(1, 1) == 6);
  CHECK(fence.Admit(1, 1, 5).status().code() == ErrorCode::kConflict);
  { auto done = std::move(stuck).value(); }
  CHECK(fence.Admit(1, 1, 6).ok());  // the retry goes through once the old call is done
}
