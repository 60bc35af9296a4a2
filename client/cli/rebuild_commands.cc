// `cvfs rebuild status [--json] [--watch] [--timeout S]`: what the cluster is rebuilding or
// resyncing (docs/design/rebuild.md), per filesystem and per node, with a progress bar on a
// terminal. Exit 0 when nothing is left to rebuild, 1 while work remains (or, with --watch,
// 6 when it did not finish within --timeout).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "client/cli/commands.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

namespace {

void PrintRebuild(const nlohmann::json& status, double eta_s, bool terminal) {
  const auto& r = status.value("rebuild", nlohmann::json::object());
  std::printf("protection: %s\n", status.value("protection", "unknown").c_str());
  for (const auto& fs : status.value("filesystems", nlohmann::json::array())) {
    std::printf(
        "  filesystem %-12s %-11s PGs lacking cells: %llu (critical %llu, unavailable "
        "%llu), rebuilding %llu\n",
        fs.value("name", "").c_str(), fs.value("state", "").c_str(),
        static_cast<unsigned long long>(fs.value("pgs_degraded", 0ull)),
        static_cast<unsigned long long>(fs.value("pgs_critical", 0ull)),
        static_cast<unsigned long long>(fs.value("pgs_unavailable", 0ull)),
        static_cast<unsigned long long>(fs.value("pgs_rebuilding", 0ull)));
  }
  if (!r.value("active", false)) {
    std::printf("rebuild: nothing to do\n");
    return;
  }
  std::printf("rebuild: %llu PGs (%llu slots) left, %s written, %s/s",
              static_cast<unsigned long long>(r.value("pgs_remaining", 0ull)),
              static_cast<unsigned long long>(r.value("slots_remaining", 0ull)),
              HumanBytes(r.value("bytes_written", 0ull)).c_str(),
              HumanBytes(static_cast<uint64_t>(r.value("rate_bytes_per_s", 0.0))).c_str());
  if (eta_s >= 0) std::printf(", ETA %.0f s", eta_s);
  std::printf("\n");
  for (const auto& n : r.value("nodes", nlohmann::json::array())) {
    if (n.value("state", "idle") == "idle") continue;
    const uint64_t done = n.value("stripes_done", 0ull);
    const uint64_t total = n.value("stripes_total", 0ull);
    const int width = 30;
    const int filled = total == 0 ? 0 : static_cast<int>(width * done / total);
    std::string bar =
        terminal ? "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " : "";
    std::printf("  %-8s PG %u (lacks %d) %s%llu/%llu stripes, %llu PGs queued\n",
                n.value("node", "").c_str(), n.value("pg", 0u), n.value("missing", 0), bar.c_str(),
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(n.value("queued_pgs", 0ull)));
  }
}

}  // namespace

void RegisterRebuildCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* rebuild = app.add_subcommand("rebuild", "rebuild and resync of lost or stale cells");
  rebuild->require_subcommand(1);
  CLI::App* cmd = rebuild->add_subcommand(
      "status", "what is left to rebuild, per filesystem and node, with rate and ETA");
  auto json = std::make_shared<bool>(false);
  auto watch = std::make_shared<bool>(false);
  auto timeout_s = std::make_shared<int>(3600);
  cmd->add_flag("--json", *json, "machine-readable output (docs/admin/cli.md)");
  cmd->add_flag("--watch", *watch, "refresh every second until nothing is left to rebuild");
  cmd->add_option("--timeout", *timeout_s, "seconds to watch at most")
      ->check(CLI::Range(1, 30 * 86400));
  cmd->callback([&global, rc, json, watch, timeout_s] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("rebuild status", admin.status());
      return;
    }
    const bool terminal = isatty(STDOUT_FILENO) != 0;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::seconds(*timeout_s);
    uint64_t first_remaining = 0;
    bool first = true;
    while (true) {
      auto status = (*admin)->ClusterStatus();
      if (!status.ok()) {
        *rc = Fail("rebuild status", status.status());
        return;
      }
      const auto& r = (*status)["rebuild"];
      const uint64_t remaining = r.value("pgs_remaining", 0ull);
      if (first) first_remaining = remaining;
      first = false;
      // ETA from the PGs finished while watching.
      double eta_s = -1;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (first_remaining > remaining && elapsed > 0) {
        eta_s = remaining * elapsed / double(first_remaining - remaining);
      }
      (*status)["rebuild"]["eta_s"] = eta_s >= 0 ? nlohmann::json(eta_s) : nlohmann::json();
      const bool active = r.value("active", false);
      if (*json) {
        PrintJson((*status)["rebuild"].is_object()
                      ? nlohmann::json{{"protection", (*status)["protection"]},
                                       {"filesystems", (*status)["filesystems"]},
                                       {"rebuild", (*status)["rebuild"]}}
                      : *status);
      } else {
        if (*watch && terminal) std::printf("\033[H\033[2J");
        PrintRebuild(*status, eta_s, terminal);
      }
      std::fflush(stdout);
      if (!*watch || !active) {
        *rc = active ? kExitUnhealthy : kExitOk;
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr, "cvfs: rebuild status: still %llu PGs to rebuild after %d s\n",
                     static_cast<unsigned long long>(remaining), *timeout_s);
        *rc = kExitTimeout;
        return;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
}

}  // namespace cvfs::cli
