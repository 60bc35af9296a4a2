// Clock: the only way ConvergeFS code reads time or sleeps. Production uses SystemClock;
// tests use ManualClock to step time deterministically (lease expiry, deadlines).
// Thread-safety: all implementations are safe to call from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace cvfs {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for records people read.
  virtual int64_t WallMillis() const = 0;
  // Blocks the caller for `d` of this clock's time.
  virtual void SleepFor(Duration d) = 0;

  // The process-wide real clock.
  static Clock& System();
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  int64_t WallMillis() const override;
  void SleepFor(Duration d) override;
};

// A clock that moves only when Advance() is called. SleepFor blocks until another thread
// advances the clock past the wake-up time.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(Duration(1'000'000'000)),
                       int64_t wall_start_ms = 1'700'000'000'000);
  TimePoint Now() const override;
  int64_t WallMillis() const override;
  void SleepFor(Duration d) override;
  void Advance(Duration d);

 private:
  mutable std::mutex mu_;
  std::condition_variable advanced_;
  TimePoint now_;          // guarded by mu_
  int64_t wall_start_ms_;  // const after construction
  TimePoint start_;        // const after construction
};

// Remaining time until `deadline` in whole milliseconds, never negative.
int64_t MillisUntil(const Clock& clock, TimePoint deadline);

}  // namespace cvfs
