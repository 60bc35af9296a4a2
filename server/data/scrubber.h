// Scrubber: the background verification of a cvfsd's cells (docs/design/datapath.md,
// "Scrub"). A pass walks every committed cell of every drive of this node in key order
// (CellStore::ListCommitted, by pages) and
//   - reads it whole, verifying the CRC32C of each 4 KiB block (CellStore::Verify); a
//     mismatch is reported to the stripe's primary (ReportCell, kind corrupt), which rewrites
//     the cell from the other cells; the cell is then verified again;
//   - for every stripe whose primary is this node, checks the parity: the primary reads all
//     N+P cells at the committed version, re-encodes the parity and compares
//     (StripeCoordinator::CheckParity); a parity cell that differs is rewritten from the
//     data cells.
// Reads are throttled to `bandwidth_bytes_per_s` (the cells this node reads and, for parity
// checks, the cells its members read for it). Passes start every `interval` after the end
// of the previous one, and on request (`cvfs scrub start`).
// Logs: one line per pass start and end with its figures, one line per error found.
// Thread-safety: every public method is thread-safe. The stores, coordinator, endpoint and
// peer cache must outlive the scrubber; Stop() it before they go.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/cluster_map.h"
#include "core/node_id.h"
#include "core/status.h"
#include "net/peer_cache.h"
#include "net/rpc.h"
#include "server/data/stripe_coordinator.h"
#include "server/store/cell_store.h"

namespace cvfs::server {

// Bandwidth limit: how long to wait after reading `bytes` so that reads average at most
// `bytes_per_second` (0: no limit). A pause of the reader (a long wait for a member) is not
// made up for by a burst: unused time is not banked.
class ScrubThrottle {
 public:
  ScrubThrottle(const Clock& clock, uint64_t bytes_per_second)
      : clock_(clock), rate_(bytes_per_second) {}
  Duration Charge(uint64_t bytes);

 private:
  const Clock& clock_;
  const uint64_t rate_;
  TimePoint next_{};  // when the reads so far are paid for
};

struct ScrubOptions {
  NodeId self;
  uint64_t bandwidth_bytes_per_s = 50ull << 20;  // scrub.bandwidth_mib; 0: unthrottled
  // From the end of a pass to the start of the next (and from start-up to the first pass);
  // zero: passes run only on request.
  Duration interval = std::chrono::hours(24);  // scrub.interval_s
  size_t page_cells = 256;                     // cells listed per index scan
  Duration stripe_timeout = std::chrono::seconds(30);
  Clock* clock = &Clock::System();
};

// Figures of one pass (and, summed, of every pass since the daemon started).
struct ScrubFigures {
  uint64_t cells = 0;            // cells read whole and verified
  uint64_t bytes = 0;            // bytes of those cells
  uint64_t stripes_checked = 0;  // parity checks done (stripes this node is primary of)
  uint64_t stripes_skipped = 0;  // parity checks not possible (a member down, unreadable)
  uint64_t parity_bytes = 0;     // bytes read from the members for parity checks
  uint64_t crc_errors = 0;       // cells whose CRC did not match
  uint64_t parity_errors = 0;    // parity cells that did not match the data cells
  uint64_t repaired = 0;         // errors repaired (cell verified / parity rewritten)
  uint64_t unrepaired = 0;       // errors whose repair failed (retried next pass)

  uint64_t errors_found() const { return crc_errors + parity_errors; }
  void Add(const ScrubFigures& other);
};
nlohmann::json ScrubFiguresToJson(const ScrubFigures& figures);

struct ScrubState {
  uint64_t pass = 0;  // passes started since the daemon started (the current or last one)
  bool running = false;
  int64_t started_ms = 0;       // wall clock of the current or last pass's start; 0: none yet
  int64_t finished_ms = 0;      // of the last pass's end; 0 while running or none yet
  int64_t next_pass_ms = 0;     // when the next automatic pass is due; 0: only on request
  double rate_bytes_per_s = 0;  // of the current pass (or of the last one)
  ScrubFigures current;         // the current pass (or the last one)
  ScrubFigures total;           // every pass since the daemon started
};

class Scrubber {
 public:
  // The node's stores by drive index (drives may be added while running).
  using StoresFn = std::function<std::vector<CellStore*>()>;
  Scrubber(ScrubOptions options, StoresFn stores, StripeCoordinator& coordinator,
           net::RpcEndpoint& endpoint, net::PeerCache& peers);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Starts the background thread (passes every `interval`, and on request).
  void Start();
  // Ends the current pass at the next cell and joins the thread.
  void Stop();
  // Adopts a newer map (stripe primaries and member addresses).
  void SetMap(const ClusterMap& map);
  // Asks for a pass now. Returns the number the pass will have; when a pass is running, its
  // number (it is not restarted).
  uint64_t RequestPass();

  ScrubState state() const;
  // {node, pass, running, started_ms, finished_ms, next_pass_ms, rate_bytes_per_s,
  //  bandwidth_limit_bytes_per_s, current: figures, total: figures}
  nlohmann::json StateJson() const;

  // One pass on the calling thread (the background thread's body).
  void RunPass();

 private:
  void Loop();
  void ScrubCell(CellStore& store, const StoredCell& cell, ScrubThrottle& throttle,
                 std::optional<StripeId>& last_parity_stripe);
  // ReportCell (corrupt) to the stripe's primary: this node's coordinator, or a remote call.
  Status ReportCorrupt(const ClusterMap& map, const StripeRoute& route, const StoredCell& cell);
  void Pace(ScrubThrottle& throttle, uint64_t bytes);
  void Count(const std::function<void(ScrubFigures&)>& update);
  std::shared_ptr<const ClusterMap> map() const;

  // Const after construction.
  const ScrubOptions options_;
  const StoresFn stores_;
  StripeCoordinator& coordinator_;
  net::RpcEndpoint& endpoint_;
  net::PeerCache& peers_;

  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::shared_ptr<const ClusterMap> map_;  // guarded by mu_
  ScrubState state_;                       // guarded by mu_
  bool requested_ = false;                 // guarded by mu_
  TimePoint pass_started_{};               // guarded by mu_ (options_.clock)
  TimePoint next_pass_{};                  // guarded by mu_; unset (epoch) with interval 0
  std::thread thread_;
};

}  // namespace cvfs::server
