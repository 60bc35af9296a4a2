// MissedMemberReporter: tells the manager which PG members a write left behind.
//
// A primary commits a write once N members prepared it. A member that was up in the map but
// did not commit (its prepare or commit failed, or its peer was held unresponsive) keeps an
// older cell of that stripe while still looking current to readers. The coordinator calls
// Note() for each such member; this reporter writes one StaleSlotRecord per slot
// (control/recovery_planner.h) through `report` (etcd, rebuild/stale/<fs>/<pg>/<index>),
// and the manager then lists the slot as resync, so no reader trusts the member until the
// PG's primary has brought it up to date (docs/design/rebuild.md).
//
// Contract: Note() never blocks on I/O (the write path calls it). Notes of one slot made
// before a report coalesce into that report; a note made after a report leads to another
// report. A failed report is retried (about once a second) until it succeeds; Stop() tries
// what is pending once more.
// Thread-safety: Note from any thread; one internal thread reports.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "control/recovery_planner.h"
#include "core/clock.h"
#include "core/node_id.h"
#include "core/status.h"

namespace cvfs::server {

struct MissedMember {
  uint32_t fs_id = 0;
  uint32_t pg = 0;
  uint16_t index = 0;
  NodeId node;
};

class MissedMemberReporter {
 public:
  using ReportFn = std::function<Status(const control::StaleSlotRecord&)>;
  MissedMemberReporter(NodeId self, Clock& clock, ReportFn report);
  ~MissedMemberReporter();  // Stop()
  MissedMemberReporter(const MissedMemberReporter&) = delete;
  MissedMemberReporter& operator=(const MissedMemberReporter&) = delete;

  void Start();
  void Stop();
  void Note(const MissedMember& member);
  uint64_t reported() const;  // records written so far

 private:
  using SlotKey = std::tuple<uint32_t, uint32_t, uint16_t>;  // fs_id, pg, index
  void Run();

  const NodeId self_;
  Clock& clock_;
  const ReportFn report_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                // mu_
  std::map<SlotKey, control::StaleSlotRecord> pending_;  // mu_
  uint64_t reported_ = 0;                                // mu_
  std::thread thread_;
};

}  // namespace cvfs::server
