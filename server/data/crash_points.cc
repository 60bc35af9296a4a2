#include "server/data/crash_points.h"

#include <csignal>
#include <cstdlib>

#include "core/logging.h"

namespace cvfs::server {

std::string_view CrashPointName(CrashPoint point) {
  switch (point) {
    case CrashPoint::kNone:
      return "";
    case CrashPoint::kBeforeParity:
      return "before_parity";
    case CrashPoint::kAfterParity:
      return "after_parity";
    case CrashPoint::kMidCommit:
      return "mid_commit";
    case CrashPoint::kAfterCommit:
      return "after_commit";
    case CrashPoint::kMetaMkdirAfterInode:
      return "meta_mkdir_after_inode";
  }
  return "";
}

Result<CrashPoint> ParseCrashPoint(std::string_view name) {
  for (CrashPoint p :
       {CrashPoint::kNone, CrashPoint::kBeforeParity, CrashPoint::kAfterParity,
        CrashPoint::kMidCommit, CrashPoint::kAfterCommit, CrashPoint::kMetaMkdirAfterInode}) {
    if (CrashPointName(p) == name) return p;
  }
  return Status::ConfigError("crash_at '" + std::string(name) +
                             "' is not one of before_parity, after_parity, mid_commit, "
                             "after_commit, meta_mkdir_after_inode");
}

Result<CrashPoints> CrashPoints::FromConfig(std::string_view configured) {
  const char* env = std::getenv("CVFS_CRASH_AT");
  std::string_view name = env != nullptr ? std::string_view(env) : configured;
  constexpr std::string_view kStop = ":stop";
  const bool stop = name.size() > kStop.size() && name.ends_with(kStop);
  if (stop) name.remove_suffix(kStop.size());
  CVFS_ASSIGN_OR_RETURN(CrashPoint point, ParseCrashPoint(name));
  if (point != CrashPoint::kNone) {
    LOG_WARN("data.crash_point_armed point={} action={} source={}", CrashPointName(point),
             stop ? "stop" : "kill", env != nullptr ? "CVFS_CRASH_AT" : "config");
  }
  return CrashPoints(point, stop);
}

void CrashPoints::Reach(CrashPoint point, std::string_view what) const {
  if (!Armed(point)) return;
  if (stop_) {
    if (stopped_->exchange(true)) return;
    LOG_ERROR("data.crash_point point={} write=\"{}\": crash_at {}, raising SIGSTOP",
              CrashPointName(point), what, CrashPointName(point));
    spdlog::default_logger()->flush();
    std::raise(SIGSTOP);
    LOG_WARN("data.crash_point_resumed point={} write=\"{}\"", CrashPointName(point), what);
    return;
  }
  // "crash_at <point>" is the phrase tests look for in the log.
  LOG_ERROR("data.crash_point point={} write=\"{}\": crash_at {}, raising SIGKILL",
            CrashPointName(point), what, CrashPointName(point));
  spdlog::default_logger()->flush();
  std::raise(SIGKILL);
}

}  // namespace cvfs::server
