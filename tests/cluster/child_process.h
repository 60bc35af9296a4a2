// ChildProcess: a process started by a test or tool, with its output in a log file.
// The destructor always kills (SIGKILL) and reaps a child that is still running, so a
// failing test never leaves daemons behind. Liveness is judged with waitpid on our own
// child, never `kill -0` (PID 1 here reaps zombies only every 1-2 s).
// Thread-safety: one owner thread; not shareable.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::testing {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::vector<std::string> env;   // extra "KEY=VALUE" entries added to the current environment
  std::string log_path;           // stdout+stderr go here (appended); empty: /dev/null
  std::string netns;              // run inside this network namespace (via `ip netns exec`)
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts the program. kIoError when fork fails; an exec failure shows as exit code 127.
  static Result<ChildProcess> Spawn(const SpawnOptions& options);

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // True while the child has not exited (reaps it if it has).
  bool Running();
  // Exit status as from waitpid, once exited.
  std::optional<int> wait_status() const { return wait_status_; }

  // Sends `signal` (no-op when not running).
  void Signal(int signal);
  // Waits up to `timeout` for exit; true if exited.
  bool WaitExit(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; always reaps.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // SIGKILL and reap: the kill -9 of a failure test.
  void Kill();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> wait_status_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
Result<uint16_t> FindFreePort();

// Last `lines` lines of a file, for printing a daemon's log when a test fails.
std::string TailFile(const std::string& path, int lines = 40);

// A fresh directory named after `prefix` under `base_dir`, or under $TMPDIR (or /tmp) when
// `base_dir` is empty; removed by the owner.
Result<std::string> MakeTempDir(const std::string& prefix, const std::string& base_dir = "");

// Runs a shell command, returning its exit code and capturing stdout (+stderr) into *out.
int RunCommand(const std::string& command, std::string* out = nullptr);

}  // namespace cvfs::testing
