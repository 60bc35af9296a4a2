#include "server/data/scrubber.h"

#include <algorithm>
#include <chrono>

#include "core/logging.h"
#include "core/stripe_routing.h"
#include "net/wire/data_messages.h"
#include "net/wire/methods.h"

namespace cvfs::server {

namespace wire = net::wire;

namespace {

// Longest single sleep of the throttle, so Stop() is seen promptly.
constexpr Duration kSleepSlice = std::chrono::milliseconds(100);

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Duration ScrubThrottle::Charge(uint64_t bytes) {
  if (rate_ == 0) return Duration::zero();
  const TimePoint now = clock_.Now();
  if (next_ < now) next_ = now;
  // bytes / rate seconds, in nanoseconds, without overflow for any cell size.
  next_ += Duration(static_cast<int64_t>(static_cast<long double>(bytes) * 1e9L / rate_));
  return next_ - now;
}

void ScrubFigures::Add(const ScrubFigures& o) {
  cells += o.cells;
  bytes += o.bytes;
  stripes_checked += o.stripes_checked;
  stripes_skipped += o.stripes_skipped;
  parity_bytes += o.parity_bytes;
  crc_errors += o.crc_errors;
  parity_errors += o.parity_errors;
  repaired += o.repaired;
  unrepaired += o.unrepaired;
}

nlohmann::json ScrubFiguresToJson(const ScrubFigures& f) {
  return {{"cells", f.cells},
          {"bytes", f.bytes},
          {"stripes_checked", f.stripes_checked},
          {"stripes_skipped", f.stripes_skipped},
          {"parity_bytes", f.parity_bytes},
          {"errors_found", f.errors_found()},
          {"crc_errors", f.crc_errors},
          {"parity_errors", f.parity_errors},
          {"repaired", f.repaired},
          {"unrepaired", f.unrepaired}};
}

Scrubber::Scrubber(ScrubOptions options, StoresFn stores, StripeCoordinator& coordinator,
                   net::RpcEndpoint& endpoint, net::PeerCache& peers)
    : options_(std::move(options)),
      stores_(std::move(stores)),
      coordinator_(coordinator),
      endpoint_(endpoint),
      peers_(peers) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  if (options_.interval > Duration::zero()) {
    next_pass_ = options_.clock->Now() + options_.interval;
    state_.next_pass_ms =
        options_.clock->WallMillis() +
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval).count();
  }
  thread_ = std::thread([this] { Loop(); });
}

void Scrubber::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scrubber::SetMap(const ClusterMap& map) {
  auto snapshot = std::make_shared<const ClusterMap>(map);
  std::lock_guard lock(mu_);
  if (map_ == nullptr || map_->epoch < map.epoch) map_ = std::move(snapshot);
}

std::shared_ptr<const ClusterMap> Scrubber::map() const {
  std::lock_guard lock(mu_);
  return map_;
}

uint64_t Scrubber::RequestPass() {
  uint64_t number = 0;
  {
    std::lock_guard lock(mu_);
    if (state_.running && !requested_) return state_.pass;
    requested_ = true;
    number = state_.pass + 1;
  }
  wake_.notify_all();
  return number;
}

ScrubState Scrubber::state() const {
  std::lock_guard lock(mu_);
  ScrubState s = state_;
  if (s.running) {
    const double elapsed = Seconds(options_.clock->Now() - pass_started_);
    s.rate_bytes_per_s =
        elapsed > 0 ? double(s.current.bytes + s.current.parity_bytes) / elapsed : 0;
  }
  return s;
}

nlohmann::json Scrubber::StateJson() const {
  const ScrubState s = state();
  return {{"node", options_.self.str()},
          {"pass", s.pass},
          {"running", s.running},
          {"started_ms", s.started_ms},
          {"finished_ms", s.finished_ms},
          {"next_pass_ms", s.next_pass_ms},
          {"rate_bytes_per_s", s.rate_bytes_per_s},
          {"bandwidth_limit_bytes_per_s", options_.bandwidth_bytes_per_s},
          {"current", ScrubFiguresToJson(s.current)},
          {"total", ScrubFiguresToJson(s.total)}};
}

void Scrubber::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool due = options_.interval > Duration::zero() && options_.clock->Now() >= next_pass_;
    if (!requested_ && !due) {
      // A request or Stop wakes it at once; the interval is measured on the clock seam, in
      // real-time waits of at most a minute (so a stepped test clock is seen soon enough).
      Duration wait = std::chrono::minutes(1);
      if (options_.interval > Duration::zero()) {
        wait = std::clamp<Duration>(next_pass_ - options_.clock->Now(),
                                    std::chrono::milliseconds(10), wait);
      }
      wake_.wait_for(lock, wait);
      continue;
    }
    lock.unlock();
    RunPass();
    lock.lock();
  }
}

void Scrubber::Count(const std::function<void(ScrubFigures&)>& update) {
  std::lock_guard lock(mu_);
  update(state_.current);
}

void Scrubber::Pace(ScrubThrottle& throttle, uint64_t bytes) {
  Duration wait = throttle.Charge(bytes);
  while (wait > Duration::zero() && !stopping_) {
    const Duration slice = std::min(wait, kSleepSlice);
    options_.clock->SleepFor(slice);
    wait -= slice;
  }
}

void Scrubber::RunPass() {
  uint64_t pass = 0;
  {
    std::lock_guard lock(mu_);
    requested_ = false;
    pass = ++state_.pass;
    state_.running = true;
    state_.started_ms = options_.clock->WallMillis();
    state_.finished_ms = 0;
    state_.next_pass_ms = 0;
    state_.current = ScrubFigures{};
    pass_started_ = options_.clock->Now();
  }
  const std::vector<CellStore*> stores = stores_();
  LOG_INFO("scrub.pass_start node={} pass={} drives={} bandwidth_bytes_per_s={}",
           options_.self.str(), pass, stores.size(), options_.bandwidth_bytes_per_s);
  ScrubThrottle throttle(*options_.clock, options_.bandwidth_bytes_per_s);
  bool interrupted = false;
  for (size_t drive = 0; drive < stores.size() && !interrupted; ++drive) {
    CellStore* store = stores[drive];
    if (store == nullptr) continue;
    std::optional<CellKey> after;
    std::optional<StripeId> last_parity_stripe;
    for (;;) {
      Result<std::vector<StoredCell>> page = store->ListCommitted(after, options_.page_cells);
      if (!page.ok()) {
        LOG_ERROR("scrub.list_failed node={} drive={} error=\"{}\"", options_.self.str(),
                  store->options().data_path, page.status().ToString());
        break;
      }
      for (const StoredCell& cell : *page) {
        if (stopping_) {
          interrupted = true;
          break;
        }
        ScrubCell(*store, cell, throttle, last_parity_stripe);
      }
      if (interrupted || page->size() < options_.page_cells) break;
      after = page->back().key;
    }
  }
  ScrubState s;
  {
    std::lock_guard lock(mu_);
    state_.running = false;
    state_.finished_ms = options_.clock->WallMillis();
    const double elapsed = Seconds(options_.clock->Now() - pass_started_);
    state_.rate_bytes_per_s =
        elapsed > 0 ? double(state_.current.bytes + state_.current.parity_bytes) / elapsed : 0;
    state_.total.Add(state_.current);
    if (options_.interval > Duration::zero()) {
      next_pass_ = options_.clock->Now() + options_.interval;
      state_.next_pass_ms =
          state_.finished_ms +
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval).count();
    }
    s = state_;
  }
  const ScrubFigures& f = s.current;
  LOG_INFO(
      "scrub.pass_end node={} pass={} interrupted={} cells={} bytes={} stripes_checked={} "
      "stripes_skipped={} parity_bytes={} crc_errors={} parity_errors={} repaired={} "
      "unrepaired={} seconds={:.1f} rate_mib_s={:.1f}",
      options_.self.str(), pass, interrupted, f.cells, f.bytes, f.stripes_checked,
      f.stripes_skipped, f.parity_bytes, f.crc_errors, f.parity_errors, f.repaired, f.unrepaired,
      (s.finished_ms - s.started_ms) / 1000.0, s.rate_bytes_per_s / (1 << 20));
}

void Scrubber::ScrubCell(CellStore& store, const StoredCell& cell, ScrubThrottle& throttle,
                         std::optional<StripeId>& last_parity_stripe) {
  Result<CellVersion> verified = store.Verify(cell.key, cell.version);
  Pace(throttle, cell.length);
  const std::shared_ptr<const ClusterMap> map = this->map();
  std::optional<StripeRoute> route;
  if (map != nullptr) {
    if (const FilesystemInfo* fs = FindFilesystemById(*map, cell.key.fs_id)) {
      auto routed = RouteStripe(*map, *fs, cell.key.inode, cell.key.stripe);
      if (routed.ok()) route = std::move(routed).value();
    }
  }
  if (verified.ok()) {
    Count([&](ScrubFigures& f) {
      ++f.cells;
      f.bytes += cell.length;
    });
  } else if (verified.status().code() == ErrorCode::kCorruption) {
    Count([&](ScrubFigures& f) {
      ++f.cells;
      ++f.crc_errors;
    });
    LOG_ERROR("scrub.crc_error node={} drive={} cell={} version={} error=\"{}\"",
              options_.self.str(), store.options().data_path, DescribeCellKey(cell.key),
              cell.version, verified.status().ToString());
    Status repaired = route ? ReportCorrupt(*map, *route, cell)
                            : Status::Unavailable("no map routes this cell's stripe");
    if (repaired.ok()) {
      // The primary rewrote the cell from the others: verify the new bytes here.
      Result<CellVersion> again = store.Verify(cell.key, 0);
      repaired = again.status();
    }
    if (repaired.ok()) {
      Count([](ScrubFigures& f) { ++f.repaired; });
      LOG_INFO("scrub.repaired node={} cell={} version={}", options_.self.str(),
               DescribeCellKey(cell.key), cell.version);
    } else {
      Count([](ScrubFigures& f) { ++f.unrepaired; });
      LOG_ERROR("scrub.repair_failed node={} cell={} error=\"{}\"", options_.self.str(),
                DescribeCellKey(cell.key), repaired.ToString());
    }
  } else if (verified.status().code() != ErrorCode::kNotFound) {
    // kNotFound: rewritten or dropped since the page was listed: nothing to verify.
    LOG_WARN("scrub.read_failed node={} cell={} error=\"{}\"", options_.self.str(),
             DescribeCellKey(cell.key), verified.status().ToString());
  }

  // Parity: once per stripe, by its primary.
  if (!route || route->primary < 0 || route->member(route->primary).node != options_.self) return;
  const StripeId id{cell.key.fs_id, cell.key.inode, cell.key.stripe};
  if (last_parity_stripe && *last_parity_stripe == id) return;
  last_parity_stripe = id;
  auto check = coordinator_.CheckParity(id.fs_id, id.inode, id.stripe,
                                        Clock::System().Now() + options_.stripe_timeout);
  if (!check.ok()) {
    Count([](ScrubFigures& f) { ++f.stripes_skipped; });
    // kUnavailable: fewer than N members up, or no longer the primary: the next pass retries.
    if (check.status().code() == ErrorCode::kUnavailable) {
      LOG_DEBUG("scrub.parity_skipped node={} stripe=fs{}/ino{}/s{} reason=\"{}\"",
                options_.self.str(), id.fs_id, id.inode, id.stripe, check.status().ToString());
    } else {
      LOG_WARN("scrub.parity_check_failed node={} stripe=fs{}/ino{}/s{} error=\"{}\"",
               options_.self.str(), id.fs_id, id.inode, id.stripe, check.status().ToString());
    }
    return;
  }
  Pace(throttle, check->bytes_read);
  if (check->version == 0) return;
  Count([&](ScrubFigures& f) {
    f.parity_bytes += check->bytes_read;
    if (!check->checked) {
      ++f.stripes_skipped;
      return;
    }
    ++f.stripes_checked;
    f.parity_errors += check->mismatched.size();
    f.repaired += check->repaired.size();
    f.unrepaired += check->mismatched.size() - check->repaired.size();
  });
  if (!check->checked) {
    LOG_DEBUG("scrub.parity_skipped node={} stripe=fs{}/ino{}/s{} reason=\"{}\"",
              options_.self.str(), id.fs_id, id.inode, id.stripe, check->skipped);
  }
}

Status Scrubber::ReportCorrupt(const ClusterMap& map, const StripeRoute& route,
                               const StoredCell& cell) {
  if (route.primary < 0) return Status::Unavailable("no member of the stripe's PG is up");
  wire::ReportCellRequest report;
  report.cell = {cell.key.fs_id, cell.key.inode, cell.key.stripe, cell.key.cell_index,
                 static_cast<uint16_t>(route.member(cell.key.cell_index).drive_index)};
  report.kind = wire::CellReportKind::kCorrupt;
  report.version = cell.version;
  const std::string payload = wire::EncodeReportCellRequest(report);
  const NodeId primary = route.member(route.primary).node;
  if (primary == options_.self) {
    net::RpcContext context;
    context.peer_name = options_.self.str();
    context.authenticated = true;
    context.deadline = Clock::System().Now() + options_.stripe_timeout;
    context.method = static_cast<uint16_t>(net::Method::kReportCell);
    return coordinator_.ReportCell(context, payload).status();
  }
  CVFS_ASSIGN_OR_RETURN(net::PeerId peer,
                        peers_.Get(NodeAddress(map, primary), options_.stripe_timeout));
  return endpoint_.Call(peer, net::Method::kReportCell, payload, options_.stripe_timeout).status();
}

}  // namespace cvfs::server
