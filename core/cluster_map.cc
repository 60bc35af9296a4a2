#include "core/cluster_map.h"

#include <algorithm>
#include <tuple>

#include <cctype>
#include <limits>
#include <set>
#include <utility>

#include "core/placement.h"

namespace cvfs {
namespace {

using nlohmann::json;

Status Malformed(std::string_view where, std::string_view what) {
  return Status::MalformedMessage(std::string(where) + ": " + std::string(what));
}

const json* Field(const json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

Status GetString(const json& object, const char* name, bool required, std::string_view where,
                 std::string* out) {
  const json* value = Field(object, name);
  if (value == nullptr || value->is_null()) {
    if (required) return Malformed(where, std::string("missing field '") + name + "'");
    out->clear();
    return Status::Ok();
  }
  if (!value->is_string()) {
    return Malformed(where, std::string("field '") + name + "' is not a string");
  }
  const auto& text = value->get_ref<const std::string&>();
  if (text.size() > kMaxRecordStringLength) {
    return Malformed(where, std::string("field '") + name + "' is too long");
  }
  *out = text;
  return Status::Ok();
}

Status GetUint64(const json& object, const char* name, bool required, std::string_view where,
                 uint64_t* out) {
  const json* value = Field(object, name);
  if (value == nullptr) {
    if (required) return Malformed(where, std::string("missing field '") + name + "'");
    *out = 0;
    return Status::Ok();
  }
  if (!value->is_number_unsigned()) {
    return Malformed(where, std::string("field '") + name + "' is not a non-negative integer");
  }
  *out = value->get<uint64_t>();
  return Status::Ok();
}

Status GetInt64(const json& object, const char* name, bool required, std::string_view where,
                int64_t* out) {
  const json* value = Field(object, name);
  if (value == nullptr) {
    if (required) return Malformed(where, std::string("missing field '") + name + "'");
    *out = 0;
    return Status::Ok();
  }
  if (value->is_number_unsigned()) {
    const uint64_t u = value->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      return Malformed(where, std::string("field '") + name + "' is out of range");
    }
    *out = static_cast<int64_t>(u);
    return Status::Ok();
  }
  if (!value->is_number_integer()) {
    return Malformed(where, std::string("field '") + name + "' is not an integer");
  }
  *out = value->get<int64_t>();
  return Status::Ok();
}

Status CheckFormat(const json& object, std::string_view where) {
  int64_t format = 0;
  CVFS_RETURN_IF_ERROR(GetInt64(object, "format", /*required=*/true, where, &format));
  if (format < 1) return Malformed(where, "format must be >= 1");
  if (format > kClusterMapFormat) {
    return Status::ProtocolMismatch(std::string(where) + ": format " + std::to_string(format) +
                                    " is newer than supported " +
                                    std::to_string(kClusterMapFormat));
  }
  return Status::Ok();
}

Result<DriveInfo> DriveInfoFromJson(const json& object, std::string_view where) {
  if (!object.is_object()) return Malformed(where, "drive is not an object");
  DriveInfo drive;
  CVFS_RETURN_IF_ERROR(GetString(object, "path", true, where, &drive.path));
  if (drive.path.empty()) return Malformed(where, "drive path is empty");
  CVFS_RETURN_IF_ERROR(GetUint64(object, "capacity_bytes", true, where, &drive.capacity_bytes));
  CVFS_RETURN_IF_ERROR(GetUint64(object, "free_bytes", true, where, &drive.free_bytes));
  if (drive.free_bytes > drive.capacity_bytes) {
    return Malformed(where, "drive free_bytes exceeds capacity_bytes");
  }
  std::string state = "ok";
  CVFS_RETURN_IF_ERROR(GetString(object, "state", false, where, &state));
  if (state == "ok" || state.empty()) {  // records of older versions have no state
    drive.state = DriveState::kOk;
  } else if (state == "failed") {
    drive.state = DriveState::kFailed;
  } else {
    return Malformed(where, "drive state '" + state + "' is not ok or failed");
  }
  if (const json* failed = Field(object, "failed_ms"); failed != nullptr) {
    if (!failed->is_number_integer()) return Malformed(where, "drive failed_ms is not an integer");
    drive.failed_ms = failed->get<int64_t>();
  }
  CVFS_RETURN_IF_ERROR(GetString(object, "serial", false, where, &drive.serial));
  return drive;
}

// The record body without the format check (records nested in a map share the map's).
Result<NodeRecord> NodeRecordBodyFromJson(const json& object, std::string_view where) {
  if (!object.is_object()) return Malformed(where, "node record is not an object");
  NodeRecord record;
  std::string id;
  CVFS_RETURN_IF_ERROR(GetString(object, "id", true, where, &id));
  if (Status s = ValidateNodeId(id); !s.ok()) return Malformed(where, s.message());
  record.id = NodeId(std::move(id));
  const std::string node_where = std::string(where) + " node " + record.id.str();
  CVFS_RETURN_IF_ERROR(
      GetString(object, "failure_domain", true, node_where, &record.failure_domain));
  if (record.failure_domain.empty()) return Malformed(node_where, "failure_domain is empty");
  CVFS_RETURN_IF_ERROR(GetString(object, "host", true, node_where, &record.host));
  CVFS_RETURN_IF_ERROR(
      GetString(object, "fabric_provider", false, node_where, &record.fabric_provider));
  CVFS_RETURN_IF_ERROR(
      GetString(object, "fabric_address", false, node_where, &record.fabric_address));
  CVFS_RETURN_IF_ERROR(GetString(object, "version", false, node_where, &record.version));
  CVFS_RETURN_IF_ERROR(GetInt64(object, "pid", false, node_where, &record.pid));
  CVFS_RETURN_IF_ERROR(GetInt64(object, "start_time_ms", false, node_where, &record.start_time_ms));
  if (const json* drives = Field(object, "drives"); drives != nullptr) {
    if (!drives->is_array()) return Malformed(node_where, "drives is not an array");
    if (drives->size() > kMaxDrivesPerNode) return Malformed(node_where, "too many drives");
    for (const json& d : *drives) {
      CVFS_ASSIGN_OR_RETURN(DriveInfo drive, DriveInfoFromJson(d, node_where));
      record.drives.push_back(std::move(drive));
    }
  }
  return record;
}

nlohmann::json NodeRecordBodyToJson(const NodeRecord& record) {
  json drives = json::array();
  for (const auto& d : record.drives) drives.push_back(DriveInfoToJson(d));
  return json{{"id", record.id.str()},
              {"failure_domain", record.failure_domain},
              {"host", record.host},
              {"fabric_provider", record.fabric_provider},
              {"fabric_address", record.fabric_address},
              {"drives", std::move(drives)},
              {"version", record.version},
              {"pid", record.pid},
              {"start_time_ms", record.start_time_ms}};
}

Status GetBoundedInt(const json& object, const char* name, std::string_view where, int64_t min,
                     int64_t max, int64_t* out) {
  CVFS_RETURN_IF_ERROR(GetInt64(object, name, /*required=*/true, where, out));
  if (*out < min || *out > max) {
    return Malformed(where, std::string("field '") + name + "' = " + std::to_string(*out) +
                                " is outside " + std::to_string(min) + ".." + std::to_string(max));
  }
  return Status::Ok();
}

// The shared rule of node ids and filesystem names (they become etcd key components):
// 1..max_length characters of [A-Za-z0-9._-], starting with a letter or digit.
Status ValidateIdentifier(std::string_view what, std::string_view name, size_t max_length) {
  const std::string kind(what);
  if (name.empty()) return Status::InvalidArgument(kind + " is empty");
  if (name.size() > max_length) {
    return Status::InvalidArgument(kind + " longer than " + std::to_string(max_length));
  }
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) {
    return Status::InvalidArgument(kind + " '" + std::string(name) +
                                   "' must start with a letter or digit");
  }
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument(kind + " '" + std::string(name) +
                                     "' has a character outside [A-Za-z0-9._-]");
    }
  }
  return Status::Ok();
}

template <typename T, typename F>
Result<T> ParseText(std::string_view text, std::string_view what, F from_json) {
  json parsed = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Malformed(what, "not valid JSON");
  try {
    return from_json(parsed);
  } catch (const json::exception& e) {
    // FromJson checks types before every access; this is a last line of defence.
    return Malformed(what, e.what());
  }
}

}  // namespace

Status ValidateNodeId(std::string_view id) {
  return ValidateIdentifier("node id", id, kMaxNodeIdLength);
}

Status ValidateFilesystemName(std::string_view name) {
  return ValidateIdentifier("filesystem name", name, kMaxFilesystemNameLength);
}

nlohmann::json FilesystemInfoToJson(const FilesystemInfo& fs) {
  json out{{"name", fs.name},
           {"id", fs.id},
           {"data_cells", fs.geometry.data_cells},
           {"parity_cells", fs.geometry.parity_cells},
           {"cell_bytes", fs.geometry.cell_bytes},
           {"pg_count", fs.pg_count},
           {"created_ms", fs.created_ms}};
  if (fs.root_squash) out["root_squash"] = true;
  if (!fs.groups.empty()) out["groups"] = PlacementGroupsToJson(fs.groups);
  if (!fs.recovering.empty()) {
    json slots = json::array();
    for (const RecoveringSlot& slot : fs.recovering) {
      slots.push_back(json{{"pg", slot.pg},
                           {"index", slot.index},
                           {"node", slot.node.str()},
                           {"kind", std::string(RecoveryKindName(slot.kind))},
                           {"since_ms", slot.since_ms}});
    }
    out["recovering"] = std::move(slots);
  }
  return out;
}

std::string_view RecoveryKindName(RecoveryKind kind) {
  return kind == RecoveryKind::kResync ? "resync" : "rebuild";
}

bool FilesystemInfo::IsRecovering(uint32_t pg, int index) const {
  // Routing asks this for every member of every stripe it routes: binary search over the
  // (pg, index) order `recovering` is kept in.
  auto it = std::lower_bound(recovering.begin(), recovering.end(), std::make_pair(pg, index),
                             [](const RecoveringSlot& s, const std::pair<uint32_t, int>& key) {
                               return std::make_pair(s.pg, int(s.index)) < key;
                             });
  return it != recovering.end() && it->pg == pg && it->index == index;
}

Result<FilesystemInfo> FilesystemInfoFromJson(const nlohmann::json& json_value) {
  std::string where = "filesystem";
  if (!json_value.is_object()) return Malformed(where, "not a JSON object");
  FilesystemInfo fs;
  CVFS_RETURN_IF_ERROR(GetString(json_value, "name", true, where, &fs.name));
  if (Status s = ValidateFilesystemName(fs.name); !s.ok()) return Malformed(where, s.message());
  where += " " + fs.name;
  int64_t value = 0;
  CVFS_RETURN_IF_ERROR(
      GetBoundedInt(json_value, "id", where, 1, std::numeric_limits<uint32_t>::max(), &value));
  fs.id = static_cast<uint32_t>(value);
  CVFS_RETURN_IF_ERROR(GetBoundedInt(json_value, "data_cells", where, 0, kMaxPgWidth, &value));
  fs.geometry.data_cells = static_cast<int>(value);
  CVFS_RETURN_IF_ERROR(GetBoundedInt(json_value, "parity_cells", where, 0, kMaxPgWidth, &value));
  fs.geometry.parity_cells = static_cast<int>(value);
  CVFS_RETURN_IF_ERROR(GetBoundedInt(json_value, "cell_bytes", where, 0,
                                     std::numeric_limits<uint32_t>::max(), &value));
  fs.geometry.cell_bytes = static_cast<uint32_t>(value);
  if (Status s = ValidateStripeGeometry(fs.geometry); !s.ok()) {
    return Malformed(where, s.message());
  }
  CVFS_RETURN_IF_ERROR(GetBoundedInt(json_value, "pg_count", where, 1, kMaxPgCount, &value));
  fs.pg_count = static_cast<uint32_t>(value);
  CVFS_RETURN_IF_ERROR(GetInt64(json_value, "created_ms", false, where, &fs.created_ms));
  if (const json* squash = Field(json_value, "root_squash"); squash != nullptr) {
    if (!squash->is_boolean()) return Malformed(where, "root_squash is not a boolean");
    fs.root_squash = squash->get<bool>();
  }
  if (const json* groups = Field(json_value, "groups"); groups != nullptr && !groups->is_null()) {
    auto parsed = PlacementGroupsFromJson(*groups);
    if (!parsed.ok()) return Malformed(where, parsed.status().message());
    fs.groups = std::move(parsed).value();
    if (!fs.groups.empty()) {
      if (fs.groups.size() != fs.pg_count) {
        return Malformed(where, "groups has " + std::to_string(fs.groups.size()) +
                                    " PGs, pg_count is " + std::to_string(fs.pg_count));
      }
      // PlacementGroupsFromJson checked that every PG has the same width.
      if (fs.groups[0].members.size() != static_cast<size_t>(fs.geometry.width())) {
        return Malformed(where, "PGs are " + std::to_string(fs.groups[0].members.size()) +
                                    " wide, the geometry needs " +
                                    std::to_string(fs.geometry.width()));
      }
    }
  }
  if (const json* slots = Field(json_value, "recovering"); slots != nullptr && !slots->is_null()) {
    if (!slots->is_array()) return Malformed(where, "recovering is not an array");
    if (slots->size() > size_t(fs.pg_count) * size_t(fs.geometry.width())) {
      return Malformed(where, "recovering lists more slots than the table has");
    }
    for (const json& j : *slots) {
      if (!j.is_object()) return Malformed(where, "recovering entry is not an object");
      RecoveringSlot slot;
      CVFS_RETURN_IF_ERROR(GetBoundedInt(j, "pg", where, 0, int64_t(fs.pg_count) - 1, &value));
      slot.pg = static_cast<uint32_t>(value);
      CVFS_RETURN_IF_ERROR(GetBoundedInt(j, "index", where, 0, fs.geometry.width() - 1, &value));
      slot.index = static_cast<uint16_t>(value);
      std::string node;
      CVFS_RETURN_IF_ERROR(GetString(j, "node", true, where, &node));
      if (Status s = ValidateNodeId(node); !s.ok()) return Malformed(where, s.message());
      slot.node = NodeId(std::move(node));
      std::string kind;
      CVFS_RETURN_IF_ERROR(GetString(j, "kind", true, where, &kind));
      if (kind != "rebuild" && kind != "resync") {
        return Malformed(where, "recovering kind '" + kind + "' is not rebuild or resync");
      }
      slot.kind = kind == "resync" ? RecoveryKind::kResync : RecoveryKind::kRebuild;
      CVFS_RETURN_IF_ERROR(GetInt64(j, "since_ms", false, where, &slot.since_ms));
      fs.recovering.push_back(std::move(slot));
    }
    std::sort(fs.recovering.begin(), fs.recovering.end(),
              [](const RecoveringSlot& a, const RecoveringSlot& b) {
                return std::tie(a.pg, a.index) < std::tie(b.pg, b.index);
              });
    for (size_t i = 1; i < fs.recovering.size(); ++i) {
      const RecoveringSlot& slot = fs.recovering[i];
      if (slot.pg == fs.recovering[i - 1].pg && slot.index == fs.recovering[i - 1].index) {
        return Malformed(where, "recovering lists PG " + std::to_string(slot.pg) + " slot " +
                                    std::to_string(slot.index) + " twice");
      }
    }
  }
  return fs;
}

std::string_view DriveStateName(DriveState state) {
  switch (state) {
    case DriveState::kOk:
      return "ok";
    case DriveState::kFailed:
      return "failed";
    case DriveState::kHeld:
      return "held";
  }
  return "?";
}

std::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kUp:
      return "up";
    case NodeState::kDown:
      return "down";
    case NodeState::kMaintenance:
      return "maintenance";
    case NodeState::kOut:
      return "out";
  }
  return "unknown";
}

Result<NodeState> ParseNodeState(std::string_view name) {
  for (NodeState s : {NodeState::kUp, NodeState::kDown, NodeState::kMaintenance, NodeState::kOut}) {
    if (NodeStateName(s) == name) return s;
  }
  return Status::InvalidArgument("unknown node state '" + std::string(name) + "'");
}

bool SameMembership(const NodeRecord& a, const NodeRecord& b) {
  if (a.drives.size() != b.drives.size()) return false;
  for (size_t i = 0; i < a.drives.size(); ++i) {
    if (a.drives[i].path != b.drives[i].path ||
        a.drives[i].capacity_bytes != b.drives[i].capacity_bytes ||
        a.drives[i].state != b.drives[i].state || a.drives[i].serial != b.drives[i].serial) {
      return false;
    }
  }
  return a.id == b.id && a.failure_domain == b.failure_domain && a.host == b.host &&
         a.fabric_provider == b.fabric_provider && a.fabric_address == b.fabric_address &&
         a.version == b.version && a.pid == b.pid && a.start_time_ms == b.start_time_ms;
}

nlohmann::json DriveInfoToJson(const DriveInfo& drive) {
  json out{{"path", drive.path},
           {"capacity_bytes", drive.capacity_bytes},
           {"free_bytes", drive.free_bytes}};
  // A planning view is never stored: kHeld is written as what nodes register.
  out["state"] = drive.state == DriveState::kFailed ? "failed" : "ok";
  if (drive.state == DriveState::kFailed) out["failed_ms"] = drive.failed_ms;
  if (!drive.serial.empty()) out["serial"] = drive.serial;
  return out;
}

nlohmann::json NodeRecordToJson(const NodeRecord& record) {
  json out = NodeRecordBodyToJson(record);
  out["format"] = kClusterMapFormat;
  return out;
}

Result<NodeRecord> NodeRecordFromJson(const nlohmann::json& json_value) {
  if (!json_value.is_object()) return Malformed("node record", "not a JSON object");
  CVFS_RETURN_IF_ERROR(CheckFormat(json_value, "node record"));
  return NodeRecordBodyFromJson(json_value, "node record");
}

nlohmann::json MaintenanceGrantToJson(const NodeId& node, const MaintenanceGrant& grant) {
  return json{{"node", node.str()},
              {"reason", grant.reason},
              {"request_revision", grant.request_revision},
              {"requested_ms", grant.requested_ms},
              {"granted_ms", grant.granted_ms},
              {"window_ms", grant.window_ms},
              {"returned_ms", grant.returned_ms},
              {"pid", grant.pid},
              {"start_time_ms", grant.start_time_ms},
              {"resynced_bytes", grant.resynced_bytes}};
}

namespace {

Status MaintenanceFromJson(const json& list, ClusterMap* map) {
  constexpr std::string_view kWhere = "cluster map maintenance";
  if (!list.is_array()) return Malformed(kWhere, "not an array");
  for (const json& g : list) {
    if (!g.is_object()) return Malformed(kWhere, "grant is not an object");
    std::string node;
    CVFS_RETURN_IF_ERROR(GetString(g, "node", true, kWhere, &node));
    if (Status s = ValidateNodeId(node); !s.ok()) return Malformed(kWhere, s.message());
    MaintenanceGrant grant;
    CVFS_RETURN_IF_ERROR(GetString(g, "reason", false, kWhere, &grant.reason));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "request_revision", false, kWhere, &grant.request_revision));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "requested_ms", false, kWhere, &grant.requested_ms));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "granted_ms", true, kWhere, &grant.granted_ms));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "window_ms", true, kWhere, &grant.window_ms));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "returned_ms", false, kWhere, &grant.returned_ms));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "pid", false, kWhere, &grant.pid));
    CVFS_RETURN_IF_ERROR(GetInt64(g, "start_time_ms", false, kWhere, &grant.start_time_ms));
    CVFS_RETURN_IF_ERROR(GetUint64(g, "resynced_bytes", false, kWhere, &grant.resynced_bytes));
    if (!map->maintenance.emplace(NodeId(node), std::move(grant)).second) {
      return Malformed(kWhere, "two grants for node " + node);
    }
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json ClusterMapToJson(const ClusterMap& map) {
  json filesystems = json::array();
  for (const auto& [name, fs] : map.filesystems) filesystems.push_back(FilesystemInfoToJson(fs));
  json maintenance = json::array();
  for (const auto& [id, grant] : map.maintenance) {
    maintenance.push_back(MaintenanceGrantToJson(id, grant));
  }
  json nodes = json::array();
  for (const auto& [id, entry] : map.nodes) {
    nodes.push_back(json{{"id", id.str()},
                         {"state", std::string(NodeStateName(entry.state))},
                         {"since_ms", entry.since_ms},
                         {"record", NodeRecordBodyToJson(entry.record)}});
  }
  return json{{"format", kClusterMapFormat},
              {"cluster", map.cluster},
              {"epoch", map.epoch.value},
              {"manager", map.manager.empty() ? json(nullptr) : json(map.manager.str())},
              {"manager_term", map.manager_term},
              {"updated_ms", map.updated_ms},
              {"nodes", std::move(nodes)},
              {"filesystems", std::move(filesystems)},
              {"maintenance", std::move(maintenance)}};
}

Result<ClusterMap> ClusterMapFromJson(const nlohmann::json& json_value) {
  constexpr std::string_view kWhere = "cluster map";
  if (!json_value.is_object()) return Malformed(kWhere, "not a JSON object");
  CVFS_RETURN_IF_ERROR(CheckFormat(json_value, kWhere));
  ClusterMap map;
  CVFS_RETURN_IF_ERROR(GetString(json_value, "cluster", true, kWhere, &map.cluster));
  if (map.cluster.empty()) return Malformed(kWhere, "cluster name is empty");
  CVFS_RETURN_IF_ERROR(GetUint64(json_value, "epoch", true, kWhere, &map.epoch.value));
  std::string manager;
  CVFS_RETURN_IF_ERROR(GetString(json_value, "manager", false, kWhere, &manager));
  if (!manager.empty()) {
    if (Status s = ValidateNodeId(manager); !s.ok()) return Malformed(kWhere, s.message());
    map.manager = NodeId(std::move(manager));
  }
  CVFS_RETURN_IF_ERROR(GetInt64(json_value, "manager_term", false, kWhere, &map.manager_term));
  CVFS_RETURN_IF_ERROR(GetInt64(json_value, "updated_ms", false, kWhere, &map.updated_ms));
  const json* nodes = Field(json_value, "nodes");
  if (nodes == nullptr) return Malformed(kWhere, "missing field 'nodes'");
  if (!nodes->is_array()) return Malformed(kWhere, "nodes is not an array");
  if (nodes->size() > kMaxNodesPerMap) return Malformed(kWhere, "too many nodes");
  for (const json& n : *nodes) {
    if (!n.is_object()) return Malformed(kWhere, "node entry is not an object");
    std::string id;
    CVFS_RETURN_IF_ERROR(GetString(n, "id", true, kWhere, &id));
    if (Status s = ValidateNodeId(id); !s.ok()) return Malformed(kWhere, s.message());
    const std::string where = std::string(kWhere) + " node " + id;
    NodeEntry entry;
    std::string state;
    CVFS_RETURN_IF_ERROR(GetString(n, "state", true, where, &state));
    Result<NodeState> parsed_state = ParseNodeState(state);
    if (!parsed_state.ok()) return Malformed(where, parsed_state.status().message());
    entry.state = *parsed_state;
    CVFS_RETURN_IF_ERROR(GetInt64(n, "since_ms", true, where, &entry.since_ms));
    const json* record = Field(n, "record");
    if (record == nullptr) return Malformed(where, "missing field 'record'");
    CVFS_ASSIGN_OR_RETURN(entry.record, NodeRecordBodyFromJson(*record, where));
    if (entry.record.id.str() != id) return Malformed(where, "record id differs from entry id");
    NodeId node_id(std::move(id));
    if (map.nodes.contains(node_id)) return Malformed(where, "duplicate node id");
    map.nodes.emplace(std::move(node_id), std::move(entry));
  }
  if (const json* filesystems = Field(json_value, "filesystems");
      filesystems != nullptr && !filesystems->is_null()) {
    if (!filesystems->is_array()) return Malformed(kWhere, "filesystems is not an array");
    if (filesystems->size() > kMaxFilesystemsPerMap) {
      return Malformed(kWhere, "too many filesystems");
    }
    std::set<uint32_t> ids;
    for (const json& f : *filesystems) {
      CVFS_ASSIGN_OR_RETURN(FilesystemInfo fs, FilesystemInfoFromJson(f));
      const std::string where = std::string(kWhere) + " filesystem " + fs.name;
      if (!ids.insert(fs.id).second) return Malformed(where, "duplicate filesystem id");
      if (map.filesystems.contains(fs.name)) return Malformed(where, "duplicate filesystem name");
      std::string name = fs.name;
      map.filesystems.emplace(std::move(name), std::move(fs));
    }
  }
  if (const json* maintenance = Field(json_value, "maintenance");
      maintenance != nullptr && !maintenance->is_null()) {
    CVFS_RETURN_IF_ERROR(MaintenanceFromJson(*maintenance, &map));
  }
  return map;
}

std::string SerializeNodeRecord(const NodeRecord& record) {
  return NodeRecordToJson(record).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<NodeRecord> ParseNodeRecord(std::string_view text) {
  return ParseText<NodeRecord>(text, "node record",
                               [](const json& j) { return NodeRecordFromJson(j); });
}

std::string SerializeClusterMap(const ClusterMap& map) {
  return ClusterMapToJson(map).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ClusterMap> ParseClusterMap(std::string_view text) {
  return ParseText<ClusterMap>(text, "cluster map",
                               [](const json& j) { return ClusterMapFromJson(j); });
}

}  // namespace cvfs
