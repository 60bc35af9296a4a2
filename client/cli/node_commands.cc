// `cvfs node drain NODE [--wait [--timeout S]] [--json]` and `cvfs node undrain NODE`:
// move a node's data off it before it is removed (docs/design/rebuild.md, "drain"). The
// node keeps serving while its slots move, one per PG at a time; once it holds none and the
// filesystems are fully protected it can be stopped for good. Exit 0 done (or recorded,
// without --wait), 4 unknown node, 6 --wait timed out.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "client/cli/commands.h"

namespace cvfs::cli {

namespace {

// Slots `node` holds, from a status JSON.
uint64_t DrainProgress(const nlohmann::json& status, const std::string& node) {
  for (const auto& n : status.value("nodes", nlohmann::json::array())) {
    if (n.value("id", "") == node) return n.value("slots", 0ull);
  }
  return 0;
}

}  // namespace

int WaitUntilEmptied(AdminClient& admin, const std::string& what, uint64_t initial,
                     const std::function<uint64_t(const nlohmann::json&)>& slots_left,
                     int timeout_s) {
  const bool terminal = isatty(STDERR_FILENO) != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (true) {
    auto status = admin.ClusterStatus();
    if (!status.ok()) return Fail(what, status.status());
    const uint64_t slots = slots_left(*status);
    const bool full = status->value("protection", "") == "full";
    if (terminal) {
      std::fprintf(stderr, "\r%s: %llu of %llu slots left, protection %s   ", what.c_str(),
                   static_cast<unsigned long long>(slots), static_cast<unsigned long long>(initial),
                   status->value("protection", "").c_str());
    }
    if (slots == 0 && full) {
      if (terminal) std::fprintf(stderr, "\n");
      return kExitOk;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      if (terminal) std::fprintf(stderr, "\n");
      std::fprintf(stderr, "cvfs: %s: %llu slots left after %d s\n", what.c_str(),
                   static_cast<unsigned long long>(slots), timeout_s);
      return kExitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void RegisterNodeCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* node_cmd = app.add_subcommand("node", "drain a node before removing it");
  node_cmd->require_subcommand(1);
  auto node = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto wait = std::make_shared<bool>(false);
  auto timeout_s = std::make_shared<int>(86400);

  CLI::App* drain = node_cmd->add_subcommand(
      "drain", "move every slot of NODE to other nodes, online; the node keeps serving");
  drain->add_option("node", *node, "node id (see `cvfs status`)")->required();
  drain->add_flag("--wait", *wait, "wait until it holds no slot and the data is fully protected");
  drain->add_option("--timeout", *timeout_s, "seconds to wait at most")
      ->check(CLI::Range(1, 30 * 86400));
  drain->add_flag("--json", *json, "machine-readable: {node, draining, slots}");
  drain->callback([&global, rc, node, json, wait, timeout_s] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("node drain", admin.status());
      return;
    }
    auto recorded = (*admin)->DrainNode(*node, true);
    if (!recorded.ok()) {
      *rc = Fail("node drain " + *node, recorded.status());
      return;
    }
    if (!*wait) {
      if (*json) {
        PrintJson(*recorded);
      } else {
        std::printf("node %s is draining: %llu slots to move (cvfs node drain %s --wait)\n",
                    node->c_str(), static_cast<unsigned long long>(recorded->value("slots", 0ull)),
                    node->c_str());
      }
      *rc = kExitOk;
      return;
    }
    const uint64_t initial = recorded->value("slots", 0ull);
    *rc = WaitUntilEmptied(
        **admin, "node " + *node, initial,
        [node](const nlohmann::json& s) { return DrainProgress(s, *node); }, *timeout_s);
    if (*rc != kExitOk) return;
    if (*json) {
      PrintJson({{"node", *node}, {"draining", true}, {"slots", 0}});
    } else {
      std::printf("node %s holds no data any more; it can be stopped and removed\n", node->c_str());
    }
  });

  CLI::App* undrain = node_cmd->add_subcommand(
      "undrain", "stop draining NODE (slots already moved stay where they are)");
  undrain->add_option("node", *node, "node id")->required();
  undrain->add_flag("--json", *json, "machine-readable: {node, draining, slots}");
  undrain->callback([&global, rc, node, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("node undrain", admin.status());
      return;
    }
    auto done = (*admin)->DrainNode(*node, false);
    if (!done.ok()) {
      *rc = Fail("node undrain " + *node, done.status());
      return;
    }
    if (*json) {
      PrintJson(*done);
    } else {
      std::printf("node %s is no longer draining (%llu slots)\n", node->c_str(),
                  static_cast<unsigned long long>(done->value("slots", 0ull)));
    }
    *rc = kExitOk;
  });
}

}  // namespace cvfs::cli
