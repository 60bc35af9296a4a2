#include "control/maintenance_planner.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/stripe_routing.h"

namespace cvfs::control {

using json = nlohmann::json;

namespace {

Status Bad(const std::string& what) {
  return Status::MalformedMessage("maintenance record: " + what);
}

Result<NodeId> NodeField(const json& j, const char* name) {
  const std::string node = j.at(name).get<std::string>();
  if (Status s = ValidateNodeId(node); !s.ok())
    return Bad(std::string(name) + ": " + std::string(s.message()));
  return NodeId(node);
}

std::string Seconds(int64_t ms) { return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000); }

const std::string& DomainOf(const ClusterMap& map, const NodeId& node) {
  static const std::string kNone;
  auto it = map.nodes.find(node);
  return it == map.nodes.end() ? kNone : it->second.record.failure_domain;
}

// Failure domains with a grant (away or catching up).
std::set<std::string> DomainsInMaintenance(const ClusterMap& map) {
  std::set<std::string> domains;
  for (const auto& [node, grant] : map.maintenance) domains.insert(DomainOf(map, node));
  return domains;
}

bool HoldsRecoveringSlot(const ClusterMap& map, const NodeId& node) {
  for (const auto& [name, fs] : map.filesystems) {
    for (const RecoveringSlot& slot : fs.recovering) {
      if (slot.node == node) return true;
    }
  }
  return false;
}

}  // namespace

json MaintenanceRequestToJson(const MaintenanceRequest& r) {
  return json{{"node", r.node.str()},
              {"reason", r.reason},
              {"requested_ms", r.requested_ms},
              {"window_ms", r.window_ms}};
}

Result<MaintenanceRequest> MaintenanceRequestFromJson(const json& j) {
  if (!j.is_object()) return Bad("not an object");
  MaintenanceRequest r;
  try {
    CVFS_ASSIGN_OR_RETURN(r.node, NodeField(j, "node"));
    r.reason = j.value("reason", std::string());
    r.requested_ms = j.value("requested_ms", int64_t{0});
    r.window_ms = j.value("window_ms", int64_t{0});
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  if (r.reason.size() > kMaxMaintenanceReasonLength) {
    return Bad("reason longer than " + std::to_string(kMaxMaintenanceReasonLength) + " bytes");
  }
  if (r.window_ms < 0 || r.window_ms > kMaxMaintenanceWindowMs) {
    return Bad("window_ms out of range (0.." + std::to_string(kMaxMaintenanceWindowMs) + ")");
  }
  return r;
}

json MaintenanceHistoryToJson(const MaintenanceHistory& h) {
  return json{{"node", h.node.str()},
              {"reason", h.reason},
              {"request_revision", h.request_revision},
              {"requested_ms", h.requested_ms},
              {"granted_ms", h.granted_ms},
              {"returned_ms", h.returned_ms},
              {"ended_ms", h.ended_ms},
              {"resynced_bytes", h.resynced_bytes},
              {"outcome", h.outcome}};
}

Result<MaintenanceHistory> MaintenanceHistoryFromJson(const json& j) {
  if (!j.is_object()) return Bad("not an object");
  MaintenanceHistory h;
  try {
    CVFS_ASSIGN_OR_RETURN(h.node, NodeField(j, "node"));
    h.reason = j.value("reason", std::string());
    h.request_revision = j.value("request_revision", int64_t{0});
    h.requested_ms = j.value("requested_ms", int64_t{0});
    h.granted_ms = j.value("granted_ms", int64_t{0});
    h.returned_ms = j.value("returned_ms", int64_t{0});
    h.ended_ms = j.value("ended_ms", int64_t{0});
    h.resynced_bytes = j.value("resynced_bytes", uint64_t{0});
    h.outcome = j.value("outcome", std::string());
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  return h;
}

json MaintenanceQueueToJson(const std::vector<QueuedMaintenance>& queue) {
  json list = json::array();
  for (const QueuedMaintenance& q : queue) {
    list.push_back(json{{"node", q.node.str()},
                        {"reason", q.reason},
                        {"requested_ms", q.requested_ms},
                        {"position", q.position},
                        {"waiting_for", q.waiting_for}});
  }
  return list;
}

Result<std::vector<QueuedMaintenance>> MaintenanceQueueFromJson(const json& j) {
  if (!j.is_array()) return Bad("queue is not an array");
  std::vector<QueuedMaintenance> queue;
  try {
    for (const json& e : j) {
      QueuedMaintenance q;
      CVFS_ASSIGN_OR_RETURN(q.node, NodeField(e, "node"));
      q.reason = e.value("reason", std::string());
      q.requested_ms = e.value("requested_ms", int64_t{0});
      q.position = e.value("position", 0);
      q.waiting_for = e.value("waiting_for", std::string());
      queue.push_back(std::move(q));
    }
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  return queue;
}

std::string MaintenanceBlocker(const ClusterMap& map, const NodeId& node,
                               const MaintenanceOptions& options) {
  auto it = map.nodes.find(node);
  if (it == map.nodes.end()) return "node " + node.str() + " is not in the cluster map";
  if (it->second.state != NodeState::kUp) {
    return "node " + node.str() + " is " + std::string(NodeStateName(it->second.state)) +
           ", not up";
  }
  const std::string& domain = it->second.record.failure_domain;
  std::set<std::string> domains = DomainsInMaintenance(map);
  if (!domains.contains(domain) && static_cast<int>(domains.size()) >= options.max_domains) {
    std::string names;
    for (const auto& [other, grant] : map.maintenance) {
      names += (names.empty() ? "" : ", ") + other.str() +
               (grant.returned_ms > 0 ? " (catching up)" : " (away)");
    }
    return "at most " + std::to_string(options.max_domains) +
           " failure domain(s) in maintenance at a time; in maintenance: " + names;
  }
  for (const auto& [name, fs] : map.filesystems) {
    if (!fs.placed()) continue;
    const int parity = fs.geometry.parity_cells;
    for (const PlacementGroup& pg : fs.groups) {
      int unavailable = 0;  // with the domain away
      int degraded = 0;     // now, not counting nodes in maintenance
      for (size_t i = 0; i < pg.members.size(); ++i) {
        const PgMember& m = pg.members[i];
        const bool same_domain = DomainOf(map, m.node) == domain;
        const bool missing = !MemberIsUp(map, m) || fs.IsRecovering(pg.id, static_cast<int>(i));
        if (missing || same_domain) unavailable++;
        if (missing && !map.maintenance.contains(m.node)) degraded++;
      }
      if (!options.allow_degraded && degraded > 0) {
        return "filesystem " + name + " PG " + std::to_string(pg.id) + " is degraded (" +
               std::to_string(degraded) +
               " cell(s) missing or recovering): waiting for its rebuild";
      }
      if (parity - unavailable < options.min_spare) {
        return "filesystem " + name + " PG " + std::to_string(pg.id) + " would have " +
               std::to_string(parity - unavailable) + " failure(s) to spare with domain " + domain +
               " away (at least " + std::to_string(options.min_spare) + " kept)";
      }
    }
  }
  return "";
}

bool PlanMaintenance(ClusterMap* map, const std::map<NodeId, NodeRecord>& live,
                     const std::vector<MaintenanceRequest>& requests,
                     const std::map<NodeId, MaintenanceHistory>& history,
                     const std::vector<RebuildDoneRecord>& done, const MaintenanceOptions& options,
                     int64_t now_ms, std::vector<std::string>* transitions, MaintenancePlan* plan) {
  bool changed = false;
  auto say = [&](std::string line) {
    if (transitions) transitions->push_back(std::move(line));
  };
  std::map<NodeId, const MaintenanceRequest*> by_node;
  for (const MaintenanceRequest& r : requests) by_node[r.node] = &r;

  // 1. Grants move along.
  for (auto it = map->maintenance.begin(); it != map->maintenance.end();) {
    const NodeId node = it->first;
    MaintenanceGrant& grant = it->second;
    auto entry = map->nodes.find(node);
    auto registration = live.find(node);
    const bool registered = registration != live.end();
    const bool withdrawn = !by_node.contains(node);
    auto end = [&](const std::string& outcome) {
      MaintenanceHistory h{node,
                           grant.reason,
                           grant.request_revision,
                           grant.requested_ms,
                           grant.granted_ms,
                           grant.returned_ms,
                           now_ms,
                           grant.resynced_bytes,
                           outcome};
      if (auto r = by_node.find(node); r != by_node.end()) plan->spent.push_back(*r->second);
      plan->ended.push_back(std::move(h));
      it = map->maintenance.erase(it);
      changed = true;
    };
    if (entry == map->nodes.end() || entry->second.state == NodeState::kOut) {
      say("maintenance of node " + node.str() + " ended: the node left the cluster");
      end("failed");
      continue;
    }
    NodeEntry& state = entry->second;
    for (const RebuildDoneRecord& record : done) {
      if (grant.returned_ms == 0 || record.slots.empty()) continue;
      size_t ours = 0;
      for (const RecoveringSlot& slot : record.slots) {
        if (slot.node == node && slot.kind == RecoveryKind::kResync &&
            slot.since_ms >= grant.returned_ms) {
          ours++;
        }
      }
      if (ours > 0) {
        grant.resynced_bytes += record.bytes * ours / record.slots.size();
        changed = true;
      }
    }
    if (grant.returned_ms == 0) {  // away
      const bool rebooted =
          registered && (registration->second.pid != grant.pid ||
                         registration->second.start_time_ms != grant.start_time_ms);
      const bool expired = now_ms - grant.granted_ms > grant.window_ms;
      if (rebooted || (registered && (withdrawn || expired))) {
        state.state = NodeState::kUp;
        state.since_ms = now_ms;
        grant.returned_ms = now_ms;
        say("maintenance of node " + node.str() + ": " +
            (rebooted    ? "back after " + Seconds(now_ms - grant.granted_ms)
             : withdrawn ? "withdrawn while it runs"
                         : "window of " + Seconds(grant.window_ms) + " ran out while it runs") +
            ", its slots resync what it missed");
        changed = true;
      } else if (withdrawn || expired) {
        state.state = NodeState::kDown;
        state.since_ms = now_ms;
        say(withdrawn ? "maintenance of node " + node.str() +
                            " withdrawn while the node is away: it is down (rebuilt after the "
                            "grace period unless it comes back)"
                      : "maintenance of node " + node.str() + " outlasted its window of " +
                            Seconds(grant.window_ms) +
                            ": now an ordinary failure (rebuilt after the grace period unless "
                            "it comes back)");
        end(withdrawn ? "withdrawn" : "expired");
        continue;
      }
    } else if (state.state != NodeState::kUp) {  // catching up, and gone again
      say("maintenance of node " + node.str() +
          " ended: the node went down while catching up (an ordinary failure)");
      end("failed");
      continue;
    } else if (!HoldsRecoveringSlot(*map, node)) {
      say("maintenance of node " + node.str() + " ended: caught up in " +
          Seconds(now_ms - grant.returned_ms) + ", " + std::to_string(grant.resynced_bytes) +
          " bytes resynced (away " + Seconds(grant.returned_ms - grant.granted_ms) + ")");
      end("resynced");
      continue;
    }
    ++it;
  }

  // 2. The queue, in request order.
  std::vector<const MaintenanceRequest*> waiting;
  for (const MaintenanceRequest& r : requests) {
    if (map->maintenance.contains(r.node)) continue;
    bool ended_now = false;
    for (const MaintenanceRequest& s : plan->spent) ended_now = ended_now || s.node == r.node;
    if (ended_now) continue;
    if (auto h = history.find(r.node);
        h != history.end() && h->second.request_revision == r.revision) {
      plan->spent.push_back(r);  // served already; its delete failed before
      continue;
    }
    waiting.push_back(&r);
  }
  std::sort(waiting.begin(), waiting.end(),
            [](const MaintenanceRequest* a, const MaintenanceRequest* b) {
              return a->revision < b->revision;
            });
  std::string blocked_by;  // the first request that could not be granted
  for (const MaintenanceRequest* r : waiting) {
    std::string blocker = MaintenanceBlocker(*map, r->node, options);
    const std::set<std::string> domains = DomainsInMaintenance(*map);
    const bool domain_granted = domains.contains(DomainOf(*map, r->node));
    if (blocker.empty() && !blocked_by.empty() && !domain_granted) {
      blocker = "queued behind " + blocked_by;
    }
    if (!blocker.empty()) {
      if (blocked_by.empty()) blocked_by = r->node.str();
      plan->queue.push_back(QueuedMaintenance{r->node, r->reason, r->requested_ms,
                                              static_cast<int>(plan->queue.size()) + 1, blocker});
      continue;
    }
    NodeEntry& entry = map->nodes.at(r->node);
    MaintenanceGrant grant;
    grant.reason = r->reason;
    grant.request_revision = r->revision;
    grant.requested_ms = r->requested_ms;
    grant.granted_ms = now_ms;
    grant.window_ms = r->window_ms > 0 ? r->window_ms : options.window_ms;
    auto registration = live.find(r->node);
    const NodeRecord& record = registration != live.end() ? registration->second : entry.record;
    grant.pid = record.pid;
    grant.start_time_ms = record.start_time_ms;
    entry.state = NodeState::kMaintenance;
    entry.since_ms = now_ms;
    map->maintenance.emplace(r->node, grant);
    say("maintenance of node " + r->node.str() + " granted after " +
        Seconds(now_ms - r->requested_ms) + " (window " + Seconds(grant.window_ms) +
        (r->reason.empty() ? "" : ", reason: " + r->reason) + ")");
    changed = true;
  }
  return changed;
}

}  // namespace cvfs::control
