#include "control/cluster_manager.h"

#include <utility>

#include <fmt/format.h>

#include "core/logging.h"
#include "core/placement.h"

namespace cvfs::control {

bool ReconcileMap(const std::optional<ClusterMap>& current,
                  const std::map<NodeId, NodeRecord>& live, const std::string& cluster,
                  const NodeId& manager, int64_t term, int64_t now_ms, ClusterMap* next,
                  std::vector<std::string>* transitions) {
  ClusterMap map;
  if (current) {
    map = *current;
  } else {
    map.cluster = cluster;
  }
  bool changed = !current.has_value();
  std::vector<std::string> lines;
  if (map.manager != manager || map.manager_term != term) {
    changed = true;
    lines.push_back("manager " + manager.str() + " (term " + std::to_string(term) + ")");
    map.manager = manager;
    map.manager_term = term;
  }
  for (const auto& [id, record] : live) {
    auto it = map.nodes.find(id);
    if (it == map.nodes.end()) {
      map.nodes.emplace(id, NodeEntry{NodeState::kUp, now_ms, record});
      lines.push_back("node " + id.str() + " joined (up)");
      changed = true;
      continue;
    }
    NodeEntry& entry = it->second;
    if (entry.state == NodeState::kDown) {
      entry.state = NodeState::kUp;
      entry.since_ms = now_ms;
      entry.record = record;
      lines.push_back("node " + id.str() + " up (registered again)");
      changed = true;
    } else if (!SameMembership(entry.record, record)) {
      entry.record = record;
      lines.push_back("node " + id.str() + " re-registered with a changed record");
      changed = true;
    }
    // Free-space-only differences are deliberately ignored (see the header).
  }
  for (auto& [id, entry] : map.nodes) {
    if (entry.state == NodeState::kUp && live.find(id) == live.end()) {
      entry.state = NodeState::kDown;
      entry.since_ms = now_ms;
      lines.push_back("node " + id.str() + " down (lease expired or revoked)");
      changed = true;
    }
  }
  if (!changed) return false;
  map.epoch = current ? current->epoch.Next() : Epoch{1};
  map.updated_ms = now_ms;
  *next = std::move(map);
  if (transitions) *transitions = std::move(lines);
  return true;
}

bool PlaceFilesystems(const std::map<std::string, FilesystemInfo>& defined,
                      const std::map<std::string, uint64_t>& skip, ClusterMap* map,
                      std::vector<std::string>* transitions,
                      std::vector<std::pair<std::string, std::string>>* failures) {
  bool changed = false;
  for (const auto& [name, definition] : defined) {
    if (map->filesystems.contains(name) || skip.contains(name)) continue;
    PlacementPolicy policy;
    policy.data_cells = definition.geometry.data_cells;
    policy.parity_cells = definition.geometry.parity_cells;
    policy.pg_count = static_cast<int>(definition.pg_count);
    auto groups = AssignPlacementGroups(*map, policy);
    if (!groups.ok()) {
      if (failures) failures->emplace_back(name, std::string(groups.status().message()));
      continue;
    }
    if (map->filesystems.size() >= kMaxFilesystemsPerMap) {
      if (failures) {
        failures->emplace_back(name, "the cluster has " + std::to_string(kMaxFilesystemsPerMap) +
                                         " filesystems, the most a map holds");
      }
      continue;
    }
    FilesystemInfo placed = definition;
    placed.groups = std::move(groups).value();
    const PlacementStats stats = ComputePlacementStats(*map, placed.groups);
    auto slot = map->filesystems.emplace(name, std::move(placed)).first;
    if (const size_t bytes = SerializeClusterMap(*map).size(); bytes > kMaxMapBytes) {
      map->filesystems.erase(slot);
      if (failures) {
        failures->emplace_back(name, "with " + std::to_string(definition.pg_count) +
                                         " PGs the map would be " + std::to_string(bytes / 1024) +
                                         " KiB, above the " + std::to_string(kMaxMapBytes / 1024) +
                                         " KiB limit: use fewer PGs");
      }
      continue;
    }
    if (transitions) {
      transitions->push_back(
          "filesystem " + name + " placed (id " + std::to_string(definition.id) + ", " +
          std::to_string(policy.data_cells) + "+" + std::to_string(policy.parity_cells) + ", " +
          std::to_string(definition.pg_count) + " PGs on " + std::to_string(stats.drives) +
          " drives, max/mean " + fmt::format("{:.2f}", stats.max_over_mean) + ")");
    }
    changed = true;
  }
  return changed;
}

Result<std::map<std::string, FilesystemInfo>> ReadFilesystemDefinitions(EtcdClient& etcd,
                                                                        const KeyLayout& keys) {
  CVFS_ASSIGN_OR_RETURN(RangeResponse range, etcd.GetPrefix(keys.FilesystemsPrefix()));
  std::map<std::string, FilesystemInfo> defined;
  for (const auto& kv : range.kvs) {
    const std::string name = kv.key.substr(keys.FilesystemsPrefix().size());
    auto parsed = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    Result<FilesystemInfo> fs = parsed.is_discarded()
                                    ? Result<FilesystemInfo>(Status::MalformedMessage("not JSON"))
                                    : FilesystemInfoFromJson(parsed);
    if (!fs.ok() || fs->name != name) {
      LOG_WARN("manager.bad_filesystem_definition key={} error={}", kv.key,
               !fs.ok() ? fs.status().ToString() : std::string("name differs from key"));
      continue;
    }
    fs->groups.clear();  // a definition never carries a table; the map's is authoritative
    defined.emplace(name, std::move(fs).value());
  }
  return defined;
}

Result<MapWrite> WriteMapFenced(EtcdClient& etcd, const KeyLayout& keys, const ClusterMap& map,
                                int64_t expected_mod_revision, int64_t term) {
  const std::string map_key = keys.Map();
  const std::string manager_key = keys.Manager();
  std::vector<Compare> compares = {expected_mod_revision == 0
                                       ? Compare::KeyMissing(map_key)
                                       : Compare::ModRevisionIs(map_key, expected_mod_revision),
                                   Compare::CreateRevisionIs(manager_key, term)};
  CVFS_ASSIGN_OR_RETURN(TxnResponse txn,
                        etcd.Txn(compares, {TxnOp::Put(map_key, SerializeClusterMap(map))},
                                 {TxnOp::Get(manager_key)}));
  MapWrite result;
  if (txn.succeeded) {
    result.outcome = MapWriteOutcome::kWritten;
    result.mod_revision = txn.revision;
    return result;
  }
  const bool still_ours = !txn.responses.empty() && !txn.responses[0].kvs.empty() &&
                          txn.responses[0].kvs[0].create_revision == term;
  result.outcome = still_ours ? MapWriteOutcome::kMapMoved : MapWriteOutcome::kDeposed;
  return result;
}

Result<std::map<NodeId, NodeRecord>> ReadRegistrations(EtcdClient& etcd, const KeyLayout& keys,
                                                       int64_t* revision) {
  CVFS_ASSIGN_OR_RETURN(RangeResponse range, etcd.GetPrefix(keys.NodesPrefix()));
  if (revision) *revision = range.revision;
  std::map<NodeId, NodeRecord> live;
  for (const auto& kv : range.kvs) {
    auto id = keys.NodeIdFromKey(kv.key);
    auto record = ParseNodeRecord(kv.value);
    if (!id.ok() || !record.ok() || record->id != *id) {
      LOG_WARN("manager.bad_registration key={} error={}", kv.key,
               !id.ok()       ? id.status().ToString()
               : !record.ok() ? record.status().ToString()
                              : std::string("record id differs from key"));
      continue;
    }
    live.emplace(*id, std::move(record).value());
  }
  return live;
}

Result<std::optional<ClusterMap>> ReadMap(EtcdClient& etcd, const KeyLayout& keys,
                                          int64_t* mod_revision) {
  CVFS_ASSIGN_OR_RETURN(RangeResponse range, etcd.Get(keys.Map()));
  if (mod_revision) *mod_revision = 0;
  if (range.kvs.empty()) return std::optional<ClusterMap>();
  CVFS_ASSIGN_OR_RETURN(ClusterMap map, ParseClusterMap(range.kvs[0].value));
  if (mod_revision) *mod_revision = range.kvs[0].mod_revision;
  return std::optional<ClusterMap>(std::move(map));
}

ClusterManager::ClusterManager(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeId self,
                               int64_t term, Duration elected_after, Clock* clock,
                               std::function<void()> on_deposed, RecoveryOptions recovery,
                               MaintenanceOptions maintenance)
    : etcd_(std::move(etcd)),
      keys_(std::move(keys)),
      self_(std::move(self)),
      term_(term),
      elected_after_(elected_after),
      clock_(clock ? clock : &Clock::System()),
      on_deposed_(std::move(on_deposed)),
      recovery_(recovery),
      maintenance_(maintenance) {}

Result<std::unique_ptr<ClusterManager>> ClusterManager::Start(
    std::shared_ptr<EtcdClient> etcd, KeyLayout keys, NodeId self, int64_t term,
    Duration elected_after, Clock* clock, std::function<void()> on_deposed,
    RecoveryOptions recovery, MaintenanceOptions maintenance) {
  if (term <= 0) return Status::InvalidArgument("manager term must be positive");
  auto manager = std::unique_ptr<ClusterManager>(
      new ClusterManager(std::move(etcd), std::move(keys), std::move(self), term, elected_after,
                         clock, std::move(on_deposed), recovery, maintenance));
  manager->thread_ = std::thread([m = manager.get()] { m->Run(); });
  return manager;
}

ClusterManager::~ClusterManager() { Stop(); }

void ClusterManager::Poke() {
  std::lock_guard<std::mutex> lock(mu_);
  dirty_ = true;
  cv_.notify_all();
}

uint64_t ClusterManager::written_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_epoch_;
}

bool ClusterManager::ReconcileOnce() {
  // A bounded number of rounds against concurrent map writers (there should be none but
  // an admin tool); the next poke or interval retries.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto live = ReadRegistrations(*etcd_, keys_);
    if (!live.ok()) {
      LOG_WARN("manager.read_failed what=registrations error={}", live.status().ToString());
      return true;
    }
    int64_t mod_revision = 0;
    auto current = ReadMap(*etcd_, keys_, &mod_revision);
    if (!current.ok()) {
      LOG_ERROR("manager.read_failed what=map error={}", current.status().ToString());
      return true;
    }
    auto defined = ReadFilesystemDefinitions(*etcd_, keys_);
    if (!defined.ok()) {
      LOG_WARN("manager.read_failed what=filesystems error={}", defined.status().ToString());
      return true;
    }
    const int64_t now_ms = clock_->WallMillis();
    ClusterMap next;
    std::vector<std::string> transitions;
    bool changed =
        ReconcileMap(*current, *live, keys_.cluster(), self_, term_, now_ms, &next, &transitions);
    if (!changed) next = **current;  // ReconcileMap always changes a first (absent) map
    // Retry a failed placement only once the map moved (membership changed) since it failed.
    std::map<std::string, uint64_t> skip;
    for (const auto& [name, epoch] : place_failed_at_) {
      if (epoch == next.epoch.value) skip.emplace(name, epoch);
    }
    std::vector<std::pair<std::string, std::string>> failures;
    if (PlaceFilesystems(*defined, skip, &next, &transitions, &failures)) {
      if (!changed) {
        next.epoch = next.epoch.Next();
        next.updated_ms = now_ms;
        changed = true;
      }
    }
    for (const auto& [name, message] : failures) {
      // The epoch a retry waits for: the one after this write if we write, else this one.
      const uint64_t epoch = next.epoch.value;
      if (place_failed_at_.contains(name)) {
        place_failed_at_[name] = epoch;  // still failing after a map change: stay quiet
        continue;
      }
      place_failed_at_[name] = epoch;
      LOG_ERROR(
          "manager.place_failed filesystem={} error=\"{}\" (retried when nodes join or come "
          "back)",
          name, message);
    }
    // Each record read, with its revision: a primary may overwrite a key after it was read
    // (the same PG reported again), and that newer record must survive.
    std::vector<std::pair<std::string, int64_t>> spent_keys;
    auto read_records = [&](const std::string& prefix, const char* what, auto decode, auto* out) {
      auto records = etcd_->GetPrefix(prefix);
      if (!records.ok()) {
        LOG_WARN("manager.read_failed what={} error={}", what, records.status().ToString());
        return;
      }
      for (const auto& kv : records->kvs) {
        auto parsed = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
        spent_keys.emplace_back(kv.key, kv.mod_revision);
        if (parsed.is_discarded()) {
          LOG_WARN("manager.bad_rebuild_record key={} error=not JSON", kv.key);
          continue;
        }
        auto record = decode(parsed);
        if (!record.ok()) {
          LOG_WARN("manager.bad_rebuild_record key={} error={}", kv.key,
                   record.status().ToString());
          continue;
        }
        out->push_back(std::move(record).value());
      }
    };
    // Recovery: returning nodes, completion records, members writes left behind, slots of
    // nodes past their grace.
    std::vector<RebuildDoneRecord> done;
    read_records(keys_.RebuildDonePrefix(), "rebuild", RebuildDoneFromJson, &done);
    std::vector<StaleSlotRecord> stale;
    read_records(keys_.RebuildStalePrefix(), "stale", StaleSlotFromJson, &stale);
    RecoveryOptions round = recovery_;
    if (auto drains = etcd_->GetPrefix(keys_.DrainPrefix()); drains.ok()) {
      for (const auto& kv : drains->kvs) {
        const std::string id = kv.key.substr(keys_.DrainPrefix().size());
        if (ValidateNodeId(id).ok()) round.draining.insert(NodeId(id));
      }
    } else {
      LOG_WARN("manager.read_failed what=drain error={}", drains.status().ToString());
      return true;  // never plan without knowing which nodes drain
    }
    if (auto removes = etcd_->GetPrefix(keys_.RemoveDrivePrefix()); removes.ok()) {
      for (const auto& kv : removes->kvs) {
        if (auto drive = keys_.DriveFromRemoveKey(kv.key); drive.ok())
          round.removing.insert(*drive);
      }
    } else {
      LOG_WARN("manager.read_failed what=remove-drive error={}", removes.status().ToString());
      return true;  // never plan without knowing which drives are being removed
    }
    // Maintenance: grants move along, queued requests are granted (before recovery, which
    // then resyncs the slots of a node back from maintenance).
    std::vector<MaintenanceRequest> requests;
    std::map<NodeId, MaintenanceHistory> history;
    if (Status s = ReadMaintenance(&requests, &history); !s.ok()) {
      LOG_WARN("manager.read_failed what=maintenance error={}", s.ToString());
      return true;  // never plan without knowing which nodes are granted or asking
    }
    MaintenancePlan maintenance;
    if (PlanMaintenance(&next, *live, requests, history, done, maintenance_, now_ms, &transitions,
                        &maintenance)) {
      if (!changed) {
        next.epoch = next.epoch.Next();
        next.updated_ms = now_ms;
        changed = true;
      }
    }
    std::vector<std::pair<std::string, std::string>> rebuild_failures;
    const ClusterMap* before = current->has_value() ? &**current : nullptr;
    if (PlanRecovery(before, &next, done, round, now_ms, &transitions, &rebuild_failures, stale)) {
      if (!changed) {
        next.epoch = next.epoch.Next();
        next.updated_ms = now_ms;
        changed = true;
      }
    }
    for (const auto& [name, message] : rebuild_failures) {
      auto it = rebuild_failed_at_.find(name);
      if (it != rebuild_failed_at_.end() && it->second == next.epoch.value) continue;
      rebuild_failed_at_[name] = next.epoch.value;
      LOG_ERROR(
          "manager.rebuild_impossible filesystem={} error=\"{}\" (its PGs stay degraded until "
          "nodes come back or join)",
          name, message);
    }
    for (auto it = place_failed_at_.begin(); it != place_failed_at_.end();) {
      it = next.filesystems.contains(it->first) || !defined->contains(it->first)
               ? place_failed_at_.erase(it)
               : std::next(it);
    }
    auto delete_spent = [&] {
      for (const auto& [key, revision] : spent_keys) {
        (void)etcd_->Txn({Compare::ModRevisionIs(key, revision)}, {TxnOp::Delete(key)}, {});
      }
    };
    if (!changed) {
      delete_spent();
      FinishMaintenance(maintenance);
      return true;
    }
    auto write = WriteMapFenced(*etcd_, keys_, next, mod_revision, term_);
    if (!write.ok()) {
      LOG_WARN("manager.write_failed epoch={} error={}", next.epoch.value,
               write.status().ToString());
      return true;
    }
    if (write->outcome == MapWriteOutcome::kDeposed) {
      LOG_WARN("manager.deposed node={} term={}: the election key has a newer holder", self_.str(),
               term_);
      return false;
    }
    if (write->outcome == MapWriteOutcome::kMapMoved) continue;
    // Their slots are out of the written map (or were stale): the records are spent.
    delete_spent();
    FinishMaintenance(maintenance);
    {
      std::lock_guard<std::mutex> lock(mu_);
      written_epoch_ = next.epoch.value;
    }
    if (!announced_) {
      announced_ = true;
      LOG_INFO("became manager (term {}) after {} ms; map epoch {}", term_,
               std::chrono::duration_cast<std::chrono::milliseconds>(elected_after_).count(),
               next.epoch.value);
    }
    for (const auto& line : transitions) {
      if (line.rfind("manager ", 0) == 0) continue;
      LOG_INFO("{}, epoch {}", line, next.epoch.value);
    }
    return true;
  }
  return true;
}

Status ClusterManager::ReadMaintenance(std::vector<MaintenanceRequest>* requests,
                                       std::map<NodeId, MaintenanceHistory>* history) {
  CVFS_ASSIGN_OR_RETURN(RangeResponse asked, etcd_->GetPrefix(keys_.MaintenanceRequestPrefix()));
  for (const auto& kv : asked.kvs) {
    auto parsed = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    auto request = parsed.is_discarded()
                       ? Result<MaintenanceRequest>(Status::MalformedMessage("not JSON"))
                       : MaintenanceRequestFromJson(parsed);
    const std::string id = kv.key.substr(keys_.MaintenanceRequestPrefix().size());
    if (!request.ok() || request->node.str() != id) {
      LOG_WARN("manager.bad_maintenance_request key={} error={}", kv.key,
               !request.ok() ? request.status().ToString() : std::string("node differs from key"));
      continue;
    }
    request->revision = kv.create_revision;
    request->mod_revision = kv.mod_revision;
    requests->push_back(std::move(request).value());
  }
  CVFS_ASSIGN_OR_RETURN(RangeResponse past, etcd_->GetPrefix(keys_.MaintenanceHistoryPrefix()));
  for (const auto& kv : past.kvs) {
    auto parsed = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) continue;
    if (auto h = MaintenanceHistoryFromJson(parsed); h.ok()) history->emplace(h->node, *h);
  }
  return Status::Ok();
}

void ClusterManager::FinishMaintenance(const MaintenancePlan& plan) {
  // History first: a request whose delete fails is recognised as served next round.
  for (const MaintenanceHistory& h : plan.ended) {
    auto put = etcd_->Put(keys_.MaintenanceHistory(h.node), MaintenanceHistoryToJson(h).dump());
    if (!put.ok()) {
      LOG_WARN("manager.write_failed what=maintenance_history error={}", put.status().ToString());
    }
    LOG_INFO(
        "maintenance.ended node={} outcome={} resynced_bytes={} away_ms={} catch_up_ms={} "
        "reason=\"{}\"",
        h.node.str(), h.outcome, h.resynced_bytes,
        (h.returned_ms > 0 ? h.returned_ms : h.ended_ms) - h.granted_ms,
        h.returned_ms > 0 ? h.ended_ms - h.returned_ms : 0, h.reason);
  }
  for (const MaintenanceRequest& r : plan.spent) {
    const std::string key = keys_.MaintenanceRequest(r.node);
    (void)etcd_->Txn({Compare::ModRevisionIs(key, r.mod_revision)}, {TxnOp::Delete(key)}, {});
  }
  const std::string queue = MaintenanceQueueToJson(plan.queue).dump();
  if (queue != published_queue_) {
    if (etcd_->Put(keys_.MaintenanceQueue(), queue).ok()) published_queue_ = queue;
  }
}

void ClusterManager::Run() {
  while (true) {
    // Membership and filesystem definitions both call for a reconcile.
    auto watch_prefix = [this](const std::string& prefix, std::unique_ptr<EtcdWatch>* watch) {
      if (*watch) return;
      WatchOptions wo;
      wo.key = prefix;
      wo.range_end = PrefixRangeEnd(prefix);
      auto started = etcd_->Watch(wo, [this](const WatchBatch&) { Poke(); });
      if (started.ok()) *watch = std::move(started).value();
    };
    watch_prefix(keys_.NodesPrefix(), &watch_);
    watch_prefix(keys_.FilesystemsPrefix(), &fs_watch_);
    watch_prefix(keys_.RebuildDonePrefix(), &rebuild_watch_);
    watch_prefix(keys_.RebuildStalePrefix(), &stale_watch_);
    watch_prefix(keys_.DrainPrefix(), &drain_watch_);
    watch_prefix(keys_.RemoveDrivePrefix(), &remove_watch_);
    watch_prefix(keys_.MaintenanceRequestPrefix(), &maintenance_watch_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kReconcileInterval, [&] { return stopping_ || dirty_; });
      if (stopping_) return;
      dirty_ = false;
    }
    if (!ReconcileOnce()) {
      if (on_deposed_) on_deposed_();
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_; });
      return;
    }
  }
}

void ClusterManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (watch_) watch_->Stop();
  watch_.reset();
  if (fs_watch_) fs_watch_->Stop();
  fs_watch_.reset();
  if (rebuild_watch_) rebuild_watch_->Stop();
  rebuild_watch_.reset();
  if (drain_watch_) drain_watch_->Stop();
  drain_watch_.reset();
  if (stale_watch_) stale_watch_->Stop();
  stale_watch_.reset();
  if (remove_watch_) remove_watch_->Stop();
  remove_watch_.reset();
  if (maintenance_watch_) maintenance_watch_->Stop();
  maintenance_watch_.reset();
}

}  // namespace cvfs::control
