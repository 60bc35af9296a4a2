#include "control/filesystem_admin.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <thread>
#include <utility>

#include "control/cluster_manager.h"
#include "control/recovery_planner.h"
#include "core/logging.h"
#include "core/placement.h"
#include "core/stripe_routing.h"

namespace cvfs::control {
namespace {

using Json = nlohmann::json;

// Bound on create attempts while other creates move the id counter.
constexpr int kMaxDefineAttempts = 16;
constexpr Duration kPlacementPoll = std::chrono::milliseconds(100);

std::string Protection(const StripeGeometry& g) {
  return std::to_string(g.data_cells) + "+" + std::to_string(g.parity_cells);
}

// The definitions and the map, read in one snapshot.
struct FilesystemsSnapshot {
  std::map<std::string, FilesystemInfo> defined;
  std::optional<ClusterMap> map;
};

Result<FilesystemsSnapshot> ReadSnapshot(EtcdClient& etcd, const KeyLayout& keys) {
  TxnOp defs = TxnOp::Get(keys.FilesystemsPrefix());
  defs.range_end = PrefixRangeEnd(keys.FilesystemsPrefix());
  CVFS_ASSIGN_OR_RETURN(TxnResponse txn, etcd.Txn({}, {defs, TxnOp::Get(keys.Map())}, {}));
  if (!txn.succeeded || txn.responses.size() != 2) {
    return Status::MalformedMessage("etcd filesystems snapshot returned " +
                                    std::to_string(txn.responses.size()) + " responses, want 2");
  }
  FilesystemsSnapshot snapshot;
  for (const auto& kv : txn.responses[0].kvs) {
    Json parsed = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      LOG_WARN("fs.bad_definition key={} error=\"not JSON\"", kv.key);
      continue;
    }
    auto fs = FilesystemInfoFromJson(parsed);
    if (!fs.ok()) {
      LOG_WARN("fs.bad_definition key={} error=\"{}\"", kv.key, fs.status().ToString());
      continue;
    }
    snapshot.defined.emplace(fs->name, std::move(fs).value());
  }
  if (!txn.responses[1].kvs.empty()) {
    CVFS_ASSIGN_OR_RETURN(ClusterMap map, ParseClusterMap(txn.responses[1].kvs[0].value));
    snapshot.map = std::move(map);
  }
  return snapshot;
}

}  // namespace

Status ValidateFilesystemSpec(const FilesystemSpec& spec) {
  CVFS_RETURN_IF_ERROR(ValidateFilesystemName(spec.name));
  CVFS_RETURN_IF_ERROR(ValidateStripeGeometry(spec.geometry));
  if (spec.pg_count < 1 || spec.pg_count > static_cast<uint32_t>(kMaxPgCount)) {
    return Status::InvalidArgument("PG count " + std::to_string(spec.pg_count) + " is outside 1.." +
                                   std::to_string(kMaxPgCount));
  }
  return Status::Ok();
}

size_t CountEligibleDomains(const ClusterMap& map) {
  std::set<std::string> domains;
  for (const auto& [id, entry] : map.nodes) {
    if (entry.state == NodeState::kUp && !entry.record.drives.empty()) {
      domains.insert(entry.record.failure_domain);
    }
  }
  return domains.size();
}

Result<FilesystemInfo> DefineFilesystem(EtcdClient& etcd, const KeyLayout& keys,
                                        const FilesystemSpec& spec, int64_t now_ms) {
  CVFS_RETURN_IF_ERROR(ValidateFilesystemSpec(spec));
  const std::string fs_key = keys.Filesystem(spec.name);
  const std::string counter_key = keys.FilesystemNextId();
  for (int attempt = 0; attempt < kMaxDefineAttempts; ++attempt) {
    CVFS_ASSIGN_OR_RETURN(
        TxnResponse read,
        etcd.Txn({}, {TxnOp::Get(fs_key), TxnOp::Get(counter_key), TxnOp::Get(keys.Map())}, {}));
    if (read.responses.size() != 3) {
      return Status::MalformedMessage("etcd returned " + std::to_string(read.responses.size()) +
                                      " responses, want 3");
    }
    if (!read.responses[0].kvs.empty()) {
      return Status::AlreadyExists("filesystem '" + spec.name + "' exists already");
    }
    ClusterMap map;
    if (!read.responses[2].kvs.empty()) {
      CVFS_ASSIGN_OR_RETURN(map, ParseClusterMap(read.responses[2].kvs[0].value));
    }
    const size_t domains = CountEligibleDomains(map);
    const size_t width = static_cast<size_t>(spec.geometry.width());
    if (domains < width) {
      return Status::InvalidArgument(Protection(spec.geometry) + " needs " + std::to_string(width) +
                                     " failure domains; the cluster has " +
                                     std::to_string(domains) + " with an up node and a drive");
    }
    uint64_t next_id = 1;
    int64_t counter_revision = 0;
    if (!read.responses[1].kvs.empty()) {
      const KeyValue& kv = read.responses[1].kvs[0];
      const auto [end, ec] =
          std::from_chars(kv.value.data(), kv.value.data() + kv.value.size(), next_id);
      if (ec != std::errc() || end != kv.value.data() + kv.value.size() || next_id == 0 ||
          next_id > UINT32_MAX) {
        return Status::Corruption(counter_key + " holds '" + kv.value + "', not a filesystem id");
      }
      counter_revision = kv.mod_revision;
    }
    FilesystemInfo fs;
    fs.name = spec.name;
    fs.id = static_cast<uint32_t>(next_id);
    fs.geometry = spec.geometry;
    fs.pg_count = spec.pg_count;
    fs.root_squash = spec.root_squash;
    fs.created_ms = now_ms;
    // A trial placement on the current map refuses now what the manager could not place
    // (a map too large for etcd, too many filesystems) instead of leaving it pending.
    std::vector<std::pair<std::string, std::string>> failures;
    ClusterMap trial = map;
    PlaceFilesystems({{fs.name, fs}}, {}, &trial, nullptr, &failures);
    if (!failures.empty()) return Status::InvalidArgument(failures[0].second);
    CVFS_ASSIGN_OR_RETURN(
        TxnResponse write,
        etcd.Txn({Compare::KeyMissing(fs_key),
                  counter_revision == 0 ? Compare::KeyMissing(counter_key)
                                        : Compare::ModRevisionIs(counter_key, counter_revision)},
                 {TxnOp::Put(counter_key, std::to_string(next_id + 1)),
                  TxnOp::Put(fs_key, FilesystemInfoToJson(fs).dump())},
                 {TxnOp::Get(fs_key)}));
    if (write.succeeded) {
      LOG_INFO("fs.defined name={} id={} protection={} cell_bytes={} pg_count={} revision={}",
               fs.name, fs.id, Protection(fs.geometry), fs.geometry.cell_bytes, fs.pg_count,
               write.revision);
      return fs;
    }
    if (!write.responses.empty() && !write.responses[0].kvs.empty()) {
      return Status::AlreadyExists("filesystem '" + spec.name + "' exists already");
    }
    // Another create took the id we read: read again.
  }
  return Status::Conflict("filesystem id counter kept changing (" +
                          std::to_string(kMaxDefineAttempts) + " attempts): retry");
}

Result<ClusterMap> WaitForPlacement(EtcdClient& etcd, const KeyLayout& keys,
                                    const std::string& name, uint32_t id, Duration timeout) {
  const TimePoint deadline = Clock::System().Now() + timeout;
  while (true) {
    auto map = ReadMap(etcd, keys);
    if (map.ok() && map->has_value()) {
      auto it = (*map)->filesystems.find(name);
      if (it != (*map)->filesystems.end() && it->second.id == id && it->second.placed()) {
        return std::move(**map);
      }
    }
    if (Clock::System().Now() >= deadline) {
      return Status::DeadlineExceeded(
          "filesystem '" + name + "' (id " + std::to_string(id) +
          ") is defined but not placed after " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
          " ms: is a manager elected and are enough failure domains up (`cvfs status`, the "
          "manager's log)? It is placed as soon as they are");
    }
    std::this_thread::sleep_for(kPlacementPoll);
  }
}

Json FilesystemStatusToJson(const FilesystemInfo& fs, const ClusterMap* map) {
  Json out = {{"name", fs.name},
              {"id", fs.id},
              {"protection", Protection(fs.geometry)},
              {"data_cells", fs.geometry.data_cells},
              {"parity_cells", fs.geometry.parity_cells},
              {"cell_bytes", fs.geometry.cell_bytes},
              {"stripe_bytes", fs.geometry.stripe_bytes()},
              {"pg_count", fs.pg_count},
              {"root_squash", fs.root_squash},
              {"created_ms", fs.created_ms},
              {"placed", fs.placed()},
              {"placement", nullptr},
              {"state", "unplaced"},
              {"pgs_degraded", 0},
              {"pgs_critical", 0},
              {"pgs_unavailable", 0},
              {"pgs_rebuilding", 0},
              {"pgs_by_missing_cells", Json::object()},
              {"recovering_slots", 0},
              {"members_down", 0}};
  if (!fs.placed() || map == nullptr) return out;
  const PlacementStats stats = ComputePlacementStats(*map, fs.groups);
  out["placement"] = {{"drives", stats.drives},
                      {"max_cells", stats.max_cells},
                      {"min_cells", stats.min_cells},
                      {"mean_cells", stats.mean_cells},
                      {"max_over_mean", stats.max_over_mean},
                      {"nodes", stats.nodes},
                      {"max_primaries", stats.max_primaries},
                      {"mean_primaries", stats.mean_primaries}};
  // A PG lacks a cell when its member is down or recovering (not yet current).
  uint64_t degraded = 0, critical = 0, unavailable = 0, members_down = 0, rebuilding = 0;
  const int p = fs.geometry.parity_cells;
  Json by_missing = Json::object();
  for (const PlacementGroup& pg : fs.groups) {
    int up = 0;
    for (const PgMember& m : pg.members) {
      if (NodeIsUp(*map, m.node)) {
        ++up;
      } else {
        ++members_down;
      }
    }
    const int missing = MissingCells(*map, fs, pg.id);
    const bool recovering = std::any_of(fs.recovering.begin(), fs.recovering.end(),
                                        [&](const RecoveringSlot& s) { return s.pg == pg.id; });
    if (missing > 0) {
      ++degraded;
      const std::string key = std::to_string(missing);
      by_missing[key] = by_missing.value(key, 0) + 1;
    }
    if (missing == p) ++critical;
    if (missing > p || up < fs.geometry.data_cells) ++unavailable;
    if (recovering) ++rebuilding;
  }
  out["pgs_degraded"] = degraded;
  out["pgs_critical"] = critical;
  out["pgs_unavailable"] = unavailable;
  out["pgs_rebuilding"] = rebuilding;
  out["pgs_by_missing_cells"] = std::move(by_missing);
  out["recovering_slots"] = fs.recovering.size();
  out["members_down"] = members_down;
  // The worst PG decides: full (every cell current), degraded (some PG lacks fewer than P),
  // critical (some PG lacks P: one more failure loses data), unavailable (lacks more).
  out["state"] = unavailable > 0 ? "unavailable"
                 : critical > 0  ? "critical"
                 : degraded > 0  ? "degraded"
                                 : "full";
  return out;
}

Result<Json> ListFilesystemsJson(EtcdClient& etcd, const KeyLayout& keys) {
  CVFS_ASSIGN_OR_RETURN(FilesystemsSnapshot snapshot, ReadSnapshot(etcd, keys));
  std::map<std::string, const FilesystemInfo*> all;
  for (const auto& [name, fs] : snapshot.defined) all[name] = &fs;
  if (snapshot.map) {
    for (const auto& [name, fs] : snapshot.map->filesystems) all[name] = &fs;  // placed wins
  }
  Json list = Json::array();
  for (const auto& [name, fs] : all) {
    list.push_back(FilesystemStatusToJson(*fs, snapshot.map ? &*snapshot.map : nullptr));
  }
  return list;
}

Result<Json> FilesystemStatusJson(EtcdClient& etcd, const KeyLayout& keys,
                                  const std::string& name) {
  CVFS_RETURN_IF_ERROR(ValidateFilesystemName(name));
  CVFS_ASSIGN_OR_RETURN(FilesystemsSnapshot snapshot, ReadSnapshot(etcd, keys));
  const ClusterMap* map = snapshot.map ? &*snapshot.map : nullptr;
  if (map != nullptr) {
    if (auto it = map->filesystems.find(name); it != map->filesystems.end()) {
      return FilesystemStatusToJson(it->second, map);
    }
  }
  if (auto it = snapshot.defined.find(name); it != snapshot.defined.end()) {
    return FilesystemStatusToJson(it->second, map);
  }
  return Status::NotFound("filesystem '" + name + "' does not exist: run `cvfs fs create " + name +
                          " --protection N+P --cell SIZE`");
}

}  // namespace cvfs::control
