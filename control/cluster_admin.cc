#include "control/cluster_admin.h"

#include "control/filesystem_admin.h"

#include <algorithm>
#include <set>
#include <utility>

#include "control/cluster_manager.h"
#include "core/clock.h"
#include "core/logging.h"

namespace cvfs::control {
namespace {

using Json = nlohmann::json;

Result<ClusterConfig> ParseConfig(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::MalformedMessage("cluster config is not a JSON object");
  }
  ClusterConfig config;
  auto format = j.find("format");
  if (format == j.end() || !format->is_number_integer()) {
    return Status::MalformedMessage("cluster config has no integer 'format'");
  }
  config.format = format->get<int>();
  if (config.format > kClusterConfigFormat) {
    return Status::ProtocolMismatch("cluster config format " + std::to_string(config.format) +
                                    " is newer than this build understands");
  }
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) {
    return Status::MalformedMessage("cluster config has no string 'name'");
  }
  config.name = name->get<std::string>();
  auto created = j.find("created_at_ms");
  if (created != j.end() && created->is_number_integer()) {
    config.created_at_ms = created->get<int64_t>();
  }
  return config;
}

uint64_t Sum(const std::vector<DriveInfo>& drives, bool free) {
  uint64_t total = 0;
  for (const auto& d : drives) total += free ? d.free_bytes : d.capacity_bytes;
  return total;
}

Json NodeJson(const NodeId& id, std::string_view state, const NodeRecord& record,
              int64_t since_ms) {
  Json drives = Json::array();
  for (const auto& d : record.drives) {
    Json drive = {{"path", d.path},
                  {"capacity_bytes", d.capacity_bytes},
                  {"free_bytes", d.free_bytes},
                  {"state", std::string(DriveStateName(d.state))}};
    if (d.state == DriveState::kFailed) drive["failed_ms"] = d.failed_ms;
    drives.push_back(std::move(drive));
  }
  return Json{{"id", id.str()},
              {"state", std::string(state)},
              {"failure_domain", record.failure_domain},
              {"host", record.host},
              {"address", record.fabric_address},
              {"provider", record.fabric_provider},
              {"endpoint", record.fabric_address},
              {"drives", std::move(drives)},
              {"capacity_bytes", Sum(record.drives, false)},
              {"free_bytes", Sum(record.drives, true)},
              {"since_ms", since_ms}};
}

}  // namespace

Status CreateCluster(EtcdClient& etcd, std::string_view name, int64_t now_ms) {
  CVFS_RETURN_IF_ERROR(ValidateClusterName(name));
  if (now_ms == 0) now_ms = Clock::System().WallMillis();
  KeyLayout keys{std::string(name)};
  const Json config = {
      {"format", kClusterConfigFormat}, {"name", std::string(name)}, {"created_at_ms", now_ms}};
  const std::string key = keys.Config();
  CVFS_ASSIGN_OR_RETURN(TxnResponse txn,
                        etcd.Txn({Compare::KeyMissing(key)}, {TxnOp::Put(key, config.dump())}, {}));
  if (!txn.succeeded) {
    return Status::AlreadyExists("cluster '" + std::string(name) + "' exists already");
  }
  LOG_INFO("cluster.created name={} revision={}", name, txn.revision);
  return Status::Ok();
}

Result<ClusterStatusInfo> ReadClusterStatus(EtcdClient& etcd, const KeyLayout& keys) {
  TxnOp nodes = TxnOp::Get(keys.NodesPrefix());
  nodes.range_end = PrefixRangeEnd(keys.NodesPrefix());
  TxnOp progress = TxnOp::Get(keys.RebuildProgressPrefix());
  progress.range_end = PrefixRangeEnd(keys.RebuildProgressPrefix());
  TxnOp drains = TxnOp::Get(keys.DrainPrefix());
  drains.range_end = PrefixRangeEnd(keys.DrainPrefix());
  TxnOp removes = TxnOp::Get(keys.RemoveDrivePrefix());
  removes.range_end = PrefixRangeEnd(keys.RemoveDrivePrefix());
  TxnOp requests = TxnOp::Get(keys.MaintenanceRequestPrefix());
  requests.range_end = PrefixRangeEnd(keys.MaintenanceRequestPrefix());
  TxnOp history = TxnOp::Get(keys.MaintenanceHistoryPrefix());
  history.range_end = PrefixRangeEnd(keys.MaintenanceHistoryPrefix());
  CVFS_ASSIGN_OR_RETURN(TxnResponse txn,
                        etcd.Txn({},
                                 {TxnOp::Get(keys.Config()), TxnOp::Get(keys.Map()), nodes,
                                  TxnOp::Get(keys.Manager()), progress, drains, removes, requests,
                                  TxnOp::Get(keys.MaintenanceQueue()), history},
                                 {}));
  if (!txn.succeeded || txn.responses.size() != 10) {
    return Status::MalformedMessage("etcd status snapshot returned " +
                                    std::to_string(txn.responses.size()) + " responses, want 10");
  }
  ClusterStatusInfo info;
  info.revision = txn.revision;
  const auto& config_kvs = txn.responses[0].kvs;
  if (config_kvs.empty()) return info;
  info.exists = true;
  CVFS_ASSIGN_OR_RETURN(info.config, ParseConfig(config_kvs[0].value));
  if (!txn.responses[1].kvs.empty()) {
    CVFS_ASSIGN_OR_RETURN(ClusterMap map, ParseClusterMap(txn.responses[1].kvs[0].value));
    info.map = std::move(map);
  }
  for (const auto& kv : txn.responses[2].kvs) {
    auto id = keys.NodeIdFromKey(kv.key);
    auto record = ParseNodeRecord(kv.value);
    if (!id.ok() || !record.ok() || record->id != *id) {
      LOG_WARN("status.bad_registration key={}", kv.key);
      continue;
    }
    info.live.emplace(*id, std::move(record).value());
  }
  if (!txn.responses[3].kvs.empty()) {
    info.manager = txn.responses[3].kvs[0].value;
    info.manager_term = txn.responses[3].kvs[0].create_revision;
  }
  for (const auto& kv : txn.responses[4].kvs) {
    auto parsed = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) info.rebuild_progress.push_back(std::move(parsed));
  }
  for (const auto& kv : txn.responses[5].kvs) {
    const std::string id = kv.key.substr(keys.DrainPrefix().size());
    if (ValidateNodeId(id).ok()) info.draining.insert(NodeId(id));
  }
  for (const auto& kv : txn.responses[6].kvs) {
    if (auto drive = keys.DriveFromRemoveKey(kv.key); drive.ok()) info.removing.insert(*drive);
  }
  for (const auto& kv : txn.responses[7].kvs) {
    auto parsed = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) continue;
    if (auto request = MaintenanceRequestFromJson(parsed); request.ok()) {
      request->revision = kv.create_revision;
      request->mod_revision = kv.mod_revision;
      info.maintenance_requests.push_back(std::move(request).value());
    }
  }
  std::sort(info.maintenance_requests.begin(), info.maintenance_requests.end(),
            [](const auto& a, const auto& b) { return a.revision < b.revision; });
  if (!txn.responses[8].kvs.empty()) {
    auto parsed = Json::parse(txn.responses[8].kvs[0].value, nullptr, false);
    if (!parsed.is_discarded()) {
      if (auto queue = MaintenanceQueueFromJson(parsed); queue.ok()) {
        info.maintenance_queue = std::move(queue).value();
      }
    }
  }
  for (const auto& kv : txn.responses[9].kvs) {
    auto parsed = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) continue;
    if (auto h = MaintenanceHistoryFromJson(parsed); h.ok()) {
      info.maintenance_history.push_back(std::move(h).value());
    }
  }
  std::sort(info.maintenance_history.begin(), info.maintenance_history.end(),
            [](const auto& a, const auto& b) { return a.ended_ms > b.ended_ms; });
  return info;
}

Json RebuildStatusToJson(const ClusterStatusInfo& info) {
  uint64_t slots = 0, pgs = 0;
  Json by_fs = Json::array();
  if (info.map) {
    for (const auto& [name, fs] : info.map->filesystems) {
      std::set<uint32_t> fs_pgs;
      for (const auto& slot : fs.recovering) fs_pgs.insert(slot.pg);
      slots += fs.recovering.size();
      pgs += fs_pgs.size();
      if (fs.recovering.empty()) continue;
      Json list = Json::array();
      for (const auto& slot : fs.recovering) {
        list.push_back(Json{{"pg", slot.pg},
                            {"index", slot.index},
                            {"node", slot.node.str()},
                            {"kind", std::string(RecoveryKindName(slot.kind))},
                            {"since_ms", slot.since_ms}});
      }
      by_fs.push_back(Json{{"name", name}, {"pgs", fs_pgs.size()}, {"slots", std::move(list)}});
    }
  }
  Json nodes = Json::array();
  double rate = 0;
  uint64_t done_pgs = 0, bytes = 0;
  for (const auto& p : info.rebuild_progress) {
    if (p.value("state", "idle") != "idle") rate += p.value("rate_bytes_per_s", 0.0);
    done_pgs += p.value("pgs_done", uint64_t{0});
    bytes += p.value("bytes", uint64_t{0});
    nodes.push_back(p);
  }
  return Json{{"active", slots > 0},
              {"pgs_remaining", pgs},
              {"slots_remaining", slots},
              {"pgs_done", done_pgs},
              {"bytes_written", bytes},
              {"rate_bytes_per_s", rate},
              {"filesystems", std::move(by_fs)},
              {"nodes", std::move(nodes)}};
}

Json MaintenanceStatusToJson(const ClusterStatusInfo& info) {
  Json granted = Json::array();
  if (info.map) {
    for (const auto& [node, grant] : info.map->maintenance) {
      Json g = MaintenanceGrantToJson(node, grant);
      g.erase("pid");
      g.erase("start_time_ms");
      g.erase("request_revision");
      auto entry = info.map->nodes.find(node);
      g["failure_domain"] =
          entry != info.map->nodes.end() ? entry->second.record.failure_domain : "";
      g["phase"] = grant.returned_ms > 0 ? "catching_up" : "away";
      granted.push_back(std::move(g));
    }
  }
  // The manager's queue for requests it has seen; requests newer than its last word are
  // listed after them.
  Json queue = Json::array();
  std::set<std::string> listed;
  for (const QueuedMaintenance& q : info.maintenance_queue) {
    const bool still_asked =
        std::any_of(info.maintenance_requests.begin(), info.maintenance_requests.end(),
                    [&](const MaintenanceRequest& r) { return r.node == q.node; });
    if (!still_asked || (info.map && info.map->maintenance.contains(q.node))) continue;
    listed.insert(q.node.str());
    queue.push_back(MaintenanceQueueToJson({q})[0]);
  }
  for (const MaintenanceRequest& r : info.maintenance_requests) {
    if (listed.contains(r.node.str()) || (info.map && info.map->maintenance.contains(r.node))) {
      continue;
    }
    QueuedMaintenance q{r.node, r.reason, r.requested_ms, 0, "not yet seen by the manager"};
    queue.push_back(MaintenanceQueueToJson({q})[0]);
  }
  for (size_t i = 0; i < queue.size(); ++i) queue[i]["position"] = i + 1;
  Json recent = Json::array();
  for (const MaintenanceHistory& h : info.maintenance_history) {
    Json j = MaintenanceHistoryToJson(h);
    j.erase("request_revision");
    recent.push_back(std::move(j));
  }
  return Json{
      {"granted", std::move(granted)}, {"queue", std::move(queue)}, {"recent", std::move(recent)}};
}

Json MaintenanceStateOf(const Json& maintenance, const std::string& node) {
  for (const auto& g : maintenance.value("granted", Json::array())) {
    if (g.value("node", "") == node) {
      return Json{{"node", node},
                  {"state", "granted"},
                  {"position", 0},
                  {"waiting_for", ""},
                  {"phase", g.value("phase", "")}};
    }
  }
  for (const auto& q : maintenance.value("queue", Json::array())) {
    if (q.value("node", "") == node) {
      return Json{{"node", node},
                  {"state", "queued"},
                  {"position", q.value("position", 0)},
                  {"waiting_for", q.value("waiting_for", "")}};
    }
  }
  return Json{{"node", node}, {"state", "none"}, {"position", 0}, {"waiting_for", ""}};
}

Json ClusterStatusToJson(const ClusterStatusInfo& info) {
  std::map<NodeId, Json> nodes;
  std::set<std::string> domains;
  Json counts = {{"up", 0}, {"down", 0}, {"maintenance", 0}, {"out", 0}};
  auto count = [&](std::string_view state) {
    counts[std::string(state)] = counts[std::string(state)].get<int>() + 1;
  };
  if (info.map) {
    for (const auto& [id, entry] : info.map->nodes) {
      // The map is authoritative for the state; the live registration (if any) has the
      // freshest record (free space is not written to the map).
      auto live = info.live.find(id);
      const NodeRecord& record = live != info.live.end() ? live->second : entry.record;
      const std::string_view state = NodeStateName(entry.state);
      nodes.emplace(id, NodeJson(id, state, record, entry.since_ms));
      domains.insert(record.failure_domain);
      count(state);
    }
  }
  for (const auto& [id, record] : info.live) {
    if (nodes.count(id)) continue;
    // Registered but not yet in the map (no manager yet, or it has not reacted): up.
    nodes.emplace(id, NodeJson(id, "up", record, record.start_time_ms));
    domains.insert(record.failure_domain);
    count("up");
  }
  // Slots each node holds over every filesystem (a drained node holds none).
  std::map<NodeId, uint64_t> slots;
  std::map<PgMember, uint64_t> drive_slots;
  if (info.map) {
    for (const auto& [name, fs] : info.map->filesystems) {
      for (const auto& pg : fs.groups) {
        for (const auto& m : pg.members) {
          slots[m.node]++;
          drive_slots[m]++;
        }
      }
    }
  }
  Json node_list = Json::array();
  bool all_up = true;
  for (auto& [id, j] : nodes) {
    j["draining"] = info.draining.contains(id);
    j["slots"] = slots[id];
    for (uint32_t d = 0; d < j["drives"].size(); ++d) {
      const PgMember drive{id, d};
      j["drives"][d]["index"] = d;
      j["drives"][d]["slots"] = drive_slots[drive];
      j["drives"][d]["removing"] = info.removing.contains(drive);
    }
    if (j["state"] != "up") all_up = false;
    node_list.push_back(std::move(j));
  }
  Json domain_list = Json::array();
  for (const auto& d : domains) domain_list.push_back(d);
  Json filesystems = Json::array();
  std::string protection = "full";
  auto rank = [](const std::string& state) {
    return state == "unavailable" ? 4 : state == "critical" ? 3 : state == "degraded" ? 2 : 1;
  };
  uint64_t recovering = 0;
  if (info.map) {
    for (const auto& [name, fs] : info.map->filesystems) {
      Json f = FilesystemStatusToJson(fs, &*info.map);
      const std::string state = f.value("state", "full");
      if (rank(state) > rank(protection)) protection = state;
      recovering += fs.recovering.size();
      filesystems.push_back(std::move(f));
    }
  }
  Json rebuild = RebuildStatusToJson(info);
  const bool healthy = !info.manager.empty() && !node_list.empty() && all_up;
  return Json{{"cluster", info.config.name},
              {"protection", protection},
              {"filesystems", std::move(filesystems)},
              {"rebuild", std::move(rebuild)},
              {"epoch", info.map ? info.map->epoch.value : uint64_t{0}},
              {"manager", info.manager},
              {"nodes", std::move(node_list)},
              {"failure_domains", std::move(domain_list)},
              {"counts", std::move(counts)},
              {"maintenance", MaintenanceStatusToJson(info)},
              {"healthy", healthy}};
}

}  // namespace cvfs::control
