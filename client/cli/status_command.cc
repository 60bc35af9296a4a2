// `cvfs status [--json] [--wait-up N --timeout S]`: the cluster as the map describes it.
// Exit 0 when healthy (a manager, at least one node, every node up), 1 when the status was
// read but something is wrong, 6 when --wait-up did not come true in time.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "client/cli/commands.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

namespace {

int CountUp(const nlohmann::json& status) {
  int up = 0;
  for (const auto& n : status.value("nodes", nlohmann::json::array())) {
    if (n.value("state", "") == "up") ++up;
  }
  return up;
}

void PrintHuman(const nlohmann::json& s) {
  const auto& counts = s.value("counts", nlohmann::json::object());
  const std::string manager = s.value("manager", "");
  std::printf("cluster %s  epoch %llu  manager %s\n", s.value("cluster", "").c_str(),
              static_cast<unsigned long long>(s.value("epoch", 0ull)),
              manager.empty() ? "(none elected)" : manager.c_str());
  std::printf("nodes: %d up, %d down, %d maintenance, %d out  (%zu failure domains)\n",
              counts.value("up", 0), counts.value("down", 0), counts.value("maintenance", 0),
              counts.value("out", 0), s.value("failure_domains", nlohmann::json::array()).size());
  for (const auto& fs : s.value("filesystems", nlohmann::json::array())) {
    std::printf("filesystem %s (%s): %s", fs.value("name", "").c_str(),
                fs.value("protection", "").c_str(), fs.value("state", "").c_str());
    if (fs.value("pgs_degraded", 0) > 0) {
      std::printf(" - %d PGs lack cells (%d critical, %d unavailable), %d rebuilding",
                  fs.value("pgs_degraded", 0), fs.value("pgs_critical", 0),
                  fs.value("pgs_unavailable", 0), fs.value("pgs_rebuilding", 0));
    }
    std::printf("\n");
  }
  const auto& maintenance = s.value("maintenance", nlohmann::json::object());
  if (!maintenance.value("granted", nlohmann::json::array()).empty() ||
      !maintenance.value("queue", nlohmann::json::array()).empty()) {
    PrintMaintenance(maintenance);
  }
  const auto& rebuild = s.value("rebuild", nlohmann::json::object());
  if (rebuild.value("active", false)) {
    std::printf("rebuild: %d PGs left, %s written, %s/s (cvfs rebuild status)\n",
                rebuild.value("pgs_remaining", 0),
                HumanBytes(rebuild.value("bytes_written", 0ull)).c_str(),
                HumanBytes(static_cast<uint64_t>(rebuild.value("rate_bytes_per_s", 0.0))).c_str());
  }
  const auto& nodes = s.value("nodes", nlohmann::json::array());
  if (nodes.empty()) {
    std::printf("\nno nodes have joined: start cvfsd with cluster = \"%s\"\n",
                s.value("cluster", "").c_str());
    return;
  }
  std::printf("\n%-6s %-11s %-14s %-10s %-26s %6s %10s\n", "NODE", "STATE", "FAILURE DOMAIN",
              "HOST", "FABRIC", "DRIVES", "CAPACITY");
  for (const auto& n : nodes) {
    const std::string fabric = n.value("provider", "") + " " + n.value("endpoint", "");
    std::printf("%-6s %-11s %-14s %-10s %-26s %6zu %10s\n", n.value("id", "").c_str(),
                n.value("state", "").c_str(), n.value("failure_domain", "").c_str(),
                n.value("host", "").c_str(), fabric.c_str(),
                n.value("drives", nlohmann::json::array()).size(),
                HumanBytes(n.value("capacity_bytes", 0ull)).c_str());
  }
}

}  // namespace

void RegisterStatusCommand(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* cmd =
      app.add_subcommand("status", "show nodes, failure domains, manager and map epoch");
  auto json = std::make_shared<bool>(false);
  auto wait_up = std::make_shared<int>(0);
  auto timeout_s = std::make_shared<int>(60);
  cmd->add_flag("--json", *json, "machine-readable output (stable interface, docs/admin/cli.md)");
  cmd->add_option("--wait-up", *wait_up,
                  "wait until at least N nodes are up and a manager is elected")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--timeout", *timeout_s, "seconds to wait with --wait-up")
      ->check(CLI::Range(1, 86400));
  cmd->callback([&global, rc, json, wait_up, timeout_s] {
    InitCommandLogging(global);
    if (global.cluster.empty()) {
      *rc = Fail("status", Status::InvalidArgument("no cluster named (--cluster or CVFS_CLUSTER)"));
      return;
    }
    AdminOptions options;
    options.etcd_endpoints = global.EtcdEndpoints();
    options.cluster = global.cluster;
    options.timeout_ms = global.timeout_ms;
    auto admin = AdminClient::Connect(options);
    if (!admin.ok()) {
      *rc = Fail("status", admin.status());
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout_s);
    Result<nlohmann::json> status = (*admin)->ClusterStatus();
    while (*wait_up > 0) {
      if (status.ok() && CountUp(*status) >= *wait_up && !status->value("manager", "").empty()) {
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        if (!status.ok()) {
          *rc = Fail("status", status.status());
          return;
        }
        std::fprintf(stderr, "cvfs: status: %d of %d nodes up after %d s\n", CountUp(*status),
                     *wait_up, *timeout_s);
        if (*json) PrintJson(*status);
        *rc = kExitTimeout;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      status = (*admin)->ClusterStatus();
    }
    if (!status.ok()) {
      *rc = Fail("status of cluster " + global.cluster, status.status());
      return;
    }
    if (*json) {
      PrintJson(*status);
    } else {
      PrintHuman(*status);
    }
    *rc = status->value("healthy", false) ? kExitOk : kExitUnhealthy;
  });
}

}  // namespace cvfs::cli
