// `cvfs maintenance enter NODE [--reason TEXT] [--window S] [--wait [--timeout S]] [--json]`,
// `cvfs maintenance exit NODE [--json]` and `cvfs maintenance list [--json]`: planned
// maintenance of a node (docs/admin/maintenance.md). The manager grants requests in order
// when taking the node's failure domain away keeps every PG protected; the Slurm reboot
// hook (slurm/cvfs-reboot) reboots only once granted.
// Exit codes: 0 recorded (granted, with --wait), 2 bad arguments, 3 etcd unreachable,
// 4 unknown node, 6 --wait timed out (the request is then withdrawn: a node that gave up
// waiting must not be granted later while nobody reboots it).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "client/cli/commands.h"
#include "control/cluster_admin.h"
#include "core/clock.h"

namespace cvfs::cli {

namespace {

std::string Ago(int64_t ms) {
  if (ms <= 0) return "-";
  const int64_t s = (Clock::System().WallMillis() - ms) / 1000;
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  return std::to_string(s / 3600) + " h ago";
}

void PrintEntry(const nlohmann::json& state) {
  const std::string node = state.value("node", "");
  if (state.value("state", "") == "granted") {
    std::printf("node %s: maintenance granted (%s)\n", node.c_str(),
                state.value("phase", "away").c_str());
  } else if (state.value("state", "") == "queued") {
    std::printf("node %s: queued at position %d: %s\n", node.c_str(), state.value("position", 0),
                state.value("waiting_for", "").c_str());
  } else {
    std::printf("node %s: no maintenance requested\n", node.c_str());
  }
}

}  // namespace

void PrintMaintenance(const nlohmann::json& m) {
  const auto& granted = m["granted"];
  const auto& queue = m["queue"];
  if (granted.empty() && queue.empty()) std::printf("maintenance: none\n");
  for (const auto& g : granted) {
    std::printf("maintenance: %s (domain %s) %s, granted %s, window %lld s%s%s\n",
                g.value("node", "").c_str(), g.value("failure_domain", "").c_str(),
                g.value("phase", "") == "away" ? "away" : "back, catching up",
                Ago(g.value("granted_ms", int64_t{0})).c_str(),
                static_cast<long long>(g.value("window_ms", int64_t{0}) / 1000),
                g.value("reason", "").empty() ? "" : ", reason: ", g.value("reason", "").c_str());
  }
  for (const auto& q : queue) {
    std::printf("  queued %d. %s (asked %s%s%s): %s\n", q.value("position", 0),
                q.value("node", "").c_str(), Ago(q.value("requested_ms", int64_t{0})).c_str(),
                q.value("reason", "").empty() ? "" : ", reason: ", q.value("reason", "").c_str(),
                q.value("waiting_for", "").c_str());
  }
}

void RegisterMaintenanceCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* cmd = app.add_subcommand("maintenance",
                                     "planned maintenance of a node (reboots): enter, exit, list");
  cmd->require_subcommand(1);
  auto node = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto wait = std::make_shared<bool>(false);
  auto timeout_s = std::make_shared<int>(3600);
  auto window_s = std::make_shared<int>(0);

  CLI::App* enter = cmd->add_subcommand(
      "enter",
      "ask for NODE to be taken out for maintenance; granted in order, when the data stays "
      "protected without its failure domain");
  enter->add_option("node", *node, "node id (see `cvfs status`)")->required();
  enter->add_option("--reason", *reason, "why (shown in `cvfs maintenance list`)");
  enter
      ->add_option("--window", *window_s,
                   "seconds the node may stay away before it is treated as failed (default: "
                   "the manager's [maintenance] window_s)")
      ->check(CLI::Range(1, 7 * 86400));
  enter->add_flag("--wait", *wait, "wait until granted");
  enter
      ->add_option("--timeout", *timeout_s,
                   "seconds to wait at most; then the request is withdrawn (exit 6)")
      ->check(CLI::Range(1, 7 * 86400));
  enter->add_flag("--json", *json,
                  "machine-readable: {node, state queued|granted, position, waiting_for}");
  enter->callback([&global, rc, node, reason, json, wait, timeout_s, window_s] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("maintenance enter", admin.status());
      return;
    }
    auto state = (*admin)->RequestMaintenance(*node, *reason, *window_s);
    if (!state.ok()) {
      *rc = Fail("maintenance enter " + *node, state.status());
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout_s);
    const bool terminal = isatty(STDERR_FILENO) != 0;
    std::string last_reason;
    while (*wait && state->value("state", "") != "granted") {
      if (state->value("state", "") == "none") {
        // Ended or withdrawn by someone else while we waited.
        std::fprintf(stderr, "cvfs: maintenance enter %s: the request was withdrawn\n",
                     node->c_str());
        *rc = kExitUnhealthy;
        return;
      }
      const std::string why = state->value("waiting_for", "");
      if (why != last_reason) {
        std::fprintf(stderr, "%s: waiting (position %d): %s\n", node->c_str(),
                     state->value("position", 0), why.c_str());
        last_reason = why;
      } else if (terminal) {
        std::fprintf(stderr, ".");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        // Granted at the last moment and ended here: the node resyncs, and the caller,
        // told "timeout", does not reboot.
        auto withdrawn = (*admin)->EndMaintenance(*node);
        if (!withdrawn.ok()) {
          // Left queued, it could be granted later while nobody reboots the node (harmless:
          // a running node is brought back when its window ends, but say so).
          *rc = Fail("maintenance enter " + *node + ": not granted within " +
                         std::to_string(*timeout_s) +
                         " s, and the request could not be withdrawn (run `cvfs maintenance "
                         "exit " +
                         *node + "`)",
                     withdrawn.status());
          return;
        }
        std::fprintf(stderr,
                     "cvfs: maintenance enter %s: not granted within %d s (%s); request "
                     "withdrawn\n",
                     node->c_str(), *timeout_s, why.c_str());
        if (*json) PrintJson(*state);
        *rc = kExitTimeout;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto all = (*admin)->Maintenance();
      if (!all.ok()) {
        // A slow or briefly unreachable etcd does not end the wait: the request is
        // recorded, and the deadline above bounds how long we keep asking.
        std::fprintf(stderr, "%s: could not read the maintenance state (%s); still waiting\n",
                     node->c_str(), all.status().ToString().c_str());
        continue;
      }
      state = control::MaintenanceStateOf(*all, *node);
    }
    if (*json) {
      PrintJson(*state);
    } else {
      PrintEntry(*state);
    }
    *rc = kExitOk;
  });

  CLI::App* exit_cmd = cmd->add_subcommand(
      "exit",
      "withdraw NODE's request, or end its maintenance (a running node then resyncs what it "
      "missed)");
  exit_cmd->add_option("node", *node, "node id")->required();
  exit_cmd->add_flag("--json", *json, "machine-readable: {node, was queued|granted|none}");
  exit_cmd->callback([&global, rc, node, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("maintenance exit", admin.status());
      return;
    }
    auto ended = (*admin)->EndMaintenance(*node);
    if (!ended.ok()) {
      *rc = Fail("maintenance exit " + *node, ended.status());
      return;
    }
    if (*json) {
      PrintJson(*ended);
    } else {
      const std::string was = ended->value("was", "none");
      std::printf("node %s: %s\n", node->c_str(),
                  was == "granted"  ? "maintenance ends once it has resynced what it missed"
                  : was == "queued" ? "request withdrawn"
                                    : "was not in maintenance");
    }
    *rc = kExitOk;
  });

  CLI::App* list = cmd->add_subcommand("list", "nodes in maintenance, the queue, recent ones");
  list->add_flag("--json", *json, "machine-readable: {granted, queue, recent}");
  list->callback([&global, rc, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("maintenance list", admin.status());
      return;
    }
    auto m = (*admin)->Maintenance();
    if (!m.ok()) {
      *rc = Fail("maintenance list", m.status());
      return;
    }
    if (*json) {
      PrintJson(*m);
      *rc = kExitOk;
      return;
    }
    PrintMaintenance(*m);
    for (const auto& r : (*m)["recent"]) {
      std::printf("  recent: %s %s %s, %s resynced%s%s\n", r.value("node", "").c_str(),
                  r.value("outcome", "").c_str(), Ago(r.value("ended_ms", int64_t{0})).c_str(),
                  HumanBytes(r.value("resynced_bytes", uint64_t{0})).c_str(),
                  r.value("reason", "").empty() ? "" : ", reason: ", r.value("reason", "").c_str());
    }
    *rc = kExitOk;
  });
}

}  // namespace cvfs::cli
