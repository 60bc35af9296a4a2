// PrimaryFence: a member refuses the calls of a deposed primary (another node took the PG
// over at a newer map epoch), admits the holder's own calls across map changes, admits
// unfenced calls (epoch 0), keeps PGs apart, and a takeover waits for the previous
// holder's calls still running.
#include "server/data/primary_fence.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace cvfs;
using namespace cvfs::server;
using namespace std::chrono_literals;

TEST_CASE("primary fence: a deposed primary is refused once another node took over", "[fence]") {
  PrimaryFence fence;
  REQUIRE(fence.Admit(1, 7, 10, "n1").ok());
  CHECK(fence.Holder(1, 7) == "n1");
  // The holder's own calls pass across map changes, older epochs included (a write it began
  // before the map changed): they are its own.
  REQUIRE(fence.Admit(1, 7, 12, "n1").ok());
  REQUIRE(fence.Admit(1, 7, 11, "n1").ok());
  CHECK(fence.Seen(1, 7) == 12);
  // Another node with an epoch no newer than seen is not a takeover: refused.
  auto stale = fence.Admit(1, 7, 12, "n2");
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.status().code() == ErrorCode::kConflict);
  // n2 takes over at epoch 13; n1's late calls are refused, whatever their epoch <= 13.
  REQUIRE(fence.Admit(1, 7, 13, "n2").ok());
  CHECK(fence.Holder(1, 7) == "n2");
  auto late = fence.Admit(1, 7, 12, "n1");
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().code() == ErrorCode::kConflict);
  CHECK(std::string(late.status().message()).find("superseded by n2") != std::string::npos);
  CHECK(fence.Admit(1, 7, 13, "n1").status().code() == ErrorCode::kConflict);
  // n1 comes back as primary at epoch 15: a takeover again; its calls from before it was
  // deposed (epoch 12) stay refused, its new ones pass.
  REQUIRE(fence.Admit(1, 7, 15, "n1").ok());
  CHECK(fence.Admit(1, 7, 12, "n1").status().code() == ErrorCode::kConflict);
  CHECK(fence.Admit(1, 7, 15, "n1").ok());
  CHECK(fence.Admit(1, 7, 14, "n2").status().code() == ErrorCode::kConflict);
  CHECK(fence.refused() == 5);
  // Other PGs and other filesystems have their own fence.
  CHECK(fence.Admit(1, 8, 11, "n2").ok());
  CHECK(fence.Admit(2, 7, 11, "n2").ok());
  // Epoch 0 is not fenced and changes nothing.
  CHECK(fence.Admit(1, 7, 0, "n9").ok());
  CHECK(fence.Holder(1, 7) == "n1");
  CHECK(fence.Seen(3, 3) == 0);
}

TEST_CASE("primary fence: a takeover waits for the previous holder's running calls", "[fence]") {
  PrimaryFence fence(5s);
  auto running = fence.Admit(1, 1, 4, "n1");  // the old primary, mid store operation
  REQUIRE(running.ok());
  std::atomic<bool> admitted{false};
  std::thread newer([&] {
    auto ticket = fence.Admit(1, 1, 5, "n2");
    CHECK(ticket.ok());
    admitted = true;
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(admitted.load());  // still waiting for the old call
  // Meanwhile the old primary is refused already: nothing new of it starts.
  CHECK(fence.Admit(1, 1, 4, "n1").status().code() == ErrorCode::kConflict);
  { auto done = std::move(running).value(); }  // the old call finishes
  newer.join();
  CHECK(admitted.load());
}

TEST_CASE("primary fence: the holder's own calls never wait on each other", "[fence]") {
  PrimaryFence fence(5s);
  auto first = fence.Admit(1, 1, 4, "n1");
  REQUIRE(first.ok());
  const auto start = std::chrono::steady_clock::now();
  auto second = fence.Admit(1, 1, 9, "n1");  // a map change on the same primary
  CHECK(second.ok());
  CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("primary fence: a takeover that cannot drain in time is unavailable, stands", "[fence]") {
  PrimaryFence fence(100ms);
  auto stuck = fence.Admit(1, 1, 4, "n1");
  REQUIRE(stuck.ok());
  auto takeover = fence.Admit(1, 1, 6, "n2");
  REQUIRE_FALSE(takeover.ok());
  CHECK(takeover.status().code() == ErrorCode::kUnavailable);
  CHECK(fence.Holder(1, 1) == "n2");
  CHECK(fence.Admit(1, 1, 5, "n1").status().code() == ErrorCode::kConflict);
  { auto done = std::move(stuck).value(); }
  CHECK(fence.Admit(1, 1, 6, "n2").ok());  // the retry goes through once the old call is done
}
