// Named crash points inside the stripe write (docs/design/datapath.md, "Fault injection"):
// a test makes a cvfsd kill itself with SIGKILL the first time a write reaches one, to check
// that recovery leaves every stripe at its old or its new content.
//
// Points, in write order: before_parity (RMW done, nothing prepared), after_parity (every
// prepare durable, no commit sent), mid_commit (committed on the primary and one member),
// after_commit (all committed, no reply sent). Metadata (server/meta): meta_mkdir_after_inode
// (a cross-PG mkdir's directory inode made, its entry not yet added).
// Configured by `[debug] crash_at` in the cvfsd config or CVFS_CRASH_AT (the environment
// wins); "" disables. Reaching the armed point logs `data.crash_point point=...` and raises
// SIGKILL (no clean-up runs, as in a power cut of the process). With the suffix ":stop"
// (e.g. "after_parity:stop") it raises SIGSTOP instead, once: the process freezes there
// until a SIGCONT, so a test can change the world (stop the members, cut the network) at
// exactly that step of a write and then let the write go on.
// Thread-safety: immutable after construction.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace cvfs::server {

enum class CrashPoint {
  kNone,
  kBeforeParity,
  kAfterParity,
  kMidCommit,
  kAfterCommit,
  kMetaMkdirAfterInode,
};

std::string_view CrashPointName(CrashPoint point);
// "" -> kNone; kConfigError naming the accepted names for anything unknown.
Result<CrashPoint> ParseCrashPoint(std::string_view name);

class CrashPoints {
 public:
  // `configured`: the config file's value; CVFS_CRASH_AT overrides it when set.
  static Result<CrashPoints> FromConfig(std::string_view configured);
  CrashPoints() = default;
  explicit CrashPoints(CrashPoint armed, bool stop = false) : armed_(armed), stop_(stop) {}

  CrashPoint armed() const { return armed_; }
  bool Armed(CrashPoint point) const { return armed_ == point && point != CrashPoint::kNone; }
  // Kills (or, with ":stop", freezes once) the process if `point` is armed; `what` names
  // the write for the log line.
  void Reach(CrashPoint point, std::string_view what) const;

 private:
  CrashPoint armed_ = CrashPoint::kNone;
  bool stop_ = false;
  // ":stop" points freeze the first write only (later ones pass).
  std::shared_ptr<std::atomic<bool>> stopped_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace cvfs::server
