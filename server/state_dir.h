// StateDir: a cvfsd's local state directory, held exclusively for the daemon's lifetime.
//
// Contract:
//   - Open() creates the directory (mode 0700) if missing and takes an exclusive,
//     non-blocking flock on `<dir>/lock`: a second cvfsd on the same directory is refused
//     with kConflict naming the holder's pid, instead of two daemons sharing local state.
//   - `<dir>/identity` records cluster and node id the first time. A later start with a
//     different cluster or node id is refused with kConfigError: a state directory (and the
//     data that will live beside it) never silently changes owner.
//   - The lock is released when the StateDir is destroyed or the process dies (the kernel
//     drops flocks of dead processes, so kill -9 never leaves a stale lock).
// Thread-safety: immutable after Open.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace cvfs::server {

class StateDir {
 public:
  static Result<std::unique_ptr<StateDir>> Open(const std::string& path, const std::string& cluster,
                                                const std::string& node_id);
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  const std::string& path() const { return path_; }
  // True when this start created the identity file (a node's first start).
  bool first_start() const { return first_start_; }

 private:
  StateDir(std::string path, int lock_fd, bool first_start)
      : path_(std::move(path)), lock_fd_(lock_fd), first_start_(first_start) {}
  std::string path_;
  int lock_fd_;
  bool first_start_;
};

}  // namespace cvfs::server
