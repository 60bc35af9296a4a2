// `cvfs scrub status|start`: the background verification of every cell's CRC32C and of the
// parity (server/data/scrubber.h), per node and in total. Exit codes (docs/admin/cli.md):
// 0 when every node answered and no error found is left unrepaired, 1 otherwise (the command
// worked and found a problem), 3 when etcd or no node could be reached, 4 for an unknown
// node, 6 when `start --wait` ran out of time, 7 when a node refused (`start` needs root).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "cvfs/admin.h"

namespace cvfs::cli {
namespace {

Result<std::unique_ptr<AdminClient>> ConnectScrubAdmin(const GlobalOptions& global) {
  InitCommandLogging(global);
  if (global.cluster.empty()) {
    return Status::InvalidArgument("no cluster named (--cluster or CVFS_CLUSTER)");
  }
  AdminOptions options;
  options.etcd_endpoints = global.EtcdEndpoints();
  options.cluster = global.cluster;
  options.timeout_ms = global.timeout_ms;
  options.munge_socket = global.munge_socket;
  return AdminClient::Connect(options);
}

uint64_t Figure(const nlohmann::json& figures, const char* name) {
  return figures.is_object() ? figures.value(name, uint64_t{0}) : 0;
}

std::string Ago(int64_t ms) {
  if (ms <= 0) return "-";
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t s = std::max<int64_t>(0, (now - ms) / 1000);
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  return std::to_string(s / 3600) + "h ago";
}

// The table of `cvfs scrub status` (and the end of `start --wait`).
void PrintStatus(const nlohmann::json& status) {
  std::printf("%-10s %5s %-8s %10s %11s %10s %7s %8s %10s  %s\n", "NODE", "PASS", "STATE", "CELLS",
              "BYTES", "RATE", "ERRORS", "REPAIRED", "UNREPAIRED", "LAST PASS");
  for (const auto& n : status["nodes"]) {
    const std::string node = n.value("node", "");
    if (n.contains("error")) {
      std::printf("%-10s %5s %-8s %s\n", node.c_str(), "-", "error", n.value("error", "").c_str());
      continue;
    }
    const nlohmann::json& cur = n["current"];
    const bool running = n.value("running", false);
    const uint64_t pass = n.value("pass", uint64_t{0});
    std::string last =
        running ? "started " + Ago(n.value("started_ms", int64_t{0}))
                : (pass == 0 ? "none yet" : "finished " + Ago(n.value("finished_ms", int64_t{0})));
    std::printf("%-10s %5llu %-8s %10llu %11s %8s/s %7llu %8llu %10llu  %s\n", node.c_str(),
                static_cast<unsigned long long>(pass), running ? "running" : "idle",
                static_cast<unsigned long long>(Figure(cur, "cells")),
                HumanBytes(Figure(cur, "bytes")).c_str(),
                HumanBytes(static_cast<uint64_t>(n.value("rate_bytes_per_s", 0.0))).c_str(),
                static_cast<unsigned long long>(Figure(cur, "errors_found")),
                static_cast<unsigned long long>(Figure(cur, "repaired")),
                static_cast<unsigned long long>(Figure(cur, "unrepaired")), last.c_str());
  }
  const nlohmann::json& t = status["totals"];
  std::printf(
      "since the daemons started: %llu cells (%s) verified, %llu stripes' parity checked; "
      "%llu errors found (%llu CRC, %llu parity), %llu repaired, %llu unrepaired\n",
      static_cast<unsigned long long>(Figure(t, "cells")), HumanBytes(Figure(t, "bytes")).c_str(),
      static_cast<unsigned long long>(Figure(t, "stripes_checked")),
      static_cast<unsigned long long>(Figure(t, "errors_found")),
      static_cast<unsigned long long>(Figure(t, "crc_errors")),
      static_cast<unsigned long long>(Figure(t, "parity_errors")),
      static_cast<unsigned long long>(Figure(t, "repaired")),
      static_cast<unsigned long long>(Figure(t, "unrepaired")));
}

// 0 when every node answered and nothing found is left unrepaired; 1 otherwise.
int HealthOf(const nlohmann::json& status) {
  if (status.value("unanswered", 0) > 0) return kExitUnhealthy;
  return Figure(status["totals"], "unrepaired") > 0 ? kExitUnhealthy : kExitOk;
}

void RegisterScrubStatus(CLI::App& scrub, GlobalOptions& global, int* rc) {
  CLI::App* cmd = scrub.add_subcommand(
      "status", "each node's scrub pass (running or last), and totals since the daemons started");
  auto node = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--node", *node, "only this node");
  cmd->add_flag("--json", *json,
                "machine-readable: {nodes[] {node, pass, running, started_ms, finished_ms, "
                "next_pass_ms, rate_bytes_per_s, bandwidth_limit_bytes_per_s, current{}, total{}}, "
                "totals{cells, bytes, errors_found, crc_errors, parity_errors, repaired, "
                "unrepaired, ...}, running, unanswered}");
  cmd->callback([&global, rc, node, json] {
    auto admin = ConnectScrubAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("scrub status", admin.status());
      return;
    }
    Result<nlohmann::json> status = (*admin)->ScrubStatus(*node);
    if (!status.ok()) {
      *rc = Fail("scrub status", status.status());
      return;
    }
    if (*json) {
      PrintJson(*status);
    } else {
      PrintStatus(*status);
    }
    *rc = HealthOf(*status);
  });
}

void RegisterScrubStart(CLI::App& scrub, GlobalOptions& global, int* rc) {
  CLI::App* cmd = scrub.add_subcommand(
      "start", "start a scrub pass now on every up node (or one); as root. A running pass goes on");
  auto node = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto wait = std::make_shared<bool>(false);
  auto wait_s = std::make_shared<int>(3600);
  cmd->add_option("--node", *node, "only this node");
  cmd->add_flag("--wait", *wait,
                "wait until the passes end (progress on a terminal), then print the status");
  cmd->add_option("--wait-timeout-s", *wait_s, "how long --wait waits (default 3600)")
      ->check(CLI::Range(1, 7 * 24 * 3600));
  cmd->add_flag("--json", *json,
                "machine-readable: {nodes[] {node, pass} or {node, error, code}}; with --wait, "
                "the status JSON of `scrub status --json` with started[] added");
  cmd->callback([&global, rc, node, json, wait, wait_s] {
    auto admin = ConnectScrubAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("scrub start", admin.status());
      return;
    }
    Result<nlohmann::json> started = (*admin)->ScrubStart(*node);
    if (!started.ok()) {
      *rc = Fail("scrub start", started.status());
      return;
    }
    std::map<std::string, uint64_t> passes;  // node -> pass number to wait for
    int denied = 0;
    int failed = 0;
    for (const auto& n : (*started)["nodes"]) {
      if (n.contains("error")) {
        ++failed;
        if (n.value("code", "") == "permission_denied") ++denied;
        std::fprintf(stderr, "cvfs: scrub start: node %s: %s\n", n.value("node", "").c_str(),
                     n.value("error", "").c_str());
        continue;
      }
      passes[n.value("node", "")] = n.value("pass", uint64_t{0});
    }
    if (passes.empty()) {
      if (failed == 0) {
        *rc = Fail("scrub start", Status::Unavailable("no node is up"));
      } else {
        *rc = denied == failed ? kExitDenied : kExitUnavailable;
      }
      return;
    }
    if (!*wait) {
      if (*json) {
        PrintJson(*started);
      } else {
        for (const auto& [id, pass] : passes) {
          std::printf("node %s: scrub pass %llu started\n", id.c_str(),
                      static_cast<unsigned long long>(pass));
        }
      }
      *rc = failed > 0 ? kExitUnhealthy : kExitOk;
      return;
    }
    const bool tty = !*json && ::isatty(STDOUT_FILENO) == 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*wait_s);
    for (;;) {
      Result<nlohmann::json> status = (*admin)->ScrubStatus(*node);
      if (!status.ok()) {
        *rc = Fail("scrub start: status", status.status());
        return;
      }
      size_t done = 0;
      uint64_t cells = 0, bytes = 0, errors = 0, repaired = 0;
      for (const auto& n : (*status)["nodes"]) {
        auto it = passes.find(n.value("node", ""));
        if (it == passes.end()) continue;
        if (n.contains("error")) {
          ++done;  // it went away: do not wait for it (the status shows the error)
          continue;
        }
        const nlohmann::json& cur = n["current"];
        cells += Figure(cur, "cells");
        bytes += Figure(cur, "bytes");
        errors += Figure(cur, "errors_found");
        repaired += Figure(cur, "repaired");
        if (n.value("pass", uint64_t{0}) >= it->second && !n.value("running", false)) ++done;
      }
      if (tty) {
        std::printf(
            "\rscrub: %zu/%zu nodes done, %llu cells (%s) verified, %llu errors, %llu "
            "repaired   ",
            done, passes.size(), static_cast<unsigned long long>(cells), HumanBytes(bytes).c_str(),
            static_cast<unsigned long long>(errors), static_cast<unsigned long long>(repaired));
        std::fflush(stdout);
      }
      if (done >= passes.size()) {
        if (tty) std::printf("\n");
        if (*json) {
          (*status)["started"] = (*started)["nodes"];
          PrintJson(*status);
        } else {
          PrintStatus(*status);
        }
        *rc = failed > 0 ? kExitUnhealthy : HealthOf(*status);
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        if (tty) std::printf("\n");
        *rc = Fail("scrub start --wait", Status::DeadlineExceeded("passes still running after " +
                                                                  std::to_string(*wait_s) + " s"));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
}

}  // namespace

void RegisterScrubCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* scrub = app.add_subcommand(
      "scrub", "background verification of every cell's CRC32C and of the parity: status, start");
  scrub->require_subcommand(1);
  RegisterScrubStatus(*scrub, global, rc);
  RegisterScrubStart(*scrub, global, rc);
}

}  // namespace cvfs::cli
