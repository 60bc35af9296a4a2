#include "core/clock.h"

#include <thread>

namespace cvfs {

Clock& Clock::System() {
  static SystemClock clock;
  return clock;
}

TimePoint SystemClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

int64_t SystemClock::WallMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SystemClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

ManualClock::ManualClock(TimePoint start, int64_t wall_start_ms)
    : now_(start), wall_start_ms_(wall_start_ms), start_(start) {}

TimePoint ManualClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

int64_t ManualClock::WallMillis() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wall_start_ms_ +
         std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_).count();
}

void ManualClock::SleepFor(Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  const TimePoint wake = now_ + d;
  advanced_.wait(lock, [&] { return now_ >= wake; });
}

void ManualClock::Advance(Duration d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }
  advanced_.notify_all();
}

int64_t MillisUntil(const Clock& clock, TimePoint deadline) {
  const auto left = deadline - clock.Now();
  if (left <= Duration::zero()) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
}

}  // namespace cvfs
