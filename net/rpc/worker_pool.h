// WorkerPool: a fixed set of threads running queued tasks in FIFO order.
// Thread-safety: all methods are thread-safe; Stop must not be called from a worker.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cvfs::net::rpc {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t capacity);
  ~WorkerPool();  // Stop()

  // Queues `task` unless `capacity` tasks are already waiting; false when full or stopped.
  bool TrySubmit(std::function<void()> task);
  // Queues `task` regardless of capacity (completions of our own calls, whose number is
  // bounded by the calls in flight); false only when stopped.
  bool Submit(std::function<void()> task);
  // Joins the threads, then runs the still-queued tasks on the caller. Later submissions
  // are refused. Idempotent.
  void Stop();

 private:
  void Run();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace cvfs::net::rpc
