// The cluster map: the one authoritative description of which cvfsd nodes exist and in
// which state, versioned by an Epoch. Only the elected manager writes it (to etcd, with a
// compare-and-swap); every daemon and client reads and watches it and acts on the epoch.
//
// Also the NodeRecord a cvfsd registers about itself (what it is, where it listens, which
// drives it brings). Both types have a JSON form that is stored in etcd; decoding verifies
// every field and returns kMalformedMessage with the offending field instead of throwing.
// Unknown fields are ignored on decode, so newer writers (placement groups, maintenance
// records) stay readable by older readers of the same format version.
//
// Thread-safety: value types; distinct objects may be used from distinct threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/node_id.h"
#include "core/placement_group.h"
#include "core/status.h"
#include "core/stripe_layout.h"

namespace cvfs {

// Format version of the stored JSON (map and node records). Bumped only on an incompatible
// change; a reader refuses a newer format with kProtocolMismatch.
inline constexpr int kClusterMapFormat = 1;
// Bounds that keep a hostile or corrupt record from exhausting memory.
inline constexpr size_t kMaxDrivesPerNode = 256;
inline constexpr size_t kMaxNodesPerMap = 65536;
inline constexpr size_t kMaxRecordStringLength = 4096;

// Lifecycle state of a node in the map. The names are stable: they appear in the stored
// map, in `cvfs status --json` and in logs.
enum class NodeState {
  kUp,           // registered (its lease is alive) and serving
  kDown,         // was in the map, its registration vanished (lease expired or revoked)
  kMaintenance,  // granted a planned maintenance window: no rebuild starts for it
  kOut,          // removed by the administrator: holds no data, kept for the record
};

// "up", "down", "maintenance", "out".
std::string_view NodeStateName(NodeState state);
// Inverse of NodeStateName; kInvalidArgument on any other text.
Result<NodeState> ParseNodeState(std::string_view name);

// A drive's health. A node registers kOk or kFailed (docs/design/rebuild.md, "Drives");
// kHeld exists only in the manager's planning view, never in a stored map.
enum class DriveState {
  kOk,
  kFailed,  // stopped answering (statvfs, its label, a write probe): its cells are lost
  kHeld,    // planning view: keeps its slots, takes no new one (failed within its grace, or
            // being removed)
};
// "ok", "failed", "held".
std::string_view DriveStateName(DriveState state);

struct DriveInfo {
  std::string path;
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
  DriveState state = DriveState::kOk;
  int64_t failed_ms = 0;  // kFailed: when the node saw it fail (its wall clock)
  // Written into the drive's label when it is first used: a new serial at the same index
  // means the drive was replaced (`cvfs drive replace`) and holds none of its old cells.
  std::string serial;

  bool operator==(const DriveInfo&) const = default;
};

// What a cvfsd registers under its lease: everything another process needs to reach it.
struct NodeRecord {
  NodeId id;
  std::string failure_domain;   // admin label (node, rack, ...): PG members differ in it
  std::string host;             // host name, for people and for the Slurm hooks
  std::string fabric_provider;  // "tcp;ofi_rxm", "verbs;ofi_rxm", "shm"
  std::string fabric_address;   // opaque to the control plane, produced by net/ (printable text)
  std::vector<DriveInfo> drives;
  std::string version;  // cvfsd version string
  int64_t pid = 0;
  int64_t start_time_ms = 0;  // wall clock, ms since the Unix epoch

  bool operator==(const NodeRecord&) const = default;
};

// True when the two records describe the same membership, i.e. they differ at most in
// volatile usage figures (free_bytes). The manager bumps the epoch only on such changes,
// so free-space updates do not churn the map.
bool SameMembership(const NodeRecord& a, const NodeRecord& b);

// One node as the map sees it.
struct NodeEntry {
  NodeState state = NodeState::kUp;
  int64_t since_ms = 0;  // wall clock when the node entered `state`
  NodeRecord record;     // the last registration the manager saw

  bool operator==(const NodeEntry&) const = default;
};

// A PG slot whose member does not yet hold every committed cell (and, for the first P+1
// members, every metadata record) of its PG: a replacement member being rebuilt after its
// predecessor's grace period ran out, or a member that came back after missing writes and
// is being resynced. Readers never read from a recovering slot (they decode around it);
// writers include it, so every stripe written after the slot was assigned is current there.
// The PG's primary brings the slot up to date and reports it done; the manager then drops
// the entry (only if `node` still holds the slot, so a stale report cannot clear a newer
// assignment). docs/design/rebuild.md.
enum class RecoveryKind { kRebuild, kResync };
std::string_view RecoveryKindName(RecoveryKind kind);  // "rebuild", "resync"

struct RecoveringSlot {
  uint32_t pg = 0;
  uint16_t index = 0;  // member index = cell index
  NodeId node;         // the member being brought up to date
  RecoveryKind kind = RecoveryKind::kRebuild;
  int64_t since_ms = 0;  // wall clock when the slot started recovering

  bool operator==(const RecoveringSlot&) const = default;
};

// A filesystem: its protection scheme and, once the manager placed it, its PG table.
// Defined by `cvfs fs create` (stored under KeyLayout::FilesystemsPrefix() without groups);
// the manager copies it into the map with `groups` filled (pg_count PGs of N+P members).
// The table is computed when the filesystem is placed; afterwards the manager changes a
// slot only when its member's grace period ran out (rebuild onto a replacement), and lists
// in `recovering` the slots whose member is not yet up to date.
struct FilesystemInfo {
  std::string name;  // [A-Za-z0-9._-], 1..64, starts with a letter or digit
  uint32_t id = 0;   // > 0, unique in the cluster, never reused; part of every cell key
  StripeGeometry geometry;
  uint32_t pg_count = 0;
  int64_t created_ms = 0;
  bool root_squash = false;            // namespace requests from uid 0 act as nobody (65534)
  std::vector<PlacementGroup> groups;  // empty: not placed yet
  // Sorted by (pg, index), at most one per slot (IsRecovering relies on it; the JSON decoder
  // sorts, the manager keeps it sorted).
  std::vector<RecoveringSlot> recovering;

  bool placed() const { return !groups.empty(); }
  // True when (pg, index) is listed in `recovering`.
  bool IsRecovering(uint32_t pg, int index) const;
  bool operator==(const FilesystemInfo&) const = default;
};

inline constexpr size_t kMaxFilesystemNameLength = 64;
inline constexpr size_t kMaxFilesystemsPerMap = 1024;

// OK if `name` is 1..kMaxFilesystemNameLength characters of [A-Za-z0-9._-] starting with a
// letter or digit (it becomes an etcd key component); kInvalidArgument naming the problem.
Status ValidateFilesystemName(std::string_view name);

// A planned maintenance the manager granted (control/maintenance_planner.h). While the
// node is away its map state is kMaintenance: no rebuild starts for it, readers and writers
// go around it, and it keeps its slots. When it registers again (a new pid or start time:
// it rebooted) or the grant is withdrawn while it runs, it is up again, its slots resync
// what it missed, and the grant stays (returned_ms set, "catching up") until none of its
// slots is recovering. A grant still away after window_ms becomes an ordinary failure.
struct MaintenanceGrant {
  std::string reason;
  int64_t request_revision = 0;  // etcd create revision of the request (its queue order)
  int64_t requested_ms = 0;
  int64_t granted_ms = 0;
  int64_t window_ms = 0;
  int64_t returned_ms = 0;  // 0 while away; when the node was up again (catching up)
  // The registration at the grant: a different pid or start time afterwards is a reboot.
  int64_t pid = 0;
  int64_t start_time_ms = 0;
  uint64_t resynced_bytes = 0;  // data bytes its resync wrote so far (completion records)

  bool operator==(const MaintenanceGrant&) const = default;
};

struct ClusterMap {
  std::string cluster;
  Epoch epoch;
  NodeId manager;            // empty until a manager wrote the map
  int64_t manager_term = 0;  // create revision of the manager's election key (fencing)
  int64_t updated_ms = 0;    // wall clock of the write
  std::map<NodeId, NodeEntry> nodes;
  std::map<std::string, FilesystemInfo> filesystems;  // by name
  std::map<NodeId, MaintenanceGrant> maintenance;     // current grants (away or catching up)

  bool operator==(const ClusterMap&) const = default;
};

// JSON encoding. The *FromJson functions never throw: malformed input (wrong types,
// missing required fields, invalid ids, bounds exceeded, duplicate node ids) yields
// kMalformedMessage naming the field; a newer format yields kProtocolMismatch.
nlohmann::json DriveInfoToJson(const DriveInfo& drive);
nlohmann::json MaintenanceGrantToJson(const NodeId& node, const MaintenanceGrant& grant);
nlohmann::json NodeRecordToJson(const NodeRecord& record);
Result<NodeRecord> NodeRecordFromJson(const nlohmann::json& json);
nlohmann::json ClusterMapToJson(const ClusterMap& map);
Result<ClusterMap> ClusterMapFromJson(const nlohmann::json& json);

// Filesystem JSON: {"name", "id", "data_cells", "parity_cells", "cell_bytes", "pg_count",
// "created_ms", "groups": PlacementGroupsToJson form (absent or [] when not placed)}.
// FromJson validates the name, id > 0, the geometry (ValidateStripeGeometry), pg_count in
// 1..kMaxPgCount and that `groups` is empty or exactly pg_count PGs N+P wide; it returns
// kMalformedMessage naming the field otherwise. In the map JSON the filesystems are the
// array "filesystems" (absent: none); duplicate names or ids are refused.
nlohmann::json FilesystemInfoToJson(const FilesystemInfo& fs);
Result<FilesystemInfo> FilesystemInfoFromJson(const nlohmann::json& json);

// Text forms (compact JSON) as stored in etcd. Parse* also reject text that is not JSON.
std::string SerializeNodeRecord(const NodeRecord& record);
Result<NodeRecord> ParseNodeRecord(std::string_view text);
std::string SerializeClusterMap(const ClusterMap& map);
Result<ClusterMap> ParseClusterMap(std::string_view text);

}  // namespace cvfs
