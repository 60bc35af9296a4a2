// `cvfs drive add|replace|remove|unremove` (docs/admin/cli.md, docs/design/rebuild.md
// "Drives"):
//   add NODE PATH               a new drive directory on a running cvfsd (root)
//   replace NODE INDEX PATH     a fresh, empty directory takes drive INDEX's place (a failed
//                               drive swapped); every slot of the drive is rebuilt there
//   remove NODE INDEX [--wait]  move the drive's slots elsewhere, online; once it holds none
//                               it can be pulled (the index stays, holding nothing)
//   unremove NODE INDEX         cancel a remove (slots already moved stay moved)
// Exit codes: 0 done, 2 bad arguments, 4 unknown node or drive, 6 --wait timed out, others as
// `cvfs --help` lists.
#include <cstdio>

#include "client/cli/commands.h"
#include "core/cluster_map.h"

namespace cvfs::cli {

namespace {

// Slots drive `index` of `node` holds, from a status JSON.
uint64_t DriveSlots(const nlohmann::json& status, const std::string& node, uint32_t index) {
  for (const auto& n : status.value("nodes", nlohmann::json::array())) {
    if (n.value("id", "") != node) continue;
    const auto& drives = n.value("drives", nlohmann::json::array());
    if (index < drives.size()) return drives[index].value("slots", 0ull);
  }
  return 0;
}

}  // namespace

void RegisterDriveCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* drive = app.add_subcommand("drive", "manage a node's drives");
  drive->require_subcommand(1);
  auto node = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>();
  auto index = std::make_shared<uint32_t>(0);
  auto json = std::make_shared<bool>(false);
  auto wait = std::make_shared<bool>(false);
  auto timeout_s = std::make_shared<int>(86400);

  CLI::App* add = drive->add_subcommand(
      "add", "add a drive directory to a running cvfsd (as root; it is kept across restarts)");
  add->add_option("node", *node, "node id (see `cvfs status`)")->required();
  add->add_option("path", *path, "absolute path of the drive directory on that node")->required();
  add->add_flag("--json", *json,
                "machine-readable: {node, index, path, capacity_bytes, free_bytes}");
  add->callback([&global, rc, node, path, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("drive add", admin.status());
      return;
    }
    Result<nlohmann::json> added = (*admin)->AddDrive(*node, *path);
    if (!added.ok()) {
      *rc = Fail("drive add " + *node + " " + *path, added.status());
      return;
    }
    if (*json) {
      PrintJson(*added);
    } else {
      std::printf("added drive %s to node %s as drive %llu (capacity %s, free %s)\n", path->c_str(),
                  node->c_str(), static_cast<unsigned long long>(added->value("index", 0ull)),
                  HumanBytes(added->value("capacity_bytes", 0ull)).c_str(),
                  HumanBytes(added->value("free_bytes", 0ull)).c_str());
    }
    *rc = kExitOk;
  });

  CLI::App* replace = drive->add_subcommand(
      "replace",
      "serve drive INDEX of NODE from a fresh, empty directory (a failed drive swapped); its "
      "slots are rebuilt there (as root)");
  replace->add_option("node", *node, "node id (see `cvfs status`)")->required();
  replace->add_option("index", *index, "drive index (see `cvfs status`)")
      ->required()
      ->check(CLI::Range(0u, static_cast<uint32_t>(kMaxDrivesPerNode - 1)));
  replace->add_option("path", *path, "absolute path of the new, empty drive directory")->required();
  replace->add_flag("--json", *json, "machine-readable: {node, index, path, serial, ...}");
  replace->callback([&global, rc, node, index, path, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("drive replace", admin.status());
      return;
    }
    Result<nlohmann::json> replaced = (*admin)->ReplaceDrive(*node, *index, *path);
    if (!replaced.ok()) {
      *rc = Fail("drive replace " + *node + " " + std::to_string(*index), replaced.status());
      return;
    }
    if (*json) {
      PrintJson(*replaced);
    } else {
      std::printf(
          "drive %u of node %s is now %s (serial %s); its slots are rebuilt there "
          "(cvfs rebuild status)\n",
          *index, node->c_str(), path->c_str(), replaced->value("serial", "").c_str());
    }
    *rc = kExitOk;
  });

  CLI::App* remove = drive->add_subcommand(
      "remove", "move every slot of drive INDEX of NODE elsewhere, online, so it can be pulled");
  remove->add_option("node", *node, "node id (see `cvfs status`)")->required();
  remove->add_option("index", *index, "drive index (see `cvfs status`)")
      ->required()
      ->check(CLI::Range(0u, static_cast<uint32_t>(kMaxDrivesPerNode - 1)));
  remove->add_flag("--wait", *wait, "wait until it holds no slot and the data is fully protected");
  remove->add_option("--timeout", *timeout_s, "seconds to wait at most")
      ->check(CLI::Range(1, 30 * 86400));
  remove->add_flag("--json", *json, "machine-readable: {node, index, removing, slots}");
  remove->callback([&global, rc, node, index, json, wait, timeout_s] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("drive remove", admin.status());
      return;
    }
    const std::string what = "drive remove " + *node + " " + std::to_string(*index);
    auto recorded = (*admin)->RemoveDrive(*node, *index, true);
    if (!recorded.ok()) {
      *rc = Fail(what, recorded.status());
      return;
    }
    if (*wait) {
      *rc = WaitUntilEmptied(
          **admin, what, recorded->value("slots", 0ull),
          [node, index](const nlohmann::json& s) { return DriveSlots(s, *node, *index); },
          *timeout_s);
      if (*rc != kExitOk) return;
      (*recorded)["slots"] = 0;
    }
    if (*json) {
      PrintJson(*recorded);
    } else if (*wait) {
      std::printf("drive %u of node %s holds no data any more; it can be pulled\n", *index,
                  node->c_str());
    } else {
      std::printf("drive %u of node %s is being emptied: %llu slots to move (add --wait)\n", *index,
                  node->c_str(), static_cast<unsigned long long>(recorded->value("slots", 0ull)));
    }
    *rc = kExitOk;
  });

  CLI::App* unremove = drive->add_subcommand(
      "unremove", "cancel `drive remove` (slots already moved stay where they are)");
  unremove->add_option("node", *node, "node id")->required();
  unremove->add_option("index", *index, "drive index")->required();
  unremove->add_flag("--json", *json, "machine-readable: {node, index, removing, slots}");
  unremove->callback([&global, rc, node, index, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("drive unremove", admin.status());
      return;
    }
    auto done = (*admin)->RemoveDrive(*node, *index, false);
    if (!done.ok()) {
      *rc = Fail("drive unremove " + *node + " " + std::to_string(*index), done.status());
      return;
    }
    if (*json) {
      PrintJson(*done);
    } else {
      std::printf("drive %u of node %s is no longer being removed (%llu slots)\n", *index,
                  node->c_str(), static_cast<unsigned long long>(done->value("slots", 0ull)));
    }
    *rc = kExitOk;
  });
}

}  // namespace cvfs::cli
