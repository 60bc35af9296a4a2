#include "core/clock.h"
#include "core/random.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

namespace cvfs {
namespace {

using namespace std::chrono_literals;

TEST_CASE("ManualClock moves only when advanced and wakes sleepers") {
  ManualClock clock;
  const TimePoint t0 = clock.Now();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(5s);
    woke = true;
  });
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(woke);
  clock.Advance(4s);
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(woke);
  clock.Advance(1s);
  sleeper.join();
  CHECK(woke);
  CHECK(clock.Now() - t0 == Duration(5s));
  CHECK(MillisUntil(clock, t0 + 6s) == 1000);
  CHECK(MillisUntil(clock, t0) == 0);
}

TEST_CASE("Random replays from its seed") {
  Random a(42), b(42), c(43);
  CHECK(a.Bytes(100) == b.Bytes(100));
  CHECK(a.Next64() != c.Next64());
  for (int i = 0; i < 1000; ++i) {
    const auto v = a.Range(-3, 3);
    CHECK(v >= -3);
    CHECK(v <= 3);
  }
}

}  // namespace
}  // namespace cvfs
