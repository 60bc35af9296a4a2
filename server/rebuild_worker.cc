#include "server/rebuild_worker.h"

#include <algorithm>
#include <set>

#include "core/logging.h"
#include "core/meta_routing.h"
#include "core/stripe_routing.h"
#include "net/wire/data_messages.h"

namespace cvfs::server {

namespace wire = net::wire;

namespace {

constexpr auto kIdlePoll = std::chrono::seconds(1);
constexpr auto kPublishInterval = std::chrono::seconds(1);
constexpr auto kRetryPause = std::chrono::seconds(1);
// One page of a member's stripe list; a member that does not answer in time is skipped (the
// PG is retried) rather than holding up the PGs behind it.
constexpr auto kListTimeout = std::chrono::seconds(5);

std::tuple<uint32_t, uint32_t, uint16_t, std::string, int64_t> SlotKey(uint32_t fs_id,
                                                                       const RecoveringSlot& s) {
  return {fs_id, s.pg, s.index, s.node.str(), s.since_ms};
}

}  // namespace

RebuildWorker::RebuildWorker(net::RpcEndpoint& endpoint, DataService& data, meta::MetaService& meta,
                             Clock& clock, RebuildWorkerOptions options)
    : endpoint_(endpoint), data_(data), meta_(meta), clock_(clock), options_(std::move(options)) {}

RebuildWorker::~RebuildWorker() { Stop(); }

void RebuildWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RebuildWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RebuildWorker::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void RebuildWorker::SetMap(const ClusterMap& map) {
  auto snapshot = std::make_shared<const ClusterMap>(map);
  {
    std::lock_guard lock(mu_);
    if (map_ != nullptr && map_->epoch >= map.epoch) return;
    map_ = std::move(snapshot);
  }
  cv_.notify_all();
}

RebuildWorkerStats RebuildWorker::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<RebuildWorker::PgWork> RebuildWorker::PlanWork(const ClusterMap& map) {
  std::vector<PgWork> all;
  int top = 0;
  for (const auto& [name, fs] : map.filesystems) {
    if (fs.recovering.empty() || !fs.placed()) continue;
    for (size_t i = 0; i < fs.recovering.size();) {
      PgWork work;
      work.fs = &fs;
      work.pg = fs.recovering[i].pg;
      for (; i < fs.recovering.size() && fs.recovering[i].pg == work.pg; ++i) {
        const RecoveringSlot& slot = fs.recovering[i];
        if (!NodeIsUp(map, slot.node)) continue;
        if (fs.groups[work.pg].members[slot.index].node != slot.node) continue;
        work.slots.push_back(slot);
      }
      if (work.slots.empty()) continue;
      auto route = RoutePlacementGroup(map, fs, work.pg);
      if (!route.ok() || route->primary < 0) continue;
      // Normally the primary is current. When no current member is up (they all died while
      // the others resync), the recovering primary certifies versions held by N members,
      // which is sound only when N > P (see ListPgStripes); otherwise wait for one to return.
      if (!route->readable[route->primary] && fs.geometry.data_cells <= fs.geometry.parity_cells) {
        continue;
      }
      work.missing = control::MissingCells(map, fs, work.pg);
      top = std::max(top, work.missing);
      if (route->member(route->primary).node != options_.self) {
        work.slots.clear();  // someone else's; counts only for the priority
      }
      all.push_back(std::move(work));
    }
  }
  std::vector<PgWork> mine;
  size_t others_at_top = 0;
  for (auto& work : all) {
    if (work.missing == top && work.slots.empty()) ++others_at_top;
    if (work.missing != top || work.slots.empty()) continue;
    bool pending = false;
    for (const auto& slot : work.slots) {
      pending = pending || !reported_.contains(SlotKey(work.fs->id, slot));
    }
    if (pending) mine.push_back(std::move(work));
  }
  if (!all.empty() && map.epoch.value != planned_epoch_) {
    planned_epoch_ = map.epoch.value;
    LOG_INFO("rebuild.plan epoch={} top_missing={} mine={} others_at_top={} pgs_with_work={}",
             map.epoch.value, top, mine.size(), others_at_top, all.size());
  }
  return mine;
}

void RebuildWorker::Run() {
  while (true) {
    std::shared_ptr<const ClusterMap> map;
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      map = map_;
    }
    std::vector<PgWork> work;
    if (map != nullptr) {
      // Forget reports the map has absorbed (their slots are gone or reassigned).
      std::erase_if(reported_, [&](const auto& key) {
        for (const auto& [name, fs] : map->filesystems) {
          if (fs.id != std::get<0>(key)) continue;
          for (const auto& s : fs.recovering) {
            if (SlotKey(fs.id, s) == key) return false;
          }
        }
        return true;
      });
      work = PlanWork(*map);
    }
    {
      std::lock_guard lock(mu_);
      queued_pgs_ = work.size();
      if (work.empty() && state_ != "idle") {
        state_ = "idle";
        current_stripes_done_ = current_stripes_total_ = 0;
      }
    }
    if (work.empty()) {
      if (map != nullptr && map->epoch.value != collected_epoch_) {
        collected_epoch_ = map->epoch.value;
        CollectGarbage(*map);
      }
      Publish(false);
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kIdlePoll, [&] { return stopping_ || map_ != map; });
      continue;
    }
    bool failed = false;
    for (const PgWork& pg : work) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        if (map_ != map) break;  // replan under the new map
        if (state_ == "idle") {
          busy_since_ms_ = clock_.WallMillis();
          busy_bytes_ = 0;
        }
        state_ = "rebuilding";
        current_fs_ = pg.fs->id;
        current_pg_ = pg.pg;
        current_missing_ = pg.missing;
        current_stripes_done_ = current_stripes_total_ = 0;
      }
      Publish(true);
      Status st = RebuildPg(map, pg);
      if (!st.ok()) {
        failed = true;
        {
          std::lock_guard lock(mu_);
          stats_.errors++;
        }
        LOG_WARN("rebuild.pg_failed fs={} pg={} error=\"{}\" (retried)", pg.fs->id, pg.pg,
                 st.ToString());
      }
      {
        std::lock_guard lock(mu_);
        queued_pgs_ = queued_pgs_ > 0 ? queued_pgs_ - 1 : 0;
      }
    }
    if (failed) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kRetryPause, [&] { return stopping_; });
    }
  }
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> RebuildWorker::ListPgStripes(
    const ClusterMap& map, const PgWork& work) {
  CVFS_ASSIGN_OR_RETURN(StripeRoute route, RoutePlacementGroup(map, *work.fs, work.pg));
  std::set<std::pair<uint64_t, uint64_t>> stripes;
  int listed = 0;
  Status last = Status::Ok();
  const auto wanted = [&](uint64_t inode, uint64_t stripe) {
    return PlacementGroupOf(inode, stripe, work.fs->pg_count) == work.pg;
  };
  // From every current member; when none is up, from every member that is up.
  const bool any_current =
      std::find(route.readable.begin(), route.readable.end(), true) != route.readable.end();
  const std::vector<bool>& sources = any_current ? route.readable : route.up;
  for (int k = 0; k < route.width(); ++k) {
    if (!sources[k]) continue;
    const PgMember& member = route.member(k);
    Status st = Status::Ok();
    if (member.node == options_.self) {
      auto store = data_.member().Store(static_cast<uint16_t>(member.drive_index));
      if (!store.ok()) {
        st = store.status();
      } else {
        CellStore::StripeRef from{0, 0};
        for (bool done = false; !done;) {
          auto page =
              (*store)->ListStripes(work.fs->id, from, wire::kMaxListedStripes, wanted, &done);
          if (!page.ok()) {
            st = page.status();
            break;
          }
          for (const auto& s : *page) stripes.emplace(s.inode, s.stripe);
          if (page->empty()) break;
          from = {page->back().inode, page->back().stripe + 1};
        }
      }
    } else {
      auto peer = data_.peers().Get(NodeAddress(map, member.node), kListTimeout);
      if (!peer.ok()) {
        st = peer.status();
      } else {
        wire::ListStripesRequest request;
        request.fs_id = work.fs->id;
        request.drive_index = static_cast<uint16_t>(member.drive_index);
        request.pg_count = work.fs->pg_count;
        request.pgs = {work.pg};
        request.max = wire::kMaxListedStripes;
        while (true) {
          auto reply = endpoint_.Call(*peer, net::Method::kListStripes,
                                      wire::EncodeListStripesRequest(request), kListTimeout);
          if (!reply.ok()) {
            st = reply.status();
            break;
          }
          auto decoded = wire::DecodeListStripesReply(*reply);
          if (!decoded.ok()) {
            st = decoded.status();
            break;
          }
          for (const auto& s : decoded->stripes) stripes.emplace(s.inode, s.stripe);
          if (decoded->done || decoded->stripes.empty()) break;
          request.from_start = false;
          request.after_inode = decoded->stripes.back().inode;
          request.after_stripe = decoded->stripes.back().stripe;
        }
      }
    }
    if (st.ok()) {
      ++listed;
    } else {
      last = st;
      LOG_WARN("rebuild.list_failed fs={} pg={} member={} error=\"{}\"", work.fs->id, work.pg,
               member.node.str(), st.ToString());
    }
  }
  // Every committed stripe is on at least N members; with fewer listings a stripe could
  // hide on the members not asked.
  const int needed = route.width() - work.fs->geometry.data_cells + 1;
  if (listed <
      std::min(needed, static_cast<int>(std::count(sources.begin(), sources.end(), true)))) {
    return Status::Unavailable("PG " + std::to_string(work.pg) + ": only " +
                               std::to_string(listed) +
                               " members listed their stripes: " + last.ToString());
  }
  return std::vector<std::pair<uint64_t, uint64_t>>(stripes.begin(), stripes.end());
}

Status RebuildWorker::RebuildPg(const std::shared_ptr<const ClusterMap>& map, const PgWork& work) {
  control::RebuildDoneRecord record;
  record.fs_id = work.fs->id;
  record.pg = work.pg;
  record.slots = work.slots;
  record.missing = work.missing;
  record.by = options_.self;
  record.started_ms = clock_.WallMillis();
  // 1. Metadata replicas (the first P+1 members). The data primary is the metadata primary
  // whenever one of those is current; when none is, the recovering replica orders the PG's
  // metadata itself (its takeover check copied from any replica ahead of it) and there is
  // no current copy to send it.
  CVFS_ASSIGN_OR_RETURN(MetaRoute meta_route, RouteMetaPg(*map, *work.fs, work.pg));
  const bool meta_current = meta_route.primary >= 0 && meta_route.current[meta_route.primary] &&
                            meta_route.member(meta_route.primary).node == options_.self;
  for (const RecoveringSlot& slot : work.slots) {
    if (slot.index > work.fs->geometry.parity_cells || !meta_current) continue;
    CVFS_ASSIGN_OR_RETURN(uint64_t bytes, meta_.ResyncReplica(work.fs->id, work.pg, slot.index));
    record.meta_bytes += bytes;
  }
  // 2. The work list, and 3. stripe by stripe. A second listing at the end catches stripes
  // first committed by a primary that still had the previous map when the first was taken
  // (writes that span a table change are aborted and retried, see PrepareAndCommit).
  std::set<std::pair<uint64_t, uint64_t>> done;
  for (int pass = 0; pass < 2; ++pass) {
    CVFS_ASSIGN_OR_RETURN(auto stripes, ListPgStripes(*map, work));
    std::erase_if(stripes, [&](const auto& s) { return done.contains(s); });
    {
      std::lock_guard lock(mu_);
      current_stripes_total_ += stripes.size();
    }
    for (const auto& [inode, stripe] : stripes) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return Status(ErrorCode::kCancelled, "stopping");
      }
      auto repaired = data_.coordinator().RebuildStripe(work.fs->id, inode, stripe,
                                                        clock_.Now() + options_.stripe_timeout);
      if (!repaired.ok()) {
        return repaired.status().WithContext("stripe " + std::to_string(stripe) + " of inode " +
                                             std::to_string(inode));
      }
      done.emplace(inode, stripe);
      record.stripes++;
      record.cells += repaired->cells;
      record.bytes += repaired->bytes;
      {
        std::lock_guard lock(mu_);
        current_stripes_done_++;
        stats_.stripes++;
        stats_.cells += repaired->cells;
        stats_.bytes += repaired->bytes;
        busy_bytes_ += repaired->bytes;
      }
      Throttle(repaired->bytes);
      Publish(false);
    }
  }
  // 4. Report.
  record.finished_ms = clock_.WallMillis();
  if (options_.report_done) CVFS_RETURN_IF_ERROR(options_.report_done(record));
  for (const RecoveringSlot& slot : work.slots) reported_.insert(SlotKey(work.fs->id, slot));
  {
    std::lock_guard lock(mu_);
    stats_.pgs_done++;
    stats_.meta_bytes += record.meta_bytes;
  }
  std::string slots;
  for (const auto& s : work.slots) {
    slots += (slots.empty() ? "" : ",") + std::to_string(s.index) + ":" + s.node.str() + ":" +
             std::string(RecoveryKindName(s.kind));
  }
  LOG_INFO(
      "rebuild.pg_done fs={} pg={} missing={} slots={} stripes={} cells={} bytes={} "
      "meta_bytes={} ms={} finished_ms={}",
      work.fs->id, work.pg, work.missing, slots, record.stripes, record.cells, record.bytes,
      record.meta_bytes, record.finished_ms - record.started_ms, record.finished_ms);
  return Status::Ok();
}

void RebuildWorker::CollectGarbage(const ClusterMap& map) {
  auto self = map.nodes.find(options_.self);
  if (self == map.nodes.end()) return;
  const size_t drives = self->second.record.drives.size();
  for (const auto& [name, fs] : map.filesystems) {
    if (!fs.placed()) continue;
    // PGs whole without any other copy: every member up, none recovering.
    std::vector<bool> whole(fs.pg_count, true);
    for (const PlacementGroup& pg : fs.groups) {
      for (const PgMember& m : pg.members) whole[pg.id] = whole[pg.id] && NodeIsUp(map, m.node);
    }
    for (const RecoveringSlot& slot : fs.recovering) whole[slot.pg] = false;
    for (size_t d = 0; d < drives; ++d) {
      auto store = data_.member().Store(static_cast<uint16_t>(d));
      if (!store.ok()) continue;
      auto dropped = (*store)->DropCellsIf(fs.id, [&](const CellKey& key) {
        const uint32_t pg = PlacementGroupOf(key.inode, key.stripe, fs.pg_count);
        if (pg >= fs.groups.size() || !whole[pg]) return false;
        const auto& members = fs.groups[pg].members;
        if (key.cell_index >= members.size()) return false;
        const PgMember& holder = members[key.cell_index];
        return !(holder.node == options_.self && holder.drive_index == d);
      });
      if (!dropped.ok()) {
        LOG_WARN("rebuild.collect_failed fs={} drive={} error=\"{}\"", fs.id, d,
                 dropped.status().ToString());
        continue;
      }
      if (*dropped == 0) continue;
      LOG_INFO("rebuild.cells_dropped fs={} drive={} versions={} (slots this node no longer holds)",
               fs.id, d, *dropped);
      std::lock_guard lock(mu_);
      stats_.dropped_versions += *dropped;
    }
  }
}

void RebuildWorker::Throttle(uint64_t bytes) {
  if (options_.bandwidth_bytes_per_s == 0 || bytes == 0) return;
  const TimePoint now = clock_.Now();
  if (throttle_bytes_ == 0 || now - throttle_start_ > std::chrono::seconds(10)) {
    throttle_start_ = now;
    throttle_bytes_ = 0;
  }
  throttle_bytes_ += bytes;
  const auto due = throttle_start_ + std::chrono::microseconds(throttle_bytes_ * 1'000'000 /
                                                               options_.bandwidth_bytes_per_s);
  if (due <= now) return;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, due - now, [&] { return stopping_; });
}

void RebuildWorker::Publish(bool force) {
  if (!options_.publish_progress) return;
  const TimePoint now = clock_.Now();
  if (!force && now - last_publish_ < kPublishInterval) return;
  last_publish_ = now;
  nlohmann::json progress;
  {
    std::lock_guard lock(mu_);
    const int64_t wall = clock_.WallMillis();
    const double seconds = std::max<int64_t>(1, wall - busy_since_ms_) / 1000.0;
    progress = {{"node", options_.self.str()},
                {"state", state_},
                {"fs_id", current_fs_},
                {"pg", current_pg_},
                {"missing", current_missing_},
                {"stripes_done", current_stripes_done_},
                {"stripes_total", current_stripes_total_},
                {"queued_pgs", queued_pgs_},
                {"pgs_done", stats_.pgs_done},
                {"bytes", stats_.bytes},
                {"cells", stats_.cells},
                {"errors", stats_.errors},
                {"dropped_versions", stats_.dropped_versions},
                {"rate_bytes_per_s", state_ == "idle" ? 0.0 : busy_bytes_ / seconds},
                {"bandwidth_limit_bytes_per_s", options_.bandwidth_bytes_per_s},
                {"updated_ms", wall}};
  }
  options_.publish_progress(progress);
}

}  // namespace cvfs::server
